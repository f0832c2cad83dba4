//! Installing a module bundle: Go modules for builds with no network, beside an installed Go.
//!
//! The bundle (product [`Product::GoModules`]) is a module proxy directory. It lands read-only in
//! `PREFIX/go-modules`, merged with what is there: every file already installed is kept (hard
//! linked into the new tree), a file both hold must be byte-identical (module versions never
//! change; [`Error::ModuleConflict`] otherwise), and the `@v/list` files and the top `go.sum` get
//! the union of their lines. The merged tree is staged beside the old one and exchanged with it
//! in one rename, so Go sees the old set or the new one, never a mix. Then the environment points
//! `GOPROXY` at it (a profile script), and a receipt (`PREFIX/.go-offline/modules.json`) lists
//! every module with its go.sum hashes and every file with its digest, for `verify-installed`.
//! All of it runs under the journal, as a Go install does (`journal`'s `Plan::InstallModules`):
//! recovery first, and a crash anywhere is rolled back or finished by the next run.
//!
//! Checksums stay on: the go command checks each module it takes from the directory against the
//! project's go.sum, and this installer has checked every file against the signed manifest.
//! A bundle may carry the organisation's checksum database (`sumdb/NAME/`, in Go's formats, see
//! [`format::sumdb`]); the environment then names it in `GOSUMDB`, so that go checks a module no
//! go.sum lists yet against it, offline. Bundles merge their databases as one log that only
//! grows: of two `latest` (or `lookup/` files) the one of the larger tree is kept, and the
//! merged files are checked as one log, signed by the database's key, extending both the
//! installed tree and the bundle's, before anything is put in place.
//!
//! [`Product::GoModules`]: format::manifest::Product::GoModules

use std::{
    collections::{BTreeMap, BTreeSet},
    fs::{self, File},
    path::{Path, PathBuf},
};

use format::{
    manifest::{ChecksumDb, Entry, EntryType, Module},
    sumdb::{self, VerifierKey},
    verify::VerifiedInstaller,
};
use serde::{Deserialize, Serialize};

use crate::{
    env,
    error::{Error, Left, Warning},
    extract, failpoint,
    journal::{self, Commit, InstallPlan, Json, PendingWrite, Phase, Plan, Recovery, Txn},
    os::{
        self,
        shell::{Purpose, Scope},
    },
    outcome::{Action, InstallerReport, ModulesReport, Outcome, Report},
    prefix::Prefix,
    progress::{self, Event, Progress},
    receipt::{self, Actor, LogAction},
    tree::{self, Difference},
};

/// The module directory inside the prefix: `GOPROXY=file://PREFIX/go-modules`.
pub const DIR: &str = "go-modules";
/// The staging directory of a bundle install: `PREFIX/.go-offline-modules.staging.*` (the journal
/// names it; recovery removes it by identity).
const STAGING_PREFIX: &str = ".go-offline-modules.staging.";
const RECEIPT_NAME: &str = "modules.json";
/// Files whose lines are merged rather than compared.
const GO_SUM: &str = "go.sum";
const LIST: &str = "/@v/list";
/// Largest receipt read back.
const MAX_RECEIPT_LEN: u64 = 256 << 20;

/// What is installed in `PREFIX/go-modules`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ModulesReceipt {
    pub format: u32,
    pub dir: String,
    /// Every module version, sorted, with its go.sum hashes.
    pub modules: Vec<Module>,
    /// Every entry of the directory as installed.
    pub files: Vec<Entry>,
    /// Each bundle installed into it, oldest first.
    pub bundles: Vec<BundleRecord>,
    /// The environment files written for it.
    pub env: Vec<PathBuf>,
    /// Its checksum database, if a bundle brought one: `GOSUMDB`'s key and the tree installed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sumdb: Option<ChecksumDb>,
}

/// One bundle installed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BundleRecord {
    pub installer_sha256: String,
    pub signer_key_id: String,
    pub modules: usize,
    pub added: usize,
    pub installed_at: String,
    pub by: Actor,
}

/// Where the receipt of the module directory lives.
pub fn receipt_path(prefix: &Path) -> PathBuf {
    prefix.join(receipt_rel_path())
}

/// [`receipt_path`], relative to the prefix (as the journal names what commit writes).
fn receipt_rel_path() -> PathBuf {
    Path::new(receipt::STATE_DIR).join(RECEIPT_NAME)
}

/// The receipt of `PREFIX/go-modules`, if one was written.
pub fn read_receipt(prefix: &Path) -> Result<Option<ModulesReceipt>, Error> {
    receipt::read_json(&receipt_path(prefix), "module receipt", MAX_RECEIPT_LEN)
}

/// How to install a bundle.
#[derive(Debug, Clone)]
pub struct ModulesConfig {
    pub prefix: Prefix,
    /// Where the environment goes; `None` leaves it alone (`--no-modify-path`).
    pub env: Option<Scope>,
    pub wait: bool,
    pub log: Option<PathBuf>,
}

/// Installs the verified module bundle `installer` (read from `file`) into `PREFIX/go-modules`,
/// under the journal as every change to a prefix is (`Plan::InstallModules`): an interrupted
/// command is recovered first, and a crash at any point leaves the old module directory and
/// environment, or the new ones, once the next run (or `--recover`) has recovered. `progress`
/// hears of the extract phase (and its bytes) and the switch, unless the bundle adds nothing.
pub fn install(
    installer: &VerifiedInstaller,
    file: &File,
    config: &ModulesConfig,
    progress: Progress,
) -> Result<Outcome, Error> {
    let prefix = &config.prefix;
    prefix.create()?;
    let _lock = prefix.lock_exclusive(config.wait)?;
    let recovered = journal::recover(prefix)?;
    let mut warnings = Recovery::warnings_of(&recovered);
    let dest = prefix.join(DIR);
    let existing = prefix.has_tree(DIR)?;
    let old = if existing { read_receipt(prefix.path())? } else { None };
    let (merged, added) = merge_lists(installer, old.as_ref())?;
    let databases =
        Databases { bundle: installer.manifest().sumdb.clone(), installed: old.as_ref().and_then(|r| r.sumdb.clone()) };
    let sumdb_key = databases.key()?;
    let edits = match &config.env {
        Some(scope) => env::plan(scope, Purpose::Modules { proxy_dir: &dest, sumdb: sumdb_key.as_deref() })
            .map_err(Error::Environment)?,
        None => Vec::new(),
    };
    let report = |added: Vec<String>, total: usize, env_files: Vec<PathBuf>| ModulesReport {
        installer: InstallerReport { env_files, recovered: recovered.clone(), ..InstallerReport::of(installer, None) },
        dir: dest.clone(),
        added,
        total,
    };
    if added.is_empty() && edits.is_empty() && existing {
        let r = report(added, merged.len(), Vec::new());
        return Ok(Outcome::new(Action::InstallModules, false, Report::Modules(r)).with_warnings(warnings));
    }
    let mut txn = Txn::new(DIR, InstallPlan::staged(DIR.into(), STAGING_PREFIX), Plan::InstallModules);
    txn.begin(prefix)?;
    let plan = BundlePlan { existing, databases, edits };
    let Staged { files, env_files, sumdb } = match stage_and_swap(installer, file, config, &plan, &mut txn, progress) {
        Ok(done) => done,
        Err(e) => return Err(undo(prefix, &txn, e)),
    };
    let mut receipt = old.unwrap_or(ModulesReceipt {
        format: 1,
        dir: DIR.into(),
        modules: Vec::new(),
        files: Vec::new(),
        bundles: Vec::new(),
        env: Vec::new(),
        sumdb: None,
    });
    receipt.modules = merged.into_values().collect();
    receipt.files = files;
    receipt.sumdb = sumdb;
    receipt.bundles.push(BundleRecord {
        installer_sha256: installer.file_sha256().into(),
        signer_key_id: installer.signer().id.clone(),
        modules: installer.manifest().modules.as_ref().map_or(0, Vec::len),
        added: added.len(),
        installed_at: receipt::rfc3339(receipt::now()),
        by: Actor::current(),
    });
    for p in &env_files {
        if !receipt.env.contains(p) {
            receipt.env.push(p.clone());
        }
    }
    let log = config.log.as_ref().map(|path| {
        let mut record = receipt::LogRecord::new(LogAction::Modules, prefix.path(), None, None);
        record.installer_sha256 = Some(installer.file_sha256().into());
        record.signer_key_id = Some(installer.signer().id.clone());
        (path.clone(), record)
    });
    let writes = vec![PendingWrite { path: receipt_rel_path(), value: Json::of(&receipt) }];
    txn.plan.commit = Commit { writes, deletes: Vec::new(), log };
    txn.phase = Phase::Committing;
    txn.write(prefix).map_err(|e| undo(prefix, &txn, e))?;
    failpoint::hit("journal-committing");
    // From here the bundle is installed: what commit cannot finish, the next run finishes.
    match journal::commit(prefix, &txn.journal()) {
        Ok(w) => warnings.extend(w),
        Err(e) => warnings.push(Warning::of_error("", &e, "; the next run of the installer finishes the job")),
    }
    let r = report(added, receipt.modules.len(), env_files);
    Ok(Outcome::new(Action::InstallModules, true, Report::Modules(r)).with_warnings(warnings))
}

/// What a bundle install decided before its first write.
struct BundlePlan {
    /// `PREFIX/go-modules` exists (the bundle merges into it).
    existing: bool,
    databases: Databases,
    /// The environment to write.
    edits: Vec<env::Edit>,
}

/// What [`stage_and_swap`] put in place.
struct Staged {
    /// The tree's entries.
    files: Vec<Entry>,
    /// The environment files written.
    env_files: Vec<PathBuf>,
    /// The checksum database installed.
    sumdb: Option<ChecksumDb>,
}

/// `--dry-run` of a bundle: what [`install`] decides before its first write, under a shared
/// lock, writing nothing: a module version whose hashes differ from the installed one's, or a
/// checksum database other than the installed one, is refused as the install refuses it.
/// Returns the `path@version` of what the bundle would add. (That the bundle's log extends the
/// installed one is checked from its files, which only the install extracts.)
pub fn dry_run(installer: &VerifiedInstaller, prefix: &Prefix, wait: bool) -> Result<Vec<String>, Error> {
    let _lock = if prefix.exists() { Some(prefix.lock_shared(wait)?) } else { None };
    let old = if prefix.exists() && prefix.has_tree(DIR)? { read_receipt(prefix.path())? } else { None };
    let (_, added) = merge_lists(installer, old.as_ref())?;
    let installed = old.as_ref().and_then(|r| r.sumdb.clone());
    Databases { bundle: installer.manifest().sumdb.clone(), installed }.key()?;
    Ok(added)
}

/// Extracts and merges the new tree into the staging directory, checks its checksum database,
/// journals phase `swapping`, puts the tree in place and writes the environment. An error
/// leaves everything for [`undo`].
fn stage_and_swap(
    installer: &VerifiedInstaller,
    file: &File,
    config: &ModulesConfig,
    plan: &BundlePlan,
    txn: &mut Txn,
    progress: Progress,
) -> Result<Staged, Error> {
    let (existing, edits) = (plan.existing, plan.edits.as_slice());
    let prefix = &config.prefix;
    failpoint::hit("staging-created");
    let dest = prefix.join(DIR);
    let staging = prefix.join(&txn.plan.staging);
    let old = existing.then_some(dest.as_path());
    let (files, sumdb) = stage(installer, file, &staging, old, &plan.databases, progress)?;
    failpoint::hit("extracted");
    os::sync_fs(&staging).map_err(|e| Error::io("sync", &staging, e))?;
    failpoint::hit("synced");
    txn.plan.env = env::backup(edits).map_err(Error::Environment)?;
    txn.plan.new_tree = os::tree_id(&staging);
    txn.plan.old_tree = if existing { os::tree_id(&dest) } else { None };
    txn.phase = Phase::Swapping;
    txn.write(prefix)?;
    failpoint::hit("journal-swapping");
    progress(Event::Phase(progress::Phase::Switch));
    let p = &txn.plan;
    prefix.place_tree(&p.staging, &p.dest, &p.aside, existing)?;
    failpoint::hit("swapped");
    let applied = env::apply(edits).map_err(Error::Environment)?;
    failpoint::hit("env-written");
    Ok(Staged { files, env_files: applied.written, sumdb })
}

/// Rolls a bundle install back after `error` (the old module directory and environment back,
/// the new directory deleted). Should that fail too, the journal stays and says where each tree
/// is: the next run, or `--recover`, finishes the undo.
fn undo(prefix: &Prefix, txn: &Txn, error: Error) -> Error {
    let Err(undo) = journal::roll_back(prefix, &txn.journal()) else { return error };
    let left = Left::Modules { journal: prefix.join(journal::JOURNAL_NAME) };
    Error::RollbackFailed { error: Box::new(error), undo: Box::new(undo), left }
}

/// The module list after this bundle, and the `path@version` of what it adds; refuses a module
/// version whose hashes differ from the installed one's.
type ModuleList = BTreeMap<(String, String), Module>;

fn merge_lists(
    installer: &VerifiedInstaller,
    old: Option<&ModulesReceipt>,
) -> Result<(ModuleList, Vec<String>), Error> {
    let bundle = installer.manifest().modules.clone().unwrap_or_default();
    // Inserted one by one: `collect` into a map sorts first, a sort compiled into the stub for
    // each key and value type (about 3.5 KB).
    let mut installed = ModuleList::new();
    for m in old.iter().flat_map(|r| r.modules.iter()) {
        installed.insert((m.path.clone(), m.version.clone()), m.clone());
    }
    let mut merged = installed.clone();
    let mut added = Vec::new();
    for module in &bundle {
        let key = (module.path.clone(), module.version.clone());
        match installed.get(&key) {
            Some(have) if have.mod_h1 != module.mod_h1 => {
                return Err(conflict(
                    module,
                    format!("its go.mod hashes to {} here but {} in the bundle", have.mod_h1, module.mod_h1),
                ))
            }
            Some(have) if have.zip_h1.is_some() && module.zip_h1.is_some() && have.zip_h1 != module.zip_h1 => {
                return Err(conflict(module, "its zip differs from the installed one".into()));
            }
            Some(have) if have.zip_h1.is_some() || module.zip_h1.is_none() => {}
            _ => {
                added.push(format!("{}@{}", module.path, module.version));
                merged.insert(key, module.clone());
            }
        }
    }
    Ok((merged, added))
}

fn conflict(m: &Module, problem: String) -> Error {
    Error::ModuleConflict { module: format!("{}@{}", m.path, m.version), problem }
}

/// Extracts the bundle into `staging` (every file checked against the signed manifest), merges
/// the installed tree `old` into it, checks the merged checksum database, makes it read-only;
/// returns its entries and the database.
fn stage(
    installer: &VerifiedInstaller,
    file: &File,
    staging: &Path,
    old: Option<&Path>,
    databases: &Databases,
    progress: Progress,
) -> Result<(Vec<Entry>, Option<ChecksumDb>), Error> {
    let bytes = installer.manifest().files_size();
    progress(Event::Phase(progress::Phase::Extract { bytes }));
    extract::extract(installer, file, staging, &|n| progress(Event::Bytes(n)))?;
    if let Some(old) = old {
        merge(old, staging)?;
    }
    let sumdb = databases.check(staging)?;
    // One scan (it hashes every file); the modes it found are then made read-only, like Go's own
    // module cache, files first, then directories deepest first.
    let mut entries = tree::scan_tree(staging)?;
    let set_mode = |p: &Path, mode: u32| os::set_mode(p, mode).map_err(|err| Error::io("set mode of", p, err));
    for e in entries.iter_mut().filter(|e| e.kind == EntryType::File && e.mode != 0o444) {
        set_mode(&staging.join(&e.path), 0o444)?;
        e.mode = 0o444;
    }
    for e in entries.iter_mut().rev().filter(|e| e.kind == EntryType::Dir) {
        set_mode(&staging.join(&e.path), 0o555)?;
        e.mode = 0o555;
    }
    set_mode(staging, 0o555)?;
    Ok((entries, sumdb))
}

/// The checksum databases of an install: the bundle's and the installed one's, either absent.
struct Databases {
    bundle: Option<ChecksumDb>,
    installed: Option<ChecksumDb>,
}

impl Databases {
    /// The key `GOSUMDB` gets; refuses a bundle whose database is not the installed one.
    fn key(&self) -> Result<Option<String>, Error> {
        match (&self.bundle, &self.installed) {
            (Some(b), Some(i)) if b.key != i.key => Err(Error::ModuleConflict {
                module: "the checksum database".into(),
                problem: format!(
                    "the bundle carries GOSUMDB={}, the installed modules GOSUMDB={}: one module directory serves one database; install the bundle into another prefix, or rebuild it with the installed database's --sumdb-name, key and --sumdb-log",
                    b.key, i.key
                ),
            }),
            (b, i) => Ok(b.as_ref().or(i.as_ref()).map(|d| d.key.clone())),
        }
    }

    /// Checks the database of the merged tree in `staging` (`sumdb/NAME/`) as one log signed by
    /// its key that extends the installed tree and the bundle's; returns what the receipt
    /// records of it.
    fn check(&self, staging: &Path) -> Result<Option<ChecksumDb>, Error> {
        let Some(db) = self.bundle.as_ref().or(self.installed.as_ref()) else { return Ok(None) };
        let conflict = |problem: String| Error::ModuleConflict { module: "the checksum database".into(), problem };
        let key = VerifierKey::parse(&db.key).map_err(|e| conflict(e.to_string()))?;
        let mut extends = Vec::new();
        for d in self.bundle.iter().chain(&self.installed) {
            let hash = sumdb::base64_decode(&d.tree_hash).and_then(|h| h.try_into().ok());
            let hash =
                hash.ok_or_else(|| conflict(format!("the tree hash '{}' is not base64 of 32 bytes", d.tree_hash)))?;
            extends.push(sumdb::Tree { size: d.tree_size, hash });
        }
        let dir = staging.join("sumdb").join(&key.name);
        let mut files = BTreeMap::new();
        for e in tree::scan_tree(&dir)?.into_iter().filter(|e| e.kind == EntryType::File) {
            let path = dir.join(&e.path);
            if e.size.unwrap_or(0) > sumdb::MAX_FILE_LEN as u64 {
                return Err(conflict(format!("'{}' is larger than any file of a checksum database", e.path)));
            }
            files.insert(e.path.clone(), fs::read(&path).map_err(|err| Error::io("read", &path, err))?);
        }
        let checked = sumdb::check(&key, &files, &extends).map_err(|e| conflict(e.to_string()))?;
        Ok(Some(ChecksumDb {
            key: db.key.clone(),
            tree_size: checked.tree.size,
            tree_hash: checked.tree.hash_base64(),
        }))
    }
}

/// Brings every file of the installed tree `old` into `new`: hard links for files `new` lacks,
/// a line union for `go.sum` and `@v/list`, the file of the larger tree for a checksum
/// database's `latest` and `lookup/` files, and a byte comparison for other files both hold.
fn merge(old: &Path, new: &Path) -> Result<(), Error> {
    for e in tree::scan_tree(old)? {
        let (from, to) = (old.join(&e.path), new.join(&e.path));
        match e.kind {
            EntryType::Dir => {
                if !to.is_dir() {
                    os::create_dir(&to, 0o755).map_err(|err| Error::io("create", &to, err))?;
                }
            }
            EntryType::Symlink => {} // a module directory has none; an extra one is not carried over
            EntryType::File if e.path == GO_SUM || e.path.ends_with(LIST) => {
                let read = |p: &Path| match os::read_if_exists(p) {
                    Ok(t) => Ok(String::from_utf8_lossy(&t.unwrap_or_default()).into_owned()),
                    Err(err) => Err(Error::io("read", p, err)),
                };
                let lines: BTreeSet<String> = read(&from)?
                    .lines()
                    .chain(read(&to)?.lines())
                    .filter(|l| !l.is_empty())
                    .map(String::from)
                    .collect();
                let text: String = lines.into_iter().map(|l| l + "\n").collect();
                if to.exists() {
                    os::set_mode(&to, 0o644).map_err(|err| Error::io("set mode of", &to, err))?;
                }
                fs::write(&to, text.as_bytes()).map_err(|err| Error::io("write", &to, err))?;
            }
            EntryType::File => match fs::symlink_metadata(&to) {
                Ok(_) => {
                    let (old_bytes, new_bytes) = (
                        fs::read(&from).map_err(|err| Error::io("read", &from, err))?,
                        fs::read(&to).map_err(|err| Error::io("read", &to, err))?,
                    );
                    if old_bytes != new_bytes && is_tree_note(&e.path) {
                        // Keep the file of the larger tree; the merged database is checked after.
                        let size = |b: &[u8]| sumdb::note_tree_size(b).unwrap_or(0);
                        if size(&old_bytes) > size(&new_bytes) {
                            os::set_mode(&to, 0o644).map_err(|err| Error::io("set mode of", &to, err))?;
                            fs::write(&to, &old_bytes).map_err(|err| Error::io("write", &to, err))?;
                        }
                        continue;
                    }
                    if old_bytes != new_bytes {
                        return Err(Error::ModuleConflict {
                            module: e.path.clone(),
                            problem: format!("the bundle's file differs from the installed '{}'", from.display()),
                        });
                    }
                }
                Err(_) => {
                    if fs::hard_link(&from, &to).is_err() {
                        fs::copy(&from, &to).map_err(|err| Error::io("copy", &from, err))?;
                    }
                }
            },
        }
    }
    Ok(())
}

/// Whether a path of the module directory is a checksum database's file that ends in a tree
/// note, and so differs from one tree to the next: `sumdb/NAME/latest`, `sumdb/NAME/lookup/…`.
fn is_tree_note(path: &str) -> bool {
    let Some(rest) = path.strip_prefix("sumdb/") else { return false };
    let Some((_, file)) = rest.split_once('/') else { return false };
    file == "latest" || file.starts_with("lookup/")
}

/// Compares `PREFIX/go-modules` with its receipt (`None` when no bundle was installed).
pub fn verify_installed(prefix: &Prefix) -> Result<Option<(ModulesReceipt, Vec<Difference>)>, Error> {
    let Some(r) = read_receipt(prefix.path())? else { return Ok(None) };
    let differences = tree::diff_tree(&prefix.join(DIR), DIR, &r.files)?;
    Ok(Some((r, differences)))
}
