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
    /// A read or write that failed; `hint`, when not empty, is the cause and its fix, said in
    /// place of the error's own text.
    #[error("could not {action} '{path}': {}", io_reason(.source, .hint))]
    Io { action: &'static str, path: PathBuf, source: std::io::Error, hint: &'static str },
    #[error("not enough space in '{path}': the new Go needs {need}, {have} is free (the previous Go stays until the new one is in place, so both must fit); free space or choose another --prefix")]
    NoSpace { path: PathBuf, need: String, have: String },
    #[error("{installed} is active, which is newer than {new}: nothing was changed (pass --allow-downgrade to install and activate it)")]
    Downgrade { installed: String, new: String },
    #[error("{version} is not installed in '{prefix}' (installed: {installed}); install it first, or name an installed version")]
    NotInstalled { version: String, prefix: PathBuf, installed: String },
    #[error("nothing to roll back to in '{prefix}': no previous version is recorded (installed: {installed}); switch with `use VERSION`")]
    NoPrevious { prefix: PathBuf, installed: String },
    #[error("{count} installed file(s) differ from their receipt (each is listed); {fix}")]
    Drift { count: usize, fix: String },
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
    #[error("could not write the shell environment: {0}; nothing was changed{fix}", fix = env_fix(.0))]
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
            // No permission, or a read-only file system: the destination is unusable (14), as
            // documented; a full disk or any other failed write is 15.
            Error::Io { source, .. } if is_unusable_destination(source) => exit::DESTINATION,
            Error::Io { .. } | Error::NoSpace { .. } => exit::IO,
            Error::Downgrade { .. } => exit::DOWNGRADE,
            Error::NotInstalled { .. } | Error::NoPrevious { .. } => exit::NOT_INSTALLED,
            Error::Drift { .. } => exit::DRIFT,
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
            Error::Io { source, .. } if is_unusable_destination(source) => "destination",
            Error::Io { .. } => "io",
            Error::NoSpace { .. } => "no-space",
            Error::Downgrade { .. } => "downgrade",
            Error::NotInstalled { .. } => "not-installed",
            Error::NoPrevious { .. } => "no-previous",
            Error::Drift { .. } => "drift",
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

    /// An I/O error on a path. For the common causes the message is the cause and its fix
    /// (see [`Error::Io`]'s text), not the error's own text, which another crate may have
    /// wrapped with a path of its own (tempfile's "… at path '…/.go-offline-tmp.…'").
    pub fn io(action: &'static str, path: impl Into<PathBuf>, source: std::io::Error) -> Error {
        // By kind, not raw errno: errors wrapped by other crates (tempfile) keep only the kind.
        let hint = match source.kind() {
            std::io::ErrorKind::StorageFull | std::io::ErrorKind::QuotaExceeded => {
                "the disk is full: free space and run again"
            }
            std::io::ErrorKind::PermissionDenied => "permission denied: run as root or choose another --prefix",
            std::io::ErrorKind::ReadOnlyFilesystem => "read-only file system: choose another --prefix",
            _ => "",
        };
        Error::Io { action, path: path.into(), source, hint }
    }
}

/// What [`Error::Io`] says after the path: the hint when there is one, else the error itself.
fn io_reason(source: &std::io::Error, hint: &str) -> String {
    if hint.is_empty() {
        source.to_string()
    } else {
        hint.to_string()
    }
}

/// Whether a failed write says the destination cannot be written at all (no permission, a
/// read-only file system) rather than that the write itself failed (a full disk, an I/O error).
fn is_unusable_destination(e: &std::io::Error) -> bool {
    matches!(e.kind(), std::io::ErrorKind::PermissionDenied | std::io::ErrorKind::ReadOnlyFilesystem)
}

impl From<format::keys::KeyError> for Error {
    fn from(e: format::keys::KeyError) -> Error {
        Error::Format(e.into())
    }
}

/// What to do when the environment cannot be written.
fn env_fix(e: &EnvError) -> String {
    match e {
        EnvError::OtherPrefix { other, .. } => format!(
            ": pass --no-modify-path to install without it, or uninstall that one first (`go-offline-installer uninstall --all --prefix {}`) and run this installer again",
            other.display()
        ),
        EnvError::Io { .. } | EnvError::Corrupt { .. } => " (re-run with --no-modify-path to skip it)".into(),
    }
}

/// Why the environment could not be read, written or restored (see `env.rs`).
#[derive(Debug, thiserror::Error)]
pub enum EnvError {
    #[error("cannot {action} '{}': {source}", path.display())]
    Io { action: &'static str, path: PathBuf, source: std::io::Error },
    #[error("journal entry for '{}' is corrupt: {problem}", path.display())]
    Corrupt { path: PathBuf, problem: String },
    /// One script serves every prefix (`/etc/profile.d/go.sh`, `~/.config/go-offline/env`), and
    /// only one `go` can come first on PATH: another prefix's is never taken over silently.
    #[error(
        "'{}' puts the installation in another prefix, '{}', on PATH, and only one can come first",
        path.display(),
        other.display()
    )]
    OtherPrefix { path: PathBuf, other: PathBuf },
}

#[cfg(test)]
mod tests {
    use std::io::{Error as IoError, ErrorKind};

    use super::*;

    /// No permission and a read-only file system are an unusable destination (14), a full disk or
    /// any other failed write is 15; the message names the path once, then the cause and the fix.
    #[test]
    fn io_errors_map_to_the_documented_codes() {
        // tempfile wraps the OS error with its own temporary file's path.
        let wrapped =
            |kind: ErrorKind, text: &str| IoError::new(kind, format!("{text} at path \"/p/.go-offline-tmp.x1\""));
        let cases: Vec<(&str, IoError, i32, &str, &str)> = vec![
            (
                "no permission, wrapped by tempfile",
                wrapped(ErrorKind::PermissionDenied, "Permission denied (os error 13)"),
                exit::DESTINATION,
                "destination",
                "could not write '/p/.go-offline-journal': permission denied: run as root or choose another --prefix",
            ),
            (
                "no permission",
                IoError::from_raw_os_error(13),
                exit::DESTINATION,
                "destination",
                "could not write '/p/.go-offline-journal': permission denied: run as root or choose another --prefix",
            ),
            (
                "read-only file system",
                IoError::from_raw_os_error(30),
                exit::DESTINATION,
                "destination",
                "could not write '/p/.go-offline-journal': read-only file system: choose another --prefix",
            ),
            (
                "disk full",
                IoError::from_raw_os_error(28),
                exit::IO,
                "io",
                "could not write '/p/.go-offline-journal': the disk is full: free space and run again",
            ),
            (
                "quota exceeded",
                IoError::from_raw_os_error(122),
                exit::IO,
                "io",
                "could not write '/p/.go-offline-journal': the disk is full: free space and run again",
            ),
            (
                "an I/O error",
                IoError::from_raw_os_error(5),
                exit::IO,
                "io",
                "could not write '/p/.go-offline-journal': Input/output error (os error 5)",
            ),
        ];
        for (name, source, code, kind, message) in cases {
            let e = Error::io("write", "/p/.go-offline-journal", source);
            assert_eq!((e.exit_code(), e.kind()), (code, kind), "{name}");
            assert_eq!(e.to_string(), message, "{name}");
        }
    }
}
