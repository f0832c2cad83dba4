//! The OS primitives that are Linux's own: `renameat2` (exchange, no-replace), `syncfs`,
//! `/proc/self/exe`, the kernel's random uuid, users from `/etc/passwd` (a static binary has no
//! NSS). The rest of a Linux port is `posix.rs`. A port to another Unix is a file like this one.

use std::{
    fs::{self, File},
    io::{self, ErrorKind, Read},
    path::{Path, PathBuf},
};

use rustix::fs::{RenameFlags, CWD};

use super::failpoint;
use super::Exchange;

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

/// `renameat2` with flags; the `no-renameat2` failpoint switch makes it fail as on a file system
/// that does not support flags.
fn renameat2(from: &Path, to: &Path, flags: RenameFlags) -> Result<(), rustix::io::Errno> {
    if failpoint::enabled("no-renameat2") {
        return Err(rustix::io::Errno::INVAL);
    }
    rustix::fs::renameat_with(CWD, from, CWD, to, flags)
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

/// The path to name the running executable by (in messages and receipts).
pub fn own_executable_path() -> PathBuf {
    std::env::current_exe().unwrap_or_else(|_| PathBuf::from("/proc/self/exe"))
}

/// The running executable, opened: `/proc/self/exe` is the running file even if it was renamed
/// or its path is not readable.
pub fn own_executable() -> io::Result<File> {
    File::open("/proc/self/exe")
}

/// The user running this process: uid, name (from /etc/passwd: a static binary has no NSS), host.
pub(super) fn current_user() -> (u32, Option<String>, String) {
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
