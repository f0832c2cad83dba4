//! `go-offline-installer`: the stub that, with a payload appended, installs Go offline.
//!
//! Glue only: parse flags, call the library, print the result, map errors to exit codes.

use std::{
    fs::File,
    io::{self, BufRead, IsTerminal, Write},
    path::{Path, PathBuf},
    process::ExitCode,
};

use clap::Parser;
use serde_json::json;
use stub::{
    env::Scope,
    exit,
    install::{self, InstallConfig, InstallReport, CHECK_RUNNER_ENV},
    keys::{TrustStore, HOST_TRUST_DIR},
    manifest::EntryType,
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
    after_help = after_help()
)]
struct Cli {
    /// Install without asking for confirmation.
    #[arg(short = 'y', long)]
    yes: bool,
    /// Install Go into DIR/go [default: /usr/local for root, $HOME/.local otherwise].
    #[arg(long, value_name = "DIR")]
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
    #[arg(long)]
    json: bool,
    /// Do not write shell profile or rc files.
    #[arg(long)]
    no_modify_path: bool,
    /// Trust this SPKI PEM public key (repeatable). Ignored when the host trust directory exists.
    #[arg(long, value_name = "FILE")]
    trusted_key: Vec<PathBuf>,
    /// Print nothing but errors (and the --json result).
    #[arg(short, long)]
    quiet: bool,
    /// Reinstall even when this version is already installed.
    #[arg(long)]
    force: bool,
    /// Replace an installed Go that is newer than this one.
    #[arg(long)]
    allow_downgrade: bool,
    /// Wait for another installer working on the same prefix instead of refusing (exit 17).
    #[arg(long)]
    wait: bool,
    /// Only finish or undo an interrupted install in the prefix (every install does this first).
    #[arg(long, conflicts_with_all = ["check", "list", "info", "dry_run", "force", "allow_downgrade"])]
    recover: bool,
}

fn after_help() -> String {
    let mut s = String::from("Trust:\n");
    s.push_str(&format!(
        "  The signer must be trusted. When {HOST_TRUST_DIR} exists, only its *.pub keys are trusted;\n  otherwise keys given with --trusted-key and keys compiled into this installer are.\n\n"
    ));
    s.push_str(
        "Crash safety:\n  Every step that changes the prefix is journaled in PREFIX/.go-offline-journal first. If an\n  install is interrupted (kill -9, power loss), the next run (or --recover) puts the previous Go\n  and environment back, or finishes the install if it was already committed, and says so.\n\n",
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
                    "changed": false,
                    "error": { "code": e.exit_code(), "kind": e.kind(), "message": e.to_string() },
                }));
            }
            ExitCode::from(e.exit_code() as u8)
        }
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
                "ok: {} {}/{} verified: signed by {} ({}), {} entries, every digest matches",
                m.go_version,
                m.goos,
                m.goarch,
                installer.signer().id,
                installer.signer().origin,
                m.file_count
            );
        }
        return Ok(());
    }

    let (prefix, scope) = destination(cli)?;
    let goroot = prefix.join(install::GO_DIR);
    let current = install::read_version(&goroot);
    let plan = format!(
        "Go {} for {}/{}\n  destination: {}{}\n  signed by:   {} ({})\n  environment: {}",
        m.go_version,
        m.goos,
        m.goarch,
        goroot.display(),
        current.as_deref().map(|v| format!(" (replaces {v})")).unwrap_or_default(),
        installer.signer().id,
        installer.signer().origin,
        match &scope {
            None => "unchanged (--no-modify-path)".to_string(),
            Some(Scope::System { profile_d }) => profile_d.join("go.sh").display().to_string(),
            Some(Scope::User { home, .. }) =>
                format!("{} and your shell rc files", stub::env::user_env_script(home).display()),
        }
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

    let bar = progress_bar(cli, m.files_size());
    let tick = |n: u64| {
        if let Some(b) = &bar {
            b.inc(n)
        }
    };
    let config = InstallConfig {
        prefix,
        env: scope,
        check_runner: check_runner(),
        force: cli.force,
        allow_downgrade: cli.allow_downgrade,
        wait: cli.wait,
    };
    let report = install::install(&installer, &file, &config, &tick)?;
    if let Some(b) = bar {
        b.finish_and_clear();
    }
    if let Some(r) = &report.recovered {
        say(&describe_recovery(r));
    }
    if cli.json {
        print_json(&result_json(&installer, "install", report.changed, Some(&report.goroot), Some(&report)));
    } else if !report.changed && !cli.quiet {
        println!(
            "{} is already installed at {}: nothing to do (pass --force to reinstall it)",
            report.go_version,
            report.goroot.display()
        );
    } else if !cli.quiet {
        println!("installed {} at {} ({})", report.go_version, report.goroot.display(), report.go_version_output);
        if !report.env_files.is_empty() {
            println!("open a new shell (or source {}) to use it", report.env_files[0].display());
        }
    }
    Ok(())
}

/// The prefix and environment scope from the flags, the user id and HOME.
fn destination(cli: &Cli) -> Result<(PathBuf, Option<Scope>), Error> {
    let root = rustix::process::geteuid().is_root();
    let home = std::env::var_os("HOME").filter(|h| !h.is_empty()).map(PathBuf::from);
    let no_home = || Error::Destination {
        path: PathBuf::from("$HOME"),
        problem: "is not set: set HOME, or pass --prefix and --no-modify-path".into(),
    };
    let prefix = match (&cli.prefix, root) {
        (Some(p), _) => absolute(p),
        (None, true) => PathBuf::from("/usr/local"),
        (None, false) => home.clone().ok_or_else(no_home)?.join(".local"),
    };
    let scope = if cli.no_modify_path {
        None
    } else if root {
        Some(Scope::System { profile_d: PathBuf::from("/etc/profile.d") })
    } else {
        let home = home.ok_or_else(no_home)?;
        Some(Scope::User { home, shell: std::env::var("SHELL").ok() })
    };
    Ok((prefix, scope))
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
        "recovered: an install of {} (process {}) was interrupted in phase {}; {what}",
        r.go_version,
        r.pid,
        r.phase.name()
    )
}

fn check_runner() -> Vec<String> {
    std::env::var(CHECK_RUNNER_ENV).map(|s| s.split_whitespace().map(str::to_string).collect()).unwrap_or_default()
}

fn confirm(plan: &str) -> Result<(), Error> {
    if !io::stdin().is_terminal() {
        return Err(Error::Declined(
            "confirmation needed but standard input is not a terminal: re-run with --yes to install unattended".into(),
        ));
    }
    eprint!("About to install {plan}\nProceed? [y/N] ");
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

fn progress_bar(cli: &Cli, total: u64) -> Option<indicatif::ProgressBar> {
    if cli.quiet || cli.json || !io::stderr().is_terminal() {
        return None;
    }
    let bar = indicatif::ProgressBar::new(total);
    if let Ok(style) =
        indicatif::ProgressStyle::with_template("{spinner} [{bar:40}] {bytes}/{total_bytes} {bytes_per_sec}")
    {
        bar.set_style(style.progress_chars("=> "));
    }
    Some(bar)
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
    println!("Go:          {} {}/{}", m.go_version, m.goos, m.goarch);
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
