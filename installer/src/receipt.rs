//! Receipts and the host log: what was installed, where, from which file, signed by whom, when
//! and by whom.
//!
//! ```text
//! PREFIX/.go-offline/receipts/go-1.27.3.json   one per version tree: its files (as the signed
//!                                              manifest lists them), installer sha256, signer,
//!                                              time, user, the environment it relies on
//! PREFIX/.go-offline/state.json                the prefix: previous version (for rollback) and
//!                                              every environment file or line this tool added
//! /var/log/go-offline-installer.log            host log (root); for a user:
//!                                              $XDG_STATE_HOME/go-offline-installer/log.jsonl
//! ```
//!
//! Receipts and the state are written at commit, from the journal (see journal.rs), with
//! temp file + rename; the host log gets one JSON line per committed action, at most once per
//! action id, so a recovery that finishes an action does not log it twice.
//!
//! **Invariant:** uninstall and verify-installed trust only receipts: a file no receipt lists is
//! never deleted, and every file a receipt lists is checked.

use std::{
    fs,
    io::{ErrorKind, Write},
    path::{Path, PathBuf},
    time::{SystemTime, UNIX_EPOCH},
};

use format::manifest::Entry;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

pub use crate::prefix::{receipt_path, state_dir, RECEIPTS, STATE_DIR};
use crate::{error::Error, os};

const STATE_FILE: &str = "state.json";
const RECEIPT_FORMAT: u32 = 1;
/// Receipts list every file of a tree; anything bigger than this is not ours.
const MAX_RECEIPT_LEN: u64 = 64 << 20;

/// Where a tree came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Origin {
    /// Installed from a verified, signed installer.
    Installed,
    /// A plain `PREFIX/go` tree (the official tarball unpacked by hand, or an earlier install)
    /// that was moved to its versioned name when another version was installed; its files are
    /// recorded as found then.
    Adopted,
}

/// Who did something.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Actor {
    pub uid: u32,
    pub user: Option<String>,
    /// The user behind `sudo`, when there was one.
    pub sudo_user: Option<String>,
    pub host: String,
}

impl Actor {
    /// The user running this process.
    pub fn current() -> Actor {
        let u = &os::host().user;
        Actor { uid: u.uid, user: u.name.clone(), sudo_user: u.sudo_user.clone(), host: u.host.clone() }
    }
}

/// The installer a tree came from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InstallerInfo {
    pub path: PathBuf,
    pub sha256: String,
    pub len: u64,
    pub target: String,
    pub signer_key_id: String,
    /// The trust source that accepted the signer (a key file, the host directory, compiled in).
    pub signer_trusted_by: String,
}

/// Something this tool added to the shell environment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum EnvRecord {
    /// A whole file of ours (profile.d/go.sh, ~/.config/go-offline/env, the fish script);
    /// `created_dirs`, outermost first, the directories made for it (uninstall removes those
    /// left empty, so that a HOME without `~/.config` is left without one).
    Script {
        path: PathBuf,
        sha256: String,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        created_dirs: Vec<PathBuf>,
    },
    /// One line appended to a user's rc file; `newline_added` when a newline was put before it
    /// because the file did not end with one; `created` when the file did not exist and was
    /// made for the line (uninstall then removes it when nothing else is left in it).
    Line {
        path: PathBuf,
        line: String,
        newline_added: bool,
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        created: bool,
    },
    /// One entry this tool added to the registry's `Path` of a store (`path` names the value);
    /// `separator_added` when a `;` was put before it, `created` when the value did not exist,
    /// `was_plain` when it was `REG_SZ` (made `REG_EXPAND_SZ` for `%USERPROFILE%`).
    PathEntry {
        path: PathBuf,
        store: os::Store,
        entry: String,
        separator_added: bool,
        created: bool,
        #[serde(default)]
        was_plain: bool,
    },
}

impl EnvRecord {
    pub fn path(&self) -> &Path {
        match self {
            EnvRecord::Script { path, .. } | EnvRecord::Line { path, .. } | EnvRecord::PathEntry { path, .. } => path,
        }
    }

    /// Whether two records are of the same thing (the same file and kind, the same entry).
    pub fn same(&self, other: &EnvRecord) -> bool {
        match (self, other) {
            (EnvRecord::PathEntry { store: a, entry: x, .. }, EnvRecord::PathEntry { store: b, entry: y, .. }) => {
                a == b && x == y
            }
            _ => self.path() == other.path() && std::mem::discriminant(self) == std::mem::discriminant(other),
        }
    }
}

/// One installed (or adopted) version tree.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Receipt {
    pub format: u32,
    /// Unique id of the install that wrote this receipt (also in the host log).
    pub id: String,
    pub go_version: String,
    pub goos: String,
    pub goarch: String,
    /// Name of the tree in the prefix (`go-1.27.3`).
    pub tree: String,
    pub origin: Origin,
    /// Seconds since the epoch.
    pub installed_at: u64,
    pub installed_by: Actor,
    /// `None` for adopted trees.
    pub installer: Option<InstallerInfo>,
    /// The environment as it was set up by this install.
    pub env: Vec<EnvRecord>,
    /// Every entry of the tree, as the signed manifest lists it (or as found, when adopted).
    pub files: Vec<Entry>,
    /// Installed from a delta installer: the base it was applied onto.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from_delta: Option<FromDelta>,
}

/// The base a tree installed from a delta was made from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FromDelta {
    /// The base's Go version, the digest of its entry list, and the id of its receipt then.
    pub base_version: String,
    pub base_files_sha256: String,
    pub base_receipt_id: String,
}

impl Receipt {
    /// A receipt with a fresh id and the current time and user.
    pub fn new(go_version: &str, goos: &str, goarch: &str, tree: &str, origin: Origin, files: Vec<Entry>) -> Receipt {
        Receipt {
            format: RECEIPT_FORMAT,
            id: new_id(),
            go_version: go_version.into(),
            goos: goos.into(),
            goarch: goarch.into(),
            tree: tree.into(),
            origin,
            installed_at: now(),
            installed_by: Actor::current(),
            installer: None,
            env: Vec::new(),
            files,
            from_delta: None,
        }
    }
}

/// What the prefix remembers between commands.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct State {
    pub format: u32,
    /// The version that was active before the last switch, for `rollback`.
    pub previous: Option<String>,
    /// The last switch was a rollback: a second rollback does nothing.
    pub rolled_back: bool,
    /// Every environment file and line this tool added for the prefix (removed by `uninstall --all`).
    pub env: Vec<EnvRecord>,
}

impl State {
    /// Adds environment records not yet listed (the first record of a thing wins, so
    /// `newline_added` and `separator_added` stay what the first install did).
    pub fn add_env(&mut self, records: &[EnvRecord]) {
        for r in records {
            if !self.env.iter().any(|e| e.same(r)) {
                self.env.push(r.clone());
            }
        }
    }
}

/// What a host log line records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum LogAction {
    Install,
    Use,
    Rollback,
    Uninstall,
    /// A module bundle installed.
    Modules,
}

/// One line of the host log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogRecord {
    /// Unique per action; a receipt's id for installs.
    pub id: String,
    /// Seconds since the epoch.
    pub time: u64,
    pub action: LogAction,
    pub prefix: PathBuf,
    pub go_version: Option<String>,
    /// The active version before the action.
    pub previous: Option<String>,
    pub installer_sha256: Option<String>,
    pub signer_key_id: Option<String>,
    pub by: Actor,
}

impl LogRecord {
    pub fn new(action: LogAction, prefix: &Path, go_version: Option<&str>, previous: Option<&str>) -> LogRecord {
        LogRecord {
            id: new_id(),
            time: now(),
            action,
            prefix: prefix.into(),
            go_version: go_version.map(Into::into),
            previous: previous.map(Into::into),
            installer_sha256: None,
            signer_key_id: None,
            by: Actor::current(),
        }
    }
}

/// Seconds since the epoch.
pub fn now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
}

/// A 128-bit id from the time, pid and a counter, hashed.
pub fn new_id() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let mut h = Sha256::new();
    h.update(format!("{nanos}.{}.{n}", os::pid()));
    h.update(os::entropy());
    hex::encode(&h.finalize()[..16])
}

/// `2026-11-26T01:02:03Z` for seconds since the epoch (the format crate's, shared with the
/// builder).
pub use format::date::rfc3339;

/// Path of the prefix state.
pub fn state_path(prefix: &Path) -> PathBuf {
    state_dir(prefix).join(STATE_FILE)
}

/// The receipt of `tree`, relative to the prefix (as the journal names what commit writes).
pub fn receipt_rel_path(tree: &str) -> PathBuf {
    Path::new(STATE_DIR).join(RECEIPTS).join(format!("{tree}.json"))
}

/// The prefix state, relative to the prefix.
pub fn state_rel_path() -> PathBuf {
    Path::new(STATE_DIR).join(STATE_FILE)
}

/// The version of the active tree: its receipt's, else its `VERSION` file's.
pub fn active_version(prefix: &Path, active: &crate::prefix::Active) -> Result<Option<String>, Error> {
    use crate::prefix::Active;
    Ok(match active {
        Active::None => None,
        Active::Plain(v) => v.clone(),
        Active::Link(tree) => match read_receipt(prefix, tree)? {
            Some(r) => Some(r.go_version),
            None => crate::prefix::read_version(&prefix.join(tree)),
        },
    })
}

/// Reads a JSON file this installer wrote (journal, receipt, state), if it exists. A symlink at
/// its name is refused, never followed, as are a non-regular file, one longer than `max_len`, and
/// one that does not parse.
pub fn read_json<T: serde::de::DeserializeOwned>(path: &Path, what: &str, max_len: u64) -> Result<Option<T>, Error> {
    let corrupt = |problem: String| Error::Destination {
        path: path.into(),
        problem: format!("{problem}: it is not a {what} this installer wrote; inspect it, move it away and run again"),
        remedy: None,
    };
    let bytes = match os::read_nofollow(path, max_len) {
        Ok(Some(b)) => b,
        Ok(None) => return Ok(None),
        Err(os::ReadError::Symlink) => return Err(corrupt("is a symbolic link".into())),
        Err(os::ReadError::NotRegular) => return Err(corrupt(format!("is not a regular file of {what} size"))),
        Err(os::ReadError::Io(e)) => return Err(Error::io("read", path, e)),
    };
    serde_json::from_slice(&bytes).map(Some).map_err(|e| corrupt(format!("cannot be parsed ({e})")))
}

/// The receipt of `tree`, if there is one.
pub fn read_receipt(prefix: &Path, tree: &str) -> Result<Option<Receipt>, Error> {
    let r: Option<Receipt> = read_json(&receipt_path(prefix, tree), "receipt", MAX_RECEIPT_LEN)?;
    match r {
        Some(r) if r.tree != tree => Err(Error::Destination {
            path: receipt_path(prefix, tree),
            problem: format!("describes tree '{}', not '{tree}': move it away", r.tree),
            remedy: None,
        }),
        r => Ok(r),
    }
}

/// Every receipt in the prefix, oldest Go version first.
pub fn read_receipts(prefix: &Path) -> Result<Vec<Receipt>, Error> {
    let dir = state_dir(prefix).join(RECEIPTS);
    let entries = match fs::read_dir(&dir) {
        Ok(e) => e,
        Err(e) if e.kind() == ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(Error::io("list", &dir, e)),
    };
    let mut receipts = Vec::new();
    for e in entries {
        let e = e.map_err(|e| Error::io("list", &dir, e))?;
        let name = e.file_name();
        let Some(tree) = name.to_str().and_then(|n| n.strip_suffix(".json")) else { continue };
        if tree.starts_with('.') {
            continue;
        }
        if let Some(r) = read_receipt(prefix, tree)? {
            receipts.push(r);
        }
    }
    receipts.sort_by(|a, b| format::version::compare(&a.go_version, &b.go_version).unwrap_or(a.tree.cmp(&b.tree)));
    Ok(receipts)
}

/// The installed versions, for messages: `go1.26.6, go1.27.3`, or `none`.
pub fn installed_list(prefix: &Path) -> String {
    let versions: Vec<String> = read_receipts(prefix).unwrap_or_default().into_iter().map(|r| r.go_version).collect();
    if versions.is_empty() {
        "none".into()
    } else {
        versions.join(", ")
    }
}

/// The prefix state (default when none was written yet).
pub fn read_state(prefix: &Path) -> Result<State, Error> {
    Ok(read_json(&state_path(prefix), "state file", MAX_RECEIPT_LEN)?
        .unwrap_or(State { format: 1, ..State::default() }))
}

/// Writes the JSON `text` and a newline to `path` atomically (0644), creating its directory (0755).
pub fn write_json(path: &Path, text: &str) -> Result<(), Error> {
    let dir = path.parent().unwrap_or(Path::new("."));
    os::create_dirs(dir, 0o755).map_err(|e| Error::io("create", dir, e))?;
    let mut bytes = Vec::with_capacity(text.len() + 1);
    bytes.extend_from_slice(text.as_bytes());
    bytes.push(b'\n');
    os::write_atomic(path, &bytes, Some(0o644)).map_err(|e| Error::io("write", path, e))
}

/// Appends `record` to the log at `path` unless a line with its id is already there.
pub fn append_log(path: &Path, record: &LogRecord) -> Result<(), Error> {
    if let Some(dir) = path.parent() {
        os::create_dirs(dir, 0o755).map_err(|e| Error::io("create", dir, e))?;
    }
    let needle = format!("\"id\":\"{}\"", record.id);
    if let Ok(Some(text)) = os::read_if_exists(path) {
        if String::from_utf8_lossy(&text).lines().any(|l| l.contains(&needle)) {
            return Ok(());
        }
    }
    let mut line = serde_json::to_string(record).map_err(|e| Error::io("encode", path, std::io::Error::other(e)))?;
    line.push('\n');
    let mut f = os::open_log(path).map_err(|e| Error::io("open the host log", path, e))?;
    f.write_all(line.as_bytes()).and_then(|()| f.sync_data()).map_err(|e| Error::io("append to the host log", path, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The host log's records, unparsable lines skipped.
    fn read_log(path: &Path) -> Vec<LogRecord> {
        fs::read_to_string(path)
            .map(|t| t.lines().filter_map(|l| serde_json::from_str(l).ok()).collect())
            .unwrap_or_default()
    }

    #[test]
    fn log_appends_each_id_once() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/log.jsonl");
        let r = LogRecord::new(LogAction::Install, Path::new("/p"), Some("go1.27.3"), None);
        append_log(&path, &r).unwrap();
        append_log(&path, &r).unwrap();
        let other = LogRecord::new(LogAction::Use, Path::new("/p"), Some("go1.26.6"), Some("go1.27.3"));
        append_log(&path, &other).unwrap();
        assert_eq!(read_log(&path), vec![r, other]);
    }

    #[test]
    fn ids_differ() {
        assert_ne!(new_id(), new_id());
        assert_eq!(new_id().len(), 32);
    }
}
