//! The OS primitives on Linux (and, for most of them, any Unix): `renameat2`, `flock`, `syncfs`,
//! `statvfs`, `/proc/self/exe`, `O_NOFOLLOW`, symlinks. See the table in `os/mod.rs` for what
//! each must guarantee.

use std::{
    fs::{self, DirBuilder, File, OpenOptions},
    io::{self, ErrorKind, Read, Write},
    os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt, PermissionsExt},
    path::{Path, PathBuf},
    process::Command,
};

use rustix::fs::{FlockOperation, RenameFlags, CWD};

use super::{Exchange, FreeSpace, Kind, LockError, LockMode, ReadError, Store, StoredValue, TreeId, TEMP_PREFIX};
use crate::failpoint;

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

/// `rename` that never replaces: `renameat2(RENAME_NOREPLACE)`, or a check then `rename` on file
/// systems without it (safe under the prefix lock).
pub fn rename_noreplace(from: &Path, to: &Path) -> io::Result<()> {
    match renameat2(from, to, RenameFlags::NOREPLACE) {
        Ok(()) => Ok(()),
        Err(rustix::io::Errno::INVAL | rustix::io::Errno::NOSYS) => {
            if fs::symlink_metadata(to).is_ok() {
                return Err(io::Error::from(ErrorKind::AlreadyExists));
            }
            fs::rename(from, to)
        }
        Err(e) => Err(e.into()),
    }
}

/// Swaps the two names in one step (`RENAME_EXCHANGE`).
pub fn rename_exchange(a: &Path, b: &Path) -> Result<(), Exchange> {
    match renameat2(a, b, RenameFlags::EXCHANGE) {
        Ok(()) => Ok(()),
        Err(rustix::io::Errno::INVAL | rustix::io::Errno::NOSYS) => Err(Exchange::Unsupported),
        Err(e) => Err(Exchange::Io(e.into())),
    }
}

/// Whether an error of a rename says a program uses what was to be renamed: never on Unix,
/// where a directory in use can be renamed.
pub fn in_use(_e: &io::Error) -> bool {
    false
}

/// `renameat2` with flags; the `no-renameat2` failpoint switch makes it fail as on a file system
/// that does not support flags.
fn renameat2(from: &Path, to: &Path, flags: RenameFlags) -> Result<(), rustix::io::Errno> {
    if failpoint::enabled("no-renameat2") {
        return Err(rustix::io::Errno::INVAL);
    }
    rustix::fs::renameat_with(CWD, from, CWD, to, flags)
}

/// fsync of a directory, so renames and unlinks in it are durable.
pub fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir).and_then(|f| f.sync_all())
}

/// Nothing per file: the staging tree is synced once, whole, by [`sync_fs`] (one `syncfs` costs
/// less than an `fsync` per file).
pub fn flush_extracted(_file: &File) -> io::Result<()> {
    Ok(())
}

/// Flushes the file system holding `dir` (one `syncfs` for a whole staged tree).
pub fn sync_fs(dir: &Path) -> io::Result<()> {
    let f = File::open(dir)?;
    rustix::fs::syncfs(&f).map_err(io::Error::from)
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

/// The path to name the running executable by (in messages and receipts).
pub fn own_executable_path() -> PathBuf {
    std::env::current_exe().unwrap_or_else(|_| PathBuf::from("/proc/self/exe"))
}

/// The running executable, opened: `/proc/self/exe` is the running file even if it was renamed
/// or its path is not readable.
pub fn own_executable() -> io::Result<File> {
    File::open("/proc/self/exe")
}

/// Whether this process runs as root.
pub fn is_root() -> bool {
    rustix::process::geteuid().is_root()
}

/// The process's pid.
pub fn pid() -> u32 {
    std::process::id()
}

/// The user running this process: uid, name (from /etc/passwd: a static binary has no NSS), host.
pub fn current_user() -> (u32, Option<String>, String) {
    let uid = rustix::process::geteuid().as_raw();
    let host = rustix::system::uname().nodename().to_string_lossy().into_owned();
    let name = fs::read_to_string("/etc/passwd").ok().and_then(|passwd| {
        passwd.lines().find_map(|l| {
            let mut f = l.split(':');
            let name = f.next()?;
            let id = f.nth(1)?;
            (id.parse::<u32>().ok()? == uid).then(|| name.to_string())
        })
    });
    (uid, name, host)
}

/// Some bytes no other process or moment shares, for ids (the kernel's random uuid).
pub fn entropy() -> String {
    let mut s = String::new();
    if let Ok(mut f) = File::open("/proc/sys/kernel/random/uuid") {
        let _ = f.read_to_string(&mut s);
    }
    s
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

/// The host log: `/var/log/go-offline-installer.log` for root, else
/// `$XDG_STATE_HOME/go-offline-installer/log.jsonl` (default `$HOME/.local/state`).
pub fn host_log_path() -> Option<PathBuf> {
    if is_root() {
        return Some(PathBuf::from("/var/log/go-offline-installer.log"));
    }
    let state = std::env::var_os("XDG_STATE_HOME").filter(|s| !s.is_empty()).map(PathBuf::from).or_else(|| {
        std::env::var_os("HOME").filter(|s| !s.is_empty()).map(|h| PathBuf::from(h).join(".local/state"))
    })?;
    Some(state.join("go-offline-installer/log.jsonl"))
}

/// The default prefix: `/usr/local` for root, `HOME/.local` for a user.
pub fn default_prefix(home: Option<&Path>) -> Option<PathBuf> {
    if is_root() {
        Some(PathBuf::from("/usr/local"))
    } else {
        home.map(|h| h.join(".local"))
    }
}

/// Whether this process is alone on a console it will close on exit (a Windows notion: a
/// terminal on Unix stays open after the program).
pub fn owns_console() -> bool {
    false
}

/// Unix keeps no environment in a store: the environment is in files (see `shell.rs`).
pub fn read_stored_path(_store: Store) -> io::Result<Option<StoredValue>> {
    Err(io::Error::new(ErrorKind::Unsupported, "Unix keeps no environment in a registry"))
}

/// See [`read_stored_path`].
pub fn write_stored_path(_store: Store, _value: Option<&StoredValue>) -> io::Result<()> {
    Err(io::Error::new(ErrorKind::Unsupported, "Unix keeps no environment in a registry"))
}
