//! The human text of each outcome: results on stdout, what happened on the way (recoveries,
//! warnings) on stderr. `--quiet` keeps only errors; `--json` prints none of it.
//!
//! And the words of the engine's errors and warnings, for both: the engine says what happened,
//! and, as a typed [`Remedy`], what helps; which flag or command that is, this module says
//! ([`error`], [`warning`]).

use std::io::{self, Write};

use format::manifest::EntryType;
use installer::{
    error::{BaseProblem, Left, Remedy, Repair, Warning},
    outcome::{
        Action, FileList, Info, InstallerReport, ModulesReport, Outcome, RecoverReport, Report, Status, SwitchReport,
        UninstallReport, VerifyReport,
    },
    Error, Origin, Recovered, Recovery, KEPT_SUFFIX, LINK,
};

/// Prints `o` for a person.
pub fn human(o: &Outcome) {
    for w in &o.warnings {
        eprintln!("warning: {}", warning(w));
    }
    match &o.report {
        Report::Installer(r) => installer(o.action, o.changed, r),
        Report::Modules(r) => modules(o.changed, r),
        Report::Info(r) => info(r),
        Report::List(r) => list(r),
        Report::Recover(r) => recover(r),
        Report::Status(r) => status(r),
        Report::Switch(r) => switch(o.action, r),
        Report::Uninstall(r) => uninstall(o.changed, r),
        Report::Verify(r) => verify(r),
    }
    if let Some(e) = o.failure() {
        eprintln!("error: {}", error(&e));
    }
}

/// The message of `e` as this program says it: the engine's text, then its remedy in this
/// program's flags and commands. A failed undo names two errors and what it left; a changed
/// delta base says, within its problem, which command lists the differences.
pub fn error(e: &Error) -> String {
    match e {
        Error::RollbackFailed { error: first, undo, left: what } => {
            format!("{}; then undoing the install failed too ({}); {}", error(first), error(undo), left(what))
        }
        Error::NoBase { installer, base, go_version, problem, full }
            if matches!(**problem, BaseProblem::Changed { .. }) =>
        {
            format!(
                "{installer} is a delta installer from {base} to {go_version}, and {}; nothing was changed: install with the full installer {full} instead",
                base_problem(problem)
            )
        }
        _ => format!("{e}{}", e.remedy().as_ref().map(remedy).unwrap_or_default()),
    }
}

/// A warning as this program says it: its text, its remedy, what follows.
pub fn warning(w: &Warning) -> String {
    format!("{}{}{}", w.text, w.remedy.as_ref().map(remedy).unwrap_or_default(), w.then)
}

/// The words of a remedy, with the punctuation that joins them to the error's text.
fn remedy(r: &Remedy) -> String {
    match r {
        Remedy::OtherPrefix => " (choose another --prefix)".into(),
        Remedy::RemoveOrOtherPrefix => ": remove it or choose another --prefix".into(),
        Remedy::RootOrOtherPrefix => ": run as root or choose another --prefix".into(),
        Remedy::WritablePrefix => ": choose another --prefix".into(),
        Remedy::FreeSpaceOrOtherPrefix => "; free space or choose another --prefix".into(),
        Remedy::UseOrRemoveLink => {
            ": run `go-offline-installer use VERSION` with an installed version, or remove the link".into()
        }
        Remedy::Force => ": move it away, or pass --force to replace it (files the release does not have are moved aside, not deleted)".into(),
        Remedy::Recover => ": run the installer with --recover first".into(),
        Remedy::AllowDowngrade => " (pass --allow-downgrade to install and activate it)".into(),
        Remedy::SwitchVersion => "; switch with `use VERSION`".into(),
        Remedy::SwitchFirst { others } => format!(
            ": switch to another first (`use VERSION`; installed: {others}), or remove everything with `uninstall --all`"
        ),
        Remedy::VerifyInstalled => " (check both with `verify-installed` and the bundle's publisher)".into(),
        Remedy::Wait => " (or pass --wait)".into(),
        Remedy::NoModifyPathOrUninstallAll { prefix } => format!(
            ": pass --no-modify-path to install without it, or uninstall that one first (`go-offline-installer uninstall --all --prefix {}`) and run this installer again",
            prefix.display()
        ),
        Remedy::NoModifyPath => " (re-run with --no-modify-path to skip it)".into(),
        Remedy::Repair(repairs) => format!("; {}", repairs.iter().map(repair).collect::<Vec<_>>().join("; ")),
    }
}

/// One repair of drift, as a command to run.
fn repair(r: &Repair) -> String {
    let installer_of = |go_version: &str, installer: &Option<std::path::PathBuf>| match installer {
        Some(path) => format!("the installer of {go_version} ('{}', as its receipt says)", path.display()),
        None => format!("the installer of {go_version}"),
    };
    match r {
        Repair::Reinstall { go_version, installer, extra, activates } => format!(
            "run {} again: it replaces that tree with the signed one{}{}",
            installer_of(go_version, installer),
            keeps(extra),
            if *activates { " and makes it the active version (`use VERSION` switches back)" } else { "" }
        ),
        Repair::NotByBundle { dir } => format!(
            "{dir} is not repaired by installing a bundle again (the files there are kept, a changed one is refused with exit 25)"
        ),
        Repair::Link => format!(
            "point '{LINK}' at an installed version with `use VERSION` (remove it first if this installer did not make it)"
        ),
        Repair::Environment { go_version: Some(v), installer } => format!(
            "run {} again: it writes the environment and the toolchain links again",
            installer_of(v, installer)
        ),
        Repair::Environment { go_version: None, .. } => {
            "run the installer of the active version again: it writes the environment and the toolchain links again"
                .into()
        }
        Repair::AlsoEnvironment => "that also writes the environment and the toolchain links again".into(),
    }
}

/// Where a reinstall puts the entries of a drifted tree the release does not have (it moves
/// them, never deletes them).
fn keeps(extra: &[String]) -> String {
    // `go-1.27.3.kept` for `go-1.27.3/bin/x`.
    let kept_dir = |path: &str| format!("{}{KEPT_SUFFIX}", path.split('/').next().unwrap_or(path));
    match extra {
        [] => String::new(),
        [one] => format!(" ({one}, which the release does not have, is moved beside it, to {}*)", kept_dir(one)),
        [first, ..] => {
            format!(" ({} entries the release does not have are moved beside it, to {}*)", extra.len(), kept_dir(first))
        }
    }
}

/// What a failed undo left, and how the next run, or `--recover`, finishes it.
fn left(l: &Left) -> String {
    match l {
        Left::PreviousKept { kept, dest, journal } => format!(
            "the previous Go is kept, untouched, at '{}'; fix the cause and run the installer again (or with --recover), which moves it back to '{}' as recorded in '{}'",
            kept.display(),
            dest.display(),
            journal.display()
        ),
        Left::TreeAsBefore { dest, journal } => format!(
            "the Go tree at '{}' is as it was before; '{}' stays, and the next run (or --recover) finishes the undo once the cause is fixed",
            dest.display(),
            journal.display()
        ),
        Left::Modules { journal } => format!(
            "'{}' stays and records where each module directory is; fix the cause and run the installer again (or with --recover), which finishes the undo",
            journal.display()
        ),
    }
}

/// A delta's base that cannot be used; a changed one names the command that lists every
/// difference.
fn base_problem(p: &BaseProblem) -> String {
    match p {
        BaseProblem::Other(problem) => problem.clone(),
        BaseProblem::Changed { base, dir, count, first_path, first_flags } => format!(
            "the {base} installed at '{}' has changed since it was installed: {count} entr{} differ from its receipt (first: {first_path} {first_flags}; `verify-installed` lists them all)",
            dir.display(),
            if *count == 1 { "y" } else { "ies" },
        ),
    }
}

/// One line for a recovery.
pub fn recovery(r: &Recovery) -> String {
    let what = match r.outcome {
        Recovered::Completed => "finished it (it had been committed)",
        Recovered::RolledBack => "put the previous Go and environment back",
    };
    format!(
        "recovered: an interrupted {} of {} (process {}), in phase {}; {what}",
        r.action.name(),
        r.go_version,
        r.pid,
        r.phase.name()
    )
}

fn installer(action: Action, changed: bool, r: &InstallerReport) {
    let c = &r.carried;
    match action {
        Action::Check => println!(
            "ok: {} verified: signed by {} ({}), {} entries, every digest matches",
            c.title, c.signer_key_id, c.signer_origin, c.files
        ),
        Action::DryRun => println!("{}", r.plan.as_deref().unwrap_or_default()),
        _ => installed(changed, r),
    }
}

fn installed(changed: bool, r: &InstallerReport) {
    if let Some(rec) = &r.recovered {
        eprintln!("{}", recovery(rec));
    }
    let goroot = r.goroot.as_deref().unwrap_or(std::path::Path::new("")).display();
    if !changed {
        println!(
            "{} is already installed and active at {goroot}: nothing to do (pass --force to reinstall it)",
            r.carried.go_version
        );
        return;
    }
    if let (Some(a), Some(tree)) = (&r.adopted, &r.tree) {
        let prefix = tree.parent().unwrap_or(tree);
        println!("kept the Go tree that was at {goroot} as {}", prefix.join(a).display());
    }
    // The tree the link points to; none to show where `go` is the tree itself (Windows).
    let target = match r.tree.as_deref() {
        Some(tree) if Some(tree) != r.goroot.as_deref() => format!(" -> {}", tree.display()),
        _ => String::new(),
    };
    println!(
        "{} {} at {goroot}{target} ({}{})",
        r.install_action.map_or("installed", |a| a.name()),
        r.carried.go_version,
        r.go_version_output,
        r.build_check.as_deref().map(|h| format!("; hello world built and ran: {h}")).unwrap_or_default()
    );
    for k in &r.kept {
        println!("  kept: {k} (not part of the release: moved out of the tree)");
    }
    if let Some(first) = r.env_files.first() {
        println!("{}", installer::os::reopen_advice(first));
    }
}

fn modules(changed: bool, r: &ModulesReport) {
    if changed {
        println!("installed {} new module versions at {} ({} in all)", r.added.len(), r.dir.display(), r.total);
    } else {
        println!("every module of this bundle is already installed at {}: nothing to do", r.dir.display());
    }
    if let Some(p) = r.installer.env_files.first() {
        println!(
            "open a new shell (or source {}) so that go uses them (GOPROXY=file://{})",
            p.display(),
            r.dir.display()
        );
    }
}

fn info(r: &Info) {
    let c = &r.carried;
    println!("carries:     {}", c.title);
    println!("target:      {}", c.target);
    println!("signed by:   {} (trusted: {})", c.signer_key_id, r.signer_trusted_by);
    println!("installer:   {} bytes, sha256 {}", r.installer_len, c.installer_sha256);
    println!("payload:     {} bytes zstd, {} bytes unpacked", r.payload_len, r.uncompressed_len);
    println!("contents:    {} files, {} directories, {} symlinks", r.carried.files, r.dirs, r.symlinks);
    if let Some(d) = &c.delta {
        println!("delta:       {d}");
        println!(
            "             applies only onto {} installed in the prefix and intact (every file is checked first)",
            d.base_version
        );
    }
    println!("source:      {}", r.source_summary);
    println!("go.env:      {}", r.go_env_summary);
    if let Some(db) = &r.sumdb {
        println!("checksum db: {} ({} records): GOSUMDB={}", sumdb_name(&db.key), db.tree_size, db.key);
    }
}

fn list(r: &FileList) {
    let stdout = io::stdout();
    let mut out = io::BufWriter::new(stdout.lock());
    let written: io::Result<()> = r.files.iter().try_for_each(|e| {
        let kind = match e.kind {
            EntryType::File => '-',
            EntryType::Dir => 'd',
            EntryType::Symlink => 'l',
        };
        let link = e.target.as_deref().map(|t| format!(" -> {t}")).unwrap_or_default();
        writeln!(out, "{kind}{:04o} {:>10} {}{link}", e.mode, e.size.unwrap_or(0), e.path)
    });
    // A closed pipe (`| head`) is not an error worth reporting; others are reported on stderr
    // (the list is all the command prints).
    if let Err(e) = written.and_then(|()| out.flush()) {
        if e.kind() != io::ErrorKind::BrokenPipe {
            eprintln!("error: could not write the list to stdout: {e}");
        }
    }
}

fn recover(r: &RecoverReport) {
    match &r.recovered {
        Some(rec) => println!("{}", recovery(rec)),
        None => println!("nothing to recover in {}", r.prefix.display()),
    }
}

fn status(s: &Status) {
    println!(
        "prefix {}: active {}{}",
        s.prefix.display(),
        s.active.as_deref().unwrap_or("none"),
        s.previous
            .as_deref()
            .map(|p| format!(" (previous: {p}{})", if s.rolled_back { ", rolled back from" } else { "" }))
            .unwrap_or_default()
    );
    for p in &s.found_elsewhere {
        println!(
            "  nothing is installed here, but this installer's environment or PATH points to an installation in {0}: pass --prefix {0} (as in: status --prefix {0})",
            p.display()
        );
    }
    for v in &s.versions {
        let origin = match v.origin {
            Origin::Installed => "installed",
            Origin::Adopted => "adopted",
        };
        println!(
            "{} {:<10} {}  {origin} {} by {}{}",
            if v.active { "*" } else { " " },
            v.go_version,
            v.platform,
            v.installed_at,
            v.installed_by,
            match (&v.signer_key_id, &v.installer_sha256) {
                (Some(k), Some(h)) => format!("  signer {k}  installer sha256 {h}"),
                _ => String::new(),
            }
        );
    }
    for u in &s.unmanaged {
        println!("  unmanaged: {} (no receipt: not installed by this installer)", u.display());
    }
    for k in &s.kept {
        println!(
            "  kept: {} holds {} file(s) of a user's that this installer kept, beside {} (not part of any release): {}",
            k.path.display(),
            k.files.len(),
            k.go_version,
            k.files.join(", ")
        );
    }
    if !s.toolchains.is_empty() {
        let links: Vec<&str> = s.toolchains.iter().filter(|t| !t.shim).map(|t| t.name.as_str()).collect();
        let dir = s.toolchains[0].path.parent().map(|d| d.display().to_string()).unwrap_or_default();
        println!("a go.mod can select (GOTOOLCHAIN=local+path, {dir} on PATH): {}", links.join(", "));
        let mut shims: Vec<(&str, Vec<&str>)> = Vec::new();
        for t in s.toolchains.iter().filter(|t| t.shim) {
            match shims.iter_mut().find(|(v, _)| *v == t.go_version) {
                Some((_, names)) => names.push(&t.name),
                None => shims.push((&t.go_version, vec![&t.name])),
            }
        }
        for (v, names) in shims {
            println!("  {} run {v} (the newest of its language version here)", names.join(", "));
        }
    }
    if let Some(m) = &s.modules {
        println!("modules: {} module versions from {} bundles in {}", m.modules, m.bundles, m.dir.display());
        if let Some(db) = &m.sumdb {
            println!("  checksum database {} ({} records): GOSUMDB={}", sumdb_name(&db.key), db.tree_size, db.key);
        }
    }
    if let Some(i) = &s.interrupted {
        println!("interrupted: {i}; the next command (or --recover) finishes or undoes it");
    }
}

/// The name in a checksum database's key (`NAME+HASH+KEY`).
fn sumdb_name(key: &str) -> &str {
    key.split('+').next().unwrap_or(key)
}

fn switch(action: Action, r: &SwitchReport) {
    if let Some(rec) = &r.recovered {
        eprintln!("{}", recovery(rec));
    }
    if r.changed {
        println!(
            "{} is now active at {} (was {})",
            r.go_version,
            r.prefix.join(LINK).display(),
            r.previous.as_deref().unwrap_or("none")
        );
    } else if action == Action::Rollback {
        println!("already rolled back: {} is active (use `use VERSION` to switch again)", r.go_version);
    } else {
        println!("{} is already active: nothing to do", r.go_version);
    }
}

fn uninstall(changed: bool, r: &UninstallReport) {
    if let Some(rec) = &r.recovered {
        eprintln!("{}", recovery(rec));
    }
    if changed {
        println!("uninstalled {} from {}", r.removed.join(", "), r.prefix.display());
    } else {
        println!("nothing to uninstall: {} is not installed in {}", r.target, r.prefix.display());
    }
    for f in &r.env_files {
        println!("  environment: {}", f.display());
    }
    for k in &r.kept {
        println!("  kept: {k}");
    }
    if let Some(a) = &r.active {
        println!("active: {a}");
    }
}

fn verify(r: &VerifyReport) {
    for t in &r.versions {
        for d in &t.differences {
            println!("{:<8} {}", d.flags, d.path);
        }
        println!(
            "{}: {} entries, {}",
            t.go_version,
            t.files,
            if t.ok { "ok".to_string() } else { format!("{} differences", t.differences.len()) }
        );
    }
    for d in &r.other {
        println!("{:<8} {}", d.flags, d.path);
    }
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use installer::error::EnvError;

    use super::*;

    /// Every remedy, in this program's words, after the engine's text of an error that has it:
    /// the messages as they were when the engine still wrote them.
    #[test]
    fn every_remedy_reads_as_before() {
        let destination = |problem: &str, remedy: Remedy| Error::Destination {
            path: PathBuf::from("/p/go"),
            problem: problem.into(),
            remedy: Some(remedy),
        };
        let cases: Vec<(Error, &str)> = vec![
            (
                destination("is not a directory", Remedy::OtherPrefix),
                "destination '/p/go' is not a directory (choose another --prefix)",
            ),
            (
                destination("exists and is not a directory", Remedy::RemoveOrOtherPrefix),
                "destination '/p/go' exists and is not a directory: remove it or choose another --prefix",
            ),
            (
                Error::io("write", "/p/.go-offline-journal", std::io::Error::from_raw_os_error(13)),
                "could not write '/p/.go-offline-journal': permission denied: run as root or choose another --prefix",
            ),
            (
                Error::io("write", "/p/.go-offline-journal", std::io::Error::from_raw_os_error(30)),
                "could not write '/p/.go-offline-journal': read-only file system: choose another --prefix",
            ),
            (
                Error::NoSpace { path: "/p".into(), need: "224.0 MiB".into(), have: "10.0 MiB".into() },
                "not enough space in '/p': the new Go needs 224.0 MiB, 10.0 MiB is free (the previous Go stays until the new one is in place, so both must fit); free space or choose another --prefix",
            ),
            (
                destination("points to 'go-1.27.3', which is not a directory", Remedy::UseOrRemoveLink),
                "destination '/p/go' points to 'go-1.27.3', which is not a directory: run `go-offline-installer use VERSION` with an installed version, or remove the link",
            ),
            (
                destination("holds a Go tree that was not installed by this installer (it has no receipt)", Remedy::Force),
                "destination '/p/go' holds a Go tree that was not installed by this installer (it has no receipt): move it away, or pass --force to replace it (files the release does not have are moved aside, not deleted)",
            ),
            (
                destination("records an interrupted install of go1.27.3", Remedy::Recover),
                "destination '/p/go' records an interrupted install of go1.27.3: run the installer with --recover first",
            ),
            (
                Error::Downgrade { installed: "go1.27.3".into(), new: "go1.26.6".into() },
                "go1.27.3 is active, which is newer than go1.26.6: nothing was changed (pass --allow-downgrade to install and activate it)",
            ),
            (
                Error::NoPrevious { prefix: "/p".into(), installed: "go1.27.3".into() },
                "nothing to roll back to in '/p': no previous version is recorded (installed: go1.27.3); switch with `use VERSION`",
            ),
            (
                Error::InUse { version: "go1.27.3".into(), others: "go1.26.6".into() },
                "go1.27.3 is the active version: switch to another first (`use VERSION`; installed: go1.26.6), or remove everything with `uninstall --all`",
            ),
            (
                Error::ModuleConflict { module: "example.com/m@v1.0.0".into(), problem: "its go.mod differs".into() },
                "module example.com/m@v1.0.0: its go.mod differs; module versions never change, so one of the two bundles was built from a corrupt cache: nothing was changed (check both with `verify-installed` and the bundle's publisher)",
            ),
            (
                Error::Busy("/p".into()),
                "another go-offline-installer is installing into '/p'; wait for it to finish and run again (or pass --wait)",
            ),
            (
                Error::Environment(EnvError::OtherPrefix { path: "/etc/profile.d/go.sh".into(), other: "/opt".into() }),
                "could not write the shell environment: '/etc/profile.d/go.sh' puts the installation in another prefix, '/opt', on PATH, and only one can come first; nothing was changed: pass --no-modify-path to install without it, or uninstall that one first (`go-offline-installer uninstall --all --prefix /opt`) and run this installer again",
            ),
            (
                Error::Environment(EnvError::Corrupt { path: "/h/.profile".into(), problem: "bad hex".into() }),
                "could not write the shell environment: journal entry for '/h/.profile' is corrupt: bad hex; nothing was changed (re-run with --no-modify-path to skip it)",
            ),
            (
                Error::Drift {
                    count: 3,
                    repairs: vec![
                        Repair::Reinstall {
                            go_version: "go1.27.3".into(),
                            installer: Some("/i/go1.27.3.run".into()),
                            extra: vec!["go-1.27.3/bin/x".into()],
                            activates: false,
                        },
                        Repair::Reinstall {
                            go_version: "go1.26.6".into(),
                            installer: None,
                            extra: vec!["go-1.26.6/a".into(), "go-1.26.6/b".into()],
                            activates: true,
                        },
                        Repair::NotByBundle { dir: "go-modules".into() },
                        Repair::Link,
                        Repair::Environment { go_version: Some("go1.27.3".into()), installer: None },
                        Repair::Environment { go_version: None, installer: None },
                        Repair::AlsoEnvironment,
                    ],
                },
                "3 installed file(s) differ from their receipt (each is listed); \
                 run the installer of go1.27.3 ('/i/go1.27.3.run', as its receipt says) again: it replaces that tree with the signed one (go-1.27.3/bin/x, which the release does not have, is moved beside it, to go-1.27.3.kept*); \
                 run the installer of go1.26.6 again: it replaces that tree with the signed one (2 entries the release does not have are moved beside it, to go-1.26.6.kept*) and makes it the active version (`use VERSION` switches back); \
                 go-modules is not repaired by installing a bundle again (the files there are kept, a changed one is refused with exit 25); \
                 point 'go' at an installed version with `use VERSION` (remove it first if this installer did not make it); \
                 run the installer of go1.27.3 again: it writes the environment and the toolchain links again; \
                 run the installer of the active version again: it writes the environment and the toolchain links again; \
                 that also writes the environment and the toolchain links again",
            ),
        ];
        let mut seen = Vec::new();
        for (e, expected) in &cases {
            assert_eq!(error(e), *expected);
            if let Some(r) = e.remedy() {
                seen.push(std::mem::discriminant(&r));
            }
        }
        // Every remedy is in the table (the rest of the list: the remedies cases share).
        let all = [
            Remedy::OtherPrefix,
            Remedy::RemoveOrOtherPrefix,
            Remedy::RootOrOtherPrefix,
            Remedy::WritablePrefix,
            Remedy::FreeSpaceOrOtherPrefix,
            Remedy::UseOrRemoveLink,
            Remedy::Force,
            Remedy::Recover,
            Remedy::AllowDowngrade,
            Remedy::SwitchVersion,
            Remedy::SwitchFirst { others: String::new() },
            Remedy::VerifyInstalled,
            Remedy::Wait,
            Remedy::NoModifyPathOrUninstallAll { prefix: PathBuf::new() },
            Remedy::NoModifyPath,
            Remedy::Repair(Vec::new()),
        ];
        for r in &all {
            assert!(seen.contains(&std::mem::discriminant(r)), "no case for {r:?}");
        }
    }

    /// The errors this program words whole (a failed undo, a changed delta base) and warnings
    /// read as before too; the engine's own text of each names no flag and no command.
    #[test]
    fn composed_errors_and_warnings_read_as_before() {
        let io = |path: &str, errno: i32| Error::io("write", path, std::io::Error::from_raw_os_error(errno));
        let failed = |left: Left| Error::RollbackFailed {
            error: Box::new(io("/p/go-1.27.3/x", 28)),
            undo: Box::new(io("/p/.go-offline-journal", 13)),
            left,
        };
        let cases: Vec<(Error, &str)> = vec![
            (
                failed(Left::PreviousKept {
                    kept: "/p/.go-offline-aside".into(),
                    dest: "/p/go-1.27.3".into(),
                    journal: "/p/.go-offline-journal".into(),
                }),
                "could not write '/p/go-1.27.3/x': the disk is full: free space and run again; then undoing the install failed too (could not write '/p/.go-offline-journal': permission denied: run as root or choose another --prefix); the previous Go is kept, untouched, at '/p/.go-offline-aside'; fix the cause and run the installer again (or with --recover), which moves it back to '/p/go-1.27.3' as recorded in '/p/.go-offline-journal'",
            ),
            (
                failed(Left::TreeAsBefore { dest: "/p/go-1.27.3".into(), journal: "/p/.go-offline-journal".into() }),
                "could not write '/p/go-1.27.3/x': the disk is full: free space and run again; then undoing the install failed too (could not write '/p/.go-offline-journal': permission denied: run as root or choose another --prefix); the Go tree at '/p/go-1.27.3' is as it was before; '/p/.go-offline-journal' stays, and the next run (or --recover) finishes the undo once the cause is fixed",
            ),
            (
                failed(Left::Modules { journal: "/p/.go-offline-journal".into() }),
                "could not write '/p/go-1.27.3/x': the disk is full: free space and run again; then undoing the install failed too (could not write '/p/.go-offline-journal': permission denied: run as root or choose another --prefix); '/p/.go-offline-journal' stays and records where each module directory is; fix the cause and run the installer again (or with --recover), which finishes the undo",
            ),
            (
                Error::NoBase {
                    installer: "/i/d.run".into(),
                    base: "go1.27.2".into(),
                    go_version: "go1.27.3".into(),
                    problem: Box::new(BaseProblem::Changed {
                        base: "go1.27.2".into(),
                        dir: "/p/go-1.27.2".into(),
                        count: 2,
                        first_path: "go-1.27.2/bin/go".into(),
                        first_flags: "S.5".into(),
                    }),
                    full: "go1.27.3.linux-amd64.run".into(),
                },
                "/i/d.run is a delta installer from go1.27.2 to go1.27.3, and the go1.27.2 installed at '/p/go-1.27.2' has changed since it was installed: 2 entries differ from its receipt (first: go-1.27.2/bin/go S.5; `verify-installed` lists them all); nothing was changed: install with the full installer go1.27.3.linux-amd64.run instead",
            ),
            (
                Error::NoBase {
                    installer: "/i/d.run".into(),
                    base: "go1.27.2".into(),
                    go_version: "go1.27.3".into(),
                    problem: Box::new(BaseProblem::Other("nothing is installed in '/p'".into())),
                    full: "go1.27.3.linux-amd64.run".into(),
                },
                "/i/d.run is a delta installer from go1.27.2 to go1.27.3, and nothing is installed in '/p'; nothing was changed: install with the full installer go1.27.3.linux-amd64.run instead",
            ),
        ];
        for (e, expected) in &cases {
            assert_eq!(error(e), *expected);
            let engine = e.to_string();
            assert!(!engine.contains("--") && !engine.contains('`'), "{engine}");
        }
        let warnings = [
            (
                Warning::of_error("", &io("/var/log/go-offline-installer.log", 13), ""),
                "could not write '/var/log/go-offline-installer.log': permission denied: run as root or choose another --prefix",
            ),
            (
                Warning::of_error(
                    "",
                    &io("/p/.go-offline/state.json", 30),
                    "; the next run of the installer finishes the job",
                ),
                "could not write '/p/.go-offline/state.json': read-only file system: choose another --prefix; the next run of the installer finishes the job",
            ),
            (
                Warning::of_error("the toolchain links are not updated: ", &io("/p/.go-offline/receipts", 5), ""),
                "the toolchain links are not updated: could not write '/p/.go-offline/receipts': Input/output error (os error 5)",
            ),
            (Warning::note("cannot remove /p/bin/go1.27.3: busy".into()), "cannot remove /p/bin/go1.27.3: busy"),
        ];
        for (w, expected) in &warnings {
            assert_eq!(warning(w), *expected);
        }
    }
}
