//! The errors of reading and verifying an installer file, and the installer's exit codes.
//!
//! The exit codes are a contract: `go-offline-installer` exits with them, `go-offline-builder
//! verify` uses the same ones for the same failures, and they are listed in `--help`, README.md
//! and ARCHITECTURE.md (a test keeps the three in step). This crate owns the table because both
//! programs need it and neither may depend on the other.

use std::path::PathBuf;

use crate::{keys::KeyError, layout::LayoutError, manifest::ManifestError, statement::StatementError};

/// Exit codes of the installer, one per class of failure.
pub mod exit {
    pub const OK: i32 = 0;
    /// An unexpected internal error (a bug: please report it).
    pub const INTERNAL: i32 = 1;
    /// Bad command line.
    pub const USAGE: i32 = 2;
    /// The file is not a well-formed installer: truncated, extended, bad trailer or manifest.
    pub const MALFORMED: i32 = 10;
    /// A signature or digest does not match: the file was changed after signing.
    pub const INTEGRITY: i32 = 11;
    /// The signer is not trusted (or no key is trusted at all).
    pub const UNTRUSTED: i32 = 12;
    /// The installer is for another platform.
    pub const WRONG_PLATFORM: i32 = 13;
    /// The destination cannot be used (not a directory, a symlink, not writable).
    pub const DESTINATION: i32 = 14;
    /// Writing failed (disk full, I/O error); everything was rolled back.
    pub const IO: i32 = 15;
    /// The installed Go failed its check; the previous state was restored.
    pub const CHECK_FAILED: i32 = 16;
    /// Another installer is running on the same prefix.
    pub const BUSY: i32 = 17;
    /// The user declined, or confirmation was needed and no terminal was there to ask.
    pub const DECLINED: i32 = 18;
    /// The shell environment could not be written, or the script it would write puts another
    /// prefix's installation on PATH (never taken over); everything was rolled back.
    pub const ENVIRONMENT: i32 = 19;
    /// A failure, and then putting the previous tree back failed too: it is kept at the path
    /// printed and needs an operator.
    pub const ROLLBACK_FAILED: i32 = 20;
    /// The installed Go is newer, and `--allow-downgrade` was not given.
    pub const DOWNGRADE: i32 = 21;
    /// The version asked for is not installed (or there is no previous version to roll back to).
    pub const NOT_INSTALLED: i32 = 22;
    /// `verify-installed` found files that differ from their receipt.
    pub const DRIFT: i32 = 23;
    /// The version to uninstall is the active one while others are installed.
    pub const IN_USE: i32 = 24;
    /// A module bundle holds a module version whose files differ from the installed ones.
    pub const MODULE_CONFLICT: i32 = 25;
    /// A delta installer whose base is not installed in the prefix, or not intact: the full
    /// installer is needed.
    pub const NO_BASE: i32 = 26;

    /// Every code with a one-line meaning, for `--help` and the docs.
    pub const TABLE: &[(i32, &str)] = &[
        (OK, "success (or, with --check, the installer verified)"),
        (INTERNAL, "internal error"),
        (USAGE, "bad command line"),
        (MALFORMED, "not a well-formed installer (truncated, extended, corrupt trailer or manifest)"),
        (INTEGRITY, "signature or digest mismatch: the file was modified after signing (or it is not signed yet)"),
        (UNTRUSTED, "signer not trusted or revoked (its key id is printed)"),
        (WRONG_PLATFORM, "installer is for another OS or architecture"),
        (DESTINATION, "destination unusable (symlink, not a directory, no permission)"),
        (IO, "write failed (disk full, I/O error); nothing was changed"),
        (CHECK_FAILED, "installed Go failed its check; previous Go restored"),
        (BUSY, "another installation is running on this prefix (run again later, or pass --wait)"),
        (DECLINED, "not confirmed (answer no, or no terminal: use --yes)"),
        (ENVIRONMENT, "shell environment could not be written, or it puts another prefix's Go on PATH (named); nothing was changed"),
        (ROLLBACK_FAILED, "a failure, then undoing it failed too: where the previous Go is and what to do is printed"),
        (DOWNGRADE, "the active Go is newer: pass --allow-downgrade to install this one"),
        (NOT_INSTALLED, "that version is not installed (or there is nothing to roll back to)"),
        (DRIFT, "verify-installed: installed files differ from their receipt (listed)"),
        (IN_USE, "cannot uninstall the active version while others are installed: switch to another first"),
        (MODULE_CONFLICT, "a module version in the bundle differs from the installed one; nothing was changed"),
        (NO_BASE, "a delta installer whose base version is not installed here intact: use the full installer named"),
    ];
}

/// Everything that can make an installer file unacceptable.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("could not read the installer file '{path}': {source}")]
    ReadSelf { path: PathBuf, source: std::io::Error },
    #[error("malformed installer: {0}")]
    Layout(#[from] LayoutError),
    #[error("malformed installer: {0}")]
    Manifest(#[from] ManifestError),
    #[error("malformed installer: {0}")]
    Statement(#[from] StatementError),
    #[error("signature check failed: the manifest was not signed by key {key_id} or was modified after signing; the file cannot be trusted (get a fresh copy from its publisher)")]
    BadSignature { key_id: String },
    #[error("this installer is not signed yet: it was built with --unsigned, and its publisher must sign it and `go-offline-builder attach` the signature before it can be installed")]
    NotSigned,
    #[error("{region} digest mismatch: expected sha256 {expected}, found {found}; the file was modified after signing (get a fresh copy from its publisher)")]
    DigestMismatch { region: String, expected: String, found: String },
    #[error("payload does not match the signed manifest: {0} (the installer was built wrongly or tampered with; nothing was installed)")]
    PayloadMismatch(String),
    #[error("signer {key_id} is not trusted; {trust}. To trust it, add its public key to --trusted-key or to the host trust directory, after checking its key id with the publisher")]
    Untrusted { key_id: String, trust: String },
    #[error("{0}")]
    Key(#[from] KeyError),
    #[error("signer key {key_id} is revoked (listed in {list}); the installer cannot be trusted: get one signed with a current key")]
    Revoked { key_id: String, list: String },
    #[error("this installer is for {wanted} but this machine is {have}: use the installer built for {have}")]
    WrongPlatform { wanted: String, have: String },
    #[error("Authenticode-signed installer: {0}")]
    SignedPe(#[from] crate::authenticode::SignedPeError),
}

impl Error {
    /// The exit code documented for this error.
    pub fn exit_code(&self) -> i32 {
        match self {
            Error::ReadSelf { .. } => exit::IO,
            Error::Layout(_) | Error::Manifest(_) | Error::Statement(_) => exit::MALFORMED,
            Error::BadSignature { .. }
            | Error::NotSigned
            | Error::DigestMismatch { .. }
            | Error::PayloadMismatch(_) => exit::INTEGRITY,
            Error::Untrusted { .. } | Error::Key(_) | Error::Revoked { .. } => exit::UNTRUSTED,
            Error::WrongPlatform { .. } => exit::WRONG_PLATFORM,
            // A header field changed is a modification; bytes added or moved, a malformed file.
            Error::SignedPe(crate::authenticode::SignedPeError::CheckSum { .. }) => exit::INTEGRITY,
            Error::SignedPe(_) => exit::MALFORMED,
        }
    }

    /// A short stable name for the error class, used in `--json` output.
    pub fn kind(&self) -> &'static str {
        match self {
            Error::ReadSelf { .. } => "io",
            Error::Layout(_) | Error::Manifest(_) | Error::Statement(_) => "malformed",
            Error::BadSignature { .. } => "bad-signature",
            Error::NotSigned => "unsigned",
            Error::DigestMismatch { .. } | Error::PayloadMismatch(_) => "digest-mismatch",
            Error::Untrusted { .. } | Error::Key(_) => "untrusted",
            Error::Revoked { .. } => "revoked",
            Error::WrongPlatform { .. } => "wrong-platform",
            Error::SignedPe(crate::authenticode::SignedPeError::CheckSum { .. }) => "digest-mismatch",
            Error::SignedPe(_) => "malformed",
        }
    }
}
