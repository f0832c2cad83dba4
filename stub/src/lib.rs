//! The installer's command line ([`cli`]) as a library, so that `cargo xtask dist` makes the
//! man page from the definitions the binary parses with.
//!
//! The binary compiles `cli.rs` as its own module rather than through this library: as a
//! library module clap's derived code costs the stub about 900 bytes it has no room for (see
//! docs/bench.md's size goal). One file, so the man page and the parser cannot drift.

pub mod cli;
