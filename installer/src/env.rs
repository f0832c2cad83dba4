//! The shell environment as data: edits computed from a description, applied, journaled, undone.
//!
//! [`plan`] turns the pieces the OS layer describes ([`os::shell::pieces`]: our scripts, one
//! line in each rc file) into edits, reading only the files concerned; [`apply`] writes them,
//! undoing what it wrote if a later write fails. Our own scripts are written whole (atomically);
//! a user's rc files only ever get one exact line appended, after a newline if the file lacks
//! one, and only when the line is not already there. Running the installer twice therefore leaves
//! every file byte-identical to running it once. [`backup`] and [`restore`] let the journal undo
//! an environment after a crash; [`removal_plan`] and [`apply_final`] are uninstall's part.
//!
//! On Windows the environment is the registry's `Path` value of a store: it gets our entries
//! appended (after a `;` if it lacks one at its end), only those not already there in any case,
//! kept `REG_EXPAND_SZ`; uninstall takes out exactly what it added, `;` included, and deletes the
//! value if it made it. The value is read and written whole, like a file.

use std::{
    io::Write,
    path::{Path, PathBuf},
};

use sha2::{Digest, Sha256};

pub use crate::error::EnvError;
use crate::{
    os::{
        self,
        shell::{self, Piece, Purpose, Scope},
        Store, StoredValue,
    },
    receipt::EnvRecord,
};

pub use os::shell::{modules_script, source_line};

fn io_err<'a>(action: &'static str, path: &'a Path) -> impl FnOnce(std::io::Error) -> EnvError + 'a {
    move |source| EnvError::Io { action, path: path.into(), source }
}

/// One file to write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Edit {
    /// Write the whole file (our own script).
    Replace { path: PathBuf, contents: String },
    /// Append this text to a user's file (which may not exist yet).
    Append { path: PathBuf, text: String },
    /// Set a store's `Path` (`path` names it) to `value`, which is what it was (`created`: it
    /// was not there; `was_plain`: it was `REG_SZ`) with `added` appended: each entry, and
    /// whether a `;` was put before it.
    Stored {
        path: PathBuf,
        store: Store,
        value: StoredValue,
        created: bool,
        was_plain: bool,
        added: Vec<(String, bool)>,
    },
}

impl Edit {
    pub fn path(&self) -> &Path {
        match self {
            Edit::Replace { path, .. } | Edit::Append { path, .. } | Edit::Stored { path, .. } => path,
        }
    }
}

/// How Windows compares two `Path` entries: case-insensitively, a trailing `\` ignored.
fn same_entry(a: &str, b: &str) -> bool {
    let norm = |s: &str| s.trim().trim_end_matches('\\').to_lowercase();
    norm(a) == norm(b)
}

/// Whether the `;`-separated `data` lists `entry`.
pub fn has_entry(data: &str, entry: &str) -> bool {
    data.split(';').any(|e| same_entry(e, entry))
}

/// `data` with `entry` appended, and whether a `;` was put before it.
pub fn with_entry(data: &str, entry: &str) -> (String, bool) {
    if data.is_empty() || data.ends_with(';') {
        (format!("{data}{entry}"), false)
    } else {
        (format!("{data};{entry}"), true)
    }
}

/// `data` without the first entry that is exactly `entry`, and the `;` added with it (the one
/// before it, or, should it now come first, the one after it); `None` when it has no such
/// entry. Each entry takes out only its own `;`, so entries come out exactly in any order.
pub fn without_entry(data: &str, entry: &str, separator_added: bool) -> Option<String> {
    let items: Vec<&str> = data.split(';').collect();
    let i = items.iter().position(|e| *e == entry)?;
    let mut start: usize = items[..i].iter().map(|e| e.len() + 1).sum();
    let mut end = start + entry.len();
    if separator_added && i > 0 {
        start -= 1;
    } else if separator_added && end < data.len() {
        end += 1;
    }
    Some(format!("{}{}", &data[..start], &data[end..]))
}

fn read_stored(store: Store) -> Result<Option<StoredValue>, EnvError> {
    os::read_stored_path(store).map_err(io_err("read", &store.path_value()))
}

/// The edits that give `scope` the environment `purpose` needs. Reads the files concerned (to
/// skip what is already there) and nothing else; edits that would change nothing are omitted.
pub fn plan(scope: &Scope, purpose: Purpose) -> Result<Vec<Edit>, EnvError> {
    let mut edits = Vec::new();
    for piece in shell::pieces(scope, purpose) {
        match piece {
            Piece::Script { path, contents } => {
                let old = os::read_if_exists(&path).map_err(io_err("read", &path))?;
                if old.as_deref() == Some(contents.as_bytes()) {
                    continue;
                }
                let owner = old.as_deref().and_then(shell::script_prefix);
                if let Some(other) = owner.filter(|o| Some(o) != shell::script_prefix(contents.as_bytes()).as_ref()) {
                    return Err(EnvError::OtherPrefix { path, other });
                }
                edits.push(Edit::Replace { path, contents });
            }
            Piece::Line { path, line, create } => {
                let Some(existing) =
                    os::read_if_exists(&path).map_err(io_err("read", &path))?.or_else(|| create.then(Vec::new))
                else {
                    continue;
                };
                if has_line(&existing, &line) {
                    continue;
                }
                let mut text = String::new();
                if !existing.is_empty() && !existing.ends_with(b"\n") {
                    text.push('\n');
                }
                text.push_str(&line);
                text.push('\n');
                edits.push(Edit::Append { path, text });
            }
            Piece::PathEntry { store, entry } => {
                let pending = edits.iter_mut().find_map(|e| match e {
                    Edit::Stored { store: s, value, added, .. } if *s == store => Some((value, added)),
                    _ => None,
                });
                match pending {
                    Some((value, added)) => {
                        if !has_entry(&value.data, &entry) {
                            let (data, sep) = with_entry(&value.data, &entry);
                            value.data = data;
                            added.push((entry, sep));
                        }
                    }
                    None => {
                        let old = read_stored(store)?;
                        let data = old.as_ref().map_or("", |v| v.data.as_str());
                        if !has_entry(data, &entry) {
                            let (data, sep) = with_entry(data, &entry);
                            edits.push(Edit::Stored {
                                path: store.path_value(),
                                store,
                                value: StoredValue { data, expand: true },
                                created: old.is_none(),
                                was_plain: old.as_ref().is_some_and(|v| !v.expand),
                                added: vec![(entry, sep)],
                            });
                        }
                    }
                }
            }
        }
    }
    Ok(edits)
}

/// The prefixes the Go environment scripts of `scope` were written for: each script there that
/// is exactly one this installer writes names its prefix ([`shell::script_prefix`]).
pub fn prefixes_named(scope: &Scope) -> Vec<PathBuf> {
    // The scripts' paths do not depend on the bin directory the pieces are made for.
    shell::pieces(scope, Purpose::Go { bin_dir: Path::new("/") })
        .into_iter()
        .filter_map(|piece| match piece {
            Piece::Script { path, .. } => {
                os::read_if_exists(&path).ok().flatten().and_then(|bytes| shell::script_prefix(&bytes))
            }
            Piece::Line { .. } | Piece::PathEntry { .. } => None,
        })
        .collect()
}

fn has_line(bytes: &[u8], line: &str) -> bool {
    String::from_utf8_lossy(bytes).lines().any(|l| l.trim_end() == line)
}

/// What this tool's part of the environment is now, for receipts: each of our scripts whose
/// contents are ours, and each rc file holding our line. `edits` are those just applied, to
/// know where a newline was added before the line; `backups`, [`backup`] of them taken before,
/// to know which files and directories did not exist (so that uninstall can take them away).
pub fn records(scope: &Scope, purpose: Purpose, edits: &[Edit], backups: &[Backup]) -> Vec<EnvRecord> {
    let mut out = Vec::new();
    let before = |path: &Path| backups.iter().find(|b| b.path == path && b.stored.is_none());
    for piece in shell::pieces(scope, purpose) {
        match piece {
            Piece::Script { path, contents } => {
                if os::read_if_exists(&path).ok().flatten().as_deref() == Some(contents.as_bytes()) {
                    let created_dirs = before(&path).map(|b| b.created_dirs.clone()).unwrap_or_default();
                    out.push(EnvRecord::Script { path, sha256: sha256_hex(contents.as_bytes()), created_dirs });
                }
            }
            Piece::Line { path, line, .. } => {
                if os::read_if_exists(&path).ok().flatten().is_some_and(|b| has_line(&b, &line)) {
                    let newline_added = edits
                        .iter()
                        .any(|e| matches!(e, Edit::Append { path: p, text } if p == &path && text.starts_with('\n')));
                    let created = before(&path).is_some_and(|b| b.contents.is_none());
                    out.push(EnvRecord::Line { path, line, newline_added, created });
                }
            }
            // Only entries this tool added: one already there (the official installer's
            // `%USERPROFILE%\go\bin`, say) is not ours to take out.
            Piece::PathEntry { store, entry } => {
                for e in edits {
                    let Edit::Stored { store: s, created, was_plain, added, .. } = e else { continue };
                    if let Some((_, sep)) = added.iter().find(|(a, _)| *s == store && *a == entry) {
                        out.push(EnvRecord::PathEntry {
                            path: store.path_value(),
                            store,
                            entry: entry.clone(),
                            separator_added: *sep,
                            created: *created,
                            was_plain: *was_plain,
                        });
                    }
                }
            }
        }
    }
    out
}

fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// What [`apply`] did, so it can be undone.
#[derive(Debug, Default)]
pub struct Applied {
    undo: Vec<Undo>,
    /// Paths written, in order.
    pub written: Vec<PathBuf>,
}

#[derive(Debug)]
enum Undo {
    Stored { store: Store, value: Option<StoredValue> },
    Restore { path: PathBuf, contents: Vec<u8> },
    Remove(PathBuf),
    Truncate { path: PathBuf, len: u64 },
    RemoveDir(PathBuf),
}

impl Applied {
    /// Undoes every write, last first. Best effort: errors are ignored because this runs while
    /// another error is already being reported.
    pub fn rollback(self) {
        for u in self.undo.into_iter().rev() {
            let _ = match u {
                Undo::Stored { store, value } => os::write_stored_path(store, value.as_ref()),
                Undo::Restore { path, contents } => os::write_atomic(&path, &contents, None),
                Undo::Remove(path) => std::fs::remove_file(path),
                Undo::Truncate { path, len } => truncate(&path, len),
                Undo::RemoveDir(path) => std::fs::remove_dir(path),
            };
        }
    }
}

/// Cuts a file back to `len` bytes in place (keeping its owner, mode and links).
fn truncate(path: &Path, len: u64) -> std::io::Result<()> {
    let f = std::fs::OpenOptions::new().write(true).open(path)?;
    f.set_len(len)?;
    f.sync_all()
}

/// Refuses, before anything is written, edits that [`apply`] could not make: a file or directory
/// this process may not write (no permission, a read-only file system). Asks without writing
/// ([`os::can_write_in`], [`os::can_write`]), and fails with the error [`apply`] would meet.
pub fn check_writable(edits: &[Edit]) -> Result<(), EnvError> {
    for edit in edits {
        let path = edit.path();
        let in_dir = |action: &'static str| -> Result<(), EnvError> {
            let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) else { return Ok(()) };
            let (missing, nearest) = os::missing_dirs(dir);
            match missing.is_empty() {
                true => os::can_write_in(dir).map_err(io_err(action, path)),
                false => os::can_write_in(&nearest).map_err(io_err("create the directory of", path)),
            }
        };
        match edit {
            // Written whole: a temp file beside it, renamed over it.
            Edit::Replace { .. } => in_dir("write")?,
            // Appended in place (a link followed), or made when missing.
            Edit::Append { .. } if std::fs::metadata(path).is_ok() => {
                os::can_write(path).map_err(io_err("open", path))?
            }
            Edit::Append { .. } => in_dir("open")?,
            // The registry's value: nothing to ask short of writing it.
            Edit::Stored { .. } => {}
        }
    }
    Ok(())
}

/// Applies the edits; on failure undoes the ones already made and returns the error.
pub fn apply(edits: &[Edit]) -> Result<Applied, EnvError> {
    let mut applied = Applied::default();
    for edit in edits {
        if let Err(e) = apply_one(edit, &mut applied) {
            applied.rollback();
            return Err(e);
        }
    }
    Ok(applied)
}

fn apply_one(edit: &Edit, applied: &mut Applied) -> Result<(), EnvError> {
    let path = edit.path();
    let make_parent = |applied: &mut Applied| -> Result<(), EnvError> {
        if let Some(parent) = path.parent() {
            // 0755 whatever the umask: a umask of 000 must not make a world-writable directory.
            let made = os::create_dirs(parent, 0o755).map_err(io_err("create the directory of", path))?;
            applied.undo.extend(made.into_iter().map(Undo::RemoveDir));
        }
        Ok(())
    };
    match edit {
        Edit::Replace { contents, .. } => {
            make_parent(applied)?;
            match os::read_if_exists(path) {
                Ok(Some(old)) => applied.undo.push(Undo::Restore { path: path.into(), contents: old }),
                _ => applied.undo.push(Undo::Remove(path.into())),
            }
            os::write_atomic(path, contents.as_bytes(), Some(0o644)).map_err(io_err("write", path))?;
        }
        Edit::Append { text, .. } => {
            make_parent(applied)?;
            let mut f = os::open_append(path).map_err(io_err("open", path))?;
            let len = f.metadata().map_err(io_err("stat", path))?.len();
            applied.undo.push(if len == 0 {
                Undo::Remove(path.into())
            } else {
                Undo::Truncate { path: path.into(), len }
            });
            f.write_all(text.as_bytes()).map_err(io_err("append to", path))?;
            f.sync_all().map_err(io_err("sync", path))?;
        }
        Edit::Stored { store, value, .. } => {
            let before = read_stored(*store)?;
            applied.undo.push(Undo::Stored { store: *store, value: before });
            os::write_stored_path(*store, Some(value)).map_err(io_err("write", path))?;
        }
    }
    applied.written.push(path.into());
    Ok(())
}

/// The state of one file before [`apply`], kept in the install journal so that a crash after
/// the environment was written can still be undone by the next run.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Backup {
    pub path: PathBuf,
    /// Hex of the previous contents; `None` when the file did not exist.
    pub contents: Option<String>,
    /// Directories [`apply`] would create for it, outermost first.
    pub created_dirs: Vec<PathBuf>,
    /// For a store's `Path` (not a file): which store, and its previous value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stored: Option<StoredState>,
}

/// A store's `Path` (`None`: it has none): before [`apply`], or as uninstall leaves it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct StoredState {
    pub store: Store,
    pub value: Option<StoredValue>,
}

/// Records what `edits` are about to change.
pub fn backup(edits: &[Edit]) -> Result<Vec<Backup>, EnvError> {
    let mut backups = Vec::new();
    for edit in edits {
        let path = edit.path();
        if let Edit::Stored { store, .. } = edit {
            let stored = Some(StoredState { store: *store, value: read_stored(*store)? });
            backups.push(Backup { path: path.into(), contents: None, created_dirs: Vec::new(), stored });
            continue;
        }
        let contents = os::read_if_exists(path).map_err(io_err("read", path))?.map(hex::encode);
        let mut created_dirs = Vec::new();
        let mut dir = path.parent();
        while let Some(d) = dir.filter(|d| !d.as_os_str().is_empty() && std::fs::symlink_metadata(d).is_err()) {
            created_dirs.insert(0, d.to_path_buf());
            dir = d.parent();
        }
        backups.push(Backup { path: path.into(), contents, created_dirs, stored: None });
    }
    Ok(backups)
}

fn unhex(path: &Path, h: &str) -> Result<Vec<u8>, EnvError> {
    hex::decode(h).map_err(|e| EnvError::Corrupt { path: path.into(), problem: e.to_string() })
}

/// Puts every file of `backups` back as it was; idempotent, so it can run again after a crash.
/// A file the user appended to is truncated back in place (keeping its owner, mode and links);
/// a file that differs otherwise is rewritten whole.
pub fn restore(backups: &[Backup]) -> Result<(), EnvError> {
    for b in backups.iter().rev() {
        if let Some(s) = &b.stored {
            if read_stored(s.store)? != s.value {
                os::write_stored_path(s.store, s.value.as_ref()).map_err(io_err("restore", &b.path))?;
            }
            continue;
        }
        let current = os::read_if_exists(&b.path).map_err(io_err("read", &b.path))?;
        let previous = b.contents.as_deref().map(|h| unhex(&b.path, h)).transpose()?;
        match (previous, current) {
            (None, None) => {}
            (None, Some(_)) => std::fs::remove_file(&b.path).map_err(io_err("remove", &b.path))?,
            (Some(prev), Some(cur)) if prev == cur => {}
            (Some(prev), Some(cur)) if cur.starts_with(&prev) => {
                truncate(&b.path, prev.len() as u64).map_err(io_err("truncate", &b.path))?
            }
            (Some(prev), _) => os::write_atomic(&b.path, &prev, None).map_err(io_err("restore", &b.path))?,
        }
        for dir in b.created_dirs.iter().rev() {
            // Only what exists: apply may have stopped before creating it (and removing a
            // missing name on a read-only file system fails with EROFS, not ENOENT).
            if os::kind_of(dir).ok().flatten().map(|k| k.0) != Some(os::Kind::Dir) {
                continue;
            }
            match std::fs::remove_dir(dir) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                // Not empty: something else lives there now; it stays.
                Err(e) if e.kind() == std::io::ErrorKind::DirectoryNotEmpty => {}
                Err(e) => return Err(io_err("remove", dir)(e)),
            }
        }
    }
    Ok(())
}

/// How uninstall leaves one environment file.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Final {
    pub path: PathBuf,
    /// Hex of the new contents; `None` removes the file.
    pub contents: Option<String>,
    /// For a store's `Path` (not a file): its new value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stored: Option<StoredState>,
    /// Directories the install made for the file, outermost first: removed, innermost first,
    /// when the file is removed and they are left empty.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub remove_dirs: Vec<PathBuf>,
}

/// What uninstalling `records` does to each file, and the files kept because the user changed
/// them. Our scripts go when they are exactly as written, with the directories made for them
/// when left empty; our line leaves each rc file and every other byte of it stays (the newline
/// put before it goes too, when nothing follows). An rc file the install created goes when
/// nothing but our line was in it, so that HOME is left as it was before the install.
pub fn removal_plan(records: &[EnvRecord]) -> (Vec<Final>, Vec<String>) {
    let mut finals: Vec<Final> = Vec::new();
    let mut kept = Vec::new();
    for r in records {
        if let EnvRecord::PathEntry { path, store, entry, separator_added, created, was_plain } = r {
            // Entries of one store come out one after the other, from one value.
            let at = finals.iter().position(|f| f.stored.as_ref().is_some_and(|s| s.store == *store));
            let current = match at {
                Some(i) => finals[i].stored.as_ref().and_then(|s| s.value.clone()),
                None => os::read_stored_path(*store).ok().flatten(),
            };
            let Some(current) = current else { continue };
            let Some(data) = without_entry(&current.data, entry, *separator_added) else { continue };
            let value =
                (!(data.is_empty() && *created)).then_some(StoredValue { data, expand: current.expand && !*was_plain });
            let stored = Some(StoredState { store: *store, value });
            let f = Final { path: path.clone(), contents: None, stored, remove_dirs: Vec::new() };
            match at {
                Some(i) => finals[i] = f,
                None => finals.push(f),
            }
            continue;
        }
        let Ok(Some(bytes)) = os::read_if_exists(r.path()) else { continue };
        match r {
            EnvRecord::Script { path, sha256, created_dirs } => {
                if &sha256_hex(&bytes) == sha256 {
                    let remove_dirs = created_dirs.clone();
                    finals.push(Final { path: path.clone(), contents: None, stored: None, remove_dirs });
                } else {
                    kept.push(format!("{} (changed since it was written; remove it by hand)", path.display()));
                }
            }
            EnvRecord::Line { path, line, newline_added, created } => {
                if let Some(new) = without_line(&bytes, line, *newline_added) {
                    // Made for our line and holding nothing else: it goes, as it came.
                    let contents = (!(*created && new.is_empty())).then(|| hex::encode(new));
                    finals.push(Final { path: path.clone(), contents, stored: None, remove_dirs: Vec::new() });
                }
            }
            EnvRecord::PathEntry { .. } => {} // above
        }
    }
    (finals, kept)
}

/// `text` without the first line equal to `line`; `None` if there is none.
fn without_line(text: &[u8], line: &str, newline_added: bool) -> Option<Vec<u8>> {
    let mut start = 0;
    while start < text.len() {
        let end = text[start..].iter().position(|&b| b == b'\n').map_or(text.len(), |i| start + i + 1);
        let this = String::from_utf8_lossy(&text[start..end]);
        if this.trim_end() == line {
            let mut out = text[..start].to_vec();
            out.extend_from_slice(&text[end..]);
            if newline_added && end >= text.len() && out.ends_with(b"\n") {
                out.pop();
            }
            return Some(out);
        }
        start = end;
    }
    None
}

/// Applies uninstall's [`Final`]s; idempotent. A rewritten file keeps its mode; the directory of
/// the user env script goes when it is left empty.
pub fn apply_final(finals: &[Final]) -> Result<(), EnvError> {
    for f in finals {
        if let Some(s) = &f.stored {
            if read_stored(s.store)? != s.value {
                os::write_stored_path(s.store, s.value.as_ref()).map_err(io_err("rewrite", &f.path))?;
            }
            continue;
        }
        match &f.contents {
            None => {
                match std::fs::remove_file(&f.path) {
                    Ok(()) => {}
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                    Err(e) => return Err(io_err("remove", &f.path)(e)),
                }
                if let Some(dir) = f.path.parent().filter(|d| d.file_name().is_some_and(|n| n == "go-offline")) {
                    let _ = std::fs::remove_dir(dir); // only when empty: the modules script may live there
                }
                // Innermost first, each only when empty (another of our scripts, or the user's
                // files, may live there); one already gone is fine, as apply_final may run again.
                for dir in f.remove_dirs.iter().rev() {
                    let _ = std::fs::remove_dir(dir);
                }
            }
            Some(h) => {
                let new = unhex(&f.path, h)?;
                match os::read_if_exists(&f.path).map_err(io_err("read", &f.path))? {
                    Some(cur) if cur == new => {}
                    Some(_) => os::write_atomic(&f.path, &new, None).map_err(io_err("rewrite", &f.path))?,
                    None => {}
                }
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::os::shell::USER_GO_BIN;
    use std::fs::{self, OpenOptions};

    fn go(bin: &Path) -> Purpose<'_> {
        Purpose::Go { bin_dir: bin }
    }

    fn run_twice(scope: &Scope, bin: &Path) {
        let first = plan(scope, go(bin)).unwrap();
        assert!(!first.is_empty());
        apply(&first).unwrap();
        assert_eq!(plan(scope, go(bin)).unwrap(), vec![], "second plan must be empty");
    }

    /// `check_writable` refuses exactly what `apply` would fail on, with its error, and writes
    /// nothing. (Tests run as root, whom permissions do not stop: a file where a directory
    /// should be stops everyone.)
    #[test]
    fn check_writable_meets_the_error_apply_would() {
        let home = tempfile::tempdir().unwrap();
        let h = home.path();
        fs::write(h.join("file"), "not a directory").unwrap();
        fs::write(h.join(".bashrc"), "# mine\n").unwrap();
        let replace = |rel: &str| Edit::Replace { path: h.join(rel), contents: "script\n".into() };
        let append = |rel: &str| Edit::Append { path: h.join(rel), text: "line\n".into() };
        // (case, edit, whether it can be written)
        let cases = [
            ("a script in directories not made yet", replace(".config/go-offline/env"), true),
            ("a script under a file", replace("file/sub/env"), false),
            ("a script in place of a file's child", replace("file/env"), false),
            ("a line appended to an existing file", append(".bashrc"), true),
            ("a line in a file made for it", append(".profile"), true),
            ("a line in a file under a file", append("file/.profile"), false),
        ];
        for (name, edit, writable) in cases {
            let before = crate::os::walk(h).unwrap().into_iter().map(|f| (f.path, f.len)).collect::<Vec<_>>();
            let checked = check_writable(std::slice::from_ref(&edit)).map_err(|e| e.to_string());
            let after = crate::os::walk(h).unwrap().into_iter().map(|f| (f.path, f.len)).collect::<Vec<_>>();
            assert_eq!(before, after, "{name}: check_writable wrote");
            let applied = apply(std::slice::from_ref(&edit)).map(|_| ()).map_err(|e| e.to_string());
            assert_eq!(checked.is_ok(), writable, "{name}: {checked:?}");
            assert_eq!(checked.is_ok(), applied.is_ok(), "{name}: {checked:?} {applied:?}");
            // The same action on the same file, and the same cause (tempfile adds its own path).
            if let (Err(c), Err(a)) = (&checked, &applied) {
                assert!(a.starts_with(c.as_str()), "{name}: check_writable: {c}; apply: {a}");
            }
        }
    }

    #[test]
    fn user_edits_are_idempotent_and_keep_user_content() {
        let home = tempfile::tempdir().unwrap();
        fs::write(home.path().join(".bashrc"), "alias ll='ls -l'").unwrap(); // no final newline
        let scope = Scope::User { home: home.path().into(), shell: Some("/usr/bin/fish".into()) };
        run_twice(&scope, Path::new("/opt/it's here/go/bin"));
        let bashrc = fs::read_to_string(home.path().join(".bashrc")).unwrap();
        assert_eq!(bashrc, format!("alias ll='ls -l'\n{}\n", source_line()));
        assert!(home.path().join(".profile").exists());
        assert!(!home.path().join(".zshrc").exists(), "absent zshrc must not be created");
        assert!(home.path().join(".config/fish/conf.d/go-offline.fish").exists());
        let script = fs::read_to_string(shell::user_env_script(home.path())).unwrap();
        assert!(script.contains(r"_go_offline_root_bin='/opt/it'\''s here/go/bin'"), "{script}");
    }

    #[test]
    fn script_puts_dirs_on_path_once() {
        let dir = tempfile::tempdir().unwrap();
        let script = dir.path().join("env");
        fs::write(&script, shell::posix_script(Path::new("/x y/go/bin"))).unwrap();
        let out = std::process::Command::new("sh")
            .arg("-c")
            .arg(format!(". '{0}'; . '{0}'; printf %s \"$PATH\"", script.display()))
            .env("PATH", "/usr/bin:/bin")
            .env("HOME", "/home/u")
            .env_remove("GOPATH")
            .output()
            .unwrap();
        // PREFIX/bin (the toolchain links) right after PREFIX/go/bin, each once.
        assert_eq!(String::from_utf8_lossy(&out.stdout), "/x y/go/bin:/x y/bin:/usr/bin:/bin:/home/u/go/bin");
    }

    #[test]
    fn restore_from_backup_is_idempotent() {
        let home = tempfile::tempdir().unwrap();
        fs::write(home.path().join(".profile"), "user line\n").unwrap();
        fs::write(home.path().join(".bashrc"), "no newline").unwrap();
        let scope = Scope::User { home: home.path().into(), shell: None };
        let edits = plan(&scope, go(Path::new("/g/bin"))).unwrap();
        let backups = backup(&edits).unwrap();
        apply(&edits).unwrap();
        restore(&backups).unwrap();
        restore(&backups).unwrap();
        assert_eq!(fs::read_to_string(home.path().join(".profile")).unwrap(), "user line\n");
        assert_eq!(fs::read_to_string(home.path().join(".bashrc")).unwrap(), "no newline");
        assert!(!home.path().join(".config").exists());
        // Restoring before anything was applied changes nothing either.
        restore(&backups).unwrap();
        assert_eq!(fs::read_to_string(home.path().join(".profile")).unwrap(), "user line\n");
    }

    #[test]
    fn uninstall_removes_only_our_part() {
        let home = tempfile::tempdir().unwrap();
        let h = home.path();
        // (file, before install, user text appended after install)
        let cases =
            [(".profile", "user line\n", "export A=1\n"), (".bashrc", "no newline", ""), (".zshrc", "", "alias x=y\n")];
        for (name, before, _) in cases {
            fs::write(h.join(name), before).unwrap();
        }
        let scope = Scope::User { home: h.into(), shell: None };
        let bin = Path::new("/g/bin");
        let edits = plan(&scope, go(bin)).unwrap();
        let backups = backup(&edits).unwrap();
        apply(&edits).unwrap();
        let recs = records(&scope, go(bin), &edits, &backups);
        assert_eq!(recs.len(), 4, "{recs:?}");
        for (name, _, after) in cases {
            OpenOptions::new().append(true).open(h.join(name)).unwrap().write_all(after.as_bytes()).unwrap();
        }
        let (finals, kept) = removal_plan(&recs);
        assert!(kept.is_empty());
        apply_final(&finals).unwrap();
        apply_final(&finals).unwrap();
        for (name, before, after) in cases {
            assert_eq!(fs::read_to_string(h.join(name)).unwrap(), format!("{before}{after}"), "{name}");
        }
        assert!(!h.join(".config").join("go-offline").exists());
        // An edited script of ours stays.
        apply(&plan(&scope, go(bin)).unwrap()).unwrap();
        let recs = records(&scope, go(bin), &[], &[]);
        fs::write(shell::user_env_script(h), "edited").unwrap();
        let (_, kept) = removal_plan(&recs);
        assert_eq!(kept.len(), 1, "{kept:?}");
    }

    /// Every file and directory under `root` with its contents (`None` for a directory).
    fn contents_of(root: &Path) -> Vec<(PathBuf, Option<Vec<u8>>)> {
        let mut out = Vec::new();
        let mut dirs = vec![root.to_path_buf()];
        while let Some(dir) = dirs.pop() {
            for e in fs::read_dir(&dir).unwrap() {
                let path = e.unwrap().path();
                let rel = path.strip_prefix(root).unwrap().to_path_buf();
                if path.is_dir() {
                    out.push((rel, None));
                    dirs.push(path);
                } else {
                    out.push((rel, Some(fs::read(&path).unwrap())));
                }
            }
        }
        out.sort();
        out
    }

    /// `uninstall --all` leaves HOME as it was before the install, byte for byte: an rc file the
    /// install made for its line goes, and so do the directories made for our scripts; a file
    /// that was there keeps every byte (issue 30).
    #[test]
    fn uninstall_leaves_home_as_it_was_before_the_install() {
        // (case, the files in HOME before the install, the user's shell)
        type Files<'a> = &'a [(&'a str, &'a str)];
        let cases: &[(&str, Files, Option<&str>)] = &[
            ("an empty HOME", &[], None),
            ("an empty HOME, a fish user", &[], Some("/usr/bin/fish")),
            ("a .profile of the user's", &[(".profile", "export A=1\n")], None),
            ("rc files without a final newline", &[(".profile", "export A=1"), (".bashrc", "alias x=y")], None),
            ("an empty .profile of the user's", &[(".profile", "")], None),
            ("a .config of the user's, a fish user", &[(".config/app.conf", "x\n")], Some("fish")),
            ("a fish configuration of the user's", &[(".config/fish/config.fish", "set x 1\n")], None),
        ];
        for (name, files, shell) in cases {
            let home = tempfile::tempdir().unwrap();
            let h = home.path();
            for (rel, contents) in *files {
                fs::create_dir_all(h.join(rel).parent().unwrap()).unwrap();
                fs::write(h.join(rel), contents).unwrap();
            }
            let before = contents_of(h);
            let scope = Scope::User { home: h.into(), shell: shell.map(String::from) };
            let bin = Path::new("/g/bin");
            let edits = plan(&scope, go(bin)).unwrap();
            let backups = backup(&edits).unwrap();
            apply(&edits).unwrap();
            assert_ne!(contents_of(h), before, "{name}: the install wrote nothing");
            let recs = records(&scope, go(bin), &edits, &backups);
            let (finals, kept) = removal_plan(&recs);
            assert!(kept.is_empty(), "{name}: {kept:?}");
            apply_final(&finals).unwrap();
            apply_final(&finals).unwrap();
            assert_eq!(contents_of(h), before, "{name}");
        }
    }

    #[test]
    fn rollback_restores_everything() {
        let home = tempfile::tempdir().unwrap();
        fs::write(home.path().join(".profile"), "user line\n").unwrap();
        let scope = Scope::User { home: home.path().into(), shell: None };
        let applied = apply(&plan(&scope, go(Path::new("/g/bin"))).unwrap()).unwrap();
        applied.rollback();
        assert_eq!(fs::read_to_string(home.path().join(".profile")).unwrap(), "user line\n");
        assert!(!home.path().join(".config").exists());
    }

    /// The templates give exactly the scripts this release writes, so an upgrade rewrites none.
    /// (Changed once, deliberately: PREFIX/bin, the toolchain links, joined PATH; an install by
    /// this release rewrites an earlier release's script once, under the journal.)
    #[test]
    fn scripts_are_the_ones_released() {
        let sh = shell::posix_script(Path::new("/usr/local/go/bin"));
        assert!(sh.starts_with("# Written by go-offline-installer: puts Go on PATH."), "{sh}");
        assert!(
            sh.contains("_go_offline_root_bin='/usr/local/go/bin'\n_go_offline_toolchains='/usr/local/bin'\ncase \":${PATH}:\" in\n"),
            "{sh}"
        );
        assert!(sh.contains("\"${_go_offline_gopath%%:*}/bin\""), "{sh}");
        let fish = shell::fish_script(Path::new("/g/go/bin"));
        assert!(
            fish.contains(
                "if not contains -- '/g/bin' $PATH\n    set -gx PATH '/g/bin' $PATH\nend\nif not contains -- '/g/go/bin' $PATH\n    set -gx PATH '/g/go/bin' $PATH\nend\n"
            ),
            "{fish}"
        );
        let m = modules_script(Path::new("/usr/local/go-modules"), None);
        assert!(m.contains("    off) export GOPROXY='file:///usr/local/go-modules' ;;\n"), "{m}");
        let key = "sumdb.example.org+12345678+AQ==";
        let m = modules_script(Path::new("/usr/local/go-modules"), Some(key));
        assert!(
            m.contains("        export GOPROXY='file:///usr/local/go-modules'\n        case \"${GOSUMDB:-}\" in\n            '') export GOSUMDB='sumdb.example.org+12345678+AQ==' ;;\n"),
            "{m}"
        );
    }

    /// One script serves every prefix: one this installer wrote for another prefix is refused
    /// (naming that prefix), never taken over; anything else at that name (ours for this prefix,
    /// an earlier release's, one edited by hand) is as before.
    #[test]
    fn a_script_of_another_prefix_is_refused() {
        let ours = Path::new("/opt/b/go/bin");
        let other = Path::new("/opt/it's a/go/bin");
        let modules_dir = Path::new("/opt/b/go-modules");
        let taken = |p: &str| Some(PathBuf::from(p));
        // (case, what is at the script's name, its purpose, the other prefix refused or None, edits)
        type Case<'a> = (&'a str, Option<String>, Purpose<'a>, Option<PathBuf>, usize);
        let cases: Vec<Case> = vec![
            ("no script yet", None, go(ours), None, 1),
            ("ours already", Some(shell::posix_script(ours)), go(ours), None, 0),
            ("another prefix's", Some(shell::posix_script(other)), go(ours), taken("/opt/it's a"), 0),
            ("another prefix's, edited", Some(shell::posix_script(other) + "# mine\n"), go(ours), None, 1),
            (
                "an earlier release's",
                Some("# Written by go-offline-installer\nPATH=/opt/a/go/bin:$PATH\n".into()),
                go(ours),
                None,
                1,
            ),
            ("someone else's", Some("export PATH=/usr/lib/go/bin:$PATH\n".into()), go(ours), None, 1),
            (
                "another prefix's module bundle",
                Some(shell::modules_script(Path::new("/opt/a/go-modules"), None)),
                Purpose::Modules { proxy_dir: modules_dir, sumdb: None },
                taken("/opt/a"),
                0,
            ),
            (
                "ours, module bundle",
                Some(shell::modules_script(modules_dir, None)),
                Purpose::Modules { proxy_dir: modules_dir, sumdb: None },
                None,
                0,
            ),
            (
                "another prefix's module bundle with a checksum database",
                Some(shell::modules_script(Path::new("/opt/a/go-modules"), Some("db.example.org+01234567+AQ=="))),
                Purpose::Modules { proxy_dir: modules_dir, sumdb: Some("db.example.org+01234567+AQ==") },
                taken("/opt/a"),
                0,
            ),
            (
                "ours, module bundle, now with a checksum database",
                Some(shell::modules_script(modules_dir, None)),
                Purpose::Modules { proxy_dir: modules_dir, sumdb: Some("db.example.org+01234567+AQ==") },
                None,
                1,
            ),
        ];
        for (case, existing, purpose, refused, n_edits) in cases {
            let dir = tempfile::tempdir().unwrap();
            let scope = Scope::System { profile_d: dir.path().into() };
            let name = match purpose {
                Purpose::Go { .. } => "go.sh",
                Purpose::Modules { .. } => "go-modules.sh",
            };
            if let Some(text) = &existing {
                fs::write(dir.path().join(name), text).unwrap();
            }
            match (plan(&scope, purpose), refused) {
                (Err(EnvError::OtherPrefix { path, other }), Some(want)) => {
                    assert_eq!((path, other), (dir.path().join(name), want), "{case}")
                }
                (Ok(edits), None) => assert_eq!(edits.len(), n_edits, "{case}: {edits:?}"),
                (got, want) => panic!("{case}: got {got:?}, want the refusal of {want:?}"),
            }
        }
        // A user's env script and fish script are shared by the prefixes of that user alike.
        let home = tempfile::tempdir().unwrap();
        let scope = Scope::User { home: home.path().into(), shell: Some("/usr/bin/fish".into()) };
        apply(&plan(&scope, go(other)).unwrap()).unwrap();
        assert!(
            matches!(plan(&scope, go(ours)), Err(EnvError::OtherPrefix { other, .. }) if other == Path::new("/opt/it's a"))
        );
        fs::remove_file(shell::user_env_script(home.path())).unwrap();
        let fish = home.path().join(".config/fish/conf.d/go-offline.fish");
        assert!(matches!(plan(&scope, go(ours)), Err(EnvError::OtherPrefix { path, .. }) if path == fish));
    }

    /// The registry's `Path` edits, as data: appended once (in any case, with or without a
    /// trailing `\`), and taken out exactly, `;` included, whatever came before.
    #[test]
    fn path_entries_are_added_once_and_removed_exactly() {
        let x = r"C:\Go Offline\go\bin";
        // (the value before, what adding x gives, whether a ';' was put before it)
        let cases = [
            ("", r"C:\Go Offline\go\bin", false),
            (r"C:\Windows", r"C:\Windows;C:\Go Offline\go\bin", true),
            (r"C:\Windows;", r"C:\Windows;C:\Go Offline\go\bin", false),
            (r"%SystemRoot%;;C:\x", r"%SystemRoot%;;C:\x;C:\Go Offline\go\bin", true),
        ];
        for (before, want, sep) in cases {
            let (after, added) = with_entry(before, x);
            assert_eq!((after.as_str(), added), (want, sep), "{before:?}");
            assert!(has_entry(&after, x) && !has_entry(before, x));
            assert_eq!(without_entry(&after, x, added).as_deref(), Some(before), "{before:?}");
            // Two entries, taken out in either order.
            let (two, second) = with_entry(&after, USER_GO_BIN);
            let first_out = without_entry(&two, x, added).unwrap();
            assert_eq!(without_entry(&first_out, USER_GO_BIN, second).as_deref(), Some(before), "{before:?}");
            let second_out = without_entry(&two, USER_GO_BIN, second).unwrap();
            assert_eq!(without_entry(&second_out, x, added).as_deref(), Some(before), "{before:?}");
        }
        assert!(has_entry(r"c:\go offline\GO\bin\;C:\y", x), "Windows paths compare without case");
        assert_eq!(without_entry(r"C:\a;C:\b", x, true), None, "an entry not there changes nothing");
    }
}
