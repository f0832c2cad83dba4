//! What each fuzz target checks, as plain functions of the input bytes. A failed property panics.
//!
//! This file is shared: the fuzz crate compiles it as `stub_fuzz::checks`, and
//! `installer/tests/fuzz_regressions.rs` includes it with `#[path]` to replay `fuzz/regressions/`
//! under `cargo test`. It may therefore only use `format`, `installer` and the crates they (and
//! the installer's dev-dependencies) depend on.

use std::{
    collections::{BTreeSet, HashMap, VecDeque},
    fs,
    io::Read,
    path::Path,
};

use ed25519_dalek::{Signer, SigningKey};
use format::{
    filter::{Decode, Encode, Filter},
    keys::{self, TrustStore, TrustedKey},
    layout::{self, Assembled, Layout, LayoutError, TRAILER_LEN},
    manifest::{Entry, EntryType, Manifest, Payload, Product, Region, Source},
    verify,
};
use installer::extract;

/// The fuzz targets, by name (the name of the fuzz binary and of its `fuzz/regressions/` directory).
/// One target's check of one input; panics when a property fails.
pub type Check = fn(&[u8]);

pub const TARGETS: &[(&str, Check)] = &[
    ("filter", filter),
    ("layout", layout),
    ("manifest", manifest),
    ("sumdb", sumdb),
    ("tar_entries", tar_entries),
    ("verify_extract", verify_extract),
];

/// The test signing key's seed. It signs fuzz inputs only and is trusted nowhere else.
pub const TEST_KEY_SEED: [u8; 32] = *b"go-offline-installer fuzz key 01";

/// A stand-in stub: verification hashes it like any other region and never runs it.
pub const DUMMY_STUB: &[u8] = b"\x7fELF dummy stub for fuzzing\n";

// ---------------------------------------------------------------------------------------------
// sumdb

/// The checksum database the `sumdb` target's inputs are checked as: the test key's.
pub fn sumdb_key() -> format::sumdb::VerifierKey {
    let public = SigningKey::from_bytes(&TEST_KEY_SEED).verifying_key().to_bytes();
    format::sumdb::VerifierKey::new("sumdb.example.org", public).expect("a valid name")
}

/// A checksum database's files as the `sumdb` target reads them: each file is its path's
/// length (one byte), the path, its length (two bytes, little-endian) and its bytes; an
/// incomplete last file is dropped.
pub fn sumdb_files(mut data: &[u8]) -> std::collections::BTreeMap<String, Vec<u8>> {
    let mut files = std::collections::BTreeMap::new();
    while let Some((&path_len, rest)) = data.split_first() {
        let Some((path, rest)) = rest.split_at_checked(usize::from(path_len)) else { break };
        let Some((len, rest)) = rest.split_first_chunk::<2>() else { break };
        let Some((bytes, rest)) = rest.split_at_checked(usize::from(u16::from_le_bytes(*len))) else { break };
        files.insert(String::from_utf8_lossy(path).into_owned(), bytes.to_vec());
        data = rest;
    }
    files
}

/// The `sumdb` target's seed: a database of three records, signed by the test key.
fn sumdb_seed() -> Vec<u8> {
    use format::sumdb::{lookup_body, record_text, signed_note, Log};
    let records = (0..3).map(|i| record_text(&format!("example.org/m{i}"), "v1.0.0", Some("h1:zip="), "h1:mod="));
    let log = Log { records: records.collect() };
    let tree = log.tree();
    let signature = SigningKey::from_bytes(&TEST_KEY_SEED).sign(tree.note_text().as_bytes()).to_bytes();
    let note = signed_note(&tree, &sumdb_key(), &signature);
    let mut files = log.tiles();
    files.push(("latest".into(), note.clone().into_bytes()));
    files.push(("supported".into(), Vec::new()));
    for (id, text) in log.records.iter().enumerate() {
        files.push((format!("lookup/example.org/m{id}@v1.0.0"), lookup_body(id as u64, text, &note).into_bytes()));
    }
    let mut out = Vec::new();
    for (path, bytes) in files {
        out.push(path.len() as u8);
        out.extend_from_slice(path.as_bytes());
        out.extend_from_slice(&(bytes.len() as u16).to_le_bytes());
        out.extend_from_slice(&bytes);
    }
    out
}

/// Input: a checksum database's files ([`sumdb_files`]), a bundle's `sumdb/NAME/` as the
/// installer reads it when it merges bundles. `format::sumdb::check` must not panic, nor the
/// note and key readers on any file or path; when the database is accepted, every lookup file
/// was one of its records and its tree is not empty. (Only inputs grown from a seed signed by
/// the test key get past the signature: the seed in `fuzz/regressions/sumdb/`.)
pub fn sumdb(data: &[u8]) {
    let key = sumdb_key();
    let files = sumdb_files(data);
    for (path, bytes) in &files {
        let _ = format::sumdb::open_note(bytes, &key, path);
        let _ = format::sumdb::note_tree_size(bytes);
        let _ = format::sumdb::VerifierKey::parse(path);
        let _ = format::sumdb::base64_decode(path);
    }
    if let Ok(checked) = format::sumdb::check(&key, &files, &[]) {
        assert!(checked.tree.size > 0, "an empty tree was accepted");
        let lookups = files.keys().filter(|p| p.starts_with("lookup/")).count();
        assert_eq!(checked.lookups.len(), lookups, "a lookup file was accepted unchecked");
        // The tree the log extends: itself, and no other of its size.
        let mut other = checked.tree;
        other.hash[0] ^= 1;
        assert!(format::sumdb::check(&key, &files, &[other]).is_err(), "a tree of another log was extended");
    }
}

// ---------------------------------------------------------------------------------------------
// filter

/// Input: the first byte picks the branch-target filter (even: x86, odd: arm64), the rest is the
/// file. Decoding must undo encoding; the [`Encode`] and [`Decode`] adapters must give the slice
/// functions' bytes when the inner reader and the caller read in sizes taken from the input; and
/// decoding arbitrary bytes must not panic (the installer decodes what it decompressed before
/// it compares the digest).
pub fn filter(data: &[u8]) {
    let Some((&pick, file)) = data.split_first() else {
        return;
    };
    let filter = if pick % 2 == 0 { Filter::X86 } else { Filter::Arm64 };
    let mut encoded = file.to_vec();
    format::filter::encode(filter, &mut encoded);
    let mut round_trip = encoded.clone();
    format::filter::decode(filter, &mut round_trip);
    assert!(round_trip == file, "{filter:?}: decode(encode(x)) differs from x");
    let mut decoded = file.to_vec();
    format::filter::decode(filter, &mut decoded);

    // Inner reads of 1 to 16 bytes, caller reads of 1 to 7906, both from the input's bytes.
    let inner_sizes: Vec<usize> = data.iter().map(|&b| 1 + usize::from(b) % 16).collect();
    let read_sizes: Vec<usize> = data.iter().rev().map(|&b| 1 + usize::from(b) * 31).collect();
    let adapter_decoded = read_in_steps(Decode::new(filter, Steps::new(file, &inner_sizes)), &read_sizes);
    assert!(adapter_decoded == decoded, "{filter:?}: the Decode adapter differs from decode");
    let adapter_encoded = read_in_steps(Encode::new(filter, Steps::new(file, &inner_sizes)), &read_sizes);
    assert!(adapter_encoded == encoded, "{filter:?}: the Encode adapter differs from encode");
}

/// A reader of `data` that gives at most `sizes[k % sizes.len()]` bytes at its k-th read.
struct Steps<'a> {
    data: &'a [u8],
    sizes: &'a [usize],
    reads: usize,
}

impl<'a> Steps<'a> {
    fn new(data: &'a [u8], sizes: &'a [usize]) -> Steps<'a> {
        Steps { data, sizes, reads: 0 }
    }
}

impl Read for Steps<'_> {
    fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
        let size = self.sizes[self.reads % self.sizes.len()];
        self.reads += 1;
        let n = out.len().min(size).min(self.data.len());
        out[..n].copy_from_slice(&self.data[..n]);
        self.data = &self.data[n..];
        Ok(n)
    }
}

/// Everything `reader` gives, read in buffers of `sizes[k % sizes.len()]` bytes.
fn read_in_steps(mut reader: impl Read, sizes: &[usize]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut buf = vec![0; sizes.iter().copied().max().unwrap_or(1)];
    for k in 0.. {
        let size = sizes[k % sizes.len()];
        let n = reader.read(&mut buf[..size]).expect("reading from memory cannot fail");
        if n == 0 {
            break;
        }
        out.extend_from_slice(&buf[..n]);
    }
    out
}

// ---------------------------------------------------------------------------------------------
// layout

/// Input: file length (u64 LE) then the trailer bytes. Also reads four u64 LE lengths from the
/// bytes after the file length, for the writer's side ([`Layout::for_lengths`]): a statement
/// length of 0 writes format version 1, any other format version 2.
pub fn layout(data: &[u8]) {
    if data.len() < 8 {
        return;
    }
    let file_len = u64::from_le_bytes(data[..8].try_into().unwrap());
    let trailer = &data[8..];
    if let Ok(l) = Layout::parse(file_len, trailer) {
        check_layout(&l);
        assert_eq!(l.file_len(), file_len, "layout does not cover the file");
        assert_eq!(&l.encode_trailer()[..], trailer, "re-encoding gives another trailer");
    }
    if trailer.len() >= 32 {
        let u = |i: usize| u64::from_le_bytes(trailer[i * 8..i * 8 + 8].try_into().unwrap());
        let lengths @ [stub_len, payload_len, manifest_len, statement_len] = [u(0), u(1), u(2), u(3)];
        let version = if statement_len == 0 { layout::FORMAT_V1 } else { layout::FORMAT_VERSION };
        if let Ok(l) = Layout::for_lengths(version, lengths) {
            check_layout(&l);
            let parsed = Layout::parse(l.file_len(), &l.encode_trailer());
            let readable = stub_len > 0
                && payload_len > 0
                && (1..=layout::MAX_MANIFEST_LEN).contains(&manifest_len)
                && statement_len <= format::statement::MAX_STATEMENT_LEN;
            match parsed {
                Ok(p) => {
                    assert!(readable, "a layout with an empty or huge region was read back");
                    assert_eq!(p, l, "written and read layouts differ");
                }
                Err(e) => {
                    assert!(!readable, "a writable layout is refused when read: {e}");
                    assert!(matches!(e, LayoutError::BadField { .. }), "unexpected error {e:?}");
                }
            }
        }
    }
}

fn check_layout(l: &Layout) {
    let regions = [&l.stub, &l.payload, &l.manifest, &l.statement, &l.signature, &l.trailer];
    assert_eq!(l.stub.start, 0, "stub does not start the file");
    for pair in regions.windows(2) {
        assert_eq!(pair[0].end, pair[1].start, "regions are not contiguous: {l:?}");
    }
    for r in regions {
        assert!(r.start <= r.end && r.end <= l.file_len(), "region {r:?} outside the file");
    }
    assert_eq!(layout::len(&l.signature), layout::SIGNATURE_LEN);
    assert_eq!(layout::len(&l.trailer), TRAILER_LEN);
}

// ---------------------------------------------------------------------------------------------
// manifest

/// Input: a manifest region, read both as format version 3 stores it (one zstd frame of the JSON,
/// decoded within the bound or refused) and as the earlier formats do (the JSON itself). Accepted
/// JSON must be canonical, valid, and describe a tree whose symlinks, followed as the kernel
/// would, never leave it.
pub fn manifest(data: &[u8]) {
    if let Ok(json) = format::manifest::decode_region(layout::FORMAT_VERSION, data) {
        assert!(json.len() as u64 <= layout::MAX_MANIFEST_LEN, "a region decoded beyond the bound");
        manifest_json(&json);
    }
    manifest_json(data);
}

fn manifest_json(data: &[u8]) {
    let Ok(m) = Manifest::parse(data) else { return };
    assert_eq!(m.to_canonical_json(), data, "accepted bytes are not the canonical encoding");
    m.validate().expect("a parsed manifest fails validate()");
    assert_eq!(Manifest::parse(&m.to_canonical_json()).expect("canonical bytes re-parse"), m);
    check_tree(&m);
}

/// Properties of a validated manifest's tree that extraction and installation rely on.
pub fn check_tree(m: &Manifest) {
    let mut seen = BTreeSet::new();
    for e in &m.files {
        assert!(seen.insert(e.path.as_str()), "'{}' listed twice", e.path);
        assert!(!e.path.starts_with('/') && !e.path.split('/').any(|c| c.is_empty() || c == "." || c == ".."));
        if let Some((parent, _)) = e.path.rsplit_once('/') {
            let p = m.files.iter().find(|p| p.path == parent).expect("parent listed");
            assert_eq!(p.kind, EntryType::Dir, "parent of '{}' is not a directory", e.path);
        }
    }
    let links: HashMap<&str, &str> = m
        .files
        .iter()
        .filter(|e| e.kind == EntryType::Symlink)
        .map(|e| (e.path.as_str(), e.target.as_deref().unwrap_or_default()))
        .collect();
    for (path, target) in &links {
        assert!(!escapes(&links, path), "symlink '{path}' -> '{target}' resolves outside the tree");
    }
}

/// Whether the symlink at `path` resolves, following the tree's symlinks as the kernel does,
/// to somewhere above the root of the tree. Components the tree does not list count as
/// directories (the conservative choice).
fn escapes(links: &HashMap<&str, &str>, path: &str) -> bool {
    let mut dir: Vec<&str> = path.split('/').collect();
    dir.pop();
    let mut pending: VecDeque<&str> = links[path].split('/').collect();
    let mut hops = 0;
    while let Some(c) = pending.pop_front() {
        match c {
            "" | "." => {}
            ".." => {
                if dir.pop().is_none() {
                    return true;
                }
            }
            name => {
                let joined = if dir.is_empty() { name.to_string() } else { format!("{}/{name}", dir.join("/")) };
                match links.get(joined.as_str()) {
                    Some(t) => {
                        hops += 1;
                        if hops > 40 {
                            return false; // ELOOP: the kernel refuses to resolve it at all.
                        }
                        for comp in t.split('/').rev() {
                            pending.push_front(comp);
                        }
                    }
                    None => dir.push(name),
                }
            }
        }
    }
    false
}

// ---------------------------------------------------------------------------------------------
// tar_entries

/// Input: u16 LE length `n`, then `n` bytes of entry list, then a raw tar stream. The entry list
/// has one line per manifest entry: `d[MODE] PATH`, `f[MODE] PATH CONTENT` or `l PATH TARGET`
/// (MODE octal); `u N` and `w N` override the signed uncompressed length and window log. A signed installer carrying that manifest and the tar stream as its payload is
/// built, verified and extracted. Tar header checksums are fixed up first so that mutations reach
/// the comparison rather than the checksum test.
pub fn tar_entries(data: &[u8]) {
    if data.len() < 2 {
        return;
    }
    let n = u16::from_le_bytes([data[0], data[1]]) as usize;
    let Some(spec) = data.get(2..2 + n) else { return };
    let Ok(spec) = std::str::from_utf8(spec) else { return };
    let mut tar = data[2 + n..].to_vec();
    fix_tar_checksums(&mut tar);
    let Some((files, tweaks, filtered)) = parse_spec(spec) else { return };
    let Some(bytes) = build_installer(files, &tar, |m| {
        for (key, value) in tweaks {
            match key {
                'u' => m.payload.uncompressed_len = value,
                _ => m.payload.window_log = value as u32,
            }
        }
        if !filtered.is_empty() {
            m.payload.filtered = Some(filtered);
        }
    }) else {
        return;
    };
    let (_dir, outcome) = verify_and_extract(&bytes);
    match outcome {
        Outcome::Extracted | Outcome::Refused(_) => {}
        Outcome::NotVerified(e) => panic!("a correctly built and signed installer does not verify: {e}"),
    }
}

/// Manifest entries, (field letter, value) overrides, and the files the payload carries filtered
/// (their tar data is decoded by the filter before it is hashed).
type Spec = (Vec<Entry>, Vec<(char, u64)>, Vec<format::manifest::Filtered>);

fn parse_spec(spec: &str) -> Option<Spec> {
    let mut files = Vec::new();
    let mut tweaks = Vec::new();
    let mut filtered = Vec::new();
    for line in spec.lines() {
        let (head, rest) = line.split_once(' ')?;
        if head == "u" || head == "w" {
            tweaks.push((head.chars().next()?, rest.parse().ok()?));
            continue;
        }
        let filter = match head {
            "x" => Some(format::filter::Filter::X86),
            "a" => Some(format::filter::Filter::Arm64),
            _ => None,
        };
        if let Some(filter) = filter {
            filtered.push(format::manifest::Filtered { path: rest.into(), filter });
            continue;
        }
        let mut head = head.chars();
        let kind = head.next()?;
        let mode = head.as_str();
        let mode = if mode.is_empty() { None } else { Some(u32::from_str_radix(mode, 8).ok()?) };
        let entry = match kind {
            'd' => Entry::dir(rest.into(), mode.unwrap_or(0o755)),
            'f' => {
                let (path, content) = rest.split_once(' ').unwrap_or((rest, ""));
                Entry::file(path.into(), mode.unwrap_or(0o644), content.len() as u64, sha256_hex(content.as_bytes()))
            }
            'l' => {
                let (path, target) = rest.split_once(' ')?;
                Entry::symlink(path.into(), target.into())
            }
            _ => return None,
        };
        files.push(entry);
    }
    Some((files, tweaks, filtered))
}

/// Recomputes the checksum of every 512-byte block that carries a ustar magic.
fn fix_tar_checksums(tar: &mut [u8]) {
    for block in tar.chunks_exact_mut(512) {
        if &block[257..262] == b"ustar" {
            block[148..156].fill(b' ');
            let sum: u32 = block.iter().map(|&b| u32::from(b)).sum();
            let field = format!("{sum:06o}\0 ");
            block[148..156].copy_from_slice(field.as_bytes());
        }
    }
}

// ---------------------------------------------------------------------------------------------
// verify_extract

/// Input: a whole installer file. Verified against the test key, then extracted.
pub fn verify_extract(data: &[u8]) {
    let _ = verify_and_extract(data);
}

// ---------------------------------------------------------------------------------------------
// Building and running installers

/// The test key and a trust store holding only it.
pub fn test_key() -> (SigningKey, TrustStore) {
    let sk = SigningKey::from_bytes(&TEST_KEY_SEED);
    let vk = sk.verifying_key();
    let trusted = TrustedKey { key: vk, id: keys::key_id(&vk), origin: "fuzz test key".into() };
    (sk, TrustStore::from_keys(vec![trusted]))
}

/// A signed installer with these manifest entries and this (uncompressed) tar stream as payload,
/// after `tweak` had its say, or `None` when that does not make a valid manifest.
pub fn build_installer(files: Vec<Entry>, tar: &[u8], tweak: impl FnOnce(&mut Manifest)) -> Option<Vec<u8>> {
    let (sk, _) = test_key();
    let payload = zstd::bulk::compress(tar, 1).expect("zstd compresses");
    let mut manifest = Manifest {
        format: format::manifest::MANIFEST_FORMAT,
        product: Product::Go,
        go_version: "go1.27.3".into(),
        goos: "linux".into(),
        goarch: "amd64".into(),
        goarm: None,
        target: "x86_64-unknown-linux-musl".into(),
        created: 0,
        signer_key_id: keys::key_id(&sk.verifying_key()),
        stub: Region { len: DUMMY_STUB.len() as u64, sha256: sha256_hex(DUMMY_STUB) },
        payload: Payload {
            compression: "zstd".into(),
            len: payload.len() as u64,
            sha256: sha256_hex(&payload),
            uncompressed_len: tar.len() as u64,
            window_log: format::manifest::MAX_WINDOW_LOG,
            frames: None,
            filtered: None,
        },
        source: Source { kind: "tarball".into(), name: "go.tar.gz".into(), ..Default::default() },
        go_env: [("GOPROXY".to_string(), "off".to_string())].into(),
        file_count: files.len() as u64,
        files,
        modules: None,
        delta: None,
        sumdb: None,
    };
    tweak(&mut manifest);
    manifest.validate().ok()?;
    let json = manifest.to_canonical_json();
    let region = format::manifest::encode_region(&json, 3);
    let statement = format::statement::Statement::for_manifest(&json, &region).ok()?.encode();
    let signature = sk.sign(&statement).to_bytes();
    Some(Assembled::new(DUMMY_STUB, &payload, &region, &statement, &signature).expect("small lengths").to_vec())
}

/// How one run ended.
pub enum Outcome {
    /// `verify` refused the file.
    NotVerified(installer::Error),
    /// Verified, then extraction refused the payload.
    Refused(#[allow(dead_code)] installer::Error),
    /// Verified and extracted.
    Extracted,
}

/// Writes `installer` into a fresh temporary directory beside an empty canary directory,
/// verifies it with the test key and extracts it into a fresh staging directory, then checks
/// that nothing was written outside staging and that staging holds only manifest entries (and,
/// on success, all of them, as signed). Returns the directory, kept alive, and the outcome.
pub fn verify_and_extract(installer: &[u8]) -> (tempfile::TempDir, Outcome) {
    let (_, trust) = test_key();
    let dir = tempfile::tempdir().expect("temp dir");
    let root = dir.path();
    let path = root.join("installer");
    fs::write(&path, installer).expect("write installer");
    let staging = root.join("staging");
    let canary = root.join("canary");
    fs::create_dir(&staging).expect("staging");
    fs::create_dir(&canary).expect("canary");
    let file = fs::File::open(&path).expect("open installer");
    let verified = match verify::verify(&file, &path, &trust) {
        Ok(v) => v,
        Err(e) => {
            assert_untouched(root, &staging, &canary);
            assert!(fs::read_dir(&staging).unwrap().next().is_none(), "verify wrote into staging");
            return (dir, Outcome::NotVerified(e.into()));
        }
    };
    let result = extract(&verified, &file, &staging, &|_| {});
    assert_untouched(root, &staging, &canary);
    let m = verified.manifest();
    let listed: HashMap<&str, &Entry> = m.files.iter().map(|e| (e.path.as_str(), e)).collect();
    let mut found = BTreeSet::new();
    walk(&staging, "", &mut |rel, meta| {
        assert!(listed.contains_key(rel), "extraction wrote '{rel}', which the manifest does not list");
        let want = listed[rel];
        let ty = meta.file_type();
        let ok = match want.kind {
            EntryType::Dir => ty.is_dir(),
            EntryType::File => ty.is_file(),
            EntryType::Symlink => ty.is_symlink(),
        };
        assert!(ok, "'{rel}' was extracted as {ty:?}, the manifest says {:?}", want.kind);
        found.insert(rel.to_string());
    });
    match result {
        Ok(_) => {
            for e in &m.files {
                assert!(found.contains(&e.path), "extraction succeeded without '{}'", e.path);
                let p = staging.join(&e.path);
                match e.kind {
                    EntryType::File => {
                        let mut data = Vec::new();
                        fs::File::open(&p).and_then(|mut f| f.read_to_end(&mut data)).expect("read extracted file");
                        assert_eq!(Some(sha256_hex(&data)), e.sha256, "'{}' differs from the signed digest", e.path);
                    }
                    EntryType::Symlink => {
                        let t = fs::read_link(&p).expect("read link");
                        assert_eq!(t.to_str(), e.target.as_deref(), "'{}' points elsewhere", e.path);
                    }
                    EntryType::Dir => {}
                }
            }
            check_tree(m);
            (dir, Outcome::Extracted)
        }
        Err(e) => (dir, Outcome::Refused(e)),
    }
}

/// The temporary directory holds exactly the installer, staging and the still-empty canary.
fn assert_untouched(root: &Path, staging: &Path, canary: &Path) {
    let mut names: Vec<String> =
        fs::read_dir(root).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    names.sort();
    assert_eq!(names, ["canary", "installer", "staging"], "something was written beside staging");
    assert!(fs::read_dir(canary).unwrap().next().is_none(), "something was written into the canary directory");
    let meta = fs::symlink_metadata(staging).unwrap();
    assert!(meta.is_dir(), "staging was replaced");
}

/// Calls `f` with the relative path and metadata of everything under `dir`, never following
/// symlinks.
fn walk(dir: &Path, prefix: &str, f: &mut dyn FnMut(&str, &fs::Metadata)) {
    let mut entries: Vec<_> = fs::read_dir(dir).unwrap().map(|e| e.unwrap()).collect();
    entries.sort_by_key(|e| e.file_name());
    for e in entries {
        let name = e.file_name().to_string_lossy().into_owned();
        let rel = if prefix.is_empty() { name } else { format!("{prefix}/{name}") };
        let meta = fs::symlink_metadata(e.path()).unwrap();
        f(&rel, &meta);
        if meta.is_dir() {
            // Directory modes from the manifest may forbid reading (e.g. 0o300); only root, as
            // the tests and fuzzers run, reads them regardless. Skip what cannot be read.
            if fs::read_dir(e.path()).is_ok() {
                walk(&e.path(), &rel, f);
            }
        }
    }
}

fn sha256_hex(data: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(data))
}

// ---------------------------------------------------------------------------------------------
// Seeds

/// The entry list of the seeds: a minimal Go tree with a directory, files and a symlink.
const SEED_SPEC: &str =
    "d bin\nf755 bin/go #!/bin/sh\nf VERSION go1.27.3\nf go.env GOPROXY=off\nd src\nl src/v ../VERSION\n";

fn seed_tar(files: &[Entry]) -> Vec<u8> {
    let contents: HashMap<&str, &str> = SEED_SPEC
        .lines()
        .filter(|l| l.starts_with('f'))
        .filter_map(|l| l.split_once(' ').and_then(|(_, r)| r.split_once(' ')))
        .collect();
    let mut b = tar::Builder::new(Vec::new());
    for e in files {
        let mut h = tar::Header::new_ustar();
        h.set_mode(e.mode);
        h.set_mtime(0);
        match e.kind {
            EntryType::Dir => {
                h.set_entry_type(tar::EntryType::Directory);
                h.set_size(0);
                b.append_data(&mut h, &e.path, std::io::empty()).unwrap();
            }
            EntryType::File => {
                let data = contents[e.path.as_str()].as_bytes();
                h.set_entry_type(tar::EntryType::Regular);
                h.set_size(data.len() as u64);
                b.append_data(&mut h, &e.path, data).unwrap();
            }
            EntryType::Symlink => {
                h.set_entry_type(tar::EntryType::Symlink);
                h.set_size(0);
                b.append_link(&mut h, &e.path, e.target.as_deref().unwrap()).unwrap();
            }
        }
    }
    b.into_inner().unwrap()
}

/// A filter seed: x86 (first byte even), then a call, a `LEAQ`, a `MOVQ` with a displacement
/// out of range, a run of `E8`, a `LEAQ` off a base register, a jump, a call cut off by the end.
const FILTER_SEED_X86: &[u8] = b"\x00\xe8\x10\x00\x00\x00\x48\x8d\x05\xf0\xff\xff\xff\x4c\x8b\x0d\x00\x00\x00\x01\
\xe8\xe8\xe8\xe8\xe8\xe8\x90\xc3\x48\x8d\x45\x08\xe9\x00\x00\x00\x00\xe8\x00\x00";

/// A filter seed: arm64 (first byte odd), then little-endian words `BL`, `ADRP`, `ADRP` one page
/// back, `NOP`, `B`, `RET`, and two bytes of an incomplete word.
const FILTER_SEED_ARM64: &[u8] = b"\x01\x10\x00\x00\x94\x00\x00\x00\x90\xe5\xff\xff\xf0\x1f\x20\x03\xd5\
\x03\x00\x00\x14\xc0\x03\x5f\xd6\x00\x94";

/// The manifest entries of the seeds.
pub fn seeds_files() -> Vec<Entry> {
    parse_spec(SEED_SPEC).unwrap().0
}

/// Seed inputs for each target: (target, file name, bytes). Written to `fuzz/regressions/` by
/// `UPDATE_FUZZ_SEEDS=1 cargo test -p installer --test fuzz_regressions seeds_are_current`.
pub fn seeds() -> Vec<(&'static str, &'static str, Vec<u8>)> {
    let (files, _, _) = parse_spec(SEED_SPEC).unwrap();
    let tar = seed_tar(&files);
    let installer = build_installer(files.clone(), &tar, |_| {}).unwrap();
    let layout = Layout::for_lengths(layout::FORMAT_VERSION, [1000, 500, 200, 180]).unwrap();
    let mut layout_seed = layout.file_len().to_le_bytes().to_vec();
    layout_seed.extend_from_slice(&layout.encode_trailer());
    let n = installer.len() as u64;
    let mut installer_layout = n.to_le_bytes().to_vec();
    installer_layout.extend_from_slice(&installer[installer.len() - TRAILER_LEN as usize..]);
    let ul = verify::read_parts(&tempfile_with(&installer), Path::new("seed")).unwrap().layout;
    let manifest_region = installer[ul.manifest.start as usize..ul.manifest.end as usize].to_vec();
    let manifest_json = format::manifest::decode_region(ul.version, &manifest_region).unwrap().into_owned();
    let mut tar_entries_seed = (SEED_SPEC.len() as u16).to_le_bytes().to_vec();
    tar_entries_seed.extend_from_slice(SEED_SPEC.as_bytes());
    tar_entries_seed.extend_from_slice(&tar);
    // The same, bin/go carried filtered (its text has no pattern the filter changes).
    let filtered_spec = format!("{SEED_SPEC}x bin/go\n");
    let mut tar_entries_filtered = (filtered_spec.len() as u16).to_le_bytes().to_vec();
    tar_entries_filtered.extend_from_slice(filtered_spec.as_bytes());
    tar_entries_filtered.extend_from_slice(&tar);
    vec![
        ("filter", "seed-x86", FILTER_SEED_X86.to_vec()),
        ("filter", "seed-arm64", FILTER_SEED_ARM64.to_vec()),
        ("layout", "seed-small", layout_seed),
        ("layout", "seed-installer", installer_layout),
        ("manifest", "seed-small", manifest_json),
        ("manifest", "seed-region", manifest_region),
        ("sumdb", "seed-three-records", sumdb_seed()),
        ("tar_entries", "seed-small", tar_entries_seed),
        ("tar_entries", "seed-filtered", tar_entries_filtered),
        ("verify_extract", "seed-small", installer),
    ]
}

fn tempfile_with(data: &[u8]) -> fs::File {
    use std::io::{Seek, Write};
    let mut f = tempfile::tempfile().unwrap();
    f.write_all(data).unwrap();
    f.rewind().unwrap();
    f
}
