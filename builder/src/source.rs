//! Reading a Go distribution: an official `go*.tar.gz`, an official Windows `go*.zip`, or a
//! GOROOT directory.
//!
//! Both become the same [`Tree`]: entries keyed by their path relative to GOROOT, sorted, with
//! normalised modes (0755 for directories and executables, 0644 for other files), so the same
//! distribution gives the same tree however it arrived. Only files, directories and relative
//! symlinks that stay inside the tree are accepted; anything else is refused with the path named.

use std::{
    collections::BTreeMap,
    fs::{self, File},
    io::{self, Read},
    os::unix::fs::PermissionsExt,
    path::{Path, PathBuf},
};

use format::manifest::{check_link_target, validate_path};
use sha2::{Digest, Sha256};

use crate::error::BuildError;

/// One entry of a Go tree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Node {
    File { mode: u32, data: Vec<u8> },
    Dir,
    Symlink { target: String },
}

/// A Go distribution in memory, keyed by path relative to GOROOT (sorted by bytes).
#[derive(Debug, Default)]
pub struct Tree {
    pub nodes: BTreeMap<String, Node>,
    /// Newest modification time seen, used as the build time when SOURCE_DATE_EPOCH is unset.
    pub newest_mtime: u64,
}

/// Where the tree came from.
#[derive(Debug, Clone)]
pub struct SourceInfo {
    pub kind: SourceKind,
    pub name: String,
    pub sha256: Option<String>,
}

/// What a distribution was read from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SourceKind {
    /// A `.tar.gz` file (`"tarball"` in the manifest).
    Tarball,
    /// A `.zip` file, as Go ships for Windows (`"zip"`).
    Zip,
    /// A GOROOT directory (`"directory"`).
    Directory,
    /// A module cache, for a module bundle (`"modules"`).
    Modules,
}

impl SourceKind {
    /// The name in the manifest's `source.kind`.
    pub fn name(self) -> &'static str {
        match self {
            SourceKind::Tarball => "tarball",
            SourceKind::Zip => "zip",
            SourceKind::Directory => "directory",
            SourceKind::Modules => "modules",
        }
    }
}

/// Reads a distribution from a `.tar.gz` or `.zip` file (told apart by their first bytes, not
/// their names) or a directory.
pub fn read(path: &Path) -> Result<(Tree, SourceInfo), BuildError> {
    let meta = fs::metadata(path).map_err(|e| BuildError::io("read the Go distribution", path, e))?;
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    if meta.is_dir() {
        let tree = read_dir_tree(path)?;
        Ok((tree, SourceInfo { kind: SourceKind::Directory, name, sha256: None }))
    } else {
        let sha256 = {
            let f = File::open(path).map_err(|e| BuildError::io("open", path, e))?;
            format::verify::sha256_reader(f).map_err(|e| BuildError::io("read", path, e))?
        };
        let mut magic = Vec::with_capacity(4);
        File::open(path)
            .and_then(|f| f.take(4).read_to_end(&mut magic))
            .map_err(|e| BuildError::io("read", path, e))?;
        let (tree, kind) = match magic.as_slice() {
            [b'P', b'K', 3, 4] => (read_zip(path)?, SourceKind::Zip),
            [0x1f, 0x8b, ..] => (read_tarball(path)?, SourceKind::Tarball),
            _ => return Err(not_a_release(path, "it is neither gzip nor zip")),
        };
        Ok((tree, SourceInfo { kind, name, sha256: Some(sha256) }))
    }
}

/// What a file given as a Go distribution is refused with when it is not one: `why`, and what
/// was expected.
fn not_a_release(path: &Path, why: &str) -> BuildError {
    BuildError::Source {
        path: path.into(),
        problem: format!(
            "is not a Go release ({why}): expected an official go*.tar.gz (or go*.zip for Windows) from https://go.dev/dl/, or a GOROOT directory"
        ),
    }
}

fn normal_mode(mode: u32) -> u32 {
    if mode & 0o111 != 0 {
        0o755
    } else {
        0o644
    }
}

impl Tree {
    fn insert(&mut self, path: String, node: Node, origin: &Path) -> Result<(), BuildError> {
        validate_path(&path).map_err(|problem| BuildError::Source { path: origin.join(&path), problem })?;
        if let Node::Symlink { target } = &node {
            check_link_target(&path, target).map_err(|problem| BuildError::Source {
                path: origin.join(&path),
                problem: format!("{problem}; only relative links inside the Go tree are allowed"),
            })?;
        }
        // Parents that the source did not list (official tarballs list no directories).
        let mut parent = path.as_str();
        while let Some((p, _)) = parent.rsplit_once('/') {
            match self.nodes.get(p) {
                Some(Node::Dir) => break,
                Some(_) => {
                    return Err(BuildError::Source {
                        path: origin.join(&path),
                        problem: format!("its parent '{p}' is not a directory"),
                    })
                }
                None => {
                    self.nodes.insert(p.to_string(), Node::Dir);
                }
            }
            parent = p;
        }
        match (self.nodes.get(&path), &node) {
            (None, _) | (Some(Node::Dir), Node::Dir) => {
                self.nodes.insert(path, node);
                Ok(())
            }
            _ => Err(BuildError::Source { path: origin.join(&path), problem: "appears twice".into() }),
        }
    }

    /// Contents of a file in the tree.
    pub fn file(&self, path: &str) -> Option<&[u8]> {
        match self.nodes.get(path) {
            Some(Node::File { data, .. }) => Some(data),
            _ => None,
        }
    }
}

/// Reads an official tarball: every entry under a single top-level `go/`.
/// An official Go `.zip` (Windows): entries under one top-level `go/`, files and directories
/// only (a zip records no symlinks Go ships); modes are normalised as for a tarball.
fn read_zip(path: &Path) -> Result<Tree, BuildError> {
    let f = File::open(path).map_err(|e| BuildError::io("open", path, e))?;
    let bad_zip = |e: zip::result::ZipError| BuildError::Source {
        path: path.into(),
        problem: format!("is not a readable zip ({e})"),
    };
    let mut archive = zip::ZipArchive::new(io::BufReader::new(f)).map_err(bad_zip)?;
    let mut tree = Tree::default();
    let bad = |p: &str, problem: String| BuildError::Source { path: path.join(p), problem };
    for i in 0..archive.len() {
        let mut entry = archive.by_index(i).map_err(bad_zip)?;
        let name = entry.name().to_string();
        if entry.is_symlink() {
            return Err(bad(&name, "is a symlink: an official Go zip has none".into()));
        }
        if let Some(t) = entry.last_modified() {
            // A zip's timestamps are civil time, taken as UTC.
            let mtime = format::date::unix_from_civil(t.year(), t.month(), t.day(), t.hour(), t.minute(), t.second());
            tree.newest_mtime = tree.newest_mtime.max(mtime);
        }
        let trimmed = name.trim_end_matches('/');
        let rel = match trimmed.strip_prefix("go") {
            Some("") => continue,
            Some(rest) if rest.starts_with('/') => rest[1..].to_string(),
            _ => return Err(bad(&name, "is not under the top-level 'go/' directory: not an official Go zip".into())),
        };
        let node = if entry.is_dir() {
            Node::Dir
        } else {
            let mut data = Vec::with_capacity(entry.size().min(1 << 30) as usize);
            entry.read_to_end(&mut data).map_err(|e| BuildError::io("read zip", path, e))?;
            Node::File { mode: normal_mode(entry.unix_mode().unwrap_or(0o644)), data }
        };
        tree.insert(rel, node, Path::new("go"))?;
    }
    Ok(tree)
}

fn read_tarball(path: &Path) -> Result<Tree, BuildError> {
    let f = File::open(path).map_err(|e| BuildError::io("open", path, e))?;
    let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(io::BufReader::new(f)));
    let mut tree = Tree::default();
    let bad = |p: &str, problem: String| BuildError::Source { path: path.join(p), problem };
    // Past the gzip magic, what does not decode is a damaged or foreign file, not a Go release.
    let unreadable = |e: io::Error| not_a_release(path, &format!("not a readable gzip-compressed tar: {e}"));
    let entries = archive.entries().map_err(unreadable)?;
    for entry in entries {
        let mut entry = entry.map_err(unreadable)?;
        let raw = entry.path_bytes().into_owned();
        let name = String::from_utf8(raw).map_err(|_| bad("?", "entry name is not UTF-8".into()))?;
        let header = entry.header();
        let mtime = header.mtime().unwrap_or(0);
        tree.newest_mtime = tree.newest_mtime.max(mtime);
        let kind = header.entry_type();
        let mode = header.mode().unwrap_or(0o644);
        let trimmed = name.trim_end_matches('/');
        let rel = match trimmed.strip_prefix("go") {
            Some("") => continue, // the top-level go/ itself
            Some(rest) if rest.starts_with('/') => rest[1..].to_string(),
            _ => {
                return Err(bad(&name, "is not under the top-level 'go/' directory: not an official Go tarball".into()))
            }
        };
        let node = match kind {
            tar::EntryType::Regular | tar::EntryType::Continuous => {
                let mut data = Vec::with_capacity(header.size().unwrap_or(0) as usize);
                entry.read_to_end(&mut data).map_err(unreadable)?;
                Node::File { mode: normal_mode(mode), data }
            }
            tar::EntryType::Directory => Node::Dir,
            tar::EntryType::Symlink => {
                let target = entry
                    .link_name_bytes()
                    .map(|t| String::from_utf8_lossy(&t).into_owned())
                    .ok_or_else(|| bad(&name, "symlink without a target".into()))?;
                Node::Symlink { target }
            }
            tar::EntryType::XGlobalHeader | tar::EntryType::XHeader => continue,
            other => {
                return Err(bad(&name, format!("has type {other:?}; only files, directories and symlinks are allowed")))
            }
        };
        tree.insert(rel, node, Path::new("go"))?;
    }
    Ok(tree)
}

/// Reads a GOROOT directory. Symlinks are kept as links (never followed).
fn read_dir_tree(root: &Path) -> Result<Tree, BuildError> {
    let mut tree = Tree::default();
    let mut stack: Vec<PathBuf> = vec![PathBuf::new()];
    while let Some(rel_dir) = stack.pop() {
        let dir = root.join(&rel_dir);
        let mut names: Vec<_> = fs::read_dir(&dir)
            .map_err(|e| BuildError::io("read directory", &dir, e))?
            .map(|e| e.map(|e| e.file_name()))
            .collect::<Result<_, _>>()
            .map_err(|e| BuildError::io("read directory", &dir, e))?;
        names.sort();
        for name in names {
            let rel = rel_dir.join(&name);
            let full = root.join(&rel);
            let rel_str = rel
                .to_str()
                .ok_or_else(|| BuildError::Source { path: full.clone(), problem: "name is not UTF-8".into() })?
                .to_string();
            let meta = fs::symlink_metadata(&full).map_err(|e| BuildError::io("inspect", &full, e))?;
            if let Ok(modified) = meta.modified() {
                let secs = modified.duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
                tree.newest_mtime = tree.newest_mtime.max(secs);
            }
            let ft = meta.file_type();
            let node = if ft.is_symlink() {
                let target = fs::read_link(&full).map_err(|e| BuildError::io("read link", &full, e))?;
                let target = target
                    .to_str()
                    .ok_or_else(|| BuildError::Source {
                        path: full.clone(),
                        problem: "link target is not UTF-8".into(),
                    })?
                    .to_string();
                Node::Symlink { target }
            } else if ft.is_dir() {
                stack.push(rel.clone());
                Node::Dir
            } else if ft.is_file() {
                let data = fs::read(&full).map_err(|e| BuildError::io("read", &full, e))?;
                Node::File { mode: normal_mode(meta.permissions().mode()), data }
            } else {
                return Err(BuildError::Source {
                    path: full,
                    problem: "is a device, FIFO or socket; only files, directories and symlinks are allowed".into(),
                });
            };
            tree.insert(rel_str, node, root)?;
        }
    }
    Ok(tree)
}

/// sha256 of bytes as lowercase hex.
pub fn sha256_hex(data: &[u8]) -> String {
    hex::encode(Sha256::digest(data))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A file that is not a Go release is refused as one, naming the file and what was expected,
    /// with the input-error exit code; never with a decoder's bare "unexpected end of file".
    #[test]
    fn files_that_are_not_go_releases_are_refused_as_such() {
        let gzip = |data: &[u8]| {
            let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
            io::Write::write_all(&mut gz, data).unwrap();
            gz.finish().unwrap()
        };
        let full = {
            let mut tar = tar::Builder::new(Vec::new());
            let data: Vec<u8> = (0..64 * 1024u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8).collect();
            let mut header = tar::Header::new_gnu();
            header.set_size(data.len() as u64);
            header.set_mode(0o644);
            header.set_cksum();
            tar.append_data(&mut header, "go/VERSION", data.as_slice()).unwrap();
            gzip(&tar.into_inner().unwrap())
        };
        let cases: &[(&str, Vec<u8>, &str)] = &[
            ("notes.txt", b"these are my notes\n".to_vec(), "neither gzip nor zip"),
            ("empty.tar.gz", Vec::new(), "neither gzip nor zip"),
            ("one-byte", vec![0x1f], "neither gzip nor zip"),
            ("text.gz", gzip(b"these are my notes\n"), "not a readable gzip-compressed tar"),
            ("truncated.tar.gz", full[..full.len() / 2].to_vec(), "not a readable gzip-compressed tar"),
        ];
        let d = tempfile::tempdir().unwrap();
        for (name, bytes, why) in cases {
            let path = d.path().join(name);
            fs::write(&path, bytes).unwrap();
            let e = read(&path).unwrap_err();
            let message = e.to_string();
            assert_eq!(e.exit_code(), crate::exit::BAD_INPUT, "{name}: {message}");
            for said in [&path.display().to_string(), "is not a Go release", why, "expected an official go*.tar.gz"] {
                assert!(message.contains(said), "{name}: {message:?} lacks {said:?}");
            }
        }
    }

    #[test]
    fn directory_links_inside_kept_outside_refused() {
        let d = tempfile::tempdir().unwrap();
        let root = d.path().join("go");
        fs::create_dir_all(root.join("bin")).unwrap();
        fs::write(root.join("bin/go"), b"x").unwrap();
        fs::set_permissions(root.join("bin/go"), fs::Permissions::from_mode(0o775)).unwrap();
        std::os::unix::fs::symlink("bin/go", root.join("gobin")).unwrap();
        let tree = read_dir_tree(&root).unwrap();
        assert_eq!(tree.nodes.get("gobin"), Some(&Node::Symlink { target: "bin/go".into() }));
        assert_eq!(tree.nodes.get("bin/go"), Some(&Node::File { mode: 0o755, data: b"x".to_vec() }));
        for outside in ["../x", "/etc/passwd", "bin/../../y"] {
            let link = root.join("escape");
            let _ = fs::remove_file(&link);
            std::os::unix::fs::symlink(outside, &link).unwrap();
            let err = read_dir_tree(&root).unwrap_err().to_string();
            assert!(err.contains("leaves the tree") || err.contains("absolute"), "{outside}: {err}");
        }
    }
}
