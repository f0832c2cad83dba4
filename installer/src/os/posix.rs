//! The OS primitives any Unix provides (POSIX, plus `flock`, which every Unix this runs on has):
//! `mkdir`/`open` with modes and `O_NOFOLLOW`, `fsync`, `statvfs`, `faccessat`, symlinks, the
//! effective uid, signals to itself; and where this installer puts things on a Unix: the prefix,
//! the host log, the trust directory, the environment's scope. What differs between Unixes (an
//! atomic exchange of two names, syncing a whole file system, naming the running file) is in the
//! file of that OS (`linux.rs`). See the table in `os/mod.rs` for what each must guarantee.

use std::{
    fs::{self, DirBuilder, File, OpenOptions},
    io::{self, ErrorKind, Read, Write},
    os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt, PermissionsExt},
    path::{Path, PathBuf},
    process::Command,
};

use format::keys::HOST_TRUST_DIR;
use rustix::fs::{FlockOperation, CWD};

use super::{
    shell::{Scope, SYSTEM_PROFILE_D},
    FreeSpace, Host, Kind, LockError, LockMode, ReadError, StoredValue, TreeId, TEMP_PREFIX,
};

/// Whether the file system keeps the permission bits the manifest records (`verify-installed`
/// compares them).
pub const KEEPS_MODES: bool = true;

/// The variable naming the user's home directory: `HOME`.
pub const HOME_VAR: &str = "HOME";

/// Writes `contents` to `path` by temp file + fsync + rename + fsync of the directory. The mode
/// is `mode`, else the replaced file's, else 0644.
pub fn write_atomic(path: &Path, contents: &[u8], mode: Option<u32>) -> io::Result<()> {
    let dir = parent(path);
    let mut tmp = tempfile::Builder::new().prefix(TEMP_PREFIX).tempfile_in(dir)?;
    let mode = match mode {
        Some(m) => m,
        None => fs::metadata(path).map(|m| m.permissions().mode() & 0o7777).unwrap_or(0o644),
    };
    tmp.as_file().set_permissions(fs::Permissions::from_mode(mode))?;
    tmp.write_all(contents)?;
    tmp.as_file().sync_all()?;
    tmp.persist(path).map_err(|e| e.error)?;
    sync_dir(dir)
}

/// The directory holding `path` (`.` for a bare name).
fn parent(path: &Path) -> &Path {
    path.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."))
}

/// `mkdir` with exactly `mode`, whatever the umask (000 must not make a world-writable
/// directory). Fails if anything is at `path`: a name someone else made is never reused.
pub fn create_dir(path: &Path, mode: u32) -> io::Result<()> {
    DirBuilder::new().mode(mode).create(path)?;
    set_mode(path, mode)
}

/// Gives `path` exactly these permission bits.
pub fn set_mode(path: &Path, mode: u32) -> io::Result<()> {
    fs::set_permissions(path, fs::Permissions::from_mode(mode))
}

/// Gives an open file exactly these permission bits.
pub fn set_file_mode(file: &File, mode: u32) -> io::Result<()> {
    file.set_permissions(fs::Permissions::from_mode(mode))
}

/// Creates a new file with `mode`; fails if anything, a symlink included, is at the name.
pub fn create_new_file(path: &Path, mode: u32) -> io::Result<File> {
    OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .custom_flags(rustix::fs::OFlags::NOFOLLOW.bits() as i32)
        .open(path)
}

/// Opens a user's file to append to it, creating it (0644) if missing. A symlink to it is
/// followed: appending in place keeps the user's file, its mode, owner and links.
pub fn open_append(path: &Path) -> io::Result<File> {
    OpenOptions::new().append(true).create(true).mode(0o644).open(path)
}

/// Opens a log of ours to append to it, creating it (0644); a symlink at its name is refused.
pub fn open_log(path: &Path) -> io::Result<File> {
    OpenOptions::new()
        .append(true)
        .create(true)
        .mode(0o644)
        .custom_flags(rustix::fs::OFlags::NOFOLLOW.bits() as i32)
        .open(path)
}

/// Reads a file of ours (`None` when missing), refusing a symlink at its name, anything but a
/// regular file, and a file longer than `max_len`.
pub fn read_nofollow(path: &Path, max_len: u64) -> Result<Option<Vec<u8>>, ReadError> {
    let mut file =
        match OpenOptions::new().read(true).custom_flags(rustix::fs::OFlags::NOFOLLOW.bits() as i32).open(path) {
            Ok(f) => f,
            Err(e) if e.kind() == ErrorKind::NotFound => return Ok(None),
            Err(e) if e.raw_os_error() == Some(rustix::io::Errno::LOOP.raw_os_error()) => {
                return Err(ReadError::Symlink)
            }
            Err(e) => return Err(ReadError::Io(e)),
        };
    let meta = file.metadata().map_err(ReadError::Io)?;
    if !meta.is_file() || meta.len() > max_len {
        return Err(ReadError::NotRegular);
    }
    let mut bytes = Vec::new();
    file.read_to_end(&mut bytes).map_err(ReadError::Io)?;
    Ok(Some(bytes))
}

/// Whether an error of a rename says a program uses what was to be renamed: never on Unix,
/// where a directory in use can be renamed.
pub fn in_use(_e: &io::Error) -> bool {
    false
}

/// fsync of a directory, so renames and unlinks in it are durable.
pub fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir).and_then(|f| f.sync_all())
}

/// A held lock on a directory; released when dropped (or when the process dies).
#[derive(Debug)]
pub struct Lock {
    _dir: File,
}

/// Locks the directory itself (`flock`: no lock file is left behind); `wait` blocks until the
/// other holder is done instead of failing with [`LockError::Busy`].
pub fn lock(dir: &Path, mode: LockMode, wait: bool) -> Result<Lock, LockError> {
    let file = File::open(dir).map_err(LockError::Open)?;
    let op = match (mode, wait) {
        (LockMode::Exclusive, true) => FlockOperation::LockExclusive,
        (LockMode::Exclusive, false) => FlockOperation::NonBlockingLockExclusive,
        (LockMode::Shared, true) => FlockOperation::LockShared,
        (LockMode::Shared, false) => FlockOperation::NonBlockingLockShared,
    };
    match rustix::fs::flock(&file, op) {
        Ok(()) => Ok(Lock { _dir: file }),
        Err(rustix::io::Errno::WOULDBLOCK) => Err(LockError::Busy),
        Err(e) => Err(LockError::Io(e.into())),
    }
}

/// Free space of the file system holding `dir` (`statvfs`).
pub fn free_space(dir: &Path) -> io::Result<FreeSpace> {
    let st = rustix::fs::statvfs(dir).map_err(io::Error::from)?;
    Ok(FreeSpace {
        bytes: st.f_bavail.saturating_mul(st.f_frsize),
        block: st.f_frsize.max(512),
        inodes: (st.f_files > 0).then_some(st.f_favail),
    })
}

/// Whether this process may make entries in the directory `dir`, asked without writing
/// (`faccessat(W_OK, AT_EACCESS)` on `dir/.`, as the effective user): the error a write there
/// would meet (`EACCES`, `EROFS` for a read-only mount, `ENOTDIR` when `dir` is not a directory).
pub fn can_write_in(dir: &Path) -> io::Result<()> {
    rustix::fs::accessat(CWD, dir.join("."), rustix::fs::Access::WRITE_OK, rustix::fs::AtFlags::EACCESS)
        .map_err(io::Error::from)
}

/// Whether this process may write to the existing file `path`, asked without writing (see
/// [`can_write_in`]).
pub fn can_write(path: &Path) -> io::Result<()> {
    rustix::fs::accessat(CWD, path, rustix::fs::Access::WRITE_OK, rustix::fs::AtFlags::EACCESS).map_err(io::Error::from)
}

/// Whether this process runs as root.
pub(super) fn is_root() -> bool {
    rustix::process::geteuid().is_root()
}

/// The process's pid.
pub fn pid() -> u32 {
    std::process::id()
}

/// The identity of the directory at `path`, if a directory (not a symlink) is there.
pub fn tree_id(path: &Path) -> Option<TreeId> {
    let m = fs::symlink_metadata(path).ok()?;
    m.is_dir().then(|| TreeId { dev: m.dev(), ino: m.ino() })
}

/// Makes a symlink at `at` pointing to `target`.
pub fn symlink(target: &str, at: &Path) -> io::Result<()> {
    std::os::unix::fs::symlink(target, at)
}

/// The target of the symlink at `path`, if one is there.
pub fn link_target(path: &Path) -> Option<String> {
    let m = fs::symlink_metadata(path).ok()?;
    if !m.file_type().is_symlink() {
        return None;
    }
    fs::read_link(path).ok().and_then(|t| t.to_str().map(str::to_string))
}

/// Makes `dir/name` a symlink to `target`, or removes the link for `None`: a new link under a
/// temp name, renamed over the old one, then the directory synced. Idempotent; never touches
/// anything at `dir/name` that is not a symlink when removing.
pub fn switch_link(dir: &Path, name: &str, target: Option<&str>) -> io::Result<()> {
    let link = dir.join(name);
    let current = link_target(&link);
    if current.as_deref() == target {
        return Ok(());
    }
    match target {
        None => fs::remove_file(&link)?,
        Some(t) => {
            let tmp = temp_link(dir, t)?;
            if let Err(e) = fs::rename(&tmp, &link) {
                let _ = fs::remove_file(&tmp);
                return Err(e);
            }
        }
    }
    sync_dir(dir)
}

/// A new symlink to `target` under a temp name in `dir`.
pub fn temp_link(dir: &Path, target: &str) -> io::Result<PathBuf> {
    for n in 0..100u32 {
        let tmp = dir.join(format!("{TEMP_PREFIX}link.{:x}.{n}", std::process::id()));
        match symlink(target, &tmp) {
            Ok(()) => return Ok(tmp),
            Err(e) if e.kind() == ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(e),
        }
    }
    Err(io::Error::from(ErrorKind::AlreadyExists))
}

/// The permission bits of what `meta` describes.
pub(super) fn mode(meta: &fs::Metadata) -> u32 {
    meta.permissions().mode() & 0o7777
}

/// The type of what `meta` describes (from `symlink_metadata`).
pub(super) fn kind(meta: &fs::Metadata) -> Kind {
    let t = meta.file_type();
    if t.is_symlink() {
        Kind::Symlink
    } else if t.is_dir() {
        Kind::Dir
    } else if t.is_file() {
        Kind::File
    } else {
        Kind::Other
    }
}

/// A command running the tree's `go` (under the check runner, if any) in a clean environment:
/// the user's GOROOT, GOFLAGS or GOTOOLCHAIN must not change the answer, and with no HOME go has
/// nowhere to write telemetry or caches of its own.
pub fn go_command(goroot: &Path, runner: &[String]) -> Command {
    let mut cmd = super::under_runner(&goroot.join("bin/go"), runner);
    cmd.current_dir("/")
        .env_clear()
        .env("PATH", "/usr/bin:/bin")
        .env("GOENV", "off")
        .env("GOTOOLCHAIN", "local")
        .env("GOPROXY", "off")
        .env("GOCACHE", "off");
    cmd
}

/// Where a Unix keeps what this installer writes outside a prefix: only the user's state
/// directory varies (`XDG_STATE_HOME`); the rest are fixed paths.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Folders {
    pub state_home: Option<PathBuf>,
}

impl Folders {
    pub(super) fn read() -> Folders {
        Folders { state_home: std::env::var_os("XDG_STATE_HOME").filter(|s| !s.is_empty()).map(PathBuf::from) }
    }
}

/// The host log: `/var/log/go-offline-installer.log` for root, else
/// `$XDG_STATE_HOME/go-offline-installer/log.jsonl` (default `$HOME/.local/state`).
pub fn host_log_path(host: &Host) -> Option<PathBuf> {
    if host.admin {
        return Some(PathBuf::from("/var/log/go-offline-installer.log"));
    }
    let state = host.folders.state_home.clone().or_else(|| host.home.as_ref().map(|h| h.join(".local/state")))?;
    Some(state.join("go-offline-installer/log.jsonl"))
}

/// The default prefix: `/usr/local` for root, `HOME/.local` for a user (`None` without a HOME).
pub fn default_prefix(host: &Host) -> Option<PathBuf> {
    if host.admin {
        Some(PathBuf::from("/usr/local"))
    } else {
        host.home.as_ref().map(|h| h.join(".local"))
    }
}

/// Where an install's environment goes: root's profile script, else the user's env script and
/// rc files (`None` without a HOME). `machine` (a machine-wide store) has no meaning here: root's
/// environment is machine-wide already.
pub fn environment_scope(host: &Host, _machine: bool) -> Option<Scope> {
    if host.admin {
        Some(Scope::System { profile_d: PathBuf::from(SYSTEM_PROFILE_D) })
    } else {
        Some(Scope::User { home: host.home.clone()?, shell: host.shell.clone() })
    }
}

/// Whether environment variables can be written to a machine-wide store (Windows's registry);
/// on a Unix the environment of root is machine-wide already.
pub const HAS_MACHINE_STORE: bool = false;

/// The host trust directory: [`HOST_TRUST_DIR`], which only root may write.
pub fn host_trust_dir(_host: &Host) -> PathBuf {
    PathBuf::from(HOST_TRUST_DIR)
}

/// `arg` as a POSIX shell reads it back: bare when it is plain, else in single quotes.
pub fn quote_arg(arg: &str) -> String {
    if super::is_plain_arg(arg) {
        arg.to_string()
    } else {
        format!("'{}'", arg.replace('\'', "'\\''"))
    }
}

/// What to do for an environment just written (`changed`, its first file) to take effect.
pub fn reopen_advice(changed: &Path) -> String {
    format!("open a new shell (or source {}) to use it", changed.display())
}

/// The help's words on how versions sit in a prefix (the [`SWITCHES_LINKS`] layout).
pub const LAYOUT_HELP: &str = "Versions:\n  Each version lives in PREFIX/go-VERSION; PREFIX/go links to the active one. Receipts in\n  PREFIX/.go-offline list every file; status, use, rollback, uninstall and verify-installed\n  manage them. Every install, use, rollback and uninstall is logged to the host log.\n\n";

/// The help's words on where the host log goes ([`host_log_path`]).
pub const HOST_LOG_HELP: &str = "/var/log/go-offline-installer.log for root, $XDG_STATE_HOME/go-offline-installer/log.jsonl\n  (default ~/.local/state/...) otherwise";

/// Whether this process is alone on a console it will close on exit (a Windows notion: a
/// terminal on Unix stays open after the program).
pub fn owns_console() -> bool {
    false
}

/// Whether a link can be switched by one rename, so the active version is `PREFIX/go`, a symlink
/// (`Layout::Link`); where it cannot, the active tree itself is moved (`Layout::Tree`).
pub const SWITCHES_LINKS: bool = true;

/// Where persistent environment variables live on Windows; a Unix has no such store (its
/// environment is in files, see `shell.rs`), so there is no value of this type here, and the
/// functions taking one are never called.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Store {}

impl Store {
    /// The key of its variables.
    pub fn key(self) -> &'static str {
        match self {}
    }
}

/// See [`Store`]: no store, nothing to read.
pub fn read_stored_path(store: Store) -> io::Result<Option<StoredValue>> {
    match store {}
}

/// See [`Store`]: no store, nothing to write.
pub fn write_stored_path(store: Store, _value: Option<&StoredValue>) -> io::Result<()> {
    match store {}
}

/// Ends this process at once, as `kill -9` does (a crash test's failpoint).
#[cfg(feature = "failpoints")]
pub fn kill_self() {
    let _ = rustix::process::kill_process(rustix::process::getpid(), rustix::process::Signal::KILL);
}

/// Stops this process (`SIGSTOP`) until a test acts and kills it (a crash test's failpoint).
#[cfg(feature = "failpoints")]
pub fn pause_self() {
    let _ = rustix::process::kill_process(rustix::process::getpid(), rustix::process::Signal::STOP);
}
