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
    let args: Vec<String> = std::env::args_os().skip(1).map(|a| a.to_string_lossy().into_owned()).collect();
    let cli = match cli::Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => return usage_error(&args, &e),
    };
    let (action, json) = (cli.command.name(), cli.command.json());
    match commands::run(cli.command) {
        Ok(()) => ExitCode::SUCCESS,
        Err(failure) => {
            eprintln!("error: {}", failure.message);
            if json {
                println!("{}", commands::failure_json(Some(action), &failure));
            }
            exit_code(failure.code)
        }
    }
}

/// A command line that does not parse: clap prints the usage and it exits with 2
/// ([`exit::USAGE`]); under `--json` one JSON failure of kind `usage` too. `--help` and
/// `--version` are not errors: they print and exit with 0.
fn usage_error(args: &[String], e: &clap::Error) -> ExitCode {
    // Nothing to do when stderr is gone.
    let _ = e.print();
    if !e.use_stderr() {
        return ExitCode::SUCCESS;
    }
    if cli::asks_for_json(args) {
        // clap's first paragraph is the message ("the following required arguments were not
        // provided:" and, on the next line, which), then the usage.
        let text = e.render().to_string();
        let paragraph: Vec<&str> = text.lines().take_while(|l| !l.trim().is_empty()).map(str::trim).collect();
        let message = paragraph.join(" ").trim_start_matches("error: ").to_string();
        let failure = commands::Failure { code: exit::USAGE, kind: "usage".into(), message };
        println!("{}", commands::failure_json(cli::subcommand_named(args).as_deref(), &failure));
    }
    exit_code(e.exit_code())
}

/// The process's exit code for one of [`exit::TABLE`]'s (each fits a byte: a unit test of
/// `builder::exit` checks it).
fn exit_code(code: i32) -> ExitCode {
    ExitCode::from(u8::try_from(code).unwrap_or(exit::INTERNAL as u8))
}
