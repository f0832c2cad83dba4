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

use crate::{build_stub, cargo, fixtures, output, run, tools, Result, BASE_GO_VERSION, GO_VERSION};

const NS_ENV: &str = "GO_OFFLINE_BENCH_IN_NS";

struct Options {
    runs: usize,
    disk_runs: usize,
    out: PathBuf,
    /// Keep the inputs and artefacts of the last run (and its build times) when they are there.
    reuse: bool,
}

pub fn bench_cmd(args: &[String]) -> Result {
    let mut o = Options { runs: 5, disk_runs: 3, out: PathBuf::from("docs/bench.md"), reuse: false };
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let mut num = |name: &str| -> Result<usize> {
            it.next().and_then(|v| v.parse().ok()).ok_or_else(|| format!("{name} needs a number"))
        };
        match a.as_str() {
            "--runs" => o.runs = num("--runs")?.max(1),
            "--disk-runs" => o.disk_runs = num("--disk-runs")?,
            "--out" => o.out = PathBuf::from(it.next().ok_or("--out needs a file")?),
            "--reuse-builds" => o.reuse = true,
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

/// Runs each script (with `{DIR}` replaced by a fresh empty directory under `base`) `runs` times,
/// round-robin (one run of each, then the next round), so that a slow spell of the disk or of
/// the machine falls on every row alike; returns each script's median and peak RSS.
fn repeat_all(scripts: &[&str], base: &Path, runs: usize, sync: bool) -> Result<Vec<Timing>> {
    let dir = base.join("out");
    let mut secs = vec![Vec::new(); scripts.len()];
    let mut rss = vec![0; scripts.len()];
    for round in 0..runs {
        for (i, script) in scripts.iter().enumerate() {
            eprintln!(
                "bench: round {} of {runs} on {}: {}",
                round + 1,
                base.display(),
                script.chars().take(100).collect::<String>()
            );
            let _ = fs::remove_dir_all(&dir);
            fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
            let _ = Command::new("sync").status();
            let mut s = script.replace("{DIR}", &dir.display().to_string());
            if sync {
                s.push_str(" && sync");
            }
            let t = timed(&s, &dir)?;
            secs[i].push(t.secs);
            rss[i] = rss[i].max(t.rss_kib);
        }
    }
    let _ = fs::remove_dir_all(&dir);
    Ok(secs
        .into_iter()
        .zip(rss)
        .map(|(mut v, rss_kib)| {
            v.sort_by(f64::total_cmp);
            Timing { secs: v[v.len() / 2], rss_kib }
        })
        .collect())
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
    /// How long making the artefact took, when we made it.
    build: Option<Timing>,
}

/// What the bench measures with, and where.
struct Setup {
    arch: &'static str,
    /// The official release, canonical.
    tarball: PathBuf,
    stub: PathBuf,
    builder: PathBuf,
    /// `target/bench`, canonical: `inputs/`, `tmpfs/` and `disk/` are in it.
    work: PathBuf,
    inputs: PathBuf,
}

impl Setup {
    /// A file of the inputs, as a string for scripts.
    fn input(&self, name: &str) -> String {
        self.inputs.join(name).display().to_string()
    }
    /// Our installer, as the bench builds it.
    fn ours(&self) -> PathBuf {
        self.inputs.join("go-offline-installer")
    }
}

/// How long each artefact took to build (by name: `ours`, `makeself-gzip`, ..., `zstd`), and
/// whether two builds of ours were byte-identical.
struct Builds {
    times: Vec<(String, Timing)>,
    identical: bool,
}

impl Builds {
    fn of(&self, name: &str) -> Option<Timing> {
        self.times.iter().find(|(n, _)| n == name).map(|(_, t)| *t)
    }
}

/// What the runs measured: each row's median on tmpfs and (unless `--disk-runs 0`) on disk, and
/// each verification-only command's median on tmpfs.
struct Measured {
    installs: Vec<(Timing, Option<Timing>)>,
    checks: Vec<(&'static str, Timing)>,
}

fn bench(o: &Options) -> Result {
    let setup = prepare()?;
    let builds_file = setup.inputs.join("builds.txt");
    let saved = fs::read_to_string(&builds_file).ok().filter(|_| o.reuse);
    let builds = match saved {
        Some(text) => {
            eprintln!("bench: reusing the artefacts and build times in {}", setup.inputs.display());
            parse_builds(&text)
        }
        None => {
            let (times, identical) =
                build_all(&setup.inputs, &setup.tarball, &setup.builder, &setup.stub, &builds_file)?;
            Builds { times, identical }
        }
    };
    let rows = rows(&setup, &builds)?;
    let measured = measure(o, &setup, &rows)?;
    let mut md = report(o, &setup, &rows, &measured, &builds)?;
    md.push_str(&delta_section(o, &setup)?);
    md.push_str(&bytes_section(&setup)?);
    md.push_str(&arm64_section(o, &setup)?);
    if let Some(dir) = o.out.parent() {
        fs::create_dir_all(dir).map_err(|e| e.to_string())?;
    }
    let svg_path = o.out.with_extension("svg");
    let points = frontier_points(&rows, &measured.installs, size(&setup.tarball) as f64);
    fs::write(&svg_path, frontier_svg(&points)).map_err(|e| e.to_string())?;
    let svg_name = svg_path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    md.push_str(&format!(
        "\n## The frontier\n\n![size against install time on tmpfs, one point per row of the first table; \
         the goal region shaded]({svg_name})\n\nSize (of the official tar.gz) against install time on tmpfs \
         (of `tar -xzf`), both lower-left better; the shaded corner is the goal: at most \
         {SIZE_GOAL} and {TMPFS_GOAL}.\n"
    ));
    fs::write(&o.out, &md).map_err(|e| e.to_string())?;
    println!("{md}");
    eprintln!("bench: written to {}", o.out.display());
    Ok(())
}

/// Finds the release, builds the stub and the builder (release profile).
fn prepare() -> Result<Setup> {
    let host = tools::host_target()?;
    let arch = if host.starts_with("aarch64") { "arm64" } else { "amd64" };
    let tarball = fs::canonicalize(fixtures::go_tarball(GO_VERSION, arch)?).map_err(|e| e.to_string())?;
    let stub = fs::canonicalize(build_stub(host, &[], None)?).map_err(|e| e.to_string())?;
    run(cargo().args(["build", "--release", "--locked", "-p", "builder"]))?;
    let builder =
        fs::canonicalize(crate::cargo_target_dir().join("release/go-offline-builder")).map_err(|e| e.to_string())?;
    let work = fs::canonicalize("target").map_err(|e| e.to_string())?.join("bench");
    let inputs = work.join("inputs");
    Ok(Setup { arch, tarball, stub, builder, work, inputs })
}

/// The build times `build_all` wrote: `identical BOOL`, then `NAME SECONDS RSS_KIB` lines.
fn parse_builds(text: &str) -> Builds {
    let mut builds = Builds { times: Vec::new(), identical: false };
    for l in text.lines() {
        let f: Vec<&str> = l.split_whitespace().collect();
        match f.as_slice() {
            ["identical", v] => builds.identical = *v == "true",
            [name, secs, rss] => builds.times.push((
                name.to_string(),
                Timing { secs: secs.parse().unwrap_or(0.0), rss_kib: rss.parse().unwrap_or(0) },
            )),
            _ => {}
        }
    }
    builds
}

/// Our installer run unattended with `extra` flags, trusting the bench's key.
fn installer_script(setup: &Setup, extra: &str) -> String {
    format!(
        "'{}' --yes --quiet --no-modify-path --no-build-check {extra} --trusted-key '{}'",
        setup.ours().display(),
        setup.input("key.pub")
    )
}

/// The rows of the install table, anchors first; the first row is the 1.00 of every ratio, and
/// the last three are the zstd pipe, the floor and ours, in that order ([`limits`] relies on it).
fn rows(setup: &Setup, builds: &Builds) -> Result<Vec<Row>> {
    let tgz = setup.tarball.display().to_string();
    let ours_build = builds.of("ours").ok_or("bench: no build time of our installer")?;
    let zst = setup.inputs.join("go.tar.zst");
    let mut rows = vec![
        Row {
            name: "official tar.gz, `tar -xzf`",
            artifact: Some(setup.tarball.clone()),
            script: format!("tar -C {{DIR}} -xzf '{tgz}'"),
            build: None,
        },
        Row {
            name: "`sha256sum -c`, then `tar -xzf`",
            artifact: Some(setup.tarball.clone()),
            script: format!(
                "cd '{}' && sha256sum --quiet -c SHA256SUMS && tar -C {{DIR}} -xzf '{tgz}'",
                setup.inputs.display()
            ),
            build: None,
        },
    ];
    for (name, kind) in [("makeself gzip", "gzip"), ("makeself zstd", "zstd"), ("makeself xz", "xz")] {
        let out = setup.inputs.join(format!("go-{kind}.run"));
        rows.push(Row {
            name,
            script: format!("'{}' --quiet --nox11 --noexec --target {{DIR}} >/dev/null", out.display()),
            artifact: Some(out),
            build: Some(builds.of(&format!("makeself-{kind}")).unwrap_or_default()),
        });
    }
    rows.push(Row {
        name: "`zstd -19 --long=27` piped to tar, no checks",
        script: format!("zstd -q -d --long=27 -c '{}' | tar -C {{DIR}} -xf -", zst.display()),
        artifact: Some(zst),
        build: Some(builds.of("zstd").unwrap_or_default()),
    });
    rows.push(Row {
        name: "floor: `tar -xf` of the uncompressed tar",
        artifact: None,
        script: format!("tar -C {{DIR}} -xf '{}'", setup.input("go.tar")),
        build: None,
    });
    rows.push(Row {
        name: "**go-offline-installer** (signature, every file's sha256, atomic)",
        artifact: Some(setup.ours()),
        script: installer_script(setup, "--prefix {DIR}"),
        build: Some(ours_build),
    });
    Ok(rows)
}

/// Runs every row on the tmpfs and on the disk, then the verification-only commands on the tmpfs.
fn measure(o: &Options, setup: &Setup, rows: &[Row]) -> Result<Measured> {
    let tmpfs = setup.work.join("tmpfs");
    let on_tmpfs = first_line(Command::new("stat").args(["-f", "-c", "%T"]).arg(&tmpfs)) == "tmpfs";
    if !on_tmpfs {
        return Err(format!("bench: {} is not a tmpfs (run as root, or mount one there)", tmpfs.display()));
    }
    let disk = setup.work.join("disk");
    fs::create_dir_all(&disk).map_err(|e| e.to_string())?;
    let scripts: Vec<&str> = rows.iter().map(|r| r.script.as_str()).collect();
    let on_tmpfs = repeat_all(&scripts, &tmpfs, o.runs, false)?;
    let on_disk: Vec<Option<Timing>> = if o.disk_runs > 0 {
        repeat_all(&scripts, &disk, o.disk_runs, true)?.into_iter().map(Some).collect()
    } else {
        vec![None; rows.len()]
    };
    let checks = [
        ("`sha256sum -c` of the tar.gz", format!("cd '{}' && sha256sum --quiet -c SHA256SUMS", setup.inputs.display())),
        ("**go-offline-installer --check** (signature, every file's sha256)", installer_script(setup, "--check")),
    ];
    let check_scripts: Vec<&str> = checks.iter().map(|(_, s)| s.as_str()).collect();
    let check_results = repeat_all(&check_scripts, &tmpfs, o.runs, false)?;
    Ok(Measured {
        installs: on_tmpfs.into_iter().zip(on_disk).collect(),
        checks: checks.iter().map(|(name, _)| *name).zip(check_results).collect(),
    })
}

/// docs/bench.md.
fn report(o: &Options, setup: &Setup, rows: &[Row], measured: &Measured, builds: &Builds) -> Result<String> {
    let mut md = String::new();
    let machine = machine_info(&setup.work.join("disk"));
    let file_count =
        output(Command::new("tar").arg("-tzf").arg(&setup.tarball)).map(|s| s.lines().count()).unwrap_or(0);
    let _ = writeln!(md, "# Benchmark\n");
    let _ = writeln!(
        md,
        "Go {GO_VERSION} linux/{} ({} files in the official tarball, {} bytes unpacked as a tar), written by \
         `cargo xtask bench` (medians of {} runs on tmpfs, {} on disk; ratios are to the official tar.gz and to \
         `tar -xzf` of it, measured in the same run).\n",
        setup.arch,
        file_count,
        size(&setup.inputs.join("go.tar")),
        o.runs,
        o.disk_runs
    );
    let _ = writeln!(md, "{machine}");
    let _ = writeln!(md, "Reproduce: `cargo xtask bench` (as root: it uses a private mount namespace and tmpfs).\n");
    install_table(&mut md, rows, &measured.installs, size(&setup.tarball) as f64);
    check_table(&mut md, measured);
    let ours_build = builds.of("ours").ok_or("bench: no build time of our installer")?;
    let goals = goals(setup, measured, ours_build, builds.identical);
    let _ = writeln!(md, "\n## Goals\n\n| goal | measured | |\n|---|---|---|\n{goals}");
    limits(&mut md, &measured.installs, file_count);
    let _ = writeln!(
        md,
        "Builder peak RSS: {:.0} MiB. Disk runs end with `sync` (every row, ours included: the installer syncs \
         its staging tree once before the swap anyway).",
        ours_build.rss_kib as f64 / 1024.0
    );
    Ok(md)
}

/// The "Size and install time" table: each row's size, build time, times and ratios to the first
/// row (`base_size` is the first row's artefact's size), and peak RSS.
fn install_table(md: &mut String, rows: &[Row], results: &[(Timing, Option<Timing>)], base_size: f64) {
    let (base_t, base_d) = results[0];
    let _ = writeln!(md, "## Size and install time\n");
    let _ = writeln!(
        md,
        "| what | size (bytes) | size | build (s) | install on tmpfs (s) | tmpfs | install on disk (s) | disk | peak RSS (MiB) |"
    );
    let _ = writeln!(md, "|---|---:|---:|---:|---:|---:|---:|---:|---:|");
    for (row, (t, d)) in rows.iter().zip(results) {
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
}

/// The "Verification only" table, with ratios to `tar -xzf` on tmpfs.
fn check_table(md: &mut String, measured: &Measured) {
    let base_t = measured.installs[0].0;
    let _ = writeln!(md, "\n## Verification only\n");
    let _ = writeln!(md, "| what | time on tmpfs (s) | ratio to `tar -xzf` | peak RSS (MiB) |");
    let _ = writeln!(md, "|---|---:|---:|---:|");
    for (name, t) in &measured.checks {
        let _ =
            writeln!(md, "| {name} | {:.2} | {:.2} | {:.0} |", t.secs, t.secs / base_t.secs, t.rss_kib as f64 / 1024.0);
    }
}

/// The rows of the goals table: each goal, what was measured, and whether it is met.
fn goals(setup: &Setup, measured: &Measured, ours_build: Timing, identical: bool) -> String {
    let (base_t, base_d) = measured.installs[0];
    let ours_t = measured.installs.last().map(|r| r.0).unwrap_or_default();
    let ours_d = measured.installs.last().and_then(|r| r.1);
    let check_t = measured.checks[1].1;
    let stub_size = size(&setup.stub);
    let mut goals = String::new();
    let mut goal = |what: &str, value: String, met: bool| {
        let _ = writeln!(goals, "| {what} | {value} | {} |", if met { "met" } else { "**not met**" });
    };
    let size_ratio = size(&setup.ours()) as f64 / size(&setup.tarball) as f64;
    goal(&format!("installer size ≤ {SIZE_GOAL} of the tar.gz"), format!("{size_ratio:.3}"), size_ratio <= SIZE_GOAL);
    goal("built in ≤ 120 s", format!("{:.1} s", ours_build.secs), ours_build.secs <= 120.0);
    let tmpfs_ratio = ours_t.secs / base_t.secs;
    goal(
        &format!("install on tmpfs ≤ {TMPFS_GOAL} of `tar -xzf`"),
        format!("{tmpfs_ratio:.3}"),
        tmpfs_ratio <= TMPFS_GOAL,
    );
    if let (Some(d), Some(b)) = (ours_d, base_d) {
        goal("install on disk ≤ 0.85 of `tar -xzf`", format!("{:.3}", d.secs / b.secs), d.secs / b.secs <= 0.85);
    }
    let check_ratio = check_t.secs / base_t.secs;
    goal("`--check` ≤ 0.25 of `tar -xzf`", format!("{check_ratio:.3}"), check_ratio <= 0.25);
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
    goals
}

/// What the anchors say about this machine: how close the zstd pipe and the floor (the third and
/// second rows from the end) come to `tar -xzf`, and whether the disk sets the pace.
fn limits(md: &mut String, results: &[(Timing, Option<Timing>)], file_count: usize) {
    let (base_t, base_d) = results[0];
    let floor = results[results.len() - 2];
    let zstd_pipe = results[results.len() - 3];
    let _ = writeln!(
        md,
        "What limits us here: `zstd -19 --long=27` piped to tar, with no check at all and both cores busy, takes \
         {:.2} of `tar -xzf` on tmpfs, and the floor (`tar -xf`, no decompression) {:.2}: decompressing one zstd \
         stream and creating {} files set the pace; we decode two frames at once and hash every byte on top.",
        zstd_pipe.0.secs / base_t.secs,
        floor.0.secs / base_t.secs,
        file_count
    );
    if let (Some(f), Some(b)) = (floor.1, base_d) {
        if f.secs > b.secs {
            let _ = writeln!(
                md,
                "\nOn this disk even `tar -xf` of the uncompressed tar takes {:.2} of `tar -xzf` (both followed by \
                 `sync`): the device, not the tools, sets the time there, and the disk ratios measure its moods \
                 more than the programs.",
                f.secs / b.secs
            );
        }
    }
}

/// Prepares the inputs (the tar, the unpacked tree, SHA256SUMS, a key) and builds every
/// artefact, timed; writes the build times to `builds_file`.
fn build_all(
    inputs: &Path,
    tarball: &Path,
    builder: &Path,
    stub: &Path,
    builds_file: &Path,
) -> Result<(Vec<(String, Timing)>, bool)> {
    let _ = fs::remove_dir_all(inputs);
    fs::create_dir_all(inputs.join("tree")).map_err(|e| e.to_string())?;
    let p = |name: &str| inputs.join(name).display().to_string();
    let tgz = tarball.display().to_string();
    run(Command::new("sh").args(["-c", &format!("gunzip -c '{tgz}' > '{}'", p("go.tar"))]))?;
    run(Command::new("tar").args(["-C", &p("tree"), "-xf", &p("go.tar")]))?;
    run(Command::new("sh").args(["-c", &format!("cd '{}' && sha256sum '{tgz}' > SHA256SUMS", inputs.display())]))?;
    run(Command::new(builder).args(["keygen", "--out", &p("key")]))?;

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
    let mut builds = vec![("ours".to_string(), build_ours(&ours)?)];
    let again = inputs.join("go-offline-installer.again");
    build_ours(&again)?;
    let identical = fs::read(&ours).map_err(|e| e.to_string())? == fs::read(&again).map_err(|e| e.to_string())?;
    let _ = fs::remove_file(&again);
    for (name, flag) in [("gzip", "--gzip"), ("zstd", "--zstd"), ("xz", "--xz")] {
        let out = inputs.join(format!("go-{name}.run"));
        let t = timed(
            &format!("makeself --nox11 {flag} '{}' '{}' go true >/dev/null", p("tree"), out.display()),
            &inputs.join("build"),
        )?;
        builds.push((format!("makeself-{name}"), t));
    }
    let zst = inputs.join("go.tar.zst");
    let zst_build = timed(
        &format!("zstd -q -19 --long=27 -T0 -f '{}' -o '{}'", p("go.tar"), zst.display()),
        &inputs.join("build"),
    )?;

    builds.push(("zstd".to_string(), zst_build));
    let mut text = format!("identical {identical}\n");
    for (name, t) in &builds {
        text.push_str(&format!("{name} {} {}\n", t.secs, t.rss_kib));
    }
    fs::write(builds_file, text).map_err(|e| e.to_string())?;
    Ok((builds, identical))
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

/// The delta from the point release before ([`BASE_GO_VERSION`]) to this one: its size beside the
/// full installer and the official tarball, how long it takes to build, and how long applying it
/// onto the installed base takes beside the full installer into the same prefix (tmpfs, medians
/// of the runs, each into a fresh prefix holding the base), with peak RSS.
fn delta_section(o: &Options, setup: &Setup) -> Result<String> {
    let base_tgz = fs::canonicalize(fixtures::go_tarball(BASE_GO_VERSION, setup.arch)?).map_err(|e| e.to_string())?;
    let p = |name: &str| setup.inputs.join(name);
    let q = |path: &Path| format!("'{}'", path.display());
    // The builder refuses to replace a file: what an earlier run (`--reuse-builds`) left goes first.
    let build = |extra: String, out: &Path| {
        let _ = fs::remove_file(out);
        timed(
            &format!(
                "{} build --key {} --stub {} --output {} {extra} >/dev/null",
                q(&setup.builder),
                q(&p("key.key")),
                q(&setup.stub),
                q(out)
            ),
            &setup.inputs.join("build"),
        )
    };
    let base_full = p("go-offline-installer-base");
    build(format!("--go {}", q(&base_tgz)), &base_full)?;
    let delta = p("go-offline-installer-delta");
    let delta_build =
        build(format!("--go {} --base {} --full {}", q(&setup.tarball), q(&base_tgz), q(&setup.ours())), &delta)?;
    let install = |installer: &Path, prefix: &Path| {
        format!(
            "{} --yes --quiet --no-modify-path --no-build-check --prefix {} --trusted-key {}",
            q(installer),
            q(prefix),
            q(&p("key.pub"))
        )
    };
    let prefix = setup.work.join("tmpfs").join("delta");
    let (mut delta_secs, mut full_secs, mut delta_rss, mut full_rss) = (Vec::new(), Vec::new(), 0, 0);
    for round in 0..o.runs {
        eprintln!("bench: delta round {} of {}", round + 1, o.runs);
        for (which, secs, rss) in
            [(&delta, &mut delta_secs, &mut delta_rss), (&setup.ours(), &mut full_secs, &mut full_rss)]
        {
            let _ = fs::remove_dir_all(&prefix);
            fs::create_dir_all(&prefix).map_err(|e| e.to_string())?;
            run(Command::new("sh").args(["-c", &install(&base_full, &prefix)]))?;
            let t = timed(&install(which, &prefix), &setup.work.join("tmpfs").join("delta-run"))?;
            secs.push(t.secs);
            *rss = (*rss).max(t.rss_kib);
        }
    }
    let _ = fs::remove_dir_all(&prefix);
    let median = |v: &mut Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    let (d, f) = (median(&mut delta_secs), median(&mut full_secs));
    let full_len = size(&setup.ours()) as f64;
    let delta_ratio = size(&delta) as f64 / full_len;
    let mut md = String::new();
    let _ = writeln!(md, "\n## Delta installer: go{BASE_GO_VERSION} to go{GO_VERSION}\n");
    let _ = writeln!(md, "| file | bytes | of the full installer |\n|---|---:|---:|");
    for (name, path) in [
        ("official tar.gz", &setup.tarball),
        ("full installer", &setup.ours()),
        ("**delta installer** (`build --base`)", &delta),
    ] {
        let _ = writeln!(md, "| {name} | {} | {:.3} |", size(path), size(path) as f64 / full_len);
    }
    let _ = writeln!(
        md,
        "\nGoal: the delta at most {DELTA_GOAL} of the full installer: {:.3}, {}.\n\
         \nDelta build: {:.1} s, {:.0} MiB peak. Onto a prefix holding the base, on tmpfs (median of {}): \
         the delta {d:.2} s ({:.0} MiB peak: proves every base file, decodes the patches, checks the whole new \
         tree), the full installer {f:.2} s ({:.0} MiB peak); ratio {:.2}.",
        delta_ratio,
        if delta_ratio <= DELTA_GOAL { "met" } else { "**not met**" },
        delta_build.secs,
        delta_build.rss_kib as f64 / 1024.0,
        o.runs,
        delta_rss as f64 / 1024.0,
        full_rss as f64 / 1024.0,
        d / f
    );
    Ok(md)
}

/// Where the bytes of our full and delta installers are: each region, the manifest both as stored
/// and as JSON, and how many of the payload's files are carried filtered.
fn bytes_section(setup: &Setup) -> Result<String> {
    let mut md = String::new();
    let _ = writeln!(md, "\n## Where the bytes are\n");
    let _ = writeln!(
        md,
        "| installer | stub | payload | manifest as stored | manifest JSON | statement, signature, trailer | \
         files filtered |\n|---|---:|---:|---:|---:|---:|---:|"
    );
    for (name, path) in [("full", setup.ours()), ("delta", setup.inputs.join("go-offline-installer-delta"))] {
        let file = fs::File::open(&path).map_err(|e| format!("bench: {}: {e}", path.display()))?;
        let parts = format::verify::read_parts(&file, &path).map_err(|e| e.to_string())?;
        let json = parts.manifest_json().map_err(|e| e.to_string())?;
        let manifest = format::manifest::Manifest::parse(&json).map_err(|e| e.to_string())?;
        let l = &parts.layout;
        let len = format::layout::len;
        let filtered = manifest.payload.filtered.as_ref().map_or(0, Vec::len);
        let files = manifest.files.iter().filter(|e| e.kind == format::manifest::EntryType::File).count();
        let _ = writeln!(
            md,
            "| {name} | {} | {} | {} | {} | {} | {filtered} of {files} |",
            len(&l.stub),
            len(&l.payload),
            len(&l.manifest),
            json.len(),
            len(&l.statement) + len(&l.signature) + len(&l.trailer),
        );
    }
    Ok(md)
}

/// The same release for arm64, sizes only (an arm64 stub cannot run here but under qemu, whose
/// times would measure qemu): our installer, `zstd -19 --long=27` of the tar and makeself xz,
/// each of the arm64 tar.gz. On an arm64 host the main tables are arm64 already, and this is left out.
fn arm64_section(o: &Options, setup: &Setup) -> Result<String> {
    if setup.arch == "arm64" {
        return Ok(String::new());
    }
    let tarball = fs::canonicalize(fixtures::go_tarball(GO_VERSION, "arm64")?).map_err(|e| e.to_string())?;
    let dir = setup.inputs.join("arm64");
    let ours = dir.join("go-offline-installer");
    let zst = dir.join("go.tar.zst");
    let xz = dir.join("go-xz.run");
    let q = |path: &Path| format!("'{}'", path.display());
    if !(o.reuse && [&ours, &zst, &xz].iter().all(|p| p.exists())) {
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(dir.join("tree")).map_err(|e| e.to_string())?;
        let stub = fs::canonicalize(build_stub("aarch64-unknown-linux-musl", &[], None)?).map_err(|e| e.to_string())?;
        eprintln!("bench: building the arm64 artefacts");
        let script = format!(
            "gunzip -c {tgz} > {tar} && tar -C {tree} -xf {tar} && \
             {builder} build --go {tgz} --key {key} --stub {stub} --output {ours} >/dev/null && \
             zstd -q -19 --long=27 -T0 -f {tar} -o {zst} && \
             makeself --nox11 --xz {tree} {xz} go true >/dev/null && rm -rf {tree} {tar}",
            tgz = q(&tarball),
            tar = q(&dir.join("go.tar")),
            tree = q(&dir.join("tree")),
            builder = q(&setup.builder),
            key = q(&setup.inputs.join("key.key")),
            stub = q(&stub),
            ours = q(&ours),
            zst = q(&zst),
            xz = q(&xz),
        );
        run(Command::new("sh").args(["-c", &script]))?;
    }
    let base = size(&tarball) as f64;
    let mut md = String::new();
    let _ = writeln!(md, "\n## arm64: sizes\n");
    let _ = writeln!(md, "Go {GO_VERSION} linux/arm64, each of the official arm64 tar.gz.\n");
    let _ = writeln!(md, "| what | bytes | of the tar.gz |\n|---|---:|---:|");
    for (name, path) in [
        ("official tar.gz", &tarball),
        ("makeself xz", &xz),
        ("`zstd -19 --long=27` of the tar", &zst),
        ("**go-offline-installer**", &ours),
    ] {
        let _ = writeln!(md, "| {name} | {} | {:.3} |", size(path), size(path) as f64 / base);
    }
    let ratio = size(&ours) as f64 / base;
    let _ = writeln!(
        md,
        "\nGoal: at most {SIZE_GOAL} of the tar.gz: {ratio:.3}, {}.",
        if ratio <= SIZE_GOAL { "met" } else { "**not met**" }
    );
    Ok(md)
}

/// The goals the frontier picture and the tables mark: installer size of the official tar.gz,
/// install time on tmpfs of `tar -xzf`, delta size of the full installer.
const SIZE_GOAL: f64 = 0.56;
const TMPFS_GOAL: f64 = 0.35;
const DELTA_GOAL: f64 = 0.035;

/// One row of the install table as a point of the frontier: its name (markdown emphasis taken
/// out), size and install time on tmpfs as ratios to the first row.
#[derive(Debug, Clone, PartialEq)]
struct Point {
    name: String,
    size: f64,
    time: f64,
    ours: bool,
}

/// The points of the rows that have a size (the floor has none).
fn frontier_points(rows: &[Row], results: &[(Timing, Option<Timing>)], base_size: f64) -> Vec<Point> {
    let base_t = results[0].0.secs;
    rows.iter()
        .zip(results)
        .filter_map(|(row, (t, _))| {
            let size = row.artifact.as_deref().map(size)? as f64 / base_size;
            let name = row.name.split(" (").next().unwrap_or(row.name).replace("**", "").replace('`', "");
            Some(Point { ours: row.name.starts_with("**"), name, size, time: t.secs / base_t })
        })
        .collect()
}

/// An SVG of the points: size (x) against install time (y), both from 0 to a little past the
/// largest, the goal corner shaded, ours drawn larger. Written by the bench beside its markdown.
fn frontier_svg(points: &[Point]) -> String {
    let (w, h, left, bottom, top, right) = (640.0, 420.0, 60.0, 50.0, 20.0, 200.0);
    let max_x = points.iter().map(|p| p.size).fold(1.0_f64, f64::max) * 1.1;
    let max_y = points.iter().map(|p| p.time).fold(1.0_f64, f64::max) * 1.1;
    let (pw, ph) = (w - left - right, h - top - bottom);
    let x = |v: f64| left + v / max_x * pw;
    let y = |v: f64| top + ph - v / max_y * ph;
    let esc = |s: &str| s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;");
    let mut s = String::new();
    let _ = writeln!(
        s,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" viewBox="0 0 {w} {h}" font-family="sans-serif" font-size="11">"#
    );
    let _ = writeln!(s, r#"<rect width="{w}" height="{h}" fill="white"/>"#);
    let _ = writeln!(
        s,
        r##"<rect x="{:.1}" y="{:.1}" width="{:.1}" height="{:.1}" fill="#d8f0d8"/>"##,
        x(0.0),
        y(TMPFS_GOAL),
        x(SIZE_GOAL) - x(0.0),
        y(0.0) - y(TMPFS_GOAL)
    );
    let _ =
        writeln!(s, r##"<text x="{:.1}" y="{:.1}" fill="#2a7a2a">goal</text>"##, x(0.0) + 4.0, y(TMPFS_GOAL) + 12.0);
    let _ = writeln!(
        s,
        r#"<path d="M{l:.1} {t:.1} V{b:.1} H{r:.1}" fill="none" stroke="black"/>"#,
        l = x(0.0),
        t = y(max_y),
        b = y(0.0),
        r = x(max_x)
    );
    for i in 0..=4 {
        let (vx, vy) = (max_x * f64::from(i) / 4.0, max_y * f64::from(i) / 4.0);
        let _ = writeln!(s, r#"<text x="{:.1}" y="{:.1}" text-anchor="middle">{vx:.2}</text>"#, x(vx), y(0.0) + 16.0);
        let _ = writeln!(s, r#"<text x="{:.1}" y="{:.1}" text-anchor="end">{vy:.2}</text>"#, x(0.0) - 6.0, y(vy) + 4.0);
    }
    let _ = writeln!(
        s,
        r#"<text x="{:.1}" y="{:.1}" text-anchor="middle">size, of the official tar.gz</text>"#,
        x(max_x / 2.0),
        h - 10.0
    );
    let _ = writeln!(
        s,
        r#"<text transform="translate(14 {:.1}) rotate(-90)" text-anchor="middle">install on tmpfs, of tar -xzf</text>"#,
        y(max_y / 2.0)
    );
    for p in points {
        let (r, fill) = if p.ours { (6.0, "#c0392b") } else { (4.0, "#34495e") };
        let _ = writeln!(s, r#"<circle cx="{:.1}" cy="{:.1}" r="{r}" fill="{fill}"/>"#, x(p.size), y(p.time));
        let _ = writeln!(
            s,
            r#"<text x="{:.1}" y="{:.1}">{} ({:.3}, {:.2})</text>"#,
            x(p.size) + 8.0,
            y(p.time) + 4.0,
            esc(&p.name),
            p.size,
            p.time
        );
    }
    s.push_str("</svg>\n");
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn point(name: &str, size: f64, time: f64, ours: bool) -> Point {
        Point { name: name.into(), size, time, ours }
    }

    /// Every point is drawn where its ratios put it, ours larger; the goal corner is shaded from
    /// the origin to the goals; names are escaped.
    #[test]
    fn the_frontier_draws_every_point_and_the_goal() {
        let cases = [
            vec![point("official tar.gz, tar -xzf", 1.0, 1.0, false)],
            vec![
                point("official tar.gz, tar -xzf", 1.0, 1.0, false),
                point("makeself xz", 0.568, 1.96, false),
                point("go-offline-installer", 0.678, 0.36, true),
                point("a <b> & c", 0.2, 0.1, false),
            ],
        ];
        for points in cases {
            let svg = frontier_svg(&points);
            assert!(svg.starts_with("<svg ") && svg.ends_with("</svg>\n"), "{svg}");
            assert_eq!(svg.matches("<circle ").count(), points.len(), "{svg}");
            assert_eq!(svg.matches(r#"r="6""#).count(), points.iter().filter(|p| p.ours).count());
            for p in &points {
                let label = format!("({:.3}, {:.2})", p.size, p.time);
                assert!(svg.contains(&label), "{label} missing: {svg}");
            }
            assert!(!svg.contains("<b>") && !svg.contains(" & "), "not escaped: {svg}");
            // The goal corner: from the y axis at the time goal down to the x axis, across to the
            // size goal (the plot spans 0 to 1.1 x the largest ratio, at least 1).
            let max_x = points.iter().map(|p| p.size).fold(1.0_f64, f64::max) * 1.1;
            let width = SIZE_GOAL / max_x * 380.0;
            assert!(svg.contains(&format!(r#"width="{width:.1}""#)), "goal width {width:.1}: {svg}");
        }
    }
}
