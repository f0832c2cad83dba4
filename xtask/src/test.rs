//! `cargo xtask test`: everything CI runs (the full tier), or the edit loop's quick tier, in
//! timed phases.
//!
//! The test programs are built by one `cargo test --no-run` and then run by this task, one
//! binary at a time, so that the time of every phase, of every test binary and of every test is
//! known: the run ends with a table of the phases, the slowest tests and the one closing line
//! `tests: N passed, M failed` over every binary (doc tests included). The table is printed when a
//! phase fails too, so a CI log always says where the time went.

use std::{
    collections::BTreeMap,
    io::{BufRead, BufReader},
    path::{Path, PathBuf},
    process::{Command, Stdio},
    time::{Duration, Instant},
};

use crate::{cargo, describe, dist, fixtures, fuzz, run, tools, Result, TARGETS};

/// What `cargo xtask test` runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tier {
    /// Everything, as CI runs it.
    Full,
    /// The edit loop: fmt, clippy, every unit test, and the end-to-end tests of the core path on
    /// amd64 (build, verify, install, tampering, the lifecycle commands).
    Quick,
}

/// The modules of the end-to-end tests the quick tier runs: libtest filters (a test runs when its
/// name contains one of them).
const QUICK_MODULES: &[&str] = &["build::", "install::", "hostile::", "lifecycle::", "dry_run::"];

/// The tests of those modules that need more than the amd64 stub and fixtures (other targets,
/// qemu, the crash-test stubs): the quick tier skips them; the full tier runs them.
const QUICK_SKIPS: &[&str] = &[
    "install::i386_installs_and_refuses_tampering",
    "install::a_32_bit_stub_installs_a_4_gib_file_at_offsets_past_2_gib",
    "install::ppc64le_s390x_riscv64_and_arm_under_qemu",
    "install::arm64_under_qemu",
    "install::compiled_in_key_is_trusted_unless_the_host_directory_exists",
    "lifecycle::kill_during_",
    // The stubs of other targets (s390x, Windows).
    "build::platform_mismatches_are_refused_at_build_time",
    "build::the_official_windows_zip_is_read_and_a_stub_of_the_other_os_refused",
];

pub fn test_cmd(args: &[String]) -> Result {
    let tier = match args {
        [] => Tier::Full,
        [q] if q == "--quick" => Tier::Quick,
        _ => return Err("usage: cargo xtask test [--quick]".into()),
    };
    let report = Report::new();
    let result = match tier {
        Tier::Full => full(&report),
        Tier::Quick => quick(&report),
    };
    report.print(tier, result.is_ok());
    result
}

/// Everything CI runs. After the system's tools are in place, three lanes run side by side (each
/// phase of a lane after the one before it): the release builds (stubs, dist), the debug builds
/// (clippy, the test programs, the test-only stubs) and the inputs (fixtures, virtualenvs, the
/// Wine prefix, the cargo tools, the fuzz build). They share no cargo lock (`release/`,
/// `debug/`, `test-stubs/`, `fuzz/` and `install/` of the cargo target directory are locked
/// apart; a cargo run holds its profile's host directory too) and what they make in the cache is
/// made under a lock (see `cache`). The tests run when all three are done.
fn full(r: &Report) -> Result {
    r.phase("cargo fmt --check", || run(cargo().args(["fmt", "--all", "--check"])))?;
    r.phase("system tools (apt, rustup, pip)", || {
        tools::qemu_aarch64()?;
        tools::test_programs()?;
        tools::fleet_programs()?;
        tools::signers()?;
        tools::apt(&["dpkg"], "dpkg-deb")?;
        tools::wine_programs()?;
        tools::python_venv()?;
        tools::stub_toolchains(TARGETS)
    })?;
    let release = || -> Result {
        r.phase("stubs: release, every target", || crate::build_stubs(TARGETS, &[], None).map(drop))?;
        // The release builders (their stubs are the ones just built), then everything after the
        // compiler again, to show the same bytes come out; the dist tests run them in a clean,
        // offline environment.
        let made = r.phase("dist", || dist::dist(Path::new("target/dist"), None))?;
        r.phase("dist again (reproducible)", || dist::check_reproducible(&made))
    };
    let debug = || -> Result<Vec<TestBinary>> {
        r.phase("cargo clippy", clippy)?;
        let binaries = r.phase("build tests", build_tests)?;
        // The stubs only tests use, in their own profile (no lock shared with the release
        // stubs): here, where the machine has a core to spare once the test programs are built.
        r.phase("stubs: trusted key, crash-test (amd64, windows)", || {
            // A stub with a key compiled in, for the embedded-trust test.
            let key = test_key("embedded")?;
            crate::build_trusted_test_stub(TARGETS[0], &[key])?;
            crate::build_failpoint_stub(TARGETS[0])?;
            // The Windows crash-test stub, for the kills under Wine.
            crate::build_failpoint_stub("x86_64-pc-windows-gnu").map(drop)
        })?;
        Ok(binaries)
    };
    let inputs = || -> Result {
        // First what the release lane needs soonest (dist packs the .deb with it).
        r.phase("cargo-deb: install", || dist::cargo_deb().map(drop))?;
        r.phase("ansible-lint", crate::lint_ansible)?;
        r.phase("salt, OpenBao", || {
            tools::salt()?;
            tools::openbao()
        })?;
        r.phase("wine prefix", || tools::wine().map(drop))?;
        fixture_phases(r)?;
        r.phase("cargo-deny, cargo-fuzz: install, fuzz build", || {
            crate::deny::install()?;
            fuzz::build().map(drop)
        })
    };
    let (release, binaries, inputs) = std::thread::scope(|s| {
        let release = s.spawn(release);
        let inputs = s.spawn(inputs);
        let binaries = debug();
        (join(release), binaries, join(inputs))
    });
    let binaries = binaries?;
    release?;
    inputs?;
    run_tests(r, &binaries, &[], &[])?;
    r.phase("cargo deny", crate::deny::deny_in_test)?;
    r.phase("fuzz smoke", fuzz::smoke)
}

/// Every fixture the tests read (what `crate::all_fixtures` makes), a phase per kind; each
/// phase makes its fixtures two at a time (a download, a gzip: one core each).
fn fixture_phases(r: &Report) -> Result {
    use crate::{
        BASE_GO_VERSION as BASE, GO_VERSION as V, OLDER_BASE_GO_VERSION as OLDER_BASE, OLDER_GO_VERSION as OLDER,
    };
    r.phase(&format!("fixtures: go{V} linux tarballs (5), windows zip"), || {
        let mut jobs: Vec<Box<dyn Fn() -> Result + Send + Sync>> = ["amd64", "arm64", "386", "ppc64le", "s390x"]
            .into_iter()
            .map(|arch| {
                Box::new(move || fixtures::go_tarball(V, arch).map(drop)) as Box<dyn Fn() -> Result + Send + Sync>
            })
            .collect();
        jobs.push(Box::new(|| fixtures::go_zip(V, "amd64").map(drop)));
        two_at_a_time(&jobs)
    })?;
    r.phase(&format!("fixtures: go{V} cross-builds (riscv64, armv6l)"), || {
        // Side by side: each has single-threaded stretches (loading packages, linking).
        let jobs: Vec<Box<dyn Fn() -> Result + Send + Sync>> = ["riscv64", "armv6l"]
            .into_iter()
            .map(|name| {
                Box::new(move || fixtures::go_cross(V, name).map(drop)) as Box<dyn Fn() -> Result + Send + Sync>
            })
            .collect();
        two_at_a_time(&jobs)
    })?;
    r.phase(&format!("fixtures: go{OLDER} tarball and zip, go{BASE}, go{OLDER_BASE}"), || {
        let jobs: Vec<Box<dyn Fn() -> Result + Send + Sync>> = vec![
            Box::new(|| fixtures::go_tarball(OLDER, "amd64").map(drop)),
            Box::new(|| fixtures::go_zip(OLDER, "amd64").map(drop)),
            Box::new(|| fixtures::go_tarball(BASE, "amd64").map(drop)),
            Box::new(|| fixtures::go_tarball(OLDER_BASE, "amd64").map(drop)),
        ];
        two_at_a_time(&jobs)
    })?;
    r.phase("fixtures: Debian's golang-1.19", || fixtures::debian_goroot().map(drop))
}

/// Runs `jobs` on two threads; the first error, if any.
fn two_at_a_time(jobs: &[Box<dyn Fn() -> Result + Send + Sync>]) -> Result {
    crate::two_at_a_time(jobs, |job| job()).map(drop)
}

/// The result of a lane's thread (a panic is an error of its own).
fn join<T>(handle: std::thread::ScopedJoinHandle<'_, Result<T>>) -> Result<T> {
    handle.join().unwrap_or_else(|_| Err("a lane of cargo xtask test panicked".into()))
}

/// The edit loop: what most changes break, on the host's own target. The stub and the test
/// programs build side by side.
fn quick(r: &Report) -> Result {
    r.phase("cargo fmt --check", || run(cargo().args(["fmt", "--all", "--check"])))?;
    r.phase("system tools (apt, rustup, pip)", || {
        tools::test_programs()?;
        tools::apt(&["dpkg"], "dpkg-deb")?;
        tools::stub_toolchains(&TARGETS[..2])
    })?;
    let release = || -> Result {
        // The arm64 stub too: the hostile table refuses an arm64 installer on the amd64 stub,
        // and a build test refuses it for amd64.
        r.phase("stubs: amd64, arm64, amd64 crash-test", || {
            crate::build_stubs(&TARGETS[..2], &[], None)?;
            crate::build_failpoint_stub(TARGETS[0]).map(drop)
        })?;
        // What the quick modules read besides the amd64 release: the arm64 release (refused on
        // the amd64 stub), the Windows zip (read by the builder), Debian's GOROOT (its links).
        r.phase("fixtures: amd64 releases, arm64, windows zip, Debian's Go", || {
            fixtures::go_tarball(crate::GO_VERSION, "amd64")?;
            fixtures::go_tarball(crate::OLDER_GO_VERSION, "amd64")?;
            fixtures::go_tarball(crate::GO_VERSION, "arm64")?;
            fixtures::go_zip(crate::GO_VERSION, "amd64")?;
            fixtures::debian_goroot().map(drop)
        })
    };
    let debug = || -> Result<Vec<TestBinary>> {
        r.phase("cargo clippy", clippy)?;
        r.phase("build tests", build_tests)
    };
    let (release, binaries) = std::thread::scope(|s| {
        let release = s.spawn(release);
        let binaries = debug();
        (join(release), binaries)
    });
    let binaries = binaries?;
    release?;
    run_tests(r, &binaries, QUICK_MODULES, QUICK_SKIPS)
}

fn clippy() -> Result {
    run(cargo().args(["clippy", "--workspace", "--all-targets", "--locked", "--", "-D", "warnings"]))
}

/// `target/test-keys/NAME.{key,pub}`, made with openssl when missing; returns the public key.
fn test_key(name: &str) -> Result<PathBuf> {
    let dir = Path::new("target/test-keys");
    let private = dir.join(format!("{name}.key"));
    let public = dir.join(format!("{name}.pub"));
    if !public.exists() {
        std::fs::create_dir_all(dir).map_err(|e| e.to_string())?;
        run(Command::new("openssl").args(["genpkey", "-algorithm", "ed25519", "-out"]).arg(&private))?;
        run(Command::new("openssl").args(["pkey", "-pubout", "-in"]).arg(&private).arg("-out").arg(&public))?;
    }
    Ok(public)
}

/// A test program cargo built: where it is, what to call it, where it runs from.
struct TestBinary {
    /// `package/target`, e.g. `builder/it` or `format/lib`.
    name: String,
    path: PathBuf,
    /// The package's directory (cargo runs a test binary there).
    dir: PathBuf,
}

/// `cargo test --workspace --no-run`: builds every test program; returns them.
fn build_tests() -> Result<Vec<TestBinary>> {
    let mut cmd = cargo();
    cmd.args(["test", "--workspace", "--locked", "--no-run", "--message-format=json-render-diagnostics"])
        .stdout(Stdio::piped());
    eprintln!("xtask: $ {}", describe(&cmd));
    let mut child = cmd.spawn().map_err(|e| format!("cannot run cargo test: {e}"))?;
    let mut binaries = Vec::new();
    if let Some(out) = child.stdout.take() {
        for line in BufReader::new(out).lines().map_while(|l| l.ok()) {
            let Ok(msg) = serde_json::from_str::<serde_json::Value>(&line) else { continue };
            let (Some(exe), Some(manifest)) = (msg["executable"].as_str(), msg["manifest_path"].as_str()) else {
                continue;
            };
            if msg["reason"] != "compiler-artifact" || msg["profile"]["test"] != true {
                continue;
            }
            let dir = Path::new(manifest).parent().ok_or("a manifest path has no directory")?.to_path_buf();
            let package = dir.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
            let target = msg["target"]["name"].as_str().unwrap_or("?");
            let kind = msg["target"]["kind"][0].as_str().unwrap_or("?");
            let name = if kind == "lib" { format!("{package}/lib") } else { format!("{package}/{target}") };
            binaries.push(TestBinary { name, path: PathBuf::from(exe), dir });
        }
    }
    let status = child.wait().map_err(|e| e.to_string())?;
    if !status.success() {
        return Err(format!("cargo test --no-run failed ({status})"));
    }
    // The end-to-end tests last: everything quick first, so a broken unit fails fast.
    binaries.sort_by_key(|b| (b.name == "builder/it", b.name.clone()));
    Ok(binaries)
}

/// Runs every test binary (with the libtest `filters`, and `skips`, for the end-to-end one only),
/// then the doc tests; each binary is one phase.
fn run_tests(r: &Report, binaries: &[TestBinary], filters: &[&str], skips: &[&str]) -> Result {
    let mut failed = Vec::new();
    for b in binaries {
        let is_it = b.name == "builder/it";
        let mut args: Vec<String> = Vec::new();
        if is_it {
            args.extend(filters.iter().map(|f| f.to_string()));
            for s in skips {
                args.extend(["--skip".to_string(), s.to_string()]);
            }
        }
        let result = if is_it && filters.is_empty() && skips.is_empty() {
            r.phase(&format!("test {}", b.name), || run_in_two_processes(b))
        } else {
            r.phase(&format!("test {}", b.name), || run_binary(b, &args, is_it))
        };
        match result {
            Ok(counts) => r.add(&b.name, counts),
            Err((counts, e)) => {
                r.add(&b.name, counts);
                failed.push(e);
            }
        }
    }
    // Doc tests are compiled when they run: cargo does both.
    let doc = r.phase("doc tests", || {
        let mut cmd = cargo();
        cmd.args(["test", "--workspace", "--locked", "--doc"]);
        match stream(&mut cmd, "doc") {
            (counts, true) => Ok(counts),
            (counts, false) => Err((counts, "cargo test --doc failed".to_string())),
        }
    });
    match doc {
        Ok(counts) => r.add("doc", counts),
        Err((counts, e)) => {
            r.add("doc", counts);
            failed.push(e);
        }
    }
    if !failed.is_empty() {
        return Err(failed.join("; "));
    }
    if r.passed() == 0 {
        return Err("the test binaries ran no test".into());
    }
    Ok(())
}

/// The end-to-end tests run one at a time in a process of their own, beside the other tests (two
/// at a time, libtest's default here): those that mostly wait (for Wine's server and its
/// programs to start, for ssh sessions), and the two that take most of the machine's memory (the
/// 24-host roll-out keeps 24 Go trees in memory; the builder holds a 4 GiB tree twice over, about
/// 15 GB), so these two never run at once. Taken in libtest's order among the others, the Wine
/// tests came last and the last of them ran on alone for 90 s with the cores mostly idle; one at a
/// time they also never share the Wine prefix with each other.
const ONE_AT_A_TIME: &[&str] =
    &["windows::", "fleet::", "install::a_32_bit_stub_installs_a_4_gib_file_at_offsets_past_2_gib"];

/// The end-to-end binary as two processes side by side: [`ONE_AT_A_TIME`], one at a time, and
/// every other test; their counts added.
fn run_in_two_processes(b: &TestBinary) -> std::result::Result<Counts, (Counts, String)> {
    let waiting: Vec<String> =
        ONE_AT_A_TIME.iter().map(|t| t.to_string()).chain(["--test-threads".into(), "1".into()]).collect();
    let others: Vec<String> = ONE_AT_A_TIME.iter().flat_map(|t| ["--skip".to_string(), t.to_string()]).collect();
    let (others, waiting) = std::thread::scope(|s| {
        let waiting = s.spawn(|| run_binary(b, &waiting, true));
        let others = run_binary(b, &others, true);
        let panicked = || Err((Counts::default(), format!("the thread running {} panicked", b.name)));
        (others, waiting.join().unwrap_or_else(|_| panicked()))
    });
    let mut counts = Counts::default();
    let mut errors = Vec::new();
    for result in [others, waiting] {
        let c = match result {
            Ok(c) => c,
            Err((c, e)) => {
                errors.push(e);
                c
            }
        };
        counts.passed += c.passed;
        counts.failed += c.failed;
        counts.times.extend(c.times);
    }
    if errors.is_empty() {
        Ok(counts)
    } else {
        Err((counts, errors.join("; ")))
    }
}

/// What one run of test programs counted: passed, failed, and each test's time.
#[derive(Default)]
struct Counts {
    passed: u64,
    failed: u64,
    times: Vec<(String, f64)>,
}

/// Runs one test binary the way `cargo test` does (from its package's directory), with libtest's
/// own timing of every test. The end-to-end binary runs in a private mount namespace whose
/// `target/it-tmp` is a tmpfs: the tests install Go some hundred times, and a tmpfs flushes nothing
/// to disk (one test installs on the disk itself: `TestContext::on_disk`).
fn run_binary(b: &TestBinary, args: &[String], scratch: bool) -> std::result::Result<Counts, (Counts, String)> {
    let mut cmd = if scratch {
        let dir = Path::new("target/it-tmp");
        if let Err(e) = std::fs::create_dir_all(dir) {
            return Err((Counts::default(), format!("create {}: {e}", dir.display())));
        }
        let dir = std::path::absolute(dir).unwrap_or_else(|_| dir.to_path_buf());
        let mut c = Command::new("unshare");
        c.args(["--mount", "--propagation", "private", "sh", "-c"])
            .arg("mount -t tmpfs -o size=16g,mode=0755 go-offline-it \"$0\" && exec \"$@\"")
            .arg(dir)
            .arg(&b.path);
        c
    } else {
        Command::new(&b.path)
    };
    // libtest's --report-time is unstable: RUSTC_BOOTSTRAP lets the stable test runner take it.
    cmd.args(["-Z", "unstable-options", "--report-time"]).args(args).env("RUSTC_BOOTSTRAP", "1").current_dir(&b.dir);
    match stream(&mut cmd, &b.name) {
        (counts, true) => Ok(counts),
        (counts, false) => Err((counts, format!("{} failed", b.name))),
    }
}

/// Runs `cmd`, passing its standard output through, and counts libtest's result lines and test
/// times; returns the counts and whether it succeeded.
fn stream(cmd: &mut Command, binary: &str) -> (Counts, bool) {
    cmd.stdout(Stdio::piped());
    eprintln!("xtask: $ {}", describe(cmd));
    let mut counts = Counts::default();
    let mut child = match cmd.spawn() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("xtask: cannot run {}: {e}", describe(cmd));
            return (counts, false);
        }
    };
    if let Some(out) = child.stdout.take() {
        for line in BufReader::new(out).lines().map_while(|l| l.ok()) {
            println!("{line}");
            if let Some(rest) = line.strip_prefix("test result: ") {
                let count = |word: &str| {
                    rest.split(';')
                        .find_map(|part| part.trim().strip_suffix(word)?.trim().rsplit(' ').next()?.parse::<u64>().ok())
                };
                counts.passed += count("passed").unwrap_or(0);
                counts.failed += count("failed").unwrap_or(0);
            } else if let Some(timed) = test_time(&line) {
                counts.times.push((format!("{binary}: {}", timed.0), timed.1));
            }
        }
    }
    let ok = child.wait().map(|s| s.success()).unwrap_or(false);
    (counts, ok)
}

/// `test NAME ... ok <1.234s>` → (NAME, 1.234).
fn test_time(line: &str) -> Option<(String, f64)> {
    let rest = line.strip_prefix("test ")?;
    let (name, outcome) = rest.split_once(" ... ")?;
    let secs = outcome.rsplit_once('<')?.1.strip_suffix("s>")?.parse().ok()?;
    Some((name.to_string(), secs))
}

/// One phase: its name, when it started (from the start of the run), how long it took, and how
/// busy the machine's cores were meanwhile (in percent of all of them: what was left idle is
/// what running more side by side could win).
struct Phase {
    name: String,
    start: Duration,
    time: Duration,
    busy: Option<f64>,
}

/// (busy, total) CPU ticks of the whole machine so far, from `/proc/stat`.
fn cpu_ticks() -> Option<(u64, u64)> {
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    let ticks: Vec<u64> = stat.lines().next()?.split_whitespace().skip(1).filter_map(|t| t.parse().ok()).collect();
    // user nice system idle iowait irq softirq steal (guest time is counted in user already).
    let total: u64 = ticks.iter().take(8).sum();
    let idle = ticks.get(3)? + ticks.get(4).unwrap_or(&0);
    Some((total - idle, total))
}

/// What the run did so far: the phases with their times, and the tests' counts. Phases of
/// several lanes add to it at once.
struct Report {
    /// When the run started: the start of the `cargo` that built and ran this task.
    started: Instant,
    /// The time cargo took to build this task before it ran.
    own_build: Option<Duration>,
    phases: std::sync::Mutex<Vec<Phase>>,
    tests: std::sync::Mutex<Tests>,
    /// The machine's CPU ticks when the run started.
    cpu: Option<(u64, u64)>,
}

/// The counts of every test binary run.
#[derive(Default)]
struct Tests {
    passed: u64,
    failed: u64,
    per_binary: BTreeMap<String, (u64, u64)>,
    times: Vec<(String, f64)>,
}

impl Report {
    fn new() -> Report {
        let own_build = own_build_time();
        let started = Instant::now().checked_sub(own_build.unwrap_or_default()).unwrap_or_else(Instant::now);
        Report { started, own_build, phases: Default::default(), tests: Default::default(), cpu: cpu_ticks() }
    }

    /// Runs one phase and records its time (also when it fails).
    fn phase<T, E>(&self, name: &str, f: impl FnOnce() -> std::result::Result<T, E>) -> std::result::Result<T, E> {
        eprintln!("xtask: == {name}");
        let (started, cpu) = (Instant::now(), cpu_ticks());
        let result = f();
        let phase = Phase {
            name: name.to_string(),
            start: started.duration_since(self.started),
            time: started.elapsed(),
            busy: busy(cpu, cpu_ticks()),
        };
        eprintln!("xtask: == {name}: {:.1} s", phase.time.as_secs_f64());
        self.phases.lock().unwrap_or_else(|e| e.into_inner()).push(phase);
        result
    }

    fn add(&self, binary: &str, counts: Counts) {
        let mut t = self.tests.lock().unwrap_or_else(|e| e.into_inner());
        t.passed += counts.passed;
        t.failed += counts.failed;
        t.per_binary.insert(binary.to_string(), (counts.passed, counts.failed));
        t.times.extend(counts.times);
    }

    fn passed(&self) -> u64 {
        self.tests.lock().unwrap_or_else(|e| e.into_inner()).passed
    }

    fn print(&self, tier: Tier, ok: bool) {
        let wall = self.started.elapsed();
        let mut phases = std::mem::take(&mut *self.phases.lock().unwrap_or_else(|e| e.into_inner()));
        if let Some(build) = self.own_build {
            phases.insert(
                0,
                Phase { name: "build xtask (cargo run)".into(), start: Duration::ZERO, time: build, busy: None },
            );
        }
        phases.sort_by_key(|p| p.start);
        println!();
        let what = if ok { "all passed" } else { "stopped after a failure" };
        println!("xtask test{}: phase times ({what})", if tier == Tier::Quick { " --quick" } else { "" });
        println!(
            "  {:>8} {:>8} {:>5}  phase (phases of the same start window ran side by side)",
            "start", "time", "cpu"
        );
        for p in &phases {
            let busy = p.busy.map(|b| format!("{b:.0}%")).unwrap_or_else(|| "-".into());
            println!("  {:>6.0} s {:>6.0} s {:>5}  {}", p.start.as_secs_f64(), p.time.as_secs_f64(), busy, p.name);
        }
        let busy = busy(self.cpu, cpu_ticks()).map(|b| format!("{b:.0}%")).unwrap_or_else(|| "-".into());
        println!(
            "  {:>6.0} s {:>6.0} s {busy:>5}  wall time in all, from cargo's start ({:.1} min)",
            0.0,
            wall.as_secs_f64(),
            wall.as_secs_f64() / 60.0
        );
        let mut t = self.tests.lock().unwrap_or_else(|e| e.into_inner());
        if !t.times.is_empty() {
            t.times.sort_by(|a, b| b.1.total_cmp(&a.1));
            println!("slowest tests:");
            for (name, secs) in t.times.iter().take(15) {
                println!("  {secs:>8.1} s  {name}");
            }
        }
        for (binary, (passed, failed)) in &t.per_binary {
            println!("  {binary}: {passed} passed, {failed} failed");
        }
        // The one closing line over every binary (cargo's own last line is that of its last one).
        println!("tests: {} passed, {} failed", t.passed, t.failed);
    }
}

/// The share of the machine's CPU time that was busy between two readings, in percent.
fn busy(from: Option<(u64, u64)>, to: Option<(u64, u64)>) -> Option<f64> {
    match (from, to) {
        (Some((b0, t0)), Some((b1, t1))) if t1 > t0 => Some(100.0 * (b1 - b0) as f64 / (t1 - t0) as f64),
        _ => None,
    }
}

/// How long `cargo xtask` took to build this task before it started. `cargo run` replaces its
/// own process with the program it runs (on Unix): the `cargo` that was typed became the
/// launcher, which became `cargo run --package xtask`, which became this task, all in one
/// process. So the time since this process started is that build, and the run's own time.
fn own_build_time() -> Option<Duration> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // The command name (field 2) may hold spaces: the fields after its ')' are fixed; the start
    // time (field 22) is in clock ticks since boot, USER_HZ (100 on every Linux this runs on).
    let start_ticks: u64 = stat.rsplit_once(')')?.1.split_whitespace().nth(19)?.parse().ok()?;
    let uptime: f64 = std::fs::read_to_string("/proc/uptime").ok()?.split_whitespace().next()?.parse().ok()?;
    let started = start_ticks as f64 / 100.0;
    (uptime >= started).then(|| Duration::from_secs_f64(uptime - started))
}

#[cfg(test)]
mod tests {
    #[test]
    fn test_time() {
        let cases = [
            ("test install::a ... ok <12.345s>", Some(("install::a", 12.345))),
            ("test format::x ... FAILED <0.010s>", Some(("format::x", 0.01))),
            ("test install::a ... ok", None),
            ("running 3 tests", None),
        ];
        for (line, want) in cases {
            assert_eq!(super::test_time(line), want.map(|(n, s)| (n.to_string(), s)), "{line}");
        }
    }
}
