//! A tree as the format lists it: its entries, the rules every entry list keeps (a manifest's, or
//! one rebuilt from a delta and its base), and the limits a reader holds them to.
//!
//! [`crate::manifest`] and [`crate::delta`] both build on this module, and it on neither.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

/// What an installer carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Product {
    /// A Go toolchain (`"go"`).
    Go,
    /// A module bundle (`"go-modules"`): Go modules in the module proxy layout, to install beside
    /// a Go.
    GoModules,
}

impl Product {
    /// The name in the manifest.
    pub fn name(self) -> &'static str {
        match self {
            Product::Go => "go",
            Product::GoModules => "go-modules",
        }
    }
}
/// Largest zstd window the installer will allocate (128 MiB, `--long=27`).
pub const MAX_WINDOW_LOG: u32 = 27;
/// Longest accepted path, and longest path component, in bytes.
pub const MAX_PATH_LEN: usize = 4096;
pub const MAX_NAME_LEN: usize = 255;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EntryType {
    File,
    Dir,
    Symlink,
}

/// One entry of the Go tree.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Entry {
    /// Relative path with `/` separators, no `.`/`..`, no leading or trailing `/`.
    pub path: String,
    #[serde(rename = "type")]
    pub kind: EntryType,
    /// Permission bits, 0..=0o777 (0o777 for symlinks).
    pub mode: u32,
    /// Files only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size: Option<u64>,
    /// Files only: lowercase hex sha256 of the contents.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sha256: Option<String>,
    /// Symlinks only: the relative link target.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
}

impl Entry {
    /// A regular file.
    pub fn file(path: String, mode: u32, size: u64, sha256: String) -> Entry {
        Entry { path, kind: EntryType::File, mode, size: Some(size), sha256: Some(sha256), target: None }
    }
    /// A directory.
    pub fn dir(path: String, mode: u32) -> Entry {
        Entry { path, kind: EntryType::Dir, mode, size: None, sha256: None, target: None }
    }
    /// A symbolic link.
    pub fn symlink(path: String, target: String) -> Entry {
        Entry { path, kind: EntryType::Symlink, mode: 0o777, size: None, sha256: None, target: Some(target) }
    }
}

/// A manifest that is malformed or fails the allow-list.
#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    #[error("manifest is not valid JSON for this format: {0}")]
    Json(#[from] serde_json::Error),
    #[error("the manifest region is damaged: {0}")]
    Region(String),
    #[error("manifest is not in canonical form (it was re-encoded or edited)")]
    NotCanonical,
    #[error("manifest field {field}: {problem}")]
    Field { field: &'static str, problem: String },
    #[error("manifest entry '{path}': {problem}")]
    Entry { path: String, problem: String },
}

pub(crate) fn field(field: &'static str, problem: impl Into<String>) -> ManifestError {
    ManifestError::Field { field, problem: problem.into() }
}

pub(crate) fn entry_err(path: &str, problem: impl Into<String>) -> ManifestError {
    ManifestError::Entry { path: path.escape_debug().to_string(), problem: problem.into() }
}

/// The rules of a whole tree's entry list (of a manifest, or rebuilt from a delta and its base):
/// each entry valid for its type, plain relative paths, each parent a directory listed earlier,
/// no name twice or twice but for case, symlinks that stay inside the tree and pass through no
/// other symlink, and the files a `product` needs. Returns the sum of the file sizes.
pub fn validate_tree(files: &[Entry], product: Product, goos: &str) -> Result<u64, ManifestError> {
    // Paths seen so far and their type: a parent must be a directory listed before its child.
    let mut seen: HashMap<&str, EntryType> = HashMap::with_capacity(files.len());
    // Paths folded to lower case: two names that differ only by case would overwrite each other
    // on a case-insensitive file system, so such a tree is refused wherever it is installed.
    let mut folded: HashMap<String, &str> = HashMap::with_capacity(files.len());
    let mut total: u64 = 0;
    for e in files {
        validate_path(&e.path).map_err(|p| entry_err(&e.path, p))?;
        if let Some((parent, _)) = e.path.rsplit_once('/') {
            match seen.get(parent) {
                Some(EntryType::Dir) => {}
                Some(_) => return Err(entry_err(&e.path, format!("parent '{parent}' is not a directory"))),
                None => return Err(entry_err(&e.path, format!("parent '{parent}' is not listed before it"))),
            }
        }
        if seen.insert(&e.path, e.kind).is_some() {
            return Err(entry_err(&e.path, "is listed twice"));
        }
        if let Some(other) = folded.insert(e.path.to_lowercase(), &e.path) {
            return Err(entry_err(
                &e.path,
                format!(
                    "differs only by case from '{}': such a tree cannot be installed on a case-insensitive file system (rename one of them in the source)",
                    other.escape_debug()
                ),
            ));
        }
        total = total.checked_add(validate_entry(e)?).ok_or_else(|| entry_err(&e.path, "sizes overflow"))?;
    }
    // A target read lexically stays inside the tree only if it passes through no symlink:
    // `up -> l/..` with `l -> ..` resolves above the root.
    for e in files.iter().filter(|e| e.kind == EntryType::Symlink) {
        let target = e.target.as_deref().unwrap_or_default();
        if let Some(via) = symlink_on_the_way(&e.path, target, &seen) {
            return Err(entry_err(&e.path, format!("symlink target '{target}' passes through the symlink '{via}'")));
        }
    }
    let required: &[&str] = match product {
        Product::Go if goos == "windows" => &["VERSION", "go.env", "bin/go.exe"],
        Product::Go => &["VERSION", "go.env", "bin/go"],
        Product::GoModules => &["go.sum"],
    };
    for &required in required {
        if seen.get(required) != Some(&EntryType::File) {
            return Err(entry_err(required, format!("is missing: not a {} installer", product.name())));
        }
    }
    Ok(total)
}

/// Checks one entry's fields for its type; returns a file's size (0 for the others).
pub(crate) fn validate_entry(e: &Entry) -> Result<u64, ManifestError> {
    match e.kind {
        EntryType::File => {
            let (Some(size), Some(digest), None) = (e.size, &e.sha256, &e.target) else {
                return Err(entry_err(&e.path, "a file needs size and sha256 and no target"));
            };
            if !is_sha256_hex(digest) {
                return Err(entry_err(&e.path, "sha256 is not a hex digest"));
            }
            if e.mode & !0o777 != 0 {
                return Err(entry_err(
                    &e.path,
                    format!("mode {:o} has bits beyond 0777 (setuid, setgid or sticky)", e.mode),
                ));
            }
            return Ok(size);
        }
        EntryType::Dir => {
            if e.size.is_some() || e.sha256.is_some() || e.target.is_some() {
                return Err(entry_err(&e.path, "a directory has no size, sha256 or target"));
            }
            if e.mode & !0o777 != 0 || e.mode & 0o700 != 0o700 {
                return Err(entry_err(&e.path, format!("directory mode {:o} is not allowed", e.mode)));
            }
        }
        EntryType::Symlink => {
            let (None, None, Some(target)) = (e.size, &e.sha256, &e.target) else {
                return Err(entry_err(&e.path, "a symlink needs a target and no size or sha256"));
            };
            if e.mode != 0o777 {
                return Err(entry_err(&e.path, "symlink mode must be 0777"));
            }
            check_link_target(&e.path, target).map_err(|p| entry_err(&e.path, p))?;
        }
    }
    Ok(0)
}

/// Checks one relative path against the allow-list; returns the problem.
pub fn validate_path(path: &str) -> Result<(), String> {
    if path.is_empty() {
        return Err("empty path".into());
    }
    if path.len() > MAX_PATH_LEN {
        return Err(format!("path is longer than {MAX_PATH_LEN} bytes"));
    }
    if path.starts_with('/') {
        return Err("absolute path".into());
    }
    if let Some(c) = path.chars().find(|c| c.is_control() || *c == '\\') {
        return Err(format!("contains the character {:?}", c));
    }
    for component in path.split('/') {
        match component {
            "" => return Err("empty path component (`//` or trailing `/`)".into()),
            "." | ".." => return Err(format!("contains a `{component}` component")),
            c if c.len() > MAX_NAME_LEN => return Err(format!("a component is longer than {MAX_NAME_LEN} bytes")),
            _ => {}
        }
    }
    Ok(())
}

/// Checks that a symlink at `path` pointing to `target` stays inside the tree, lexically.
pub fn check_link_target(path: &str, target: &str) -> Result<(), String> {
    if target.is_empty() || target.len() > MAX_PATH_LEN {
        return Err("symlink target is empty or too long".into());
    }
    if target.starts_with('/') {
        return Err(format!("symlink target '{target}' is absolute: it leaves the tree"));
    }
    if target.chars().any(|c| c.is_control() || c == '\\') {
        return Err("symlink target contains control characters or backslashes".into());
    }
    let mut depth: Vec<&str> = path.split('/').collect();
    depth.pop(); // the link's own name
    for component in target.split('/') {
        match component {
            "" | "." => {}
            ".." => {
                if depth.pop().is_none() {
                    return Err(format!("symlink target '{target}' leaves the tree"));
                }
            }
            c => depth.push(c),
        }
    }
    Ok(())
}

/// The first symlink of the tree that `target`, read from the link at `path`, goes through (a
/// component followed by more components), if any.
fn symlink_on_the_way(path: &str, target: &str, kinds: &HashMap<&str, EntryType>) -> Option<String> {
    let mut dir: Vec<&str> = path.split('/').collect();
    dir.pop();
    let components: Vec<&str> = target.split('/').collect();
    for (i, c) in components.iter().enumerate() {
        match *c {
            "" | "." => {}
            ".." => {
                dir.pop();
            }
            name => {
                dir.push(name);
                let joined = dir.join("/");
                if i + 1 < components.len() && kinds.get(joined.as_str()) == Some(&EntryType::Symlink) {
                    return Some(joined);
                }
            }
        }
    }
    None
}

/// `go1.N`, `go1.N.M`, optionally followed by `rcN` or `betaN`.
pub fn is_go_version(v: &str) -> bool {
    let Some(rest) = v.strip_prefix("go") else { return false };
    let (numbers, suffix) = match rest.find(|c: char| c.is_ascii_alphabetic()) {
        Some(i) => rest.split_at(i),
        None => (rest, ""),
    };
    let parts: Vec<&str> = numbers.split('.').collect();
    let numeric = |s: &str| !s.is_empty() && s.len() <= 6 && s.bytes().all(|b| b.is_ascii_digit());
    let suffix_ok = suffix.is_empty() || ["rc", "beta"].iter().any(|p| suffix.strip_prefix(p).is_some_and(numeric));
    (2..=3).contains(&parts.len()) && parts.iter().all(|p| numeric(p)) && suffix_ok
}

/// 64 lowercase hex digits.
pub fn is_sha256_hex(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths() {
        let ok = ["bin/go", "src/a b/ü.go", "x", "pkg/tool/linux_amd64/compile"];
        let bad =
            ["", "/etc/x", "////etc/x", "../x", "a/../b", "a/./b", "a//b", "a/", "a\\b", "a\0b", "a\nb", ".", ".."];
        for p in ok {
            assert_eq!(validate_path(p), Ok(()), "{p:?}");
        }
        for p in bad {
            assert!(validate_path(p).is_err(), "{p:?} was accepted");
        }
        assert!(validate_path(&"a/".repeat(3000)).is_err());
        assert!(validate_path(&"a".repeat(256)).is_err());
    }

    #[test]
    fn link_targets() {
        let cases = [
            ("a/b", "c", true),
            ("a/b", "../c", true),
            ("a/b/c", "../../d", true),
            ("a/b", "../../c", false),
            ("x", "..", false),
            ("a", "/etc", false),
            ("a/b", "./../../..", false),
            ("a/b", "c/../../..", false),
        ];
        for (path, target, ok) in cases {
            assert_eq!(check_link_target(path, target).is_ok(), ok, "{path} -> {target}");
        }
    }

    /// Found with the `manifest` fuzz target's symlink property: fuzz/regressions/manifest/symlink-through-symlink-escapes.
    #[test]
    fn link_targets_through_links() {
        let mut kinds = HashMap::new();
        kinds.insert("src", EntryType::Dir);
        kinds.insert("src/l", EntryType::Symlink);
        kinds.insert("src/f", EntryType::File);
        assert_eq!(symlink_on_the_way("up", "src/l/..", &kinds), Some("src/l".into()));
        assert_eq!(symlink_on_the_way("src/x", "l/", &kinds), Some("src/l".into()));
        assert_eq!(symlink_on_the_way("src/x", "./l/../f", &kinds), Some("src/l".into()));
        assert_eq!(symlink_on_the_way("up", "src/l", &kinds), None);
        assert_eq!(symlink_on_the_way("up", "src/f", &kinds), None);
        assert_eq!(symlink_on_the_way("src/x", "../src/f", &kinds), None);
    }
}
