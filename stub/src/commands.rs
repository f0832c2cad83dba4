//! Each mode of the command line, run: the engine's calls with the options they need, and the
//! plan shown before an install. Returns the outcome; printing is `render`'s.

use std::{fs::File, path::PathBuf};

use format::{
    keys::{EmbeddedKey, TrustStore},
    manifest::Product,
    verify::{self, VerifiedInstaller},
};
use installer::{
    self as engine, active_version, check_payload,
    decimal::fixed,
    os::{
        self,
        shell::{self, Purpose, Scope},
    },
    outcome::{Action, FileList, Info, InstallAction, InstallerReport, Outcome, Report},
    parse_version_arg,
    progress::{Event, Phase},
    read_receipts, tree_name, Adoption, Checked, Context, Decision, Drift, Elsewhere, Error, InstallConfig, Layout,
    ModulesConfig, Prefix, Preview, Space, Target, CHECK_RUNNER_ENV, MODULES_DIR,
};

use crate::{
    cli::{Cli, Mode, Operand, LOG_ENV},
    prompt::{self, Phases},
    say,
};

/// Public keys compiled into the stub by `cargo xtask stubs --trust-key`.
static EMBEDDED_KEYS: include_dir::Dir<'_> = include_dir::include_dir!("$OUT_DIR/trusted-keys");

/// Runs `mode`.
pub fn run(cli: &Cli, mode: &Mode) -> Result<Outcome, Error> {
    match mode.action {
        Action::Status => engine::status(&context(cli)?),
        Action::Use => engine::use_version(&context(cli)?, &version_arg(cli, mode.version())?),
        Action::Rollback => engine::rollback(&context(cli)?),
        Action::Uninstall => {
            let ctx = context(cli)?;
            let target = match mode.operand {
                Operand::All => Target::All,
                _ => Target::Version(version_arg(cli, mode.version())?),
            };
            if !cli.yes {
                let what = match &target {
                    Target::All => format!(
                        "every Go version in {}, its link, receipts and environment",
                        ctx.prefix.path().display()
                    ),
                    Target::Version(v) => format!("{v} from {}", ctx.prefix.path().display()),
                };
                prompt::confirm(&format!("About to uninstall {what}"))?;
            }
            engine::uninstall(&ctx, &target)
        }
        Action::VerifyInstalled => {
            let what = match &mode.operand {
                Operand::Version(v) if v == "modules" || v == MODULES_DIR => Checked::Modules,
                Operand::Version(v) => Checked::Version(version_arg(cli, v)?),
                Operand::None | Operand::All => Checked::Everything,
            };
            engine::verify_installed(&context(cli)?, &what)
        }
        // Needs nothing from this file: a damaged installer must not stand in the way of undoing.
        Action::Recover => engine::recover(&prefix_of(cli)?, cli.wait),
        // An install shows its phases on a terminal, from the verification of this file on (a
        // module bundle's installer too: what it installs is read from the file).
        Action::Install | Action::InstallModules => {
            let phases = Phases::on_terminal(cli.quiet || cli.json);
            Phases::run(phases.as_ref(), || with_installer(cli, mode, phases.as_ref()))
        }
        Action::Check | Action::Info | Action::List | Action::DryRun => with_installer(cli, mode, None),
    }
}

/// The modes that read this file's payload: verify it first, whatever is asked. `phases`: where
/// an install's phases are shown.
fn with_installer(cli: &Cli, mode: &Mode, phases: Option<&Phases>) -> Result<Outcome, Error> {
    let path = os::own_executable_path();
    let file = os::own_executable().map_err(|source| format::Error::ReadSelf { path: path.clone(), source })?;
    let embedded: Vec<EmbeddedKey> = EMBEDDED_KEYS
        .files()
        .filter(|f| f.path().extension().is_some_and(|e| e == "pub"))
        .map(|f| EmbeddedKey { name: f.path().to_str().unwrap_or("key"), pem: f.contents_utf8().unwrap_or_default() })
        .collect();
    let host_dir = os::host_trust_dir(os::host());
    let trust = TrustStore::load(&cli.trusted_key, &host_dir, &embedded)?;
    if !trust.ignored_cli_keys.is_empty() {
        say(cli, &format!("note: {} exists and is authoritative; --trusted-key ignored", host_dir.display()));
    }
    let installer = match phases {
        Some(p) => {
            let bytes = file.metadata().map_or(0, |m| m.len());
            p.event(Event::Phase(Phase::Verify { bytes }));
            let verified = verify::verify_with_progress(&file, &path, &trust, &|n| p.event(Event::Bytes(n)));
            // Its line ends before anything else is said (the plan, the question).
            match verified {
                Ok(_) => p.finish(),
                Err(_) => p.clear(),
            }
            verified?
        }
        None => verify::verify(&file, &path, &trust)?,
    };
    match mode.action {
        Action::Info => return Ok(Outcome::new(Action::Info, false, Report::Info(Info::of(&installer)))),
        Action::List => {
            // A delta lists the entries it changes, as the new tree has them.
            let m = installer.manifest();
            let files = match &m.delta {
                Some(d) => d.changes.iter().map(|c| c.entry.clone()).collect(),
                None => m.files.clone(),
            };
            let list = FileList { files };
            return Ok(Outcome::new(Action::List, false, Report::List(list)));
        }
        _ => {}
    }
    verify::check_platform(installer.manifest())?;
    if mode.action == Action::Check {
        check_payload(&installer, &file, &|_| {})?;
        return Ok(Outcome::new(Action::Check, false, Report::Installer(InstallerReport::of(&installer, None))));
    }
    let (prefix, scope) = destination(cli)?;
    let job = Job { cli, mode, installer: &installer, file: &file, prefix, scope, phases };
    match installer.manifest().product {
        Product::Go => install_go(job),
        Product::GoModules => install_modules(job),
    }
}

/// An install (or its dry run) of a verified file.
struct Job<'a> {
    cli: &'a Cli,
    mode: &'a Mode,
    installer: &'a VerifiedInstaller,
    file: &'a File,
    prefix: Prefix,
    scope: Option<Scope>,
    /// Where the phases of the install are shown, if anywhere.
    phases: Option<&'a Phases>,
}

/// The events of the engine, to `phases` if there is a display.
fn shown(phases: Option<&Phases>) -> impl Fn(Event) + Sync + '_ {
    move |event| {
        if let Some(p) = phases {
            p.event(event)
        }
    }
}

/// Installs (or, with `--dry-run`, describes installing) the Go this file carries. The plan is
/// shown, and confirmed, once the engine has decided under the prefix lock what the install is
/// and made every check before its first write: nothing to do needs no confirmation. The dry
/// run gets the same decision and checks from `install::dry_run`, and ends as the install would.
fn install_go(job: Job) -> Result<Outcome, Error> {
    let Job { cli, mode, installer, file, prefix, scope, phases } = job;
    let m = installer.manifest();
    let goroot = prefix.goroot();
    let config = InstallConfig {
        prefix,
        env: scope,
        check_runner: check_runner(),
        force: cli.force,
        allow_downgrade: cli.allow_downgrade,
        wait: cli.wait,
        build_check: !cli.no_build_check,
        log: host_log(cli),
    };
    let plan = |preview: &Preview| go_plan(installer, &config, preview);
    if mode.action == Action::DryRun {
        // The install's own decision and checks, up to its first write: it fails here as the
        // install would, and otherwise says what the install would decide.
        let preview = engine::dry_run(installer, &config)?;
        let mut report = InstallerReport::of(installer, Some(goroot));
        report.plan = Some(dry_run_text(&m.go_version, &plan(&preview), &preview, &config));
        report.install_action = Some(preview.action);
        report.tree = Some(preview.tree);
        report.previous_version = preview.previous_version;
        report.adopted = preview.adoption.and_then(|a| a.kept_as);
        report.env_files = preview.env_files;
        report.kept = preview.kept;
        return Ok(Outcome::new(Action::DryRun, false, Report::Installer(report)));
    }
    let confirm = |preview: &Preview| -> Result<(), Error> {
        if preview.decision == Decision::Nothing {
            return Ok(());
        }
        before_install(cli, mode, installer, goroot.clone(), &plan(preview)).map(|_| ())
    };
    engine::install(installer, file, &config, &confirm, &shown(phases))
}

/// The plan of a Go install: what, where, signed by whom, the environment and the exact files it
/// writes, what happens to the version of that number already there, the disk space, the build
/// check and how to undo it (`preview`: what the install, or its dry run, decided and found
/// under the prefix lock).
fn go_plan(installer: &VerifiedInstaller, config: &InstallConfig, preview: &Preview) -> String {
    let decision = &preview.decision;
    let m = installer.manifest();
    let prefix = &config.prefix;
    let current = prefix.active().ok().and_then(|a| active_version(prefix.path(), &a).ok().flatten());
    let bin = prefix.goroot().join("bin");
    let same = current.as_deref() == Some(m.go_version.as_str());
    let note = match (decision, current.as_deref()) {
        (Decision::Nothing, _) => " (already installed and active, every file as signed: nothing to do)".into(),
        (Decision::Install { drift: Some(d), .. }, _) => {
            let active = if same { "the active" } else { "the installed" };
            format!(" (repairs {active} {}: {}; its tree is replaced with the signed one)", m.go_version, drift_text(d))
        }
        (Decision::Install { replacing: true, .. }, _) if config.force => {
            " (--force: replaces the installed tree of the same version)".into()
        }
        // No receipt, no Go tree: what `uninstall` kept there.
        (Decision::Install { replacing: true, .. }, _) => {
            " (its directory holds only files an uninstall kept: they are moved aside, as `keeps` says)".into()
        }
        // The same version active, yet a new tree: a plain tree of it, which the new one replaces.
        (_, Some(v)) if v == m.go_version => " (replaces the tree of the same version)".into(),
        (_, Some(v)) => format!(" (active now: {v}, which stays installed)"),
        (_, None) => String::new(),
    };
    let plan = format!(
        "{} for {}/{}\n  destination: {}{note}\n  signed by:   {} ({})\n  environment: {}",
        m.go_version,
        m.goos,
        m.goarch,
        match prefix.layout() {
            Layout::Link => format!("{} -> {}", prefix.goroot().display(), tree_name(&m.go_version)),
            Layout::Tree => prefix.goroot().display().to_string(),
        },
        installer.signer().id,
        installer.signer().origin,
        environment(config.env.as_ref(), Purpose::Go { bin_dir: &bin })
    );
    let mut plan = match &m.delta {
        Some(d) => format!(
            "{plan}\n  delta:       onto the installed {}, every file of which is checked first",
            d.base.go_version
        ),
        None => plan,
    };
    if matches!(decision, Decision::Install { .. }) {
        if config.env.is_some() {
            let files: Vec<String> = preview.env_files.iter().map(|p| p.display().to_string()).collect();
            plan.push_str(&match files.is_empty() {
                true => "\n  writes:      nothing (the environment is set up already)".to_string(),
                false => format!("\n  writes:      {}", files.join(", ")),
            });
        }
        if !preview.kept.is_empty() {
            plan.push_str(&format!(
                "\n  keeps:       {}: not part of the release, moved out of the tree (nothing is deleted)",
                shown_list(&preview.kept)
            ));
        }
        if let Some(space) = preview.space {
            plan.push_str(&format!("\n  disk space:  {}", space_text(space, prefix)));
        }
        plan.push_str(match config.build_check {
            true => "\n  build check: builds and runs hello world with the new Go before switching to it (about 10 s; --no-build-check skips it)",
            false => "\n  build check: skipped (--no-build-check); `go version` is still checked",
        });
    }
    plan.push_str(&format!("\n  to undo:     {}", undo_advice(m.go_version.as_str(), prefix, preview)));
    plan
}

/// Where the environment goes, for the plan: nowhere with `--no-modify-path`.
fn environment(scope: Option<&Scope>, purpose: Purpose) -> String {
    match scope {
        Some(scope) => shell::describe(scope, purpose),
        None => "unchanged (--no-modify-path)".into(),
    }
}

/// The first few of `items`, and how many more: "a, b, c and 4 more".
fn shown_list(items: &[String]) -> String {
    const SHOWN: usize = 5;
    match items.len() {
        n if n <= SHOWN => items.join(", "),
        n => format!("{} and {} more", items[..SHOWN].join(", "), n - SHOWN),
    }
}

/// "224.0 MiB unpacked; 10.2 GiB free at /usr/local".
fn space_text(space: Space, prefix: &Prefix) -> String {
    let size = |b: u64| match b {
        b if b >= 1 << 30 => format!("{} GiB", fixed(b as f64 / (1u64 << 30) as f64, 1)),
        b => format!("{} MiB", fixed(b as f64 / (1u64 << 20) as f64, 1)),
    };
    format!("{} unpacked; {} free at {}", size(space.need), size(space.free), prefix.path().display())
}

/// The commands that take the install back out, as a user would type them: `uninstall VERSION`
/// when no other version is installed (it then takes the environment too); with another version
/// active now, `rollback` to it first; when the version stays active and others are installed
/// (a reinstall, or an install with none active), `use` the newest other first (`uninstall`
/// refuses the active version while others are installed, exit 24).
fn undo_advice(go_version: &str, prefix: &Prefix, preview: &Preview) -> String {
    let program = os::quote_arg(&os::own_executable_path().display().to_string());
    let dir = os::quote_arg(&prefix.path().display().to_string());
    let bare = |v: &str| v.strip_prefix("go").unwrap_or(v).to_string();
    let uninstall = format!("{program} uninstall {} --prefix {dir}", bare(go_version));
    let rollback = format!("{program} rollback --prefix {dir}");
    let newest_other = read_receipts(prefix.path())
        .unwrap_or_default()
        .into_iter()
        .map(|r| r.go_version)
        .filter(|v| v != go_version)
        .max_by(|a, b| format::version::compare(a, b).unwrap_or(std::cmp::Ordering::Equal));
    match (&preview.decision, preview.previous_version.as_deref(), newest_other) {
        (Decision::Activate, ..) => rollback,
        (_, Some(v), _) if v != go_version => format!("{rollback}, then {uninstall}"),
        (_, _, Some(other)) => format!("{program} use {} --prefix {dir}, then {uninstall}", bare(&other)),
        _ => uninstall,
    }
}

/// "3 files of its tree differ from the receipt, 1 environment file", for the plan.
fn drift_text(d: &Drift) -> String {
    let mut parts = Vec::new();
    if d.files > 0 {
        parts.push(format!("{} file(s) of its tree differ from its receipt", d.files));
    }
    if d.environment > 0 {
        parts.push(format!("{} environment file(s) to write again", d.environment));
    }
    if d.toolchains > 0 {
        parts.push(format!("{} toolchain link(s) in PREFIX/bin to put right", d.toolchains));
    }
    parts.join(", ")
}

/// What a dry run says: what the install would do (`plan`, the text shown before installing,
/// for a new tree), then what it would make, adopt, write and recover on the way.
fn dry_run_text(go_version: &str, plan: &str, preview: &Preview, config: &InstallConfig) -> String {
    let go = config.prefix.goroot();
    let mut text = match preview.action {
        InstallAction::None => {
            return format!(
                "would do nothing: {go_version} is already installed and active at {} (pass --force to reinstall it)",
                go.display()
            )
        }
        InstallAction::Activated => format!(
            "would activate the installed {go_version} ({}) at {}\n  to undo:     {}",
            preview.tree.display(),
            go.display(),
            undo_advice(go_version, &config.prefix, preview)
        ),
        InstallAction::Installed | InstallAction::Reinstalled => format!("would install {plan}"),
    };
    if let Some(first) = preview.created_dirs.first() {
        text.push_str(&format!("\n  would make:  {} (the prefix)", first.display()));
    }
    match &preview.adoption {
        Some(Adoption { version, kept_as: Some(name) }) => text.push_str(&format!(
            "\n  would adopt: the plain {version} tree at {}, kept as {}",
            go.display(),
            config.prefix.join(name).display()
        )),
        Some(Adoption { version, kept_as: None }) => text.push_str(&format!(
            "\n  would adopt: the plain {version} tree at {}, replaced by the new one",
            go.display()
        )),
        None => {}
    }
    if let Some(i) = &preview.interrupted {
        text.push_str(&format!(
            "\n  first:       an interrupted {} of {} (phase {}) would be finished or undone (see --recover); this plan is of the prefix as it is now",
            i.action.name(),
            i.go_version,
            i.phase.name()
        ));
    }
    text
}

/// Installs a module bundle into `PREFIX/go-modules`.
fn install_modules(job: Job) -> Result<Outcome, Error> {
    let Job { cli, mode, installer, file, prefix, scope, phases } = job;
    let count = installer.manifest().modules.as_ref().map_or(0, Vec::len);
    let dir = prefix.join(MODULES_DIR);
    let mut plan = format!(
        "{count} Go module versions\n  destination: {} (merged with the modules there)\n  signed by:   {} ({})\n  environment: {}",
        dir.display(),
        installer.signer().id,
        installer.signer().origin,
        environment(
            scope.as_ref(),
            Purpose::Modules { proxy_dir: &dir, sumdb: installer.manifest().sumdb.as_ref().map(|d| d.key.as_str()) }
        )
    );
    if mode.action == Action::DryRun {
        // The install's own decisions first, so that the dry run ends as the install would.
        let added = engine::modules_dry_run(installer, &prefix, cli.wait)?;
        plan.push_str(&format!("\n  new here:    {} of them", added.len()));
    }
    if let Some(o) = before_install(cli, mode, installer, dir, &plan)? {
        return Ok(o);
    }
    let config = ModulesConfig { prefix, env: scope, wait: cli.wait, log: host_log(cli) };
    engine::install_modules(installer, file, &config, &shown(phases))
}

/// The dry run's outcome; or, for an install, the confirmation (unless `--yes`) and the line
/// saying what is being installed.
fn before_install(
    cli: &Cli,
    mode: &Mode,
    installer: &VerifiedInstaller,
    destination: PathBuf,
    plan: &str,
) -> Result<Option<Outcome>, Error> {
    if mode.action == Action::DryRun {
        let mut report = InstallerReport::of(installer, Some(destination));
        report.plan = Some(format!("would install {plan}"));
        return Ok(Some(Outcome::new(Action::DryRun, false, Report::Installer(report))));
    }
    if !cli.yes {
        prompt::confirm(&format!("About to install {plan}"))?;
    }
    say(cli, &format!("installing {plan}"));
    Ok(None)
}

/// The version a user means, or "not installed" (exit 22) for what is not a Go version.
fn version_arg(cli: &Cli, v: &str) -> Result<String, Error> {
    parse_version_arg(v).ok_or_else(|| Error::NotInstalled {
        version: format!("'{v}' (not a Go version: use 1.27.3, go1.27.3 or go-1.27.3)"),
        prefix: prefix_of(cli).map(|p| p.path().to_path_buf()).unwrap_or_default(),
        installed: "see `status`".into(),
    })
}

/// Where the host log goes (`--log`, `--no-log`, `GO_OFFLINE_LOG`, else the OS default).
fn host_log(cli: &Cli) -> Option<PathBuf> {
    cli.host_log(std::env::var_os(LOG_ENV).as_deref(), os::host_log_path(os::host()))
}

fn context(cli: &Cli) -> Result<Context, Error> {
    // With no --prefix, `status` of an empty default prefix points at installations elsewhere:
    // where the environment an install writes (whatever --no-modify-path) and `go` on PATH lead.
    let elsewhere = cli
        .prefix
        .is_none()
        .then(|| Elsewhere { scope: environment_scope(cli, false).ok().flatten(), path_var: os::host().path.clone() });
    Ok(Context { prefix: prefix_of(cli)?, wait: cli.wait, log: host_log(cli), check_runner: check_runner(), elsewhere })
}

/// The prefix and environment scope from the flags, the user id and HOME.
fn destination(cli: &Cli) -> Result<(Prefix, Option<Scope>), Error> {
    Ok((prefix_of(cli)?, environment_scope(cli, cli.no_modify_path)?))
}

/// Where an install's environment goes (`None`: `--no-modify-path`, `no_modify_path` here).
fn environment_scope(cli: &Cli, no_modify_path: bool) -> Result<Option<Scope>, Error> {
    if no_modify_path {
        return Ok(None);
    }
    match os::environment_scope(os::host(), cli.system) {
        Some(scope) => Ok(Some(scope)),
        None => Err(no_home()),
    }
}

/// The prefix: `--prefix`, else the OS default (/usr/local for root, $HOME/.local for a user).
fn prefix_of(cli: &Cli) -> Result<Prefix, Error> {
    let dir = match &cli.prefix {
        Some(p) => std::path::absolute(p).unwrap_or_else(|_| p.clone()),
        None => os::default_prefix(os::host()).ok_or_else(no_home)?,
    };
    Ok(Prefix::new(dir))
}

/// Where a user's prefix and environment go without a home.
fn no_home() -> Error {
    let var = os::HOME_VAR;
    Error::Destination {
        path: PathBuf::from(format!("${var}")),
        problem: format!("is not set: set {var}, or pass --prefix and --no-modify-path"),
        remedy: None,
    }
}

fn check_runner() -> Vec<String> {
    std::env::var(CHECK_RUNNER_ENV).map(|s| s.split_whitespace().map(str::to_string).collect()).unwrap_or_default()
}
