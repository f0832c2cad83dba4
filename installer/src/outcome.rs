//! What every command returns: one serializable outcome (the action, whether it changed the
//! machine, warnings, and the command's own report), from which the binary derives both its
//! human text and its one `--json` object. The engine never prints.

use std::path::PathBuf;

use format::{manifest::Entry, verify::VerifiedInstaller};
use serde::Serialize;

use crate::{
    error::{Error, Repair, Warning},
    journal::Recovery,
    receipt::{EnvRecord, Origin},
    tree::Difference,
};

/// The command that ran, as `--json` names it in `action`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Action {
    Install,
    InstallModules,
    Check,
    Info,
    List,
    DryRun,
    Recover,
    Status,
    Use,
    Rollback,
    Uninstall,
    VerifyInstalled,
}

impl Action {
    pub fn name(self) -> &'static str {
        match self {
            Action::Install => "install",
            Action::InstallModules => "install-modules",
            Action::Check => "check",
            Action::Info => "info",
            Action::List => "list",
            Action::DryRun => "dry-run",
            Action::Recover => "recover",
            Action::Status => "status",
            Action::Use => "use",
            Action::Rollback => "rollback",
            Action::Uninstall => "uninstall",
            Action::VerifyInstalled => "verify-installed",
        }
    }
}

/// The result of one command.
#[derive(Debug, Clone)]
pub struct Outcome {
    pub action: Action,
    /// Whether the machine was changed.
    pub changed: bool,
    /// What went wrong without failing the command (a host log that could not be written, a
    /// commit left for the next run to finish).
    pub warnings: Vec<Warning>,
    pub report: Report,
}

impl Outcome {
    pub fn new(action: Action, changed: bool, report: Report) -> Outcome {
        Outcome { action, changed, warnings: Vec::new(), report }
    }

    /// The same outcome, with these warnings.
    pub fn with_warnings(self, warnings: Vec<Warning>) -> Outcome {
        Outcome { warnings, ..self }
    }

    /// The failure the command found without being stopped by it: `verify-installed`'s drift.
    /// The binary exits with its code.
    pub fn failure(&self) -> Option<Error> {
        match &self.report {
            Report::Verify(r) if !r.ok => Some(Error::Drift { count: r.drift(), repairs: r.repairs() }),
            _ => None,
        }
    }
}

/// Each command's own report; its fields are the command's fields in `--json`.
#[derive(Debug, Clone, Serialize)]
#[serde(untagged)]
pub enum Report {
    /// `install`, `--check`, `--dry-run` of a Go installer, and the common part of a bundle's.
    Installer(InstallerReport),
    Modules(ModulesReport),
    Info(Info),
    List(FileList),
    Recover(RecoverReport),
    Status(Status),
    Switch(SwitchReport),
    Uninstall(UninstallReport),
    Verify(VerifyReport),
}

/// What an installer carries, as every result about it names it.
#[derive(Debug, Clone, Serialize)]
pub struct Carried {
    pub go_version: String,
    pub goos: String,
    pub goarch: String,
    pub target: String,
    pub signer_key_id: String,
    pub installer_sha256: String,
    /// Entries in the manifest.
    pub files: u64,
    /// A delta installer: what it applies to and carries.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub delta: Option<format::delta::Summary>,
    /// For messages: what it carries and who signed it (not in `--json`).
    #[serde(skip)]
    pub title: String,
    #[serde(skip)]
    pub signer_origin: String,
}

impl Carried {
    pub fn of(installer: &VerifiedInstaller) -> Carried {
        let m = installer.manifest();
        Carried {
            go_version: m.go_version.clone(),
            goos: m.goos.clone(),
            goarch: m.goarch.clone(),
            target: m.target.clone(),
            signer_key_id: installer.signer().id.clone(),
            installer_sha256: installer.file_sha256().to_string(),
            files: m.file_count,
            delta: m.delta.as_ref().map(|d| d.summary()),
            title: m.title(),
            signer_origin: installer.signer().origin.clone(),
        }
    }
}

/// What an install did (or, for `--check` and `--dry-run`, would do: the install fields empty).
#[derive(Debug, Clone, Serialize)]
pub struct InstallerReport {
    #[serde(flatten)]
    pub carried: Carried,
    /// `PREFIX/go`, the active version's link (the module directory for a bundle's dry run).
    pub goroot: Option<PathBuf>,
    /// `PREFIX/go-VERSION`, the tree.
    pub tree: Option<PathBuf>,
    pub install_action: Option<InstallAction>,
    /// The active version afterwards.
    pub active_version: Option<String>,
    /// Id of the receipt (and host log line) of this install.
    pub receipt_id: Option<String>,
    /// A plain `PREFIX/go` tree that was kept under this versioned name.
    pub adopted: Option<String>,
    /// What the hello-world program printed (`None` when the build check was skipped).
    pub build_check: Option<String>,
    /// The version that was active before, if any.
    pub previous_version: Option<String>,
    /// Files of the shell environment that were written.
    pub env_files: Vec<PathBuf>,
    /// Entries of the replaced tree that the release does not list, moved aside (where they are
    /// now, under the prefix: `go-1.27.3.kept/notes.txt`).
    pub kept: Vec<String>,
    /// An interrupted earlier command that was finished or undone first.
    pub recovered: Option<Recovery>,
    /// Output of the installed `go version` (not in `--json`).
    #[serde(skip)]
    pub go_version_output: String,
    /// What would be done, for `--dry-run`'s text (not in `--json`).
    #[serde(skip)]
    pub plan: Option<String>,
}

impl InstallerReport {
    /// A report about the installer alone (`--check`, `--dry-run`).
    pub fn of(installer: &VerifiedInstaller, goroot: Option<PathBuf>) -> InstallerReport {
        InstallerReport {
            carried: Carried::of(installer),
            goroot,
            tree: None,
            install_action: None,
            active_version: None,
            receipt_id: None,
            adopted: None,
            build_check: None,
            previous_version: None,
            env_files: Vec::new(),
            kept: Vec::new(),
            recovered: None,
            go_version_output: String::new(),
            plan: None,
        }
    }
}

/// What an install did to the version it carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum InstallAction {
    /// A new tree, now active.
    Installed,
    /// The tree of the same version replaced (`--force`, a drifted tree, an adopted plain one).
    Reinstalled,
    /// It was installed but not active: now it is.
    Activated,
    /// It was installed and active: nothing done.
    None,
}

impl InstallAction {
    pub fn name(self) -> &'static str {
        match self {
            InstallAction::Installed => "installed",
            InstallAction::Reinstalled => "reinstalled",
            InstallAction::Activated => "activated",
            InstallAction::None => "none",
        }
    }
}

/// `--info`.
#[derive(Debug, Clone, Serialize)]
pub struct Info {
    #[serde(flatten)]
    pub carried: Carried,
    pub signer_trusted_by: String,
    pub installer_len: u64,
    pub stub_len: u64,
    pub payload_len: u64,
    pub uncompressed_len: u64,
    pub dirs: u64,
    pub symlinks: u64,
    pub source: format::manifest::Source,
    pub go_env: std::collections::BTreeMap<String, String>,
    pub created: u64,
    /// A module bundle's checksum database.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sumdb: Option<format::manifest::ChecksumDb>,
    #[serde(skip)]
    pub source_summary: String,
    #[serde(skip)]
    pub go_env_summary: String,
}

impl Info {
    pub fn of(installer: &VerifiedInstaller) -> Info {
        let m = installer.manifest();
        let (files, dirs, symlinks) = m.counts();
        let mut carried = Carried::of(installer);
        carried.files = files; // `--info` counts regular files only, as it always has
        Info {
            carried,
            signer_trusted_by: installer.signer().origin.clone(),
            installer_len: installer.layout().file_len(),
            stub_len: m.stub.len,
            payload_len: m.payload.len,
            uncompressed_len: m.payload.uncompressed_len,
            dirs,
            symlinks,
            source: m.source.clone(),
            go_env: m.go_env.clone(),
            created: m.created,
            sumdb: m.sumdb.clone(),
            source_summary: m.source_summary(),
            go_env_summary: m.go_env_summary(),
        }
    }
}

/// `--list`: every entry the installer carries.
#[derive(Debug, Clone, Serialize)]
pub struct FileList {
    #[serde(rename = "entries")]
    pub files: Vec<Entry>,
}

/// `--recover`.
#[derive(Debug, Clone, Serialize)]
pub struct RecoverReport {
    pub prefix: PathBuf,
    pub recovered: Option<Recovery>,
}

/// One installed version, for `status`.
#[derive(Debug, Clone, Serialize)]
pub struct VersionStatus {
    pub go_version: String,
    pub tree: PathBuf,
    pub active: bool,
    pub origin: Origin,
    pub platform: String,
    pub installed_at: String,
    pub installed_by: String,
    pub signer_key_id: Option<String>,
    pub installer_sha256: Option<String>,
    pub receipt_id: String,
    pub files: usize,
}

/// The prefix at a glance.
#[derive(Debug, Clone, Serialize)]
pub struct Status {
    pub prefix: PathBuf,
    #[serde(rename = "active_version")]
    pub active: Option<String>,
    #[serde(rename = "previous_version")]
    pub previous: Option<String>,
    pub rolled_back: bool,
    pub versions: Vec<VersionStatus>,
    /// Go trees in the prefix that no receipt describes (a plain `go/`, or one unpacked by hand).
    pub unmanaged: Vec<PathBuf>,
    /// Directories of a user's files that are no release's: what `uninstall` left at a version's
    /// name, and what an install moved out of a tree it replaced (`go-1.27.3.kept`).
    pub kept: Vec<KeptDir>,
    /// An interrupted command waits for recovery (the next command, or `--recover`, does it).
    pub interrupted: Option<String>,
    pub env: Vec<EnvRecord>,
    /// The names under `PREFIX/bin` a go.mod can select (`GOTOOLCHAIN=local+path`), each with
    /// the version that answers it (toolchains.rs).
    pub toolchains: Vec<ToolchainStatus>,
    /// When nothing is installed here and no prefix was named: the other prefixes where this
    /// installer's environment or `go` on PATH point to an installation (`--prefix P` reaches it).
    pub found_elsewhere: Vec<PathBuf>,
    /// The module directory, when a bundle was installed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub modules: Option<ModulesStatus>,
}

/// `PREFIX/go-modules` at a glance.
#[derive(Debug, Clone, Serialize)]
pub struct ModulesStatus {
    pub dir: PathBuf,
    /// Module versions, and bundles installed.
    pub modules: usize,
    pub bundles: usize,
    /// Its checksum database: `GOSUMDB`'s key and the tree installed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sumdb: Option<format::manifest::ChecksumDb>,
}

/// A directory of a user's files this installer kept.
#[derive(Debug, Clone, Serialize)]
pub struct KeptDir {
    pub path: PathBuf,
    /// The version whose name it has (`go1.27.3`).
    pub go_version: String,
    /// The files in it (not directories), relative to it.
    pub files: Vec<String>,
}

/// One name under `PREFIX/bin` a go.mod can select.
#[derive(Debug, Clone, Serialize)]
pub struct ToolchainStatus {
    /// `go1.27.3`: what the go command looks for on PATH.
    pub name: String,
    pub path: PathBuf,
    /// The installed version that runs for it.
    pub go_version: String,
    /// A link to that version (its own name), or a shim (a lower patch release of it).
    pub shim: bool,
}

/// What `use` or `rollback` did.
#[derive(Debug, Clone, Serialize)]
pub struct SwitchReport {
    pub prefix: PathBuf,
    #[serde(skip)]
    pub changed: bool,
    /// The active version afterwards.
    #[serde(rename = "active_version")]
    pub go_version: String,
    /// The version active before.
    #[serde(rename = "previous_version")]
    pub previous: Option<String>,
    /// Id of the host log line, when a switch was logged.
    #[serde(rename = "log_id")]
    pub id: Option<String>,
    pub go_version_output: String,
    pub recovered: Option<Recovery>,
    #[serde(skip)]
    pub warnings: Vec<Warning>,
}

/// What `uninstall` did.
#[derive(Debug, Clone, Serialize)]
pub struct UninstallReport {
    pub prefix: PathBuf,
    /// Versions removed.
    pub removed: Vec<String>,
    /// The active version afterwards.
    #[serde(rename = "active_version")]
    pub active: Option<String>,
    /// Environment files changed or removed.
    pub env_files: Vec<PathBuf>,
    /// What was left because no receipt listed it, or the user changed it.
    pub kept: Vec<String>,
    pub recovered: Option<Recovery>,
    /// What was asked to be removed, for messages.
    #[serde(skip)]
    pub target: String,
}

/// The check of one version.
#[derive(Debug, Clone, Serialize)]
pub struct TreeCheck {
    pub go_version: String,
    pub tree: PathBuf,
    pub files: usize,
    pub ok: bool,
    pub differences: Vec<Difference>,
    /// What puts it right, for the advice (not a field of `--json`).
    #[serde(skip)]
    pub fix: TreeFix,
}

/// What puts a drifted tree right.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TreeFix {
    /// Installing its version again (`installer`: the file its receipt names; `active`: whether
    /// it is the active version, which an install of an inactive one changes).
    Reinstall { installer: Option<PathBuf>, active: bool },
    /// The module directory: a bundle installed again keeps the files there, and refuses a
    /// changed one (exit 25).
    Modules,
}

/// What `verify-installed` found.
#[derive(Debug, Clone, Serialize)]
pub struct VerifyReport {
    pub prefix: PathBuf,
    /// Not in the command's fields: the envelope's `ok` says it.
    #[serde(skip)]
    pub ok: bool,
    pub versions: Vec<TreeCheck>,
    /// The `go` link and the environment files.
    pub other: Vec<Difference>,
}

impl VerifyReport {
    pub fn drift(&self) -> usize {
        self.versions.iter().map(|v| v.differences.len()).sum::<usize>() + self.other.len()
    }

    /// What puts the differences right, as the installer then does it: installing a drifted
    /// version again replaces its tree with the signed one, and installing the active one again
    /// also writes its environment and toolchain links again (see `install::policy`).
    pub fn repairs(&self) -> Vec<Repair> {
        let installer_of = |t: &TreeCheck| match &t.fix {
            TreeFix::Reinstall { installer, .. } => installer.clone(),
            TreeFix::Modules => None,
        };
        let is_active = |t: &&TreeCheck| matches!(t.fix, TreeFix::Reinstall { active: true, .. });
        let mut repairs = Vec::new();
        for t in self.versions.iter().filter(|t| !t.ok) {
            repairs.push(match &t.fix {
                TreeFix::Modules => Repair::NotByBundle { dir: t.go_version.clone() },
                TreeFix::Reinstall { active, .. } => Repair::Reinstall {
                    go_version: t.go_version.clone(),
                    installer: installer_of(t),
                    extra: t
                        .differences
                        .iter()
                        .filter(|d| d.problems == [crate::tree::Problem::Extra])
                        .map(|d| d.path.clone())
                        .collect(),
                    activates: !active,
                },
            });
        }
        let link = |d: &Difference| d.path == crate::prefix::LINK;
        if self.other.iter().any(link) {
            repairs.push(Repair::Link);
        }
        if self.other.iter().any(|d| !link(d)) {
            repairs.push(match self.versions.iter().find(is_active) {
                Some(t) if t.ok => {
                    Repair::Environment { go_version: Some(t.go_version.clone()), installer: installer_of(t) }
                }
                Some(_) => Repair::AlsoEnvironment,
                None => Repair::Environment { go_version: None, installer: None },
            });
        }
        repairs
    }
}

/// What a module bundle's install did: an install's result (with no Go version, tree or link), the
/// environment files it wrote in `env_files`, and the module directory's own fields.
#[derive(Debug, Clone, Serialize)]
pub struct ModulesReport {
    #[serde(flatten)]
    pub installer: InstallerReport,
    #[serde(rename = "modules_dir")]
    pub dir: PathBuf,
    /// `path@version` of the module versions this bundle added.
    #[serde(rename = "modules_added")]
    pub added: Vec<String>,
    /// Module versions installed in all.
    #[serde(rename = "modules_total")]
    pub total: usize,
}
