//! `cargo xtask fuzz`: the cargo-fuzz targets of `fuzz/`, on the stable toolchain.
//!
//! cargo-fuzz needs nightly flags (`-Zsanitizer`, sancov passes); `RUSTC_BOOTSTRAP=1` lets the
//! stable compiler accept them. cargo-fuzz itself is installed in the cache (`cache`; `target/tools/` with
//! the cache off). Every file of `fuzz/regressions/<target>/` (seeds and past findings)
//! is replayed first; then each target runs for the time asked, two processes at a time, with its
//! growing corpus under `target/fuzz-corpus/<target>/` and its log under `target/fuzz-logs/`.

use std::{
    fs,
    path::{Path, PathBuf},
    process::Command,
    time::Instant,
};

use crate::{run, Result};

/// The fuzz targets (binaries of `fuzz/Cargo.toml`).
pub const FUZZ_TARGETS: &[&str] = &["filter", "layout", "manifest", "sumdb", "tar_entries", "verify_extract"];
/// cargo-fuzz, pinned.
const CARGO_FUZZ_VERSION: &str = "0.13.2";
/// Seconds per target of the smoke run `cargo xtask test` does; override with this variable
/// (`0` skips fuzzing, the regression inputs still run as `cargo test` tests).
pub const SMOKE_ENV: &str = "GO_OFFLINE_FUZZ_SMOKE_SECONDS";
const SMOKE_SECONDS: u64 = 20;

pub fn fuzz_cmd(args: &[String]) -> Result {
    let mut seconds = 60;
    let mut targets: Vec<String> = Vec::new();
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--seconds" => {
                seconds = it.next().and_then(|s| s.parse().ok()).ok_or("--seconds needs a whole number of seconds")?;
            }
            "--target" => {
                let t = it.next().ok_or("--target needs a fuzz target name")?;
                if !FUZZ_TARGETS.contains(&t.as_str()) {
                    return Err(format!("unknown fuzz target '{t}' (targets: {})", FUZZ_TARGETS.join(", ")));
                }
                targets.push(t.clone());
            }
            other => return Err(format!("fuzz: unknown argument '{other}'")),
        }
    }
    if targets.is_empty() {
        targets = FUZZ_TARGETS.iter().map(|t| t.to_string()).collect();
    }
    fuzz(&targets, seconds)
}

/// The short run `cargo xtask test` ends with.
pub fn smoke() -> Result {
    let seconds = match std::env::var(SMOKE_ENV) {
        Ok(s) => s.trim().parse().map_err(|_| format!("{SMOKE_ENV}={s} is not a number of seconds"))?,
        Err(_) => SMOKE_SECONDS,
    };
    if seconds == 0 {
        eprintln!("xtask: fuzz smoke run skipped ({SMOKE_ENV}=0)");
        return Ok(());
    }
    let targets: Vec<String> = FUZZ_TARGETS.iter().map(|t| t.to_string()).collect();
    fuzz(&targets, seconds)
}

/// Installs cargo-fuzz when missing and builds the fuzz targets; returns cargo-fuzz.
pub fn build() -> Result<PathBuf> {
    let cargo_fuzz = install_cargo_fuzz()?;
    run(&mut cargo_fuzz_cmd(&cargo_fuzz, "build"))?;
    Ok(cargo_fuzz)
}

fn fuzz(targets: &[String], seconds: u64) -> Result {
    let started = Instant::now();
    let cargo_fuzz = build()?;
    let logs = Path::new("target/fuzz-logs");
    fs::create_dir_all(logs).map_err(|e| e.to_string())?;
    // Two targets at a time: each libFuzzer process keeps one core busy.
    let summary = crate::two_at_a_time(targets, |t| {
        // Replay every committed input once: seeds and every past finding.
        let regressions = Path::new("fuzz/regressions").join(t);
        let mut replay = cargo_fuzz_cmd(&cargo_fuzz, "run");
        replay.arg(t).arg(&regressions).args(["--", "-runs=0"]);
        run(&mut replay).map_err(|e| format!("replaying {}: {e}", regressions.display()))?;

        let corpus = Path::new("target/fuzz-corpus").join(t);
        fs::create_dir_all(&corpus).map_err(|e| e.to_string())?;
        let log = logs.join(format!("{t}.log"));
        let mut cmd = cargo_fuzz_cmd(&cargo_fuzz, "run");
        cmd.arg(t).arg(&corpus).arg(&regressions).args([
            "--",
            &format!("-max_total_time={seconds}"),
            "-timeout=30",
            "-max_len=16384",
            "-print_final_stats=1",
        ]);
        let log_file = fs::File::create(&log).map_err(|e| format!("{}: {e}", log.display()))?;
        cmd.stderr(log_file);
        let result = run(&mut cmd);
        let text = fs::read_to_string(&log).unwrap_or_default();
        let last = last_status(&text);
        eprintln!("xtask: fuzz {t}: {last}");
        if let Err(e) = result {
            let tail: Vec<&str> = text.lines().rev().take(40).collect();
            for line in tail.iter().rev() {
                eprintln!("  {line}");
            }
            return Err(format!(
                "fuzz target {t} found a failure ({e}); log {}. Its input is under fuzz/artifacts/{t}/: \
                 fix the bug, then commit the input to {} so it is replayed from now on",
                log.display(),
                regressions.display()
            ));
        }
        Ok(format!("{t}: {last}"))
    })?;
    println!("fuzz: {} target(s), {seconds} s each, {:.0} s in all", targets.len(), started.elapsed().as_secs_f64());
    for s in summary {
        println!("  {s}");
    }
    Ok(())
}

/// libFuzzer's last progress line (`#N DONE cov: … exec/s: …`), or a placeholder.
fn last_status(log: &str) -> String {
    log.lines()
        .rev()
        .find(|l| l.starts_with('#') && l.contains("cov:"))
        .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|| "no progress line".into())
}

/// `cargo-fuzz SUBCOMMAND` with the settings every call shares: stable compiler, no sanitizer
/// (the code under test is safe Rust; a plain build runs several times faster), debug assertions
/// and overflow checks on, build products under `fuzz/` of the cargo target directory
/// ([`crate::cargo_target_dir`]), temporary files in memory.
fn cargo_fuzz_cmd(cargo_fuzz: &Path, sub: &str) -> Command {
    let mut c = Command::new(cargo_fuzz);
    c.arg(sub)
        .args(["--sanitizer", "none", "--debug-assertions", "--target-dir"])
        .arg(crate::cargo_target_dir().join("fuzz"));
    c.env("RUSTC_BOOTSTRAP", "1");
    // The installer targets make and remove a few files per run: keep that off the disk.
    if Path::new("/dev/shm").is_dir() {
        c.env("TMPDIR", "/dev/shm");
    }
    c
}

/// cargo-fuzz, installed when missing (see `install_tool`).
fn install_cargo_fuzz() -> Result<PathBuf> {
    install_tool("cargo-fuzz", CARGO_FUZZ_VERSION)
}

/// `bin/NAME` at VERSION, installed with `cargo install --locked` into the cache (see `cache`;
/// `target/tools` with the cache off) when missing or another version; returns the program.
pub fn install_tool(name: &str, version: &str) -> Result<PathBuf> {
    let fallback = std::path::absolute("target/tools").map_err(|e| e.to_string())?;
    let installed = |root: &Path| {
        let bin = root.join("bin").join(name);
        let current = Command::new(&bin).arg("--version").output().ok().filter(|o| o.status.success());
        current.is_some_and(|o| String::from_utf8_lossy(&o.stdout).contains(version))
    };
    let install = |root: &Path| {
        if installed(root) {
            return Ok(());
        }
        let started = Instant::now();
        // Tools the tasks run for seconds: their release profile without its link-time
        // optimisation (cargo-deny asks for fat LTO and one codegen unit: minutes of one core).
        // Built in a directory of their own: in the shared one, `release/` is also the host
        // directory of the release stubs and builders, and cargo's lock on it would make those
        // wait for the install (minutes, in another lane).
        run(crate::cargo()
            .args(["install", "--locked", "--version", version, "--root"])
            .arg(root)
            .arg(name)
            .env("CARGO_TARGET_DIR", crate::cargo_target_dir().join("install"))
            .env("CARGO_PROFILE_RELEASE_LTO", "false")
            .env("CARGO_PROFILE_RELEASE_CODEGEN_UNITS", "16"))?;
        eprintln!("xtask: installed {name} {version} in {:.0} s", started.elapsed().as_secs_f64());
        Ok(())
    };
    let root = crate::cache::dir_or_make(crate::cache::entry("tools", name, &[name, version]), &fallback, install)?;
    Ok(root.join("bin").join(name))
}
