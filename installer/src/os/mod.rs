//! The one seam between the engine and the operating system.
//!
//! Everything the engine (and the stub) asks of the OS goes through what is re-exported here; no
//! other module names a syscall, `std::os::*`, `rustix`, `windows-sys`, a path under `/etc` or
//! `/proc`, a shell, or `cfg!(windows)`. The files:
//!
//! | file | what | compiled for |
//! |---|---|---|
//! | `mod.rs` | what every OS shares, written with `std` alone ([`walk`], [`create_dirs`], [`host`] …) and the types of the table below | all |
//! | `shell.rs` | where the environment goes ([`shell::Scope`]) and the texts written there: scripts, rc lines, `Path` entries, toolchain shims and links | all (it is text: `env.rs` and `toolchains.rs` test every OS's texts on Linux) |
//! | `posix.rs` | what any Unix provides, and where this installer puts things on a Unix | Unix |
//! | `linux.rs` | what is Linux's own: `renameat2`, `syncfs`, `/proc` | Linux |
//! | `failpoint.rs` | crash-test points: stopping dead here, at a named point, is an OS call | all (nothing unless the `failpoints` feature is on) |
//! | `windows.rs` | all of it on Windows: `MoveFileExW`, `LockFileEx`, the registry, known folders | Windows |
//!
//! A port to macOS or a BSD is one new file beside `linux.rs` providing its eight items
//! ([`rename_noreplace`], [`rename_exchange`], [`flush_extracted`], [`sync_fs`],
//! [`own_executable`], [`own_executable_path`], `current_user`, [`entropy`]) and a line in this
//! file choosing it; the engine does not change. A new OS family is a file like `windows.rs`.
//!
//! What a port must provide, and the invariant each must keep:
//!
//! | primitive | invariant |
//! |---|---|
//! | **files** | |
//! | [`write_atomic`] | readers see the old contents or the new, never a part; durable once it returns |
//! | [`create_dir`], [`create_dirs`] | exactly the mode asked, whatever the umask; `create_dir` never reuses an existing name |
//! | [`set_mode`], [`set_file_mode`], [`KEEPS_MODES`] | exactly these permission bits, where the OS keeps them (`KEEPS_MODES` says whether; `verify-installed` compares them only then) |
//! | [`create_new_file`] | fails if anything (a symlink included) is at the name; never follows a link |
//! | [`open_append`] | a user's file appended in place (a link to it followed: its mode, owner and links kept) |
//! | [`open_log`] | a log of ours appended; a symlink at its name refused |
//! | [`read_nofollow`] | a symlink at the name is refused, never followed; only a regular file, at most the length asked |
//! | [`kind_of`], [`read_if_exists`] | what is at a name, a link not followed; its bytes, `None` when nothing is |
//! | **names** | |
//! | [`rename_noreplace`] | never replaces what is at the destination |
//! | [`rename_exchange`] | swaps two names in one step, or says it cannot ([`Exchange::Unsupported`]) and changes nothing |
//! | [`in_use`] | true only for a rename refused because a program uses the file or directory |
//! | [`symlink`], [`link_target`], [`temp_link`] | a relative link made, read (`None` for anything else), made under a fresh temp name ([`TEMP_PREFIX`]) |
//! | [`switch_link`] | after a crash at any point, the link names the old target or the new one |
//! | [`SWITCHES_LINKS`] | whether a link is switched by one rename, so the active version can be a link (`Layout::Link`); else the tree moves (`Layout::Tree`) |
//! | **durability** | |
//! | [`sync_dir`], [`sync_fs`] | renames in the directory, files under it, are on disk once it returns |
//! | [`flush_extracted`] | with [`sync_fs`] of the tree afterwards, an extracted file is on disk |
//! | **trees** | |
//! | [`walk`], [`walk_where`] | every entry under a root, parents first, never following a link |
//! | [`tree_id`] | the same value for one directory across renames on one file system |
//! | [`remove_tree`] | a tree gone, read-only directories in it included |
//! | **locks, space, rights** | |
//! | [`lock`] | one exclusive holder or many shared ones per directory; released when the process dies |
//! | [`free_space`] | bytes and inodes free for an unprivileged writer |
//! | [`can_write_in`], [`can_write`] | asked without writing anything: the error a write there would meet (no permission, read-only, not a directory), or none |
//! | **this process** | |
//! | [`own_executable`], [`own_executable_path`] | the running file itself, even if its path was renamed or removed; the path to name it by |
//! | [`pid`], [`entropy`] | the process id; bytes no other process or moment shares (for ids) |
//! | [`go_command`] | the installed `go` run with no inherited environment, under the check runner if set ([`under_runner`]) |
//! | [`owns_console`] | true only when the console closes with this process (Windows's double click) |
//! | `kill_self`, `pause_self` | (crash-test builds) the process ends at once with no clean-up; stops until the test acts |
//! | **the host** | |
//! | [`host`] | the machine and user ([`Host`]: admin, home, shell, PATH, user, [`Folders`]), read once |
//! | [`default_prefix`], [`host_log_path`], [`host_trust_dir`] | where this OS puts a prefix, the host log, the trust directory (one only an administrator may write) |
//! | [`environment_scope`], [`HAS_MACHINE_STORE`] | where an install's environment goes for this host; whether a machine-wide store may be asked for |
//! | [`read_stored_path`], [`write_stored_path`] | the registry's `Path` value of a [`Store`], read and written whole (Windows; no [`Store`] value exists elsewhere); a write is announced to running programs |
//! | **words** | |
//! | [`quote_arg`], [`reopen_advice`], [`LAYOUT_HELP`], [`HOST_LOG_HELP`], [`HOME_VAR`] | how this OS's shell quotes a word; how a new environment takes effect; the help's words on the layout and the log; the home variable's name |

pub mod failpoint;
#[cfg(target_os = "linux")]
mod linux;
pub mod shell;
#[cfg(target_os = "linux")]
pub use linux::*;
#[cfg(unix)]
mod posix;
#[cfg(unix)]
pub use posix::*;
#[cfg(not(any(target_os = "linux", windows)))]
compile_error!("no port of the installer to this OS: add its file under installer/src/os/ (see the table above)");
#[cfg(windows)]
mod windows;
#[cfg(windows)]
pub use windows::*;

/// The machine and the user this process runs for, as the engine and the binaries need them:
/// read once ([`host`]), the one place the environment variables they depend on are read.
#[derive(Debug, Clone)]
pub struct Host {
    /// Root on Unix, an elevated token on Windows: the machine-wide prefix, environment and log
    /// are then the defaults.
    pub admin: bool,
    /// The user's home ([`HOME_VAR`]), when set and not empty.
    pub home: Option<std::path::PathBuf>,
    /// The login shell (`SHELL`), which picks the rc files an install edits.
    pub shell: Option<String>,
    /// `PATH`, where a `go` installed some other way is found.
    pub path: Option<std::ffi::OsString>,
    /// Who runs this process, for receipts and the host log.
    pub user: User,
    /// Where this OS keeps programs, logs and state (see the OS's [`Folders`]).
    pub folders: Folders,
}

/// Who runs this process.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    /// The numeric user id (0 where the OS has none).
    pub uid: u32,
    pub name: Option<String>,
    /// The user behind `sudo`, when there was one.
    pub sudo_user: Option<String>,
    /// The machine's name.
    pub host: String,
}

/// This process's [`Host`], read the first time it is asked for.
pub fn host() -> &'static Host {
    static HOST: std::sync::OnceLock<Host> = std::sync::OnceLock::new();
    HOST.get_or_init(|| {
        let var = |name: &str| std::env::var_os(name).filter(|v| !v.is_empty());
        let (uid, name, host) = current_user();
        Host {
            admin: is_root(),
            home: var(HOME_VAR).map(Into::into),
            shell: std::env::var("SHELL").ok(),
            path: std::env::var_os("PATH"),
            user: User { uid, name, sudo_user: var("SUDO_USER").and_then(|s| s.into_string().ok()), host },
            folders: Folders::read(),
        }
    })
}

/// `mkdir -p`, each directory it makes with exactly `mode` ([`create_dir`]); returns those made,
/// outermost first.
pub fn create_dirs(path: &std::path::Path, mode: u32) -> std::io::Result<Vec<std::path::PathBuf>> {
    let (missing, _) = missing_dirs(path);
    let mut made = Vec::new();
    for dir in missing {
        match create_dir(&dir, mode) {
            Ok(()) => made.push(dir),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(e),
        }
    }
    Ok(made)
}

/// The directories [`create_dirs`] would make for `path` (outermost first), and the nearest
/// ancestor that is there (a link is not followed, as [`create_dirs`] does not), where they
/// would be made. Reads only.
pub fn missing_dirs(path: &std::path::Path) -> (Vec<std::path::PathBuf>, std::path::PathBuf) {
    let mut missing = Vec::new();
    let mut p = path;
    while std::fs::symlink_metadata(p).is_err() {
        missing.push(p.to_path_buf());
        match p.parent() {
            Some(parent) if !parent.as_os_str().is_empty() => p = parent,
            _ => break,
        }
    }
    missing.reverse();
    (missing, p.to_path_buf())
}

/// The contents of `path`, or `None` when nothing is there.
pub fn read_if_exists(path: &std::path::Path) -> std::io::Result<Option<Vec<u8>>> {
    match std::fs::read(path) {
        Ok(bytes) => Ok(Some(bytes)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

/// Whether a shell reads `arg` back as it is, unquoted (see the OS's `quote_arg`).
fn is_plain_arg(arg: &str) -> bool {
    let plain = |c: char| c.is_ascii_alphanumeric() || "_-./:@%+=,\\".contains(c);
    !arg.is_empty() && arg.chars().all(plain)
}

/// `PREFIX` + pid + time: a name no other command uses (callers make it with `mkdir` or
/// `O_EXCL`, which refuse to reuse a name anyway).
pub fn unique_name(prefix: &str) -> String {
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0);
    format!("{prefix}{:x}.{:x}", std::process::id(), nanos)
}

/// `program`, or `runner... program` when a check runner is set.
pub fn under_runner(program: &std::path::Path, runner: &[String]) -> std::process::Command {
    match runner.split_first() {
        Some((first, rest)) => {
            let mut c = std::process::Command::new(first);
            c.args(rest).arg(program);
            c
        }
        None => std::process::Command::new(program),
    }
}

/// Every entry under `root` (not `root` itself), sorted by path, so parents come before their
/// children; links are listed, never followed. Names that are not Unicode are listed lossily.
pub fn walk(root: &std::path::Path) -> std::io::Result<Vec<Found>> {
    walk_where(root, &|_| true)
}

/// [`walk`], descending only into the directories (by relative path) `descend` accepts; the
/// others are listed but not entered.
///
/// What each entry is comes with the directory listing (a link is not followed): on Windows the
/// listing carries it, where asking by path would open every file (three calls of the file
/// system, each a round trip to the server under Wine); on Unix it is one `fstatat` either way.
pub fn walk_where(root: &std::path::Path, descend: &dyn Fn(&str) -> bool) -> std::io::Result<Vec<Found>> {
    let mut out = Vec::new();
    let mut stack = vec![(root.to_path_buf(), String::new())];
    while let Some((dir, rel)) = stack.pop() {
        for e in std::fs::read_dir(&dir)? {
            let e = e?;
            let name = e.file_name().to_string_lossy().into_owned();
            let path = if rel.is_empty() { name } else { format!("{rel}/{name}") };
            let full = e.path();
            let meta = e.metadata()?;
            let kind = kind(&meta);
            if kind == Kind::Dir && descend(&path) {
                stack.push((full.clone(), path.clone()));
            }
            out.push(Found { path, kind, mode: mode(&meta), len: meta.len(), full });
        }
    }
    out.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(out)
}

/// Removes the directory tree at `root`. A tree made read-only (a module directory: directories
/// 0555, as Go's own module cache keeps them) whose removal is refused has its directories made
/// writable, then is removed again.
pub fn remove_tree(root: &std::path::Path) -> std::io::Result<()> {
    match std::fs::remove_dir_all(root) {
        Err(e) if e.kind() == std::io::ErrorKind::PermissionDenied => {
            let _ = set_mode(root, 0o755);
            for d in walk(root).unwrap_or_default().into_iter().filter(|f| f.kind == Kind::Dir) {
                let _ = set_mode(&d.full, 0o755);
            }
            std::fs::remove_dir_all(root)
        }
        other => other,
    }
}

/// What is at `path` (a link is not followed): its type, permission bits (0 where the OS keeps
/// none) and length; `None` when nothing is.
pub fn kind_of(path: &std::path::Path) -> std::io::Result<Option<(Kind, u32, u64)>> {
    let meta = match std::fs::symlink_metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e),
    };
    Ok(Some((kind(&meta), mode(&meta), meta.len())))
}

/// Prefix of the temp files of atomic writes and temp links (removed by recovery when a crash
/// left one).
pub const TEMP_PREFIX: &str = ".go-offline-tmp.";

/// Whether the other side of [`rename_exchange`] could be swapped.
#[derive(Debug)]
pub enum Exchange {
    /// The file system cannot exchange two names atomically (the caller falls back, journaled).
    Unsupported,
    Io(std::io::Error),
}

/// How [`lock`] waits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LockMode {
    /// For commands that change the prefix: one holder.
    Exclusive,
    /// For commands that only read it: any number of holders, none exclusive.
    Shared,
}

/// Why [`lock`] did not lock.
#[derive(Debug)]
pub enum LockError {
    /// Another process holds it and we were not to wait.
    Busy,
    /// The directory could not be opened.
    Open(std::io::Error),
    Io(std::io::Error),
}

/// Why [`read_nofollow`] refused a file.
#[derive(Debug)]
pub enum ReadError {
    Symlink,
    /// Not a regular file, or longer than allowed.
    NotRegular,
    Io(std::io::Error),
}

impl Store {
    /// The `Path` value, as a path for reports (`KEY\\Path`).
    pub fn path_value(self) -> std::path::PathBuf {
        std::path::PathBuf::from(format!(r"{}\{PATH_VALUE}", self.key()))
    }
}

/// The name of the PATH value in a [`Store`].
pub const PATH_VALUE: &str = "Path";

/// A string value of a [`Store`]: its data, and whether it is `REG_EXPAND_SZ` (its `%VAR%`s
/// expanded when read) rather than `REG_SZ`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct StoredValue {
    pub data: String,
    pub expand: bool,
}

/// A directory's identity, stable across renames on one file system.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct TreeId {
    pub dev: u64,
    pub ino: u64,
}

/// What [`free_space`] found.
#[derive(Debug, Clone, Copy)]
pub struct FreeSpace {
    /// Bytes an unprivileged writer may still use.
    pub bytes: u64,
    /// Allocation unit: every file and directory takes a multiple of it.
    pub block: u64,
    /// Inodes free, when the file system counts them.
    pub inodes: Option<u64>,
}

/// One entry found by [`walk`].
#[derive(Debug, Clone)]
pub struct Found {
    /// Path relative to the root, `/`-separated.
    pub path: String,
    pub kind: Kind,
    /// Permission bits (`0o7777` at most).
    pub mode: u32,
    pub len: u64,
    /// The full path.
    pub full: std::path::PathBuf,
}

/// The type of a file, as far as the installer cares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    File,
    Dir,
    Symlink,
    /// A device, socket or fifo: never made by the installer.
    Other,
}
