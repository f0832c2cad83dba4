//! Go's checksum database in Go's own formats (`golang.org/x/mod/sumdb` and its `tlog` and
//! `note` packages): the records, the tiled transparency log, the signed tree note, and the
//! static files a module proxy serves under `sumdb/NAME/` (`supported`, `latest`,
//! `lookup/M@V`, `tile/8/L/N[.p/W]`, `tile/8/data/N[.p/W]`), which the go command reads through a
//! `GOPROXY` (also a `file://` one) when `GOSUMDB` names the database by its verifier key.
//!
//! The builder makes them ([`Log::files`]); the installer checks what it merges ([`check`]):
//! the tree note's signature, every tile against the log's leaves, every lookup's record
//! against its leaf, and that a new log extends the installed one.
//!
//! The hashes are RFC 6962's: a record's leaf is `SHA-256(0x00 ‖ text)`, a node
//! `SHA-256(0x01 ‖ left ‖ right)`, the tree hash of `n` leaves splits at the largest power of
//! two below `n`.

use std::collections::BTreeMap;

use ed25519_dalek::{Signature, VerifyingKey};
use sha2::{Digest, Sha256};

/// The tile height of Go's client (and of `sum.golang.org`).
pub const TILE_HEIGHT: u32 = 8;
const TILE_WIDTH: usize = 1 << TILE_HEIGHT;
/// One hash of the tree.
pub type Hash = [u8; 32];
/// The note's algorithm byte for Ed25519.
const ALG_ED25519: u8 = 1;
const TREE_HEADER: &str = "go.sum database tree\n";
/// The longest file of a database that [`check`] reads (a data tile of 256 records is far less).
pub const MAX_FILE_LEN: usize = 16 << 20;
/// The most records a log may hold here.
pub const MAX_RECORDS: u64 = 1 << 32;

/// What is wrong with a database's files or names.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SumdbError {
    #[error(
        "checksum database name '{0}' is not a host name (lower-case letters, digits, '-' and '.', as in sumdb.example.org)"
    )]
    Name(String),
    #[error("checksum database key '{0}' is not NAME+HASH+KEY with an Ed25519 key (the value of GOSUMDB)")]
    Key(String),
    /// A file is missing or not in its format.
    #[error("checksum database file '{path}': {problem}")]
    File { path: String, problem: String },
    /// The files do not make one log: a tile, record or tree that does not match.
    #[error("checksum database {name}: {problem}")]
    Inconsistent { name: String, problem: String },
}

/// A database's verifier key: its name and Ed25519 public key (Go's `name+hash+base64`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifierKey {
    pub name: String,
    pub public: [u8; 32],
}

impl VerifierKey {
    /// The key of database `name` (checked: Go takes it as a host name).
    pub fn new(name: &str, public: [u8; 32]) -> Result<VerifierKey, SumdbError> {
        if !valid_name(name) {
            return Err(SumdbError::Name(name.into()));
        }
        Ok(VerifierKey { name: name.into(), public })
    }

    /// Parses `GOSUMDB`'s `name+hash+base64(0x01 ‖ key)`.
    pub fn parse(s: &str) -> Result<VerifierKey, SumdbError> {
        let bad = || SumdbError::Key(s.into());
        let mut parts = s.splitn(3, '+');
        let (Some(name), Some(hash), Some(key)) = (parts.next(), parts.next(), parts.next()) else {
            return Err(bad());
        };
        let key = base64_decode(key).ok_or_else(bad)?;
        let [ALG_ED25519, public @ ..] = key.as_slice() else { return Err(bad()) };
        let public: [u8; 32] = public.try_into().map_err(|_| bad())?;
        let parsed = VerifierKey::new(name, public).map_err(|_| bad())?;
        if hash.len() != 8 || u32::from_str_radix(hash, 16).ok() != Some(parsed.hash()) {
            return Err(bad());
        }
        Ok(parsed)
    }

    /// The first four bytes of `SHA-256(name ‖ "\n" ‖ 0x01 ‖ key)`, big-endian: how a signature
    /// line names its key.
    pub fn hash(&self) -> u32 {
        let digest = Sha256::new()
            .chain_update(self.name.as_bytes())
            .chain_update(b"\n")
            .chain_update([ALG_ED25519])
            .chain_update(self.public)
            .finalize();
        u32::from_be_bytes([digest[0], digest[1], digest[2], digest[3]])
    }
}

impl std::fmt::Display for VerifierKey {
    /// The value of `GOSUMDB`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut key = vec![ALG_ED25519];
        key.extend_from_slice(&self.public);
        write!(f, "{}+{:08x}+{}", self.name, self.hash(), base64_encode(&key))
    }
}

/// Whether Go takes `name` as a database name: a host name here (Go also allows a path after
/// it; we do not need one), at most 253 bytes.
pub fn valid_name(name: &str) -> bool {
    name.len() <= 253
        && name.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        })
}

/// A record's text: the go.sum lines of one module version (`PATH VERSION h1:…` for its zip
/// when known, then `PATH VERSION/go.mod h1:…`), as `sum.golang.org` writes them.
pub fn record_text(path: &str, version: &str, zip_h1: Option<&str>, mod_h1: &str) -> String {
    let mut text = String::new();
    if let Some(zip) = zip_h1 {
        text.push_str(&format!("{path} {version} {zip}\n"));
    }
    text.push_str(&format!("{path} {version}/go.mod {mod_h1}\n"));
    text
}

/// The leaf hash of a record.
pub fn record_hash(text: &[u8]) -> Hash {
    Sha256::new().chain_update([0u8]).chain_update(text).finalize().into()
}

fn node_hash(left: &Hash, right: &Hash) -> Hash {
    Sha256::new().chain_update([1u8]).chain_update(left).chain_update(right).finalize().into()
}

/// The hash of the tree of `leaves` (all zeros for none, as `tlog` has it).
pub fn tree_hash(leaves: &[Hash]) -> Hash {
    match leaves.len() {
        0 => [0; 32],
        1 => leaves[0],
        n => {
            let split = 1usize << (usize::BITS - 1 - (n - 1).leading_zeros());
            node_hash(&tree_hash(&leaves[..split]), &tree_hash(&leaves[split..]))
        }
    }
}

/// A tree head: how many records, and the tree's hash.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tree {
    pub size: u64,
    pub hash: Hash,
}

impl Tree {
    /// The text a tree note signs: `go.sum database tree\nSIZE\nBASE64\n`.
    pub fn note_text(&self) -> String {
        format!("{TREE_HEADER}{}\n{}\n", self.size, base64_encode(&self.hash))
    }

    /// The tree's hash in base64, as the note writes it.
    pub fn hash_base64(&self) -> String {
        base64_encode(&self.hash)
    }
}

/// The signed note of `tree`: its text, a blank line, and the signature line
/// `— NAME BASE64(key hash ‖ signature)` of `key` (`signature` is over the text).
pub fn signed_note(tree: &Tree, key: &VerifierKey, signature: &[u8; 64]) -> String {
    let mut sig = key.hash().to_be_bytes().to_vec();
    sig.extend_from_slice(signature);
    format!("{}\n\u{2014} {} {}\n", tree.note_text(), key.name, base64_encode(&sig))
}

/// Opens a signed tree note: its signature by `key` must verify (other signatures are
/// ignored), and its text must be a tree head. `what` names the file in errors.
pub fn open_note(note: &[u8], key: &VerifierKey, what: &str) -> Result<Tree, SumdbError> {
    let bad = |problem: &str| SumdbError::File { path: what.into(), problem: problem.into() };
    let note = std::str::from_utf8(note).map_err(|_| bad("is not UTF-8"))?;
    let split = note.rfind("\n\n").ok_or_else(|| bad("has no signature"))?;
    let (text, signatures) = (&note[..split + 1], &note[split + 2..]);
    let verifying = VerifyingKey::from_bytes(&key.public).map_err(|_| bad("the database key is not an Ed25519 key"))?;
    let prefix = format!("\u{2014} {} ", key.name);
    let signed = signatures.lines().filter_map(|line| line.strip_prefix(&prefix)).any(|b64| {
        let Some(raw) = base64_decode(b64) else { return false };
        let Some((hash, sig)) = raw.split_first_chunk::<4>() else { return false };
        let Ok(sig) = Signature::from_slice(sig) else { return false };
        u32::from_be_bytes(*hash) == key.hash() && crate::keys::verifies(&verifying, text.as_bytes(), &sig)
    });
    if !signed {
        return Err(bad(&format!("is not signed by the key of {}", key.name)));
    }
    let body = text.strip_prefix(TREE_HEADER).ok_or_else(|| bad("is not a tree note"))?;
    let mut lines = body.split('\n');
    let (Some(size), Some(hash), Some("")) = (lines.next(), lines.next(), lines.next()) else {
        return Err(bad("is not a tree note"));
    };
    let size: u64 = size.parse().ok().filter(|n: &u64| n.to_string() == size).ok_or_else(|| bad("has a bad size"))?;
    let hash: Hash = base64_decode(hash).and_then(|h| h.try_into().ok()).ok_or_else(|| bad("has a bad hash"))?;
    Ok(Tree { size, hash })
}

/// The size of the tree a tree note, or a lookup file ending in one, names (unverified: for
/// choosing the newer of two files; [`check`] verifies).
pub fn note_tree_size(bytes: &[u8]) -> Option<u64> {
    let text = std::str::from_utf8(bytes).ok()?;
    let at = text.rfind(TREE_HEADER)? + TREE_HEADER.len();
    text[at..].split('\n').next()?.parse().ok()
}

/// The path of a tile under the database directory: `tile/8/L/N[.p/W]`, `L` being `data` for
/// a data tile, `N` written in three-digit elements (`x001/234`).
pub fn tile_path(level: Option<u32>, index: u64, width: usize) -> String {
    let mut n = format!("{:03}", index % 1000);
    let mut rest = index;
    while rest >= 1000 {
        rest /= 1000;
        n = format!("x{:03}/{n}", rest % 1000);
    }
    let level = level.map_or_else(|| "data".to_string(), |l| l.to_string());
    let partial = if width == TILE_WIDTH { String::new() } else { format!(".p/{width}") };
    format!("tile/{TILE_HEIGHT}/{level}/{n}{partial}")
}

/// A lookup file's body: the record's id and text, a blank line, and the signed tree note.
pub fn lookup_body(id: u64, text: &str, note: &str) -> String {
    format!("{id}\n{text}\n{note}")
}

/// A log: its records' texts in order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Log {
    pub records: Vec<String>,
}

impl Log {
    /// The leaf hashes.
    pub fn leaves(&self) -> Vec<Hash> {
        self.records.iter().map(|r| record_hash(r.as_bytes())).collect()
    }

    /// The tree head of the whole log.
    pub fn tree(&self) -> Tree {
        Tree { size: self.records.len() as u64, hash: tree_hash(&self.leaves()) }
    }

    /// Every tile of the log's tree, hash tiles and data tiles: `(path, bytes)`.
    pub fn tiles(&self) -> Vec<(String, Vec<u8>)> {
        let mut tiles = hash_tiles(&self.leaves());
        for (n, chunk) in self.records.chunks(TILE_WIDTH).enumerate() {
            let data: String = chunk.iter().map(|r| format!("{r}\n")).collect();
            tiles.push((tile_path(None, n as u64, chunk.len()), data.into_bytes()));
        }
        tiles
    }
}

/// The hash tiles of a tree of `leaves`: at each tile level `t` the stored hashes of tree level
/// `8t` (the hashes of complete subtrees of `2^8t` leaves), 256 to a tile, the last partial.
fn hash_tiles(leaves: &[Hash]) -> Vec<(String, Vec<u8>)> {
    let mut tiles = Vec::new();
    let mut row: Vec<Hash> = leaves.to_vec();
    let mut level = 0;
    while !row.is_empty() {
        for (n, chunk) in row.chunks(TILE_WIDTH).enumerate() {
            tiles.push((tile_path(Some(level), n as u64, chunk.len()), chunk.concat()));
        }
        for _ in 0..TILE_HEIGHT {
            row = row.chunks_exact(2).map(|pair| node_hash(&pair[0], &pair[1])).collect();
        }
        level += 1;
    }
    tiles
}

/// What [`check`] found: the tree head `latest` signs, and each lookup's module version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checked {
    pub tree: Tree,
    /// `(path, version)` of every lookup file.
    pub lookups: Vec<(String, String)>,
}

/// Checks a database's files, given as paths under its directory (`latest`, `tile/…`,
/// `lookup/…`, `supported`) with their bytes: `latest` is signed by `key`; the data tiles hold
/// every record of its tree and the hash tiles are exactly those of those records; every lookup
/// file names a record of the tree by id, its text, and a tree note signed by `key` whose tree
/// the log extends; and no other file is there. The log must also extend each tree of
/// `extends` (the tree head a host had, the one a bundle's manifest signs).
pub fn check(key: &VerifierKey, files: &BTreeMap<String, Vec<u8>>, extends: &[Tree]) -> Result<Checked, SumdbError> {
    let inconsistent = |problem: String| SumdbError::Inconsistent { name: key.name.clone(), problem };
    let get = |path: &str| {
        files.get(path).ok_or_else(|| SumdbError::File { path: path.into(), problem: "is missing".into() })
    };
    let tree = open_note(get("latest")?, key, "latest")?;
    if tree.size == 0 || tree.size > MAX_RECORDS {
        return Err(inconsistent(format!("its tree has {} records", tree.size)));
    }
    // The records, from the data tiles of the tree.
    let mut records: Vec<String> = Vec::new();
    let mut n = 0u64;
    while (records.len() as u64) < tree.size {
        let width = (tree.size - records.len() as u64).min(TILE_WIDTH as u64) as usize;
        let path = tile_path(None, n, width);
        let data = std::str::from_utf8(get(&path)?)
            .map_err(|_| SumdbError::File { path: path.clone(), problem: "is not UTF-8".into() })?;
        let texts: Vec<&str> = data.split_inclusive("\n\n").collect();
        if texts.len() != width || !data.ends_with("\n\n") {
            return Err(SumdbError::File { path, problem: format!("does not hold {width} records") });
        }
        records.extend(texts.iter().map(|t| t[..t.len() - 1].to_string()));
        n += 1;
    }
    let log = Log { records };
    let leaves = log.leaves();
    if tree_hash(&leaves) != tree.hash {
        return Err(inconsistent(format!(
            "its records do not make the tree of {} records that latest signs",
            tree.size
        )));
    }
    for old in extends {
        if old.size > tree.size || tree_hash(&leaves[..old.size as usize]) != old.hash {
            return Err(inconsistent(format!(
                "its log does not extend the tree of {} records it must extend (a log kept apart from the installed one: build bundles with the same --sumdb-log)",
                old.size
            )));
        }
    }
    // (Vectors searched in order rather than maps: a few dozen tiles, a handful of notes, and
    // each map type would compile its own code into the stub.)
    let tiles = log.tiles();
    let mut found = vec![false; tiles.len()];
    let mut lookups = Vec::new();
    // The notes already verified (the lookups of one bundle share one), with their trees.
    let mut notes: Vec<(&str, Tree)> = Vec::new();
    for (path, bytes) in files {
        if path == "latest" || path == "supported" {
            continue;
        }
        if let Some(module) = path.strip_prefix("lookup/") {
            lookups.push(check_lookup(key, path, module, bytes, &leaves, &mut notes)?);
            continue;
        }
        // One of the tree's tiles, or one of an older tree of this log (a partial one installed
        // before), which is one of this tree's tiles cut short.
        let want = match tiles.iter().position(|(p, _)| p == path) {
            Some(i) => {
                found[i] = true;
                Some(tiles[i].1.clone())
            }
            None => older_tile(path, &tiles),
        };
        if want.as_deref() != Some(bytes.as_slice()) {
            return Err(inconsistent(format!("{path} is not a tile of its log")));
        }
    }
    if let Some(i) = found.iter().position(|f| !f) {
        return Err(SumdbError::File { path: tiles[i].0.clone(), problem: "is missing".into() });
    }
    Ok(Checked { tree, lookups })
}

/// A partial tile of an older tree of the log whose tiles are `tiles`, by its path, if the path
/// is one: the first entries of the same tile in the newest tree (complete hashes and records
/// never change in a log that only grows).
fn older_tile(path: &str, tiles: &[(String, Vec<u8>)]) -> Option<Vec<u8>> {
    let (tile, width) = path.split_once(".p/")?;
    let width: usize = width.parse().ok().filter(|w| (1..TILE_WIDTH).contains(w) && w.to_string() == width)?;
    // The newest tree has the tile whole (`tile`) or partial (`tile.p/W`).
    let (_, newest) =
        tiles.iter().find(|(p, _)| p == tile || p.strip_prefix(tile).is_some_and(|rest| rest.starts_with(".p/")))?;
    if tile.starts_with(&format!("tile/{TILE_HEIGHT}/data/")) {
        let records: Vec<&str> = std::str::from_utf8(newest).ok()?.split_inclusive("\n\n").collect();
        (records.len() > width).then(|| records[..width].concat().into_bytes())
    } else {
        (newest.len() > width * 32).then(|| newest[..width * 32].to_vec())
    }
}

/// Checks one lookup file (`lookup/MODULE`, `MODULE` being `ESCAPED_PATH@ESCAPED_VERSION`):
/// its record is the leaf its id names, and it is the record of that module version.
fn check_lookup<'a>(
    key: &VerifierKey,
    path: &str,
    module: &str,
    bytes: &'a [u8],
    leaves: &[Hash],
    notes: &mut Vec<(&'a str, Tree)>,
) -> Result<(String, String), SumdbError> {
    let bad = |problem: String| SumdbError::File { path: path.into(), problem };
    let body = std::str::from_utf8(bytes).map_err(|_| bad("is not UTF-8".into()))?;
    let (id, rest) = body.split_once('\n').ok_or_else(|| bad("has no record id".into()))?;
    let id: u64 =
        id.parse().ok().filter(|n: &u64| n.to_string() == id).ok_or_else(|| bad("has a bad record id".into()))?;
    let end = rest.find("\n\n").ok_or_else(|| bad("has no record".into()))?;
    let (text, note) = (&rest[..end + 1], &rest[end + 2..]);
    let leaf = leaves.get(id as usize).ok_or_else(|| bad(format!("names record {id}, beyond the log")))?;
    if record_hash(text.as_bytes()) != *leaf {
        return Err(bad(format!("its record is not record {id} of the log")));
    }
    let tree = match notes.iter().find(|(n, _)| *n == note) {
        Some((_, tree)) => *tree,
        None => {
            let tree = open_note(note.as_bytes(), key, path)?;
            if tree.size == 0
                || tree.size > leaves.len() as u64
                || tree_hash(&leaves[..tree.size as usize]) != tree.hash
            {
                return Err(bad("its tree note is not a tree of the log".into()));
            }
            notes.push((note, tree));
            tree
        }
    };
    if id >= tree.size {
        return Err(bad(format!("its tree note, of {} records, does not hold record {id}", tree.size)));
    }
    let first = text.lines().next().unwrap_or_default();
    let mut fields = first.split(' ');
    let (Some(m_path), Some(version)) = (fields.next(), fields.next()) else {
        return Err(bad("its record is not go.sum lines".into()));
    };
    let version = version.strip_suffix("/go.mod").unwrap_or(version);
    let named = crate::manifest::escape_module(m_path).zip(crate::manifest::escape_module(version));
    if named.map(|(p, v)| format!("{p}@{v}")).as_deref() != Some(module) {
        return Err(bad(format!("holds the record of {m_path}@{version}")));
    }
    Ok((m_path.to_string(), version.to_string()))
}

const BASE64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// Standard base64 with padding.
pub fn base64_encode(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [chunk[0], chunk.get(1).copied().unwrap_or(0), chunk.get(2).copied().unwrap_or(0)];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(BASE64[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// Standard base64 with padding, canonical (what [`base64_encode`] gives) or nothing.
pub fn base64_decode(text: &str) -> Option<Vec<u8>> {
    if text.len() % 4 != 0 {
        return None;
    }
    let mut out = Vec::with_capacity(text.len() / 4 * 3);
    for chunk in text.as_bytes().chunks(4) {
        let pad = chunk.iter().rev().take_while(|&&c| c == b'=').count();
        if pad > 2 {
            return None;
        }
        let mut n = 0u32;
        for &c in &chunk[..4 - pad] {
            n = (n << 6) | BASE64.iter().position(|&a| a == c)? as u32;
        }
        n <<= 6 * pad;
        out.extend_from_slice(&n.to_be_bytes()[1..4 - pad]);
    }
    (base64_encode(&out) == text).then_some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ed25519_dalek::{Signer, SigningKey};

    fn signing() -> SigningKey {
        SigningKey::from_bytes(&[7; 32])
    }

    fn key() -> VerifierKey {
        VerifierKey::new("sumdb.example.org", signing().verifying_key().to_bytes()).unwrap()
    }

    fn note(tree: &Tree) -> String {
        signed_note(tree, &key(), &signing().sign(tree.note_text().as_bytes()).to_bytes())
    }

    fn log(n: usize) -> Log {
        Log {
            records: (0..n)
                .map(|i| record_text(&format!("example.org/m{i}"), "v1.0.0", Some("h1:zip="), "h1:mod="))
                .collect(),
        }
    }

    /// The files a proxy serves for a log, with lookups for each record.
    fn files(log: &Log) -> BTreeMap<String, Vec<u8>> {
        let tree = log.tree();
        let note = note(&tree);
        let mut files: BTreeMap<String, Vec<u8>> = log.tiles().into_iter().collect();
        files.insert("latest".into(), note.clone().into_bytes());
        files.insert("supported".into(), Vec::new());
        for (id, text) in log.records.iter().enumerate() {
            let mut fields = text.split(' ');
            let (module, version) = (fields.next().unwrap(), fields.next().unwrap());
            let path = format!("lookup/{module}@{}", version.trim_end_matches("/go.mod"));
            files.insert(path, lookup_body(id as u64, text, &note).into_bytes());
        }
        files
    }

    #[test]
    fn base64_round_trips_and_refuses_what_is_not_canonical() {
        for len in 0..40 {
            let bytes: Vec<u8> = (0..len).map(|i| (i * 37 + 11) as u8).collect();
            assert_eq!(base64_decode(&base64_encode(&bytes)).unwrap(), bytes);
        }
        assert_eq!(base64_encode(b"any carnal pleas"), "YW55IGNhcm5hbCBwbGVhcw==");
        for bad in ["YW55IGNhcm5hbCBwbGVhcw=", "YW55IGNhcm5hbCBwbGVhcx==", "Y===", "YW5*"] {
            assert_eq!(base64_decode(bad), None, "{bad}");
        }
    }

    #[test]
    fn verifier_keys_read_back_and_bad_ones_are_refused() {
        let k = key();
        assert_eq!(VerifierKey::parse(&k.to_string()).unwrap(), k);
        let text = k.to_string();
        let wrong_hash = text.replacen(&format!("{:08x}", k.hash()), "00000000", 1);
        for bad in [wrong_hash.as_str(), "sumdb.example.org", "Sum.example.org+00000000+AQ==", ""] {
            assert!(VerifierKey::parse(bad).is_err(), "{bad}");
        }
        for (name, ok) in [
            ("sumdb.example.org", true),
            ("go-offline-3a0f", true),
            ("a b", false),
            ("x+y", false),
            ("-a", false),
            ("a..b", false),
        ] {
            assert_eq!(valid_name(name), ok, "{name}");
        }
    }

    #[test]
    fn tree_hashes_follow_rfc6962() {
        // The tree of one leaf is the leaf; of three, node(node(l0, l1), l2).
        let leaves: Vec<Hash> = (0..3u8).map(|i| record_hash(&[i])).collect();
        assert_eq!(tree_hash(&leaves[..1]), leaves[0]);
        assert_eq!(tree_hash(&leaves), node_hash(&node_hash(&leaves[0], &leaves[1]), &leaves[2]));
        // Tiles: one level-0 tile per 256 leaves, a level-1 tile once 256 leaves are complete.
        let paths: Vec<String> = log(600).tiles().into_iter().map(|(p, _)| p).collect();
        assert_eq!(
            paths,
            [
                "tile/8/0/000",
                "tile/8/0/001",
                "tile/8/0/002.p/88",
                "tile/8/1/000.p/2",
                "tile/8/data/000",
                "tile/8/data/001",
                "tile/8/data/002.p/88"
            ]
        );
        assert_eq!(tile_path(Some(3), 1_234_067, 1), "tile/8/3/x001/x234/067.p/1");
    }

    #[test]
    fn a_whole_database_checks_and_each_change_is_caught() {
        for n in [1, 2, 257] {
            let log = log(n);
            let files = files(&log);
            let checked = check(&key(), &files, &[]).unwrap();
            assert_eq!(checked.tree, log.tree());
            assert_eq!(checked.lookups.len(), n);
            // Every byte of every file matters (the lookups: the first and the last).
            let lookups: Vec<&String> = files.keys().filter(|p| p.starts_with("lookup/")).collect();
            for (path, bytes) in &files {
                if path == "supported"
                    || (path.starts_with("lookup/") && path != lookups[0] && Some(&path) != lookups.last())
                {
                    continue;
                }
                for at in [0, bytes.len() / 2, bytes.len().saturating_sub(1)] {
                    let mut changed = files.clone();
                    let Some(b) = changed.get_mut(path).unwrap().get_mut(at) else { continue };
                    *b ^= 1;
                    assert!(check(&key(), &changed, &[]).is_err(), "{n}: {path} byte {at}");
                }
                let mut missing = files.clone();
                missing.remove(path);
                if !path.starts_with("lookup/") {
                    assert!(check(&key(), &missing, &[]).is_err(), "{n}: without {path}");
                }
            }
        }
    }

    #[test]
    fn a_log_must_extend_the_installed_one() {
        let old = log(300);
        let mut new = old.clone();
        new.records.push(record_text("example.org/new", "v1.0.0", None, "h1:mod="));
        // The new log's files with the old one's partial tiles and lookups still there.
        let mut merged = files(&new);
        for (path, bytes) in files(&old) {
            merged.entry(path).or_insert(bytes);
        }
        assert_eq!(check(&key(), &merged, &[old.tree(), new.tree()]).unwrap().tree, new.tree());
        // A log that rewrote a record does not.
        let mut forked = old.clone();
        forked.records[5] = record_text("example.org/m5", "v1.0.0", Some("h1:other="), "h1:mod=");
        forked.records.push(record_text("example.org/new", "v1.0.0", None, "h1:mod="));
        let err = check(&key(), &files(&forked), &[old.tree()]).unwrap_err();
        assert!(err.to_string().contains("does not extend"), "{err}");
        // Nor does a shorter one.
        assert!(check(&key(), &files(&log(10)), &[old.tree()]).is_err());
    }

    #[test]
    fn notes_signed_by_another_key_or_malformed_are_refused() {
        let tree = log(3).tree();
        let other = SigningKey::from_bytes(&[9; 32]);
        let forged = signed_note(&tree, &key(), &other.sign(tree.note_text().as_bytes()).to_bytes());
        assert!(open_note(forged.as_bytes(), &key(), "latest").is_err());
        assert_eq!(open_note(note(&tree).as_bytes(), &key(), "latest").unwrap(), tree);
        for bad in ["", "go.sum database tree\n3\n", "\n\n\u{2014} sumdb.example.org AAAA\n"] {
            assert!(open_note(bad.as_bytes(), &key(), "latest").is_err(), "{bad:?}");
        }
    }
}
