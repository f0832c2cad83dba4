//! `cargo xtask`'s first step: runs the tasks (the `xtask` package) with cargo building them in
//! the cache's cargo target directory, the one the tasks' own cargo runs use (see
//! `xtask/src/cache.rs` and `xtask::cargo_target_dir`).
//!
//! The `cargo xtask` alias can only build in the checkout's `target/`, where a fresh clone has
//! nothing: the tasks with the builder they link (TLS, PKCS#11, zstd) would take minutes to build
//! before any task starts. This program has no dependency (seconds to build there) and execs
//! `cargo run --package xtask` with `CARGO_TARGET_DIR` set to the cache's `cargo-target/` (unless
//! the caller set one, or `GO_OFFLINE_CACHE=off`), where a machine that ran the tasks before
//! has everything but what changed. Where the cache is, this package's library decides, for the
//! tasks too.

use std::{
    env,
    process::{Command, ExitCode},
};

fn main() -> ExitCode {
    let mut cmd = Command::new(env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
    cmd.args(["run", "--quiet", "--locked", "--package", "xtask", "--"]).args(env::args_os().skip(1));
    if env::var_os("CARGO_TARGET_DIR").is_none_or(|d| d.is_empty()) {
        if let Some(dir) = xtask_launcher::cache_root().map(|c| c.join("cargo-target")) {
            cmd.env("CARGO_TARGET_DIR", dir);
        }
    }
    use std::os::unix::process::CommandExt;
    let err = cmd.exec();
    eprintln!("xtask: cannot run cargo: {err}");
    ExitCode::FAILURE
}
