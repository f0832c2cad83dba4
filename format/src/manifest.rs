//! The signed manifest: what the installer contains, down to every file's digest.
//!
//! It is canonical JSON: the exact bytes `serde_json::to_vec` produces for [`Manifest`] (fields in
//! declaration order, maps sorted, no whitespace). [`Manifest::parse`] refuses any other encoding of
//! the same data, so one manifest has exactly one byte string and one signature.
//!
//! [`Manifest::validate`] is the allow-list the extractor relies on: paths are plain relative
//! names, every parent is a directory listed earlier, symlinks stay inside the tree, modes carry
//! no setuid/setgid/sticky bits, and the sizes add up. It runs on every parse, so a manifest value
//! that exists is a valid one.
//!
//! In a file of format version 3 the manifest region holds that JSON as one zstd frame
//! ([`encode_region`], [`decode_region`]): the region's bytes are what the statement's sha256
//! names, so the signature covers them as stored, and the JSON inside is held to the same
//! canonical form.

use std::{
    borrow::Cow,
    collections::{BTreeMap, HashMap, HashSet},
};

use serde::{Deserialize, Serialize};

// The entry list's types and rules live in `tree`, which `delta` shares; they are named here too,
// where a manifest's readers look for them.
pub use crate::tree::{
    check_link_target, is_go_version, is_sha256_hex, validate_path, validate_tree, Entry, EntryType, ManifestError,
    Product, MAX_NAME_LEN, MAX_PATH_LEN, MAX_WINDOW_LOG,
};
use crate::{
    delta::{Data, Delta},
    tree::{entry_err, field, validate_entry},
};

/// The manifest format written in [`Manifest::format`].
pub const MANIFEST_FORMAT: u32 = 1;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    /// Manifest format version, [`MANIFEST_FORMAT`].
    pub format: u32,
    /// What it carries.
    pub product: Product,
    /// As in Go's `VERSION` file, e.g. `go1.27.3`.
    pub go_version: String,
    pub goos: String,
    pub goarch: String,
    /// For `arm`, the `GOARM` level the Go toolchain was built for (from its build information),
    /// e.g. `6` for Go's armv6l release; absent elsewhere.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub goarm: Option<String>,
    /// Target triple of the stub, e.g. `x86_64-unknown-linux-musl`.
    pub target: String,
    /// Build time in seconds since the epoch (`SOURCE_DATE_EPOCH` when set).
    pub created: u64,
    /// Key id of the key that signed this manifest (see [`crate::keys::key_id`]).
    pub signer_key_id: String,
    pub stub: Region,
    pub payload: Payload,
    /// Where the Go distribution came from.
    pub source: Source,
    /// The offline defaults written into `$GOROOT/go.env`.
    pub go_env: BTreeMap<String, String>,
    /// Number of entries in `files`.
    pub file_count: u64,
    /// Every entry of the tree, in payload order; paths are relative to GOROOT (to the module
    /// proxy directory in a module bundle).
    pub files: Vec<Entry>,
    /// A module bundle's modules with their `go.sum` hashes; absent in a Go installer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub modules: Option<Vec<Module>>,
    /// A delta installer: the base it applies to and how the new tree differs from it (see
    /// [`crate::delta`]). Then `files` lists only what the payload carries (whole files and
    /// patches); absent in a full installer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delta: Option<crate::delta::Delta>,
    /// A module bundle's checksum database (`sumdb/NAME/` in its proxy directory, see
    /// [`crate::sumdb`]); absent in a Go installer and in a bundle built without one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sumdb: Option<ChecksumDb>,
}

/// What a bundle's checksum database is: the `GOSUMDB` value naming it, and the tree head its
/// `latest` signs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChecksumDb {
    /// Go's verifier key, `NAME+HASH+KEY`.
    pub key: String,
    pub tree_size: u64,
    /// The tree's hash, base64 as in the note.
    pub tree_hash: String,
}

/// One module version of a bundle and the hashes `go.sum` records for it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Module {
    pub path: String,
    pub version: String,
    /// `h1:` hash of its go.mod (the `/go.mod` line of go.sum).
    pub mod_h1: String,
    /// `h1:` hash of its zip; absent when only its go.mod is carried (a module of the graph none
    /// of whose packages is built).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub zip_h1: Option<String>,
}

impl Module {
    /// The files of this module in the proxy layout: `ESCAPED_PATH/@v/ESCAPED_VERSION.`
    /// followed by `mod`, `zip` or `info`; `None` if the path or version cannot be escaped.
    pub fn file_stem(&self) -> Option<String> {
        Some(format!("{}/@v/{}.", escape_module(&self.path)?, escape_module(&self.version)?))
    }

    /// Its `go.sum` lines.
    pub fn sum_lines(&self) -> String {
        let mut s = String::new();
        if let Some(h) = &self.zip_h1 {
            s.push_str(&format!("{} {} {h}\n", self.path, self.version));
        }
        s.push_str(&format!("{} {}/go.mod {}\n", self.path, self.version, self.mod_h1));
        s
    }
}

/// Go's case encoding of a module path or version for file systems (`!` and the lower-case
/// letter for each upper-case one), as `golang.org/x/mod/module.EscapePath` does; `None` for
/// characters no module path or version has (controls, spaces, `!`, non-ASCII), for `.`/`..`
/// elements and for empty elements.
pub fn escape_module(s: &str) -> Option<String> {
    if s.is_empty() || s.split('/').any(|e| e.is_empty() || e == "." || e == "..") {
        return None;
    }
    let mut out = String::with_capacity(s.len() + 4);
    for c in s.chars() {
        match c {
            'A'..='Z' => {
                out.push('!');
                out.push(c.to_ascii_lowercase());
            }
            'a'..='z' | '0'..='9' | '.' | '-' | '_' | '~' | '/' | '+' => out.push(c),
            _ => return None,
        }
    }
    Some(out)
}

/// A region of the installer file identified by length and digest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Region {
    pub len: u64,
    pub sha256: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Payload {
    /// Always `zstd`: one zstd stream holding one tar stream.
    pub compression: String,
    pub len: u64,
    pub sha256: String,
    /// Exact length of the decompressed tar stream.
    pub uncompressed_len: u64,
    /// zstd window log used by the encoder; the decoder refuses a larger window.
    pub window_log: u32,
    /// The payload as independent zstd frames, each holding whole tar entries (the next
    /// `entries` of `files`), so that several threads can each extract one. Absent: one frame
    /// holding every entry. The frames' decompressed streams, concatenated, are one tar stream.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub frames: Option<Vec<Frame>>,
    /// Files the payload carries filtered ([`crate::filter`]: executables, whose branch targets
    /// the filter makes absolute so that they compress better), in payload order: their tar
    /// data is the filter's encoding of their bytes, which the reader decodes before it hashes
    /// them against their signed sha256. Absent: none are.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub filtered: Option<Vec<Filtered>>,
}

/// One file of the payload carried filtered.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Filtered {
    /// The path of a file entry of `files`.
    pub path: String,
    pub filter: crate::filter::Filter,
}

/// One independently decodable part of the payload.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Frame {
    /// Compressed length; frames follow each other in the payload region.
    pub len: u64,
    /// sha256 of the frame's compressed bytes.
    pub sha256: String,
    /// Exact length of its decompressed tar entries.
    pub uncompressed_len: u64,
    /// How many entries of `files`, following those of the previous frames, it holds.
    pub entries: u64,
}

/// At most this many frames (a bound on threads and on the manifest's work).
pub const MAX_FRAMES: usize = 256;

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Source {
    /// `tarball` or `directory`.
    pub kind: String,
    /// File or directory name (no leading path).
    pub name: String,
    /// sha256 of the tarball, when built from one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sha256: Option<String>,
    /// Where the tarball was downloaded from (`go-offline-builder fetch` or `release`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// The sha256 its publisher lists for it (the release index, or one given), which the
    /// tarball's own `sha256` equals.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub published_sha256: Option<String>,
    /// Where `published_sha256` came from: the release index's URL, or `--sha256`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub published_by: Option<String>,
}

/// The zstd level of a manifest region when the builder is given none: the JSON is about 2 MiB
/// and compresses at this level in under a second, to a quarter (0.5 MiB, most of it the file
/// digests, which do not compress).
pub const REGION_LEVEL: i32 = 19;

/// The manifest region of a file of format [`crate::layout::FORMAT_VERSION`]: the canonical JSON
/// as one zstd frame at `level`, its content size in the header and no checksum (the region's
/// sha256 is signed). The same JSON and level give the same bytes on every machine.
pub fn encode_region(json: &[u8], level: i32) -> Vec<u8> {
    let compress = || -> std::io::Result<Vec<u8>> {
        let mut c = zstd::bulk::Compressor::new(level)?;
        c.include_checksum(false)?;
        c.include_contentsize(true)?;
        c.compress(json)
    };
    // Compressing a buffer in memory fails only if zstd cannot allocate its tables.
    compress().unwrap_or_else(|e| panic!("zstd could not compress a {}-byte manifest: {e}", json.len()))
}

/// The JSON a manifest region of a file of format `version` holds: the region itself (formats 1
/// and 2) or the one zstd frame it is decoded (format 3). A region that is not exactly one frame
/// stating its size, or that states or decodes to more than [`crate::layout::MAX_MANIFEST_LEN`], is
/// refused before anything is allocated for it.
pub fn decode_region(version: u32, region: &[u8]) -> Result<Cow<'_, [u8]>, ManifestError> {
    if version < crate::layout::FORMAT_VERSION {
        return Ok(Cow::Borrowed(region));
    }
    let bad = |problem: String| ManifestError::Region(problem);
    let frame_len = zstd::zstd_safe::find_frame_compressed_size(region)
        .map_err(|code| bad(format!("it is not a zstd frame ({})", zstd::zstd_safe::get_error_name(code))))?;
    if frame_len != region.len() {
        return Err(bad(format!("{} bytes follow its zstd frame", region.len() - frame_len)));
    }
    let size = match zstd::zstd_safe::get_frame_content_size(region) {
        Ok(Some(size)) => size,
        Ok(None) | Err(_) => return Err(bad("its zstd frame does not state its size".into())),
    };
    if size == 0 || size > crate::layout::MAX_MANIFEST_LEN {
        return Err(bad(format!("it states {size} bytes, outside 1..={}", crate::layout::MAX_MANIFEST_LEN)));
    }
    let json = zstd::bulk::decompress(region, size as usize).map_err(|e| bad(format!("it does not decode: {e}")))?;
    if json.len() as u64 != size {
        return Err(bad(format!("it decodes to {} bytes but states {size}", json.len())));
    }
    Ok(Cow::Owned(json))
}

impl Manifest {
    /// What the installer carries, for messages: `go1.27.3 linux/amd64`, or
    /// `module bundle (3 modules) for linux/amd64`.
    pub fn title(&self) -> String {
        match &self.modules {
            Some(m) => format!("module bundle ({} modules) for {}/{}", m.len(), self.goos, self.goarch),
            None => {
                let goarm = self.goarm.as_ref().map(|level| format!(" (GOARM={level})")).unwrap_or_default();
                let delta =
                    self.delta.as_ref().map(|d| format!(", a delta from {}", d.base.go_version)).unwrap_or_default();
                format!("{} {}/{}{goarm}{delta}", self.go_version, self.goos, self.goarch)
            }
        }
    }

    /// The canonical bytes of this manifest (what is signed).
    pub fn to_canonical_json(&self) -> Vec<u8> {
        // Serializing plain structs, strings, integers and BTreeMaps cannot fail.
        serde_json::to_vec(self).expect("manifest serializes")
    }

    /// Parses canonical manifest bytes and validates them.
    pub fn parse(bytes: &[u8]) -> Result<Manifest, ManifestError> {
        let manifest: Manifest = serde_json::from_slice(bytes)?;
        if manifest.to_canonical_json() != bytes {
            return Err(ManifestError::NotCanonical);
        }
        manifest.validate()?;
        Ok(manifest)
    }

    /// Checks every rule the extractor and installer rely on.
    pub fn validate(&self) -> Result<(), ManifestError> {
        if self.format != MANIFEST_FORMAT {
            return Err(field("format", format!("{} is not supported (expected {MANIFEST_FORMAT})", self.format)));
        }
        match self.product {
            Product::Go => {
                if !is_go_version(&self.go_version) {
                    return Err(field(
                        "go_version",
                        format!("'{}' is not a Go version", self.go_version.escape_debug()),
                    ));
                }
                if self.modules.is_some() {
                    return Err(field("modules", "a Go installer carries no module list"));
                }
            }
            Product::GoModules => self.validate_modules()?,
        }
        if crate::platform::Target::from_triple(&self.target).is_none() {
            return Err(field("target", format!("'{}' is not a supported target", self.target.escape_debug())));
        }
        for (name, v) in [("goos", &self.goos), ("goarch", &self.goarch)] {
            if v.is_empty() || !v.bytes().all(|b| b.is_ascii_alphanumeric()) {
                return Err(field(name, "is not a plain identifier"));
            }
        }
        if let Some(level) = &self.goarm {
            if self.goarch != "arm" {
                return Err(field("goarm", "is only recorded for goarch arm"));
            }
            if level.is_empty() || level.len() > 16 || !level.bytes().all(|b| b.is_ascii_alphanumeric() || b == b',') {
                return Err(field("goarm", "is not a GOARM level such as 6 or 7,softfloat"));
            }
        }
        for (name, digest) in [("stub.sha256", &self.stub.sha256), ("payload.sha256", &self.payload.sha256)] {
            if !is_sha256_hex(digest) {
                return Err(field(name, "is not a sha256 hex digest"));
            }
        }
        if let Some(d) = &self.source.sha256 {
            if !is_sha256_hex(d) {
                return Err(field("source.sha256", "is not a sha256 hex digest"));
            }
        }
        if let Some(p) = &self.source.published_sha256 {
            if self.source.sha256.as_ref() != Some(p) {
                return Err(field("source.published_sha256", "differs from the tarball's sha256"));
            }
        }
        for (name, v) in [("source.url", &self.source.url), ("source.published_by", &self.source.published_by)] {
            if v.as_deref().is_some_and(|v| v.bytes().any(|b| b.is_ascii_control())) {
                return Err(field(name, "contains control characters"));
            }
        }
        if self.payload.compression != "zstd" {
            return Err(field("payload.compression", format!("'{}' is not supported", self.payload.compression)));
        }
        if self.payload.window_log > MAX_WINDOW_LOG || self.payload.window_log < 10 {
            return Err(field(
                "payload.window_log",
                format!("{} is outside 10..={MAX_WINDOW_LOG}", self.payload.window_log),
            ));
        }
        if self.signer_key_id.len() != 16 || !self.signer_key_id.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(field("signer_key_id", "is not a 16-digit key id"));
        }
        for (k, v) in &self.go_env {
            if k.is_empty() || !k.bytes().all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_') {
                return Err(field("go_env", format!("'{}' is not an environment variable name", k.escape_debug())));
            }
            if v.bytes().any(|b| b.is_ascii_control()) {
                return Err(field("go_env", format!("value of {k} contains control characters")));
            }
        }
        self.validate_frames()?;
        self.validate_filtered()?;
        if let Some(delta) = &self.delta {
            return validate_delta(delta, self);
        }
        if self.file_count != self.files.len() as u64 {
            return Err(field(
                "file_count",
                format!("is {} but {} entries are listed", self.file_count, self.files.len()),
            ));
        }
        self.validate_entries()
    }

    /// A module bundle: no Go version or go.env, every module's files listed, every `h1:` hash
    /// well formed, each module once.
    fn validate_modules(&self) -> Result<(), ManifestError> {
        if !self.go_version.is_empty() || !self.go_env.is_empty() {
            return Err(field("go_version", "a module bundle carries no Go version and no go.env"));
        }
        let Some(modules) = &self.modules else { return Err(field("modules", "a module bundle lists its modules")) };
        let files: std::collections::HashSet<&str> =
            self.files.iter().filter(|e| e.kind == EntryType::File).map(|e| e.path.as_str()).collect();
        let is_h1 = |h: &str| {
            h.strip_prefix("h1:")
                .is_some_and(|b| b.len() == 44 && b.bytes().all(|c| c.is_ascii_alphanumeric() || b"+/=".contains(&c)))
        };
        for pair in modules.windows(2) {
            if (&pair[0].path, &pair[0].version) >= (&pair[1].path, &pair[1].version) {
                return Err(field(
                    "modules",
                    format!("{}@{} is out of order or listed twice", pair[1].path, pair[1].version),
                ));
            }
        }
        for m in modules {
            let name = format!("{}@{}", m.path.escape_debug(), m.version.escape_debug());
            let stem =
                m.file_stem().ok_or_else(|| field("modules", format!("{name} is not a module path and version")))?;
            if !is_h1(&m.mod_h1) || m.zip_h1.as_deref().is_some_and(|h| !is_h1(h)) {
                return Err(field("modules", format!("{name}: a hash is not an h1: hash")));
            }
            for (ext, needed) in [("mod", true), ("zip", m.zip_h1.is_some())] {
                if needed != files.contains(format!("{stem}{ext}").as_str()) {
                    return Err(field(
                        "modules",
                        format!("{name}: its .{ext} file is {} the bundle", if needed { "missing from" } else { "in" }),
                    ));
                }
            }
        }
        Ok(())
    }

    /// Each filtered path is a file of the payload, listed once, in payload order.
    fn validate_filtered(&self) -> Result<(), ManifestError> {
        let Some(filtered) = &self.payload.filtered else { return Ok(()) };
        if filtered.is_empty() {
            return Err(field("payload.filtered", "is empty (absent when no file is filtered)"));
        }
        let mut files = self.files.iter().filter(|e| e.kind == EntryType::File);
        for f in filtered {
            if !files.any(|e| e.path == f.path) {
                return Err(field(
                    "payload.filtered",
                    format!("'{}' is not a file of the payload, or is out of order", f.path.escape_debug()),
                ));
            }
        }
        Ok(())
    }

    /// The filter each filtered file of the payload is carried with, by path.
    pub fn filters(&self) -> std::collections::HashMap<&str, crate::filter::Filter> {
        self.payload.filtered.iter().flatten().map(|f| (f.path.as_str(), f.filter)).collect()
    }

    /// Frames must cover the payload, its decompressed length and the entries exactly.
    fn validate_frames(&self) -> Result<(), ManifestError> {
        let Some(frames) = &self.payload.frames else { return Ok(()) };
        if frames.is_empty() || frames.len() > MAX_FRAMES {
            return Err(field("payload.frames", format!("has {} frames (1..={MAX_FRAMES} allowed)", frames.len())));
        }
        let (mut len, mut uncompressed, mut entries) = (0u64, 0u64, 0u64);
        for f in frames {
            if !is_sha256_hex(&f.sha256) {
                return Err(field("payload.frames", "a frame's sha256 is not a hex digest"));
            }
            if f.len == 0 {
                return Err(field("payload.frames", "a frame is empty"));
            }
            let overflow = || field("payload.frames", "lengths overflow");
            len = len.checked_add(f.len).ok_or_else(overflow)?;
            uncompressed = uncompressed.checked_add(f.uncompressed_len).ok_or_else(overflow)?;
            entries = entries.checked_add(f.entries).ok_or_else(overflow)?;
        }
        if len != self.payload.len
            || uncompressed != self.payload.uncompressed_len
            || entries != self.files.len() as u64
        {
            return Err(field(
                "payload.frames",
                format!(
                    "cover {len} bytes, {uncompressed} decompressed bytes and {entries} entries, but the payload has {}, {} and {}",
                    self.payload.len,
                    self.payload.uncompressed_len,
                    self.files.len()
                ),
            ));
        }
        Ok(())
    }

    /// The frames of the payload: the listed ones, or one covering everything.
    pub fn frames(&self) -> Vec<Frame> {
        self.payload.frames.clone().unwrap_or_else(|| {
            vec![Frame {
                len: self.payload.len,
                sha256: self.payload.sha256.clone(),
                uncompressed_len: self.payload.uncompressed_len,
                entries: self.files.len() as u64,
            }]
        })
    }

    fn validate_entries(&self) -> Result<(), ManifestError> {
        let total = validate_tree(&self.files, self.product, &self.goos)?;
        if total > self.payload.uncompressed_len {
            return Err(field("payload.uncompressed_len", "is smaller than the files it holds"));
        }
        Ok(())
    }

    /// Number of entries of each type: (files, directories, symlinks).
    pub fn counts(&self) -> (u64, u64, u64) {
        let mut c = (0, 0, 0);
        for e in &self.files {
            match e.kind {
                EntryType::File => c.0 += 1,
                EntryType::Dir => c.1 += 1,
                EntryType::Symlink => c.2 += 1,
            }
        }
        c
    }

    /// One line saying where the distribution came from, e.g. `tarball go1.27.3.linux-amd64.tar.gz (sha256 …)`.
    pub fn source_summary(&self) -> String {
        let digest = self.source.sha256.as_deref().map(|d| format!(" (sha256 {d})")).unwrap_or_default();
        let from = match (&self.source.url, &self.source.published_by) {
            (Some(url), Some(by)) => format!(", downloaded from {url}, sha256 as published by {by}"),
            (Some(url), None) => format!(", downloaded from {url}"),
            _ => String::new(),
        };
        format!("{} {}{digest}{from}", self.source.kind, self.source.name)
    }

    /// The offline defaults as `KEY=VALUE KEY=VALUE`.
    pub fn go_env_summary(&self) -> String {
        self.go_env.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join(" ")
    }

    /// Sum of the sizes of all files.
    pub fn files_size(&self) -> u64 {
        self.files.iter().filter_map(|e| e.size).sum()
    }
}

/// The rules of a delta manifest (part of [`Manifest::validate`]): a Go tree, both trees
/// named well, changes and removals in path order and disjoint, each change valid and its
/// data fitting its type, and the payload's entries exactly the whole files and patches of
/// the changes, in their order.
fn validate_delta(d: &Delta, m: &Manifest) -> Result<(), ManifestError> {
    if m.product != Product::Go || m.modules.is_some() {
        return Err(field("delta", "only a Go installer can be a delta"));
    }
    for (name, t) in [("delta.base", &d.base), ("delta.tree", &d.tree)] {
        if !is_go_version(&t.go_version) || !is_sha256_hex(&t.files_sha256) {
            return Err(field(name, "needs a Go version and a sha256 hex digest"));
        }
    }
    if d.tree.go_version != m.go_version {
        return Err(field("delta.tree", "is not the installer's Go version"));
    }
    let ordered = |a: &str, b: &str| a < b;
    for pair in d.changes.windows(2) {
        if !ordered(&pair[0].entry.path, &pair[1].entry.path) {
            return Err(field("delta.changes", format!("'{}' is out of order or listed twice", pair[1].entry.path)));
        }
    }
    for pair in d.removed.windows(2) {
        if !ordered(&pair[0], &pair[1]) {
            return Err(field("delta.removed", format!("'{}' is out of order or listed twice", pair[1])));
        }
    }
    let changed: HashSet<&str> = d.changes.iter().map(|c| c.entry.path.as_str()).collect();
    for path in &d.removed {
        validate_path(path).map_err(|p| entry_err(path, p))?;
        if changed.contains(path.as_str()) {
            return Err(entry_err(path, "is both removed and changed"));
        }
    }
    // The payload carries the bytes of each whole or patched change once, in any order (the
    // builder orders a payload for compression).
    let mut carried: HashMap<&str, &Entry> = HashMap::with_capacity(m.files.len());
    for p in &m.files {
        if carried.insert(p.path.as_str(), p).is_some() {
            return Err(entry_err(&p.path, "is in the payload twice"));
        }
    }
    for c in &d.changes {
        let e = &c.entry;
        validate_path(&e.path).map_err(|p| entry_err(&e.path, p))?;
        validate_entry(e)?;
        let fits = match c.data {
            Data::Entry => e.kind != EntryType::File,
            Data::Whole | Data::Base => e.kind == EntryType::File,
            Data::Patch { window_log, .. } => e.kind == EntryType::File && (10..=MAX_WINDOW_LOG).contains(&window_log),
        };
        if !fits {
            return Err(entry_err(&e.path, format!("{:?} data does not fit a {:?}", c.data, e.kind)));
        }
        if !matches!(c.data, Data::Whole | Data::Patch { .. }) {
            continue;
        }
        let Some(p) = carried.remove(e.path.as_str()) else {
            return Err(entry_err(&e.path, "its bytes are missing from the payload's entries"));
        };
        let whole_differs = c.data == Data::Whole && (p.size != e.size || p.sha256 != e.sha256);
        if p.kind != EntryType::File || p.mode != e.mode || whole_differs {
            return Err(entry_err(&p.path, "the payload's entry is not the change's bytes"));
        }
    }
    if let Some(p) = m.files.iter().find(|p| carried.contains_key(p.path.as_str())) {
        return Err(entry_err(&p.path, "is in the payload but is no change's bytes"));
    }
    let mut total = 0u64;
    for p in &m.files {
        total = total.checked_add(validate_entry(p)?).ok_or_else(|| field("files", "sizes overflow"))?;
    }
    if m.file_count != m.files.len() as u64 {
        return Err(field("file_count", "is not the number of entries the payload carries"));
    }
    if total > m.payload.uncompressed_len {
        return Err(field("payload.uncompressed_len", "is smaller than the files it holds"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A minimal valid manifest with these extra entries after the required ones.
    fn with_entries(extra: Vec<Entry>) -> Manifest {
        let digest = "0".repeat(64);
        let mut files = vec![
            Entry::file("VERSION".into(), 0o644, 1, digest.clone()),
            Entry::file("go.env".into(), 0o644, 1, digest.clone()),
            Entry::dir("bin".into(), 0o755),
            Entry::file("bin/go".into(), 0o755, 1, digest.clone()),
        ];
        files.extend(extra);
        Manifest {
            format: MANIFEST_FORMAT,
            product: Product::Go,
            go_version: "go1.27.3".into(),
            goos: "linux".into(),
            goarch: "amd64".into(),
            goarm: None,
            target: "x86_64-unknown-linux-musl".into(),
            created: 0,
            signer_key_id: "0123456789abcdef".into(),
            stub: Region { len: 1, sha256: digest.clone() },
            payload: Payload {
                compression: "zstd".into(),
                len: 1,
                sha256: digest.clone(),
                uncompressed_len: 1 << 20,
                window_log: MAX_WINDOW_LOG,
                frames: None,
                filtered: None,
            },
            source: Source { kind: "tarball".into(), name: "go.tar.gz".into(), ..Default::default() },
            go_env: BTreeMap::new(),
            file_count: files.len() as u64,
            files,
            modules: None,
            delta: None,
            sumdb: None,
        }
    }

    #[test]
    fn goarm_is_a_level_of_arm_only() {
        // (goarch, target, goarm, accepted)
        let arm = "armv7-unknown-linux-gnueabihf";
        let cases = [
            ("arm", arm, Some("6"), true),
            ("arm", arm, Some("7,softfloat"), true),
            ("arm", arm, None, true),
            ("arm", arm, Some(""), false),
            ("arm", arm, Some("6;rm"), false),
            ("arm", arm, Some("66666666666666666"), false),
            ("amd64", "x86_64-unknown-linux-musl", Some("6"), false),
        ];
        for (goarch, target, goarm, ok) in cases {
            let mut m = with_entries(vec![]);
            (m.goarch, m.target, m.goarm) = (goarch.into(), target.into(), goarm.map(String::from));
            assert_eq!(m.validate().is_ok(), ok, "{goarch} {goarm:?}: {:?}", m.validate().err());
        }
        let mut m = with_entries(vec![]);
        (m.goarch, m.target, m.goarm) = ("arm".into(), arm.into(), Some("6".into()));
        assert_eq!(m.title(), "go1.27.3 linux/arm (GOARM=6)");
    }

    #[test]
    fn module_bundles_list_their_files_and_hashes() {
        let digest = "0".repeat(64);
        let h1 = format!("h1:{}=", "A".repeat(43));
        let module = |path: &str, version: &str, zip: bool| Module {
            path: path.into(),
            version: version.into(),
            mod_h1: h1.clone(),
            zip_h1: zip.then(|| h1.clone()),
        };
        let bundle = |modules: Vec<Module>, files: &[&str]| {
            let mut m = with_entries(vec![]);
            m.product = Product::GoModules;
            m.go_version = String::new();
            let mut entries = vec![Entry::file("go.sum".into(), 0o444, 1, digest.clone())];
            let mut dirs = std::collections::BTreeSet::new();
            for f in files {
                for (i, _) in f.match_indices('/') {
                    if dirs.insert(f[..i].to_string()) {
                        entries.push(Entry::dir(f[..i].into(), 0o755));
                    }
                }
                entries.push(Entry::file((*f).into(), 0o444, 1, digest.clone()));
            }
            m.files = entries;
            m.file_count = m.files.len() as u64;
            m.modules = Some(modules);
            m
        };
        let greet = ["example.com/greet/@v/v1.0.0.mod", "example.com/greet/@v/v1.0.0.zip"];
        // (manifest, accepted)
        let cases: Vec<(Manifest, bool)> = vec![
            (bundle(vec![module("example.com/greet", "v1.0.0", true)], &greet), true),
            // Only the go.mod is carried: no zip may be listed, and none is.
            (bundle(vec![module("example.com/greet", "v1.0.0", false)], &greet[..1]), true),
            (bundle(vec![module("example.com/greet", "v1.0.0", false)], &greet), false),
            (bundle(vec![module("example.com/greet", "v1.0.0", true)], &greet[..1]), false),
            // Capitals are escaped in file names.
            (bundle(vec![module("example.com/Greet", "v1.0.0", false)], &["example.com/!greet/@v/v1.0.0.mod"]), true),
            (bundle(vec![module("example.com/Greet", "v1.0.0", false)], &["example.com/Greet/@v/v1.0.0.mod"]), false),
            (bundle(vec![module("../etc", "v1.0.0", false)], &[]), false),
            (bundle(vec![module("example.com/greet", "v1.0.0", true); 2], &greet), false),
            (bundle(vec![], &[]), true),
        ];
        for (i, (m, ok)) in cases.into_iter().enumerate() {
            assert_eq!(m.validate().is_ok(), ok, "case {i}: {:?}", m.validate().err());
        }
        // A bad hash, a Go version in a bundle, a module list in a Go installer, no list at all.
        let mut m = bundle(vec![module("example.com/greet", "v1.0.0", true)], &greet);
        m.modules.as_mut().unwrap()[0].mod_h1 = "h1:short".into();
        assert!(m.validate().is_err());
        let mut m = bundle(vec![], &[]);
        m.go_version = "go1.27.3".into();
        assert!(m.validate().is_err());
        let mut m = bundle(vec![], &[]);
        m.modules = None;
        assert!(m.validate().is_err());
        let mut m = with_entries(vec![]);
        m.modules = Some(vec![]);
        assert!(m.validate().is_err());
    }

    #[test]
    fn frames_must_cover_payload_length_and_entries() {
        let base = with_entries(vec![]);
        let f = |len, uncompressed_len, entries| Frame { len, sha256: "1".repeat(64), uncompressed_len, entries };
        // (frames, accepted)
        let cases: Vec<(Vec<Frame>, bool)> = vec![
            (vec![f(1, 1 << 20, 4)], true),
            (vec![f(1, 1 << 19, 1), f(0, 1 << 19, 3)], false), // an empty frame
            (vec![f(1, 1 << 20, 3)], false),                   // entries left over
            (vec![f(2, 1 << 20, 4)], false),                   // longer than the payload
            (vec![f(1, (1 << 20) - 1, 4)], false),             // decompresses short
            (vec![], false),
            (vec![f(1, u64::MAX, 2), f(1, 2, 2)], false), // overflow
        ];
        for (frames, accepted) in cases {
            let mut m = base.clone();
            m.payload.frames = Some(frames.clone());
            assert_eq!(m.validate().is_ok(), accepted, "{frames:?}: {:?}", m.validate());
        }
        let mut m = base.clone();
        m.payload.len = 2;
        m.payload.frames = Some(vec![f(1, 1 << 19, 2), f(1, 1 << 19, 2)]);
        assert!(m.validate().is_ok());
        assert_eq!(base.frames().len(), 1, "no frame table: one frame of everything");
    }

    #[test]
    fn names_colliding_by_case_are_refused() {
        let digest = "0".repeat(64);
        let file = |p: &str| Entry::file(p.into(), 0o644, 0, digest.clone());
        assert!(with_entries(vec![file("README"), file("readme.md")]).validate().is_ok());
        let cases = [
            vec![file("README"), file("readme")],
            vec![file("bin/GO")],
            vec![Entry::dir("Src".into(), 0o755), Entry::dir("src".into(), 0o755)],
            vec![file("\u{c4}"), file("\u{e4}")],
        ];
        for extra in cases {
            let m = with_entries(extra.clone());
            let err = m.validate().expect_err(&format!("{extra:?} was accepted")).to_string();
            assert!(err.contains("differs only by case"), "{err}");
        }
    }

    #[test]
    fn versions() {
        for v in ["go1.27.3", "go1.21", "go1.22rc1", "go1.23beta2", "go1.19.8"] {
            assert!(is_go_version(v), "{v}");
        }
        for v in ["1.27.3", "go", "go1", "go1.x", "go1.2.3.4", "go1.2rc", "go1.2-1", "go1.2\n"] {
            assert!(!is_go_version(v), "{v}");
        }
    }
}
