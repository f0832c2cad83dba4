//! The go-offline-installer engine: everything the installer does with a verified file, and with
//! the versions it installed. The `go-offline-installer` binary (the stub, `stub/`) is a thin
//! command line over this crate; the file format and its verification are the `format` crate's.
//!
//! The data path, in order: [`install::install`] takes a [`format::verify::VerifiedInstaller`]:
//! lock the [`prefix`], [`journal::recover`] an interrupted command, decide (the version policy),
//! [`extract`] into a staging directory, place the tree, [`check`] it, switch the link, write the
//! [`env`]ironment, commit [`receipt`]s. [`lifecycle`] has what follows: status, use, rollback,
//! uninstall, verify-installed; [`modules`] installs module bundles; [`toolchains`] keeps
//! `PREFIX/bin/go1.N.P` beside them, for go.mod files that ask for an installed version. Every change to a prefix
//! goes through the [`journal`]; every call to the operating system goes through [`os`].
//!
//! Every command returns an [`outcome::Outcome`]: the action, whether it changed anything,
//! warnings and its report. **The engine never prints**; the binary renders the outcome.
//!
//! Imports flow one way, each module using only those on later lines:
//!
//! ```text
//! lifecycle → install, modules → switch → outcome → journal → toolchains → env → receipt → prefix
//!             check, tree, extract, progress (beside them)                → error → os → failpoint
//! ```

pub mod check;
pub mod delta;
pub mod env;
pub mod error;
pub mod extract;
pub mod failpoint;
pub mod install;
pub mod journal;
pub mod lifecycle;
pub mod modules;
pub mod os;
pub mod outcome;
pub mod prefix;
pub mod progress;
pub mod receipt;
pub mod switch;
pub mod toolchains;
pub mod tree;

pub use error::Error;
pub use format::exit;
