//! Trees on disk against their lists of entries: what `verify-installed` reports, what adoption
//! and module bundles record.

use std::{
    collections::BTreeMap,
    fs::File,
    path::Path,
    sync::atomic::{AtomicUsize, Ordering},
};

use format::manifest::{Entry, EntryType};
use serde::Serialize;

use crate::{error::Error, os};

/// What differs about one entry, as `rpm -V` tells it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Problem {
    Size,
    Mode,
    Digest,
    Link,
    Type,
    Missing,
    Extra,
}

/// One difference between a tree and its receipt.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Difference {
    /// Path under the prefix.
    pub path: String,
    /// rpm -V style: `S` size, `M` mode, `5` digest, `L` link target, `T` type, `.` when that
    /// one matches; or `missing`, `extra`.
    pub flags: String,
    pub problems: Vec<Problem>,
}

impl Difference {
    /// A difference of the given problems, its flags derived from them.
    pub fn new(path: String, problems: Vec<Problem>) -> Difference {
        Difference { path, flags: flags(&problems), problems }
    }
}

/// `S.5..`: one column per check, as rpm -V prints them; `missing` or `extra` alone.
fn flags(problems: &[Problem]) -> String {
    match problems {
        [Problem::Missing] => return "missing".into(),
        [Problem::Extra] => return "extra".into(),
        _ => {}
    }
    [(Problem::Size, 'S'), (Problem::Mode, 'M'), (Problem::Digest, '5'), (Problem::Link, 'L'), (Problem::Type, 'T')]
        .iter()
        .map(|(p, c)| if problems.contains(p) { *c } else { '.' })
        .collect()
}

/// Compares the tree at `root` with `files`: every listed entry's type, size, mode, digest and
/// link target, and every entry found that is not listed. `tree` names it in the report.
///
/// The tree is listed once, never following links, into listed directories only (the top of an
/// unlisted subtree is one extra entry; what is below it is not read; a listed entry under a
/// directory that became a link or a file is missing); then the listed files are hashed.
pub fn diff_tree(root: &Path, tree: &str, files: &[Entry]) -> Result<Vec<Difference>, Error> {
    let shown = |rel: &str| if rel.is_empty() { tree.to_string() } else { format!("{tree}/{rel}") };
    if os::tree_id(root).is_none() {
        return Ok(vec![Difference::new(shown(""), vec![Problem::Missing])]);
    }
    let listed = entries_by_path(files);
    let listed_dir = |path: &str| listed.get(path).is_some_and(|l| l.kind == EntryType::Dir);
    let found = os::walk_where(root, &listed_dir).map_err(|e| Error::io("list", root, e))?;
    // Inserted one by one, as in `entries_by_path`.
    let mut by_path = BTreeMap::new();
    for f in &found {
        by_path.insert(f.path.as_str(), f);
    }
    let mut out: Vec<Difference> = listed_problems(root, files, &by_path)?
        .into_iter()
        .map(|(i, problems)| Difference::new(shown(&files[i].path), problems))
        .collect();
    for f in found.iter().filter(|f| !listed.contains_key(f.path.as_str())) {
        out.push(Difference::new(shown(&f.path), vec![Problem::Extra]));
    }
    Ok(out)
}

/// `files` by path. Inserted one by one rather than collected: `collect` into a map sorts the
/// pairs first, and that sort is compiled into the stub once per key and value type (about
/// 3.5 KB each); a tree's few thousand inserts take a millisecond or two.
fn entries_by_path(files: &[Entry]) -> BTreeMap<&str, &Entry> {
    let mut by_path = BTreeMap::new();
    for e in files {
        by_path.insert(e.path.as_str(), e);
    }
    by_path
}

/// Entries with problems, by index.
type Found = Vec<(usize, Vec<Problem>)>;

/// The problems of every listed entry that has any, by index in `files`, in order, against what
/// the walk `found`. The files are hashed on up to four threads, each taking the next entry.
fn listed_problems(root: &Path, files: &[Entry], found: &BTreeMap<&str, &os::Found>) -> Result<Found, Error> {
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get()).clamp(1, 4);
    let next = AtomicUsize::new(0);
    let work = || -> Result<Found, Error> {
        let mut problems_of = Vec::new();
        loop {
            let i = next.fetch_add(1, Ordering::Relaxed);
            let Some(e) = files.get(i) else { return Ok(problems_of) };
            let problems = match found.get(e.path.as_str()) {
                None => vec![Problem::Missing],
                Some(f) => entry_problems(e, &root.join(&e.path), f.kind, f.mode, f.len)?,
            };
            if !problems.is_empty() {
                problems_of.push((i, problems));
            }
        }
    };
    let parts: Vec<Result<Found, Error>> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads).map(|_| s.spawn(work)).collect();
        handles.into_iter().map(|h| h.join().unwrap_or_else(|p| std::panic::resume_unwind(p))).collect()
    });
    let mut all = Vec::new();
    for part in parts {
        all.extend(part?);
    }
    all.sort_by_key(|(i, _)| *i);
    Ok(all)
}

/// What differs between a listed entry and what is at its path.
fn entry_problems(e: &Entry, p: &Path, kind: os::Kind, mode: u32, len: u64) -> Result<Vec<Problem>, Error> {
    let mut problems = Vec::new();
    match (e.kind, kind) {
        (EntryType::File, os::Kind::File) => {
            if len != e.size.unwrap_or(0) {
                problems.extend([Problem::Size, Problem::Digest]);
            } else if Some(sha256_file(p)?) != e.sha256 {
                problems.push(Problem::Digest);
            }
            if os::KEEPS_MODES && mode != e.mode {
                problems.push(Problem::Mode);
            }
        }
        (EntryType::Dir, os::Kind::Dir) => {
            if os::KEEPS_MODES && mode != e.mode {
                problems.push(Problem::Mode);
            }
        }
        (EntryType::Symlink, os::Kind::Symlink) => {
            if os::link_target(p).as_deref() != e.target.as_deref() {
                problems.push(Problem::Link);
            }
        }
        _ => problems.push(Problem::Type),
    }
    Ok(problems)
}

/// The entries of the tree at `root` that `files` does not list: the top of each unlisted
/// subtree (what is below it is not read), never through a link, with a name that is UTF-8
/// (others are not moved or named). What an install keeps when it replaces a tree: files a user
/// put there, or left by `uninstall`, are moved beside the new tree, to the same place under
/// `PREFIX/go-VERSION.kept` (see `prefix::KEPT_SUFFIX`), so that the tree put in place is exactly
/// the release. `/`-separated paths relative to `root`, sorted.
pub fn unlisted(root: &Path, files: &[Entry]) -> Result<Vec<String>, Error> {
    let listed = entries_by_path(files);
    let listed_dir = |path: &str| listed.get(path).is_some_and(|l| l.kind == EntryType::Dir);
    let found = os::walk_where(root, &listed_dir).map_err(|e| Error::io("list", root, e))?;
    let mut out: Vec<String> = found
        .into_iter()
        .filter(|f| !listed.contains_key(f.path.as_str()))
        .filter(|f| f.full.file_name().and_then(|n| n.to_str()).is_some())
        .map(|f| f.path)
        .collect();
    out.sort();
    Ok(out)
}

/// Whether the directory at `root` holds a Go tree (a `VERSION` file or `bin/go`), rather than
/// only files a user left there. Never follows a link.
pub fn is_go_tree(root: &Path) -> bool {
    ["VERSION", "bin/go", "bin/go.exe"].iter().any(|p| root.join(p).symlink_metadata().is_ok())
}

/// The sha256 of a file, as hex.
pub fn sha256_file(p: &Path) -> Result<String, Error> {
    File::open(p).and_then(format::verify::sha256_reader).map_err(|e| Error::io("read", p, e))
}

/// The entries of a tree as found (for adopting a plain tree, and for module bundles): parents
/// before children, files with size, mode and digest, symlinks with their targets. Other kinds,
/// and names that are not UTF-8, are left out (and so show as extra in verify-installed).
pub fn scan_tree(root: &Path) -> Result<Vec<Entry>, Error> {
    let found = os::walk(root).map_err(|e| Error::io("list", root, e))?;
    let mut out = Vec::with_capacity(found.len());
    for f in found {
        if f.full.file_name().and_then(|n| n.to_str()).is_none() {
            continue;
        }
        match f.kind {
            os::Kind::Dir => out.push(Entry::dir(f.path, f.mode)),
            os::Kind::File => out.push(Entry::file(f.path, f.mode, f.len, sha256_file(&f.full)?)),
            os::Kind::Symlink => {
                let target = os::link_target(&f.full).unwrap_or_default();
                out.push(Entry::symlink(f.path, target));
            }
            os::Kind::Other => {}
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::{fs, os::unix::fs::PermissionsExt};

    #[test]
    fn drift_of_every_kind_is_reported() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("go-1.0.0");
        fs::create_dir_all(root.join("bin")).unwrap();
        fs::write(root.join("bin/go"), "binary").unwrap();
        fs::write(root.join("VERSION"), "go1.0.0\n").unwrap();
        fs::write(root.join("README"), "read me").unwrap();
        std::os::unix::fs::symlink("bin/go", root.join("link")).unwrap();
        let files = scan_tree(&root).unwrap();
        let paths: Vec<&str> = files.iter().map(|e| e.path.as_str()).collect();
        assert_eq!(paths, ["README", "VERSION", "bin", "bin/go", "link"]);
        assert!(diff_tree(&root, "go-1.0.0", &files).unwrap().is_empty());

        fs::write(root.join("bin/go"), "binarY").unwrap(); // same size, other bytes
        fs::write(root.join("VERSION"), "go1.0.0-edited\n").unwrap();
        fs::set_permissions(root.join("README"), fs::Permissions::from_mode(0o600)).unwrap();
        fs::remove_file(root.join("link")).unwrap();
        std::os::unix::fs::symlink("VERSION", root.join("link")).unwrap();
        fs::write(root.join("bin/extra"), "").unwrap();
        fs::create_dir_all(root.join("new/deeper")).unwrap();
        let got: Vec<(String, String)> =
            diff_tree(&root, "go-1.0.0", &files).unwrap().into_iter().map(|d| (d.path, d.flags)).collect();
        let want = [
            ("go-1.0.0/README", ".M..."),
            ("go-1.0.0/VERSION", "S.5.."),
            ("go-1.0.0/bin/go", "..5.."),
            ("go-1.0.0/link", "...L."),
            ("go-1.0.0/bin/extra", "extra"),
            ("go-1.0.0/new", "extra"),
        ];
        assert_eq!(got, want.map(|(a, b)| (a.to_string(), b.to_string())));
        fs::remove_file(root.join("README")).unwrap();
        let got = diff_tree(&root, "go-1.0.0", &files).unwrap();
        assert!(got.iter().any(|d| d.path == "go-1.0.0/README" && d.flags == "missing"));
        // What an install keeps: the extra entries, a directory whole; a listed entry of
        // another type (the link) is not the user's, the release replaces it.
        assert_eq!(unlisted(&root, &files).unwrap(), ["bin/extra", "new"]);
        assert!(is_go_tree(&root));
        fs::remove_file(root.join("VERSION")).unwrap();
        fs::remove_dir_all(root.join("bin")).unwrap();
        assert!(!is_go_tree(&root), "only what a user left");
    }
}
