//! The one seam between the engine and the operating system.
//!
//! Everything the engine asks of the OS goes through the functions re-exported here; no other
//! module of the engine names a syscall, `std::os::*`, `rustix`, a path under `/etc` or `/proc`,
//! or a shell. A port to another OS is a new file beside `unix.rs` (and `shell.rs`) providing the
//! same functions, checked by the same tests; the engine does not change.
//!
//! What a port must provide, and the invariant each must keep:
//!
//! | primitive | invariant |
//! |---|---|
//! | [`write_atomic`] | readers see the old contents or the new, never a part; durable once it returns |
//! | [`create_dir`], [`create_dirs`] | exactly the mode asked, whatever the umask; `create_dir` never reuses an existing name |
//! | [`create_new_file`] | fails if anything (a symlink included) is at the name; never follows a link |
//! | [`read_nofollow`] | a symlink at the name is refused, never followed |
//! | [`rename_noreplace`] | never replaces what is at the destination |
//! | [`in_use`] | true only for a rename refused because a program uses the file or directory |
//! | [`rename_exchange`] | swaps two names in one step, or says it cannot ([`Exchange::Unsupported`]) and changes nothing |
//! | [`sync_dir`], [`sync_fs`] | renames in the directory, files under it, are on disk once it returns |
//! | [`flush_extracted`] | with [`sync_fs`] of the tree afterwards, an extracted file is on disk |
//! | [`lock`] | one exclusive holder or many shared ones per directory; released when the process dies |
//! | [`free_space`] | bytes and inodes free for an unprivileged writer |
//! | [`can_write_in`], [`can_write`] | asked without writing anything: the error a write there would meet (no permission, read-only, not a directory), or none |
//! | [`own_executable`], [`own_executable_path`] | the running file itself, even if its path was renamed or removed; the path to name it by |
//! | [`switch_link`] | after a crash at any point, the link names the old target or the new one |
//! | [`tree_id`] | the same value for one directory across renames on one file system |
//! | [`walk`], [`walk_where`] | every entry under a root, parents first, never following a link |
//! | [`go_command`] | the installed `go` run with no inherited environment, under the check runner if set |
//! | [`read_stored_path`], [`write_stored_path`] | the registry's `Path` value of a [`Store`], read and written whole (Windows only); a write is announced to running programs |
//! | [`shell`] | where the environment goes (root and user), the scripts and the lines written there |

pub mod shell;
#[cfg(unix)]
mod unix;
#[cfg(unix)]
pub use unix::*;
#[cfg(windows)]
mod windows;
#[cfg(windows)]
pub use windows::*;

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

/// Where a persistent environment variable lives on Windows (the registry): the user's
/// (`HKEY_CURRENT_USER\Environment`) or the machine's
/// (`HKEY_LOCAL_MACHINE\SYSTEM\CurrentControlSet\Control\Session Manager\Environment`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Store {
    User,
    Machine,
}

impl Store {
    /// The key of its variables.
    pub fn key(self) -> &'static str {
        match self {
            Store::User => r"HKEY_CURRENT_USER\Environment",
            Store::Machine => r"HKEY_LOCAL_MACHINE\SYSTEM\CurrentControlSet\Control\Session Manager\Environment",
        }
    }

    /// The `Path` value, as a path for reports (`KEY\Path`).
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
