//! `go-offline-installer`: the stub that, with a payload appended, installs Go offline.
//!
//! Glue only: parse the command line into a [`cli::Mode`] (`cli.rs`, also the library's one
//! module, for the man page: see `lib.rs`), run it ([`commands`]), render the
//! outcome (human text, [`render`], or one JSON object, [`json`]), exit with the documented code.

mod cli;
mod commands;
mod json;
mod prompt;
mod render;

use std::process::ExitCode;

use format::exit;

use crate::cli::Cli;

/// What this program is, for the builder, which refuses any other executable as a stub
/// ([`format::stub_identity`]): the program, the installer formats it reads, its target. Made at
/// compile time; `#[used]` keeps it in the object, and the `black_box` in [`main`] keeps it
/// referenced, so neither LTO nor the linker's section garbage collection nor strip drops it.
#[used]
static STUB_IDENTITY: [u8; format::stub_identity::LEN] = format::stub_identity::encode(env!("GO_OFFLINE_STUB_TARGET"));

fn main() -> ExitCode {
    std::hint::black_box(&STUB_IDENTITY);
    let code = run();
    // Started by a double click (Windows makes a console for it alone and closes it when the
    // program exits): keep the window until the person has read the result.
    if installer::os::owns_console() {
        prompt::wait_for_enter();
    }
    code
}

fn run() -> ExitCode {
    let args: Vec<String> = std::env::args_os().map(|a| a.to_string_lossy().into_owned()).collect();
    let (cli, mode) = match Cli::parse_mode(std::env::args_os()) {
        Ok(parsed) => parsed,
        Err(e) => return usage_error(&args, &e),
    };
    match commands::run(&cli, &mode) {
        Ok(outcome) => {
            if cli.json {
                println!("{}", json::outcome(&outcome));
            } else if !cli.quiet {
                render::human(&outcome);
            } else if let Some(e) = outcome.failure() {
                eprintln!("error: {}", render::error(&e));
            }
            ExitCode::from(outcome.failure().map_or(exit::OK, |e| e.exit_code()) as u8)
        }
        Err(e) => {
            let message = render::error(&e);
            eprintln!("error: {message}");
            if cli.json {
                println!("{}", json::failed(mode.action.name(), e.exit_code(), e.kind(), &message));
            }
            ExitCode::from(e.exit_code() as u8)
        }
    }
}

/// A command line that did not parse: clap's message (or `--help`, `--version`, which are not
/// errors), and under `--json` one JSON result too, of kind `usage` (exit 2).
fn usage_error(args: &[String], e: &clap::Error) -> ExitCode {
    if !e.use_stderr() {
        let _ = e.print();
        return ExitCode::from(exit::OK as u8);
    }
    let _ = e.print();
    if args.iter().skip(1).take_while(|a| *a != "--").any(|a| a == "--json") {
        let text = e.to_string();
        let message = text.lines().next().unwrap_or_default().trim_start_matches("error: ");
        println!("{}", json::failed(cli::guess_action(args).name(), exit::USAGE, "usage", message));
    }
    ExitCode::from(exit::USAGE as u8)
}

/// Prints what is being done, unless `--quiet` or `--json`.
pub(crate) fn say(cli: &Cli, msg: &str) {
    if !cli.quiet && !cli.json {
        eprintln!("{msg}");
    }
}
