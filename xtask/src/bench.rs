//! `cargo xtask bench`: our installer against what a user would do instead, on the same Go
//! release, in one run, written to `docs/bench.md`.
//!
//! Anchors: the official `.tar.gz` with `tar -xzf` (the 1.00 of every ratio), `sha256sum -c` then
//! `tar -xzf`, makeself archives (gzip, zstd, xz), `zstd -19 --long=27` piped to tar with no checks
//! at all, and the floor, `tar -xf` of the uncompressed tar. Every install runs into a fresh
//! directory, several times, on a tmpfs and on the disk holding `target/` (there each command is
//! followed by `sync`, ours included, so every row pays for getting its files onto the disk);
//! the table holds medians. Peak RSS comes from GNU time. Run as root, the bench re-runs itself in a
//! private mount namespace with its own tmpfs and `/var/log`, so it touches nothing of the machine.

use std::{
    fmt::Write as _,
    fs,
    path::{Path, PathBuf},
    process::Command,
    time::Instant,
};

use crate::{build_stub, cargo, fixtures, output, run, tools, Result, GO_VERSION};

const NS_ENV: &str = "GO_OFFLINE_BENCH_IN_NS";

struct Options {
    runs: usize,
    disk_runs: usize,
    out: PathBuf,
}

pub fn bench_cmd(args: &[String]) -> Result {
    let mut o = Options { runs: 5, disk_runs: 3, out: PathBuf::from("docs/bench.md") };
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let mut num = |name: &str| -> Result<usize> {
            it.next().and_then(|v| v.parse().ok()).ok_or_else(|| format!("{name} needs a number"))
        };
        match a.as_str() {
            "--runs" => o.runs = num("--runs")?.max(1),
            "--disk-runs" => o.disk_runs = num("--disk-runs")?,
            "--out" => o.out = PathBuf::from(it.next().ok_or("--out needs a file")?),
            other => return Err(format!("bench: unknown argument '{other}'")),
        }
    }
    tools::apt(&["makeself"], "makeself")?;
    tools::apt(&["zstd"], "zstd")?;
    tools::apt(&["xz-utils"], "xz")?;
    tools::test_programs()?;
    if tools::is_root() && std::env::var_os(NS_ENV).is_none() {
        if !tools::can_unshare_mount() {
            return Err("bench: run as root it needs `unshare --mount` (to keep /var/log and a tmpfs private)".into());
        }
        let exe = std::env::current_exe().map_err(|e| e.to_string())?;
        fs::create_dir_all("target/bench/tmpfs").map_err(|e| e.to_string())?;
        let script = "mount -t tmpfs -o size=4g,mode=0755 bench target/bench/tmpfs && \
                      mount -t tmpfs -o mode=0755 bench-log /var/log && exec \"$@\"";
        let mut c = Command::new("unshare");
        c.args(["--mount", "--propagation", "private", "sh", "-c", script, "sh"]).arg(exe).arg("bench").args(args);
        return run(c.env(NS_ENV, "1"));
    }
    bench(&o)
}

/// What one timed command did: median wall time and the largest peak RSS.
#[derive(Clone, Copy, Default)]
struct Timing {
    secs: f64,
    rss_kib: u64,
}

/// Runs `sh -c script` under GNU time; returns wall seconds and peak RSS (KiB).
fn timed(script: &str, dir: &Path) -> Result<Timing> {
    let rss_file = dir.with_extension("rss");
    let started = Instant::now();
    let status = Command::new("/usr/bin/time")
        .args(["-f", "%M", "-o"])
        .arg(&rss_file)
        .args(["sh", "-c", script])
        .status()
        .map_err(|e| format!("cannot run {script}: {e}"))?;
    let secs = started.elapsed().as_secs_f64();
    if !status.success() {
        return Err(format!("`{script}` failed ({status})"));
    }
    let rss = fs::read_to_string(&rss_file).map_err(|e| e.to_string())?;
    let rss_kib = rss.lines().last().and_then(|l| l.trim().parse().ok()).unwrap_or(0);
    let _ = fs::remove_file(rss_file);
    Ok(Timing { secs, rss_kib })
}

/// Runs `script` (with `{DIR}` replaced by a fresh empty directory under `base`) `runs` times.
fn repeat(script: &str, base: &Path, runs: usize, sync: bool) -> Result<Timing> {
    let dir = base.join("out");
    let mut secs = Vec::new();
    let mut rss = 0;
    for _ in 0..runs {
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
        let _ = Command::new("sync").status();
        let mut s = script.replace("{DIR}", &dir.display().to_string());
        if sync {
            s.push_str(" && sync");
        }
        let t = timed(&s, &dir)?;
        secs.push(t.secs);
        rss = rss.max(t.rss_kib);
    }
    let _ = fs::remove_dir_all(&dir);
    secs.sort_by(f64::total_cmp);
    Ok(Timing { secs: secs[secs.len() / 2], rss_kib: rss })
}

fn size(p: &Path) -> u64 {
    fs::metadata(p).map(|m| m.len()).unwrap_or(0)
}

fn first_line(cmd: &mut Command) -> String {
    output(cmd).ok().and_then(|s| s.lines().next().map(str::to_string)).unwrap_or_default()
}

/// One row of the install table.
struct Row {
    name: &'static str,
    /// Artifact whose size the row stands for.
    artifact: Option<PathBuf>,
    script: String,
    /// Also measured for `--check`-like verification.
    build: Option<Timing>,
}

fn bench(o: &Options) -> Result {
    let host = tools::host_target()?;
    let arch = if host.starts_with("aarch64") { "arm64" } else { "amd64" };
    let tarball = fs::canonicalize(fixtures::go_tarball(GO_VERSION, arch)?).map_err(|e| e.to_string())?;
    let stub = fs::canonicalize(build_stub(host, &[], None)?).map_err(|e| e.to_string())?;
    run(cargo().args(["build", "--release", "--locked", "-p", "builder"]))?;
    let builder = fs::canonicalize("target/release/go-offline-builder").map_err(|e| e.to_string())?;

    let work = fs::canonicalize("target").map_err(|e| e.to_string())?.join("bench");
    let inputs = work.join("inputs");
    let _ = fs::remove_dir_all(&inputs);
    fs::create_dir_all(inputs.join("tree")).map_err(|e| e.to_string())?;
    let p = |name: &str| inputs.join(name).display().to_string();
    let tgz = tarball.display().to_string();
    run(Command::new("sh").args(["-c", &format!("gunzip -c '{tgz}' > '{}'", p("go.tar"))]))?;
    run(Command::new("tar").args(["-C", &p("tree"), "-xf", &p("go.tar")]))?;
    run(Command::new("sh").args(["-c", &format!("cd '{}' && sha256sum '{tgz}' > SHA256SUMS", inputs.display())]))?;
    run(Command::new(&builder).args(["keygen", "--out", &p("key")]))?;

    // Builds, timed.
    eprintln!("bench: building the artefacts (our installer twice, for determinism)");
    let ours = inputs.join("go-offline-installer");
    let build_ours = |out: &Path| {
        timed(
            &format!(
                "'{}' build --go '{tgz}' --key '{}' --stub '{}' --output '{}' >/dev/null",
                builder.display(),
                p("key.key"),
                stub.display(),
                out.display()
            ),
            &inputs.join("build"),
        )
    };
    let ours_build = build_ours(&ours)?;
    let again = inputs.join("go-offline-installer.again");
    build_ours(&again)?;
    let identical = fs::read(&ours).map_err(|e| e.to_string())? == fs::read(&again).map_err(|e| e.to_string())?;
    let _ = fs::remove_file(&again);
    let mut makeself = Vec::new();
    for (name, flag) in [("gzip", "--gzip"), ("zstd", "--zstd"), ("xz", "--xz")] {
        let out = inputs.join(format!("go-{name}.run"));
        let t = timed(
            &format!("makeself --nox11 {flag} '{}' '{}' go true >/dev/null", p("tree"), out.display()),
            &inputs.join("build"),
        )?;
        makeself.push((name, out, t));
    }
    let zst = inputs.join("go.tar.zst");
    let zst_build = timed(
        &format!("zstd -q -19 --long=27 -T0 -f '{}' -o '{}'", p("go.tar"), zst.display()),
        &inputs.join("build"),
    )?;

    let k = p("key.pub");
    let installer = |extra: &str| {
        format!("'{}' --yes --quiet --no-modify-path --no-build-check {extra} --trusted-key '{k}'", ours.display())
    };
    let mut rows = vec![
        Row {
            name: "official tar.gz, `tar -xzf`",
            artifact: Some(tarball.clone()),
            script: format!("tar -C {{DIR}} -xzf '{tgz}'"),
            build: None,
        },
        Row {
            name: "`sha256sum -c`, then `tar -xzf`",
            artifact: Some(tarball.clone()),
            script: format!(
                "cd '{}' && sha256sum --quiet -c SHA256SUMS && tar -C {{DIR}} -xzf '{tgz}'",
                inputs.display()
            ),
            build: None,
        },
    ];
    for (name, out, t) in &makeself {
        rows.push(Row {
            name: match *name {
                "gzip" => "makeself gzip",
                "zstd" => "makeself zstd",
                _ => "makeself xz",
            },
            artifact: Some(out.clone()),
            script: format!("'{}' --quiet --nox11 --noexec --target {{DIR}} >/dev/null", out.display()),
            build: Some(*t),
        });
    }
    rows.push(Row {
        name: "`zstd -19 --long=27` piped to tar, no checks",
        artifact: Some(zst.clone()),
        script: format!("zstd -q -d --long=27 -c '{}' | tar -C {{DIR}} -xf -", zst.display()),
        build: Some(zst_build),
    });
    rows.push(Row {
        name: "floor: `tar -xf` of the uncompressed tar",
        artifact: None,
        script: format!("tar -C {{DIR}} -xf '{}'", p("go.tar")),
        build: None,
    });
    rows.push(Row {
        name: "**go-offline-installer** (signature, every file's sha256, atomic)",
        artifact: Some(ours.clone()),
        script: installer("--prefix {DIR}"),
        build: Some(ours_build),
    });

    let tmpfs = work.join("tmpfs");
    let on_tmpfs = first_line(Command::new("stat").args(["-f", "-c", "%T"]).arg(&tmpfs)) == "tmpfs";
    if !on_tmpfs {
        return Err(format!("bench: {} is not a tmpfs (run as root, or mount one there)", tmpfs.display()));
    }
    let disk = work.join("disk");
    fs::create_dir_all(&disk).map_err(|e| e.to_string())?;
    let mut results = Vec::new();
    for row in &rows {
        eprintln!("bench: {} on tmpfs", row.name);
        let t = repeat(&row.script, &tmpfs, o.runs, false)?;
        let d = if o.disk_runs > 0 {
            eprintln!("bench: {} on disk", row.name);
            Some(repeat(&row.script, &disk, o.disk_runs, true)?)
        } else {
            None
        };
        results.push((t, d));
    }
    let checks = [
        ("`sha256sum -c` of the tar.gz", format!("cd '{}' && sha256sum --quiet -c SHA256SUMS", inputs.display())),
        ("**go-offline-installer --check** (signature, every file's sha256)", installer("--check")),
    ];
    let mut check_results = Vec::new();
    for (name, script) in &checks {
        eprintln!("bench: {name}");
        check_results.push(repeat(script, &tmpfs, o.runs, false)?);
    }

    // The report.
    let base_size = size(&tarball) as f64;
    let (base_t, base_d) = results[0];
    let mut md = String::new();
    let machine = machine_info(&disk);
    let _ = writeln!(md, "# Benchmark\n");
    let _ = writeln!(
        md,
        "Go {GO_VERSION} linux/{arch} ({} files in the official tarball, {} bytes unpacked as a tar), written by \
         `cargo xtask bench` (medians of {} runs on tmpfs, {} on disk; ratios are to the official tar.gz and to \
         `tar -xzf` of it, measured in the same run).\n",
        output(Command::new("tar").arg("-tzf").arg(&tarball)).map(|s| s.lines().count()).unwrap_or(0),
        size(&inputs.join("go.tar")),
        o.runs,
        o.disk_runs
    );
    let _ = writeln!(md, "{machine}");
    let _ = writeln!(md, "Reproduce: `cargo xtask bench` (as root: it uses a private mount namespace and tmpfs).\n");
    let _ = writeln!(md, "## Size and install time\n");
    let _ = writeln!(
        md,
        "| what | size (bytes) | size | build (s) | install on tmpfs (s) | tmpfs | install on disk (s) | disk | peak RSS (MiB) |"
    );
    let _ = writeln!(md, "|---|---:|---:|---:|---:|---:|---:|---:|---:|");
    for (row, (t, d)) in rows.iter().zip(&results) {
        let sz = row.artifact.as_deref().map(size);
        let _ = writeln!(
            md,
            "| {} | {} | {} | {} | {:.2} | {:.2} | {} | {} | {:.0} |",
            row.name,
            sz.map(|s| s.to_string()).unwrap_or("–".into()),
            sz.map(|s| format!("{:.3}", s as f64 / base_size)).unwrap_or("–".into()),
            row.build.map(|b| format!("{:.1}", b.secs)).unwrap_or("–".into()),
            t.secs,
            t.secs / base_t.secs,
            d.map(|d| format!("{:.2}", d.secs)).unwrap_or("–".into()),
            d.zip(base_d).map(|(d, b)| format!("{:.2}", d.secs / b.secs)).unwrap_or("–".into()),
            t.rss_kib as f64 / 1024.0,
        );
    }
    let _ = writeln!(md, "\n## Verification only\n");
    let _ = writeln!(md, "| what | time on tmpfs (s) | ratio to `tar -xzf` | peak RSS (MiB) |");
    let _ = writeln!(md, "|---|---:|---:|---:|");
    for ((name, _), t) in checks.iter().zip(&check_results) {
        let _ =
            writeln!(md, "| {name} | {:.2} | {:.2} | {:.0} |", t.secs, t.secs / base_t.secs, t.rss_kib as f64 / 1024.0);
    }
    let ours_t = results.last().map(|r| r.0).unwrap_or_default();
    let ours_d = results.last().and_then(|r| r.1);
    let check_t = check_results[1];
    let stub_size = size(&stub);
    let mut goals = String::new();
    let mut goal = |what: &str, value: String, met: bool| {
        let _ = writeln!(goals, "| {what} | {value} | {} |", if met { "met" } else { "**not met**" });
    };
    let size_ratio = size(&ours) as f64 / base_size;
    goal("installer size ≤ 0.60 of the tar.gz", format!("{size_ratio:.3}"), size_ratio <= 0.60);
    goal("built in ≤ 120 s", format!("{:.1} s", ours_build.secs), ours_build.secs <= 120.0);
    goal(
        "install on tmpfs ≤ 0.35 of `tar -xzf`",
        format!("{:.2}", ours_t.secs / base_t.secs),
        ours_t.secs / base_t.secs <= 0.35,
    );
    if let (Some(d), Some(b)) = (ours_d, base_d) {
        goal("install on disk ≤ 0.85 of `tar -xzf`", format!("{:.2}", d.secs / b.secs), d.secs / b.secs <= 0.85);
    }
    goal(
        "`--check` ≤ 0.25 of `tar -xzf`",
        format!("{:.2}", check_t.secs / base_t.secs),
        check_t.secs / base_t.secs <= 0.25,
    );
    let rss = ours_t.rss_kib.max(check_t.rss_kib) as f64 / 1024.0;
    goal("installer peak RSS ≤ 160 MiB", format!("{rss:.0} MiB"), rss <= 160.0);
    goal(
        "stub ≤ 1.5 MiB, static",
        format!("{stub_size} bytes ({:.2} MiB)", stub_size as f64 / 1048576.0),
        stub_size <= 1536 * 1024,
    );
    goal(
        "byte-identical output for the same inputs",
        if identical { "identical".into() } else { "differs".into() },
        identical,
    );
    let _ = writeln!(md, "\n## Goals\n\n| goal | measured | |\n|---|---|---|\n{goals}");
    let _ = writeln!(
        md,
        "Builder peak RSS: {:.0} MiB. Disk runs end with `sync` (every row, ours included: the installer syncs \
         its staging tree once before the swap anyway).",
        ours_build.rss_kib as f64 / 1024.0
    );
    if let Some(dir) = o.out.parent() {
        fs::create_dir_all(dir).map_err(|e| e.to_string())?;
    }
    fs::write(&o.out, &md).map_err(|e| e.to_string())?;
    println!("{md}");
    eprintln!("bench: written to {}", o.out.display());
    Ok(())
}

/// CPU, cores, memory, kernel and file systems, for the report.
fn machine_info(disk: &Path) -> String {
    let cpuinfo = fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let cpu = cpuinfo
        .lines()
        .find_map(|l| l.strip_prefix("model name"))
        .map(|s| s.trim_start_matches([' ', '\t', ':']))
        .unwrap_or("?");
    let sha_ni = cpuinfo.split_whitespace().any(|w| w == "sha_ni");
    let mem = fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|m| m.lines().next().and_then(|l| l.split_whitespace().nth(1)).and_then(|k| k.parse::<u64>().ok()))
        .map(|kib| format!("{:.1} GiB", kib as f64 / 1048576.0))
        .unwrap_or("?".into());
    let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0);
    let kernel = first_line(Command::new("uname").arg("-r"));
    let fs_type = first_line(Command::new("stat").args(["-f", "-c", "%T"]).arg(disk));
    let commit = first_line(Command::new("git").args(["rev-parse", "--short", "HEAD"]));
    format!(
        "Machine: {cpu} ({cores} cores{}), {mem} RAM, Linux {kernel}; disk runs on {fs_type}. Commit {commit}, {}.\n",
        if sha_ni { ", SHA-NI" } else { "" },
        first_line(Command::new("date").args(["-u", "+%Y-%m-%d"]))
    )
}
