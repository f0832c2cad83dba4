//! `build --base`: a delta installer, which carries only what changed since a base version.
//!
//! The base (a Go tarball, zip or GOROOT of the base version, given the same `go.env` as the new
//! tree; or a full installer of it, whose signature must be the signing key's) is read as the
//! installer would have installed it. Every entry of the new tree identical in the base is left
//! out; a changed file is carried as a patch against the base's file of the same path (level
//! and long-distance matching as `--patch-from`, `crate::pack::compress_patch`, window `2^(⌊log2 max(old, new)⌋ + 1)` capped
//! at 2^27), or whole when there is no such file, the patch would be larger, or the window would
//! exceed the cap; an executable whose base file is one for the same machine is patched through
//! the payload's filter for it (`format::delta::Data::Patch`); a file whose bytes are the base's
//! but whose mode changed costs no payload. The
//! manifest's [`format::delta::Delta`] names both trees by the digest of their entry lists (see
//! `format::delta`), and every patch is decoded back before anything is written.
//!
//! A delta more than [`WORTH`] of the full installer's size (as across minor versions) is
//! refused unless asked for (`--force-delta`): the full installer is then the better buy.

use std::{
    collections::BTreeMap,
    fs::File,
    io::Read,
    path::{Path, PathBuf},
    sync::{
        atomic::{AtomicUsize, Ordering},
        Mutex,
    },
};

use ed25519_dalek::VerifyingKey;
use format::{
    delta::PatchCodec,
    delta::{self, Change, Data, Delta, TreeRef},
    keys::{self, TrustStore, TrustedKey},
    manifest::{Entry, Manifest, MAX_WINDOW_LOG},
    payload::{self, Sink},
};

use crate::{
    build::{check_build_output, identify, prepare, BuildOptions, Prepared},
    error::BuildError,
    go_env::offline_go_env,
    pack::{compress_patch, entry_of, pack, patch_window_log, payload_filter, Compression, ESTIMATE_LEVEL},
    seal::{seal_checked, BuildSummary, Seal, Sealing},
    source::{self, Node, Tree},
};

/// A delta larger than this fraction of the full installer is not worth it: refused unless asked.
pub const WORTH: f64 = 0.5;

/// Options of [`build_delta`] beyond those of a full build.
#[derive(Debug, Clone)]
pub struct DeltaOptions {
    /// The base: a Go tarball, zip or GOROOT of the base version, or a full installer of it.
    pub base: PathBuf,
    /// The size of the full installer of the new version, when it was built already (else it is
    /// estimated by compressing the tree at [`ESTIMATE_LEVEL`], which overstates it).
    pub full_len: Option<u64>,
    /// Write the delta even when it is not worth it.
    pub force: bool,
}

/// What [`build_delta`] produced.
#[derive(Debug, Clone, serde::Serialize)]
pub struct DeltaSummary {
    #[serde(flatten)]
    pub build: BuildSummary,
    /// What the delta applies to and carries, as `inspect` shows it.
    #[serde(flatten)]
    pub delta: format::delta::Summary,
    /// What the payload carries for the changed files (patches and whole files), unpacked.
    pub carried_bytes: u64,
    /// The full installer's size: as built (`--full`) or estimated.
    pub full_len: u64,
    pub full_len_estimated: bool,
    /// The delta's size over the full installer's.
    pub ratio: f64,
}

/// Builds the delta installer from the base `d.base` to the distribution of `opts`. An empty
/// `opts.output`, or a directory, gets the delta's release name (here, or in that directory).
pub fn build_delta(opts: &BuildOptions, d: &DeltaOptions, seal_with: Seal) -> Result<DeltaSummary, BuildError> {
    let Prepared { tree, mut manifest, stub, overrides } = prepare(opts)?;
    let (base, base_version) = read_base(&d.base, &overrides, seal_with.public_key(), &manifest)?;
    let mut output = opts.output.clone();
    if output.as_os_str().is_empty() || output.is_dir() {
        output.push(delta::delta_installer_name(&base_version, &manifest.go_version, &manifest.goos, &manifest.goarch));
    }
    check_build_output(&output, opts, &stub, &[&d.base], seal_with)?;
    let new_entries: Vec<Entry> = tree.nodes.iter().map(|(p, n)| entry_of(p, n)).collect();
    let base_entries: Vec<Entry> = base.nodes.iter().map(|(p, n)| entry_of(p, n)).collect();
    let diff = diff(&tree, &new_entries, &base, &base_entries, opts.level)?;
    let full_len = match d.full_len {
        Some(len) => len,
        None => {
            let fast = Compression { level: ESTIMATE_LEVEL, threads: opts.threads, frames: 1 };
            stub.bytes.len() as u64 + pack(&tree, 0, fast)?.bytes.len() as u64
        }
    };
    let made = Delta {
        base: TreeRef::of(&base_version, &base_entries),
        tree: TreeRef::of(&manifest.go_version, &new_entries),
        changes: diff.changes.clone(),
        removed: diff.removed.clone(),
    };
    let facts = made.summary();
    manifest.delta = Some(made);
    let summary = |build: BuildSummary| DeltaSummary {
        ratio: build.installer_len as f64 / full_len.max(1) as f64,
        build,
        delta: facts,
        carried_bytes: diff.carried.nodes.values().map(Node::len).sum(),
        full_len,
        full_len_estimated: d.full_len.is_none(),
    };
    let worth = |len: u64| -> Result<(), BuildError> {
        let ratio = len as f64 / full_len.max(1) as f64;
        if ratio > WORTH && !d.force {
            return Err(BuildError::NotWorthIt {
                delta_len: len,
                full_len,
                estimated: d.full_len.is_none(),
                percent: (ratio * 100.0).round() as u32,
            });
        }
        Ok(())
    };
    let compression = Compression { level: opts.level, threads: opts.threads, frames: 1 };
    let build = seal_checked(
        manifest,
        Sealing { tree: &diff.carried, stub: &stub, seal_with, compression, output: &output },
        &worth,
    )?;
    Ok(summary(build))
}

/// Reads the base as the installer would have installed it, with its Go version; refuses a base
/// for another platform, of the same version, or that is itself a delta.
fn read_base(
    path: &Path,
    overrides: &BTreeMap<String, String>,
    key: &VerifyingKey,
    new: &Manifest,
) -> Result<(Tree, String), BuildError> {
    let mut magic = [0u8; 4];
    let n = File::open(path).and_then(|mut f| f.read(&mut magic)).unwrap_or(0);
    let is_program = magic[..n].starts_with(b"\x7fELF") || magic[..n].starts_with(b"MZ");
    let (tree, version, goos, goarch) = if is_program {
        read_installer(path, key)?
    } else {
        let (mut tree, _) = source::read(path)?;
        let dist = identify(&tree, path)?;
        offline_go_env(&mut tree, overrides);
        (tree, dist.go_version, dist.goos.to_string(), dist.goarch.to_string())
    };
    let bad = |problem: String| BuildError::Source { path: path.into(), problem };
    if (goos.as_str(), goarch.as_str()) != (new.goos.as_str(), new.goarch.as_str()) {
        return Err(bad(format!(
            "is {version} {goos}/{goarch}, but the new Go is {} {}/{}: a delta's base is the same platform",
            new.go_version, new.goos, new.goarch
        )));
    }
    if version == new.go_version {
        return Err(bad(format!("is {version}, the version of the new Go itself: give the base version's")));
    }
    Ok((tree, version))
}

/// A full installer as a base: verified against the signing key, its payload read into a tree.
fn read_installer(path: &Path, key: &VerifyingKey) -> Result<(Tree, String, String, String), BuildError> {
    let file = File::open(path).map_err(|e| BuildError::io("open the base installer", path, e))?;
    let id = keys::key_id(key);
    let trust = TrustStore::from_keys(vec![TrustedKey { id: id.clone(), key: *key, origin: "the signing key".into() }]);
    let installer = format::verify::verify(&file, path, &trust).map_err(|e| match e {
        format::Error::Untrusted { key_id, .. } => BuildError::Mismatch(format!(
            "the base installer '{}' is signed by {key_id}, not by the signing key {id}: give the base as its Go tarball or GOROOT, or sign the delta with that key",
            path.display()
        )),
        e => BuildError::Installer(e),
    })?;
    let m = installer.manifest();
    if m.delta.is_some() || m.modules.is_some() {
        return Err(BuildError::Source {
            path: path.into(),
            problem: "is not a full Go installer (a delta or a module bundle): give the base's full installer, tarball or GOROOT".into(),
        });
    }
    let collect = Collect { nodes: Mutex::new(BTreeMap::new()) };
    payload::walk(&installer, &file, &collect, &|_| {})?;
    let nodes = collect.nodes.into_inner().unwrap_or_else(|p| p.into_inner());
    Ok((Tree { nodes, newest_mtime: m.created }, m.go_version.clone(), m.goos.clone(), m.goarch.clone()))
}

/// A payload sink that keeps the tree in memory.
struct Collect {
    nodes: Mutex<BTreeMap<String, Node>>,
}

impl Collect {
    fn put(&self, path: &str, node: Node) {
        self.nodes.lock().unwrap_or_else(|p| p.into_inner()).insert(path.into(), node);
    }
}

impl Sink for Collect {
    type Error = format::Error;
    type File = Vec<u8>;
    fn make_dir(&self, e: &Entry) -> Result<(), format::Error> {
        self.put(&e.path, Node::Dir);
        Ok(())
    }
    fn symlink(&self, e: &Entry) -> Result<(), format::Error> {
        self.put(&e.path, Node::Symlink { target: e.target.clone().unwrap_or_default() });
        Ok(())
    }
    fn create_file(&self, e: &Entry) -> Result<Vec<u8>, format::Error> {
        Ok(Vec::with_capacity(e.size.unwrap_or(0).min(1 << 28) as usize))
    }
    fn write(&self, file: &mut Vec<u8>, _: &Entry, data: &[u8]) -> Result<(), format::Error> {
        file.extend_from_slice(data);
        Ok(())
    }
    fn close_file(&self, data: Vec<u8>, e: &Entry) -> Result<(), format::Error> {
        self.put(&e.path, Node::File { mode: e.mode, data });
        Ok(())
    }
    fn finish_dir(&self, _: &Entry) -> Result<(), format::Error> {
        Ok(())
    }
}

/// How the new tree differs from the base.
struct Diff {
    changes: Vec<Change>,
    removed: Vec<String>,
    /// What the payload carries: whole files and patches, each at its path.
    carried: Tree,
}

/// Compares the trees (with their entries, in the same order as their nodes: each file is
/// hashed once) and encodes the patches (on every core, one file each).
fn diff(
    new: &Tree,
    new_entries: &[Entry],
    base: &Tree,
    base_entries: &[Entry],
    level: i32,
) -> Result<Diff, BuildError> {
    let old_entries: BTreeMap<&str, &Entry> = base_entries.iter().map(|e| (e.path.as_str(), e)).collect();
    let mut changes = Vec::new();
    let mut patch_jobs: Vec<(usize, &[u8], &[u8])> = Vec::new();
    for ((path, node), entry) in new.nodes.iter().zip(new_entries) {
        if old_entries.get(path.as_str()) == Some(&entry) {
            continue;
        }
        let entry = entry.clone();
        let old = base.nodes.get(path);
        let data = match (node, old) {
            (Node::File { data, .. }, Some(Node::File { data: was, .. })) if data == was => Data::Base,
            (Node::File { data, .. }, Some(Node::File { data: was, .. })) => {
                patch_jobs.push((changes.len(), was, data));
                Data::Whole // until its patch is made
            }
            (Node::File { .. }, _) => Data::Whole,
            _ => Data::Entry,
        };
        changes.push(Change { entry, data });
    }
    let removed = base.nodes.keys().filter(|p| !new.nodes.contains_key(*p)).cloned().collect();
    let patches = encode_all(&patch_jobs, level)?;
    let mut carried = Tree { nodes: BTreeMap::new(), newest_mtime: new.newest_mtime };
    for (i, (patch, PatchCodec { window_log, filter })) in patches {
        changes[i].data = Data::Patch { window_log, filter };
        carried.nodes.insert(changes[i].entry.path.clone(), Node::File { mode: changes[i].entry.mode, data: patch });
    }
    for c in changes.iter().filter(|c| c.data == Data::Whole) {
        if let Some(Node::File { mode, data }) = new.nodes.get(&c.entry.path) {
            carried.nodes.insert(c.entry.path.clone(), Node::File { mode: *mode, data: data.clone() });
        }
    }
    Ok(Diff { changes, removed, carried })
}

/// Encodes every `(change, base bytes, new bytes)` job, as many at once as there are cores (at
/// most four: each holds a level-19 encoder's tables); keeps the patches that are smaller than
/// their file, by change index.
fn encode_all(jobs: &[(usize, &[u8], &[u8])], level: i32) -> Result<Vec<(usize, Patch)>, BuildError> {
    let threads = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1).clamp(1, 4).min(jobs.len());
    let next = AtomicUsize::new(0);
    type Made = Result<Option<Patch>, BuildError>;
    let results: Mutex<Vec<(usize, Made)>> = Mutex::new(Vec::new());
    let work = || loop {
        let i = next.fetch_add(1, Ordering::Relaxed);
        let Some(&(change, reference, data)) = jobs.get(i) else { break };
        let patch = encode_patch(reference, data, level);
        results.lock().unwrap_or_else(|p| p.into_inner()).push((change, patch));
    };
    std::thread::scope(|s| {
        for _ in 0..threads {
            s.spawn(work);
        }
    });
    let mut out = Vec::new();
    for (change, patch) in results.into_inner().unwrap_or_else(|p| p.into_inner()) {
        if let Some(p) = patch? {
            out.push((change, p));
        }
    }
    out.sort_by_key(|(i, _)| *i);
    Ok(out)
}

/// A patch and how it decodes.
type Patch = (Vec<u8>, PatchCodec);

/// `data` as a patch against `reference` ([`compress_patch`]), decoded back to prove it; `None`
/// when the window would exceed [`MAX_WINDOW_LOG`] or the patch is no smaller than the file. An
/// executable whose base is one of the same machine is patched filtered ([`Data::Patch`]): both
/// through the payload's filter for it, so that code that moved patches small.
fn encode_patch(reference: &[u8], data: &[u8], level: i32) -> Result<Option<Patch>, BuildError> {
    let window_log = patch_window_log(reference.len(), data.len());
    if window_log > MAX_WINDOW_LOG {
        return Ok(None);
    }
    let zio = BuildError::Compress;
    let filter = payload_filter(data).filter(|&f| payload_filter(reference) == Some(f));
    let patch = compress_patch(reference, data, filter, level, window_log).map_err(zio)?;
    if patch.len() >= data.len() {
        return Ok(None);
    }
    let codec = PatchCodec { window_log, filter };
    let mut back = Vec::with_capacity(data.len());
    delta::apply_patch(reference, &patch, codec, data.len() as u64, &mut back).map_err(zio)?;
    if back != data {
        return Err(BuildError::Compress(std::io::Error::other("a patch does not decode to its file (this is a bug)")));
    }
    Ok(Some((patch, codec)))
}

impl Node {
    /// Bytes of a file (0 for the others).
    fn len(&self) -> u64 {
        match self {
            Node::File { data, .. } => data.len() as u64,
            _ => 0,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tree(files: &[(&str, &[u8], u32)]) -> Tree {
        let mut nodes = BTreeMap::new();
        nodes.insert("bin".to_string(), Node::Dir);
        for (p, d, mode) in files {
            nodes.insert(p.to_string(), Node::File { mode: *mode, data: d.to_vec() });
        }
        Tree { nodes, newest_mtime: 0 }
    }

    #[test]
    fn diff_carries_only_what_changed() {
        let big: Vec<u8> = (0..100_000u32).flat_map(|i| (i.wrapping_mul(2654435761)).to_le_bytes()).collect();
        let mut changed = big.clone();
        changed[500..600].fill(7);
        let base = tree(&[
            ("VERSION", b"go1.27.2", 0o644),
            ("bin/go", &big, 0o755),
            ("same", b"s", 0o644),
            ("moded", b"m", 0o644),
            ("gone", b"g", 0o644),
        ]);
        let new = tree(&[
            ("VERSION", b"go1.27.3", 0o644),
            ("bin/go", &changed, 0o755),
            ("same", b"s", 0o644),
            ("moded", b"m", 0o755),
            ("added", b"a", 0o644),
        ]);
        let entries = |t: &Tree| t.nodes.iter().map(|(p, n)| entry_of(p, n)).collect::<Vec<_>>();
        let d = diff(&new, &entries(&new), &base, &entries(&base), 3).unwrap();
        let how: Vec<(&str, Data)> = d.changes.iter().map(|c| (c.entry.path.as_str(), c.data)).collect();
        assert_eq!(
            how,
            [
                ("VERSION", Data::Whole),
                ("added", Data::Whole),
                ("bin/go", Data::Patch { window_log: 19, filter: None }),
                ("moded", Data::Base)
            ]
        );
        assert_eq!(d.removed, ["gone"]);
        let carried: Vec<&String> = d.carried.nodes.keys().collect();
        assert_eq!(carried, ["VERSION", "added", "bin/go"]);
        assert!(d.carried.nodes["bin/go"].len() < 1000, "a 100-byte change patches small");
    }
}
