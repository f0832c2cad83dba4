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
//! | [`rename_exchange`] | swaps two names in one step, or says it cannot ([`Exchange::Unsupported`]) and changes nothing |
//! | [`sync_dir`], [`sync_fs`] | renames in the directory, files under it, are on disk once it returns |
//! | [`lock`] | one exclusive holder or many shared ones per directory; released when the process dies |
//! | [`free_space`] | bytes and inodes free for an unprivileged writer |
//! | [`own_executable`], [`own_executable_path`] | the running file itself, even if its path was renamed or removed; the path to name it by |
//! | [`switch_link`] | after a crash at any point, the link names the old target or the new one |
//! | [`tree_id`] | the same value for one directory across renames on one file system |
//! | [`walk`], [`walk_where`] | every entry under a root, parents first, never following a link |
//! | [`go_command`] | the installed `go` run with no inherited environment, under the check runner if set |
//! | [`shell`] | where the environment goes (root and user), the scripts and the lines written there |

#[cfg(unix)]
pub mod shell;
#[cfg(unix)]
mod unix;
#[cfg(unix)]
pub use unix::*;

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
