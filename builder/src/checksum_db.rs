//! The organisation's checksum database: a log of module records that the builder keeps in a
//! state file (`--sumdb-log`) and extends with each bundle, written into the bundle in Go's own
//! formats ([`format::sumdb`]) under `sumdb/NAME/`, its tree note signed by the bundle's signer.
//!
//! A log only grows: a module version already in it keeps its record (a bundle that carries it
//! with other hashes is refused: a module version never changes), except that a record made
//! from a go.mod alone is followed by a full one once a bundle carries the zip too. Each bundle
//! carries the whole log up to its own records, so a host that installs bundles one after the
//! other sees one log growing, each tree consistent with the one before.

use std::{
    collections::BTreeMap,
    fs, io,
    path::{Path, PathBuf},
};

use ed25519_dalek::{Signature, VerifyingKey};
use format::{
    layout::SignatureBytes,
    manifest::{escape_module, ChecksumDb, Module},
    sumdb::{self, Log, VerifierKey},
};
use serde::{Deserialize, Serialize};

use crate::{
    error::BuildError,
    output::write_file,
    signer::Signer,
    source::{Node, Tree},
};

/// How a bundle gets its checksum database.
#[derive(Debug, Clone, Default)]
pub struct SumdbOptions {
    /// The database's name, a host name [default: `go-offline-KEYID`].
    pub name: Option<String>,
    /// The log's state file, read and extended [default: none: a new log of this bundle only].
    pub log: Option<PathBuf>,
    /// Signing later (`--unsigned`): the detached signature of the tree note, made from the
    /// note a first run wrote ([`note_to_sign_path`]); without it that first run writes it.
    pub signature: Option<PathBuf>,
}

/// What [`add_database`] made.
#[derive(Debug, Clone, Serialize)]
pub struct SumdbSummary {
    /// The value of `GOSUMDB` that names the database.
    pub key: String,
    pub name: String,
    pub tree_size: u64,
    /// Records this bundle added to the log.
    pub added: usize,
    /// The log's state file, if one was kept.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub log: Option<PathBuf>,
}

/// The log's state file.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct State {
    format: u32,
    /// The verifier key of the database the log belongs to.
    key: String,
    /// Every record's text, in log order.
    records: Vec<String>,
}

const STATE_FORMAT: u32 = 1;

/// The log state to write once the bundle is written.
pub(crate) struct PendingState {
    path: PathBuf,
    bytes: Vec<u8>,
}

impl PendingState {
    /// Writes the extended log (atomically: a new file renamed over the old one).
    pub(crate) fn write(self) -> Result<(), BuildError> {
        write_file(&self.path, &self.bytes, 0o644)
    }
}

/// The database's default name for a key: `go-offline-KEYID`.
pub fn default_name(key: &VerifyingKey) -> String {
    format!("go-offline-{}", format::keys::key_id(key))
}

/// Where signing later puts the tree note to sign: `OUTPUT.sumdb.tosign`.
pub fn note_to_sign_path(output: &Path) -> PathBuf {
    let mut name = output.as_os_str().to_owned();
    name.push(".sumdb.tosign");
    PathBuf::from(name)
}

/// The log extended with a bundle's modules, before its tree note is signed.
pub(crate) struct Extended {
    key: VerifierKey,
    log: Log,
    /// Each module's record id.
    ids: Vec<u64>,
    /// Records before the bundle's.
    before: usize,
    tree: sumdb::Tree,
}

impl Extended {
    /// The exact bytes the tree note's signature covers.
    pub(crate) fn note_text(&self) -> String {
        self.tree.note_text()
    }

    pub(crate) fn tree_size(&self) -> u64 {
        self.tree.size
    }
}

/// Extends the log (`opts.log`, or a new one) with `modules`, for the database of `public`.
pub(crate) fn extend_log(
    modules: &[Module],
    public: &VerifyingKey,
    opts: &SumdbOptions,
) -> Result<Extended, BuildError> {
    let name = opts.name.clone().unwrap_or_else(|| default_name(public));
    let key =
        VerifierKey::new(&name, public.to_bytes()).map_err(|e| BuildError::Mismatch(format!("--sumdb-name: {e}")))?;
    let mut log = match &opts.log {
        Some(path) => read_state(path, &key)?,
        None => Log::default(),
    };
    let before = log.records.len();
    let ids = extend(&mut log, modules, opts.log.as_deref())?;
    let tree = log.tree();
    Ok(Extended { key, log, ids, before, tree })
}

/// The tree note's signature by `signer`, made now.
pub(crate) fn sign_now(extended: &Extended, signer: &Signer) -> Result<SignatureBytes, BuildError> {
    Ok(signer.sign(extended.note_text().as_bytes())?)
}

/// The tree note's signature made outside the builder, read from `path`: it must be `key`'s
/// over exactly the note the first run wrote.
pub(crate) fn signed_later(extended: &Extended, path: &Path, key: &VerifyingKey) -> Result<SignatureBytes, BuildError> {
    let bytes = fs::read(path).map_err(|e| BuildError::io("read", path, e))?;
    let signature = crate::signer::parse_detached_signature(&bytes).map_err(|problem| BuildError::Source {
        path: path.to_path_buf(),
        problem: format!("is not a detached signature: {problem}"),
    })?;
    if !format::keys::verifies(key, extended.note_text().as_bytes(), &Signature::from_bytes(&signature)) {
        return Err(BuildError::Mismatch(format!(
            "{} is not key {}'s signature of this bundle's tree note (of {} records): sign the note the first run wrote, for the same projects, cache and --sumdb-log",
            path.display(),
            format::keys::key_id(key),
            extended.tree.size
        )));
    }
    Ok(signature)
}

/// Puts the database's files into `tree` under `sumdb/NAME/`: `supported`, `latest` (the note
/// with `signature`), a `lookup/` file per module version of the bundle, and every tile.
/// Returns what the manifest says of it, a summary, and the log state to write after the
/// bundle.
pub(crate) fn add_database(
    tree: &mut Tree,
    modules: &[Module],
    extended: Extended,
    signature: &SignatureBytes,
    opts: &SumdbOptions,
) -> (ChecksumDb, SumdbSummary, Option<PendingState>) {
    let Extended { key, log, ids, before, tree: tree_head } = extended;
    let name = key.name.clone();
    let note = sumdb::signed_note(&tree_head, &key, signature);

    let dir = format!("sumdb/{name}");
    let mut put = |path: String, data: Vec<u8>| {
        tree.nodes.insert(format!("{dir}/{path}"), Node::File { mode: 0o444, data });
    };
    put("supported".into(), Vec::new());
    put("latest".into(), note.clone().into_bytes());
    for (module, id) in modules.iter().zip(&ids) {
        let (Some(path), Some(version)) = (escape_module(&module.path), escape_module(&module.version)) else {
            continue; // the bundle refused such a module already
        };
        let body = sumdb::lookup_body(*id, &log.records[*id as usize], &note);
        put(format!("lookup/{path}@{version}"), body.into_bytes());
    }
    for (path, data) in log.tiles() {
        put(path, data);
    }

    let pending = match &opts.log {
        Some(path) => {
            let state = State { format: STATE_FORMAT, key: key.to_string(), records: log.records.clone() };
            let mut bytes = serde_json::to_vec_pretty(&state).unwrap_or_default();
            bytes.push(b'\n');
            Some(PendingState { path: path.clone(), bytes })
        }
        None => None,
    };
    let db = ChecksumDb { key: key.to_string(), tree_size: tree_head.size, tree_hash: tree_head.hash_base64() };
    let summary = SumdbSummary {
        key: key.to_string(),
        name,
        tree_size: tree_head.size,
        added: log.records.len() - before,
        log: opts.log.clone(),
    };
    (db, summary, pending)
}

/// Reads a log's state file (none yet: an empty log), which must belong to `key`.
fn read_state(path: &Path, key: &VerifierKey) -> Result<Log, BuildError> {
    let bytes = match fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Log::default()),
        Err(e) => return Err(BuildError::io("read", path, e)),
    };
    let bad = |problem: String| BuildError::Source { path: path.to_path_buf(), problem };
    let state: State = serde_json::from_slice(&bytes)
        .map_err(|e| bad(format!("is not a checksum database log of this builder: {e}")))?;
    if state.format != STATE_FORMAT {
        return Err(bad(format!("is a log of format {}, this builder reads {STATE_FORMAT}", state.format)));
    }
    if state.key != key.to_string() {
        return Err(bad(format!(
            "is the log of the checksum database {}, not of {key} (this signer's, with this --sumdb-name): sign with the log's key and name, or start another log file",
            state.key
        )));
    }
    Ok(Log { records: state.records })
}

/// The module version a record is of (from its first line), and its zip and go.mod hashes.
fn parse_record(text: &str) -> Option<((String, String), Option<String>, String)> {
    let (mut key, mut zip, mut go_mod) = (None, None, None);
    for line in text.lines() {
        let mut fields = line.split(' ');
        let (Some(path), Some(version), Some(hash), None) =
            (fields.next(), fields.next(), fields.next(), fields.next())
        else {
            return None;
        };
        let (version, slot) = match version.strip_suffix("/go.mod") {
            Some(v) => (v, &mut go_mod),
            None => (version, &mut zip),
        };
        let k = (path.to_string(), version.to_string());
        if key.get_or_insert_with(|| k.clone()) != &k {
            return None;
        }
        *slot = Some(hash.to_string());
    }
    Some((key?, zip, go_mod?))
}

/// Appends the records of `modules` the log lacks; returns each module's record id.
fn extend(log: &mut Log, modules: &[Module], state: Option<&Path>) -> Result<Vec<u64>, BuildError> {
    // The newest record of each module version.
    let mut index: BTreeMap<(String, String), (u64, Option<String>, String)> = BTreeMap::new();
    for (id, text) in log.records.iter().enumerate() {
        let Some((key, zip, go_mod)) = parse_record(text) else {
            return Err(BuildError::Source {
                path: state.map(Path::to_path_buf).unwrap_or_default(),
                problem: format!("record {id} is not go.sum lines of one module version: '{}'", text.escape_debug()),
            });
        };
        index.insert(key, (id as u64, zip, go_mod));
    }
    let mut ids = Vec::with_capacity(modules.len());
    for m in modules {
        let key = (m.path.clone(), m.version.clone());
        let id = match index.get(&key) {
            Some((id, zip, go_mod)) => {
                let changed = *go_mod != m.mod_h1 || zip.as_ref().zip(m.zip_h1.as_ref()).is_some_and(|(a, b)| a != b);
                if changed {
                    return Err(BuildError::Mismatch(format!(
                        "{}@{}: the checksum database log has it with other hashes (record {id}: {} {}); a module version never changes: find out which copy is right before bundling it",
                        m.path,
                        m.version,
                        zip.as_deref().unwrap_or("no zip hash,"),
                        go_mod
                    )));
                }
                if zip.is_none() && m.zip_h1.is_some() {
                    // Known by its go.mod only: a full record follows.
                    None
                } else {
                    Some(*id)
                }
            }
            None => None,
        };
        let id = match id {
            Some(id) => id,
            None => {
                let text = sumdb::record_text(&m.path, &m.version, m.zip_h1.as_deref(), &m.mod_h1);
                log.records.push(text);
                let id = log.records.len() as u64 - 1;
                index.insert(key, (id, m.zip_h1.clone(), m.mod_h1.clone()));
                id
            }
        };
        ids.push(id);
    }
    Ok(ids)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn module(path: &str, zip: Option<&str>, go_mod: &str) -> Module {
        Module { path: path.into(), version: "v1.0.0".into(), mod_h1: go_mod.into(), zip_h1: zip.map(String::from) }
    }

    #[test]
    fn the_log_only_grows() {
        let mut log = Log::default();
        let a = module("example.org/a", Some("h1:za="), "h1:ma=");
        let b_mod = module("example.org/b", None, "h1:mb=");
        assert_eq!(extend(&mut log, &[a.clone(), b_mod.clone()], None).unwrap(), [0, 1]);
        // Again: nothing new.
        assert_eq!(extend(&mut log, &[a.clone(), b_mod.clone()], None).unwrap(), [0, 1]);
        assert_eq!(log.records.len(), 2);
        // b with its zip now: a full record follows; later bundles use it, with or without zip.
        let b = module("example.org/b", Some("h1:zb="), "h1:mb=");
        assert_eq!(extend(&mut log, std::slice::from_ref(&b), None).unwrap(), [2]);
        assert_eq!(extend(&mut log, &[b_mod, b], None).unwrap(), [2, 2]);
        assert_eq!(log.records[2], "example.org/b v1.0.0 h1:zb=\nexample.org/b v1.0.0/go.mod h1:mb=\n");
        // Other hashes for a known version are refused, the log unchanged.
        for changed in
            [module("example.org/a", Some("h1:other="), "h1:ma="), module("example.org/a", None, "h1:other=")]
        {
            let err = extend(&mut log, &[changed], None).unwrap_err();
            assert!(err.to_string().contains("never changes"), "{err}");
        }
        assert_eq!(log.records.len(), 3);
    }

    #[test]
    fn records_parse_back() {
        let text = sumdb::record_text("example.org/a", "v1.2.3", Some("h1:z="), "h1:m=");
        assert_eq!(
            parse_record(&text),
            Some((("example.org/a".into(), "v1.2.3".into()), Some("h1:z=".into()), "h1:m=".into()))
        );
        for bad in ["", "a v1 h1:x\n", "a v1 h1:x\nb v1/go.mod h1:y\n", "a v1/go.mod h1:y extra\n"] {
            assert_eq!(parse_record(bad), None, "{bad:?}");
        }
    }
}
