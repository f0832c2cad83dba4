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

use std::collections::{BTreeMap, HashMap};

use serde::{Deserialize, Serialize};

/// The manifest format written in [`Manifest::format`].
pub const MANIFEST_FORMAT: u32 = 1;
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
        if let Some(delta) = &self.delta {
            return delta.validate(self);
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
            },
            source: Source { kind: "tarball".into(), name: "go.tar.gz".into(), ..Default::default() },
            go_env: BTreeMap::new(),
            file_count: files.len() as u64,
            files,
            modules: None,
            delta: None,
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
