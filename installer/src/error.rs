//! The engine's errors. Each variant maps to a documented exit code ([`format::exit`]) and a
//! stable `kind` for `--json`; the verification errors of the file itself come from
//! [`format::Error`] and keep its codes.
//!
//! An error says what happened; what the user can do about it, when that is a flag or a command
//! of the command line, is a [`Remedy`] (see [`Error::remedy`]), which the binary puts in its own
//! words after the error's text. **The engine names no flag and no command**: it does not know
//! the command line it is called from.

use std::path::PathBuf;

use format::exit;

/// Everything that can stop the installer.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The file is not a good installer (or could not be read).
    #[error(transparent)]
    Format(#[from] format::Error),
    /// `remedy`: what to do about it, said after the problem.
    #[error("destination '{path}' {problem}")]
    Destination { path: PathBuf, problem: String, remedy: Option<Remedy> },
    /// A read or write that failed; `hint`, when not empty, is the cause, said in place of the
    /// error's own text (its fix, for the common causes, is [`Error::remedy`]'s).
    #[error("could not {action} '{path}': {}", io_reason(.source, .hint))]
    Io { action: &'static str, path: PathBuf, source: std::io::Error, hint: &'static str },
    #[error("not enough space in '{path}': the new Go needs {need}, {have} is free (the previous Go stays until the new one is in place, so both must fit)")]
    NoSpace { path: PathBuf, need: String, have: String },
    #[error("{installed} is active, which is newer than {new}: nothing was changed")]
    Downgrade { installed: String, new: String },
    #[error("{version} is not installed in '{prefix}' (installed: {installed}); install it first, or name an installed version")]
    NotInstalled { version: String, prefix: PathBuf, installed: String },
    #[error("nothing to roll back to in '{prefix}': no previous version is recorded (installed: {installed})")]
    NoPrevious { prefix: PathBuf, installed: String },
    /// `repairs`: what puts the differences right ([`Remedy::Repair`]).
    #[error("{count} installed file(s) differ from their receipt (each is listed)")]
    Drift { count: usize, repairs: Vec<Repair> },
    /// The active version, which cannot be removed while `others` are installed.
    #[error("{version} is the active version")]
    InUse { version: String, others: String },
    #[error("module {module}: {problem}; module versions never change, so one of the two bundles was built from a corrupt cache: nothing was changed")]
    ModuleConflict { module: String, problem: String },
    /// A delta installer that cannot be applied here: the full installer is needed.
    #[error("{installer} is a delta installer from {base} to {go_version}, and {problem}; nothing was changed: install with the full installer {full} instead")]
    NoBase { installer: String, base: String, go_version: String, problem: Box<BaseProblem>, full: String },
    #[error("installed Go failed its check: {0}; the previous state was restored")]
    CheckFailed(String),
    #[error("another go-offline-installer is installing into '{0}'; wait for it to finish and run again")]
    Busy(PathBuf),
    #[error("{0}")]
    Declined(String),
    #[error("could not write the shell environment: {0}; nothing was changed")]
    Environment(EnvError),
    #[error("could not restore the shell environment: {0}")]
    Restore(EnvError),
    /// `left`: what the failed undo left, for the next run (or a recovery) to finish.
    #[error("{error}; then undoing the install failed too ({undo}); {left}")]
    RollbackFailed { error: Box<Error>, undo: Box<Error>, left: Left },
}

/// What the user can do about an error, when that is a flag or a command of the command line:
/// the binary words it (`stub/src/render.rs`), after the error's own text. Each variant is one
/// piece of advice; where two say the same in other words (or joined to the error's text by
/// other punctuation), they are two variants, so that every message stays as it was.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Remedy {
    /// The prefix cannot be used at all (it is not a directory): choose another prefix.
    OtherPrefix,
    /// Something this installer did not make is in the way: remove it, or choose another prefix.
    RemoveOrOtherPrefix,
    /// No permission to write there: run as root, or choose another prefix.
    RootOrOtherPrefix,
    /// A read-only file system: choose a prefix on another one.
    WritablePrefix,
    /// Not enough room: free space, or choose another prefix.
    FreeSpaceOrOtherPrefix,
    /// The link points to no tree: switch to an installed version, or remove the link.
    UseOrRemoveLink,
    /// A Go tree without a receipt where the new one goes: move it away, or replace it anyway.
    Force,
    /// An interrupted command is recorded: finish or undo it first.
    Recover,
    /// The active version is newer: install and activate this one anyway.
    AllowDowngrade,
    /// No previous version to roll back to: switch to a version by name.
    SwitchVersion,
    /// The active version cannot be removed while `others` (a list) are installed: switch to
    /// one of them first, or remove every version.
    SwitchFirst { others: String },
    /// Two bundles disagree about a module: check what is installed, and ask the publisher.
    VerifyInstalled,
    /// Another installer holds the prefix: wait for it.
    Wait,
    /// The environment script puts another prefix, `prefix`, on PATH: install without writing
    /// the environment, or uninstall everything from that prefix first.
    NoModifyPathOrUninstallAll { prefix: PathBuf },
    /// The environment cannot be written: install without writing it.
    NoModifyPath,
    /// Installed files differ from their receipts: what puts each right, in this order.
    Repair(Vec<Repair>),
}

/// One thing that puts drift right (what `verify-installed` found), as the installer then does
/// it: installing a drifted version again replaces its tree with the signed one, and installing
/// the active one again also writes its environment and toolchain links again (see
/// `install::policy`). The binary words it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Repair {
    /// Run the installer of `go_version` again (`installer`: the file its receipt names): it
    /// replaces that tree with the signed one, moving `extra` (entries the release does not
    /// have) beside it; `activates`: the version is not the active one, and becomes it.
    Reinstall { go_version: String, installer: Option<PathBuf>, extra: Vec<String>, activates: bool },
    /// `dir`, the module directory, is not repaired by installing a bundle again (the files
    /// there are kept, a changed one is refused with exit 25).
    NotByBundle { dir: String },
    /// Point the link at an installed version (removing it first if this installer did not
    /// make it).
    Link,
    /// Run the installer of the active version again, which writes the environment and the
    /// toolchain links again: that of `go_version` (`installer`, as its receipt says), or, with
    /// no version given, the active one's, whichever it is.
    Environment { go_version: Option<String>, installer: Option<PathBuf> },
    /// The reinstall of the active version, named before, also writes the environment and the
    /// toolchain links again.
    AlsoEnvironment,
}

/// Why a delta installer's base cannot be used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BaseProblem {
    /// Said as it is.
    Other(String),
    /// The base `base` installed at `dir` has changed since: `count` entries differ from its
    /// receipt, the first of them `first_path` (with its flags, as `verify-installed` lists them).
    Changed { base: String, dir: PathBuf, count: usize, first_path: String, first_flags: String },
}

impl std::fmt::Display for BaseProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            BaseProblem::Other(problem) => f.write_str(problem),
            BaseProblem::Changed { base, dir, count, first_path, first_flags } => write!(
                f,
                "the {base} installed at '{}' has changed since it was installed: {count} entr{} differ from its receipt (first: {first_path} {first_flags})",
                dir.display(),
                if *count == 1 { "y" } else { "ies" },
            ),
        }
    }
}

/// What an undo that failed leaves for the next run, or a recovery, to finish (the journal at
/// `journal` says where everything is).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Left {
    /// The previous Go is kept, untouched, at `kept`; the next run moves it back to `dest`.
    PreviousKept { kept: PathBuf, dest: PathBuf, journal: PathBuf },
    /// The Go tree at `dest` is as it was before; the journal stays.
    TreeAsBefore { dest: PathBuf, journal: PathBuf },
    /// The journal of a module bundle's install stays, recording where each module directory is.
    Modules { journal: PathBuf },
}

impl std::fmt::Display for Left {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Left::PreviousKept { kept, dest, journal } => write!(
                f,
                "the previous Go is kept, untouched, at '{}'; fix the cause and run the installer again, which moves it back to '{}' as recorded in '{}'",
                kept.display(),
                dest.display(),
                journal.display()
            ),
            Left::TreeAsBefore { dest, journal } => write!(
                f,
                "the Go tree at '{}' is as it was before; '{}' stays, and the next run finishes the undo once the cause is fixed",
                dest.display(),
                journal.display()
            ),
            Left::Modules { journal } => write!(
                f,
                "'{}' stays and records where each module directory is; fix the cause and run the installer again, which finishes the undo",
                journal.display()
            ),
        }
    }
}

/// What went wrong without stopping a command (a host log that could not be written, a commit
/// left for the next run to finish): `text`, then `remedy` (in the binary's words), then `then`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Warning {
    pub text: String,
    pub remedy: Option<Remedy>,
    pub then: &'static str,
}

impl Warning {
    /// A warning with nothing for the binary to word.
    pub fn note(text: String) -> Warning {
        Warning { text, remedy: None, then: "" }
    }

    /// `error`, after `before` and followed by `then`, with its remedy. (The errors the binary
    /// words whole, a failed undo and a changed delta base, stop a command: none is a warning.)
    pub fn of_error(before: &str, error: &Error, then: &'static str) -> Warning {
        Warning { text: format!("{before}{error}"), remedy: error.remedy(), then }
    }
}

impl std::fmt::Display for Warning {
    /// The warning without its remedy (the binary says it with it).
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}{}", self.text, self.then)
    }
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

    /// What the user can do about it, when that is a flag or a command (the binary words it,
    /// after the error's text).
    pub fn remedy(&self) -> Option<Remedy> {
        match self {
            Error::Destination { remedy, .. } => remedy.clone(),
            Error::Io { source, .. } => match source.kind() {
                std::io::ErrorKind::PermissionDenied => Some(Remedy::RootOrOtherPrefix),
                std::io::ErrorKind::ReadOnlyFilesystem => Some(Remedy::WritablePrefix),
                _ => None,
            },
            Error::NoSpace { .. } => Some(Remedy::FreeSpaceOrOtherPrefix),
            Error::Downgrade { .. } => Some(Remedy::AllowDowngrade),
            Error::NoPrevious { .. } => Some(Remedy::SwitchVersion),
            Error::Drift { repairs, .. } => Some(Remedy::Repair(repairs.clone())),
            Error::InUse { others, .. } => Some(Remedy::SwitchFirst { others: others.clone() }),
            Error::ModuleConflict { .. } => Some(Remedy::VerifyInstalled),
            Error::Busy(_) => Some(Remedy::Wait),
            Error::Environment(EnvError::OtherPrefix { other, .. }) => {
                Some(Remedy::NoModifyPathOrUninstallAll { prefix: other.clone() })
            }
            Error::Environment(EnvError::Io { .. } | EnvError::Corrupt { .. }) => Some(Remedy::NoModifyPath),
            // A changed delta base and a failed undo hold their advice inside (the binary words
            // them whole); the rest have none that is the command line's.
            Error::Format(_)
            | Error::NotInstalled { .. }
            | Error::NoBase { .. }
            | Error::CheckFailed(_)
            | Error::Declined(_)
            | Error::Restore(_)
            | Error::RollbackFailed { .. } => None,
        }
    }

    /// An I/O error on a path. For the common causes the message is the cause (and its fix, or
    /// [`Error::remedy`]'s), not the error's own text, which another crate may have
    /// wrapped with a path of its own (tempfile's "… at path '…/.go-offline-tmp.…'").
    pub fn io(action: &'static str, path: impl Into<PathBuf>, source: std::io::Error) -> Error {
        // By kind, not raw errno: errors wrapped by other crates (tempfile) keep only the kind.
        let hint = match source.kind() {
            std::io::ErrorKind::StorageFull | std::io::ErrorKind::QuotaExceeded => {
                "the disk is full: free space and run again"
            }
            std::io::ErrorKind::PermissionDenied => "permission denied",
            std::io::ErrorKind::ReadOnlyFilesystem => "read-only file system",
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
    /// any other failed write is 15; the message names the path once, then the cause, and the
    /// remedy is typed (the binary's words for it are tested in `stub/src/render.rs`).
    #[test]
    fn io_errors_map_to_the_documented_codes() {
        // tempfile wraps the OS error with its own temporary file's path.
        let wrapped =
            |kind: ErrorKind, text: &str| IoError::new(kind, format!("{text} at path \"/p/.go-offline-tmp.x1\""));
        // Name, error, exit code, kind, the engine's message, its remedy.
        type Case = (&'static str, IoError, i32, &'static str, &'static str, Option<Remedy>);
        let cases: Vec<Case> = vec![
            (
                "no permission, wrapped by tempfile",
                wrapped(ErrorKind::PermissionDenied, "Permission denied (os error 13)"),
                exit::DESTINATION,
                "destination",
                "could not write '/p/.go-offline-journal': permission denied",
                Some(Remedy::RootOrOtherPrefix),
            ),
            (
                "no permission",
                IoError::from_raw_os_error(13),
                exit::DESTINATION,
                "destination",
                "could not write '/p/.go-offline-journal': permission denied",
                Some(Remedy::RootOrOtherPrefix),
            ),
            (
                "read-only file system",
                IoError::from_raw_os_error(30),
                exit::DESTINATION,
                "destination",
                "could not write '/p/.go-offline-journal': read-only file system",
                Some(Remedy::WritablePrefix),
            ),
            (
                "disk full",
                IoError::from_raw_os_error(28),
                exit::IO,
                "io",
                "could not write '/p/.go-offline-journal': the disk is full: free space and run again",
                None,
            ),
            (
                "quota exceeded",
                IoError::from_raw_os_error(122),
                exit::IO,
                "io",
                "could not write '/p/.go-offline-journal': the disk is full: free space and run again",
                None,
            ),
            (
                "an I/O error",
                IoError::from_raw_os_error(5),
                exit::IO,
                "io",
                "could not write '/p/.go-offline-journal': Input/output error (os error 5)",
                None,
            ),
        ];
        for (name, source, code, kind, message, remedy) in cases {
            let e = Error::io("write", "/p/.go-offline-journal", source);
            assert_eq!((e.exit_code(), e.kind()), (code, kind), "{name}");
            assert_eq!(e.to_string(), message, "{name}");
            assert_eq!(e.remedy(), remedy, "{name}");
        }
    }

    /// The engine's text of every error that has a remedy names no flag and no command (the
    /// binary words the remedy: `stub/src/render.rs`).
    #[test]
    fn messages_name_no_flag_and_no_command() {
        let io = |errno: i32| Error::io("write", "/p/x", IoError::from_raw_os_error(errno));
        let errors = [
            Error::Destination {
                path: "/p/go".into(),
                problem: "is not a directory".into(),
                remedy: Some(Remedy::OtherPrefix),
            },
            io(13),
            io(30),
            Error::NoSpace { path: "/p".into(), need: "1 MiB".into(), have: "0 MiB".into() },
            Error::Downgrade { installed: "go1.27.3".into(), new: "go1.26.6".into() },
            Error::NoPrevious { prefix: "/p".into(), installed: "go1.27.3".into() },
            Error::Drift { count: 1, repairs: vec![Repair::Link] },
            Error::InUse { version: "go1.27.3".into(), others: "go1.26.6".into() },
            Error::ModuleConflict { module: "m@v1".into(), problem: "differs".into() },
            Error::Busy("/p".into()),
            Error::Environment(EnvError::OtherPrefix { path: "/e".into(), other: "/o".into() }),
            Error::Environment(EnvError::Corrupt { path: "/e".into(), problem: "bad".into() }),
            Error::NoBase {
                installer: "d".into(),
                base: "go1.27.2".into(),
                go_version: "go1.27.3".into(),
                problem: Box::new(BaseProblem::Changed {
                    base: "go1.27.2".into(),
                    dir: "/p/go-1.27.2".into(),
                    count: 1,
                    first_path: "go-1.27.2/x".into(),
                    first_flags: "S".into(),
                }),
                full: "f".into(),
            },
            Error::RollbackFailed {
                error: Box::new(io(28)),
                undo: Box::new(io(13)),
                left: Left::TreeAsBefore { dest: "/p/go-1.27.3".into(), journal: "/p/j".into() },
            },
        ];
        for e in &errors {
            let text = e.to_string();
            assert!(!text.contains("--") && !text.contains('`'), "{text}");
        }
    }
}
