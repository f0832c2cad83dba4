//! The install journal: what an install is about to do, written (atomically, synced) before it
//! does it, so that a crash at any point (kill -9, power loss) is undone or finished by the next
//! run, under the same prefix lock.
//!
//! ```text
//! PREFIX/.go-offline-journal   phase, the names below, the identity (device, inode) of the old
//!                              and the new tree, and the environment files' previous contents
//! ```
//!
//! | phase        | written before               | recovery                                          |
//! |--------------|------------------------------|---------------------------------------------------|
//! | `staging`    | the staging dir is made      | delete the staging dir                            |
//! | `swapping`   | the new tree is moved in     | put the old tree back at `go/` (found by inode),  |
//! |              |                              | delete the new one, restore the environment       |
//! | `committing` | the old tree is deleted      | finish: delete the old tree (found by inode)      |
//!
//! **Invariant:** recovery only ever deletes a directory whose inode the journal recorded (or,
//! in phase `staging`, the staging name it chose); trees are found by identity, never by name
//! alone, so every recovery step is idempotent and can itself be interrupted and re-run.

use std::{
    fs::{self, File, OpenOptions},
    io::{ErrorKind, Read, Write},
    os::unix::fs::{MetadataExt, OpenOptionsExt},
    path::{Path, PathBuf},
};

use rustix::fs::{RenameFlags, CWD};
use serde::{Deserialize, Serialize};

use crate::{env, error::Error, failpoint};

/// File name of the journal in the prefix.
pub const JOURNAL_NAME: &str = ".go-offline-journal";
const JOURNAL_FORMAT: u32 = 1;
/// Prefix of the temp files of atomic writes, here and in env.rs.
pub const TEMP_PREFIX: &str = ".go-offline-tmp.";
/// Journals are small (names and a few rc files); anything bigger is not ours.
const MAX_JOURNAL_LEN: u64 = 16 << 20;

/// How far an install got.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Phase {
    Staging,
    Swapping,
    Committing,
}

impl Phase {
    pub fn name(self) -> &'static str {
        match self {
            Phase::Staging => "staging",
            Phase::Swapping => "swapping",
            Phase::Committing => "committing",
        }
    }
}

/// A directory's identity, stable across renames on one file system.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct TreeId {
    pub dev: u64,
    pub ino: u64,
}

/// One install in progress.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Journal {
    pub format: u32,
    pub pid: u32,
    /// The version being installed.
    pub go_version: String,
    pub phase: Phase,
    /// Names in the prefix: the active tree, the staging dir, and where the old tree is moved
    /// aside when the file system cannot exchange two directories atomically.
    pub dest: String,
    pub staging: String,
    pub aside: String,
    pub new_tree: Option<TreeId>,
    pub old_tree: Option<TreeId>,
    /// The environment files as they were before this install.
    pub env: Vec<env::Backup>,
}

/// What recovery found and did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Recovery {
    /// The version the interrupted install was installing.
    pub go_version: String,
    pub phase: Phase,
    /// `rolled-back` (the previous state is back) or `completed` (the new version stays).
    pub outcome: &'static str,
    pub pid: u32,
}

impl Journal {
    /// A journal for a new install into `dest` under a fresh staging name.
    pub fn new(go_version: &str, dest: &str, staging: String) -> Journal {
        let aside = format!("{staging}.old");
        Journal {
            format: JOURNAL_FORMAT,
            pid: std::process::id(),
            go_version: go_version.into(),
            phase: Phase::Staging,
            dest: dest.into(),
            staging,
            aside,
            new_tree: None,
            old_tree: None,
            env: Vec::new(),
        }
    }
}

/// The identity of the directory at `path`, if a directory (not a symlink) is there.
pub fn tree_id(path: &Path) -> Option<TreeId> {
    let m = fs::symlink_metadata(path).ok()?;
    m.is_dir().then(|| TreeId { dev: m.dev(), ino: m.ino() })
}

fn journal_path(prefix: &Path) -> PathBuf {
    prefix.join(JOURNAL_NAME)
}

/// Reads the journal of `prefix`, if an install there was interrupted.
pub fn read(prefix: &Path) -> Result<Option<Journal>, Error> {
    let path = journal_path(prefix);
    let corrupt = |problem: String| Error::Destination {
        path: path.clone(),
        problem: format!("{problem}: it is not a journal this installer wrote; inspect it, move it away and run again"),
    };
    // O_NOFOLLOW: a symlink planted at the journal's name is refused, never followed.
    let mut file =
        match OpenOptions::new().read(true).custom_flags(rustix::fs::OFlags::NOFOLLOW.bits() as i32).open(&path) {
            Ok(f) => f,
            Err(e) if e.kind() == ErrorKind::NotFound => return Ok(None),
            Err(e) if e.raw_os_error() == Some(rustix::io::Errno::LOOP.raw_os_error()) => {
                return Err(corrupt("is a symbolic link".into()))
            }
            Err(e) => return Err(Error::io("read the install journal", &path, e)),
        };
    let meta = file.metadata().map_err(|e| Error::io("inspect", &path, e))?;
    if !meta.is_file() || meta.len() > MAX_JOURNAL_LEN {
        return Err(corrupt("is not a regular file of journal size".into()));
    }
    let mut bytes = Vec::new();
    file.read_to_end(&mut bytes).map_err(|e| Error::io("read the install journal", &path, e))?;
    let journal: Journal = serde_json::from_slice(&bytes).map_err(|e| corrupt(format!("cannot be parsed ({e})")))?;
    if journal.format != JOURNAL_FORMAT {
        return Err(corrupt(format!("has format {}", journal.format)));
    }
    for name in [&journal.dest, &journal.staging, &journal.aside] {
        if name.is_empty() || name.contains('/') || name == "." || name == ".." {
            return Err(corrupt(format!("names '{}', which is not a plain name in the prefix", name.escape_debug())));
        }
    }
    Ok(Some(journal))
}

/// Writes the journal atomically (temp file, fsync, rename, fsync of the prefix).
pub fn write(prefix: &Path, journal: &Journal) -> Result<(), Error> {
    let path = journal_path(prefix);
    let bytes = serde_json::to_vec_pretty(journal)
        .map_err(|e| Error::io("encode the install journal", &path, std::io::Error::other(e)))?;
    let mut tmp = tempfile::Builder::new()
        .prefix(TEMP_PREFIX)
        .tempfile_in(prefix)
        .map_err(|e| Error::io("write the install journal in", prefix, e))?;
    tmp.write_all(&bytes).and_then(|()| tmp.as_file().sync_all()).map_err(|e| Error::io("write", &path, e))?;
    tmp.persist(&path).map_err(|e| Error::io("write", &path, e.error))?;
    sync_dir(prefix)
}

/// Removes the journal: the install is over.
pub fn remove(prefix: &Path) -> Result<(), Error> {
    let path = journal_path(prefix);
    match fs::remove_file(&path) {
        Ok(()) => sync_dir(prefix),
        Err(e) if e.kind() == ErrorKind::NotFound => Ok(()),
        Err(e) => Err(Error::io("remove the install journal", &path, e)),
    }
}

/// fsync of a directory, so renames and unlinks in it are durable.
pub fn sync_dir(dir: &Path) -> Result<(), Error> {
    File::open(dir).and_then(|f| f.sync_all()).map_err(|e| Error::io("sync", dir, e))
}

/// Finishes or undoes an interrupted install of `prefix`, if its journal says there was one.
/// The caller holds the prefix lock.
pub fn recover(prefix: &Path) -> Result<Option<Recovery>, Error> {
    let Some(journal) = read(prefix)? else { return Ok(None) };
    let outcome = match journal.phase {
        Phase::Staging | Phase::Swapping => {
            roll_back(prefix, &journal)?;
            "rolled-back"
        }
        Phase::Committing => {
            commit(prefix, &journal)?;
            "completed"
        }
    };
    failpoint::hit("recovered");
    Ok(Some(Recovery { go_version: journal.go_version, phase: journal.phase, outcome, pid: journal.pid }))
}

/// Puts the old tree back at `dest` (or nothing, if there was none), deletes the new tree,
/// restores the environment and removes the journal. Idempotent.
pub fn roll_back(prefix: &Path, j: &Journal) -> Result<(), Error> {
    let dest = prefix.join(&j.dest);
    let staging = prefix.join(&j.staging);
    let aside = prefix.join(&j.aside);
    // 1. The new tree leaves `dest`, to whichever of the two spare names is free.
    if j.new_tree.is_some() && tree_id(&dest) == j.new_tree {
        let free = [&staging, &aside].into_iter().find(|p| fs::symlink_metadata(p).is_err()).ok_or_else(|| {
            Error::Destination {
                path: staging.clone(),
                problem: format!("and '{}' are both taken: cannot move the new tree out of the way", aside.display()),
            }
        })?;
        rename_noreplace(&dest, free)?;
    }
    // 2. The old tree returns to `dest`.
    if let Some(old) = j.old_tree {
        if tree_id(&dest) != Some(old) {
            let from =
                [&staging, &aside].into_iter().find(|p| tree_id(p) == Some(old)).ok_or_else(|| Error::Destination {
                    path: dest.clone(),
                    problem: "lost its previous tree: it is at none of the names the journal recorded".into(),
                })?;
            rename_noreplace(from, &dest)?;
        }
    }
    sync_dir(prefix)?;
    // 3. The new tree goes. In phase `staging` its inode was not recorded yet: the staging name
    //    was chosen by this installer (and made with mkdir, which fails if it exists).
    for p in [&staging, &aside] {
        let id = tree_id(p);
        let ours = match j.new_tree {
            Some(new) => id == Some(new),
            None => id.is_some() && p == &staging && j.old_tree != id,
        };
        if ours {
            fs::remove_dir_all(p).map_err(|e| Error::io("remove the unfinished tree", p, e))?;
        }
    }
    env::restore(&j.env).map_err(Error::Restore)?;
    remove_temp_files(prefix, j);
    remove(prefix)
}

/// Deletes the old tree (found by inode) and removes the journal. Idempotent.
pub fn commit(prefix: &Path, j: &Journal) -> Result<(), Error> {
    if let Some(old) = j.old_tree {
        for name in [&j.staging, &j.aside] {
            let p = prefix.join(name);
            if tree_id(&p) == Some(old) {
                fs::remove_dir_all(&p).map_err(|e| Error::io("remove the previous tree", &p, e))?;
            }
        }
    }
    failpoint::hit("old-removed");
    remove_temp_files(prefix, j);
    remove(prefix)
}

/// Temp files of atomic writes (`.go-offline-tmp.*`) that a crash left between create and rename,
/// in the prefix and beside each environment file. Only regular files are removed.
fn remove_temp_files(prefix: &Path, j: &Journal) {
    let mut dirs: Vec<&Path> = vec![prefix];
    dirs.extend(j.env.iter().filter_map(|b| b.path.parent()));
    dirs.dedup();
    for dir in dirs {
        let Ok(entries) = fs::read_dir(dir) else { continue };
        for e in entries.flatten() {
            let temp = e.file_name().to_str().is_some_and(|n| n.starts_with(TEMP_PREFIX));
            if temp && e.file_type().is_ok_and(|t| t.is_file()) {
                let _ = fs::remove_file(e.path());
            }
        }
    }
}

/// `rename` that never replaces: `renameat2(RENAME_NOREPLACE)`, or a check then `rename` on file
/// systems without it (safe under the prefix lock).
pub fn rename_noreplace(from: &Path, to: &Path) -> Result<(), Error> {
    match renameat2(from, to, RenameFlags::NOREPLACE) {
        Ok(()) => Ok(()),
        Err(rustix::io::Errno::INVAL | rustix::io::Errno::NOSYS) => {
            if fs::symlink_metadata(to).is_ok() {
                return Err(Error::io("move a tree to", to, std::io::Error::from(ErrorKind::AlreadyExists)));
            }
            fs::rename(from, to).map_err(|e| Error::io("move a tree to", to, e))
        }
        Err(e) => Err(Error::io("move a tree to", to, e.into())),
    }
}

/// `renameat2` with flags; the `no-renameat2` failpoint switch makes it fail as on a file system
/// that does not support flags.
pub fn renameat2(from: &Path, to: &Path, flags: RenameFlags) -> Result<(), rustix::io::Errno> {
    if failpoint::enabled("no-renameat2") {
        return Err(rustix::io::Errno::INVAL);
    }
    rustix::fs::renameat_with(CWD, from, CWD, to, flags)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A prefix with an old tree, a staged new tree, and a journal in the given phase.
    fn setup(phase: Phase, exchanged: bool) -> (tempfile::TempDir, Journal) {
        let prefix = tempfile::tempdir().unwrap();
        let p = prefix.path();
        fs::create_dir(p.join("go")).unwrap();
        fs::write(p.join("go/VERSION"), "old").unwrap();
        fs::create_dir(p.join("stage")).unwrap();
        fs::write(p.join("stage/VERSION"), "new").unwrap();
        let mut j = Journal::new("go1.2.3", "go", "stage".into());
        j.phase = phase;
        j.old_tree = tree_id(&p.join("go"));
        j.new_tree = tree_id(&p.join("stage"));
        if exchanged {
            rustix::fs::renameat_with(CWD, p.join("stage"), CWD, p.join("go"), RenameFlags::EXCHANGE).unwrap();
        }
        write(p, &j).unwrap();
        (prefix, j)
    }

    fn version(p: &Path) -> String {
        fs::read_to_string(p.join("go/VERSION")).unwrap()
    }

    fn names(p: &Path) -> Vec<String> {
        let mut v: Vec<_> = fs::read_dir(p).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
        v.sort();
        v
    }

    #[test]
    fn recovery_by_phase() {
        // (phase, exchanged, expected version at go/, outcome)
        let cases = [
            (Phase::Staging, false, "old", "rolled-back"),
            (Phase::Swapping, false, "old", "rolled-back"),
            (Phase::Swapping, true, "old", "rolled-back"),
            (Phase::Committing, true, "new", "completed"),
        ];
        for (phase, exchanged, expected, outcome) in cases {
            let (prefix, _) = setup(phase, exchanged);
            let r = recover(prefix.path()).unwrap().unwrap();
            assert_eq!(r.outcome, outcome, "{phase:?}");
            assert_eq!(version(prefix.path()), expected, "{phase:?} exchanged={exchanged}");
            assert_eq!(names(prefix.path()), ["go"], "{phase:?} leaves only go/");
            assert_eq!(recover(prefix.path()).unwrap(), None, "second recovery has nothing to do");
        }
    }

    #[test]
    fn fallback_half_way_is_rolled_back() {
        // The non-atomic fallback moved the old tree aside, then died before moving the new in.
        let (prefix, j) = setup(Phase::Swapping, false);
        let p = prefix.path();
        fs::rename(p.join("go"), p.join(&j.aside)).unwrap();
        recover(p).unwrap().unwrap();
        assert_eq!(version(p), "old");
        assert_eq!(names(p), ["go"]);
        // And after it moved the new one in as well.
        let (prefix, j) = setup(Phase::Swapping, false);
        let p = prefix.path();
        fs::rename(p.join("go"), p.join(&j.aside)).unwrap();
        fs::rename(p.join("stage"), p.join("go")).unwrap();
        recover(p).unwrap().unwrap();
        assert_eq!(version(p), "old");
        assert_eq!(names(p), ["go"]);
    }

    #[test]
    fn a_planted_journal_symlink_is_refused() {
        let prefix = tempfile::tempdir().unwrap();
        std::os::unix::fs::symlink("/etc/passwd", prefix.path().join(JOURNAL_NAME)).unwrap();
        let err = recover(prefix.path()).unwrap_err();
        assert!(err.to_string().contains("symbolic link"), "{err}");
        let err = {
            fs::remove_file(prefix.path().join(JOURNAL_NAME)).unwrap();
            fs::write(prefix.path().join(JOURNAL_NAME), "{\"format\": 1}").unwrap();
            recover(prefix.path()).unwrap_err()
        };
        assert!(err.to_string().contains("cannot be parsed"), "{err}");
    }

    #[test]
    fn a_directory_it_did_not_record_is_never_deleted() {
        let (prefix, j) = setup(Phase::Swapping, false);
        let p = prefix.path();
        // Someone replaced the staged tree by another directory of the same name.
        fs::rename(p.join("stage"), p.join("elsewhere")).unwrap(); // keeps its inode in use
        fs::create_dir(p.join("stage")).unwrap();
        fs::write(p.join("stage/keep"), "").unwrap();
        assert_ne!(tree_id(&p.join("stage")), j.new_tree);
        recover(p).unwrap().unwrap();
        assert!(p.join("stage/keep").exists());
    }
}
