//! go-offline-builder: turns a Go distribution into one signed installer file.
//!
//! This file is the crate's front: its modules, and the paths other crates use. One module per
//! job, each importing only those below it:
//!
//! - commands: [`mod@build`] (a Go distribution), [`delta`] (`build --base`), [`modules`] (a module
//!   bundle, with its [`checksum_db`]), [`release`] (every output of a release config, and
//!   `SHA256SUMS`);
//! - [`seal`]: packs, completes the manifest, signs (now, or later with [`seal::attach`]) and writes
//!   the installer, through the `format` crate's layout ([`format::layout`]);
//! - [`pack`]: the codec, the only module that names it; [`go_env`]: the offline `go.env`;
//!   [`source`]: reading a distribution; [`stubs`]: the installer stubs; [`signer`]: who signs,
//!   and keys;
//! - at the bottom, [`output`] (where and how files are written), [`error`] and [`exit`] (how
//!   each failure ends the program, [`BuildError::exit_code`]).
//!
//! The byte layout, the signed statement and the manifest belong to the `format` crate
//! ([`format::layout`], [`format::statement`], [`format::manifest`]); this crate only fills them
//! in. [`cli`] is the command line; the binary's `main.rs` and `commands.rs` are glue over this.
//!
//! **Invariant:** same inputs and key give a byte-identical installer: entries are sorted, tar
//! headers carry fixed owners and one mtime (`SOURCE_DATE_EPOCH`, else the newest in the source),
//! and multi-threaded compression does not depend on the number of threads ([`pack`]).

pub mod build;
pub mod checksum_db;
pub mod cli;
pub mod delta;
pub mod error;
pub mod exit;
pub mod go_env;
pub mod modules;
pub mod output;
pub mod pack;
pub mod release;
pub mod seal;
pub mod signer;
pub mod source;
pub mod stubs;

pub use build::{build, BuildOptions, Provenance};
pub use error::BuildError;
pub use output::check_output;
pub use pack::{Compression, DEFAULT_FRAMES, DEFAULT_LEVEL};
pub use seal::{attach, AttachSummary, BuildSummary, Seal};
pub use signer::keygen;

/// This builder's version (that of the workspace).
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
