//! The engine's errors. Each variant maps to a documented exit code ([`format::exit`]) and a
//! stable `kind` for `--json`; the verification errors of the file itself come from
//! [`format::Error`] and keep its codes.

use std::path::PathBuf;

use format::exit;

/// Everything that can stop the installer.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The file is not a good installer (or could not be read).
    #[error(transparent)]
    Format(#[from] format::Error),
    #[error("destination '{path}' {problem}")]
    Destination { path: PathBuf, problem: String },
    #[error("could not {action} '{path}': {source}{hint}")]
    Io { action: &'static str, path: PathBuf, source: std::io::Error, hint: &'static str },
    #[error("not enough space in '{path}': the new Go needs {need}, {have} is free (the previous Go stays until the new one is in place, so both must fit); free space or choose another --prefix")]
    NoSpace { path: PathBuf, need: String, have: String },
    #[error("{installed} is active, which is newer than {new}: nothing was changed (pass --allow-downgrade to install and activate it)")]
    Downgrade { installed: String, new: String },
    #[error("{version} is not installed in '{prefix}' (installed: {installed}); install it first, or name an installed version")]
    NotInstalled { version: String, prefix: PathBuf, installed: String },
    #[error("nothing to roll back to in '{prefix}': no previous version is recorded (installed: {installed}); switch with `use VERSION`")]
    NoPrevious { prefix: PathBuf, installed: String },
    #[error("{0} installed file(s) differ from their receipt (each is listed); installing that version again replaces its tree with the signed one")]
    Drift(usize),
    #[error("{version} is the active version: switch to another first (`use VERSION`; installed: {others}), or remove everything with `uninstall --all`")]
    InUse { version: String, others: String },
    #[error("module {module}: {problem}; module versions never change, so one of the two bundles was built from a corrupt cache: nothing was changed (check both with `verify-installed` and the bundle's publisher)")]
    ModuleConflict { module: String, problem: String },
    /// A delta installer that cannot be applied here: the full installer is needed.
    #[error("{installer} is a delta installer from {base} to {go_version}, and {problem}; nothing was changed: install with the full installer {full} instead")]
    NoBase { installer: String, base: String, go_version: String, problem: String, full: String },
    #[error("installed Go failed its check: {0}; the previous state was restored")]
    CheckFailed(String),
    #[error(
        "another go-offline-installer is installing into '{0}'; wait for it to finish and run again (or pass --wait)"
    )]
    Busy(PathBuf),
    #[error("{0}")]
    Declined(String),
    #[error(
        "could not write the shell environment: {0}; nothing was changed (re-run with --no-modify-path to skip it)"
    )]
    Environment(EnvError),
    #[error("could not restore the shell environment: {0}")]
    Restore(EnvError),
    #[error("{error}; then undoing the install failed too ({undo}); {advice}")]
    RollbackFailed { error: Box<Error>, undo: Box<Error>, advice: String },
}

impl Error {
    /// The exit code documented for this error.
    pub fn exit_code(&self) -> i32 {
        match self {
            Error::Format(e) => e.exit_code(),
            Error::Destination { .. } => exit::DESTINATION,
            Error::Io { .. } | Error::NoSpace { .. } => exit::IO,
            Error::Downgrade { .. } => exit::DOWNGRADE,
            Error::NotInstalled { .. } | Error::NoPrevious { .. } => exit::NOT_INSTALLED,
            Error::Drift(_) => exit::DRIFT,
            Error::InUse { .. } => exit::IN_USE,
            Error::ModuleConflict { .. } => exit::MODULE_CONFLICT,
            Error::NoBase { .. } => exit::NO_BASE,
            Error::CheckFailed(_) => exit::CHECK_FAILED,
            Error::Busy(_) => exit::BUSY,
            Error::Declined(_) => exit::DECLINED,
            Error::Environment(_) | Error::Restore(_) => exit::ENVIRONMENT,
            Error::RollbackFailed { .. } => exit::ROLLBACK_FAILED,
        }
    }

    /// A short stable name for the error class, used in `--json` output.
    pub fn kind(&self) -> &'static str {
        match self {
            Error::Format(e) => e.kind(),
            Error::Io { .. } => "io",
            Error::NoSpace { .. } => "no-space",
            Error::Downgrade { .. } => "downgrade",
            Error::NotInstalled { .. } => "not-installed",
            Error::NoPrevious { .. } => "no-previous",
            Error::Drift(_) => "drift",
            Error::InUse { .. } => "in-use",
            Error::ModuleConflict { .. } => "module-conflict",
            Error::NoBase { .. } => "no-base",
            Error::Destination { .. } => "destination",
            Error::CheckFailed(_) => "check-failed",
            Error::Busy(_) => "busy",
            Error::Declined(_) => "declined",
            Error::Environment(_) | Error::Restore(_) => "environment",
            Error::RollbackFailed { .. } => "rollback-failed",
        }
    }

    /// An I/O error on a path, with a hint for the common causes.
    pub fn io(action: &'static str, path: impl Into<PathBuf>, source: std::io::Error) -> Error {
        // By kind, not raw errno: errors wrapped by other crates (tempfile) keep only the kind.
        let hint = match source.kind() {
            std::io::ErrorKind::StorageFull | std::io::ErrorKind::QuotaExceeded => {
                " (the disk is full: free space and run again)"
            }
            std::io::ErrorKind::PermissionDenied => " (permission denied: run as root or choose another --prefix)",
            std::io::ErrorKind::ReadOnlyFilesystem => " (read-only file system: choose another --prefix)",
            _ => "",
        };
        Error::Io { action, path: path.into(), source, hint }
    }
}

impl From<format::keys::KeyError> for Error {
    fn from(e: format::keys::KeyError) -> Error {
        Error::Format(e.into())
    }
}

/// Why the environment could not be read, written or restored (see `env.rs`).
#[derive(Debug, thiserror::Error)]
pub enum EnvError {
    #[error("cannot {action} '{}': {source}", path.display())]
    Io { action: &'static str, path: PathBuf, source: std::io::Error },
    #[error("journal entry for '{}' is corrupt: {problem}", path.display())]
    Corrupt { path: PathBuf, problem: String },
}
