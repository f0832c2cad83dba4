//! The life of installed versions after install: `status`, `use`, `rollback`, `uninstall` and
//! `verify-installed`.
//!
//! Every command that changes the prefix takes the prefix lock, finishes or undoes an
//! interrupted command first, and goes through the journal like an install: `use` and
//! `rollback` are one journaled link switch, `uninstall` is a journaled removal that always
//! runs forward. Reading commands (`status`, `verify-installed`) take the lock shared.
//!
//! Idempotence: `use V` when V is active, `rollback` right after a rollback, `uninstall V` when V
//! is not installed all change nothing and say so; running any command twice is the same as once.

use std::{
    collections::{BTreeMap, BTreeSet},
    fs::{self, File},
    io::ErrorKind,
    os::unix::fs::PermissionsExt,
    path::{Path, PathBuf},
    time::{SystemTime, UNIX_EPOCH},
};

use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::{
    env,
    error::Error,
    failpoint, install,
    journal::{self, Action, Journal, Json, LinkChange, PendingWrite, Phase, Recovery, Removal},
    manifest::{Entry, EntryType},
    prefix::{self, Active},
    receipt::{self, EnvRecord, LogRecord, Origin, Receipt},
};

/// Where and how a lifecycle command runs.
#[derive(Debug, Clone, Default)]
pub struct Context {
    pub prefix: PathBuf,
    /// Wait for another installer holding the prefix instead of refusing.
    pub wait: bool,
    /// The host log, if any.
    pub log: Option<PathBuf>,
    /// Runs `go` under this program for the check before a switch (see install::CHECK_RUNNER_ENV).
    pub check_runner: Vec<String>,
}

/// One installed version, for `status`.
#[derive(Debug, Clone, Serialize)]
pub struct VersionStatus {
    pub go_version: String,
    pub tree: PathBuf,
    pub active: bool,
    pub origin: Origin,
    pub platform: String,
    pub installed_at: String,
    pub installed_by: String,
    pub signer_key_id: Option<String>,
    pub installer_sha256: Option<String>,
    pub receipt_id: String,
    pub files: usize,
}

/// The prefix at a glance.
#[derive(Debug, Clone, Serialize)]
pub struct Status {
    pub prefix: PathBuf,
    pub active: Option<String>,
    pub previous: Option<String>,
    pub rolled_back: bool,
    pub versions: Vec<VersionStatus>,
    /// Trees in the prefix that no receipt describes (a plain `go/`, or leftovers of uninstall).
    pub unmanaged: Vec<PathBuf>,
    /// An interrupted command waits for recovery (the next command, or `--recover`, does it).
    pub interrupted: Option<String>,
    pub env: Vec<EnvRecord>,
}

/// Installed versions, the active one, signer and install time of each.
pub fn status(ctx: &Context) -> Result<Status, Error> {
    let prefix = &ctx.prefix;
    let mut status = Status {
        prefix: prefix.clone(),
        active: None,
        previous: None,
        rolled_back: false,
        versions: Vec::new(),
        unmanaged: Vec::new(),
        interrupted: None,
        env: Vec::new(),
    };
    if !prefix.is_dir() {
        return Ok(status);
    }
    let _lock = install::lock_prefix(prefix, ctx.wait, true)?;
    status.interrupted =
        journal::read(prefix)?.map(|j| format!("{} of {} (process {})", j.action.name(), j.go_version, j.pid));
    let active = prefix::active(prefix)?;
    let receipts = receipt::read_receipts(prefix)?;
    let state = receipt::read_state(prefix)?;
    status.active = install::active_version(prefix, &active)?;
    status.previous = state.previous;
    status.rolled_back = state.rolled_back;
    status.env = state.env;
    for r in &receipts {
        status.versions.push(VersionStatus {
            go_version: r.go_version.clone(),
            tree: prefix.join(&r.tree),
            active: active.tree() == Some(r.tree.as_str()),
            origin: r.origin,
            platform: format!("{}/{}", r.goos, r.goarch),
            installed_at: receipt::rfc3339(r.installed_at),
            installed_by: describe_actor(&r.installed_by),
            signer_key_id: r.installer.as_ref().map(|i| i.signer_key_id.clone()),
            installer_sha256: r.installer.as_ref().map(|i| i.sha256.clone()),
            receipt_id: r.id.clone(),
            files: r.files.len(),
        });
    }
    let known: BTreeSet<&str> = receipts.iter().map(|r| r.tree.as_str()).collect();
    if matches!(active, Active::Plain(_)) {
        status.unmanaged.push(prefix.join(prefix::LINK));
    }
    for e in fs::read_dir(prefix).map_err(|e| Error::io("list", prefix, e))?.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        if prefix::is_tree_name(&name) && !known.contains(name.as_str()) {
            status.unmanaged.push(e.path());
        }
    }
    status.unmanaged.sort();
    Ok(status)
}

fn describe_actor(a: &receipt::Actor) -> String {
    let user = a.user.clone().unwrap_or_else(|| format!("uid {}", a.uid));
    match &a.sudo_user {
        Some(s) => format!("{user} (sudo by {s})@{}", a.host),
        None => format!("{user}@{}", a.host),
    }
}

/// What `use` or `rollback` did.
#[derive(Debug, Clone, Serialize)]
pub struct SwitchReport {
    pub changed: bool,
    pub action: &'static str,
    /// The active version afterwards.
    pub go_version: String,
    /// The version active before.
    pub previous: Option<String>,
    /// Id of the host log line.
    pub id: String,
    pub go_version_output: String,
    pub recovered: Option<Recovery>,
}

/// `use VERSION`: makes an installed version the active one, atomically.
pub fn use_version(ctx: &Context, go_version: &str) -> Result<SwitchReport, Error> {
    let _lock = install::lock_prefix(&ctx.prefix, ctx.wait, false)?;
    let recovered = journal::recover(&ctx.prefix)?;
    let mut r = switch_locked(&ctx.prefix, go_version, Action::Use, ctx.log.as_deref(), &ctx.check_runner)?;
    r.recovered = recovered;
    Ok(r)
}

/// `rollback`: back to the version that was active before the last install or `use`. Right after
/// a rollback it does nothing (use `use` to go forward again).
pub fn rollback(ctx: &Context) -> Result<SwitchReport, Error> {
    let prefix = &ctx.prefix;
    let _lock = install::lock_prefix(prefix, ctx.wait, false)?;
    let recovered = journal::recover(prefix)?;
    let state = receipt::read_state(prefix)?;
    let active = prefix::active(prefix)?;
    let current = install::active_version(prefix, &active)?;
    if state.rolled_back {
        return Ok(SwitchReport {
            changed: false,
            action: "none",
            go_version: current.unwrap_or_default(),
            previous: state.previous,
            id: String::new(),
            go_version_output: String::new(),
            recovered,
        });
    }
    let previous = state
        .previous
        .ok_or_else(|| Error::NoPrevious { prefix: prefix.clone(), installed: installed_list(prefix) })?;
    let mut r = switch_locked(prefix, &previous, Action::Rollback, ctx.log.as_deref(), &ctx.check_runner)?;
    r.recovered = recovered;
    Ok(r)
}

fn installed_list(prefix: &Path) -> String {
    let versions: Vec<String> =
        receipt::read_receipts(prefix).unwrap_or_default().into_iter().map(|r| r.go_version).collect();
    if versions.is_empty() {
        "none".into()
    } else {
        versions.join(", ")
    }
}

/// Switches `PREFIX/go` to the installed `go_version`; the caller holds the lock. The target's
/// `go version` must run first: a damaged tree is never activated.
pub fn switch_locked(
    prefix: &Path,
    go_version: &str,
    action: Action,
    log: Option<&Path>,
    runner: &[String],
) -> Result<SwitchReport, Error> {
    let tree = prefix::tree_name(go_version);
    let receipt = receipt::read_receipt(prefix, &tree)?
        .filter(|_| journal::tree_id(&prefix.join(&tree)).is_some())
        .ok_or_else(|| Error::NotInstalled {
            version: go_version.into(),
            prefix: prefix.into(),
            installed: installed_list(prefix),
        })?;
    let active = prefix::active(prefix)?;
    if let Active::Plain(v) = &active {
        return Err(Error::Destination {
            path: prefix.join(prefix::LINK),
            problem: format!(
                "is a plain {} tree this installer did not install; installing another version with this installer adopts it (it moves to its versioned name), after which versions can be switched",
                v.as_deref().unwrap_or("Go")
            ),
        });
    }
    let before = install::active_version(prefix, &active)?;
    let output = install::check_installed(&(&receipt).into(), &prefix.join(&tree), runner)?;
    let mut report = SwitchReport {
        changed: false,
        action: "none",
        go_version: go_version.into(),
        previous: before.clone(),
        id: String::new(),
        go_version_output: output,
        recovered: None,
    };
    if active.tree() == Some(tree.as_str()) {
        return Ok(report);
    }
    let mut state = receipt::read_state(prefix)?;
    state.previous = before.clone();
    state.rolled_back = action == Action::Rollback;
    let mut j = Journal::for_action(action, go_version, Phase::Swapping);
    j.link = Some(LinkChange { before: active.tree().map(str::to_string), after: Some(tree.clone()) });
    journal::write(prefix, &j)?;
    failpoint::hit("journal-swapping");
    let switched = prefix::set_link(prefix, Some(&tree));
    if let Err(e) = switched {
        let _ = journal::roll_back(prefix, &j);
        return Err(e);
    }
    failpoint::hit("activated");
    j.writes = vec![PendingWrite { path: relative(prefix, &receipt::state_path(prefix)), value: Json::of(&state) }];
    let record = LogRecord::new(action.name(), prefix, Some(go_version), before.as_deref());
    report.id = record.id.clone();
    j.log = log.map(|p| (p.to_path_buf(), record));
    j.phase = Phase::Committing;
    if let Err(e) = journal::write(prefix, &j) {
        let _ = journal::roll_back(prefix, &j);
        return Err(e);
    }
    failpoint::hit("journal-committing");
    journal::commit(prefix, &j)?;
    report.changed = true;
    report.action = action.name();
    Ok(report)
}

fn relative(prefix: &Path, p: &Path) -> PathBuf {
    p.strip_prefix(prefix).map(Path::to_path_buf).unwrap_or_else(|_| p.to_path_buf())
}

/// What `uninstall` removes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    Version(String),
    All,
}

/// What `uninstall` did.
#[derive(Debug, Clone, Serialize)]
pub struct UninstallReport {
    pub changed: bool,
    /// Versions removed.
    pub removed: Vec<String>,
    /// The active version afterwards.
    pub active: Option<String>,
    /// Environment files changed or removed.
    pub env_files: Vec<PathBuf>,
    /// What was left because no receipt listed it, or the user changed it.
    pub kept: Vec<String>,
    pub recovered: Option<Recovery>,
}

/// `uninstall VERSION|--all`: removes exactly what the receipts list.
pub fn uninstall(ctx: &Context, target: &Target) -> Result<UninstallReport, Error> {
    let prefix = &ctx.prefix;
    let mut report = UninstallReport {
        changed: false,
        removed: Vec::new(),
        active: None,
        env_files: Vec::new(),
        kept: Vec::new(),
        recovered: None,
    };
    if !prefix.is_dir() {
        return Ok(report);
    }
    let _lock = install::lock_prefix(prefix, ctx.wait, false)?;
    report.recovered = journal::recover(prefix)?;
    let active = prefix::active(prefix)?;
    let active_version = install::active_version(prefix, &active)?;
    let receipts = receipt::read_receipts(prefix)?;
    let mut state = receipt::read_state(prefix)?;
    let mut all = *target == Target::All;
    let selected: Vec<&Receipt> = match target {
        Target::All => receipts.iter().collect(),
        Target::Version(v) => receipts.iter().filter(|r| &r.go_version == v).collect(),
    };
    if let Active::Plain(_) = &active {
        report.kept.push(format!("{} (not installed by this installer)", prefix.join(prefix::LINK).display()));
    }
    report.active = if all { None } else { active_version.clone() };
    if selected.is_empty() {
        report.active = active_version;
        return Ok(report);
    }
    if let Target::Version(v) = target {
        if active.tree() == Some(selected[0].tree.as_str()) {
            if receipts.len() > 1 {
                let others: Vec<&str> =
                    receipts.iter().filter(|r| &r.go_version != v).map(|r| r.go_version.as_str()).collect();
                return Err(Error::InUse { version: v.clone(), others: others.join(", ") });
            }
            all = true; // the only version: removing it is removing everything
            report.active = None;
        }
    }
    let nanos = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0);
    let mut j = Journal::for_action(Action::Uninstall, target_name(target), Phase::Committing);
    for r in &selected {
        if let Some(id) = journal::tree_id(&prefix.join(&r.tree)) {
            let trash = format!(".go-offline-trash.{:x}.{nanos:x}.{}", std::process::id(), r.tree);
            j.removals.push(Removal { tree: r.tree.clone(), id, trash });
        }
        j.deletes.push(relative(prefix, &receipt::receipt_path(prefix, &r.tree)));
        report.removed.push(r.go_version.clone());
    }
    if all {
        if let Some(tree) = active.tree() {
            j.link = Some(LinkChange { before: Some(tree.to_string()), after: None });
        }
        // The prefix's record first: for a line, the first install's record says whether it
        // put a newline before the line.
        let mut records = receipt::State { env: state.env.clone(), ..receipt::State::default() };
        for r in &receipts {
            records.add_env(&r.env);
        }
        let (finals, kept) = env::removal_plan(&records.env);
        report.env_files = finals.iter().map(|f| f.path.clone()).collect();
        report.kept.extend(kept);
        j.env_final = finals;
        j.deletes.push(relative(prefix, &receipt::state_path(prefix)));
    } else {
        if state.previous.as_ref().is_some_and(|p| report.removed.contains(p)) {
            state.previous = None;
            state.rolled_back = false;
        }
        j.writes.push(PendingWrite { path: relative(prefix, &receipt::state_path(prefix)), value: Json::of(&state) });
    }
    let record = LogRecord::new("uninstall", prefix, Some(&report.removed.join(",")), active_version.as_deref());
    j.log = ctx.log.as_ref().map(|p| (p.clone(), record));
    journal::write(prefix, &j)?;
    failpoint::hit("journal-committing");
    journal::commit(prefix, &j)?;
    for r in &j.removals {
        for f in journal::kept_files(prefix, r) {
            report.kept.push(format!("{}/{f} (not listed in the receipt)", r.tree));
        }
    }
    report.changed = true;
    Ok(report)
}

fn target_name(t: &Target) -> &str {
    match t {
        Target::Version(v) => v,
        Target::All => "all",
    }
}

/// One difference between a tree and its receipt.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Difference {
    /// Path under the prefix.
    pub path: String,
    /// rpm -V style: `S` size, `M` mode, `5` digest, `L` link target, `T` type, `.` when that
    /// one matches; or `missing`, `extra`.
    pub flags: String,
    pub problems: Vec<&'static str>,
}

/// The check of one version.
#[derive(Debug, Clone, Serialize)]
pub struct TreeCheck {
    pub go_version: String,
    pub tree: PathBuf,
    pub files: usize,
    pub ok: bool,
    pub differences: Vec<Difference>,
}

/// What `verify-installed` found.
#[derive(Debug, Clone, Serialize)]
pub struct VerifyReport {
    pub prefix: PathBuf,
    pub ok: bool,
    pub versions: Vec<TreeCheck>,
    /// The `go` link and the environment files.
    pub other: Vec<Difference>,
}

impl VerifyReport {
    pub fn drift(&self) -> usize {
        self.versions.iter().map(|v| v.differences.len()).sum::<usize>() + self.other.len()
    }
}

/// `verify-installed [VERSION]`: every file of every (or one) installed version against its
/// receipt, plus the link and the environment.
pub fn verify_installed(ctx: &Context, version: Option<&str>) -> Result<VerifyReport, Error> {
    let prefix = &ctx.prefix;
    if !prefix.is_dir() {
        return Err(Error::NotInstalled {
            version: version.unwrap_or("any version").into(),
            prefix: prefix.clone(),
            installed: "none".into(),
        });
    }
    let _lock = install::lock_prefix(prefix, ctx.wait, true)?;
    if let Some(j) = journal::read(prefix)? {
        return Err(Error::Destination {
            path: prefix.join(journal::JOURNAL_NAME),
            problem: format!(
                "records an interrupted {} of {}: run the installer with --recover first",
                j.action.name(),
                j.go_version
            ),
        });
    }
    let receipts = receipt::read_receipts(prefix)?;
    let selected: Vec<&Receipt> = match version {
        Some(v) => receipts.iter().filter(|r| r.go_version == v).collect(),
        None => receipts.iter().collect(),
    };
    // The module bundle: `verify-installed modules`, or with everything.
    let modules = match version {
        None | Some(crate::modules::DIR) => crate::modules::verify_installed(prefix)?,
        Some(_) => None,
    };
    if selected.is_empty() && modules.is_none() {
        return Err(Error::NotInstalled {
            version: version.unwrap_or("any version").into(),
            prefix: prefix.clone(),
            installed: installed_list(prefix),
        });
    }
    let mut report = VerifyReport { prefix: prefix.clone(), ok: true, versions: Vec::new(), other: Vec::new() };
    if let Some((r, differences)) = modules {
        report.versions.push(TreeCheck {
            go_version: crate::modules::DIR.into(),
            tree: prefix.join(crate::modules::DIR),
            files: r.files.len(),
            ok: differences.is_empty(),
            differences,
        });
    }
    for r in selected {
        let differences = diff_tree(&prefix.join(&r.tree), &r.tree, &r.files)?;
        report.versions.push(TreeCheck {
            go_version: r.go_version.clone(),
            tree: prefix.join(&r.tree),
            files: r.files.len(),
            ok: differences.is_empty(),
            differences,
        });
    }
    if version.is_none() {
        let other = |path: String, flags: &str, problem: &'static str| Difference {
            path,
            flags: flags.into(),
            problems: vec![problem],
        };
        match prefix::active(prefix) {
            Ok(Active::Link(t)) if receipts.iter().any(|r| r.tree == t) => {}
            Ok(Active::None) => {}
            Ok(_) | Err(_) => report.other.push(other(prefix::LINK.into(), "....L", "link")),
        }
        for e in receipt::read_state(prefix)?.env {
            match &e {
                EnvRecord::Script { path, sha256 } => match fs::read(path) {
                    Ok(b) if &hex::encode(Sha256::digest(&b)) == sha256 => {}
                    Ok(_) => report.other.push(other(path.display().to_string(), "..5..", "digest")),
                    Err(_) => report.other.push(other(path.display().to_string(), "missing", "missing")),
                },
                EnvRecord::Line { path, line, .. } => {
                    let has =
                        fs::read(path).is_ok_and(|b| String::from_utf8_lossy(&b).lines().any(|l| l.trim_end() == line));
                    if !has {
                        report.other.push(other(path.display().to_string(), "missing", "missing"));
                    }
                }
            }
        }
    }
    report.ok = report.drift() == 0;
    Ok(report)
}

/// Compares the tree at `root` with `files`: every listed entry's type, size, mode, digest and
/// link target, and every entry found that is not listed.
pub fn diff_tree(root: &Path, tree: &str, files: &[Entry]) -> Result<Vec<Difference>, Error> {
    let mut out = Vec::new();
    let shown = |rel: &str| if rel.is_empty() { tree.to_string() } else { format!("{tree}/{rel}") };
    if journal::tree_id(root).is_none() {
        out.push(Difference { path: shown(""), flags: "missing".into(), problems: vec!["missing"] });
        return Ok(out);
    }
    let listed: BTreeMap<&str, &Entry> = files.iter().map(|e| (e.path.as_str(), e)).collect();
    for e in files {
        let p = root.join(&e.path);
        let meta = match fs::symlink_metadata(&p) {
            Ok(m) => m,
            Err(err) if err.kind() == ErrorKind::NotFound => {
                out.push(Difference { path: shown(&e.path), flags: "missing".into(), problems: vec!["missing"] });
                continue;
            }
            Err(err) => return Err(Error::io("inspect", &p, err)),
        };
        let kind = kind_of(&meta);
        let mut problems = Vec::new();
        if kind != Some(e.kind) {
            problems.push("type");
        } else {
            match e.kind {
                EntryType::File => {
                    let size = e.size.unwrap_or(0);
                    if meta.len() != size {
                        problems.push("size");
                        problems.push("digest");
                    } else if Some(sha256_file(&p)?) != e.sha256 {
                        problems.push("digest");
                    }
                    if meta.permissions().mode() & 0o7777 != e.mode {
                        problems.push("mode");
                    }
                }
                EntryType::Dir => {
                    if meta.permissions().mode() & 0o7777 != e.mode {
                        problems.push("mode");
                    }
                }
                EntryType::Symlink => {
                    let target = fs::read_link(&p).map_err(|err| Error::io("read the link", &p, err))?;
                    if target.to_str() != e.target.as_deref() {
                        problems.push("link");
                    }
                }
            }
        }
        if !problems.is_empty() {
            out.push(Difference { path: shown(&e.path), flags: flags(&problems), problems });
        }
    }
    // Extra entries: walk the tree, never following links.
    let mut stack = vec![(root.to_path_buf(), String::new())];
    let mut extra = Vec::new();
    while let Some((dir, rel)) = stack.pop() {
        let entries = fs::read_dir(&dir).map_err(|e| Error::io("list", &dir, e))?;
        for e in entries {
            let e = e.map_err(|err| Error::io("list", &dir, err))?;
            let name = e.file_name().to_string_lossy().into_owned();
            let child = if rel.is_empty() { name } else { format!("{rel}/{name}") };
            let listed_entry = listed.get(child.as_str());
            if listed_entry.is_none() {
                extra.push(Difference { path: shown(&child), flags: "extra".into(), problems: vec!["extra"] });
            }
            let is_dir = e.file_type().is_ok_and(|t| t.is_dir());
            if is_dir && listed_entry.is_some_and(|l| l.kind == EntryType::Dir) {
                stack.push((e.path(), child));
            }
        }
    }
    extra.sort_by(|a, b| a.path.cmp(&b.path));
    out.extend(extra);
    Ok(out)
}

fn kind_of(meta: &fs::Metadata) -> Option<EntryType> {
    let t = meta.file_type();
    if t.is_symlink() {
        Some(EntryType::Symlink)
    } else if t.is_dir() {
        Some(EntryType::Dir)
    } else if t.is_file() {
        Some(EntryType::File)
    } else {
        None
    }
}

/// `S.5..`: one column per check, as rpm -V prints them.
fn flags(problems: &[&str]) -> String {
    [("size", 'S'), ("mode", 'M'), ("digest", '5'), ("link", 'L'), ("type", 'T')]
        .iter()
        .map(|(p, c)| if problems.contains(p) { *c } else { '.' })
        .collect()
}

fn sha256_file(p: &Path) -> Result<String, Error> {
    File::open(p).and_then(crate::verify::sha256_reader).map_err(|e| Error::io("read", p, e))
}

/// The entries of a tree as found (for adopting a plain tree): parents before children, files
/// with size, mode and digest, symlinks with their targets. Other kinds are left out (and so
/// show as extra in verify-installed).
pub fn scan_tree(root: &Path) -> Result<Vec<Entry>, Error> {
    let mut out = Vec::new();
    let mut stack = vec![(root.to_path_buf(), String::new())];
    while let Some((dir, rel)) = stack.pop() {
        let mut entries: Vec<_> = fs::read_dir(&dir)
            .map_err(|e| Error::io("list", &dir, e))?
            .collect::<Result<_, _>>()
            .map_err(|e| Error::io("list", &dir, e))?;
        entries.sort_by_key(|e| e.file_name());
        let mut subdirs = Vec::new();
        for e in entries {
            let Some(name) = e.file_name().to_str().map(str::to_string) else { continue };
            let path = if rel.is_empty() { name } else { format!("{rel}/{name}") };
            let p = e.path();
            let meta = fs::symlink_metadata(&p).map_err(|err| Error::io("inspect", &p, err))?;
            let mode = meta.permissions().mode() & 0o7777;
            match kind_of(&meta) {
                Some(EntryType::Dir) => {
                    out.push(Entry::dir(path.clone(), mode));
                    subdirs.push((p, path));
                }
                Some(EntryType::File) => out.push(Entry::file(path, mode, meta.len(), sha256_file(&p)?)),
                Some(EntryType::Symlink) => {
                    let target = fs::read_link(&p).map_err(|err| Error::io("read the link", &p, err))?;
                    out.push(Entry::symlink(path, target.to_string_lossy().into_owned()));
                }
                None => {}
            }
        }
        stack.extend(subdirs);
    }
    // Sorted by path: a parent sorts before its children.
    out.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn drift_of_every_kind_is_reported() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("go-1.0.0");
        fs::create_dir_all(root.join("bin")).unwrap();
        fs::write(root.join("bin/go"), "binary").unwrap();
        fs::write(root.join("VERSION"), "go1.0.0\n").unwrap();
        fs::write(root.join("README"), "read me").unwrap();
        std::os::unix::fs::symlink("bin/go", root.join("link")).unwrap();
        let files = scan_tree(&root).unwrap();
        let paths: Vec<&str> = files.iter().map(|e| e.path.as_str()).collect();
        assert_eq!(paths, ["README", "VERSION", "bin", "bin/go", "link"]);
        assert!(diff_tree(&root, "go-1.0.0", &files).unwrap().is_empty());

        fs::write(root.join("bin/go"), "binarY").unwrap(); // same size, other bytes
        fs::write(root.join("VERSION"), "go1.0.0-edited\n").unwrap();
        fs::set_permissions(root.join("README"), fs::Permissions::from_mode(0o600)).unwrap();
        fs::remove_file(root.join("link")).unwrap();
        std::os::unix::fs::symlink("VERSION", root.join("link")).unwrap();
        fs::write(root.join("bin/extra"), "").unwrap();
        let got: Vec<(String, String)> =
            diff_tree(&root, "go-1.0.0", &files).unwrap().into_iter().map(|d| (d.path, d.flags)).collect();
        let want = [
            ("go-1.0.0/README", ".M..."),
            ("go-1.0.0/VERSION", "S.5.."),
            ("go-1.0.0/bin/go", "..5.."),
            ("go-1.0.0/link", "...L."),
            ("go-1.0.0/bin/extra", "extra"),
        ];
        assert_eq!(got, want.map(|(a, b)| (a.to_string(), b.to_string())));
        fs::remove_file(root.join("README")).unwrap();
        let got = diff_tree(&root, "go-1.0.0", &files).unwrap();
        assert!(got.iter().any(|d| d.path == "go-1.0.0/README" && d.flags == "missing"));
    }
}
