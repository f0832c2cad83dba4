//! Delta installers: a Go tree carried as its differences from a base tree installed before.
//!
//! A delta is an installer whose manifest has a [`Delta`]: the base it applies to and the tree
//! it makes, each named by version, entry count and [`tree_digest`] (the sha256 of the canonical
//! JSON of its entry list in path order, the entries exactly as a full installer's manifest lists
//! them), and every entry of
//! the new tree that is not identical in the base ([`Change`]), with where its bytes come from
//! ([`Data`]), and the base's paths the new tree does not have. The manifest's `files` list only
//! what the payload carries: whole files, and patches (zstd frames whose reference is the base's
//! file of the same path, as `zstd --patch-from` makes them), each with its own sha256, so the
//! payload walk checks them as it checks any file.
//!
//! The installer rebuilds the new tree's entry list from the base's and the delta ([`rebuild`]):
//! the base's must hash to the signed base digest, the result to the signed tree digest, so the
//! tree it installs is listed, file by file, exactly as the full installer's manifest lists it.
//!
//! **Invariant: a delta installs only onto the base it names, proven by digest, and what it
//! makes is checked against the digest of the full tree's entry list before anything is
//! switched.**

use std::{
    collections::BTreeMap,
    io::{self, Read, Write},
};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::{
    filter::{self, Filter},
    tree::{self, Entry, EntryType, Product, MAX_WINDOW_LOG},
};

/// What a delta applies to and what it makes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Delta {
    /// The tree the delta needs, installed and intact.
    pub base: TreeRef,
    /// The tree it makes (its Go version is the manifest's).
    pub tree: TreeRef,
    /// Every entry of the new tree that is new, or differs from the base's entry of its path, in
    /// path order.
    pub changes: Vec<Change>,
    /// The base's paths that the new tree does not have, in path order.
    pub removed: Vec<String>,
}

/// A whole tree, named by its entry list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TreeRef {
    pub go_version: String,
    pub file_count: u64,
    /// [`tree_digest`] of its entries.
    pub files_sha256: String,
}

impl TreeRef {
    /// The reference of the tree `files` of Go `go_version`.
    pub fn of(go_version: &str, files: &[Entry]) -> TreeRef {
        TreeRef { go_version: go_version.into(), file_count: files.len() as u64, files_sha256: tree_digest(files) }
    }
}

/// One entry of the new tree that the base does not have as it is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Change {
    /// The entry as the new tree lists it (a file's size and sha256 are of its final bytes).
    pub entry: Entry,
    pub data: Data,
}

/// Where a changed entry's bytes come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub enum Data {
    /// A directory or a symlink: the entry says everything.
    Entry,
    /// A file carried whole in the payload.
    Whole,
    /// A file carried as a patch in the payload: one zstd frame that decodes, with the base's
    /// file of the same path as its reference prefix, into the file's bytes, in a window of
    /// 2^`window_log` bytes at most. With a `filter` (format 3, executables), the reference is the
    /// base's file encoded by it, and the frame decodes into the file's bytes encoded by it:
    /// a new release moves code, and the filter's absolute targets move less than the relative
    /// ones (`bin/go` of go1.27.2 to go1.27.3: 774 KB as a raw patch, 606 KB filtered).
    Patch {
        window_log: u32,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        filter: Option<Filter>,
    },
    /// The base's file of the same path, with the same bytes and another mode.
    Base,
}

/// What a delta carries, in numbers: for `--info`, `inspect` and receipts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Summary {
    /// The base it applies to: its Go version and the digest of its entry list.
    pub base_version: String,
    pub base_files_sha256: String,
    /// Entries of the tree it makes.
    pub tree_entries: u64,
    /// Entries that differ from the base's, and of those: files carried whole, as patches, and
    /// the base's bytes with another mode; the base's paths removed.
    pub changes: u64,
    pub whole_files: u64,
    pub patches: u64,
    pub from_base: u64,
    pub removed: u64,
    /// Bytes of the changed files as installed.
    pub changed_bytes: u64,
}

impl std::fmt::Display for Summary {
    /// One line, as `--info` and `inspect` show it.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "from {}: {} of the {} entries differ ({} patched, {} whole, {} with another mode only), {} removed; {} bytes of changed files",
            self.base_version,
            self.changes,
            self.tree_entries,
            self.patches,
            self.whole_files,
            self.from_base,
            self.removed,
            self.changed_bytes
        )
    }
}

impl Delta {
    /// The numbers of this delta.
    pub fn summary(&self) -> Summary {
        let count = |f: fn(&Data) -> bool| self.changes.iter().filter(|c| f(&c.data)).count() as u64;
        Summary {
            base_version: self.base.go_version.clone(),
            base_files_sha256: self.base.files_sha256.clone(),
            tree_entries: self.tree.file_count,
            changes: self.changes.len() as u64,
            whole_files: count(|d| *d == Data::Whole),
            patches: count(|d| matches!(d, Data::Patch { .. })),
            from_base: count(|d| *d == Data::Base),
            removed: self.removed.len() as u64,
            changed_bytes: self
                .changes
                .iter()
                .filter(|c| c.entry.kind == EntryType::File)
                .filter_map(|c| c.entry.size)
                .sum(),
        }
    }

    /// The payload's entries that are patches, by path, with how they decode and the entry they
    /// decode into.
    pub fn patches(&self) -> BTreeMap<&str, (PatchCodec, &Entry)> {
        // Inserted one by one: `collect` into a map sorts first, a sort compiled into the stub
        // for each key and value type (about 3.5 KB).
        let mut patches = BTreeMap::new();
        for c in &self.changes {
            if let Data::Patch { window_log, filter } = c.data {
                patches.insert(c.entry.path.as_str(), (PatchCodec { window_log, filter }, &c.entry));
            }
        }
        patches
    }

    /// Whether the payload carries the bytes of `path` (whole or as a patch).
    pub fn carries(&self, path: &str) -> bool {
        self.changes
            .binary_search_by(|c| c.entry.path.as_str().cmp(path))
            .is_ok_and(|i| matches!(self.changes[i].data, Data::Whole | Data::Patch { .. }))
    }
}

/// The release name of a full installer: `go-offline-installer-go1.27.3-linux-amd64` (with
/// `.exe` for Windows), which a delta's refusal names.
pub fn full_installer_name(go_version: &str, goos: &str, goarch: &str) -> String {
    let exe = if goos == "windows" { ".exe" } else { "" };
    format!("go-offline-installer-{go_version}-{goos}-{goarch}{exe}")
}

/// The release name of a delta installer, for both versions:
/// `go-offline-installer-go1.27.2-to-go1.27.3-linux-amd64`.
pub fn delta_installer_name(base_version: &str, go_version: &str, goos: &str, goarch: &str) -> String {
    full_installer_name(&format!("{base_version}-to-{go_version}"), goos, goarch)
}

/// sha256 (lower-case hex) of the canonical JSON of an entry list in path order: what names a
/// tree. In path order whatever the order given: a full installer's manifest lists its entries
/// in payload order, which format 3 chooses for compression (format 2 listed them in path order,
/// so their digests are the same as they were).
pub fn tree_digest(files: &[Entry]) -> String {
    let mut in_path_order: Vec<&Entry> = files.iter().collect();
    in_path_order.sort_by(|a, b| a.path.cmp(&b.path));
    // Plain structs and strings: serializing cannot fail.
    let bytes = serde_json::to_vec(&in_path_order).expect("entries serialize");
    hex::encode(Sha256::digest(bytes))
}

/// Why a delta does not rebuild onto a base's entry list.
#[derive(Debug, thiserror::Error)]
pub enum RebuildError {
    /// The base's entries are not the ones the delta was made from.
    #[error("the base tree's entry list has sha256 {found}, the delta needs {expected}")]
    OtherBase { expected: String, found: String },
    /// The signed delta does not add up with its own base: it was built wrongly.
    #[error("the delta does not rebuild the signed tree: {0}")]
    Inconsistent(String),
}

/// The new tree's entry list: `base` (which must be the delta's base) with the delta's removals
/// and changes applied, in path order, checked against the signed tree digest and the rules of
/// a tree ([`tree::validate_tree`]).
pub fn rebuild(base: &[Entry], delta: &Delta, goos: &str) -> Result<Vec<Entry>, RebuildError> {
    let found = tree_digest(base);
    if found != delta.base.files_sha256 || base.len() as u64 != delta.base.file_count {
        return Err(RebuildError::OtherBase { expected: delta.base.files_sha256.clone(), found });
    }
    let bad = RebuildError::Inconsistent;
    // Inserted one by one, as in `patches`.
    let mut tree = BTreeMap::new();
    for e in base {
        tree.insert(e.path.as_str(), e);
    }
    for path in &delta.removed {
        tree.remove(path.as_str()).ok_or_else(|| bad(format!("'{path}' is removed but the base has no such entry")))?;
    }
    for c in &delta.changes {
        if matches!(c.data, Data::Patch { .. } | Data::Base) {
            let from = tree.get(c.entry.path.as_str()).filter(|e| e.kind == EntryType::File);
            if from.is_none() {
                return Err(bad(format!(
                    "'{}' comes from the base's file, which the base does not have",
                    c.entry.path
                )));
            }
        }
        tree.insert(&c.entry.path, &c.entry);
    }
    let files: Vec<Entry> = tree.into_values().cloned().collect();
    tree::validate_tree(&files, Product::Go, goos).map_err(|e| bad(e.to_string()))?;
    let digest = tree_digest(&files);
    if digest != delta.tree.files_sha256 || files.len() as u64 != delta.tree.file_count {
        return Err(bad(format!(
            "it lists {} entries of sha256 {digest}, the delta signs {} of {}",
            files.len(),
            delta.tree.file_count,
            delta.tree.files_sha256
        )));
    }
    Ok(files)
}

/// How a patch decodes: its window, and the filter of its reference and output (see
/// [`Data::Patch`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PatchCodec {
    pub window_log: u32,
    pub filter: Option<Filter>,
}

/// Decodes a patch (a zstd frame made with `reference` as its prefix, both filtered by
/// `codec.filter` when it has one) into `out`, with a window of at most 2^`codec.window_log`
/// bytes, stopping one byte past `limit`; returns the bytes written. A filtered patch is decoded
/// in memory (its reference encoded beside the base's bytes): both are at most the window.
pub fn apply_patch(
    reference: &[u8],
    patch: &[u8],
    codec: PatchCodec,
    limit: u64,
    out: &mut dyn Write,
) -> io::Result<u64> {
    let window_log = codec.window_log.min(MAX_WINDOW_LOG);
    let Some(filter) = codec.filter else {
        let mut decoder = zstd::stream::read::Decoder::with_ref_prefix(patch, reference)?;
        decoder.window_log_max(window_log)?;
        return io::copy(&mut decoder.take(limit.saturating_add(1)), out);
    };
    let mut encoded_reference = reference.to_vec();
    filter::encode(filter, &mut encoded_reference);
    let mut decoder = zstd::stream::read::Decoder::with_ref_prefix(patch, &encoded_reference[..])?;
    decoder.window_log_max(window_log)?;
    let capacity = limit.saturating_add(1).min(1 << window_log);
    let mut bytes = Vec::with_capacity(capacity as usize);
    decoder.take(limit.saturating_add(1)).read_to_end(&mut bytes)?;
    filter::decode(filter, &mut bytes);
    out.write_all(&bytes)?;
    Ok(bytes.len() as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(path: &str, mode: u32, data: &str) -> Entry {
        Entry::file(path.into(), mode, data.len() as u64, hex::encode(Sha256::digest(data)))
    }

    fn base() -> Vec<Entry> {
        vec![
            file("VERSION", 0o644, "go1.27.2"),
            Entry::dir("bin".into(), 0o755),
            file("bin/go", 0o755, "old go"),
            file("go.env", 0o644, "GOPROXY=off"),
            file("old", 0o644, "gone"),
        ]
    }

    fn delta(changes: Vec<Change>, removed: &[&str], tree: &[Entry]) -> Delta {
        Delta {
            base: TreeRef::of("go1.27.2", &base()),
            tree: TreeRef::of("go1.27.3", tree),
            changes,
            removed: removed.iter().map(|s| s.to_string()).collect(),
        }
    }

    #[test]
    fn rebuilds_the_signed_tree_and_refuses_anything_else() {
        let new = vec![
            file("VERSION", 0o644, "go1.27.3"),
            Entry::dir("bin".into(), 0o755),
            file("bin/go", 0o755, "new go"),
            file("go.env", 0o600, "GOPROXY=off"),
        ];
        let changes = vec![
            Change { entry: new[0].clone(), data: Data::Whole },
            Change { entry: new[2].clone(), data: Data::Patch { window_log: 20, filter: None } },
            Change { entry: new[3].clone(), data: Data::Base },
        ];
        let good = delta(changes.clone(), &["old"], &new);
        assert_eq!(rebuild(&base(), &good, "linux").unwrap(), new);

        let mut drifted = base();
        drifted[2] = file("bin/go", 0o755, "other go");
        // (base entries, delta, what the error says)
        let cases: Vec<(Vec<Entry>, Delta, &str)> = vec![
            (drifted, good.clone(), "entry list has sha256"),
            (base()[..4].to_vec(), good.clone(), "entry list has sha256"),
            (base(), delta(changes.clone(), &[], &new), "does not rebuild"),
            (base(), delta(changes[..2].to_vec(), &["old"], &new), "does not rebuild"),
            (base(), delta(changes.clone(), &["old", "nothing"], &new), "no such entry"),
            (
                base(),
                delta(
                    vec![Change { entry: file("new", 0o644, "x"), data: Data::Patch { window_log: 20, filter: None } }],
                    &[],
                    &new,
                ),
                "which the base does not have",
            ),
        ];
        for (i, (entries, d, want)) in cases.iter().enumerate() {
            let err = rebuild(entries, d, "linux").unwrap_err().to_string();
            assert!(err.contains(want), "case {i}: {err}");
        }
    }

    /// A tree is named by its entries in path order, whatever order a manifest lists them in:
    /// the digest of a list already in path order is the sha256 of its JSON, as format 2 named it.
    #[test]
    fn a_tree_digest_is_of_the_entries_in_path_order() {
        let in_order = base();
        let as_format_2 = hex::encode(Sha256::digest(serde_json::to_vec(&in_order).unwrap()));
        let mut payload_order = in_order.clone();
        payload_order.rotate_left(2);
        payload_order.swap(0, 3);
        assert_ne!(payload_order, in_order);
        assert_eq!(tree_digest(&in_order), as_format_2);
        assert_eq!(tree_digest(&payload_order), as_format_2);
    }

    #[test]
    fn a_patch_decodes_only_with_its_reference() {
        let reference: Vec<u8> = (0..200_000u32).flat_map(|i| (i * 7919).to_le_bytes()).collect();
        let mut new = reference.clone();
        new[1000..1010].copy_from_slice(b"0123456789");
        let mut enc = zstd::stream::write::Encoder::with_ref_prefix(Vec::new(), 3, &reference).unwrap();
        enc.write_all(&new).unwrap();
        let patch = enc.finish().unwrap();
        assert!(patch.len() < 200, "a 10-byte change patches small: {}", patch.len());
        let raw = PatchCodec { window_log: 27, filter: None };
        let mut out = Vec::new();
        apply_patch(&reference, &patch, raw, new.len() as u64, &mut out).unwrap();
        assert_eq!(out, new);
        let mut other = reference.clone();
        other[5000] ^= 1;
        let mut out = Vec::new();
        let decoded = apply_patch(&other, &patch, raw, new.len() as u64, &mut out);
        assert!(decoded.is_err() || out != new, "another reference gives other bytes");
    }

    /// A filtered patch: made between the filtered files, it decodes against the raw reference
    /// into the raw new bytes; read without its filter it gives other bytes.
    #[test]
    fn a_filtered_patch_decodes_into_the_raw_file() {
        // Calls (E8) to a few targets, moved by 64 bytes in the new "release".
        let code = |shift: u32| -> Vec<u8> {
            (0..50_000u32)
                .flat_map(|i| {
                    let target = 0x10_0000 + (i % 7) * 0x1000 + shift;
                    let rel = target.wrapping_sub(i * 8 + 5);
                    let mut insn = vec![0xE8];
                    insn.extend_from_slice(&rel.to_le_bytes());
                    insn.extend_from_slice(&[0x90, 0x90, 0x90]);
                    insn
                })
                .collect()
        };
        let (reference, new) = (code(0), code(64));
        let (mut fr, mut fnew) = (reference.clone(), new.clone());
        filter::encode(Filter::X86, &mut fr);
        filter::encode(Filter::X86, &mut fnew);
        let mut enc = zstd::stream::write::Encoder::with_ref_prefix(Vec::new(), 3, &fr).unwrap();
        enc.write_all(&fnew).unwrap();
        let patch = enc.finish().unwrap();
        let filtered = PatchCodec { window_log: 27, filter: Some(Filter::X86) };
        let mut out = Vec::new();
        assert_eq!(apply_patch(&reference, &patch, filtered, new.len() as u64, &mut out).unwrap(), new.len() as u64);
        assert_eq!(out, new);
        let mut out = Vec::new();
        let raw = PatchCodec { filter: None, ..filtered };
        let decoded = apply_patch(&reference, &patch, raw, new.len() as u64, &mut out);
        assert!(decoded.is_err() || out != new, "read without its filter it is not the file");
    }
}
