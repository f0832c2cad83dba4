//! The command line: clap's definitions, and the one [`Mode`] they mean.
//!
//! Global options (`--prefix`, `--json`, `--quiet`, `--wait`, `--yes`) are accepted before or
//! after a subcommand. Options that only make sense for an install (`--check`, `--force`, ...)
//! are refused with a subcommand, as clap refuses conflicting options: a usage error (exit 2).

use std::path::PathBuf;

use clap::{error::ErrorKind, CommandFactory, Parser, Subcommand};
use format::exit;
use installer::{os, outcome::Action};

#[derive(Parser, Debug)]
#[command(
    name = "go-offline-installer",
    version,
    about = "Install the Go toolchain carried in this file, after verifying its signature and every file's digest",
    after_help = after_help()
)]
pub struct Cli {
    #[command(subcommand)]
    command: Option<Cmd>,
    /// Do not ask for confirmation (install, uninstall).
    #[arg(short = 'y', long, global = true)]
    pub yes: bool,
    /// Versions live in DIR/go-VERSION, the active one at DIR/go [default: /usr/local for root,
    /// $HOME/.local otherwise].
    #[arg(long, value_name = "DIR", global = true)]
    pub prefix: Option<PathBuf>,
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
    pub json: bool,
    /// Do not write shell profile or rc files (on Windows: the registry's Path).
    #[arg(long)]
    pub no_modify_path: bool,
    /// Windows, elevated: put Go on the machine's Path instead of the user's.
    #[arg(long)]
    pub system: bool,
    /// Trust this SPKI PEM public key (repeatable). Ignored when the host trust directory exists.
    #[arg(long, value_name = "FILE")]
    pub trusted_key: Vec<PathBuf>,
    /// Print nothing but errors (and the --json result).
    #[arg(short, long, global = true)]
    pub quiet: bool,
    /// Reinstall even when this version is already installed.
    #[arg(long)]
    pub force: bool,
    /// Install and activate this Go even when the active one is newer.
    #[arg(long)]
    pub allow_downgrade: bool,
    /// Skip building and running hello world with the new Go before activating it (for slow or
    /// emulated hosts; `go version` and `go env GOROOT` are still checked).
    #[arg(long)]
    pub no_build_check: bool,
    /// Wait for another installer working on the same prefix instead of refusing (exit 17).
    #[arg(long, global = true)]
    pub wait: bool,
    /// Append the host log (one JSON line per install, use, rollback, uninstall) to FILE
    /// [default: /var/log/go-offline-installer.log for root,
    /// $XDG_STATE_HOME/go-offline-installer/log.jsonl otherwise; or $GO_OFFLINE_LOG].
    #[arg(long, value_name = "FILE", global = true, conflicts_with = "no_log")]
    log: Option<PathBuf>,
    /// Write no host log (as GO_OFFLINE_LOG=off does).
    #[arg(long, global = true)]
    no_log: bool,
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

/// What the command line asks for: one of the engine's actions (its [`Action`] is the one list
/// of commands) and what it acts on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mode {
    pub action: Action,
    pub operand: Operand,
}

/// What a command acts on, as typed (a version is checked when the command runs: a bad one is
/// "not installed").
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Operand {
    None,
    /// `use VERSION`, `uninstall VERSION`, `verify-installed VERSION` (or `modules`).
    Version(String),
    /// `uninstall --all`.
    All,
}

impl Mode {
    fn of(action: Action) -> Mode {
        Mode { action, operand: Operand::None }
    }

    fn on(action: Action, operand: Operand) -> Mode {
        Mode { action, operand }
    }

    /// The version typed, `""` when none was (which no version parses as).
    pub fn version(&self) -> &str {
        match &self.operand {
            Operand::Version(v) => v,
            Operand::None | Operand::All => "",
        }
    }
}

impl Cli {
    /// Parses the command line into options and a mode; a clap error otherwise (usage, or
    /// `--help` and `--version`, which are "errors" clap prints on stdout).
    pub fn parse_mode(args: impl IntoIterator<Item = std::ffi::OsString>) -> Result<(Cli, Mode), clap::Error> {
        let cli = Cli::try_parse_from(args)?;
        let install_only = [
            ("--check", cli.check),
            ("--list", cli.list),
            ("--info", cli.info),
            ("--dry-run", cli.dry_run),
            ("--recover", cli.recover),
            ("--force", cli.force),
            ("--allow-downgrade", cli.allow_downgrade),
            ("--no-build-check", cli.no_build_check),
            ("--no-modify-path", cli.no_modify_path),
            ("--system", cli.system),
            ("--trusted-key", !cli.trusted_key.is_empty()),
        ];
        if cli.system && !os::HAS_MACHINE_STORE {
            return Err(Cli::command().error(
                ErrorKind::ArgumentConflict,
                "the argument '--system' is for Windows (the machine's Path in the registry); on Unix, root writes /etc/profile.d/go.sh",
            ));
        }
        if let (Some(cmd), Some((flag, _))) = (&cli.command, install_only.iter().find(|(_, set)| *set)) {
            let name = subcommand_name(cmd);
            return Err(Cli::command().error(
                ErrorKind::ArgumentConflict,
                format!("the argument '{flag}' cannot be used with the subcommand '{name}' (it is an option of the install)"),
            ));
        }
        let typed = |v: &Option<String>| v.clone().map_or(Operand::None, Operand::Version);
        let mode = match &cli.command {
            Some(Cmd::Status) => Mode::of(Action::Status),
            Some(Cmd::Use { version }) => Mode::on(Action::Use, Operand::Version(version.clone())),
            Some(Cmd::Rollback) => Mode::of(Action::Rollback),
            Some(Cmd::Uninstall { all: true, .. }) => Mode::on(Action::Uninstall, Operand::All),
            Some(Cmd::Uninstall { version, .. }) => Mode::on(Action::Uninstall, typed(version)),
            Some(Cmd::VerifyInstalled { version }) => Mode::on(Action::VerifyInstalled, typed(version)),
            None if cli.recover => Mode::of(Action::Recover),
            None if cli.check => Mode::of(Action::Check),
            None if cli.info => Mode::of(Action::Info),
            None if cli.list => Mode::of(Action::List),
            None if cli.dry_run => Mode::of(Action::DryRun),
            None => Mode::of(Action::Install),
        };
        Ok((cli, mode))
    }
}

/// The environment variable that chooses the host log when neither `--log` nor `--no-log` is
/// given: a path, or `off`.
pub const LOG_ENV: &str = "GO_OFFLINE_LOG";

impl Cli {
    /// Where the host log goes: `--no-log` (none), `--log FILE`, else [`LOG_ENV`] (`off`: none; an
    /// empty value counts as unset), else `default` (the OS layer's: on for root). A relative
    /// path is made absolute here, so that a journal finished from another directory writes the
    /// same file.
    pub fn host_log(&self, env: Option<&std::ffi::OsStr>, default: Option<PathBuf>) -> Option<PathBuf> {
        let chosen = match (&self.log, env.filter(|v| !v.is_empty())) {
            _ if self.no_log => return None,
            (Some(path), _) => path.clone(),
            (None, Some(v)) if v == "off" => return None,
            (None, Some(v)) => PathBuf::from(v),
            (None, None) => return default,
        };
        Some(std::path::absolute(&chosen).unwrap_or(chosen))
    }
}

fn subcommand_name(cmd: &Cmd) -> &'static str {
    match cmd {
        Cmd::Status => "status",
        Cmd::Use { .. } => "use",
        Cmd::Rollback => "rollback",
        Cmd::Uninstall { .. } => "uninstall",
        Cmd::VerifyInstalled { .. } => "verify-installed",
    }
}

/// The action a command line that did not parse was for, from its words alone: the subcommand
/// named, else the install mode flag given, else `install`.
pub fn guess_action(args: &[String]) -> Action {
    let words: Vec<&str> = args.iter().skip(1).map(String::as_str).collect();
    let named = [Action::Status, Action::Use, Action::Rollback, Action::Uninstall, Action::VerifyInstalled];
    if let Some(a) = named.into_iter().find(|a| words.contains(&a.name())) {
        return a;
    }
    let flags = [Action::Recover, Action::Check, Action::Info, Action::List, Action::DryRun];
    flags.into_iter().find(|a| words.contains(&format!("--{}", a.name()).as_str())).unwrap_or(Action::Install)
}

fn after_help() -> String {
    let mut s = String::from("Trust:\n");
    s.push_str(&format!(
        "  The signer must be trusted. When {} exists, only its *.pub keys are trusted;\n  otherwise keys given with --trusted-key and keys compiled into this installer are.\n\n",
        os::host_trust_dir(os::host()).display()
    ));
    s.push_str(os::LAYOUT_HELP);
    s.push_str(&format!(
        "Host log:\n  Every install, use, rollback and uninstall appends one JSON line to the host log:\n  {} by default. --log FILE puts it elsewhere, --no-log\n  writes none; without either, {LOG_ENV}=FILE or {LOG_ENV}=off does the same.\n\n",
        os::HOST_LOG_HELP
    ));
    s.push_str(
        "Crash safety:\n  Every step that changes the prefix is journaled in PREFIX/.go-offline-journal first. If a\n  command is interrupted (kill -9, power loss), the next run (or --recover) puts the previous\n  state back, or finishes the command if it was already committed, and says so.\n\n",
    );
    s.push_str("Exit codes:\n");
    for (code, meaning) in exit::TABLE {
        s.push_str(&format!("  {code:>3}  {meaning}\n"));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(line: &str) -> Result<Mode, String> {
        let args = std::iter::once("go-offline-installer").chain(line.split_whitespace()).map(Into::into);
        Cli::parse_mode(args).map(|(_, m)| m).map_err(|e| e.kind().to_string())
    }

    /// Global options anywhere; install options refused with a subcommand.
    #[test]
    fn modes() {
        let ok = [
            ("", Mode::of(Action::Install)),
            ("--yes --prefix /p", Mode::of(Action::Install)),
            ("--check", Mode::of(Action::Check)),
            ("--json status", Mode::of(Action::Status)),
            ("status --json", Mode::of(Action::Status)),
            ("--prefix /p status", Mode::of(Action::Status)),
            ("status --prefix /p --wait -q", Mode::of(Action::Status)),
            ("--json use 1.27.3", Mode::on(Action::Use, Operand::Version("1.27.3".into()))),
            ("uninstall --all --yes", Mode::on(Action::Uninstall, Operand::All)),
            ("-y uninstall 1.26.6", Mode::on(Action::Uninstall, Operand::Version("1.26.6".into()))),
            ("verify-installed modules", Mode::on(Action::VerifyInstalled, Operand::Version("modules".into()))),
            ("verify-installed", Mode::of(Action::VerifyInstalled)),
            ("--recover --json", Mode::of(Action::Recover)),
        ];
        for (line, mode) in ok {
            assert_eq!(parse(line), Ok(mode), "{line}");
        }
        for line in [
            "--check status",
            "status --force",
            "--check --info",
            "uninstall",
            "use",
            "--recover --force",
            "frobnicate",
        ] {
            assert!(parse(line).is_err(), "{line} was accepted");
        }
    }

    /// `--no-log` wins, then `--log`, then the environment variable, then the default.
    #[test]
    fn host_log_choice() {
        let default = Some(PathBuf::from("/var/log/go-offline-installer.log"));
        let cases: &[(&str, Option<&str>, Option<&str>)] = &[
            ("status", None, Some("/var/log/go-offline-installer.log")),
            ("status", Some(""), Some("/var/log/go-offline-installer.log")),
            ("status --log /tmp/a.log", None, Some("/tmp/a.log")),
            ("--log /tmp/a.log status", Some("/tmp/b.log"), Some("/tmp/a.log")),
            ("status", Some("/tmp/b.log"), Some("/tmp/b.log")),
            ("status", Some("off"), None),
            ("--no-log", None, None),
            ("status --no-log", Some("/tmp/b.log"), None),
            ("--log /tmp/a.log", Some("off"), Some("/tmp/a.log")),
        ];
        for (line, env, want) in cases {
            let args = std::iter::once("x").chain(line.split_whitespace()).map(std::ffi::OsString::from);
            let (cli, _) = Cli::parse_mode(args).unwrap();
            let got = cli.host_log(env.map(std::ffi::OsStr::new), default.clone());
            assert_eq!(got.as_deref(), want.map(std::path::Path::new), "{line} with {env:?}");
        }
        let relative = Cli::parse_mode(["x", "--log", "rel.log"].map(std::ffi::OsString::from)).unwrap().0;
        assert!(relative.host_log(None, None).is_some_and(|p| p.is_absolute() && p.ends_with("rel.log")));
        assert!(parse("--log /a --no-log").is_err(), "--log and --no-log conflict");
    }

    #[test]
    fn failed_command_lines_name_their_action() {
        let cases =
            [("use", "use"), ("--json status --bogus", "status"), ("--check --bogus", "check"), ("--bogus", "install")];
        for (line, action) in cases {
            let args: Vec<String> = std::iter::once("x").chain(line.split_whitespace()).map(String::from).collect();
            assert_eq!(guess_action(&args).name(), action, "{line}");
        }
    }
}
