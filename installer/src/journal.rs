//! The journal: what a command that changes the prefix is about to do, written (atomically,
//! synced) before it does it, so that a crash at any point (kill -9, power loss) is undone or
//! finished by the next run, under the same prefix lock. Installs, module bundles, `use`,
//! `rollback` and `uninstall` all go through it, each with its own [`Plan`].
//!
//! ```text
//! PREFIX/.go-offline-journal   format, pid, version, phase, and the plan: the names used, the
//!                              identity (device, inode) of every tree involved, the `go` link
//!                              before and after, the environment files' previous contents, and
//!                              what commit writes, deletes and logs
//! ```
//!
//! | phase        | written before                        | recovery                                       |
//! |--------------|---------------------------------------|------------------------------------------------|
//! | `staging`    | the staging dir is made               | delete the staging dir                         |
//! | `swapping`   | the new tree is moved in, the link    | put the link, the old trees and the            |
//! |              | switched, the environment written     | environment back, delete the new tree          |
//! | `committing` | receipts, state and log are written,  | finish: write them, delete the replaced tree,  |
//! |              | replaced or uninstalled trees deleted | remove what uninstall listed                   |
//!
//! **Invariant:** recovery only ever deletes a directory whose inode the journal recorded (or,
//! in phase `staging`, the staging name it chose); trees are found by identity, never by name
//! alone, so every recovery step is idempotent and can itself be interrupted and re-run.

use std::{
    fs,
    io::ErrorKind,
    path::{Component, Path, PathBuf},
};

use format::manifest::EntryType;
use serde::{Deserialize, Serialize};

use crate::{
    env,
    error::{Error, Warning},
    failpoint,
    os::{self, TreeId},
    prefix::{Layout, Prefix, LINK},
    receipt::{self, LogRecord},
    toolchains,
};

/// File name of the journal in the prefix.
pub const JOURNAL_NAME: &str = ".go-offline-journal";
/// Format 3 holds one plan per action; formats 1 and 2 (one struct for every action, `""` for
/// names an action does not use) are still read, so an interrupted command of an earlier
/// release is recovered by this one.
const JOURNAL_FORMAT: u32 = 3;
/// Journals are small (names and a few rc files); anything bigger is not ours.
const MAX_JOURNAL_LEN: u64 = 16 << 20;

/// How far a command got.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Phase {
    Staging,
    Swapping,
    Committing,
}

impl Phase {
    pub fn name(self) -> &'static str {
        match self {
            Phase::Staging => "staging",
            Phase::Swapping => "swapping",
            Phase::Committing => "committing",
        }
    }
}

/// What the journaled command is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum Action {
    #[default]
    Install,
    Use,
    Rollback,
    Uninstall,
    /// A module bundle into `PREFIX/go-modules`.
    InstallModules,
}

impl Action {
    pub fn name(self) -> &'static str {
        match self {
            Action::Install => "install",
            Action::Use => "use",
            Action::Rollback => "rollback",
            Action::Uninstall => "uninstall",
            Action::InstallModules => "install-modules",
        }
    }
}

/// The `PREFIX/go` link before and after the command (`None`: no link).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LinkChange {
    pub before: Option<String>,
    pub after: Option<String>,
}

/// A plain `PREFIX/go` tree leaving its place for the link: exchanged with a new link made at
/// `tmp`, then renamed to `name` (`keep`), or deleted at commit (replaced by the same version).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Adopt {
    pub id: TreeId,
    pub tmp: String,
    pub name: String,
    pub keep: bool,
}

/// A tree `uninstall` removes: renamed to `trash`, then the files its receipt lists are deleted;
/// anything else found in it is kept (renamed back to `tree`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Removal {
    pub tree: String,
    pub id: TreeId,
    pub trash: String,
}

/// A JSON file commit writes (a receipt, the state), path relative to the prefix.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PendingWrite {
    pub path: PathBuf,
    pub value: Json,
}

/// A JSON document kept as its text: written into the journal and then to its file verbatim,
/// encoded once (a receipt lists every file of a tree: a `serde_json::Value` of it costs a
/// million small allocations).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Json(Box<serde_json::value::RawValue>);

impl Json {
    /// `value` as pretty JSON (receipts and the state are read by people too).
    pub fn of<T: Serialize>(value: &T) -> Json {
        let text = serde_json::to_string_pretty(value).unwrap_or_else(|_| "null".into());
        Json(serde_json::value::RawValue::from_string(text).unwrap_or_else(|_| Json::null()))
    }
    fn null() -> Box<serde_json::value::RawValue> {
        serde_json::value::RawValue::from_string("null".into()).unwrap_or_default()
    }
    pub fn text(&self) -> &str {
        self.0.get()
    }
}

impl PartialEq for Json {
    fn eq(&self, other: &Json) -> bool {
        self.text() == other.text()
    }
}

impl Eq for Json {}

/// What every command does at commit: files written and deleted (relative to the prefix, under
/// `.go-offline/`), one host log line.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Commit {
    #[serde(default)]
    pub writes: Vec<PendingWrite>,
    #[serde(default)]
    pub deletes: Vec<PathBuf>,
    #[serde(default)]
    pub log: Option<(PathBuf, LogRecord)>,
}

/// An install: a new tree staged and moved in, maybe a tree replaced or adopted, the link
/// switched, the environment written.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InstallPlan {
    /// The tree's name (`go-1.27.3`).
    pub dest: String,
    /// The staging directory's name.
    pub staging: String,
    /// Where the old tree is moved aside when the file system cannot exchange two directories.
    pub aside: String,
    pub new_tree: Option<TreeId>,
    /// The tree of the same name this install replaces (`--force`, or a drifted tree).
    pub old_tree: Option<TreeId>,
    /// The environment files as they were before this command.
    pub env: Vec<env::Backup>,
    /// `None` only in format-1 journals (installs into a plain `PREFIX/go`, no link).
    pub link: Option<LinkChange>,
    pub adopt: Option<Adopt>,
    /// Scratch directory of the post-install build check.
    pub scratch: Option<String>,
    /// Entries of the tree replaced (the old tree of the same version, or an adopted plain tree
    /// that is not kept) that the release does not list: moved aside at commit, before the rest
    /// of the old tree is deleted (see `tree::unlisted`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub keep: Option<Keep>,
    pub commit: Commit,
}

impl InstallPlan {
    /// The plan of a tree to be staged under a fresh name (`staging_prefix` + a unique part) and
    /// put at `dest`; the rest is filled in as the command goes.
    pub fn staged(dest: String, staging_prefix: &str) -> InstallPlan {
        let staging = os::unique_name(staging_prefix);
        InstallPlan {
            dest,
            aside: format!("{staging}.old"),
            staging,
            new_tree: None,
            old_tree: None,
            env: Vec::new(),
            link: None,
            adopt: None,
            scratch: None,
            keep: None,
            commit: Commit::default(),
        }
    }
}

/// A tree being put in place (an install, a module bundle install): its plan and how far it
/// got, journaled under `name` as the [`Plan`] `of` makes of it.
pub struct Txn {
    pub name: String,
    pub phase: Phase,
    pub plan: InstallPlan,
    pub of: fn(InstallPlan) -> Plan,
}

impl Txn {
    /// A new one in phase `staging`.
    pub fn new(name: &str, plan: InstallPlan, of: fn(InstallPlan) -> Plan) -> Txn {
        Txn { name: name.into(), phase: Phase::Staging, plan, of }
    }

    pub fn journal(&self) -> Journal {
        Journal::new(&self.name, self.phase, (self.of)(self.plan.clone()))
    }

    pub fn write(&self, prefix: &Prefix) -> Result<(), Error> {
        write(prefix, &self.journal())
    }

    /// Journals phase `staging`, then makes the staging directory (`mkdir`, not "create or
    /// reuse": a directory someone else put at that name is never used, and never deleted);
    /// returns its path. Should the directory not be made, the journal goes again.
    pub fn begin(&self, prefix: &Prefix) -> Result<PathBuf, Error> {
        self.write(prefix)?;
        failpoint::hit("journal-staging");
        let staging = prefix.join(&self.plan.staging);
        if let Err(e) = os::create_dir(&staging, 0o700) {
            let _ = remove(prefix);
            return Err(Error::io("create a staging directory in", prefix.path(), e));
        }
        Ok(staging)
    }
}

/// What an install keeps of the tree it replaces: `entries` (paths relative to the tree) are
/// moved to the same place under `dir` (a name in the prefix: `go-1.27.3.kept`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Keep {
    pub dir: String,
    pub entries: Vec<String>,
}

/// `use` or `rollback`: one link switch.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SwitchPlan {
    pub link: LinkChange,
    pub commit: Commit,
}

/// `uninstall`: trees removed, perhaps the link and the environment too. Written in phase
/// `committing`: it always runs forward.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UninstallPlan {
    pub removals: Vec<Removal>,
    pub link: Option<LinkChange>,
    /// Environment files as uninstall leaves them.
    pub env_final: Vec<env::Final>,
    pub commit: Commit,
}

/// What the journaled command does, by action.
// One plan per command, read and written whole: the size of the enum costs nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Plan {
    Install(InstallPlan),
    Use(SwitchPlan),
    Rollback(SwitchPlan),
    Uninstall(UninstallPlan),
    /// A module bundle: the merged module directory staged and put in place of the old one (an
    /// install's plan with no link, adoption, check or kept entries), the environment written.
    InstallModules(InstallPlan),
}

impl Plan {
    pub fn action(&self) -> Action {
        match self {
            Plan::Install(_) => Action::Install,
            Plan::Use(_) => Action::Use,
            Plan::Rollback(_) => Action::Rollback,
            Plan::Uninstall(_) => Action::Uninstall,
            Plan::InstallModules(_) => Action::InstallModules,
        }
    }

    pub fn commit(&self) -> &Commit {
        match self {
            Plan::Install(p) | Plan::InstallModules(p) => &p.commit,
            Plan::Use(p) | Plan::Rollback(p) => &p.commit,
            Plan::Uninstall(p) => &p.commit,
        }
    }

    /// Every name in the prefix this plan may touch.
    fn names(&self) -> Vec<&str> {
        fn link(l: &Option<LinkChange>) -> Vec<&str> {
            l.iter().flat_map(|l| l.before.iter().chain(&l.after)).map(String::as_str).collect()
        }
        match self {
            Plan::Install(p) | Plan::InstallModules(p) => {
                let mut v = vec![p.dest.as_str(), p.staging.as_str(), p.aside.as_str()];
                if let Some(a) = &p.adopt {
                    v.extend([a.tmp.as_str(), a.name.as_str()]);
                }
                v.extend(link(&p.link));
                v.extend(p.scratch.as_deref());
                v
            }
            Plan::Use(p) | Plan::Rollback(p) => p.link.before.iter().chain(&p.link.after).map(String::as_str).collect(),
            Plan::Uninstall(p) => {
                let mut v = link(&p.link);
                for r in &p.removals {
                    v.extend([r.tree.as_str(), r.trash.as_str()]);
                }
                v
            }
        }
    }
}

/// One command in progress.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Journal {
    pub format: u32,
    pub pid: u32,
    /// The version being installed, switched to, or removed.
    pub go_version: String,
    pub phase: Phase,
    pub plan: Plan,
}

impl Journal {
    pub fn new(go_version: &str, phase: Phase, plan: Plan) -> Journal {
        Journal { format: JOURNAL_FORMAT, pid: os::pid(), go_version: go_version.into(), phase, plan }
    }

    pub fn action(&self) -> Action {
        self.plan.action()
    }
}

/// How recovery ended an interrupted command.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Outcome {
    /// The previous state is back.
    RolledBack,
    /// It had been committed: recovery finished it, the new state stays.
    Completed,
}

/// What recovery found and did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Recovery {
    pub action: Action,
    /// The version the interrupted command was installing, switching to or removing.
    pub go_version: String,
    pub phase: Phase,
    pub outcome: Outcome,
    pub pid: u32,
    /// What could not be finished and is left to the next run (not part of `--json`'s object:
    /// the command's warnings carry it).
    #[serde(skip)]
    pub warnings: Vec<Warning>,
}

impl Recovery {
    /// The warnings of a recovery, if one ran: what a command that recovered first passes on.
    pub fn warnings_of(recovery: &Option<Recovery>) -> Vec<Warning> {
        recovery.as_ref().map(|r| r.warnings.clone()).unwrap_or_default()
    }
}

fn journal_path(prefix: &Prefix) -> PathBuf {
    prefix.join(JOURNAL_NAME)
}

/// Reads the journal of `prefix`, if a command there was interrupted.
pub fn read(prefix: &Prefix) -> Result<Option<Journal>, Error> {
    let path = journal_path(prefix);
    let corrupt = |problem: String| Error::Destination {
        path: path.clone(),
        problem: format!("{problem}: it is not a journal this installer wrote; inspect it, move it away and run again"),
        remedy: None,
    };
    let Some(raw) = receipt::read_json::<Box<serde_json::value::RawValue>>(&path, "journal", MAX_JOURNAL_LEN)? else {
        return Ok(None);
    };
    #[derive(Deserialize)]
    struct Header {
        format: u32,
    }
    let parse_err = |e: serde_json::Error| corrupt(format!("cannot be parsed ({e})"));
    // Parsed as bytes, as every other file is (`read_json`): serde_json's reader of `&str` would
    // be compiled into the stub a second time for these types (about 11 KB).
    let text = raw.get().as_bytes();
    let header: Header = serde_json::from_slice(text).map_err(parse_err)?;
    let journal = match header.format {
        JOURNAL_FORMAT => serde_json::from_slice::<Journal>(text).map_err(parse_err)?,
        1 | 2 => serde_json::from_slice::<legacy::Journal>(text).map_err(parse_err)?.upgrade().map_err(corrupt)?,
        other => return Err(corrupt(format!("has format {other}"))),
    };
    for name in journal.plan.names() {
        if name.is_empty() || name.contains(['/', '\\', ':']) || name == "." || name == ".." {
            return Err(corrupt(format!("names '{}', which is not a plain name in the prefix", name.escape_debug())));
        }
    }
    let commit = journal.plan.commit();
    for p in commit.writes.iter().map(|w| &w.path).chain(&commit.deletes) {
        if !p.starts_with(receipt::STATE_DIR) || p.components().any(|c| !matches!(c, Component::Normal(_))) {
            return Err(corrupt(format!("names '{}', which is not in {}", p.display(), receipt::STATE_DIR)));
        }
    }
    Ok(Some(journal))
}

/// Writes the journal atomically (temp file, fsync, rename, fsync of the prefix), 0600: it holds
/// copies of the user's rc files.
pub fn write(prefix: &Prefix, journal: &Journal) -> Result<(), Error> {
    let path = journal_path(prefix);
    let bytes = serde_json::to_vec_pretty(journal)
        .map_err(|e| Error::io("encode the install journal", &path, std::io::Error::other(e)))?;
    os::write_atomic(&path, &bytes, Some(0o600)).map_err(|e| Error::io("write", &path, e))
}

/// Removes the journal: the command is over.
pub fn remove(prefix: &Prefix) -> Result<(), Error> {
    let path = journal_path(prefix);
    match fs::remove_file(&path) {
        Ok(()) => prefix.sync(),
        Err(e) if e.kind() == ErrorKind::NotFound => Ok(()),
        Err(e) => Err(Error::io("remove the install journal", &path, e)),
    }
}

/// Finishes or undoes an interrupted command in `prefix`, if its journal says there was one.
/// The caller holds the prefix lock.
pub fn recover(prefix: &Prefix) -> Result<Option<Recovery>, Error> {
    let Some(journal) = read(prefix)? else { return Ok(None) };
    let (outcome, warnings) = match journal.phase {
        Phase::Staging | Phase::Swapping => {
            roll_back(prefix, &journal)?;
            (Outcome::RolledBack, Vec::new())
        }
        Phase::Committing => (Outcome::Completed, commit(prefix, &journal)?),
    };
    failpoint::hit("recovered");
    Ok(Some(Recovery {
        action: journal.action(),
        go_version: journal.go_version,
        phase: journal.phase,
        outcome,
        pid: journal.pid,
        warnings,
    }))
}

/// Puts the link, the old trees and the environment back as they were, deletes the new tree
/// and removes the journal. Idempotent.
pub fn roll_back(prefix: &Prefix, j: &Journal) -> Result<(), Error> {
    match &j.plan {
        Plan::Install(p) | Plan::InstallModules(p) => roll_back_install(prefix, p)?,
        Plan::Use(p) | Plan::Rollback(p) => link_back(prefix, &p.link)?,
        // Written in phase `committing`: never rolled back, but a journal edited by hand may ask.
        Plan::Uninstall(p) => {
            if let Some(l) = &p.link {
                link_back(prefix, l)?;
            }
        }
    }
    finish(prefix, j)
}

/// The link goes back (or away, if there was none and it is ours): when it stands for the new
/// tree, or, in [`Layout::Tree`], for none because the switch stopped between its two renames.
fn link_back(prefix: &Prefix, l: &LinkChange) -> Result<(), Error> {
    let target = prefix.link_target();
    let between = prefix.layout() == Layout::Tree && target.is_none() && !prefix.goroot().exists();
    if l.before != l.after && (target == l.after || between) {
        prefix.set_link(l.before.as_deref())?;
    }
    Ok(())
}

fn roll_back_install(prefix: &Prefix, p: &InstallPlan) -> Result<(), Error> {
    // A plain tree still at `go/` stays there (in `Layout::Tree` it could have the new
    // version's name).
    let adopted_at_go = p.adopt.as_ref().is_some_and(|a| os::tree_id(&prefix.goroot()) == Some(a.id));
    if let Some(l) = p.link.as_ref().filter(|_| !adopted_at_go) {
        link_back(prefix, l)?;
    }
    // An adopted plain tree returns to `go/`.
    if let Some(a) = &p.adopt {
        let go = prefix.join(LINK);
        if os::kind_of(&go).ok().flatten().is_none() {
            if let Some(from) =
                [&a.tmp, &a.name].into_iter().map(|n| prefix.join(n)).find(|p| os::tree_id(p) == Some(a.id))
            {
                prefix.rename_noreplace(&from, &go)?;
            }
        }
    }
    let dest = prefix.join(&p.dest);
    let staging = prefix.join(&p.staging);
    let spares = [staging.clone(), prefix.join(&p.aside)];
    // The new tree leaves `dest`, to whichever of the spare names is free.
    if p.new_tree.is_some() && os::tree_id(&dest) == p.new_tree {
        let free =
            spares.iter().find(|s| os::kind_of(s).ok().flatten().is_none()).ok_or_else(|| Error::Destination {
                path: staging.clone(),
                problem: "and the other spare name are both taken: cannot move the new tree out of the way".into(),
                remedy: None,
            })?;
        prefix.rename_noreplace(&dest, free)?;
    }
    // The old tree returns to `dest`.
    if let Some(old) = p.old_tree {
        if os::tree_id(&dest) != Some(old) {
            let from = spares.iter().find(|s| os::tree_id(s) == Some(old)).ok_or_else(|| Error::Destination {
                path: dest.clone(),
                problem: "lost its previous tree: it is at none of the names the journal recorded".into(),
                remedy: None,
            })?;
            prefix.rename_noreplace(from, &dest)?;
        }
    }
    prefix.sync()?;
    // The new tree goes. In phase `staging` its inode was not recorded yet: the staging name
    // was chosen by this installer (and made with mkdir, which fails if it exists).
    for s in &spares {
        let id = os::tree_id(s);
        let ours = match p.new_tree {
            Some(new) => id == Some(new),
            None => id.is_some() && s == &staging && p.old_tree != id,
        };
        if ours {
            os::remove_tree(s).map_err(|e| Error::io("remove the unfinished tree", s, e))?;
        }
    }
    env::restore(&p.env).map_err(Error::Restore)
}

/// Finishes a committed command: the link as it should be, an adopted tree at its name,
/// replaced and uninstalled trees deleted, receipts and state written, the host log appended,
/// the journal removed. Idempotent. Returns what was left undone but does not undo the command
/// (a host log that cannot be written).
pub fn commit(prefix: &Prefix, j: &Journal) -> Result<Vec<Warning>, Error> {
    match &j.plan {
        Plan::Install(p) | Plan::InstallModules(p) => commit_install_trees(prefix, p)?,
        Plan::Use(p) | Plan::Rollback(p) => prefix.set_link(p.link.after.as_deref())?,
        Plan::Uninstall(p) => {
            if let Some(l) = &p.link {
                prefix.set_link(l.after.as_deref())?;
            }
        }
    }
    failpoint::hit("old-removed");
    if let Plan::Uninstall(p) = &j.plan {
        for r in &p.removals {
            remove_tree(prefix, r)?;
        }
        env::apply_final(&p.env_final).map_err(Error::Environment)?;
    }
    let c = j.plan.commit();
    for w in &c.writes {
        receipt::write_json(&prefix.join(&w.path), w.value.text())?;
    }
    for d in &c.deletes {
        let p = prefix.join(d);
        match fs::remove_file(&p) {
            Ok(()) => {}
            Err(e) if e.kind() == ErrorKind::NotFound => {}
            Err(e) => return Err(Error::io("remove", &p, e)),
        }
    }
    // The toolchain links follow the receipts now on disk (a link it cannot write is a warning:
    // the next command, or verify-installed, finds it).
    let mut warnings = match receipt::read_receipts(prefix.path()) {
        Ok(receipts) => toolchains::sync(prefix, &receipts).into_iter().map(Warning::note).collect(),
        Err(e) => vec![Warning::of_error("the toolchain links are not updated: ", &e, "")],
    };
    if j.action() == Action::Uninstall {
        // Empty directories of receipts and state go with the last receipt.
        let dir = receipt::state_dir(prefix.path());
        let _ = fs::remove_dir(dir.join("receipts"));
        let _ = fs::remove_dir(&dir);
    }
    if let Some((path, record)) = &c.log {
        // The host log is for audit; a log that cannot be written does not undo the command.
        if let Err(e) = receipt::append_log(path, record) {
            warnings.push(Warning::of_error("", &e, ""));
        }
    }
    finish(prefix, j)?;
    Ok(warnings)
}

/// The trees of a committed install: the link, an adopted tree at its name, the replaced tree
/// deleted.
fn commit_install_trees(prefix: &Prefix, p: &InstallPlan) -> Result<(), Error> {
    if let Some(l) = &p.link {
        prefix.set_link(l.after.as_deref())?;
    }
    if let Some(a) = &p.adopt {
        let tmp = prefix.join(&a.tmp);
        if os::tree_id(&tmp) == Some(a.id) {
            if a.keep {
                prefix.rename_noreplace(&tmp, &prefix.join(&a.name))?;
            } else {
                keep_entries(prefix, p, &tmp)?;
                fs::remove_dir_all(&tmp).map_err(|e| Error::io("remove the replaced tree", &tmp, e))?;
            }
        }
    }
    if let Some(old) = p.old_tree {
        for s in [prefix.join(&p.staging), prefix.join(&p.aside)] {
            if os::tree_id(&s) == Some(old) {
                keep_entries(prefix, p, &s)?;
                os::remove_tree(&s).map_err(|e| Error::io("remove the previous tree", &s, e))?;
            }
        }
    }
    Ok(())
}

/// Moves each entry the plan keeps from the replaced tree `from` to the same place under the
/// keep directory, making the directories on the way. Idempotent: one moved already is not in
/// `from` any more. One whose place is taken (someone wrote there since the plan) fails the
/// commit, so that the old tree, and the entry, stay; the next run tries again.
fn keep_entries(prefix: &Prefix, p: &InstallPlan, from: &Path) -> Result<(), Error> {
    let Some(keep) = &p.keep else { return Ok(()) };
    let to = prefix.join(&keep.dir);
    if !matches!(os::kind_of(&to), Ok(None | Some((os::Kind::Dir, ..)))) {
        return Err(Error::Destination {
            path: to,
            problem: format!("is not a directory, so the files kept from '{}' stay there", from.display()),
            remedy: None,
        });
    }
    for k in &keep.entries {
        let src = from.join(k);
        if os::kind_of(&src).ok().flatten().is_none() {
            continue;
        }
        let dest = to.join(k);
        if let Some(parent) = dest.parent() {
            fs::create_dir_all(parent).map_err(|e| Error::io("create", parent, e))?;
        }
        os::rename_noreplace(&src, &dest).map_err(|e| Error::io("move a kept file to", &dest, e))?;
    }
    Ok(())
}

/// Removes the scratch directory, stray temp files and the journal.
fn finish(prefix: &Prefix, j: &Journal) -> Result<(), Error> {
    if let Plan::Install(InstallPlan { scratch: Some(s), .. }) = &j.plan {
        let scratch = prefix.join(s);
        if os::tree_id(&scratch).is_some() {
            fs::remove_dir_all(&scratch).map_err(|e| Error::io("remove the check's scratch directory", &scratch, e))?;
        }
    }
    remove_temp_files(prefix, j);
    remove(prefix)
}

/// What [`remove_tree`] left because no receipt listed it.
pub fn kept_files(prefix: &Prefix, r: &Removal) -> Vec<String> {
    let found = os::walk(&prefix.join(&r.tree)).unwrap_or_default();
    found.into_iter().filter(|f| f.kind != os::Kind::Dir).map(|f| f.path).collect()
}

/// Uninstalls one tree: moves it to its trash name (atomic: the version is gone at once), deletes
/// exactly the entries its receipt lists, and, if anything else was in it, renames what is left
/// back so it is not lost. Idempotent.
fn remove_tree(prefix: &Prefix, r: &Removal) -> Result<(), Error> {
    let name = prefix.join(&r.tree);
    let trash = prefix.join(&r.trash);
    if os::tree_id(&name) == Some(r.id) {
        prefix.rename_noreplace(&name, &trash)?;
        prefix.sync()?;
    }
    failpoint::hit("uninstall-moved");
    if os::tree_id(&trash) != Some(r.id) {
        return Ok(());
    }
    let receipt = receipt::read_receipt(prefix.path(), &r.tree)?.ok_or_else(|| Error::Destination {
        path: receipt::receipt_path(prefix.path(), &r.tree),
        problem: format!("is missing, so the files of '{}' are unknown; it stays", trash.display()),
        remedy: None,
    })?;
    // What is in the tree, listed once and never through a link: into the directories the
    // receipt lists only, so that nothing beyond a directory replaced by a link is touched.
    // Sets and maps here are built by insert: `collect` into one sorts first, a sort compiled into
    // the stub for each element type (about 3.5 KB each).
    let mut dirs = std::collections::BTreeSet::new();
    for e in receipt.files.iter().filter(|e| e.kind == EntryType::Dir) {
        dirs.insert(e.path.as_str());
    }
    let found = os::walk_where(&trash, &|path| dirs.contains(path)).map_err(|e| Error::io("list", &trash, e))?;
    let mut kinds = std::collections::BTreeMap::new();
    for f in &found {
        kinds.insert(f.path.as_str(), f.kind);
    }
    let half = receipt.files.len() / 2;
    // Children come after their parents in a receipt: reversed, directories are emptied first.
    for (i, e) in receipt.files.iter().rev().enumerate() {
        if i == half {
            failpoint::hit("uninstall-removing");
        }
        let p = trash.join(&e.path);
        let Some(&kind) = kinds.get(e.path.as_str()) else { continue };
        let result = match (e.kind, kind) {
            (EntryType::Dir, os::Kind::Dir) => match fs::remove_dir(&p) {
                Err(e) if e.kind() == ErrorKind::DirectoryNotEmpty => Ok(()), // holds files of someone else
                other => other,
            },
            (EntryType::File, os::Kind::File) | (EntryType::Symlink, os::Kind::Symlink) => fs::remove_file(&p),
            _ => Ok(()), // replaced by something of another type: not ours any more
        };
        result.map_err(|err| Error::io("remove", &p, err))?;
    }
    match fs::remove_dir(&trash) {
        Ok(()) => prefix.sync(),
        Err(e) if e.kind() == ErrorKind::DirectoryNotEmpty => {
            // Files nobody listed: they stay, under the tree's own name.
            if os::kind_of(&name).ok().flatten().is_none() {
                prefix.rename_noreplace(&trash, &name)?;
            }
            prefix.sync()
        }
        Err(e) => Err(Error::io("remove", &trash, e)),
    }
}

/// Temp files of atomic writes and temp links (`.go-offline-tmp.*`) that a crash left between
/// create and rename: in the prefix, its state directory and beside each environment file. Only
/// regular files and symlinks are removed.
fn remove_temp_files(prefix: &Prefix, j: &Journal) {
    let state = receipt::state_dir(prefix.path());
    let receipts = state.join("receipts");
    let mut dirs: Vec<&Path> = vec![prefix.path(), &state, &receipts];
    match &j.plan {
        // Files only: a registry value (`stored`) has no directory.
        Plan::Install(p) | Plan::InstallModules(p) => {
            dirs.extend(p.env.iter().filter(|b| b.stored.is_none()).filter_map(|b| b.path.parent()))
        }
        Plan::Uninstall(p) => {
            dirs.extend(p.env_final.iter().filter(|f| f.stored.is_none()).filter_map(|f| f.path.parent()))
        }
        Plan::Use(_) | Plan::Rollback(_) => {}
    }
    dirs.dedup();
    for dir in dirs {
        let Ok(entries) = fs::read_dir(dir) else { continue };
        for e in entries.flatten() {
            let temp = e.file_name().to_str().is_some_and(|n| n.starts_with(os::TEMP_PREFIX));
            if temp && e.file_type().is_ok_and(|t| t.is_file() || t.is_symlink()) {
                let _ = fs::remove_file(e.path());
            }
        }
    }
}

/// Journals of formats 1 and 2: one struct for every action, `""` for the names an action does
/// not use. Read only, and turned into a [`Plan`].
mod legacy {
    use std::path::PathBuf;

    use serde::Deserialize;

    use super::{
        Action, Adopt, Commit, InstallPlan, LinkChange, PendingWrite, Phase, Plan, Removal, SwitchPlan, UninstallPlan,
    };
    use crate::{env, os::TreeId, receipt::LogRecord};

    #[derive(Deserialize)]
    pub struct Journal {
        format: u32,
        pid: u32,
        #[serde(default)]
        action: Action,
        go_version: String,
        phase: Phase,
        dest: String,
        staging: String,
        aside: String,
        new_tree: Option<TreeId>,
        old_tree: Option<TreeId>,
        env: Vec<env::Backup>,
        #[serde(default)]
        link: Option<LinkChange>,
        #[serde(default)]
        adopt: Option<Adopt>,
        #[serde(default)]
        scratch: Option<String>,
        #[serde(default)]
        writes: Vec<PendingWrite>,
        #[serde(default)]
        deletes: Vec<PathBuf>,
        #[serde(default)]
        removals: Vec<Removal>,
        #[serde(default)]
        env_final: Vec<env::Final>,
        #[serde(default)]
        log: Option<(PathBuf, LogRecord)>,
    }

    impl Journal {
        /// The same command as a plan; the problem when its fields do not make one.
        pub fn upgrade(self) -> Result<super::Journal, String> {
            let commit = Commit { writes: self.writes, deletes: self.deletes, log: self.log };
            let plan = match self.action {
                Action::Install => Plan::Install(InstallPlan {
                    dest: self.dest,
                    staging: self.staging,
                    aside: self.aside,
                    new_tree: self.new_tree,
                    old_tree: self.old_tree,
                    env: self.env,
                    link: self.link,
                    adopt: self.adopt,
                    scratch: self.scratch,
                    keep: None,
                    commit,
                }),
                Action::Use | Action::Rollback => {
                    let link = self.link.ok_or_else(|| format!("records a {} without a link", self.action.name()))?;
                    let plan = SwitchPlan { link, commit };
                    if self.action == Action::Use {
                        Plan::Use(plan)
                    } else {
                        Plan::Rollback(plan)
                    }
                }
                Action::Uninstall => Plan::Uninstall(UninstallPlan {
                    removals: self.removals,
                    link: self.link,
                    env_final: self.env_final,
                    commit,
                }),
                // Bundles were journaled from format 3 on.
                Action::InstallModules => {
                    return Err(format!("records an {} before its format had one", self.action.name()))
                }
            };
            Ok(super::Journal {
                format: self.format,
                pid: self.pid,
                go_version: self.go_version,
                phase: self.phase,
                plan,
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A prefix with an old tree (holding a user's file and directory, which the plan keeps), a
    /// staged new tree, and a journal in the given phase.
    fn setup(phase: Phase, exchanged: bool) -> (tempfile::TempDir, Prefix, Journal) {
        let dir = tempfile::tempdir().unwrap();
        let prefix = Prefix::new(dir.path());
        let p = dir.path();
        fs::create_dir(p.join("go")).unwrap();
        fs::write(p.join("go/VERSION"), "old").unwrap();
        fs::write(p.join("go/notes.txt"), "mine").unwrap();
        fs::create_dir_all(p.join("go/mine/sub")).unwrap();
        fs::create_dir(p.join("stage")).unwrap();
        fs::write(p.join("stage/VERSION"), "new").unwrap();
        let plan = InstallPlan {
            dest: "go".into(),
            staging: "stage".into(),
            aside: "stage.old".into(),
            new_tree: os::tree_id(&p.join("stage")),
            old_tree: os::tree_id(&p.join("go")),
            env: Vec::new(),
            link: None,
            adopt: None,
            scratch: None,
            keep: Some(Keep { dir: "go.kept".into(), entries: vec!["mine".into(), "notes.txt".into()] }),
            commit: Commit::default(),
        };
        let j = Journal::new("go1.2.3", phase, Plan::Install(plan));
        if exchanged {
            os::rename_exchange(&p.join("stage"), &p.join("go")).unwrap();
        }
        write(&prefix, &j).unwrap();
        (dir, prefix, j)
    }

    fn version(p: &Path) -> String {
        fs::read_to_string(p.join("go/VERSION")).unwrap()
    }

    fn names(p: &Path) -> Vec<String> {
        let mut v: Vec<_> = fs::read_dir(p).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
        v.sort();
        v
    }

    #[test]
    fn recovery_by_phase() {
        // (phase, exchanged, expected version at go/, outcome)
        let cases = [
            (Phase::Staging, false, "old", Outcome::RolledBack),
            (Phase::Swapping, false, "old", Outcome::RolledBack),
            (Phase::Swapping, true, "old", Outcome::RolledBack),
            (Phase::Committing, true, "new", Outcome::Completed),
        ];
        for (phase, exchanged, expected, outcome) in cases {
            let (dir, prefix, _) = setup(phase, exchanged);
            let r = recover(&prefix).unwrap().unwrap();
            assert_eq!(r.outcome, outcome, "{phase:?}");
            assert_eq!(version(dir.path()), expected, "{phase:?} exchanged={exchanged}");
            // The user's entries: in the old tree, put back; beside the new one, kept.
            let (names_now, user) = match outcome {
                Outcome::Completed => (vec!["go", "go.kept"], dir.path().join("go.kept")),
                _ => (vec!["go"], dir.path().join("go")),
            };
            assert_eq!(names(dir.path()), names_now, "{phase:?}: nothing else is left");
            assert_eq!(fs::read_to_string(user.join("notes.txt")).unwrap(), "mine", "{phase:?}");
            assert!(user.join("mine/sub").is_dir(), "{phase:?}");
            assert_eq!(names(&dir.path().join("go")).contains(&"notes.txt".to_string()), outcome != Outcome::Completed);
            assert_eq!(recover(&prefix).unwrap(), None, "second recovery has nothing to do");
        }
    }

    /// A kept entry whose place was taken since the plan: the commit fails, the old tree and
    /// the entry stay; once the place is free, the next run finishes.
    #[test]
    fn a_kept_entry_is_never_deleted() {
        let (dir, prefix, _) = setup(Phase::Committing, true);
        let p = dir.path();
        fs::create_dir(p.join("go.kept")).unwrap();
        fs::write(p.join("go.kept/notes.txt"), "someone else's").unwrap();
        let err = recover(&prefix).unwrap_err();
        assert!(err.to_string().contains("notes.txt"), "{err}");
        assert_eq!(fs::read_to_string(p.join("stage/notes.txt")).unwrap(), "mine");
        fs::remove_file(p.join("go.kept/notes.txt")).unwrap();
        assert_eq!(recover(&prefix).unwrap().unwrap().outcome, Outcome::Completed);
        assert_eq!(names(p), ["go", "go.kept"]);
        assert_eq!(fs::read_to_string(p.join("go.kept/notes.txt")).unwrap(), "mine");
    }

    #[test]
    fn fallback_half_way_is_rolled_back() {
        // The non-atomic fallback moved the old tree aside, then died before moving the new in.
        let (dir, prefix, _) = setup(Phase::Swapping, false);
        let p = dir.path();
        fs::rename(p.join("go"), p.join("stage.old")).unwrap();
        recover(&prefix).unwrap().unwrap();
        assert_eq!(version(p), "old");
        assert_eq!(names(p), ["go"]);
        // And after it moved the new one in as well.
        let (dir, prefix, _) = setup(Phase::Swapping, false);
        let p = dir.path();
        fs::rename(p.join("go"), p.join("stage.old")).unwrap();
        fs::rename(p.join("stage"), p.join("go")).unwrap();
        recover(&prefix).unwrap().unwrap();
        assert_eq!(version(p), "old");
        assert_eq!(names(p), ["go"]);
    }

    #[test]
    fn a_planted_journal_symlink_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let prefix = Prefix::new(dir.path());
        std::os::unix::fs::symlink("/etc/passwd", prefix.join(JOURNAL_NAME)).unwrap();
        let err = recover(&prefix).unwrap_err();
        assert!(err.to_string().contains("symbolic link"), "{err}");
        let err = {
            fs::remove_file(prefix.join(JOURNAL_NAME)).unwrap();
            fs::write(prefix.join(JOURNAL_NAME), "{\"format\": 1}").unwrap();
            recover(&prefix).unwrap_err()
        };
        assert!(err.to_string().contains("cannot be parsed"), "{err}");
    }

    #[test]
    fn a_directory_it_did_not_record_is_never_deleted() {
        let (dir, prefix, j) = setup(Phase::Swapping, false);
        let p = dir.path();
        // Someone replaced the staged tree by another directory of the same name.
        fs::rename(p.join("stage"), p.join("elsewhere")).unwrap(); // keeps its inode in use
        fs::create_dir(p.join("stage")).unwrap();
        fs::write(p.join("stage/keep"), "").unwrap();
        let Plan::Install(plan) = &j.plan else { unreachable!() };
        assert_ne!(os::tree_id(&p.join("stage")), plan.new_tree);
        recover(&prefix).unwrap().unwrap();
        assert!(p.join("stage/keep").exists());
    }

    /// A host log that cannot be written does not undo a committed command: recovery finishes
    /// it and hands the failure back as a warning.
    #[test]
    fn an_unwritable_host_log_is_a_warning() {
        let (dir, prefix, mut j) = setup(Phase::Committing, true);
        let p = dir.path();
        fs::write(p.join("not-a-dir"), "").unwrap();
        let record = LogRecord::new(receipt::LogAction::Install, p, Some("go1.2.3"), None);
        let Plan::Install(plan) = &mut j.plan else { unreachable!() };
        plan.commit.log = Some((p.join("not-a-dir/log.jsonl"), record));
        write(&prefix, &j).unwrap();
        let r = recover(&prefix).unwrap().unwrap();
        assert_eq!(r.outcome, Outcome::Completed);
        assert_eq!(version(p), "new");
        assert_eq!(r.warnings.len(), 1, "{:?}", r.warnings);
        assert!(r.warnings[0].text.contains("not-a-dir"), "{:?}", r.warnings);
        assert_eq!(read(&prefix).unwrap(), None, "the journal is gone");
    }

    /// Journals of the previous formats, as an earlier release wrote them, are recovered; names
    /// that are not plain are refused in them as in the current one.
    #[test]
    fn earlier_formats_are_recovered() {
        // (journal, recovered)
        let tree = |p: &Path, n: &str| {
            let id = os::tree_id(&p.join(n)).unwrap();
            format!("{{\"dev\":{},\"ino\":{}}}", id.dev, id.ino)
        };
        for (case, ok) in [("install", true), ("use", true), ("use-without-link", false), ("bad-name", false)] {
            let (dir, prefix, _) = setup(Phase::Staging, false);
            let p = dir.path();
            fs::remove_file(prefix.join(JOURNAL_NAME)).unwrap();
            let text = match case {
                "install" => format!(
                    r#"{{"format":2,"pid":1,"action":"install","go_version":"go1.2.3","phase":"swapping","dest":"go","staging":"stage","aside":"stage.old","new_tree":{},"old_tree":{},"env":[]}}"#,
                    tree(p, "stage"),
                    tree(p, "go")
                ),
                "use" => r#"{"format":2,"pid":1,"action":"use","go_version":"go1.2.3","phase":"swapping","dest":"","staging":"","aside":"","new_tree":null,"old_tree":null,"env":[],"link":{"before":null,"after":"go"}}"#.into(),
                "use-without-link" => r#"{"format":2,"pid":1,"action":"use","go_version":"go1.2.3","phase":"swapping","dest":"","staging":"","aside":"","new_tree":null,"old_tree":null,"env":[]}"#.into(),
                _ => r#"{"format":1,"pid":1,"go_version":"go1.2.3","phase":"staging","dest":"../x","staging":"stage","aside":"a","new_tree":null,"old_tree":null,"env":[]}"#.into(),
            };
            fs::write(prefix.join(JOURNAL_NAME), text).unwrap();
            let r = recover(&prefix);
            assert_eq!(r.is_ok(), ok, "{case}: {r:?}");
            if case == "install" {
                assert_eq!(version(p), "old", "{case}");
                assert_eq!(names(p), ["go"], "{case}");
            }
        }
    }
}
