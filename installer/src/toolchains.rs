//! Toolchain links: `PREFIX/bin/go1.27.3` for every installed version, so that a go.mod asking
//! for a newer Go than the active one is built by an installed one, never a downloaded one.
//!
//! The signed `go.env` sets `GOTOOLCHAIN=local+path`: the go command runs itself unless the
//! main module's `go` or `toolchain` line asks for a newer Go, and then runs the executable of
//! that exact name found on PATH (`go1.27.3`; a `go 1.27` line asks for `go1.27.0`), or fails
//! with its own message (`go: cannot find "go1.28.0" in PATH`). It never downloads.
//!
//! ```text
//! PREFIX/bin/
//!   go1.27.3 -> ../go-1.27.3/bin/go     every installed version, under its own name
//!   go1.26.6 -> ../go-1.26.6/bin/go
//!   go1.27.0, go1.27.1, go1.27.2        shims: `go 1.27` in a go.mod asks for go1.27.0; any
//!                                       go1.27.x at least that new does, and the newest
//!                                       installed answers
//! ```
//!
//! A shim is a short sh script that runs the newest installed patch release of that language
//! version as the local toolchain (the go command that switched to it expects the exact version
//! it asked for, so the shim answers that hand-over itself). Names of versions that are
//! installed are links to them, never shims.
//!
//! Everything here is derived from the receipts: [`sync`] makes `PREFIX/bin` match them, and is
//! idempotent. It runs at every commit (after the receipts are written, also when recovery
//! finishes an interrupted command), so a crash at any point leaves links that the next run
//! puts right. **Invariant:** only links and shims this module made are ever changed or removed
//! (a symlink to `../go-*/bin/go`, a file starting with [`shell::SHIM_HEADER`]); anything else under a
//! name it wants is left alone and reported. [`Layout::Tree`] (Windows) has none: a link there
//! needs rights, and a copy of `go.exe` would not find its GOROOT.

use std::{collections::BTreeMap, fs, io::ErrorKind, path::PathBuf};

use crate::{
    os::{self, shell},
    prefix::{is_tree_name, tree_name, Layout, Prefix},
    receipt::Receipt,
    tree::{Difference, Problem},
};

/// The directory under the prefix that holds the toolchain links.
pub const BIN: &str = "bin";

/// The oldest Go whose go command switches toolchains (`go 1.21` and later lines).
const FIRST_SWITCHING_MINOR: u32 = 21;

/// What one name in `PREFIX/bin` should be.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Toolchain {
    /// A symlink to the tree's `bin/go` (the version of that name).
    Link { tree: String },
    /// A shim running the tree's go (the newest installed patch release of that language version).
    Shim { tree: String },
}

/// `PREFIX/bin`.
pub fn dir(prefix: &Prefix) -> PathBuf {
    prefix.join(BIN)
}

/// `1.27.3` of `go1.27.3` as numbers; `None` for other versions (release candidates, say).
fn release(go_version: &str) -> Option<(u32, u32, u32)> {
    let mut it = go_version.strip_prefix("go")?.split('.');
    let v = (it.next()?.parse().ok()?, it.next()?.parse().ok()?, it.next()?.parse().ok()?);
    it.next().is_none().then_some(v)
}

/// The names `PREFIX/bin` should hold for these installed versions.
pub fn wanted(versions: &[&str]) -> BTreeMap<String, Toolchain> {
    let mut want = BTreeMap::new();
    let mut newest: BTreeMap<(u32, u32), u32> = BTreeMap::new();
    for v in versions {
        if !is_tree_name(&tree_name(v)) {
            continue;
        }
        want.insert(v.to_string(), Toolchain::Link { tree: tree_name(v) });
        if let Some((major, minor, patch)) = release(v) {
            let n = newest.entry((major, minor)).or_insert(patch);
            *n = (*n).max(patch);
        }
    }
    for ((major, minor), patch) in newest {
        if major != 1 || minor < FIRST_SWITCHING_MINOR {
            continue;
        }
        let tree = tree_name(&format!("go{major}.{minor}.{patch}"));
        for p in 0..patch {
            want.entry(format!("go{major}.{minor}.{p}")).or_insert_with(|| Toolchain::Shim { tree: tree.clone() });
        }
    }
    want
}

/// [`wanted`] for the versions these receipts describe.
fn wanted_by(receipts: &[Receipt]) -> BTreeMap<String, Toolchain> {
    wanted(&receipts.iter().map(|r| r.go_version.as_str()).collect::<Vec<_>>())
}

/// What is at `PREFIX/bin/name` now, if it is ours.
fn ours(prefix: &Prefix, name: &str) -> Option<Toolchain> {
    let path = dir(prefix).join(name);
    if let Some(t) = os::link_target(&path) {
        let tree = shell::toolchain_link_tree(&t)?;
        return is_tree_name(tree).then(|| Toolchain::Link { tree: tree.to_string() });
    }
    let text = os::read_if_exists(&path).ok().flatten()?;
    let text = String::from_utf8(text).ok()?;
    let tree = shell::shim_tree(&text)?;
    is_tree_name(tree).then(|| Toolchain::Shim { tree: tree.to_string() })
}

/// Whether `name` is one [`sync`] may manage: `go1.` and a version.
fn is_toolchain_name(name: &str) -> bool {
    name.strip_prefix("go1.")
        .is_some_and(|rest| !rest.is_empty() && rest.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'.'))
}

/// Makes `PREFIX/bin` hold exactly the toolchain links and shims of these receipts' versions
/// (nothing else there is touched). Returns what it had to leave, as warnings: a name taken by
/// a file that is not ours, or a link it could not write (the next command tries again).
pub fn sync(prefix: &Prefix, receipts: &[Receipt]) -> Vec<String> {
    if prefix.layout() == Layout::Tree {
        return Vec::new();
    }
    let want = wanted_by(receipts);
    let bin = dir(prefix);
    let mut warnings = Vec::new();
    let present: Vec<String> = match fs::read_dir(&bin) {
        Ok(list) => list.flatten().filter_map(|e| e.file_name().to_str().map(str::to_string)).collect(),
        Err(e) if e.kind() == ErrorKind::NotFound => Vec::new(),
        Err(e) => return vec![format!("cannot list {}: {e}; the toolchain links are not updated", bin.display())],
    };
    for name in present.iter().filter(|n| is_toolchain_name(n)) {
        let Some(have) = ours(prefix, name) else { continue };
        if want.get(name) != Some(&have) {
            if let Err(e) = fs::remove_file(bin.join(name)) {
                warnings.push(format!("cannot remove {}: {e}", bin.join(name).display()));
            }
        }
    }
    if !want.is_empty() {
        if let Err(e) = os::create_dirs(&bin, 0o755) {
            return vec![format!(
                "cannot create {}: {e}; go.mod files cannot select the installed versions",
                bin.display()
            )];
        }
    }
    for (name, t) in &want {
        let path = bin.join(name);
        match ours(prefix, name) {
            Some(have) if &have == t => continue,
            None if os::kind_of(&path).ok().flatten().is_some() => {
                warnings.push(format!(
                    "{} is not one of ours; it is left alone (a go.mod asking for {name} runs it)",
                    path.display()
                ));
                continue;
            }
            _ => {}
        }
        let done = match t {
            Toolchain::Link { tree } => os::switch_link(&bin, name, Some(&shell::toolchain_link(tree))),
            Toolchain::Shim { tree } => {
                let go = prefix.join(tree).join("bin").join("go");
                os::write_atomic(&path, shell::toolchain_shim(&go, name, tree).as_bytes(), Some(0o755))
            }
        };
        if let Err(e) = done {
            warnings.push(format!("cannot write {}: {e}; the next command tries again", path.display()));
        }
    }
    if want.is_empty() {
        // Gone with the last version, when nothing else is in it.
        let _ = fs::remove_dir(&bin);
    }
    warnings
}

/// The names of the toolchain links and shims of ours in `PREFIX/bin` (what `status` shows).
pub fn present(prefix: &Prefix) -> Vec<(String, Toolchain)> {
    let Ok(list) = fs::read_dir(dir(prefix)) else { return Vec::new() };
    let mut v: Vec<(String, Toolchain)> = list
        .flatten()
        .filter_map(|e| e.file_name().to_str().map(str::to_string))
        .filter(|n| is_toolchain_name(n))
        .filter_map(|n| ours(prefix, &n).map(|t| (n, t)))
        .collect();
    v.sort();
    v
}

/// Differences of `PREFIX/bin` from what the receipts want (`verify-installed`).
pub fn differences(prefix: &Prefix, receipts: &[Receipt]) -> Vec<Difference> {
    if prefix.layout() == Layout::Tree {
        return Vec::new();
    }
    let want = wanted_by(receipts);
    let shown = |name: &str| format!("{BIN}/{name}");
    let mut out = Vec::new();
    for (name, t) in &want {
        match ours(prefix, name) {
            Some(have) if &have == t => {}
            Some(_) => out.push(Difference::new(shown(name), vec![Problem::Link])),
            None if os::kind_of(&dir(prefix).join(name)).ok().flatten().is_some() => {
                out.push(Difference::new(shown(name), vec![Problem::Type]))
            }
            None => out.push(Difference::new(shown(name), vec![Problem::Missing])),
        }
    }
    for (name, _) in present(prefix) {
        if !want.contains_key(&name) {
            out.push(Difference::new(shown(&name), vec![Problem::Extra]));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wanted_links_every_version_and_shims_the_lower_patch_releases() {
        // (installed versions, the names wanted and what each is)
        type Case<'a> = (&'a [&'a str], &'a [(&'a str, &'a str)]);
        let cases: &[Case] = &[
            (&[], &[]),
            (&["go1.27.0"], &[("go1.27.0", "link go-1.27.0")]),
            (
                &["go1.26.6", "go1.27.3"],
                &[
                    ("go1.26.0", "shim go-1.26.6"),
                    ("go1.26.1", "shim go-1.26.6"),
                    ("go1.26.2", "shim go-1.26.6"),
                    ("go1.26.3", "shim go-1.26.6"),
                    ("go1.26.4", "shim go-1.26.6"),
                    ("go1.26.5", "shim go-1.26.6"),
                    ("go1.26.6", "link go-1.26.6"),
                    ("go1.27.0", "shim go-1.27.3"),
                    ("go1.27.1", "shim go-1.27.3"),
                    ("go1.27.2", "shim go-1.27.3"),
                    ("go1.27.3", "link go-1.27.3"),
                ],
            ),
            (
                &["go1.27.1", "go1.27.3"],
                &[
                    ("go1.27.0", "shim go-1.27.3"),
                    ("go1.27.1", "link go-1.27.1"),
                    ("go1.27.2", "shim go-1.27.3"),
                    ("go1.27.3", "link go-1.27.3"),
                ],
            ),
            // Before go1.21 the go command never switches: links only.
            (&["go1.19.8"], &[("go1.19.8", "link go-1.19.8")]),
            (&["go1.28rc1"], &[("go1.28rc1", "link go-1.28rc1")]),
        ];
        for (versions, expected) in cases {
            let got: Vec<(String, String)> = wanted(versions)
                .into_iter()
                .map(|(n, t)| {
                    let shown = match t {
                        Toolchain::Link { tree } => format!("link {tree}"),
                        Toolchain::Shim { tree } => format!("shim {tree}"),
                    };
                    (n, shown)
                })
                .collect();
            let expected: Vec<(String, String)> =
                expected.iter().map(|(a, b)| (a.to_string(), b.to_string())).collect();
            assert_eq!(got, expected, "{versions:?}");
        }
    }

    #[test]
    fn toolchain_names() {
        for (name, ok) in [
            ("go1.27.3", true),
            ("go1.28rc1", true),
            ("go", false),
            ("go1.", false),
            ("gofmt", false),
            ("go1.2 7", false),
        ] {
            assert_eq!(is_toolchain_name(name), ok, "{name}");
        }
    }
}
