//! The go-offline-installer file format, and everything that can be said about a file without
//! installing it.
//!
//! ```text
//! stub ‖ payload ‖ manifest ‖ statement ‖ signature ‖ trailer      (layout)
//!        zstd frames of one tar stream (payload), every entry listed with its sha256 (manifest),
//!        the manifest's sha256, product, Go version and target (statement),
//!        ed25519 over the statement (statement, keys)
//! ```
//!
//! Reading, in order: [`verify::verify`] (trailer, signature against a [`keys::TrustStore`],
//! manifest parse and validation, region digests) gives a [`verify::VerifiedInstaller`], the only
//! value [`payload::walk`] accepts; the walk checks every entry and every byte and hands them to a
//! [`payload::Sink`] (the installer's writes files, [`payload::check_payload`]'s drops them).
//! Writing: the builder fills a [`manifest::Manifest`], signs its [`statement::Statement`] and
//! puts the parts together with [`layout::Assembled`].
//!
//! **Invariant: this crate is the only one that knows the byte layout and the signed message;
//! the builder, the installer, the tests and the fuzz targets all call it.** It touches the file
//! system only to read the installer file and key files: it never writes.

pub mod authenticode;
pub mod date;
pub mod delta;
pub mod error;
pub mod filter;
pub mod keys;
pub mod layout;
pub mod manifest;
mod os;
pub mod payload;
pub mod platform;
pub mod statement;
pub mod stub_identity;
pub mod sumdb;
pub mod tree;
pub mod verify;
pub mod version;

pub use error::{exit, Error};
