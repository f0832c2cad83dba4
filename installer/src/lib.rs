//! The go-offline-installer library: the installer file format and everything the installer does
//! with it. The `go-offline-installer` binary (the stub) is a thin command line over this crate, and
//! the builder uses [`format`], [`manifest`] and [`keys`] to write the files this crate reads.
//!
//! The data path, in order: [`verify::verify`] (trailer, signature, manifest, region digests) →
//! [`extract::extract`] (stream the payload into a staging directory, checking every entry) →
//! [`install::install`] (lock, place the tree, check it, switch the [`prefix`] link, write
//! [`env`], commit [`receipt`]s). [`lifecycle`] has what follows: status, use, rollback,
//! uninstall, verify-installed. Every change to a prefix goes through the [`journal`].

pub mod env;
pub mod error;
pub mod extract;
pub mod failpoint;
pub mod format;
pub mod install;
pub mod journal;
pub mod keys;
pub mod lifecycle;
pub mod manifest;
pub mod modules;
pub mod platform;
pub mod prefix;
pub mod receipt;
pub mod verify;
pub mod version;

pub use error::{exit, Error};
