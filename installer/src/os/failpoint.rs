//! Failpoints: named points of the install where a test build stops the process dead. They
//! live in the OS layer, at the bottom, because stopping dead is an OS call and the OS layer
//! itself has a switch (`no-renameat2`); the engine reaches them as `crate::failpoint`.
//!
//! Only a stub built with the `failpoints` feature (`cargo xtask stubs --failpoints`, used by the
//! crash tests) reads [`FAILPOINT_ENV`]; release stubs compile every point to nothing. The value
//! is a comma-separated list of `POINT[=ACTION]`:
//!
//! | action  | effect                                                                   |
//! |---------|--------------------------------------------------------------------------|
//! | `kill`  | (default) SIGKILL to itself: a crash with no chance to clean up          |
//! | `pause` | SIGSTOP to itself, so a test can act while the install is mid-way        |
//!
//! Two more names are switches rather than points: `no-renameat2` makes every flagged
//! `renameat2` fail with `EINVAL`, as on file systems without it, and `no-preflight` skips the
//! free-space check so a full disk is met during extraction.

/// The environment variable a failpoints build reads.
pub const FAILPOINT_ENV: &str = "GO_OFFLINE_FAILPOINT";

/// Every point of the install path, in the order an install passes them.
pub const POINTS: &[&str] = &[
    "recovered",
    "journal-staging",
    "staging-created",
    "extracting",
    "extracted",
    "synced",
    "journal-swapping",
    "fallback-aside",
    "swapped",
    "checked",
    "activated",
    "env-written",
    "journal-committing",
    "old-removed",
];

/// The points `use` and `rollback` pass, in order (a subset of [`POINTS`]).
pub const SWITCH_POINTS: &[&str] = &["journal-swapping", "activated", "journal-committing", "old-removed"];

/// The points a module bundle install passes, in order (`fallback-aside` only where the file
/// system cannot exchange two directories).
pub const MODULES_POINTS: &[&str] = &[
    "journal-staging",
    "staging-created",
    "extracted",
    "synced",
    "journal-swapping",
    "fallback-aside",
    "swapped",
    "env-written",
    "journal-committing",
    "old-removed",
];

/// The points `uninstall` passes, in order: its journal is written in phase `committing`, so
/// every crash is finished by recovery.
pub const UNINSTALL_POINTS: &[&str] = &["journal-committing", "old-removed", "uninstall-moved", "uninstall-removing"];

#[cfg(feature = "failpoints")]
fn action(name: &str) -> Option<String> {
    let spec = std::env::var(FAILPOINT_ENV).ok()?;
    spec.split(',').find_map(|item| {
        let (point, action) = item.split_once('=').unwrap_or((item, "kill"));
        (point == name).then(|| action.to_string())
    })
}

/// Stops the process here if the failpoint `name` is armed: `kill` ends it with no chance to
/// clean up, `pause` stops it until the test acts ([`super::kill_self`], [`super::pause_self`]).
#[cfg(feature = "failpoints")]
pub fn hit(name: &str) {
    match action(name).as_deref() {
        Some("kill") => super::kill_self(),
        Some("pause") => super::pause_self(),
        _ => {}
    }
}

/// Whether the switch `name` is on.
#[cfg(feature = "failpoints")]
pub fn enabled(name: &str) -> bool {
    action(name).is_some()
}

#[cfg(not(feature = "failpoints"))]
#[inline(always)]
pub fn hit(_name: &str) {}

#[cfg(not(feature = "failpoints"))]
#[inline(always)]
pub fn enabled(_name: &str) -> bool {
    false
}
