//! The go-offline-installer library: the installer file format and everything the installer does
//! with it. The `go-offline-installer` binary (the stub) is a thin command line over this crate, and
//! the builder uses [`format`], [`manifest`] and [`keys`] to write the files this crate reads.
//!
//! The data path, in order: [`verify::verify`] (trailer, signature, manifest, region digests) →
//! [`extract::extract`] (stream the payload into a staging directory, checking every entry) →
//! [`install::install`] (lock, swap atomically, check `go version`, write [`env`], commit).

pub mod env;
pub mod error;
pub mod extract;
pub mod failpoint;
pub mod format;
pub mod install;
pub mod journal;
pub mod keys;
pub mod manifest;
pub mod platform;
pub mod verify;
pub mod version;

pub use error::{exit, Error};
