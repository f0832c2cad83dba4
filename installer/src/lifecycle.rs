//! The life of installed versions after install: `status`, `use`, `rollback`, `uninstall` and
//! `verify-installed`.
//!
//! Every command that changes the prefix takes the exclusive prefix lock, finishes or undoes an
//! interrupted command first, and goes through the journal like an install: `use` and
//! `rollback` are one journaled link switch ([`crate::switch`]), `uninstall` is a journaled
//! removal that always runs forward. Reading commands (`status`, `verify-installed`) take the
//! lock shared.
//!
//! Idempotence: `use V` when V is active, `rollback` right after a rollback, `uninstall V` when V
//! is not installed all change nothing and say so; running any command twice is the same as once.

use std::{
    collections::BTreeSet,
    ffi::OsString,
    path::{Path, PathBuf},
};

use crate::{
    env,
    error::{Error, Remedy},
    failpoint,
    journal::{self, Commit, Journal, Json, LinkChange, PendingWrite, Phase, Plan, Recovery, Removal, UninstallPlan},
    modules, os,
    os::shell::Scope,
    outcome::{
        Action, KeptDir, ModulesStatus, Outcome, Report, Status, SwitchReport, ToolchainStatus, TreeCheck, TreeFix,
        UninstallReport, VerifyReport, VersionStatus,
    },
    prefix::{self, Active, Prefix, LINK},
    receipt::{self, EnvRecord, LogAction, LogRecord, Receipt},
    switch::{self, Switch, SwitchConfig},
    toolchains::{self, Toolchain},
    tree::{self, Difference, Problem},
};

/// Where and how a lifecycle command runs.
#[derive(Debug, Clone)]
pub struct Context {
    pub prefix: Prefix,
    /// Wait for another installer holding the prefix instead of refusing.
    pub wait: bool,
    /// The host log, if any.
    pub log: Option<PathBuf>,
    /// Runs `go` under this program for the check before a switch (see check::CHECK_RUNNER_ENV).
    pub check_runner: Vec<String>,
    /// Where `status` looks for installations in other prefixes when this one has none; `None`
    /// when the prefix was named (`--prefix`), so there is nothing to point elsewhere to.
    pub elsewhere: Option<Elsewhere>,
}

/// What names the prefixes of other installations: the environment this installer writes
/// (its scripts name their prefix, see `env::prefixes_named`) and `go` on PATH.
#[derive(Debug, Clone, Default)]
pub struct Elsewhere {
    /// The environment an install would write (root's profile script, a user's env script).
    pub scope: Option<Scope>,
    /// The value of PATH.
    pub path_var: Option<OsString>,
}

/// The prefixes, other than `here`, that `elsewhere` names and that hold this installer's
/// receipts: the prefix of each of our environment scripts, and of each `go` on PATH
/// (`PREFIX/go/bin/go` as found, and `PREFIX/go-VERSION/bin/go` it resolves to).
pub fn found_elsewhere(here: &Path, elsewhere: &Elsewhere) -> Vec<PathBuf> {
    let mut candidates = Vec::new();
    if let Some(scope) = &elsewhere.scope {
        candidates.extend(env::prefixes_named(scope));
    }
    for dir in elsewhere.path_var.iter().flat_map(std::env::split_paths) {
        for go in [dir.join("go"), dir.join("go.exe")].into_iter().filter(|g| g.is_file()) {
            let resolved = std::fs::canonicalize(&go).ok();
            for g in std::iter::once(go).chain(resolved) {
                candidates.extend(g.ancestors().nth(3).map(Path::to_path_buf));
            }
        }
    }
    let same = |a: &Path, b: &Path| {
        a == b || matches!((std::fs::canonicalize(a), std::fs::canonicalize(b)), (Ok(x), Ok(y)) if x == y)
    };
    let mut found: Vec<PathBuf> = Vec::new();
    for c in candidates {
        if same(&c, here) || found.iter().any(|f| same(f, &c)) {
            continue;
        }
        if receipt::read_receipts(&c).is_ok_and(|r| !r.is_empty()) {
            found.push(c);
        }
    }
    found
}

impl Context {
    fn switch_config(&self) -> SwitchConfig<'_> {
        SwitchConfig { log: self.log.as_deref(), check_runner: &self.check_runner }
    }
}

/// The directories an install moved a user's files to (`go-1.27.3.kept`, `.kept.2`, ...), with
/// the version each was beside.
fn kept_dirs(prefix: &Prefix) -> Result<Vec<(String, String)>, Error> {
    let list = std::fs::read_dir(prefix.path()).map_err(|e| Error::io("list", prefix.path(), e))?;
    let mut out: Vec<(String, String)> = list
        .flatten()
        .filter_map(|e| e.file_name().to_str().map(str::to_string))
        .filter_map(|name| {
            let (tree, n) = name.split_once(prefix::KEPT_SUFFIX)?;
            let numbered = n.strip_prefix('.').is_some_and(|d| !d.is_empty() && d.bytes().all(|b| b.is_ascii_digit()));
            let version = prefix::parse_version_arg(tree).filter(|_| prefix::is_tree_name(tree))?;
            (n.is_empty() || numbered).then_some((name, version))
        })
        .collect();
    out.sort();
    Ok(out)
}

/// What `status` says of a directory of kept files: its files, relative to it.
fn kept_dir(path: PathBuf, go_version: String) -> Result<KeptDir, Error> {
    let found = os::walk(&path).map_err(|e| Error::io("list", &path, e))?;
    let mut files: Vec<String> = found.into_iter().filter(|f| f.kind != os::Kind::Dir).map(|f| f.path).collect();
    files.sort();
    Ok(KeptDir { path, go_version, files })
}

/// Installed versions, the active one, signer and install time of each.
pub fn status(ctx: &Context) -> Result<Outcome, Error> {
    let prefix = &ctx.prefix;
    let mut status = Status {
        prefix: prefix.path().into(),
        active: None,
        previous: None,
        rolled_back: false,
        versions: Vec::new(),
        unmanaged: Vec::new(),
        kept: Vec::new(),
        interrupted: None,
        env: Vec::new(),
        toolchains: Vec::new(),
        found_elsewhere: Vec::new(),
        modules: None,
    };
    if !prefix.exists() {
        if let Some(e) = &ctx.elsewhere {
            status.found_elsewhere = found_elsewhere(prefix.path(), e);
        }
        return Ok(Outcome::new(Action::Status, false, Report::Status(status)));
    }
    let _lock = prefix.lock_shared(ctx.wait)?;
    status.interrupted =
        journal::read(prefix)?.map(|j| format!("{} of {} (process {})", j.action().name(), j.go_version, j.pid));
    let active = prefix.active()?;
    let receipts = receipt::read_receipts(prefix.path())?;
    let state = receipt::read_state(prefix.path())?;
    status.active = receipt::active_version(prefix.path(), &active)?;
    status.previous = state.previous;
    status.rolled_back = state.rolled_back;
    status.env = state.env;
    status.modules = modules::read_receipt(prefix.path())?.map(|r| ModulesStatus {
        dir: prefix.join(modules::DIR),
        modules: r.modules.len(),
        bundles: r.bundles.len(),
        sumdb: r.sumdb,
    });
    for r in &receipts {
        status.versions.push(VersionStatus {
            go_version: r.go_version.clone(),
            tree: prefix.tree_path(&r.tree),
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
    // Inserted one by one: `collect` into a set sorts first, a sort compiled into the stub for
    // each element type (about 3.5 KB).
    let mut known = BTreeSet::new();
    for r in &receipts {
        known.insert(r.tree.as_str());
    }
    if matches!(active, Active::Plain(_)) {
        status.unmanaged.push(prefix.goroot());
    }
    for name in prefix.tree_names()? {
        if known.contains(name.as_str()) {
            continue;
        }
        let path = prefix.tree_path(&name);
        match (tree::is_go_tree(&path), prefix::parse_version_arg(&name)) {
            (false, Some(go_version)) => status.kept.push(kept_dir(path, go_version)?),
            _ => status.unmanaged.push(path),
        }
    }
    for (name, go_version) in kept_dirs(prefix)? {
        status.kept.push(kept_dir(prefix.join(&name), go_version)?);
    }
    status.unmanaged.sort();
    for (name, t) in toolchains::present(prefix) {
        let (tree, shim) = match t {
            Toolchain::Link { tree } => (tree, false),
            Toolchain::Shim { tree } => (tree, true),
        };
        let go_version = receipts.iter().find(|r| r.tree == tree).map_or(tree.clone(), |r| r.go_version.clone());
        let path = toolchains::dir(prefix).join(&name);
        status.toolchains.push(ToolchainStatus { name, path, go_version, shim });
    }
    if let Some(e) = ctx.elsewhere.as_ref().filter(|_| status.versions.is_empty()) {
        status.found_elsewhere = found_elsewhere(prefix.path(), e);
    }
    Ok(Outcome::new(Action::Status, false, Report::Status(status)))
}

fn describe_actor(a: &receipt::Actor) -> String {
    let user = a.user.clone().unwrap_or_else(|| format!("uid {}", a.uid));
    match &a.sudo_user {
        Some(s) => format!("{user} (sudo by {s})@{}", a.host),
        None => format!("{user}@{}", a.host),
    }
}

/// The outcome of a switch, with what recovery did first.
fn switched(action: Action, mut r: SwitchReport, recovered: Option<Recovery>) -> Outcome {
    let mut warnings = std::mem::take(&mut r.warnings);
    warnings.extend(Recovery::warnings_of(&recovered));
    r.recovered = recovered;
    Outcome::new(action, r.changed, Report::Switch(r)).with_warnings(warnings)
}

/// `use VERSION`: makes an installed version the active one, atomically.
pub fn use_version(ctx: &Context, go_version: &str) -> Result<Outcome, Error> {
    let _lock = ctx.prefix.lock_exclusive(ctx.wait)?;
    let recovered = journal::recover(&ctx.prefix)?;
    let r = switch::switch_locked(&ctx.prefix, go_version, Switch::Use, ctx.switch_config())?;
    Ok(switched(Action::Use, r, recovered))
}

/// `rollback`: back to the version that was active before the last install or `use`. Right after
/// a rollback it does nothing (use `use` to go forward again).
pub fn rollback(ctx: &Context) -> Result<Outcome, Error> {
    let prefix = &ctx.prefix;
    let _lock = prefix.lock_exclusive(ctx.wait)?;
    let recovered = journal::recover(prefix)?;
    let state = receipt::read_state(prefix.path())?;
    if state.rolled_back {
        let current = receipt::active_version(prefix.path(), &prefix.active()?)?;
        let r = SwitchReport {
            prefix: prefix.path().into(),
            changed: false,
            go_version: current.unwrap_or_default(),
            previous: state.previous,
            id: None,
            go_version_output: String::new(),
            recovered: None,
            warnings: Vec::new(),
        };
        return Ok(switched(Action::Rollback, r, recovered));
    }
    let previous = state.previous.ok_or_else(|| Error::NoPrevious {
        prefix: prefix.path().into(),
        installed: receipt::installed_list(prefix.path()),
    })?;
    let r = switch::switch_locked(prefix, &previous, Switch::Rollback, ctx.switch_config())?;
    Ok(switched(Action::Rollback, r, recovered))
}

/// What `uninstall` removes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    Version(String),
    All,
}

impl Target {
    fn name(&self) -> &str {
        match self {
            Target::Version(v) => v,
            Target::All => "all",
        }
    }
}

/// `uninstall VERSION|--all`: removes exactly what the receipts list.
pub fn uninstall(ctx: &Context, target: &Target) -> Result<Outcome, Error> {
    let prefix = &ctx.prefix;
    let mut report = UninstallReport {
        prefix: prefix.path().into(),
        removed: Vec::new(),
        active: None,
        env_files: Vec::new(),
        kept: Vec::new(),
        recovered: None,
        target: match target {
            Target::All => "Go".into(),
            Target::Version(v) => v.clone(),
        },
    };
    if !prefix.exists() {
        return Ok(Outcome::new(Action::Uninstall, false, Report::Uninstall(report)));
    }
    let _lock = prefix.lock_exclusive(ctx.wait)?;
    report.recovered = journal::recover(prefix)?;
    let mut warnings = Recovery::warnings_of(&report.recovered);
    let plan = plan_uninstall(ctx, target, &mut report)?;
    let Some(plan) = plan else {
        return Ok(Outcome::new(Action::Uninstall, false, Report::Uninstall(report)).with_warnings(warnings));
    };
    let j = Journal::new(target.name(), Phase::Committing, Plan::Uninstall(plan));
    journal::write(prefix, &j)?;
    failpoint::hit("journal-committing");
    warnings.extend(journal::commit(prefix, &j)?);
    if let Plan::Uninstall(p) = &j.plan {
        for r in &p.removals {
            for f in journal::kept_files(prefix, r) {
                report.kept.push(format!("{}/{f} (not listed in the receipt)", r.tree));
            }
        }
    }
    Ok(Outcome::new(Action::Uninstall, true, Report::Uninstall(report)).with_warnings(warnings))
}

/// What uninstalling `target` takes, as a journal plan; `None` when nothing is installed that it
/// names. Fills in the report's removed versions, active version and kept files.
fn plan_uninstall(
    ctx: &Context,
    target: &Target,
    report: &mut UninstallReport,
) -> Result<Option<UninstallPlan>, Error> {
    let prefix = &ctx.prefix;
    let active = prefix.active()?;
    let active_version = receipt::active_version(prefix.path(), &active)?;
    let receipts = receipt::read_receipts(prefix.path())?;
    let mut state = receipt::read_state(prefix.path())?;
    let mut all = *target == Target::All;
    let selected: Vec<&Receipt> = match target {
        Target::All => receipts.iter().collect(),
        Target::Version(v) => receipts.iter().filter(|r| &r.go_version == v).collect(),
    };
    if let Active::Plain(_) = &active {
        report.kept.push(format!("{} (not installed by this installer)", prefix.goroot().display()));
    }
    report.active = if all { None } else { active_version.clone() };
    if selected.is_empty() {
        report.active = active_version;
        return Ok(None);
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
    let mut plan = UninstallPlan { removals: Vec::new(), link: None, env_final: Vec::new(), commit: Commit::default() };
    let trash = os::unique_name(".go-offline-trash.");
    for r in &selected {
        if let Some(id) = os::tree_id(&prefix.tree_path(&r.tree)) {
            plan.removals.push(Removal { tree: r.tree.clone(), id, trash: format!("{trash}.{}", r.tree) });
        }
        plan.commit.deletes.push(receipt::receipt_rel_path(&r.tree));
        report.removed.push(r.go_version.clone());
    }
    if all {
        if let Some(tree) = active.tree() {
            plan.link = Some(LinkChange { before: Some(tree.to_string()), after: None });
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
        plan.env_final = finals;
        plan.commit.deletes.push(receipt::state_rel_path());
    } else {
        if state.previous.as_ref().is_some_and(|p| report.removed.contains(p)) {
            state.previous = None;
            state.rolled_back = false;
        }
        plan.commit.writes.push(PendingWrite { path: receipt::state_rel_path(), value: Json::of(&state) });
    }
    let record =
        LogRecord::new(LogAction::Uninstall, prefix.path(), Some(&report.removed.join(",")), active_version.as_deref());
    plan.commit.log = ctx.log.as_ref().map(|p| (p.clone(), record));
    Ok(Some(plan))
}

/// What `verify-installed` checks: every version, one, or the module bundle.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Checked {
    Everything,
    Version(String),
    Modules,
}

/// `verify-installed [VERSION|modules]`: every file of every (or one) installed version against
/// its receipt, plus the link and the environment.
pub fn verify_installed(ctx: &Context, what: &Checked) -> Result<Outcome, Error> {
    let prefix = &ctx.prefix;
    let asked = match what {
        Checked::Everything => "any version",
        Checked::Version(v) => v,
        Checked::Modules => modules::DIR,
    };
    let not_installed =
        |installed: String| Error::NotInstalled { version: asked.into(), prefix: prefix.path().into(), installed };
    if !prefix.exists() {
        return Err(not_installed("none".into()));
    }
    let _lock = prefix.lock_shared(ctx.wait)?;
    if let Some(j) = journal::read(prefix)? {
        return Err(Error::Destination {
            path: prefix.join(journal::JOURNAL_NAME),
            problem: format!("records an interrupted {} of {}", j.action().name(), j.go_version),
            remedy: Some(Remedy::Recover),
        });
    }
    let receipts = receipt::read_receipts(prefix.path())?;
    let selected: Vec<&Receipt> = match what {
        Checked::Everything => receipts.iter().collect(),
        Checked::Version(v) => receipts.iter().filter(|r| &r.go_version == v).collect(),
        Checked::Modules => Vec::new(),
    };
    let modules = match what {
        Checked::Everything | Checked::Modules => modules::verify_installed(prefix)?,
        Checked::Version(_) => None,
    };
    if selected.is_empty() && modules.is_none() {
        return Err(not_installed(receipt::installed_list(prefix.path())));
    }
    let mut report = VerifyReport { prefix: prefix.path().into(), ok: true, versions: Vec::new(), other: Vec::new() };
    if let Some((r, differences)) = modules {
        report.versions.push(TreeCheck {
            go_version: modules::DIR.into(),
            tree: prefix.join(modules::DIR),
            files: r.files.len(),
            ok: differences.is_empty(),
            differences,
            fix: TreeFix::Modules,
        });
    }
    let active_tree = prefix.active().ok().and_then(|a| a.tree().map(str::to_string));
    for r in selected {
        let at = prefix.tree_path(&r.tree);
        let differences = tree::diff_tree(&at, &r.tree, &r.files)?;
        report.versions.push(TreeCheck {
            go_version: r.go_version.clone(),
            tree: at,
            files: r.files.len(),
            ok: differences.is_empty(),
            differences,
            fix: TreeFix::Reinstall {
                installer: r.installer.as_ref().map(|i| i.path.clone()),
                active: active_tree.as_deref() == Some(r.tree.as_str()),
            },
        });
    }
    if *what == Checked::Everything {
        report.other = link_and_environment(prefix, &receipts)?;
        report.other.extend(toolchains::differences(prefix, &receipts));
    }
    report.ok = report.drift() == 0;
    Ok(Outcome::new(Action::VerifyInstalled, false, Report::Verify(report)))
}

/// Differences of the `PREFIX/go` link and of the environment files from what was recorded.
fn link_and_environment(prefix: &Prefix, receipts: &[Receipt]) -> Result<Vec<Difference>, Error> {
    let mut other = Vec::new();
    let one = |path: String, problem: Problem| Difference::new(path, vec![problem]);
    match prefix.active() {
        Ok(Active::Link(t)) if receipts.iter().any(|r| r.tree == t) => {}
        Ok(Active::None) => {}
        Ok(_) | Err(_) => other.push(one(LINK.into(), Problem::Link)),
    }
    for e in receipt::read_state(prefix.path())?.env {
        let shown = e.path().display().to_string();
        if let EnvRecord::PathEntry { store, entry, .. } = &e {
            let data = os::read_stored_path(*store).ok().flatten().map(|v| v.data);
            if !data.is_some_and(|d| d.split(';').any(|x| x == entry)) {
                other.push(one(format!("{shown} ({entry})"), Problem::Missing));
            }
            continue;
        }
        let bytes = os::read_if_exists(e.path()).ok().flatten();
        match (&e, bytes) {
            (_, None) => other.push(one(shown, Problem::Missing)),
            (EnvRecord::Script { sha256, .. }, Some(b)) => {
                if &hex::encode(<sha2::Sha256 as sha2::Digest>::digest(&b)) != sha256 {
                    other.push(one(shown, Problem::Digest));
                }
            }
            (EnvRecord::Line { line, .. }, Some(b)) => {
                if !String::from_utf8_lossy(&b).lines().any(|l| l.trim_end() == line) {
                    other.push(one(shown, Problem::Missing));
                }
            }
            (EnvRecord::PathEntry { .. }, Some(_)) => {} // above
        }
    }
    Ok(other)
}
