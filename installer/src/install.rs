//! Installs a verified payload: lock, recover, decide, stage, place, check, activate, write the
//! environment, commit.
//!
//! ```text
//! PREFIX/                       (locked for the whole install)
//!   go -> go-1.27.3             the active version (see prefix.rs), switched by one rename
//!   go-1.27.3/                  the new tree, moved in whole by one rename
//!   go-1.26.6/                  other versions stay
//!   .go-offline/                receipts and state (see receipt.rs)
//!   .go-offline-journal         what the running install is doing (see journal.rs)
//!   .go-offline-staging.XXXX    private (0700) staging directory beside it, same file system
//!   .go-offline-check.XXXX      scratch directory of the build check
//! ```
//!
//! The journal is written before each step that changes the prefix. [`policy`] decides what the
//! install is (nothing, a refused downgrade, the activation of an installed tree, a new tree, the
//! repair of a drifted one); [`decide_and_check`] makes every check of that decision (adoption of
//! a plain `go/`, free space, what must be writable); the caller's [`Confirm`] sees it then;
//! [`prepare`] journals the plan; [`stage`] extracts into the staging directory and syncs once;
//! [`place`] renames it to `go-VERSION` (`RENAME_NOREPLACE`, or an exchange with the tree it
//! replaces; on file systems without renameat2 flags, two renames whose gap the journal covers);
//! the new tree's `go version` and `go env GOROOT` must match the manifest, and hello world must
//! build and run with it, offline, *before* [`activate`] points `PREFIX/go` to it; then the
//! environment is written. If any step fails, or the process dies, the journal puts the link, the
//! trees and the environment back. Receipts, state and host log are written at [`commit`].
//!
//! Every check an install makes before it writes ([`Prefix::check_create`], then under the lock
//! [`decide_and_check`]: [`policy`], [`check_new_tree`]: adoption, free space, a writable prefix,
//! writable environment files) is a function that only reads, called by the install and by
//! [`dry_run`] alike, so a dry run ends as the install would, with its error or with what it
//! would do.
//!
//! **Invariant:** a tree is never extracted over another, and a tree in place is never modified;
//! after any crash and the next run, `PREFIX/go` is either the old active version or the new one,
//! whole.

use std::{
    cmp::Ordering,
    fs::File,
    path::PathBuf,
    sync::atomic::{AtomicU64, Ordering as AtomicOrdering},
};

use format::{
    manifest::{EntryType, Manifest},
    payload::PayloadStats,
    verify::VerifiedInstaller,
    version,
};

use crate::{
    check, delta,
    env::{self, Edit},
    error::{BaseProblem, Error, Left, Remedy, Warning},
    extract, failpoint,
    journal::{self, Adopt, Commit, InstallPlan, Json, LinkChange, PendingWrite, Phase, Plan, Recovery, Txn},
    os::{
        self,
        shell::{Purpose, Scope},
    },
    outcome::{Action, InstallAction, InstallerReport, Outcome, RecoverReport, Report},
    prefix::{self, Active, Layout, Prefix},
    progress::{self, Event, Progress},
    receipt::{self, InstallerInfo, LogAction, LogRecord, Origin, Receipt},
    switch::{self, Switch, SwitchConfig},
    toolchains, tree,
};

/// Prefix of staging directory names.
pub const STAGING_PREFIX: &str = ".go-offline-staging.";
/// Prefix of the build check's scratch directory names.
pub const SCRATCH_PREFIX: &str = ".go-offline-check.";

/// How to install.
#[derive(Debug, Clone)]
pub struct InstallConfig {
    /// Go lands in `prefix/go-VERSION`, and `prefix/go` points to it.
    pub prefix: Prefix,
    /// Where the environment goes; `None` leaves it alone (`--no-modify-path`).
    pub env: Option<Scope>,
    /// Runs the installed `go` under this program (see [`check::CHECK_RUNNER_ENV`]).
    pub check_runner: Vec<String>,
    /// Reinstall even when the same version is installed.
    pub force: bool,
    /// Allow activating a version older than the active one.
    pub allow_downgrade: bool,
    /// Wait for another installer holding the prefix instead of refusing.
    pub wait: bool,
    /// Build and run hello world with the new Go before activating it.
    pub build_check: bool,
    /// The host log, if any.
    pub log: Option<PathBuf>,
}

/// Called by [`install`] with what it decided and found, under the prefix lock and before
/// anything is changed (an interrupted command is already recovered, and every check before the
/// first write made): the place to show the plan and ask. It is what [`dry_run`] returns for the
/// same prefix. An error stops the install there, and is its result.
pub type Confirm<'a> = &'a dyn Fn(&Preview) -> Result<(), Error>;

/// Installs `installer` per `config`, once `confirm` agreed to the decision. On error the prefix
/// and environment are as they were, except for directories of the prefix path that had to be
/// created (they are removed when empty). `progress` hears of each [`progress::Phase`] after the
/// confirmation (extract, check, switch; switch alone for an activation; none when there is
/// nothing to do) and of the bytes extracted.
pub fn install(
    installer: &VerifiedInstaller,
    file: &File,
    config: &InstallConfig,
    confirm: Confirm,
    progress: Progress,
) -> Result<Outcome, Error> {
    check_destination(installer, &config.prefix)?;
    let created = config.prefix.create()?;
    let result = install_in_prefix(installer, file, config, &created, confirm, progress);
    if result.is_err() {
        for dir in created.iter().rev() {
            let _ = std::fs::remove_dir(dir); // only if empty; an error means something else is there
        }
    }
    result
}

/// The checks made before the prefix is made or locked (nothing is written): a delta needs an
/// existing prefix, and the prefix must be a directory or one that can be made. Returns the
/// directories that would be made.
fn check_destination(installer: &VerifiedInstaller, prefix: &Prefix) -> Result<Vec<PathBuf>, Error> {
    if installer.manifest().delta.is_some() && !prefix.exists() {
        let problem = format!("nothing is installed in '{}'", prefix.path().display());
        return Err(delta::no_base(installer, BaseProblem::Other(problem)));
    }
    prefix.check_create()
}

/// What an install would do, found by [`dry_run`] with every check the install makes before
/// it writes.
#[derive(Debug, Clone)]
pub struct Preview {
    /// What the install would decide (`policy`: the drift check and the environment of
    /// another prefix included).
    pub decision: Decision,
    /// What the install would do: [`InstallAction::None`] when the version is active already.
    pub action: InstallAction,
    /// The tree installed or activated.
    pub tree: PathBuf,
    /// The version active now.
    pub previous_version: Option<String>,
    /// Directories of the prefix path that would be made, outermost first.
    pub created_dirs: Vec<PathBuf>,
    /// A plain `PREFIX/go` tree that would be adopted.
    pub adoption: Option<Adoption>,
    /// The files of the shell environment that would be written.
    pub env_files: Vec<PathBuf>,
    /// An interrupted command the install would finish or undo first; the preview is of the
    /// prefix as it is now, before that.
    pub interrupted: Option<Interrupted>,
    /// The room the new tree takes and the free space at the prefix; `None` when there is no
    /// new tree (or the free-space check is switched off by a failpoint).
    pub space: Option<Space>,
    /// Entries of the tree the new one replaces that the release does not list (a user's, or
    /// what `uninstall` kept): moved out of the tree, to the same place under [`prefix::KEPT_SUFFIX`]'s
    /// directory beside it. Paths under the prefix, where they will be
    /// (`go-1.27.3.kept/notes.txt`).
    pub kept: Vec<String>,
}

/// The room a new tree takes on the prefix's file system, and what is free there.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Space {
    /// Bytes: every file rounded up to whole blocks, and a block per directory and link.
    pub need: u64,
    /// Bytes available to this user.
    pub free: u64,
}

/// A plain Go tree at `PREFIX/go` (not installed by this installer) that an install takes over.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Adoption {
    /// Its version, from its `VERSION` file.
    pub version: String,
    /// The name it is kept under beside the new tree; `None` when it is the version being
    /// installed, which replaces it.
    pub kept_as: Option<String>,
}

/// A command whose journal is in the prefix.
#[derive(Debug, Clone)]
pub struct Interrupted {
    pub action: journal::Action,
    pub go_version: String,
    pub phase: Phase,
}

/// A dry run of [`install`]: the same checks, in the same order, up to the first write, and
/// what the install would do; or the error the install would stop with. Writes nothing (the
/// prefix, if there, is locked shared while it is read, so a running install is reported as
/// busy, as it would be).
pub fn dry_run(installer: &VerifiedInstaller, config: &InstallConfig) -> Result<Preview, Error> {
    let prefix = &config.prefix;
    let m = installer.manifest();
    let created_dirs = check_destination(installer, prefix)?;
    let exists = created_dirs.is_empty();
    let _lock = if exists { Some(prefix.lock_shared(config.wait)?) } else { None };
    let interrupted = match exists {
        true => {
            journal::read(prefix)?.map(|j| Interrupted { action: j.action(), go_version: j.go_version, phase: j.phase })
        }
        false => None,
    };
    let start = start_of(prefix, m)?;
    let decided = decide_and_check(installer, config, &start)?;
    Ok(Preview { created_dirs, interrupted, ..preview(prefix, &start, &decided) })
}

/// What [`decide_and_check`] decided and found, as a [`Preview`] (without the directories made
/// or the interrupted command, which the caller knows).
fn preview(prefix: &Prefix, start: &Start, decided: &Decided) -> Preview {
    let action = match &decided.decision {
        Decision::Nothing => InstallAction::None,
        Decision::Activate => InstallAction::Activated,
        Decision::Install { replacing, .. } => {
            let replaces_plain = matches!(&decided.adoption, Some(a) if a.kept_as.is_none());
            if *replacing || replaces_plain {
                InstallAction::Reinstalled
            } else {
                InstallAction::Installed
            }
        }
    };
    Preview {
        decision: decided.decision.clone(),
        action,
        tree: prefix.tree_path(&start.tree),
        previous_version: start.previous_version.clone(),
        created_dirs: Vec::new(),
        adoption: decided.adoption.clone(),
        env_files: decided.env_files.clone(),
        interrupted: None,
        space: decided.space,
        kept: decided
            .kept
            .as_ref()
            .map_or_else(Vec::new, |k| k.entries.iter().map(|e| format!("{}/{e}", k.dir)).collect()),
    }
}

/// Finishes or undoes a command in `prefix` that was interrupted (`--recover`); every command
/// that changes the prefix does this first on its own.
pub fn recover(prefix: &Prefix, wait: bool) -> Result<Outcome, Error> {
    let recovered = if prefix.exists() {
        let _lock = prefix.lock_exclusive(wait)?;
        journal::recover(prefix)?
    } else {
        None
    };
    let warnings = Recovery::warnings_of(&recovered);
    let report = RecoverReport { prefix: prefix.path().into(), recovered };
    Ok(Outcome::new(Action::Recover, report.recovered.is_some(), Report::Recover(report)).with_warnings(warnings))
}

/// What an install is, given what is installed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// The same version is installed and active, every file as its receipt lists it, its
    /// environment in place (or a plain tree of that version, which has no receipt): nothing to do.
    Nothing,
    /// Installed beside the active one and intact: activating it is all that is left.
    Activate,
    /// A new tree. `replacing`: one of the same version is there and goes at commit (`--force`,
    /// or `drift`: it differs from its receipt, and the signed one repairs it).
    Install { replacing: bool, drift: Option<Drift> },
}

/// How an installed version differs from what its receipt (and, for the active one, the
/// environment and toolchain links) say; what `verify-installed` reports for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Drift {
    /// Entries of its tree that differ from the receipt (changed, missing or extra: an extra one
    /// is moved out of the tree, see [`prefix::KEPT_SUFFIX`]).
    pub files: usize,
    /// Environment files (or rc lines, or `Path` entries) to write again.
    pub environment: usize,
    /// Links and shims of `PREFIX/bin` to put right.
    pub toolchains: usize,
}

/// The state of the prefix an install starts from.
struct Start {
    active: Active,
    tree: String,
    previous_version: Option<String>,
    is_active: bool,
}

fn install_in_prefix(
    installer: &VerifiedInstaller,
    file: &File,
    config: &InstallConfig,
    created: &[PathBuf],
    confirm: Confirm,
    progress: Progress,
) -> Result<Outcome, Error> {
    let prefix = &config.prefix;
    let m = installer.manifest();
    let _lock = prefix.lock_exclusive(config.wait)?;
    let recovered = journal::recover(prefix)?;
    let start = start_of(prefix, m)?;
    let mut report = InstallerReport::of(installer, Some(prefix.goroot()));
    report.install_action = Some(InstallAction::None);
    report.active_version = Some(m.go_version.clone());
    report.previous_version = start.previous_version.clone();
    let mut warnings = Recovery::warnings_of(&recovered);
    report.recovered = recovered;
    // Every check before the first write, then the confirmation: a refusal is said before
    // anything is asked, and what was confirmed is what runs (the lock is held throughout).
    let decided = decide_and_check(installer, config, &start)?;
    let preview = Preview { created_dirs: created.to_vec(), ..preview(prefix, &start, &decided) };
    confirm(&preview)?;
    let changed = match decided.decision {
        Decision::Nothing => false,
        Decision::Activate => {
            progress(Event::Phase(progress::Phase::Switch));
            let how = SwitchConfig { log: config.log.as_deref(), check_runner: &config.check_runner };
            let switched = switch::switch_locked(prefix, &m.go_version, Switch::Use, how)?;
            report.install_action = Some(InstallAction::Activated);
            report.receipt_id = switched.id;
            report.go_version_output = switched.go_version_output;
            warnings.extend(switched.warnings);
            switched.changed
        }
        Decision::Install { replacing, .. } => {
            let new = NewTree {
                files: decided.planned.as_ref().map_or(&m.files, |p| &p.files),
                delta: decided.planned.as_ref(),
            };
            let how = TreeJob {
                start: &start,
                new: &new,
                adoption: decided.adoption.as_ref(),
                replacing,
                kept: decided.kept.as_ref(),
            };
            let done = install_tree(installer, file, config, how, progress)?;
            warnings.extend(done.warnings);
            report.install_action = Some(done.action);
            report.adopted = done.adopted;
            report.env_files = done.env_files;
            report.go_version_output = done.go_version_output;
            report.build_check = done.build_check;
            report.receipt_id = Some(done.receipt_id);
            report.kept = preview.kept;
            true
        }
    };
    // Where the tree is once installed: `PREFIX/go` itself in `Layout::Tree`.
    report.tree = Some(prefix.tree_path(&start.tree));
    Ok(Outcome::new(Action::Install, changed, Report::Installer(report)).with_warnings(warnings))
}

/// What is active in the prefix, against the version `m` carries. Reads only.
fn start_of(prefix: &Prefix, m: &Manifest) -> Result<Start, Error> {
    let active = prefix.active()?;
    let tree = prefix::tree_name(&m.go_version);
    Ok(Start {
        previous_version: receipt::active_version(prefix.path(), &active)?,
        is_active: match &active {
            Active::Link(t) => t == &tree,
            Active::Plain(v) => v.as_deref() == Some(m.go_version.as_str()),
            Active::None => false,
        },
        active,
        tree,
    })
}

/// Whether this process may write in the prefix, asked without writing. The first thing a
/// command that changes the prefix writes is its journal, so a refusal names it, word for word
/// as a failed write of it would.
fn check_prefix_writable(prefix: &Prefix) -> Result<(), Error> {
    os::can_write_in(prefix.path()).map_err(|e| Error::io("write", prefix.join(journal::JOURNAL_NAME), e))
}

/// What [`decide_and_check`] found: the decision, and for a new tree what its checks found.
struct Decided {
    decision: Decision,
    /// A delta's base, proven intact.
    planned: Option<delta::Planned>,
    /// The plain `PREFIX/go` the new tree adopts.
    adoption: Option<Adoption>,
    /// The files of the environment the new tree's install writes.
    env_files: Vec<PathBuf>,
    /// The room the new tree takes, and the free space.
    space: Option<Space>,
    /// What the install keeps of the tree it replaces (see [`tree::unlisted`]), and where.
    kept: Option<journal::Keep>,
}

/// The decision ([`policy`]: the downgrade, the drift check, the environment of another prefix)
/// and every check of what it decided that is made before the first write: for an activation
/// the prefix writable; for a new tree a delta's base proven (every file hashed) and
/// [`check_new_tree`]. Reads only; called under the lock by [`install`] (before it asks to
/// confirm) and by [`dry_run`] alike, so the two end the same way.
fn decide_and_check(installer: &VerifiedInstaller, config: &InstallConfig, start: &Start) -> Result<Decided, Error> {
    let prefix = &config.prefix;
    let m = installer.manifest();
    let decision = policy(prefix, m, start, config)?;
    let mut decided =
        Decided { decision, planned: None, adoption: None, env_files: Vec::new(), space: None, kept: None };
    match &decided.decision {
        Decision::Nothing => {}
        Decision::Activate => check_prefix_writable(prefix)?,
        Decision::Install { .. } => {
            decided.planned = match &m.delta {
                Some(d) => Some(delta::prove_base(prefix, installer, d)?),
                None => None,
            };
            let files = decided.planned.as_ref().map_or(&m.files, |p| &p.files);
            let checked = check_new_tree(prefix, m, files, start, config.env.as_ref())?;
            decided.adoption = checked.adoption;
            decided.env_files = checked.env_files;
            decided.space = checked.space;
            // The tree this one replaces: of the same version (`--force`, drift, what uninstall
            // kept), or a plain `PREFIX/go` of it.
            let replacing = matches!(decided.decision, Decision::Install { replacing: true, .. });
            let replaced = match &decided.adoption {
                _ if replacing => Some(prefix.tree_path(&start.tree)),
                Some(a) if a.kept_as.is_none() => Some(prefix.goroot()),
                _ => None,
            };
            if let Some(root) = replaced {
                let entries = tree::unlisted(&root, files)?;
                if !entries.is_empty() {
                    decided.kept = Some(journal::Keep { dir: kept_dir_name(prefix, &start.tree), entries });
                }
            }
        }
    }
    Ok(decided)
}

/// What [`check_new_tree`] found.
struct NewTreeChecked {
    adoption: Option<Adoption>,
    env_files: Vec<PathBuf>,
    space: Option<Space>,
}

/// Every check an install of a new tree makes before it writes, in this order: the adoption of
/// a plain `PREFIX/go` ([`adoption`]), the free space ([`preflight`]), the prefix writable
/// (when it is there already: else it is made by this process), the files of the environment
/// writable. Reads only.
fn check_new_tree(
    prefix: &Prefix,
    m: &Manifest,
    files: &[format::manifest::Entry],
    start: &Start,
    env: Option<&Scope>,
) -> Result<NewTreeChecked, Error> {
    let adoption = adoption(prefix, m, start)?;
    let space = preflight(prefix, files)?;
    if prefix.exists() {
        check_prefix_writable(prefix)?;
    }
    let bin = prefix.goroot().join("bin");
    let edits = match env {
        Some(scope) => env::plan(scope, Purpose::Go { bin_dir: &bin }).map_err(Error::Environment)?,
        None => Vec::new(),
    };
    env::check_writable(&edits).map_err(Error::Environment)?;
    Ok(NewTreeChecked { adoption, env_files: edits.iter().map(|e| e.path().to_path_buf()).collect(), space })
}

/// The plain `PREFIX/go` an install would adopt, if there is one; refuses one without a
/// `VERSION`, and one whose versioned name is taken. Reads only.
fn adoption(prefix: &Prefix, m: &Manifest, start: &Start) -> Result<Option<Adoption>, Error> {
    let Active::Plain(plain) = &start.active else { return Ok(None) };
    let go = prefix.goroot();
    let version = plain.clone().ok_or_else(|| Error::Destination {
        path: go.clone(),
        problem: "is a directory without a VERSION file, not a Go tree this installer can adopt: move it away".into(),
        remedy: None,
    })?;
    let kept_as = (version != m.go_version).then(|| prefix::tree_name(&version));
    if let Some(name) = kept_as.as_ref().filter(|n| os::kind_of(&prefix.join(n)).ok().flatten().is_some()) {
        return Err(Error::Destination {
            path: prefix.join(name),
            problem: format!(
                "exists, so the {version} tree at '{}' cannot be kept under that name: move one of them away",
                go.display()
            ),
            remedy: None,
        });
    }
    Ok(Some(Adoption { version, kept_as }))
}

/// The first free name of `PREFIX/go-1.27.3.kept`, `.kept.2`, ... (a directory of an earlier
/// install's kept entries stays as it is).
fn kept_dir_name(prefix: &Prefix, tree: &str) -> String {
    (1..)
        .map(|n| match n {
            1 => format!("{tree}{}", prefix::KEPT_SUFFIX),
            n => format!("{tree}{}.{n}", prefix::KEPT_SUFFIX),
        })
        .find(|name| os::kind_of(&prefix.join(name)).ok().flatten().is_none())
        .unwrap_or_default()
}

/// The version policy: an older version needs `--allow-downgrade`; `--force` always installs;
/// the installed version of the same number is checked against its receipt (every file hashed,
/// as `verify-installed` does) and, when active, its environment and toolchain links too: intact,
/// it is nothing to do (active) or activated (inactive); drifted, the signed tree replaces it. A
/// Go tree of that name without a receipt is not ours to replace (without `--force`); a
/// directory there holding no Go tree (what `uninstall` kept) is replaced; an active one (a plain
/// tree, or one whose receipt is gone) is left as it is. Whatever replaces a tree moves the
/// entries the release does not list out of it, to [`prefix::KEPT_SUFFIX`]'s directory: the new tree is
/// the signed one, and nothing of a user's is lost. The environment this install would write is
/// planned first, so that one belonging to another prefix is refused before anything is done.
fn policy(prefix: &Prefix, m: &Manifest, start: &Start, config: &InstallConfig) -> Result<Decision, Error> {
    if let Some(installed) = &start.previous_version {
        if version::compare(&m.go_version, installed) == Some(Ordering::Less) && !config.allow_downgrade {
            return Err(Error::Downgrade { installed: installed.clone(), new: m.go_version.clone() });
        }
    }
    let bin_dir = prefix.goroot().join("bin");
    let env_edits = match &config.env {
        Some(scope) => env::plan(scope, Purpose::Go { bin_dir: &bin_dir }).map_err(Error::Environment)?.len(),
        None => 0,
    };
    let dest = prefix.tree_path(&start.tree);
    let replacing = prefix.has_tree(&start.tree)?;
    if config.force {
        return Ok(Decision::Install { replacing, drift: None });
    }
    let receipt = if replacing { receipt::read_receipt(prefix.path(), &start.tree)? } else { None };
    let Some(r) = receipt else {
        return match (replacing, start.is_active) {
            (_, true) => Ok(Decision::Nothing),
            (false, false) => Ok(Decision::Install { replacing, drift: None }),
            // Only what `uninstall` kept (or a user put there): moved aside, see `prefix::KEPT_SUFFIX`.
            (true, false) if !tree::is_go_tree(&dest) => Ok(Decision::Install { replacing, drift: None }),
            (true, false) => Err(Error::Destination {
                path: dest,
                problem: "holds a Go tree that was not installed by this installer (it has no receipt)".into(),
                remedy: Some(Remedy::Force),
            }),
        };
    };
    let mut drift = Drift { files: tree::diff_tree(&dest, &start.tree, &r.files)?.len(), ..Drift::default() };
    if start.is_active {
        drift.environment = env_edits;
        drift.toolchains = toolchains::differences(prefix, &receipt::read_receipts(prefix.path())?).len();
    }
    Ok(match (drift == Drift::default(), start.is_active) {
        (true, true) => Decision::Nothing,
        (true, false) => Decision::Activate,
        (false, _) => Decision::Install { replacing, drift: Some(drift) },
    })
}

/// What installing a new tree did.
struct Installed {
    action: InstallAction,
    adopted: Option<String>,
    env_files: Vec<PathBuf>,
    go_version_output: String,
    build_check: Option<String>,
    receipt_id: String,
    warnings: Vec<Warning>,
}

/// A new tree to install, as [`decide_and_check`] decided and checked it.
#[derive(Clone, Copy)]
struct TreeJob<'a> {
    start: &'a Start,
    new: &'a NewTree<'a>,
    adoption: Option<&'a Adoption>,
    replacing: bool,
    /// Entries of the replaced tree to move aside, and where.
    kept: Option<&'a journal::Keep>,
}

/// A new tree, from staging to commit, under the journal. Its checks were made (and the
/// install confirmed) before: the journal is the first write.
fn install_tree(
    installer: &VerifiedInstaller,
    file: &File,
    config: &InstallConfig,
    job: TreeJob,
    progress: Progress,
) -> Result<Installed, Error> {
    let prefix = &config.prefix;
    let m = installer.manifest();
    let TreeJob { start, new, adoption, replacing, kept } = job;
    let (mut txn, adopted_receipt) = prepare(prefix, m, start, adoption)?;
    txn.plan.keep = kept.cloned();
    txn.begin(prefix)?;
    let steps = swap_and_check(installer, file, config, new, &mut txn, replacing, progress);
    let done = match steps {
        Ok(done) => done,
        Err(error) => return Err(undo(prefix, &txn, error)),
    };
    let receipt = commit(installer, config, new, start, &mut txn, &done, adopted_receipt)?;
    let adopted = txn.plan.adopt.as_ref().filter(|a| a.keep).map(|a| a.name.clone());
    let reinstalled = replacing || matches!(&txn.plan.adopt, Some(a) if !a.keep);
    Ok(Installed {
        action: if reinstalled { InstallAction::Reinstalled } else { InstallAction::Installed },
        adopted,
        env_files: done.env_files,
        go_version_output: done.go_version_output,
        build_check: done.build_check,
        receipt_id: receipt.0,
        warnings: receipt.1,
    })
}

/// The tree an install puts in place: its entries (a delta's rebuilt from its base), and for a
/// delta the base it is made from.
#[derive(Clone, Copy)]
struct NewTree<'a> {
    files: &'a [format::manifest::Entry],
    delta: Option<&'a delta::Planned>,
}

/// The journal of a new install (phase `staging`), with the adoption of the plain `PREFIX/go`
/// [`check_new_tree`] found (and its receipt, listing its files as found).
fn prepare(
    prefix: &Prefix,
    m: &Manifest,
    start: &Start,
    adoption: Option<&Adoption>,
) -> Result<(Txn, Option<Receipt>), Error> {
    let mut p = InstallPlan::staged(prefix.tree_location(&start.tree), STAGING_PREFIX);
    p.link = Some(LinkChange { before: start.active.tree().map(str::to_string), after: Some(start.tree.clone()) });
    let mut adopted_receipt = None;
    if let Some(a) = adoption {
        let go = prefix.goroot();
        let keep = a.kept_as.is_some();
        let name = a.kept_as.clone().unwrap_or_else(|| format!("{}.replaced", p.staging));
        let id = os::tree_id(&go).ok_or_else(|| Error::io("inspect", &go, std::io::ErrorKind::NotFound.into()))?;
        p.adopt = Some(Adopt { id, tmp: format!("{}adopt.{}", os::TEMP_PREFIX, p.staging), name: name.clone(), keep });
        if keep {
            let files = tree::scan_tree(&go)?;
            adopted_receipt = Some(Receipt::new(&a.version, &m.goos, &m.goarch, &name, Origin::Adopted, files));
        }
    }
    Ok((Txn::new(&m.go_version, p, Plan::Install), adopted_receipt))
}

/// What the steps before commit produced.
struct Swapped {
    go_version_output: String,
    build_check: Option<String>,
    env_files: Vec<PathBuf>,
    env_records: Vec<receipt::EnvRecord>,
}

/// Extract, sync, journal `swapping`, place, check, activate, write the environment. An error
/// leaves everything for [`undo`].
fn swap_and_check(
    installer: &VerifiedInstaller,
    file: &File,
    config: &InstallConfig,
    new: &NewTree,
    txn: &mut Txn,
    replacing: bool,
    progress: Progress,
) -> Result<Swapped, Error> {
    let prefix = &config.prefix;
    let m = installer.manifest();
    failpoint::hit("staging-created");
    let staging = prefix.join(&txn.plan.staging);
    stage(installer, file, new, &staging, progress)?;
    let bin = prefix.goroot().join("bin");
    let purpose = Purpose::Go { bin_dir: &bin };
    let edits: Vec<Edit> = match &config.env {
        Some(scope) => env::plan(scope, purpose).map_err(Error::Environment)?,
        None => Vec::new(),
    };
    let dest = prefix.join(&txn.plan.dest);
    {
        let p = &mut txn.plan;
        p.env = env::backup(&edits).map_err(Error::Environment)?;
        p.new_tree = os::tree_id(&staging);
        p.old_tree = if replacing { os::tree_id(&dest) } else { None };
        p.scratch = config.build_check.then(|| os::unique_name(SCRATCH_PREFIX));
    }
    txn.phase = Phase::Swapping;
    txn.write(prefix)?;
    failpoint::hit("journal-swapping");
    prefix.place_tree(&txn.plan.staging, &txn.plan.dest, &txn.plan.aside, replacing)?;
    failpoint::hit("swapped");
    progress(Event::Phase(progress::Phase::Check { build: config.build_check }));
    let go_version_output = check::check_installed(&m.into(), &dest, &config.check_runner)?;
    let build_check = match &txn.plan.scratch {
        Some(s) => Some(check::build_check(&dest, &prefix.join(s), &config.check_runner)?),
        None => None,
    };
    failpoint::hit("checked");
    progress(Event::Phase(progress::Phase::Switch));
    activate(prefix, &txn.plan)?;
    failpoint::hit("activated");
    let applied = env::apply(&edits).map_err(Error::Environment)?;
    failpoint::hit("env-written");
    let env_records =
        config.env.as_ref().map(|scope| env::records(scope, purpose, &edits, &txn.plan.env)).unwrap_or_default();
    Ok(Swapped { go_version_output, build_check, env_files: applied.written, env_records })
}

/// Extracts into the staging directory and flushes it to disk once.
fn stage(
    installer: &VerifiedInstaller,
    file: &File,
    new: &NewTree,
    staging: &std::path::Path,
    progress: Progress,
) -> Result<PayloadStats, Error> {
    let bytes = installer.manifest().files_size();
    progress(Event::Phase(progress::Phase::Extract { bytes }));
    let half = bytes / 2;
    let written = AtomicU64::new(0);
    let tick = |n: u64| {
        let before = written.fetch_add(n, AtomicOrdering::Relaxed);
        if before <= half && before + n > half {
            failpoint::hit("extracting");
        }
        progress(Event::Bytes(n))
    };
    let stats = match new.delta {
        Some(planned) => delta::stage(installer, file, planned, staging, &tick)?,
        None => extract::extract(installer, file, staging, &tick)?,
    };
    failpoint::hit("extracted");
    os::sync_fs(staging).map_err(|e| Error::io("sync", staging, e))?;
    failpoint::hit("synced");
    Ok(stats)
}

/// Journals phase `committing` with what commit writes (the receipts, the state, the log line)
/// and commits. Returns the receipt id and what commit could not finish: not a failed install,
/// the journal stays and the next run finishes the job.
fn commit(
    installer: &VerifiedInstaller,
    config: &InstallConfig,
    new: &NewTree,
    start: &Start,
    txn: &mut Txn,
    done: &Swapped,
    adopted_receipt: Option<Receipt>,
) -> Result<(String, Vec<Warning>), Error> {
    let prefix = &config.prefix;
    let m = installer.manifest();
    let mut receipt =
        Receipt::new(&m.go_version, &m.goos, &m.goarch, &start.tree, Origin::Installed, new.files.to_vec());
    receipt.from_delta = match (&m.delta, new.delta) {
        (Some(d), Some(p)) => Some(receipt::FromDelta {
            base_version: d.base.go_version.clone(),
            base_files_sha256: d.base.files_sha256.clone(),
            base_receipt_id: p.base_receipt_id.clone(),
        }),
        _ => None,
    };
    receipt.installer = Some(InstallerInfo {
        path: installer.path().to_path_buf(),
        sha256: installer.file_sha256().to_string(),
        len: installer.layout().file_len(),
        target: m.target.clone(),
        signer_key_id: installer.signer().id.clone(),
        signer_trusted_by: installer.signer().origin.clone(),
    });
    receipt.env = done.env_records.clone();
    let mut state = receipt::read_state(prefix.path()).map_err(|e| undo(prefix, txn, e))?;
    if !start.is_active {
        state.previous = start.previous_version.clone();
        state.rolled_back = false;
    }
    state.add_env(&done.env_records);
    let mut writes = vec![PendingWrite { path: receipt::receipt_rel_path(&start.tree), value: Json::of(&receipt) }];
    if let Some(r) = &adopted_receipt {
        writes.push(PendingWrite { path: receipt::receipt_rel_path(&r.tree), value: Json::of(r) });
    }
    writes.push(PendingWrite { path: receipt::state_rel_path(), value: Json::of(&state) });
    let log = config.log.as_ref().map(|path| {
        let mut record =
            LogRecord::new(LogAction::Install, prefix.path(), Some(&m.go_version), start.previous_version.as_deref());
        record.id = receipt.id.clone();
        record.installer_sha256 = Some(installer.file_sha256().to_string());
        record.signer_key_id = Some(installer.signer().id.clone());
        (path.clone(), record)
    });
    txn.plan.commit = Commit { writes, deletes: Vec::new(), log };
    txn.phase = Phase::Committing;
    txn.write(prefix).map_err(|e| undo(prefix, txn, e))?;
    failpoint::hit("journal-committing");
    let warnings = match journal::commit(prefix, &txn.journal()) {
        Ok(w) => w,
        Err(e) => vec![Warning::of_error("", &e, "; the next run of the installer finishes the job")],
    };
    Ok((receipt.id, warnings))
}

/// Points `PREFIX/go` at the new tree. A plain `go/` directory is exchanged with a new link in
/// one step (it lands at the adoption's temp name; commit gives it its versioned name); without
/// an exchange, or in [`Layout::Tree`], it is moved to that name first, then the link made.
fn activate(prefix: &Prefix, p: &InstallPlan) -> Result<(), Error> {
    let after = p.link.as_ref().and_then(|l| l.after.as_deref()).unwrap_or(&p.dest);
    let Some(a) = &p.adopt else { return prefix.set_link(Some(after)) };
    let go = prefix.goroot();
    let tmp = prefix.join(&a.tmp);
    let exchanged = match prefix.layout() {
        Layout::Link => {
            os::symlink(after, &tmp).map_err(|e| Error::io("create a link at", &tmp, e))?;
            match os::rename_exchange(&tmp, &go) {
                Ok(()) => true,
                Err(os::Exchange::Unsupported) => {
                    let _ = std::fs::remove_file(&tmp);
                    false
                }
                Err(os::Exchange::Io(e)) => return Err(Error::io("move the link into place at", &go, e)),
            }
        }
        Layout::Tree => false,
    };
    if !exchanged {
        prefix.rename_noreplace(&go, &tmp)?;
        failpoint::hit("fallback-aside");
        prefix.set_link(Some(after))?;
    }
    prefix.sync()
}

/// Rolls an install back after `error`. Should that fail too, the old tree is never deleted:
/// the error (exit 20) says where it is, and the journal stays so the next run tries again.
fn undo(prefix: &Prefix, txn: &Txn, error: Error) -> Error {
    let Err(undo) = journal::roll_back(prefix, &txn.journal()) else { return error };
    let p = &txn.plan;
    let dest = prefix.join(&p.dest);
    let kept = [&p.staging, &p.aside]
        .into_iter()
        .map(|n| prefix.join(n))
        .find(|path| p.old_tree.is_some() && os::tree_id(path) == p.old_tree);
    let journal_path = prefix.join(journal::JOURNAL_NAME);
    let left = match kept {
        Some(kept) => Left::PreviousKept { kept, dest, journal: journal_path },
        None => Left::TreeAsBefore { dest, journal: journal_path },
    };
    Error::RollbackFailed { error: Box::new(error), undo: Box::new(undo), left }
}

/// Refuses before writing anything when the new tree cannot fit beside the old one; returns the
/// room it takes and the free space. Reads only.
fn preflight(prefix: &Prefix, files: &[format::manifest::Entry]) -> Result<Option<Space>, Error> {
    if failpoint::enabled("no-preflight") {
        return Ok(None);
    }
    // A prefix not made yet (a dry run) lands on the file system of the directory it is made in.
    let (_, there) = os::missing_dirs(prefix.path());
    let space = os::free_space(&there).map_err(|e| Error::io("query the free space of", prefix.path(), e))?;
    let block = space.block;
    let need: u64 = files
        .iter()
        .map(|e| match e.kind {
            EntryType::File => e.size.unwrap_or(0).div_ceil(block).saturating_mul(block),
            EntryType::Dir | EntryType::Symlink => block,
        })
        .fold(0u64, u64::saturating_add);
    let mib = |b: u64| format!("{} MiB", crate::decimal::fixed(b as f64 / (1u64 << 20) as f64, 1));
    if need > space.bytes {
        return Err(Error::NoSpace { path: prefix.path().into(), need: mib(need), have: mib(space.bytes) });
    }
    let count = files.len() as u64;
    if let Some(inodes) = space.inodes.filter(|&free| count > free) {
        return Err(Error::NoSpace {
            path: prefix.path().into(),
            need: format!("{count} inodes"),
            have: format!("{inodes} inodes"),
        });
    }
    Ok(Some(Space { need, free: space.bytes }))
}
