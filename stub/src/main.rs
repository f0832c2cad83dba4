//! `go-offline-installer`: the stub that, with a payload appended, installs Go offline.
//!
//! Glue only: parse flags, call the library, print the result, map errors to exit codes.

use std::{
    fs::File,
    io::{self, BufRead, IsTerminal, Write},
    path::{Path, PathBuf},
    process::ExitCode,
};

use clap::{Parser, Subcommand};
use serde_json::json;
use stub::{
    env::Scope,
    exit,
    install::{self, InstallConfig, InstallReport, CHECK_RUNNER_ENV},
    keys::{TrustStore, HOST_TRUST_DIR},
    lifecycle::{self, Context, Target},
    manifest::EntryType,
    prefix, receipt,
    verify::{self, VerifiedInstaller},
    Error,
};

/// Version of the `--json` result schema. Bumped only for incompatible changes.
const JSON_SCHEMA: u32 = 1;

#[derive(Parser, Debug)]
#[command(
    name = "go-offline-installer",
    version,
    about = "Install the Go toolchain carried in this file, after verifying its signature and every file's digest",
    after_help = after_help(),
    args_conflicts_with_subcommands = true
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Cmd>,
    /// Do not ask for confirmation (install, uninstall).
    #[arg(short = 'y', long, global = true)]
    yes: bool,
    /// Versions live in DIR/go-VERSION, the active one at DIR/go [default: /usr/local for root,
    /// $HOME/.local otherwise].
    #[arg(long, value_name = "DIR", global = true)]
    prefix: Option<PathBuf>,
    /// Verify the installer (signature, manifest, digests) and install nothing.
    #[arg(long, conflicts_with_all = ["list", "info", "dry_run"])]
    check: bool,
    /// List the files the installer carries.
    #[arg(long, conflicts_with_all = ["info", "dry_run"])]
    list: bool,
    /// Show what the installer carries (version, target, signer, sizes).
    #[arg(long, conflicts_with = "dry_run")]
    info: bool,
    /// Verify and show what would be done, without doing it.
    #[arg(long)]
    dry_run: bool,
    /// Print one machine-readable JSON result on stdout (and nothing else there).
    #[arg(long, global = true)]
    json: bool,
    /// Do not write shell profile or rc files.
    #[arg(long)]
    no_modify_path: bool,
    /// Trust this SPKI PEM public key (repeatable). Ignored when the host trust directory exists.
    #[arg(long, value_name = "FILE")]
    trusted_key: Vec<PathBuf>,
    /// Print nothing but errors (and the --json result).
    #[arg(short, long, global = true)]
    quiet: bool,
    /// Reinstall even when this version is already installed.
    #[arg(long)]
    force: bool,
    /// Install and activate this Go even when the active one is newer.
    #[arg(long)]
    allow_downgrade: bool,
    /// Skip building and running hello world with the new Go before activating it (for slow or
    /// emulated hosts; `go version` and `go env GOROOT` are still checked).
    #[arg(long)]
    no_build_check: bool,
    /// Wait for another installer working on the same prefix instead of refusing (exit 17).
    #[arg(long, global = true)]
    wait: bool,
    /// Only finish or undo an interrupted command in the prefix (every command does this first).
    #[arg(long, conflicts_with_all = ["check", "list", "info", "dry_run", "force", "allow_downgrade"])]
    recover: bool,
}

#[derive(Subcommand, Debug)]
enum Cmd {
    /// Show the installed versions, the active one, and who installed each from which file.
    Status,
    /// Make an installed version the active one (one atomic switch of DIR/go).
    Use {
        /// 1.27.3, go1.27.3 or go-1.27.3.
        version: String,
    },
    /// Go back to the version that was active before the last install or `use`.
    Rollback,
    /// Remove a version, or everything, exactly as the receipts list it (trees, environment
    /// script, the lines added to rc files); files nobody listed and your own edits stay.
    Uninstall {
        /// The version to remove.
        #[arg(required_unless_present = "all", conflicts_with = "all")]
        version: Option<String>,
        /// Remove every version, the DIR/go link, the environment and the receipts.
        #[arg(long)]
        all: bool,
    },
    /// Check installed files against their receipts (size, mode, digest, link target, missing
    /// and extra files), rpm -V style; exit 23 on any difference.
    VerifyInstalled {
        /// Only this version, or `modules` for the module bundle [default: all, plus the link
        /// and the environment].
        version: Option<String>,
    },
}

fn after_help() -> String {
    let mut s = String::from("Trust:\n");
    s.push_str(&format!(
        "  The signer must be trusted. When {HOST_TRUST_DIR} exists, only its *.pub keys are trusted;\n  otherwise keys given with --trusted-key and keys compiled into this installer are.\n\n"
    ));
    s.push_str(
        "Versions:\n  Each version lives in PREFIX/go-VERSION; PREFIX/go links to the active one. Receipts in\n  PREFIX/.go-offline list every file; status, use, rollback, uninstall and verify-installed\n  manage them. Every install, use, rollback and uninstall is logged to the host log.\n\nCrash safety:\n  Every step that changes the prefix is journaled in PREFIX/.go-offline-journal first. If a\n  command is interrupted (kill -9, power loss), the next run (or --recover) puts the previous\n  state back, or finishes the command if it was already committed, and says so.\n\n",
    );
    s.push_str("Exit codes:\n");
    for (code, meaning) in exit::TABLE {
        s.push_str(&format!("  {code:>3}  {meaning}\n"));
    }
    s
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() { exit::USAGE as u8 } else { exit::OK as u8 });
        }
    };
    match run(&cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            if cli.json {
                print_json(&json!({
                    "schema": JSON_SCHEMA,
                    "ok": false,
                    "action": action_name(&cli),
                    "changed": false,
                    "error": { "code": e.exit_code(), "kind": e.kind(), "message": e.to_string() },
                }));
            }
            ExitCode::from(e.exit_code() as u8)
        }
    }
}

/// The `action` of the --json result.
fn action_name(cli: &Cli) -> &'static str {
    match &cli.command {
        Some(Cmd::Status) => "status",
        Some(Cmd::Use { .. }) => "use",
        Some(Cmd::Rollback) => "rollback",
        Some(Cmd::Uninstall { .. }) => "uninstall",
        Some(Cmd::VerifyInstalled { .. }) => "verify-installed",
        None if cli.recover => "recover",
        None if cli.check => "check",
        None if cli.info => "info",
        None if cli.list => "list",
        None if cli.dry_run => "dry-run",
        None => "install",
    }
}

fn print_json(value: &serde_json::Value) {
    println!("{value}");
}

fn run(cli: &Cli) -> Result<(), Error> {
    let self_path = std::env::current_exe().unwrap_or_else(|_| PathBuf::from("/proc/self/exe"));
    // /proc/self/exe is the running file even if it was renamed or its path is not readable.
    let file = File::open("/proc/self/exe").map_err(|source| Error::ReadSelf { path: self_path.clone(), source })?;
    let say = |msg: &str| {
        if !cli.quiet && !cli.json {
            eprintln!("{msg}");
        }
    };
    if let Some(cmd) = &cli.command {
        return lifecycle_command(cli, cmd);
    }
    if cli.recover {
        // Needs nothing from this file: a damaged installer must not stand in the way of undoing.
        let (prefix, _) = destination(cli)?;
        let recovered = install::recover(&prefix, cli.wait)?;
        if cli.json {
            print_json(&json!({
                "schema": JSON_SCHEMA, "ok": true, "action": "recover", "changed": recovered.is_some(),
                "prefix": prefix, "recovered": recovered, "error": null,
            }));
        } else if !cli.quiet {
            match &recovered {
                Some(r) => println!("{}", describe_recovery(r)),
                None => println!("nothing to recover in {}", prefix.display()),
            }
        }
        return Ok(());
    }
    let trust = TrustStore::load(&cli.trusted_key, Path::new(HOST_TRUST_DIR), true)?;
    if !trust.ignored_cli_keys.is_empty() {
        say(&format!("note: {HOST_TRUST_DIR} exists and is authoritative; --trusted-key ignored"));
    }
    let installer = verify::verify(&file, &self_path, &trust)?;
    let m = installer.manifest();
    if cli.info {
        return show_info(cli, &installer);
    }
    if cli.list {
        return list(cli, &installer);
    }
    verify::check_platform(m)?;
    if cli.check {
        stub::extract::check_payload(&installer, &file, &|_| {})?;
        if cli.json {
            print_json(&result_json(&installer, "check", false, None, None));
        } else if !cli.quiet {
            println!(
                "ok: {} verified: signed by {} ({}), {} entries, every digest matches",
                m.title(),
                installer.signer().id,
                installer.signer().origin,
                m.file_count
            );
        }
        return Ok(());
    }

    let (prefix, scope) = destination(cli)?;
    if m.product == stub::manifest::MODULES_PRODUCT {
        return install_modules(cli, &installer, &file, &prefix, scope.as_ref());
    }
    let goroot = prefix.join(prefix::LINK);
    let current = prefix::active(&prefix).ok().and_then(|a| install::active_version(&prefix, &a).ok().flatten());
    let plan = format!(
        "Go {} for {}/{}\n  destination: {} -> {}{}\n  signed by:   {} ({})\n  environment: {}",
        m.go_version,
        m.goos,
        m.goarch,
        goroot.display(),
        prefix::tree_name(&m.go_version),
        match current.as_deref() {
            Some(v) if v == m.go_version => " (replaces the tree of the same version)".to_string(),
            Some(v) => format!(" (active now: {v}, which stays installed)"),
            None => String::new(),
        },
        installer.signer().id,
        installer.signer().origin,
        describe_env(scope.as_ref(), "go.sh", stub::env::user_env_script)
    );
    if cli.dry_run {
        if cli.json {
            print_json(&result_json(&installer, "dry-run", false, Some(&goroot), None));
        } else {
            println!("would install {plan}");
        }
        return Ok(());
    }
    if !cli.yes {
        confirm(&plan)?;
    }
    say(&format!("installing {plan}"));

    let bar = (!cli.quiet && !cli.json && io::stderr().is_terminal()).then(|| Progress::new(m.files_size()));
    let tick = |n: u64| {
        if let Some(b) = &bar {
            b.inc(n)
        }
    };
    let config = InstallConfig {
        prefix: prefix.clone(),
        env: scope,
        check_runner: check_runner(),
        force: cli.force,
        allow_downgrade: cli.allow_downgrade,
        wait: cli.wait,
        build_check: !cli.no_build_check,
        log: receipt::host_log_path(),
    };
    let report = install::install(&installer, &file, &config, &tick)?;
    if let Some(b) = bar {
        b.clear();
    }
    if let Some(r) = &report.recovered {
        say(&describe_recovery(r));
    }
    if cli.json {
        print_json(&result_json(&installer, "install", report.changed, Some(&report.goroot), Some(&report)));
    } else if !report.changed && !cli.quiet {
        println!(
            "{} is already installed and active at {}: nothing to do (pass --force to reinstall it)",
            report.go_version,
            report.goroot.display()
        );
    } else if !cli.quiet {
        if let Some(a) = &report.adopted {
            println!("kept the Go tree that was at {} as {}", report.goroot.display(), prefix.join(a).display());
        }
        println!(
            "{} {} at {} -> {} ({}{})",
            report.action,
            report.go_version,
            report.goroot.display(),
            report.tree.display(),
            report.go_version_output,
            report.build_check.as_deref().map(|h| format!("; hello world built and ran: {h}")).unwrap_or_default()
        );
        if !report.env_files.is_empty() {
            println!("open a new shell (or source {}) to use it", report.env_files[0].display());
        }
    }
    Ok(())
}

/// Where the environment goes, for the plan shown before installing: the system script
/// `PROFILE_D/system`, or the user's script and rc files.
fn describe_env(scope: Option<&Scope>, system: &str, user_script: fn(&Path) -> PathBuf) -> String {
    match scope {
        None => "unchanged (--no-modify-path)".to_string(),
        Some(Scope::System { profile_d }) => profile_d.join(system).display().to_string(),
        Some(Scope::User { home, .. }) => format!("{} and your shell rc files", user_script(home).display()),
    }
}

/// Installs a module bundle into `PREFIX/go-modules`.
fn install_modules(
    cli: &Cli,
    installer: &VerifiedInstaller,
    file: &File,
    prefix: &Path,
    scope: Option<&Scope>,
) -> Result<(), Error> {
    let m = installer.manifest();
    let count = m.modules.as_ref().map_or(0, Vec::len);
    let dir = prefix.join(stub::modules::DIR);
    let plan = format!(
        "{count} Go module versions\n  destination: {} (merged with the modules there)\n  signed by:   {} ({})\n  environment: {}",
        dir.display(),
        installer.signer().id,
        installer.signer().origin,
        describe_env(scope, "go-modules.sh", stub::env::user_modules_script)
    );
    if cli.dry_run {
        if cli.json {
            print_json(&result_json(installer, "dry-run", false, Some(&dir), None));
        } else {
            println!("would install {plan}");
        }
        return Ok(());
    }
    if !cli.yes {
        confirm(&plan)?;
    }
    if !cli.quiet && !cli.json {
        eprintln!("installing {plan}");
    }
    let r = stub::modules::install(installer, file, prefix, scope, cli.wait, &|_| {})?;
    if cli.json {
        let mut v = result_json(installer, "install-modules", r.changed, None, None);
        v["modules_dir"] = json!(r.dir);
        v["modules_added"] = json!(r.added);
        v["modules_total"] = json!(r.total);
        v["env_files"] = json!(r.env);
        print_json(&v);
    } else if !cli.quiet {
        if r.changed {
            println!("installed {} new module versions at {} ({} in all)", r.added.len(), r.dir.display(), r.total);
        } else {
            println!("every module of this bundle is already installed at {}: nothing to do", r.dir.display());
        }
        if let Some(p) = r.env.first() {
            println!(
                "open a new shell (or source {}) so that go uses them (GOPROXY=file://{})",
                p.display(),
                r.dir.display()
            );
        }
    }
    Ok(())
}

/// The prefix and environment scope from the flags, the user id and HOME.
fn destination(cli: &Cli) -> Result<(PathBuf, Option<Scope>), Error> {
    let root = rustix::process::geteuid().is_root();
    let prefix = prefix_dir(cli)?;
    let scope = if cli.no_modify_path {
        None
    } else if root {
        Some(Scope::System { profile_d: PathBuf::from("/etc/profile.d") })
    } else {
        Some(Scope::User { home: home()?, shell: std::env::var("SHELL").ok() })
    };
    Ok((prefix, scope))
}

/// The prefix: `--prefix`, else /usr/local for root and $HOME/.local for a user.
fn prefix_dir(cli: &Cli) -> Result<PathBuf, Error> {
    Ok(match (&cli.prefix, rustix::process::geteuid().is_root()) {
        (Some(p), _) => absolute(p),
        (None, true) => PathBuf::from("/usr/local"),
        (None, false) => home()?.join(".local"),
    })
}

fn home() -> Result<PathBuf, Error> {
    std::env::var_os("HOME").filter(|h| !h.is_empty()).map(PathBuf::from).ok_or_else(|| Error::Destination {
        path: PathBuf::from("$HOME"),
        problem: "is not set: set HOME, or pass --prefix and --no-modify-path".into(),
    })
}

fn absolute(p: &Path) -> PathBuf {
    std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf())
}

fn describe_recovery(r: &stub::journal::Recovery) -> String {
    let what = match r.outcome {
        "completed" => "finished it (it had been committed)",
        _ => "put the previous Go and environment back",
    };
    format!(
        "recovered: an interrupted {} of {} (process {}), in phase {}; {what}",
        r.action,
        r.go_version,
        r.pid,
        r.phase.name()
    )
}

fn check_runner() -> Vec<String> {
    std::env::var(CHECK_RUNNER_ENV).map(|s| s.split_whitespace().map(str::to_string).collect()).unwrap_or_default()
}

fn confirm(plan: &str) -> Result<(), Error> {
    confirm_action(&format!("About to install {plan}"))
}

fn confirm_action(what: &str) -> Result<(), Error> {
    if !io::stdin().is_terminal() {
        return Err(Error::Declined(
            "confirmation needed but standard input is not a terminal: re-run with --yes to go on unattended".into(),
        ));
    }
    eprint!("{what}\nProceed? [y/N] ");
    let _ = io::stderr().flush();
    let mut answer = String::new();
    io::stdin()
        .lock()
        .read_line(&mut answer)
        .map_err(|e| Error::Declined(format!("could not read the answer: {e}")))?;
    match answer.trim() {
        "y" | "Y" | "yes" | "Yes" | "YES" => Ok(()),
        _ => Err(Error::Declined("not installed: you declined".into())),
    }
}

/// A one-line progress bar on stderr (a terminal), redrawn at most ten times a second; fed from
/// the extraction threads.
struct Progress {
    total: u64,
    done: std::sync::atomic::AtomicU64,
    started: std::time::Instant,
    last: std::sync::Mutex<Option<std::time::Instant>>,
}

impl Progress {
    fn new(total: u64) -> Progress {
        Progress {
            total: total.max(1),
            done: Default::default(),
            started: std::time::Instant::now(),
            last: Default::default(),
        }
    }

    fn inc(&self, n: u64) {
        use std::sync::atomic::Ordering;
        let done = self.done.fetch_add(n, Ordering::Relaxed) + n;
        let Ok(mut last) = self.last.try_lock() else { return };
        let now = std::time::Instant::now();
        if last.is_some_and(|t| now.duration_since(t).as_millis() < 100) {
            return;
        }
        *last = Some(now);
        let frac = (done as f64 / self.total as f64).min(1.0);
        let filled = (frac * 40.0) as usize;
        let mib = |b: u64| b as f64 / 1048576.0;
        let rate = mib(done) / self.started.elapsed().as_secs_f64().max(1e-3);
        eprint!(
            "\r[{}>{}] {:.0}/{:.0} MiB {rate:.0} MiB/s",
            "=".repeat(filled),
            " ".repeat(40 - filled.min(40)),
            mib(done),
            mib(self.total)
        );
    }

    fn clear(&self) {
        eprint!("\r{}\r", " ".repeat(80));
    }
}

fn result_json(
    installer: &VerifiedInstaller,
    action: &str,
    changed: bool,
    goroot: Option<&Path>,
    report: Option<&InstallReport>,
) -> serde_json::Value {
    let m = installer.manifest();
    json!({
        "schema": JSON_SCHEMA,
        "ok": true,
        "action": action,
        "changed": changed,
        "go_version": m.go_version,
        "goos": m.goos,
        "goarch": m.goarch,
        "target": m.target,
        "signer_key_id": installer.signer().id,
        "installer_sha256": installer.file_sha256(),
        "goroot": goroot,
        "tree": report.map(|r| r.tree.clone()),
        "install_action": report.map(|r| r.action),
        "active_version": report.map(|r| r.go_version.clone()),
        "receipt_id": report.and_then(|r| r.receipt_id.clone()),
        "adopted": report.and_then(|r| r.adopted.clone()),
        "build_check": report.and_then(|r| r.build_check.clone()),
        "previous_version": report.and_then(|r| r.previous_version.clone()),
        "env_files": report.map(|r| r.env_files.clone()).unwrap_or_default(),
        "recovered": report.and_then(|r| r.recovered.clone()),
        "files": m.file_count,
        "error": null,
    })
}

fn show_info(cli: &Cli, installer: &VerifiedInstaller) -> Result<(), Error> {
    let m = installer.manifest();
    let (files, dirs, links) = m.counts();
    if cli.json {
        print_json(&json!({
            "schema": JSON_SCHEMA,
            "ok": true,
            "action": "info",
            "go_version": m.go_version,
            "goos": m.goos,
            "goarch": m.goarch,
            "target": m.target,
            "signer_key_id": installer.signer().id,
            "signer_trusted_by": installer.signer().origin,
            "installer_sha256": installer.file_sha256(),
            "installer_len": installer.layout().file_len(),
            "stub_len": m.stub.len,
            "payload_len": m.payload.len,
            "uncompressed_len": m.payload.uncompressed_len,
            "files": files, "dirs": dirs, "symlinks": links,
            "source": m.source,
            "go_env": m.go_env,
            "created": m.created,
        }));
        return Ok(());
    }
    println!("carries:     {}", m.title());
    println!("target:      {}", m.target);
    println!("signed by:   {} (trusted: {})", installer.signer().id, installer.signer().origin);
    println!("installer:   {} bytes, sha256 {}", installer.layout().file_len(), installer.file_sha256());
    println!("payload:     {} bytes zstd, {} bytes unpacked", m.payload.len, m.payload.uncompressed_len);
    println!("contents:    {files} files, {dirs} directories, {links} symlinks");
    println!("source:      {}", m.source_summary());
    println!("go.env:      {}", m.go_env_summary());
    Ok(())
}

fn list(cli: &Cli, installer: &VerifiedInstaller) -> Result<(), Error> {
    let m = installer.manifest();
    let stdout = io::stdout();
    let mut out = io::BufWriter::new(stdout.lock());
    let result: io::Result<()> = (|| {
        if cli.json {
            serde_json::to_writer(&mut out, &m.files)?;
            writeln!(out)?;
            return Ok(());
        }
        for e in &m.files {
            let kind = match e.kind {
                EntryType::File => '-',
                EntryType::Dir => 'd',
                EntryType::Symlink => 'l',
            };
            let link = e.target.as_deref().map(|t| format!(" -> {t}")).unwrap_or_default();
            writeln!(out, "{kind}{:04o} {:>10} {}{link}", e.mode, e.size.unwrap_or(0), e.path)?;
        }
        out.flush()
    })();
    // A closed pipe (`| head`) is not an error worth reporting.
    match result {
        Err(e) if e.kind() != io::ErrorKind::BrokenPipe => Err(Error::io("write the list to", "stdout", e)),
        _ => Ok(()),
    }
}

/// The lifecycle subcommands: they need nothing from this file but the code, so a damaged
/// installer can still show, switch, check and remove what is installed.
fn lifecycle_command(cli: &Cli, cmd: &Cmd) -> Result<(), Error> {
    let prefix = prefix_dir(cli)?;
    let ctx =
        Context { prefix: prefix.clone(), wait: cli.wait, log: receipt::host_log_path(), check_runner: check_runner() };
    let version_arg = |v: &str| {
        prefix::parse_version_arg(v).ok_or_else(|| Error::NotInstalled {
            version: format!("'{v}' (not a Go version: use 1.27.3, go1.27.3 or go-1.27.3)"),
            prefix: prefix.clone(),
            installed: "see `status`".into(),
        })
    };
    let human = !cli.quiet && !cli.json;
    match cmd {
        Cmd::Status => {
            let s = lifecycle::status(&ctx)?;
            if cli.json {
                print_json(&json!({
                    "schema": JSON_SCHEMA, "ok": true, "action": "status", "changed": false,
                    "prefix": s.prefix, "active_version": s.active, "previous_version": s.previous,
                    "rolled_back": s.rolled_back, "versions": s.versions, "unmanaged": s.unmanaged,
                    "interrupted": s.interrupted, "env": s.env, "error": null,
                }));
            } else if !cli.quiet {
                print_status(&s);
            }
        }
        Cmd::Use { version } => {
            let r = lifecycle::use_version(&ctx, &version_arg(version)?)?;
            print_switch(cli, "use", &prefix, &r);
        }
        Cmd::Rollback => {
            let r = lifecycle::rollback(&ctx)?;
            print_switch(cli, "rollback", &prefix, &r);
        }
        Cmd::Uninstall { version, all } => {
            let target = match (version, all) {
                (_, true) => Target::All,
                (Some(v), false) => Target::Version(version_arg(v)?),
                (None, false) => unreachable!("clap requires a version or --all"),
            };
            if !cli.yes {
                let what = match &target {
                    Target::All => {
                        format!("every Go version in {}, its link, receipts and environment", prefix.display())
                    }
                    Target::Version(v) => format!("{v} from {}", prefix.display()),
                };
                confirm_action(&format!("About to uninstall {what}"))?;
            }
            let r = lifecycle::uninstall(&ctx, &target)?;
            if let Some(rec) = &r.recovered {
                if human {
                    eprintln!("{}", describe_recovery(rec));
                }
            }
            if cli.json {
                print_json(&json!({
                    "schema": JSON_SCHEMA, "ok": true, "action": "uninstall", "changed": r.changed,
                    "prefix": prefix, "removed": r.removed, "active_version": r.active,
                    "env_files": r.env_files, "kept": r.kept, "recovered": r.recovered, "error": null,
                }));
            } else if !cli.quiet {
                if r.changed {
                    println!("uninstalled {} from {}", r.removed.join(", "), prefix.display());
                } else {
                    println!(
                        "nothing to uninstall: {} is not installed in {}",
                        match &target {
                            Target::All => "Go",
                            Target::Version(v) => v,
                        },
                        prefix.display()
                    );
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
        }
        Cmd::VerifyInstalled { version } => {
            let v = match version.as_deref() {
                Some("modules" | stub::modules::DIR) => Some(stub::modules::DIR.to_string()),
                other => other.map(version_arg).transpose()?,
            };
            let r = lifecycle::verify_installed(&ctx, v.as_deref())?;
            if cli.json {
                print_json(&json!({
                    "schema": JSON_SCHEMA, "ok": r.ok, "action": "verify-installed", "changed": false,
                    "prefix": r.prefix, "versions": r.versions, "other": r.other,
                    "error": if r.ok { serde_json::Value::Null } else {
                        let e = Error::Drift(r.drift());
                        json!({ "code": e.exit_code(), "kind": e.kind(), "message": e.to_string() })
                    },
                }));
            } else if !cli.quiet {
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
            if !r.ok {
                let e = Error::Drift(r.drift());
                if !cli.json {
                    eprintln!("error: {e}");
                }
                std::process::exit(e.exit_code());
            }
        }
    }
    Ok(())
}

fn print_status(s: &lifecycle::Status) {
    println!(
        "prefix {}: active {}{}",
        s.prefix.display(),
        s.active.as_deref().unwrap_or("none"),
        s.previous
            .as_deref()
            .map(|p| format!(" (previous: {p}{})", if s.rolled_back { ", rolled back from" } else { "" }))
            .unwrap_or_default()
    );
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
    if let Some(i) = &s.interrupted {
        println!("interrupted: {i}; the next command (or --recover) finishes or undoes it");
    }
}

fn print_switch(cli: &Cli, action: &str, prefix: &Path, r: &lifecycle::SwitchReport) {
    if let Some(rec) = &r.recovered {
        if !cli.quiet && !cli.json {
            eprintln!("{}", describe_recovery(rec));
        }
    }
    if cli.json {
        print_json(&json!({
            "schema": JSON_SCHEMA, "ok": true, "action": action, "changed": r.changed,
            "prefix": prefix, "active_version": r.go_version, "previous_version": r.previous,
            "log_id": if r.id.is_empty() { None } else { Some(&r.id) }, "go_version_output": r.go_version_output,
            "recovered": r.recovered, "error": null,
        }));
    } else if !cli.quiet {
        if r.changed {
            println!(
                "{} is now active at {} (was {})",
                r.go_version,
                prefix.join(prefix::LINK).display(),
                r.previous.as_deref().unwrap_or("none")
            );
        } else if action == "rollback" {
            println!("already rolled back: {} is active (use `use VERSION` to switch again)", r.go_version);
        } else {
            println!("{} is already active: nothing to do", r.go_version);
        }
    }
}
