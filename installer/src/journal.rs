//! The journal: what a command that changes the prefix is about to do, written (atomically,
//! synced) before it does it, so that a crash at any point (kill -9, power loss) is undone or
//! finished by the next run, under the same prefix lock. Installs, `use`, `rollback` and
//! `uninstall` all go through it.
//!
//! ```text
//! PREFIX/.go-offline-journal   action, phase, the names below, the identity (device, inode) of
//!                              every tree involved, the `go` link before and after, the
//!                              environment files' previous contents, and what commit writes
//! ```
//!
//! | phase        | written before                        | recovery                                       |
//! |--------------|---------------------------------------|------------------------------------------------|
//! | `staging`    | the staging dir is made               | delete the staging dir                         |
//! | `swapping`   | the new tree is moved in, the link    | put the link, the old trees and the            |
//! |              | switched, the environment written     | environment back, delete the new tree          |
//! | `committing` | receipts, state and log are written,  | finish: write them, delete the replaced tree,  |
//! |              | replaced or uninstalled trees deleted | remove what uninstall listed                   |
//!
//! **Invariant:** recovery only ever deletes a directory whose inode the journal recorded (or,
//! in phase `staging`, the staging name it chose); trees are found by identity, never by name
//! alone, so every recovery step is idempotent and can itself be interrupted and re-run.

use std::{
    fs::{self, File},
    io::{ErrorKind, Write},
    os::unix::fs::MetadataExt,
    path::{Component, Path, PathBuf},
};

use rustix::fs::{RenameFlags, CWD};
use serde::{Deserialize, Serialize};

use crate::{
    env,
    error::Error,
    failpoint,
    manifest::EntryType,
    prefix,
    receipt::{self, LogRecord},
};

/// File name of the journal in the prefix.
pub const JOURNAL_NAME: &str = ".go-offline-journal";
/// Format 2 added lifecycle actions; format 1 journals (plain `go/` installs) read as installs.
const JOURNAL_FORMAT: u32 = 2;
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

/// What the journaled command is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum Action {
    #[default]
    Install,
    Use,
    Rollback,
    Uninstall,
}

impl Action {
    pub fn name(self) -> &'static str {
        match self {
            Action::Install => "install",
            Action::Use => "use",
            Action::Rollback => "rollback",
            Action::Uninstall => "uninstall",
        }
    }
}

/// The `PREFIX/go` link before and after the command (`None`: no link).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LinkChange {
    pub before: Option<String>,
    pub after: Option<String>,
}

/// A plain `PREFIX/go` tree leaving its place for the link: exchanged with a new link made at
/// `tmp`, then renamed to `name` (`keep`), or deleted at commit (replaced by the same version).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Adopt {
    pub id: TreeId,
    pub tmp: String,
    pub name: String,
    pub keep: bool,
}

/// A tree `uninstall` removes: renamed to `trash`, then the files its receipt lists are deleted;
/// anything else found in it is kept (renamed back to `tree`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Removal {
    pub tree: String,
    pub id: TreeId,
    pub trash: String,
}

/// A JSON file commit writes (a receipt, the state), path relative to the prefix.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PendingWrite {
    pub path: PathBuf,
    pub value: Json,
}

/// A JSON document kept as its text: written into the journal and then to its file verbatim,
/// encoded once (a receipt lists every file of a tree: a `serde_json::Value` of it costs a
/// million small allocations).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Json(Box<serde_json::value::RawValue>);

impl Json {
    /// `value` as pretty JSON (receipts and the state are read by people too).
    pub fn of<T: Serialize>(value: &T) -> Json {
        let text = serde_json::to_string_pretty(value).unwrap_or_else(|_| "null".into());
        Json(serde_json::value::RawValue::from_string(text).unwrap_or_else(|_| Json::null()))
    }
    fn null() -> Box<serde_json::value::RawValue> {
        serde_json::value::RawValue::from_string("null".into()).unwrap_or_default()
    }
    pub fn text(&self) -> &str {
        self.0.get()
    }
}

impl PartialEq for Json {
    fn eq(&self, other: &Json) -> bool {
        self.text() == other.text()
    }
}

impl Eq for Json {}

/// One command in progress.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Journal {
    pub format: u32,
    pub pid: u32,
    #[serde(default)]
    pub action: Action,
    /// The version being installed, switched to, or removed.
    pub go_version: String,
    pub phase: Phase,
    /// Names in the prefix: the tree being installed, the staging dir, and where the old tree is
    /// moved aside when the file system cannot exchange two directories atomically.
    pub dest: String,
    pub staging: String,
    pub aside: String,
    pub new_tree: Option<TreeId>,
    pub old_tree: Option<TreeId>,
    /// The environment files as they were before this command.
    pub env: Vec<env::Backup>,
    #[serde(default)]
    pub link: Option<LinkChange>,
    #[serde(default)]
    pub adopt: Option<Adopt>,
    /// Scratch directory of the post-install build check.
    #[serde(default)]
    pub scratch: Option<String>,
    /// Written at commit.
    #[serde(default)]
    pub writes: Vec<PendingWrite>,
    /// Deleted at commit (receipts, state), paths relative to the prefix.
    #[serde(default)]
    pub deletes: Vec<PathBuf>,
    #[serde(default)]
    pub removals: Vec<Removal>,
    /// Environment files as uninstall leaves them.
    #[serde(default)]
    pub env_final: Vec<env::Final>,
    /// Appended to the host log at commit.
    #[serde(default)]
    pub log: Option<(PathBuf, LogRecord)>,
}

/// What recovery found and did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Recovery {
    /// `install`, `use`, `rollback` or `uninstall`.
    pub action: &'static str,
    /// The version the interrupted command was installing, switching to or removing.
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
            action: Action::Install,
            go_version: go_version.into(),
            phase: Phase::Staging,
            dest: dest.into(),
            staging,
            aside,
            new_tree: None,
            old_tree: None,
            env: Vec::new(),
            link: None,
            adopt: None,
            scratch: None,
            writes: Vec::new(),
            deletes: Vec::new(),
            removals: Vec::new(),
            env_final: Vec::new(),
            log: None,
        }
    }

    /// A journal for a command that moves no tree in (`use`, `rollback`, `uninstall`).
    pub fn for_action(action: Action, go_version: &str, phase: Phase) -> Journal {
        let mut j = Journal::new(go_version, "", String::new());
        j.action = action;
        j.phase = phase;
        j.aside = String::new();
        j
    }

    /// Every name in the prefix this journal may touch.
    fn names(&self) -> Vec<&str> {
        let mut v = vec![self.dest.as_str(), self.staging.as_str(), self.aside.as_str()];
        if let Some(a) = &self.adopt {
            v.extend([a.tmp.as_str(), a.name.as_str()]);
        }
        if let Some(l) = &self.link {
            v.extend(l.before.iter().chain(&l.after).map(String::as_str));
        }
        v.extend(self.scratch.as_deref());
        for r in &self.removals {
            v.extend([r.tree.as_str(), r.trash.as_str()]);
        }
        v
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

/// Reads the journal of `prefix`, if a command there was interrupted.
pub fn read(prefix: &Path) -> Result<Option<Journal>, Error> {
    let path = journal_path(prefix);
    let corrupt = |problem: String| Error::Destination {
        path: path.clone(),
        problem: format!("{problem}: it is not a journal this installer wrote; inspect it, move it away and run again"),
    };
    let Some(journal) = receipt::read_json::<Journal>(&path, "journal", MAX_JOURNAL_LEN)? else { return Ok(None) };
    if !(1..=JOURNAL_FORMAT).contains(&journal.format) {
        return Err(corrupt(format!("has format {}", journal.format)));
    }
    for name in journal.names() {
        // Empty: not used by this action.
        if name.contains('/') || name == "." || name == ".." {
            return Err(corrupt(format!("names '{}', which is not a plain name in the prefix", name.escape_debug())));
        }
    }
    for p in journal.writes.iter().map(|w| &w.path).chain(&journal.deletes) {
        if !p.starts_with(receipt::STATE_DIR) || p.components().any(|c| !matches!(c, Component::Normal(_))) {
            return Err(corrupt(format!("names '{}', which is not in {}", p.display(), receipt::STATE_DIR)));
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

/// Finishes or undoes an interrupted command in `prefix`, if its journal says there was one.
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
    Ok(Some(Recovery {
        action: journal.action.name(),
        go_version: journal.go_version,
        phase: journal.phase,
        outcome,
        pid: journal.pid,
    }))
}

/// `prefix/name`, or `None` for a name this journal does not use (empty).
fn at(prefix: &Path, name: &str) -> Option<PathBuf> {
    (!name.is_empty()).then(|| prefix.join(name))
}

/// Puts the link, the old trees and the environment back as they were, deletes the new tree
/// and removes the journal. Idempotent.
pub fn roll_back(prefix: &Path, j: &Journal) -> Result<(), Error> {
    // 1. The link goes back (or away, if there was none and it is ours).
    if let Some(l) = &j.link {
        if l.before != l.after && prefix::link_target(prefix) == l.after {
            prefix::set_link(prefix, l.before.as_deref())?;
        }
    }
    // 2. An adopted plain tree returns to `go/`.
    if let Some(a) = &j.adopt {
        let go = prefix.join(prefix::LINK);
        if fs::symlink_metadata(&go).is_err() {
            if let Some(from) = [&a.tmp, &a.name].into_iter().map(|n| prefix.join(n)).find(|p| tree_id(p) == Some(a.id))
            {
                rename_noreplace(&from, &go)?;
            }
        }
    }
    // 3. The trees of an install.
    if let (Some(dest), Some(staging)) = (at(prefix, &j.dest), at(prefix, &j.staging)) {
        let spares: Vec<PathBuf> = [Some(staging.clone()), at(prefix, &j.aside)].into_iter().flatten().collect();
        // The new tree leaves `dest`, to whichever of the spare names is free.
        if j.new_tree.is_some() && tree_id(&dest) == j.new_tree {
            let free = spares.iter().find(|p| fs::symlink_metadata(p).is_err()).ok_or_else(|| Error::Destination {
                path: staging.clone(),
                problem: "and the other spare name are both taken: cannot move the new tree out of the way".into(),
            })?;
            rename_noreplace(&dest, free)?;
        }
        // The old tree returns to `dest`.
        if let Some(old) = j.old_tree {
            if tree_id(&dest) != Some(old) {
                let from = spares.iter().find(|p| tree_id(p) == Some(old)).ok_or_else(|| Error::Destination {
                    path: dest.clone(),
                    problem: "lost its previous tree: it is at none of the names the journal recorded".into(),
                })?;
                rename_noreplace(from, &dest)?;
            }
        }
        sync_dir(prefix)?;
        // The new tree goes. In phase `staging` its inode was not recorded yet: the staging name
        // was chosen by this installer (and made with mkdir, which fails if it exists).
        for p in &spares {
            let id = tree_id(p);
            let ours = match j.new_tree {
                Some(new) => id == Some(new),
                None => id.is_some() && p == &staging && j.old_tree != id,
            };
            if ours {
                fs::remove_dir_all(p).map_err(|e| Error::io("remove the unfinished tree", p, e))?;
            }
        }
    }
    env::restore(&j.env).map_err(Error::Restore)?;
    finish(prefix, j)
}

/// Finishes a committed command: the link as it should be, an adopted tree at its name,
/// replaced and uninstalled trees deleted, receipts and state written, the host log appended,
/// the journal removed. Idempotent.
pub fn commit(prefix: &Path, j: &Journal) -> Result<(), Error> {
    if let Some(l) = &j.link {
        prefix::set_link(prefix, l.after.as_deref())?;
    }
    if let Some(a) = &j.adopt {
        let tmp = prefix.join(&a.tmp);
        if tree_id(&tmp) == Some(a.id) {
            if a.keep {
                rename_noreplace(&tmp, &prefix.join(&a.name))?;
            } else {
                fs::remove_dir_all(&tmp).map_err(|e| Error::io("remove the replaced tree", &tmp, e))?;
            }
        }
    }
    if let Some(old) = j.old_tree {
        for p in [at(prefix, &j.staging), at(prefix, &j.aside)].into_iter().flatten() {
            if tree_id(&p) == Some(old) {
                fs::remove_dir_all(&p).map_err(|e| Error::io("remove the previous tree", &p, e))?;
            }
        }
    }
    failpoint::hit("old-removed");
    for r in &j.removals {
        remove_tree(prefix, r)?;
    }
    env::apply_final(&j.env_final).map_err(Error::Environment)?;
    for w in &j.writes {
        receipt::write_json(&prefix.join(&w.path), w.value.text())?;
    }
    for d in &j.deletes {
        let p = prefix.join(d);
        match fs::remove_file(&p) {
            Ok(()) => {}
            Err(e) if e.kind() == ErrorKind::NotFound => {}
            Err(e) => return Err(Error::io("remove", &p, e)),
        }
    }
    if j.action == Action::Uninstall {
        // Empty directories of receipts and state go with the last receipt.
        let dir = receipt::state_dir(prefix);
        let _ = fs::remove_dir(dir.join("receipts"));
        let _ = fs::remove_dir(&dir);
    }
    if let Some((path, record)) = &j.log {
        // The host log is for audit; a log that cannot be written does not undo the command.
        if let Err(e) = receipt::append_log(path, record) {
            eprintln!("warning: {e}");
        }
    }
    finish(prefix, j)
}

/// Removes the scratch directory, stray temp files and the journal.
fn finish(prefix: &Path, j: &Journal) -> Result<(), Error> {
    if let Some(scratch) = j.scratch.as_deref().and_then(|s| at(prefix, s)) {
        if tree_id(&scratch).is_some() {
            fs::remove_dir_all(&scratch).map_err(|e| Error::io("remove the check's scratch directory", &scratch, e))?;
        }
    }
    remove_temp_files(prefix, j);
    remove(prefix)
}

/// What [`remove_tree`] left because no receipt listed it.
pub fn kept_files(prefix: &Path, r: &Removal) -> Vec<String> {
    let dir = prefix.join(&r.tree);
    let mut kept = Vec::new();
    let mut stack = vec![(dir.clone(), String::new())];
    while let Some((p, rel)) = stack.pop() {
        let Ok(entries) = fs::read_dir(&p) else { continue };
        for e in entries.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            let rel = if rel.is_empty() { name } else { format!("{rel}/{name}") };
            if e.file_type().is_ok_and(|t| t.is_dir()) {
                stack.push((e.path(), rel.clone()));
            } else {
                kept.push(rel);
            }
        }
    }
    kept.sort();
    kept
}

/// Uninstalls one tree: moves it to its trash name (atomic: the version is gone at once), deletes
/// exactly the entries its receipt lists, and, if anything else was in it, renames what is left
/// back so it is not lost. Idempotent.
fn remove_tree(prefix: &Path, r: &Removal) -> Result<(), Error> {
    let name = prefix.join(&r.tree);
    let trash = prefix.join(&r.trash);
    if tree_id(&name) == Some(r.id) {
        rename_noreplace(&name, &trash)?;
        sync_dir(prefix)?;
    }
    failpoint::hit("uninstall-moved");
    if tree_id(&trash) != Some(r.id) {
        return Ok(());
    }
    let receipt = receipt::read_receipt(prefix, &r.tree)?.ok_or_else(|| Error::Destination {
        path: receipt::receipt_path(prefix, &r.tree),
        problem: format!("is missing, so the files of '{}' are unknown; it stays", trash.display()),
    })?;
    let half = receipt.files.len() / 2;
    // Children come after their parents in a receipt: reversed, directories are emptied first.
    for (i, e) in receipt.files.iter().rev().enumerate() {
        if i == half {
            failpoint::hit("uninstall-removing");
        }
        let p = trash.join(&e.path);
        let Ok(meta) = fs::symlink_metadata(&p) else { continue };
        let result = match e.kind {
            EntryType::Dir if meta.is_dir() => match fs::remove_dir(&p) {
                Err(e) if e.kind() == ErrorKind::DirectoryNotEmpty => Ok(()), // holds files of someone else
                other => other,
            },
            EntryType::File if meta.is_file() => fs::remove_file(&p),
            EntryType::Symlink if meta.file_type().is_symlink() => fs::remove_file(&p),
            _ => Ok(()), // replaced by something of another type: not ours any more
        };
        result.map_err(|err| Error::io("remove", &p, err))?;
    }
    match fs::remove_dir(&trash) {
        Ok(()) => sync_dir(prefix),
        Err(e) if e.kind() == ErrorKind::DirectoryNotEmpty => {
            // Files nobody listed: they stay, under the tree's own name.
            if fs::symlink_metadata(&name).is_err() {
                rename_noreplace(&trash, &name)?;
            }
            sync_dir(prefix)
        }
        Err(e) => Err(Error::io("remove", &trash, e)),
    }
}

/// Temp files of atomic writes and temp links (`.go-offline-tmp.*`) that a crash left between
/// create and rename: in the prefix, its state directory and beside each environment file. Only
/// regular files and symlinks are removed.
fn remove_temp_files(prefix: &Path, j: &Journal) {
    let state = receipt::state_dir(prefix);
    let receipts = state.join("receipts");
    let mut dirs: Vec<&Path> = vec![prefix, &state, &receipts];
    dirs.extend(j.env.iter().filter_map(|b| b.path.parent()));
    dirs.extend(j.env_final.iter().filter_map(|b| b.path.parent()));
    dirs.dedup();
    for dir in dirs {
        let Ok(entries) = fs::read_dir(dir) else { continue };
        for e in entries.flatten() {
            let temp = e.file_name().to_str().is_some_and(|n| n.starts_with(TEMP_PREFIX));
            if temp && e.file_type().is_ok_and(|t| t.is_file() || t.is_symlink()) {
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
