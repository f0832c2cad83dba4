//! `cargo xtask deny`: the supply-chain checks of `deny.toml` with cargo-deny (installed in the
//! cache, see `cache`).
//!
//! Licences, bans and sources need only `Cargo.lock` and the local registry cache, so they always
//! run and fail the task when violated. Advisories need the RustSec database, a git repository
//! that cargo-deny clones; where it cannot be fetched (no route to its host) the task says so in
//! a banner, does not pretend the check passed, and does not fail for that reason alone. A
//! database fetched earlier (cargo-deny's cache, `$CARGO_HOME/advisory-dbs`) is used when a fresh
//! fetch fails.

use std::{path::PathBuf, process::Command};

use crate::{fuzz::install_tool, run, Result};

const CARGO_DENY_VERSION: &str = "0.20.2";
/// `0` skips this whole task in `cargo xtask test` (for a machine that cannot build cargo-deny).
pub const SKIP_ENV: &str = "GO_OFFLINE_DENY";

pub fn deny_cmd(args: &[String]) -> Result {
    if !args.is_empty() {
        return Err("usage: cargo xtask deny".into());
    }
    deny()
}

/// From `cargo xtask test`: honours [`SKIP_ENV`].
pub fn deny_in_test() -> Result {
    if std::env::var(SKIP_ENV).is_ok_and(|v| v == "0") {
        eprintln!("xtask: cargo deny skipped ({SKIP_ENV}=0): supply-chain checks were NOT run");
        return Ok(());
    }
    deny()
}

/// cargo-deny, installed when missing (unless [`SKIP_ENV`] skips the task); returns it.
pub fn install() -> Result {
    if std::env::var(SKIP_ENV).is_ok_and(|v| v == "0") {
        return Ok(());
    }
    install_tool("cargo-deny", CARGO_DENY_VERSION).map(drop)
}

fn deny() -> Result {
    let cargo_deny = install_tool("cargo-deny", CARGO_DENY_VERSION)?;
    let deny = || {
        let mut c = Command::new(&cargo_deny);
        c.args(["--locked", "--all-features"]);
        c
    };
    run(deny().args(["check", "bans", "licenses", "sources"]))?;

    // Advisories: fetch (or refresh) the database; else use one already on this machine (from an
    // earlier fetch); never a silent skip.
    let fetched = run(Command::new("timeout").arg("120").arg(&cargo_deny).args(["fetch", "db"]));
    // A database that was cloned completely has its `crates/` directory.
    let cached = advisory_db_cache()
        .and_then(|d| d.read_dir().ok())
        .is_some_and(|mut dbs| dbs.any(|db| db.is_ok_and(|db| db.path().join("crates").is_dir())));
    match fetched {
        Err(e) if !cached => {
            eprintln!();
            eprintln!("{}", "!".repeat(88));
            eprintln!("!! ADVISORIES WERE NOT CHECKED: the RustSec advisory database could not be fetched");
            eprintln!("!! ({e}) and none is cached in $CARGO_HOME/advisory-dbs.");
            eprintln!("!! Known vulnerabilities in dependencies are unknown for this run: run `cargo xtask deny`");
            eprintln!("!! once on a machine that reaches the database's git host (or copy its cache here).");
            eprintln!("{}", "!".repeat(88));
            eprintln!();
            println!("deny: bans, licenses, sources OK; advisories NOT CHECKED (no advisory database)");
            Ok(())
        }
        _ => {
            run(deny().args(["check", "--disable-fetch", "advisories"]))?;
            let how = if fetched.is_ok() { "a freshly fetched" } else { "a previously fetched (possibly stale)" };
            println!("deny: bans, licenses, sources OK; advisories checked against {how} database");
            Ok(())
        }
    }
}

/// Where cargo-deny keeps its advisory databases by default.
fn advisory_db_cache() -> Option<PathBuf> {
    let cargo_home = std::env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cargo")))?;
    Some(cargo_home.join("advisory-dbs"))
}
