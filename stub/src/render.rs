//! The human text of each outcome: results on stdout, what happened on the way (recoveries,
//! warnings) on stderr. `--quiet` keeps only errors; `--json` prints none of it.

use std::io::{self, Write};

use format::manifest::EntryType;
use installer::{
    journal::{Outcome as Recovered, Recovery},
    outcome::{
        Action, FileList, Info, InstallerReport, ModulesReport, Outcome, RecoverReport, Report, Status, SwitchReport,
        UninstallReport, VerifyReport,
    },
    receipt,
};

/// Prints `o` for a person.
pub fn human(o: &Outcome) {
    for w in &o.warnings {
        eprintln!("warning: {w}");
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
        eprintln!("error: {e}");
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
            receipt::Origin::Installed => "installed",
            receipt::Origin::Adopted => "adopted",
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
    if let Some(i) = &s.interrupted {
        println!("interrupted: {i}; the next command (or --recover) finishes or undoes it");
    }
}

fn switch(action: Action, r: &SwitchReport) {
    if let Some(rec) = &r.recovered {
        eprintln!("{}", recovery(rec));
    }
    if r.changed {
        println!(
            "{} is now active at {} (was {})",
            r.go_version,
            r.prefix.join(installer::prefix::LINK).display(),
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
