//! Switching the active version: one journaled swap of the `PREFIX/go` link, after the target's
//! `go version` ran. `use`, `rollback`, and an install of a version that is already there (and
//! intact) all come here.

use std::path::Path;

use crate::{
    check,
    error::Error,
    failpoint,
    journal::{self, Commit, Journal, Json, LinkChange, PendingWrite, Phase, Plan, SwitchPlan},
    os,
    outcome::SwitchReport,
    prefix::{self, Active, Prefix},
    receipt::{self, LogAction, LogRecord},
};

/// Which switch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Switch {
    /// `use VERSION`, or an install activating an installed version.
    Use,
    /// `rollback`: marks the state so a second rollback does nothing.
    Rollback,
}

/// Where a switch writes its log line and how it runs `go`.
#[derive(Debug, Clone, Copy)]
pub struct SwitchConfig<'a> {
    pub log: Option<&'a Path>,
    pub check_runner: &'a [String],
}

/// Switches `PREFIX/go` to the installed `go_version`; the caller holds the exclusive lock and
/// has recovered. The target's `go version` must run first: a damaged tree is never activated.
pub fn switch_locked(
    prefix: &Prefix,
    go_version: &str,
    how: Switch,
    config: SwitchConfig,
) -> Result<SwitchReport, Error> {
    let tree = prefix::tree_name(go_version);
    let receipt = receipt::read_receipt(prefix.path(), &tree)?
        .filter(|_| os::tree_id(&prefix.tree_path(&tree)).is_some())
        .ok_or_else(|| Error::NotInstalled {
            version: go_version.into(),
            prefix: prefix.path().into(),
            installed: receipt::installed_list(prefix.path()),
        })?;
    let active = prefix.active()?;
    if let Active::Plain(v) = &active {
        return Err(Error::Destination {
            path: prefix.goroot(),
            problem: format!(
                "is a plain {} tree this installer did not install; installing another version with this installer adopts it (it moves to its versioned name), after which versions can be switched",
                v.as_deref().unwrap_or("Go")
            ),
            remedy: None,
        });
    }
    let before = receipt::active_version(prefix.path(), &active)?;
    let output = check::check_installed(&(&receipt).into(), &prefix.tree_path(&tree), config.check_runner)?;
    let mut report = SwitchReport {
        prefix: prefix.path().into(),
        changed: false,
        go_version: go_version.into(),
        previous: before.clone(),
        id: None,
        go_version_output: output,
        recovered: None,
        warnings: Vec::new(),
    };
    if active.tree() == Some(tree.as_str()) {
        return Ok(report);
    }
    let mut state = receipt::read_state(prefix.path())?;
    state.previous = before.clone();
    state.rolled_back = how == Switch::Rollback;
    let link = LinkChange { before: active.tree().map(str::to_string), after: Some(tree.clone()) };
    let plan = SwitchPlan { link, commit: Commit::default() };
    let wrap = |p: SwitchPlan| match how {
        Switch::Use => Plan::Use(p),
        Switch::Rollback => Plan::Rollback(p),
    };
    let mut j = Journal::new(go_version, Phase::Swapping, wrap(plan.clone()));
    journal::write(prefix, &j)?;
    failpoint::hit("journal-swapping");
    if let Err(e) = prefix.set_link(Some(&tree)) {
        let _ = journal::roll_back(prefix, &j); // the error reported is the switch's
        return Err(e);
    }
    failpoint::hit("activated");
    let action = match how {
        Switch::Use => LogAction::Use,
        Switch::Rollback => LogAction::Rollback,
    };
    let record = LogRecord::new(action, prefix.path(), Some(go_version), before.as_deref());
    report.id = Some(record.id.clone());
    let commit = Commit {
        writes: vec![PendingWrite { path: receipt::state_rel_path(), value: Json::of(&state) }],
        deletes: Vec::new(),
        log: config.log.map(|p| (p.to_path_buf(), record)),
    };
    j.plan = wrap(SwitchPlan { commit, ..plan });
    j.phase = Phase::Committing;
    if let Err(e) = journal::write(prefix, &j) {
        let _ = journal::roll_back(prefix, &j); // the error reported is the journal's
        return Err(e);
    }
    failpoint::hit("journal-committing");
    let warnings = journal::commit(prefix, &j)?;
    report.changed = true;
    report.warnings = warnings;
    Ok(report)
}
