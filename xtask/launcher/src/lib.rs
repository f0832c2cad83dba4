//! Where the cache of `cargo xtask` lives, decided in one place for the launcher (src/main.rs,
//! before the tasks are built) and the tasks (`xtask/src/cache.rs`). No dependencies: the
//! launcher is built in every fresh checkout.

use std::{env, path::PathBuf};

/// The cache's directory, made when missing: `GO_OFFLINE_CACHE_DIR`, else
/// `$XDG_CACHE_HOME/go-offline-installer`, else `~/.cache/go-offline-installer`; `None` when
/// `GO_OFFLINE_CACHE` is `off` (or `0`), or no such directory can be made.
pub fn cache_root() -> Option<PathBuf> {
    if env::var("GO_OFFLINE_CACHE").is_ok_and(|v| v == "off" || v == "0") {
        return None;
    }
    let dir = match env::var_os("GO_OFFLINE_CACHE_DIR").filter(|d| !d.is_empty()) {
        Some(d) => PathBuf::from(d),
        None => env::var_os("XDG_CACHE_HOME")
            .filter(|d| !d.is_empty())
            .map(PathBuf::from)
            .or_else(|| env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))?
            .join("go-offline-installer"),
    };
    std::fs::create_dir_all(&dir).ok()?;
    std::path::absolute(dir).ok()
}
