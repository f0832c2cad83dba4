//! Installing a module bundle: Go modules for builds with no network, beside an installed Go.
//!
//! The bundle (product [`MODULES_PRODUCT`]) is a module proxy directory. It lands read-only in
//! `PREFIX/go-modules`, merged with what is there: every file already installed is kept (hard
//! linked into the new tree), a file both hold must be byte-identical (module versions never
//! change; [`Error::ModuleConflict`] otherwise), and the `@v/list` files and the top `go.sum` get
//! the union of their lines. The merged tree is staged beside the old one and exchanged with it
//! in one rename, so Go sees the old set or the new one, never a mix. Then the environment points
//! `GOPROXY` at it (a profile script), and a receipt (`PREFIX/.go-offline/modules.json`) lists
//! every module with its go.sum hashes and every file with its digest, for `verify-installed`.
//!
//! Checksums stay on: the go command checks each module it takes from the directory against the
//! project's go.sum, and this installer has checked every file against the signed manifest.
//!
//! [`MODULES_PRODUCT`]: crate::manifest::MODULES_PRODUCT

use std::{
    collections::{BTreeMap, BTreeSet},
    fs::{self, File},
    io::Write,
    os::unix::fs::{DirBuilderExt, PermissionsExt},
    path::{Path, PathBuf},
    time::{SystemTime, UNIX_EPOCH},
};

use rustix::fs::RenameFlags;
use serde::{Deserialize, Serialize};

use crate::{
    env::{self, Scope},
    error::Error,
    extract::{self, Progress},
    install, journal,
    lifecycle::{self, Difference},
    manifest::{Entry, EntryType, Module},
    receipt::{self, Actor},
    verify::VerifiedInstaller,
};

/// The module directory inside the prefix: `GOPROXY=file://PREFIX/go-modules`.
pub const DIR: &str = "go-modules";
/// Staging and old trees: `PREFIX/.go-offline-modules.*` (removed by the next install if left).
const TEMP_PREFIX: &str = ".go-offline-modules.";
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

/// What [`install`] did.
#[derive(Debug, Clone, Serialize)]
pub struct ModulesReport {
    pub dir: PathBuf,
    /// `path@version` of the module versions this bundle added.
    pub added: Vec<String>,
    /// Module versions installed in all.
    pub total: usize,
    pub changed: bool,
    pub env: Vec<PathBuf>,
}

/// Where the receipt of the module directory lives.
pub fn receipt_path(prefix: &Path) -> PathBuf {
    receipt::state_dir(prefix).join("modules.json")
}

/// The receipt of `PREFIX/go-modules`, if one was written.
pub fn read_receipt(prefix: &Path) -> Result<Option<ModulesReceipt>, Error> {
    receipt::read_json(&receipt_path(prefix), "module receipt", MAX_RECEIPT_LEN)
}

/// Installs the verified module bundle `installer` (read from `file`) into `prefix`.
pub fn install(
    installer: &VerifiedInstaller,
    file: &File,
    prefix: &Path,
    scope: Option<&Scope>,
    wait: bool,
    progress: Progress,
) -> Result<ModulesReport, Error> {
    let m = installer.manifest();
    let bundle = m.modules.clone().unwrap_or_default();
    install::create_prefix(prefix)?;
    let _lock = install::lock_prefix(prefix, wait, false)?;
    remove_leftovers(prefix)?;
    let dest = prefix.join(DIR);
    let existing = install::existing_tree(&dest)?;
    let old = if existing { read_receipt(prefix)? } else { None };
    let installed: BTreeMap<(String, String), Module> =
        old.iter().flat_map(|r| r.modules.iter()).map(|m| ((m.path.clone(), m.version.clone()), m.clone())).collect();
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
    let edits = match scope {
        Some(scope) => env::plan_modules(scope, &dest).map_err(Error::Environment)?,
        None => Vec::new(),
    };
    if added.is_empty() && edits.is_empty() && existing {
        return Ok(ModulesReport { dir: dest, added, total: merged.len(), changed: false, env: Vec::new() });
    }

    let staging = prefix.join(temp_name("staging"));
    fs::DirBuilder::new().mode(0o700).create(&staging).map_err(|e| Error::io("create", &staging, e))?;
    let built = stage(installer, file, &staging, existing.then_some(dest.as_path()), progress);
    let files = match built {
        Ok(files) => files,
        Err(e) => {
            let _ = remove_tree(&staging);
            return Err(e);
        }
    };
    let applied = match env::apply(&edits) {
        Ok(a) => a,
        Err(e) => {
            let _ = remove_tree(&staging);
            return Err(Error::Environment(e));
        }
    };
    // Swap: one exchange with the old tree (or one rename when there is none).
    let swapped = if existing {
        journal::renameat2(&staging, &dest, RenameFlags::EXCHANGE)
            .map_err(|e| Error::io("move the module directory into place at", &dest, e.into()))
    } else {
        journal::rename_noreplace(&staging, &dest)
    };
    if let Err(e) = swapped.and_then(|()| journal::sync_dir(prefix)) {
        applied.rollback();
        let _ = remove_tree(&staging);
        return Err(e);
    }
    let mut receipt = old.unwrap_or(ModulesReceipt {
        format: 1,
        dir: DIR.into(),
        modules: Vec::new(),
        files: Vec::new(),
        bundles: Vec::new(),
        env: Vec::new(),
    });
    receipt.modules = merged.into_values().collect();
    receipt.files = files;
    receipt.bundles.push(BundleRecord {
        installer_sha256: installer.file_sha256().into(),
        signer_key_id: installer.signer().id.clone(),
        modules: bundle.len(),
        added: added.len(),
        installed_at: receipt::rfc3339(receipt::now()),
        by: Actor::current(),
    });
    for p in &applied.written {
        if !receipt.env.contains(p) {
            receipt.env.push(p.clone());
        }
    }
    if let Err(e) =
        receipt::write_json(&receipt_path(prefix), &serde_json::to_string_pretty(&receipt).unwrap_or_default())
    {
        // Put the old tree back (or take the new one away) and the environment.
        let undo = if existing {
            journal::renameat2(&staging, &dest, RenameFlags::EXCHANGE)
                .map_err(|e| Error::io("restore", &dest, e.into()))
        } else {
            journal::rename_noreplace(&dest, &staging)
        };
        applied.rollback();
        let _ = remove_tree(&staging);
        return match undo {
            Ok(()) => Err(e),
            Err(u) => Err(Error::RollbackFailed {
                error: Box::new(e),
                undo: Box::new(u),
                advice: format!("the new module directory is at '{}'", dest.display()),
            }),
        };
    }
    if existing {
        // The old tree, now under the staging name. The install is done: if it cannot be removed
        // now, the next install removes it (remove_leftovers).
        let _ = remove_tree(&staging);
    }
    if let Some(log) = receipt::host_log_path() {
        let mut record = receipt::LogRecord::new("modules", prefix, None, None);
        record.installer_sha256 = Some(installer.file_sha256().into());
        record.signer_key_id = Some(installer.signer().id.clone());
        let _ = receipt::append_log(&log, &record);
    }
    Ok(ModulesReport { dir: dest, added, total: receipt.modules.len(), changed: true, env: applied.written })
}

fn conflict(m: &Module, problem: String) -> Error {
    Error::ModuleConflict { module: format!("{}@{}", m.path, m.version), problem }
}

/// Extracts the bundle into `staging` (every file checked against the signed manifest), merges
/// the installed tree `old` into it, makes it read-only; returns its entries.
fn stage(
    installer: &VerifiedInstaller,
    file: &File,
    staging: &Path,
    old: Option<&Path>,
    progress: Progress,
) -> Result<Vec<Entry>, Error> {
    extract::extract(installer, file, staging, progress)?;
    if let Some(old) = old {
        merge(old, staging)?;
    }
    // One scan (it hashes every file); the modes it found are then made read-only, like Go's own
    // module cache, files first, then directories deepest first.
    let mut entries = lifecycle::scan_tree(staging)?;
    for e in entries.iter_mut().filter(|e| e.kind == EntryType::File && e.mode != 0o444) {
        let p = staging.join(&e.path);
        fs::set_permissions(&p, fs::Permissions::from_mode(0o444)).map_err(|err| Error::io("set mode of", &p, err))?;
        e.mode = 0o444;
    }
    for e in entries.iter_mut().rev().filter(|e| e.kind == EntryType::Dir) {
        let p = staging.join(&e.path);
        fs::set_permissions(&p, fs::Permissions::from_mode(0o555)).map_err(|err| Error::io("set mode of", &p, err))?;
        e.mode = 0o555;
    }
    fs::set_permissions(staging, fs::Permissions::from_mode(0o555))
        .map_err(|e| Error::io("set mode of", staging, e))?;
    Ok(entries)
}

/// Brings every file of the installed tree `old` into `new`: hard links for files `new` lacks,
/// a line union for `go.sum` and `@v/list`, and a byte comparison for files both hold.
fn merge(old: &Path, new: &Path) -> Result<(), Error> {
    for e in lifecycle::scan_tree(old)? {
        let (from, to) = (old.join(&e.path), new.join(&e.path));
        match e.kind {
            EntryType::Dir => {
                if !to.is_dir() {
                    fs::DirBuilder::new().mode(0o755).create(&to).map_err(|err| Error::io("create", &to, err))?;
                }
            }
            EntryType::Symlink => {} // a module directory has none; an extra one is not carried over
            EntryType::File if e.path == GO_SUM || e.path.ends_with(LIST) => {
                let read = |p: &Path| match fs::read_to_string(p) {
                    Ok(t) => Ok(t),
                    Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(String::new()),
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
                    fs::set_permissions(&to, fs::Permissions::from_mode(0o644))
                        .map_err(|err| Error::io("set mode of", &to, err))?;
                }
                let mut f = File::create(&to).map_err(|err| Error::io("write", &to, err))?;
                f.write_all(text.as_bytes()).map_err(|err| Error::io("write", &to, err))?;
            }
            EntryType::File => match fs::symlink_metadata(&to) {
                Ok(_) => {
                    let same = fs::read(&from).map_err(|err| Error::io("read", &from, err))?
                        == fs::read(&to).map_err(|err| Error::io("read", &to, err))?;
                    if !same {
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

/// `PREFIX/.go-offline-modules.KIND.PID.NANOS`.
fn temp_name(kind: &str) -> String {
    let nanos = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0);
    format!("{TEMP_PREFIX}{kind}.{:x}.{:x}", std::process::id(), nanos)
}

/// Removes staging or old trees an interrupted install left (the prefix is locked).
fn remove_leftovers(prefix: &Path) -> Result<(), Error> {
    let list = fs::read_dir(prefix).map_err(|e| Error::io("list", prefix, e))?;
    for e in list.flatten() {
        if e.file_name().to_string_lossy().starts_with(TEMP_PREFIX) {
            remove_tree(&e.path())?;
        }
    }
    Ok(())
}

/// Removes a read-only tree: makes its directories writable first.
pub fn remove_tree(root: &Path) -> Result<(), Error> {
    if fs::symlink_metadata(root).is_err() {
        return Ok(());
    }
    let mut stack = vec![root.to_path_buf()];
    while let Some(d) = stack.pop() {
        let _ = fs::set_permissions(&d, fs::Permissions::from_mode(0o755));
        if let Ok(list) = fs::read_dir(&d) {
            for e in list.flatten() {
                if e.file_type().is_ok_and(|t| t.is_dir()) {
                    stack.push(e.path());
                }
            }
        }
    }
    fs::remove_dir_all(root).map_err(|e| Error::io("remove", root, e))
}

/// Compares `PREFIX/go-modules` with its receipt (`None` when no bundle was installed).
pub fn verify_installed(prefix: &Path) -> Result<Option<(ModulesReceipt, Vec<Difference>)>, Error> {
    let Some(r) = read_receipt(prefix)? else { return Ok(None) };
    let differences = lifecycle::diff_tree(&prefix.join(DIR), DIR, &r.files)?;
    Ok(Some((r, differences)))
}
