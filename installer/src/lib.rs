//! The go-offline-installer engine: everything the installer does with a verified file, and with
//! the versions it installed. The `go-offline-installer` binary (the stub, `stub/`) is a thin
//! command line over this crate; the file format and its verification are the `format` crate's.
//!
//! The data path, in order: [`install()`] takes a [`format::verify::VerifiedInstaller`]:
//! lock the prefix, recover an interrupted command (`journal::recover`), decide (the version
//! policy), extract into a staging directory, place the tree, check it, switch the link, write
//! the environment, commit receipts. The lifecycle commands follow ([`status`], [`use_version`],
//! [`rollback`], [`uninstall`], [`verify_installed`]); [`install_modules`] installs module
//! bundles ([`modules_dry_run`] decides as it does, writing nothing); `toolchains` keeps `PREFIX/bin/go1.N.P` beside them, for go.mod files that ask for an
//! installed version. Every change to a prefix goes through the journal; every call to the
//! operating system goes through [`os`].
//!
//! Every command returns an [`outcome::Outcome`]: the action, whether it changed anything,
//! warnings and its report. **The engine never prints**; the binary renders the outcome.
//!
//! Imports flow one way, each module using only those on later lines:
//!
//! ```text
//! lifecycle → install, modules → switch → outcome → journal → toolchains → env → receipt → prefix
//!             delta, check, tree, extract, progress (beside them)     → error, os (with its failpoints)
//! ```
//!
//! `decimal` (numbers in messages) imports nothing.

// The engine's modules, in the order of the imports above. Only the report types (`outcome`,
// `progress`, `error`) and the OS seam (`os`, which the stub asks where things go) are public
// whole; of the rest, the binaries see the entry points and types re-exported below.
mod check;
pub mod decimal;
mod delta;
mod env;
pub mod error;
mod extract;
mod install;
mod journal;
mod lifecycle;
mod modules;
pub mod os;
pub mod outcome;
mod prefix;
pub mod progress;
mod receipt;
mod switch;
mod toolchains;
mod tree;

pub use format::exit;
pub use os::failpoint;

/// One function per command; what they take and what they decide.
pub use crate::{
    check::CHECK_RUNNER_ENV,
    error::Error,
    extract::check as check_payload,
    install::{dry_run, install, recover, Adoption, Decision, Drift, InstallConfig, Preview, Space},
    lifecycle::{rollback, status, uninstall, use_version, verify_installed, Checked, Context, Elsewhere, Target},
    modules::{dry_run as modules_dry_run, install as install_modules, ModulesConfig, DIR as MODULES_DIR},
    prefix::{parse_version_arg, tree_name, Layout, Prefix, KEPT_SUFFIX, LINK},
    receipt::{active_version, read_receipts, Origin},
};

/// What the binaries show of a prefix's files (and tests check): the journal's name, the
/// environment's lines.
pub use crate::{
    env::{modules_script, source_line},
    journal::{Outcome as Recovered, Recovery, JOURNAL_NAME},
};

/// For the fuzz targets: extraction of a verified payload into a directory.
pub use crate::extract::extract;
