//! `go-offline-builder`: keygen, build, modules, fetch, release, verify-sums, inspect, verify.
//!
//! Glue over the `builder` library (the work) and the `format` crate (reading installers): parse
//! the command line ([`builder::cli`]), run the command ([`commands`]), print its error and exit
//! with the code [`builder::exit::TABLE`] documents. `commands.rs` belongs to this binary; the
//! other files of `src/` are the library's.

mod commands;

use std::process::ExitCode;

use builder::{cli, exit};
use clap::Parser;

fn main() -> ExitCode {
    // A bad command line makes clap print the usage and exit with 2 (exit::USAGE); `--help` and
    // `--version` exit with 0.
    let cli = cli::Cli::parse();
    match commands::run(cli.command) {
        Ok(()) => ExitCode::SUCCESS,
        Err(failure) => {
            eprintln!("error: {}", failure.message);
            // Every code of the table fits a byte (a unit test of builder::exit checks it).
            ExitCode::from(u8::try_from(failure.code).unwrap_or(exit::INTERNAL as u8))
        }
    }
}
