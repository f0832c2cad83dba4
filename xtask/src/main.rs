//! `cargo xtask`: the project's automation. Run without arguments for the list of tasks.
//!
//! Every task changes to the workspace root first, calls cargo through `$CARGO`, and installs the
//! tools it needs when they are missing (rust targets, zig and cargo-zigbuild, qemu-user-static),
//! so each one works on a fresh machine.

mod bench;
mod cache;
mod deny;
mod dist;
mod fixtures;
mod fuzz;
mod test;
mod tools;

use std::{
    env,
    path::{Path, PathBuf},
    process::{Command, ExitCode},
};

const TASKS: &str = "\
cargo xtask <task>

tasks:
  stubs [--target TRIPLE]... [--trust-key PUB]... [--out-dir DIR] [--failpoints]
                      build the static release stubs into target/stubs/<triple>/ (or DIR),
                      with the public keys PUB compiled in as trusted; --failpoints builds
                      the crash-test stub into target/stubs-failpoints/ instead
  fixtures [--version V | --amd64 V]
                      make real Go release tarballs for tests under target/fixtures/
                      (default: the test release for amd64, arm64, 386, ppc64le and s390x, its Windows amd64
                      zip, cross-builds of its source by its amd64 release for riscv64
                      and armv6l, and an older one for amd64)
  dist [--key SIGNER] [--out-dir DIR]
                      the builder as people download it, into target/dist/ (or DIR): static
                      x86_64 and aarch64 builders with every target's stub embedded, as
                      .tar.gz (with README, licences, completions, man pages) and .deb, and
                      SHA256SUMS signed by SIGNER, as go-offline-builder --key names it
                      (default: the key file target/dist-keys/dist.key);
                      reproducible (SOURCE_DATE_EPOCH, default the last commit's time)
  demo                the main job end to end: fixtures, stubs, key, installer, install
                      into a scratch prefix, go version, offline hello world
  test [--quick]      everything CI runs: fmt, clippy, ansible-lint, stubs, dist, fixtures, every
                      test binary, deny, fuzz smoke; ends with a table of phase times, the slowest
                      tests and `tests: N passed, M failed`. --quick: the edit loop (fmt, clippy,
                      unit tests, the amd64 end-to-end tests of build, install, tampering and
                      the lifecycle commands)
  fuzz [--seconds N] [--target NAME]...
                      replay fuzz/regressions/, then run each cargo-fuzz target N s (default 60)
  bench [--runs N] [--disk-runs N] [--out FILE]
                      size, build time, install time (tmpfs and disk) and peak memory of our
                      installer against tar.gz, sha256sum + tar, makeself and zstd, written to
                      docs/bench.md (default 5 runs on tmpfs, 3 on disk; medians)
  ansible-lint        ansible-lint (PyPI, in the cache) at its production profile on
                      examples/ansible, offline
  deny                supply-chain checks of deny.toml with cargo-deny (advisories when the
                      RustSec database can be had)
";

/// The stub targets.
pub const TARGETS: &[&str] = &[
    "x86_64-unknown-linux-musl",
    "aarch64-unknown-linux-musl",
    "i686-unknown-linux-musl",
    "powerpc64le-unknown-linux-gnu",
    "s390x-unknown-linux-gnu",
    "riscv64gc-unknown-linux-gnu",
    "armv7-unknown-linux-gnueabihf",
    "x86_64-pc-windows-gnu",
];
/// The Go release the tests and the demo use.
pub const GO_VERSION: &str = "1.27.3";
/// An older real release (amd64 only), for downgrade and side-by-side tests.
pub const OLDER_GO_VERSION: &str = "1.26.6";
/// The point release before [`GO_VERSION`] (amd64 only), the base of the delta tests.
pub const BASE_GO_VERSION: &str = "1.27.2";
/// The point release before [`OLDER_GO_VERSION`] (amd64 only), the base of the second delta pair.
pub const OLDER_BASE_GO_VERSION: &str = "1.26.5";

type Result<T = ()> = std::result::Result<T, String>;

fn main() -> ExitCode {
    let args: Vec<String> = env::args().skip(1).collect();
    if let Err(e) = env::set_current_dir(workspace_root()) {
        eprintln!("xtask: cannot enter the workspace root: {e}");
        return ExitCode::FAILURE;
    }
    forget_cargo_run_env();
    let result = match args.first().map(String::as_str) {
        Some("stubs") => stubs_cmd(&args[1..]),
        Some("fixtures") => fixtures_cmd(&args[1..]),
        Some("dist") => dist::dist_cmd(&args[1..]),
        Some("demo") => demo(),
        Some("test") => test::test_cmd(&args[1..]),
        Some("fuzz") => fuzz::fuzz_cmd(&args[1..]),
        Some("bench") => bench::bench_cmd(&args[1..]),
        Some("deny") => deny::deny_cmd(&args[1..]),
        Some("ansible-lint") => lint_ansible(),
        Some("-h" | "--help") | None => {
            print!("{TASKS}");
            Ok(())
        }
        Some(other) => Err(format!("unknown task '{other}'\n\n{TASKS}")),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("xtask: error: {e}");
            ExitCode::FAILURE
        }
    }
}

/// The workspace root, found at run time: `cargo run` tells the program its package's directory
/// (`CARGO_MANIFEST_DIR`), whose parent is the root. A path compiled in would go stale when the
/// checkout moves; without cargo (the binary run by hand), the nearest directory upwards from
/// here whose `Cargo.toml` declares the workspace.
fn workspace_root() -> PathBuf {
    if let Some(xtask) = env::var_os("CARGO_MANIFEST_DIR").map(PathBuf::from) {
        if let Some(root) = xtask.parent().filter(|r| is_workspace_root(r)) {
            return root.to_path_buf();
        }
    }
    let here = env::current_dir().unwrap_or_else(|_| PathBuf::from("."));
    here.ancestors().find(|d| is_workspace_root(d)).map(Path::to_path_buf).unwrap_or(here)
}

fn is_workspace_root(dir: &Path) -> bool {
    dir.join("xtask/Cargo.toml").is_file()
        && std::fs::read_to_string(dir.join("Cargo.toml")).is_ok_and(|t| t.contains("[workspace]"))
}

/// Removes what `cargo run` told this program about itself (`CARGO_MANIFEST_DIR`, `CARGO_PKG_*`,
/// ...) from the environment the tasks' commands inherit. Build scripts that ask to rerun when
/// such a variable changes (ring's asks for `CARGO_MANIFEST_DIR` and `CARGO_PKG_NAME`) would
/// otherwise see this checkout's path, and a clone at another path would compile them, and
/// link the builders, again. Called once, before any thread starts.
fn forget_cargo_run_env() {
    let ours = |name: &str| {
        name.starts_with("CARGO_PKG_")
            || matches!(
                name,
                "CARGO_MANIFEST_DIR"
                    | "CARGO_MANIFEST_PATH"
                    | "CARGO_MANIFEST_LINKS"
                    | "CARGO_CRATE_NAME"
                    | "CARGO_BIN_NAME"
                    | "CARGO_PRIMARY_PACKAGE"
                    | "CARGO_RUSTC_CURRENT_DIR"
            )
    };
    let names: Vec<_> = env::vars_os().map(|(k, _)| k).filter(|k| k.to_str().is_some_and(ours)).collect();
    for name in names {
        env::remove_var(name);
    }
}

/// `cargo`, as the one that runs us.
///
/// It builds in [`cargo_target_dir`], shared by the checkouts of this machine.
pub fn cargo() -> Command {
    let mut cmd = Command::new(env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
    cmd.env("CARGO_TARGET_DIR", cargo_target_dir());
    cmd
}

/// Where the cargo runs of the tasks build: `CARGO_TARGET_DIR` when set, else `cargo-target/` in
/// the cache (see `cache`), else `target/`.
///
/// In the cache, a fresh clone on a machine that built before compiles only what changed: cargo
/// keys every artefact by what built it (crate, version, features, profile, target, compiler)
/// and rebuilds this workspace's own crates when their sources differ, so clones at other paths
/// share it safely (cargo's lock makes two of them take turns). What the tasks make of cargo's
/// output (`target/stubs`, `target/dist`, ...) stays in the checkout.
pub fn cargo_target_dir() -> PathBuf {
    static DIR: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    DIR.get_or_init(|| {
        if let Some(dir) = env::var_os("CARGO_TARGET_DIR").filter(|d| !d.is_empty()) {
            return std::path::absolute(PathBuf::from(dir)).unwrap_or_default();
        }
        cache::root()
            .map(|c| c.join("cargo-target"))
            .unwrap_or_else(|| std::path::absolute("target").unwrap_or_else(|_| PathBuf::from("target")))
    })
    .clone()
}

/// `job` over `items` on two threads (this machine's CI has two cores), in their order; once one
/// fails no new one starts, and the first error is returned.
pub fn two_at_a_time<T: Sync, R: Send>(items: &[T], job: impl Fn(&T) -> Result<R> + Sync) -> Result<Vec<R>> {
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
    let (next, failed) = (AtomicUsize::new(0), AtomicBool::new(false));
    let worker = || -> Result<Vec<(usize, R)>> {
        let mut done = Vec::new();
        while !failed.load(Ordering::SeqCst) {
            let i = next.fetch_add(1, Ordering::SeqCst);
            let Some(item) = items.get(i) else { break };
            match job(item) {
                Ok(r) => done.push((i, r)),
                Err(e) => {
                    failed.store(true, Ordering::SeqCst);
                    return Err(e);
                }
            }
        }
        Ok(done)
    };
    let (mine, other) = std::thread::scope(|s| {
        let other = s.spawn(worker);
        (worker(), other.join().unwrap_or_else(|_| Err("a worker thread of xtask panicked".into())))
    });
    let mut all = mine?;
    all.extend(other?);
    all.sort_by_key(|(i, _)| *i);
    Ok(all.into_iter().map(|(_, r)| r).collect())
}

/// Runs a command, failing with its description when it fails.
pub fn run(cmd: &mut Command) -> Result {
    eprintln!("xtask: $ {}", describe(cmd));
    let status = cmd.status().map_err(|e| format!("cannot run {}: {e}", describe(cmd)))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("{} failed ({status})", describe(cmd)))
    }
}

/// Runs a command and returns its stdout.
pub fn output(cmd: &mut Command) -> Result<String> {
    eprintln!("xtask: $ {}", describe(cmd));
    let out = cmd.output().map_err(|e| format!("cannot run {}: {e}", describe(cmd)))?;
    if !out.status.success() {
        return Err(format!("{} failed ({}): {}", describe(cmd), out.status, String::from_utf8_lossy(&out.stderr)));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

pub fn describe(cmd: &Command) -> String {
    let mut s = cmd.get_program().to_string_lossy().into_owned();
    for a in cmd.get_args() {
        s.push(' ');
        s.push_str(&a.to_string_lossy());
    }
    s
}

fn stubs_cmd(args: &[String]) -> Result {
    let mut targets = Vec::new();
    let mut keys = Vec::new();
    let mut out_dir = None;
    let mut failpoints = false;
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--target" => targets.push(it.next().ok_or("--target needs a triple")?.clone()),
            "--trust-key" => keys.push(PathBuf::from(it.next().ok_or("--trust-key needs a file")?)),
            "--out-dir" => out_dir = Some(PathBuf::from(it.next().ok_or("--out-dir needs a directory")?)),
            "--failpoints" => failpoints = true,
            other => return Err(format!("stubs: unknown argument '{other}'")),
        }
    }
    if targets.is_empty() {
        targets = TARGETS.iter().map(|t| t.to_string()).collect();
    }
    let refs: Vec<&str> = targets.iter().map(String::as_str).collect();
    let built = if failpoints {
        refs.iter().map(|t| build_failpoint_stub(t)).collect::<Result<Vec<_>>>()?
    } else {
        build_stubs(&refs, &keys, out_dir.as_deref())?
    };
    for (t, path) in refs.iter().zip(built) {
        let len = std::fs::metadata(&path).map_err(|e| e.to_string())?.len();
        println!("stub {t}: {} ({len} bytes, {:.2} MiB)", path.display(), len as f64 / (1 << 20) as f64);
    }
    Ok(())
}

/// Builds the static release stub for `triple` with these compiled-in trust keys into
/// `out_dir/<triple>/` (default `target/stubs`); returns its path.
pub fn build_stub(triple: &str, trust_keys: &[PathBuf], out_dir: Option<&Path>) -> Result<PathBuf> {
    let mut built = build_stubs(&[triple], trust_keys, out_dir)?;
    built.pop().ok_or_else(|| format!("no stub was built for {triple}"))
}

/// The C flags of the stubs' zstd (the decoder is the only C in a stub): one Huffman decoder
/// (`X1`, single symbol) instead of two, and one build of the hot loops instead of a BMI2 copy
/// beside the plain one. Measured on the x86_64 stub: 1,602,376 → 1,539,368 bytes; decoding
/// go1.27.3's tar (`zstd -19 --long=27`, 236 MB) ran at 1,147 MB/s against 1,142 MB/s with
/// zstd's defaults (best of three, idle machine). `ZSTD_FORCE_DECOMPRESS_SEQUENCES_LONG` (−23 KB)
/// is left out: it decoded 10% slower.
const STUB_ZSTD_CFLAGS: &str = "-DHUF_FORCE_DECOMPRESS_X1 -DDYNAMIC_BMI2=0";

/// [`build_stub`] for several targets at once: one cargo run for the targets zig links and one for
/// those Debian's cross gcc links, so that their link-time optimisation (one thread each, with
/// `codegen-units = 1`) runs side by side. Returns the stubs' paths in the order of `triples`.
pub fn build_stubs(triples: &[&str], trust_keys: &[PathBuf], out_dir: Option<&Path>) -> Result<Vec<PathBuf>> {
    stubs_with(triples, trust_keys, "release", &[], out_dir.unwrap_or(Path::new("target/stubs")))
}

/// Builds the stub for `triple` with the public keys `trust_keys` compiled in, as tests use it,
/// into `target/stubs-trusted/<triple>/`: the test-stubs profile, like the crash-test stub.
pub fn build_trusted_test_stub(triple: &str, trust_keys: &[PathBuf]) -> Result<PathBuf> {
    let mut built = stubs_with(&[triple], trust_keys, "test-stubs", &[], Path::new("target/stubs-trusted"))?;
    built.pop().ok_or_else(|| format!("no trusted-key stub was built for {triple}"))
}

/// Builds the crash-test stub (failpoints compiled in, see installer/src/failpoint.rs) into
/// `target/stubs-failpoints/<triple>/`. Never shipped: the builder is only pointed at it by tests.
pub fn build_failpoint_stub(triple: &str) -> Result<PathBuf> {
    let mut built =
        stubs_with(&[triple], &[], "test-stubs", &["--features", "failpoints"], Path::new("target/stubs-failpoints"))?;
    built.pop().ok_or_else(|| format!("no crash-test stub was built for {triple}"))
}

fn stubs_with(
    triples: &[&str],
    trust_keys: &[PathBuf],
    profile: &str,
    extra: &[&str],
    out_dir: &Path,
) -> Result<Vec<PathBuf>> {
    if let Some(t) = triples.iter().find(|t| !TARGETS.contains(t)) {
        return Err(format!("unsupported stub target '{t}' (supported: {})", TARGETS.join(", ")));
    }
    let keys: Vec<String> = trust_keys
        .iter()
        .map(|k| {
            std::fs::canonicalize(k)
                .map(|p| p.display().to_string())
                .map_err(|e| format!("trust key '{}': {e}", k.display()))
        })
        .collect::<Result<_>>()?;
    let mut zig = Vec::new();
    let mut gcc = Vec::new();
    for &t in triples {
        tools::rust_target(t)?;
        match tools::cross_gcc(t)? {
            None => zig.push(t),
            Some(cc) => gcc.push((t, cc)),
        }
    }
    let stub = ["--profile", profile, "--locked", "-p", "stub", "--bin", "go-offline-installer"];
    if !zig.is_empty() {
        // musl targets: zig links them statically.
        tools::zigbuild()?;
    }
    for run_of in feature_runs(cargo, "stub", extra, &zig)? {
        let mut cmd = cargo();
        cmd.arg("zigbuild");
        for t in &run_of {
            cmd.args(["--target", t]);
        }
        // The stub's build script then drops the unwinding tables (see stub/build.rs).
        cmd.env("GO_OFFLINE_STUB_ZIG_LINKED", "1");
        for t in &run_of {
            cmd.env(format!("CFLAGS_{}", t.replace('-', "_")), STUB_ZSTD_CFLAGS);
        }
        run(cmd.args(stub).args(extra).env("GO_OFFLINE_STUB_TRUST_KEYS", keys.join(":")))?;
    }
    // glibc targets (no musl standard library is served for them) and Windows: Debian's cross
    // gcc, linking the C runtime statically (a Linux stub needs no program interpreter either).
    // The Windows build's dlltool, made path-independent (see `tools::dlltool_wrapper`).
    let path = if gcc.iter().any(|(t, _)| t.contains("-windows-")) {
        let old = env::var_os("PATH").unwrap_or_default();
        let paths = std::iter::once(tools::dlltool_wrapper()?).chain(env::split_paths(&old));
        Some(env::join_paths(paths).map_err(|e| e.to_string())?)
    } else {
        None
    };
    let cross = |targets: &[&str]| {
        let mut cmd = cargo();
        if let Some(path) = &path {
            cmd.env("PATH", path);
        }
        for (t, cc) in gcc.iter().filter(|(t, _)| targets.contains(t)) {
            let upper = t.to_uppercase().replace('-', "_");
            cmd.env(format!("CARGO_TARGET_{upper}_LINKER"), cc)
                .env(format!("CARGO_TARGET_{upper}_RUSTFLAGS"), "-C target-feature=+crt-static")
                .env(format!("CC_{}", t.replace('-', "_")), cc)
                .env(format!("CFLAGS_{}", t.replace('-', "_")), STUB_ZSTD_CFLAGS);
        }
        cmd
    };
    let gcc_triples: Vec<&str> = gcc.iter().map(|(t, _)| *t).collect();
    for run_of in feature_runs(|| cross(&gcc_triples), "stub", extra, &gcc_triples)? {
        let mut cmd = cross(&run_of);
        cmd.arg("build");
        for t in &run_of {
            cmd.args(["--target", t]);
        }
        run(cmd.args(stub).args(extra).env("GO_OFFLINE_STUB_TRUST_KEYS", keys.join(":")))?;
    }
    triples
        .iter()
        .map(|&t| {
            let cross = gcc.iter().find(|(g, _)| *g == t).map(|(_, cc)| cc.as_str());
            finish_stub(t, profile, out_dir, cross)
        })
        .collect()
}

/// Splits `triples` into the runs cargo can build `package` for together (`extra`: more cargo
/// arguments, such as features), each run one cargo invocation with several `--target`s, so that
/// the single-threaded link-time optimisations of its programs run side by side.
///
/// With several `--target`s cargo resolves each dependency's features once, over all of them: a
/// dependency one target has turns on features of a crate the others build too (rustix asks more
/// of linux-raw-sys on riscv64 or armv7 than on powerpc64le, and for Windows it turns on more of
/// windows-sys), and a program built with other features is other bytes. So a target joins a run
/// only when `cargo tree` shows every crate it builds with the same features there as alone: each
/// program comes out as it does from a cargo run of its own. `cargo` makes the cargo command with
/// the environment of the build (rustflags can change a target's `cfg`).
pub fn feature_runs<'a>(
    cargo: impl Fn() -> Command,
    package: &str,
    extra: &[&str],
    triples: &[&'a str],
) -> Result<Vec<Vec<&'a str>>> {
    let features = |targets: &[&str]| -> Result<std::collections::BTreeSet<String>> {
        let mut cmd = cargo();
        cmd.args(["tree", "--locked", "-p", package, "-e", "normal,build", "--prefix", "none", "-f", "{p} [{f}]"])
            .args(extra);
        for t in targets {
            cmd.args(["--target", t]);
        }
        Ok(output(&mut cmd)?.lines().map(|l| l.trim_end_matches(" (*)").to_string()).collect())
    };
    if triples.len() < 2 {
        return Ok(triples.iter().map(|&t| vec![t]).collect());
    }
    let alone = triples.iter().map(|t| features(&[t])).collect::<Result<Vec<_>>>()?;
    let mut runs: Vec<Vec<usize>> = Vec::new();
    'triple: for i in 0..triples.len() {
        for run_of in &mut runs {
            let members: Vec<usize> = run_of.iter().copied().chain([i]).collect();
            let together = features(&members.iter().map(|&j| triples[j]).collect::<Vec<_>>())?;
            if members.iter().all(|&j| alone[j].is_subset(&together)) {
                run_of.push(i);
                continue 'triple;
            }
        }
        runs.push(vec![i]);
    }
    Ok(runs.into_iter().map(|r| r.into_iter().map(|j| triples[j]).collect()).collect())
}

/// Copies the stub cargo built for `triple` into `out_dir/<triple>/`, made ready to ship: stripped
/// by the cross binutils when `cross_gcc` linked it, a PE's build stamp zeroed.
fn finish_stub(triple: &str, profile: &str, out_dir: &Path, cross_gcc: Option<&str>) -> Result<PathBuf> {
    let name = stub_name(triple);
    let built = cargo_target_dir().join(triple).join(profile).join(name);
    let dir = out_dir.join(triple);
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    let dest = dir.join(name);
    std::fs::copy(&built, &dest).map_err(|e| format!("copy {}: {e}", built.display()))?;
    if let Some(gcc) = cross_gcc {
        // The release profile's strip does not reach a cross-linked program: the cross
        // binutils' strip does (about 15% smaller).
        run(Command::new(gcc.replace("-gcc", "-strip")).arg(&dest))?;
    }
    // A PE stub as an unsigned installer carries it (the linker sets a CheckSum, which only
    // Authenticode signing may set): then its sha256 is also the one installers record. Its
    // COFF TimeDateStamp, which strip sets to the time of the run, is zeroed: the same source
    // makes the same bytes (the dist is checked to be reproducible).
    let bytes = std::fs::read(&dest).map_err(|e| e.to_string())?;
    if let std::borrow::Cow::Owned(mut zeroed) = format::authenticode::as_built(&bytes) {
        let pe = zeroed.get(0x3c..0x40).map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize);
        if let Some(stamp) = pe.and_then(|pe| zeroed.get_mut(pe + 8..pe + 12)) {
            stamp.fill(0);
        }
        std::fs::write(&dest, zeroed).map_err(|e| e.to_string())?;
    }
    std::fs::canonicalize(dest).map_err(|e| e.to_string())
}

/// The file name of the stub for `triple` (Windows programs end in `.exe`).
pub fn stub_name(triple: &str) -> &'static str {
    if triple.contains("-windows-") {
        "go-offline-installer.exe"
    } else {
        "go-offline-installer"
    }
}

fn fixtures_cmd(args: &[String]) -> Result {
    let version = match args {
        [] => GO_VERSION.to_string(),
        [flag, v] if flag == "--version" => v.clone(),
        // One release's amd64 tarball alone (a delta's base, say).
        [flag, v] if flag == "--amd64" => {
            println!("fixture {}", fixtures::go_tarball(v, "amd64")?.display());
            return Ok(());
        }
        _ => return Err("usage: cargo xtask fixtures [--version V | --amd64 V]".into()),
    };
    for p in all_fixtures(&version, args.is_empty())? {
        println!("fixture {}", p.display());
    }
    Ok(())
}

/// Every fixture the tests read, for Go `version` (and, with `older`, the older release too),
/// made where missing: the tarballs, the Windows zip, the cross-builds, Debian's GOROOT.
pub fn all_fixtures(version: &str, older: bool) -> Result<Vec<PathBuf>> {
    let mut made = Vec::new();
    for arch in ["amd64", "arm64", "386", "ppc64le", "s390x"] {
        made.push(fixtures::go_tarball(version, arch)?);
    }
    made.push(fixtures::go_zip(version, "amd64")?);
    // The two cross-builds at once: each has single-threaded stretches (loading packages,
    // linking), which the other fills.
    let cross: Vec<Result<PathBuf>> = std::thread::scope(|s| {
        let builds: Vec<_> =
            ["riscv64", "armv6l"].map(|name| s.spawn(|| fixtures::go_cross(version, name))).into_iter().collect();
        builds.into_iter().map(|b| b.join().unwrap_or_else(|_| Err("a cross-build panicked".into()))).collect()
    });
    for b in cross {
        made.push(b?);
    }
    if older {
        made.push(fixtures::go_tarball(OLDER_GO_VERSION, "amd64")?);
        made.push(fixtures::go_zip(OLDER_GO_VERSION, "amd64")?);
        made.push(fixtures::go_tarball(BASE_GO_VERSION, "amd64")?);
        made.push(fixtures::go_tarball(OLDER_BASE_GO_VERSION, "amd64")?);
    }
    made.push(fixtures::debian_goroot()?);
    Ok(made)
}

/// The main job end to end, on a fresh machine.
fn demo() -> Result {
    let host = tools::host_target()?;
    let arch = if host.starts_with("aarch64") { "arm64" } else { "amd64" };
    let tarball = fixtures::go_tarball(GO_VERSION, arch)?;
    let stub = build_stub(host, &[], None)?;
    run(cargo().args(["build", "--release", "--locked", "-p", "builder"]))?;
    let builder =
        std::fs::canonicalize(cargo_target_dir().join("release/go-offline-builder")).map_err(|e| e.to_string())?;

    let demo = std::fs::canonicalize("target").map_err(|e| e.to_string())?.join("demo");
    let _ = std::fs::remove_dir_all(&demo);
    for d in ["keys", "prefix", "home", "profile.d", "log", "hello"] {
        std::fs::create_dir_all(demo.join(d)).map_err(|e| e.to_string())?;
    }
    let key = demo.join("keys/release");
    run(Command::new(&builder).arg("keygen").arg("--out").arg(&key))?;
    let installer = demo.join("go-offline-installer");
    run(Command::new(&builder)
        .args(["build", "--go"])
        .arg(&tarball)
        .arg("--key")
        .arg(key.with_extension("key"))
        .arg("--stub")
        .arg(&stub)
        .arg("--output")
        .arg(&installer))?;
    run(Command::new(&builder).arg("verify").arg(&installer).arg("--trusted-key").arg(key.with_extension("pub")))?;

    // Install as the operator would, with a scratch prefix and HOME. Root's environment goes to
    // /etc/profile.d: the demo gives it a private one through a mount namespace when it can.
    let prefix = demo.join("prefix");
    let home = demo.join("home");
    let profile_d = demo.join("profile.d");
    let mut args: Vec<String> = vec![
        installer.display().to_string(),
        "--yes".into(),
        "--prefix".into(),
        prefix.display().to_string(),
        "--trusted-key".into(),
        key.with_extension("pub").display().to_string(),
    ];
    let private_mounts = tools::is_root() && tools::can_unshare_mount();
    if tools::is_root() && !private_mounts {
        args.push("--no-modify-path".into());
    }
    let mut install = if private_mounts {
        let script = format!(
            "mount --bind '{}' /etc/profile.d && mount --bind '{}' /var/log && exec \"$@\"",
            profile_d.display(),
            demo.join("log").display()
        );
        let mut c = Command::new("unshare");
        c.args(["--mount", "--propagation", "private", "sh", "-c", &script, "sh"]).args(&args);
        c
    } else {
        let mut c = Command::new(&args[0]);
        c.args(&args[1..]);
        c
    };
    let started = std::time::Instant::now();
    run(install.env("HOME", &home))?;
    let install_time = started.elapsed();

    let go = prefix.join("go/bin/go");
    let version = output(Command::new(&go).arg("version"))?;
    let status = output(Command::new(&installer).arg("status").arg("--prefix").arg(&prefix).env("HOME", &home))?;
    std::fs::write(demo.join("hello/go.mod"), "module example.com/hello\n\ngo 1.21\n").map_err(|e| e.to_string())?;
    std::fs::write(
        demo.join("hello/main.go"),
        "package main\n\nimport \"fmt\"\n\nfunc main() { fmt.Println(\"hello from offline Go\") }\n",
    )
    .map_err(|e| e.to_string())?;
    let offline = tools::can_unshare_net();
    let mut go_build = if offline {
        let mut c = Command::new("unshare");
        c.args(["--net"]).arg(&go);
        c
    } else {
        Command::new(&go)
    };
    run(go_build
        .args(["build", "-o", "hello", "."])
        .current_dir(demo.join("hello"))
        .env("HOME", &home)
        .env("GOCACHE", demo.join("gocache"))
        .env("GOPATH", demo.join("gopath")))?;
    let hello = output(&mut Command::new(demo.join("hello/hello")))?;

    let size = |p: &Path| std::fs::metadata(p).map(|m| m.len()).unwrap_or(0);
    println!();
    println!("demo done, everything under {}", demo.display());
    println!("  Go release     {} ({} bytes)", tarball.display(), size(&tarball));
    println!("  stub           {} ({} bytes)", stub.display(), size(&stub));
    println!("  signing key    {}", key.with_extension("key").display());
    println!("  installer      {} ({} bytes)", installer.display(), size(&installer));
    println!(
        "  installed into {} -> go-{GO_VERSION} in {:.2} s (checks included: go version, hello world built offline)",
        prefix.join("go").display(),
        install_time.as_secs_f64()
    );
    if private_mounts {
        println!("  host log       {} (bound over /var/log)", demo.join("log/go-offline-installer.log").display());
    }
    for line in status.lines() {
        println!("  status         {line}");
    }
    if private_mounts {
        println!("  environment    {} (bound over /etc/profile.d)", profile_d.join("go.sh").display());
    } else if !tools::is_root() {
        println!("  environment    {}", home.join(".config/go-offline/env").display());
    }
    println!("  go version     {}", version.trim());
    println!(
        "  hello world    {} (built {})",
        hello.trim(),
        if offline { "with no network: unshare -n" } else { "offline tools, network namespace unavailable" }
    );
    Ok(())
}

/// `ansible-lint` at its `production` profile on examples/ansible (the role and playbooks), offline,
/// with the collections of Debian's ansible (ansible.posix).
pub fn lint_ansible() -> Result {
    let lint = std::fs::canonicalize(tools::ansible_lint()?).map_err(|e| e.to_string())?;
    let home = std::fs::canonicalize("target").map_err(|e| e.to_string())?.join("tools/ansible-lint-home");
    std::fs::create_dir_all(&home).map_err(|e| e.to_string())?;
    let venv_bin = lint.parent().ok_or("ansible-lint has no directory")?.to_path_buf();
    let path =
        env::join_paths(std::iter::once(venv_bin).chain(env::split_paths(&env::var_os("PATH").unwrap_or_default())))
            .map_err(|e| e.to_string())?;
    run(Command::new(&lint)
        .args(["--offline", "--profile", "production", "--nocolor", "--strict"])
        .current_dir("examples/ansible")
        .env("PATH", path)
        .env("HOME", home)
        .env("ANSIBLE_COLLECTIONS_PATH", "/usr/lib/python3/dist-packages"))
}
