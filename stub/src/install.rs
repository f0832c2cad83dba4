//! Installs a verified payload: lock, stage, swap, check, write the environment, commit.
//!
//! ```text
//! PREFIX/                       (flock'ed for the whole install)
//!   go/                         the active tree, replaced only by an atomic rename
//!   .go-offline-staging.XXXXXX  private (0700) staging directory beside it, same file system
//! ```
//!
//! The new tree is extracted into the staging directory and synced once. It then takes the place
//! of `PREFIX/go` with `renameat2(RENAME_EXCHANGE)` (the old tree lands at the staging path) or
//! `RENAME_NOREPLACE` when there was none. The installed `go version` and `go env GOROOT` must then
//! match the manifest, and the environment must be written; if either fails the exchange is undone
//! and the environment restored. Only then is the old tree deleted.
//!
//! **Invariant:** a tree is never extracted over another; `PREFIX/go` is always either the whole
//! old tree or the whole new one.

use std::{
    fs::{self, File},
    path::{Path, PathBuf},
    process::Command,
};

use rustix::fs::{FlockOperation, RenameFlags, CWD};

use crate::{
    env::{self, Scope},
    error::Error,
    extract::{self, Progress},
    verify::VerifiedInstaller,
};

/// Name of the Go tree under the prefix.
pub const GO_DIR: &str = "go";
/// Prefix of staging directory names.
pub const STAGING_PREFIX: &str = ".go-offline-staging.";

/// Environment variable naming a program (and arguments, space-separated) that runs the installed
/// `go` for the post-install check, as cargo's `runner`. It exists to test an installer for another
/// architecture under an emulator (`qemu-aarch64-static`); it does not relax any check.
pub const CHECK_RUNNER_ENV: &str = "GO_OFFLINE_INSTALLER_CHECK_RUNNER";

/// How to install.
#[derive(Debug, Clone)]
pub struct InstallConfig {
    /// Go lands in `prefix/go`.
    pub prefix: PathBuf,
    /// Where the environment goes; `None` leaves it alone (`--no-modify-path`).
    pub env: Option<Scope>,
    /// Runs the installed `go` under this program (see [`CHECK_RUNNER_ENV`]).
    pub check_runner: Vec<String>,
}

/// What an install did.
#[derive(Debug, Clone, serde::Serialize)]
pub struct InstallReport {
    pub go_version: String,
    pub goroot: PathBuf,
    /// The version that was replaced, if any.
    pub previous_version: Option<String>,
    /// Files of the shell environment that were written.
    pub env_files: Vec<PathBuf>,
    /// Output of the installed `go version`.
    pub go_version_output: String,
    pub files: u64,
    pub bytes: u64,
}

/// Installs `installer` per `config`. On error the prefix and environment are as they were,
/// except for directories of the prefix path that had to be created (they are removed when empty).
pub fn install(
    installer: &VerifiedInstaller,
    file: &File,
    config: &InstallConfig,
    progress: Progress,
) -> Result<InstallReport, Error> {
    let prefix = &config.prefix;
    let created = create_prefix(prefix)?;
    let result = install_in_prefix(installer, file, config, progress);
    if result.is_err() {
        for dir in created.iter().rev() {
            let _ = fs::remove_dir(dir); // only if empty; an error means something else is there
        }
    }
    result
}

fn install_in_prefix(
    installer: &VerifiedInstaller,
    file: &File,
    config: &InstallConfig,
    progress: Progress,
) -> Result<InstallReport, Error> {
    let prefix = &config.prefix;
    let _lock = lock_prefix(prefix)?;
    let dest = prefix.join(GO_DIR);
    let previous = existing_tree(&dest)?;
    let previous_version = previous.then(|| read_version(&dest)).flatten();

    let mut staging = tempfile::Builder::new()
        .prefix(STAGING_PREFIX)
        .tempdir_in(prefix)
        .map_err(|e| Error::io("create a staging directory in", prefix, e))?;
    let stats = extract::extract(installer, file, staging.path(), progress)?;
    sync_dir(staging.path())?;

    // From here the staging path names whatever is not active: the new tree before the swap,
    // the old tree (or nothing) after it. TempDir removes it on every return path.
    swap(staging.path(), &dest, previous)?;
    // Puts the old state back. Should that fail, the staging path may hold the only copy of the
    // old tree: it is then kept, never deleted, and named in the error.
    let mut undo_swap = |error: Error| -> Error {
        match swap_back(staging.path(), &dest, previous) {
            Ok(()) => error,
            Err(undo) => {
                staging.disable_cleanup(true);
                Error::RollbackFailed { error: Box::new(error), undo: Box::new(undo), kept: staging.path().into() }
            }
        }
    };
    let check = match check_installed(installer, &dest, &config.check_runner) {
        Ok(out) => out,
        Err(e) => return Err(undo_swap(e)),
    };
    let applied = match &config.env {
        Some(scope) => match env::plan(scope, &dest.join("bin")).and_then(|edits| env::apply(&edits)) {
            Ok(applied) => Some(applied),
            Err(e) => return Err(undo_swap(Error::Environment(e))),
        },
        None => None,
    };
    let env_files = applied.map(|a| a.written).unwrap_or_default();
    // Commit: the old tree (at the staging path) goes with the TempDir.
    if previous {
        let old_tree = staging.path().to_path_buf();
        if let Err(e) = staging.close() {
            eprintln!("warning: could not remove the previous tree at '{}': {e}", old_tree.display());
        }
    }
    let _ = sync_dir(prefix);
    Ok(InstallReport {
        go_version: installer.manifest().go_version.clone(),
        goroot: dest,
        previous_version,
        env_files,
        go_version_output: check,
        files: stats.entries,
        bytes: stats.bytes,
    })
}

/// Creates the prefix and its missing parents; returns those created, outermost first.
fn create_prefix(prefix: &Path) -> Result<Vec<PathBuf>, Error> {
    let mut missing = Vec::new();
    let mut p = prefix;
    while fs::symlink_metadata(p).is_err() {
        missing.push(p.to_path_buf());
        match p.parent() {
            Some(parent) if !parent.as_os_str().is_empty() => p = parent,
            _ => break,
        }
    }
    missing.reverse();
    for dir in &missing {
        fs::create_dir(dir).map_err(|e| Error::io("create prefix directory", dir, e))?;
    }
    if !prefix.is_dir() {
        return Err(Error::Destination {
            path: prefix.into(),
            problem: "is not a directory (choose another --prefix)".into(),
        });
    }
    Ok(missing)
}

/// Takes an exclusive lock on the prefix directory itself (no lock file is left behind).
fn lock_prefix(prefix: &Path) -> Result<File, Error> {
    let dir = File::open(prefix).map_err(|e| Error::io("open", prefix, e))?;
    match rustix::fs::flock(&dir, FlockOperation::NonBlockingLockExclusive) {
        Ok(()) => Ok(dir),
        Err(rustix::io::Errno::WOULDBLOCK) => Err(Error::Busy(prefix.into())),
        Err(e) => Err(Error::io("lock", prefix, e.into())),
    }
}

/// Whether a Go tree is at `dest`; refuses anything that is not a plain directory.
fn existing_tree(dest: &Path) -> Result<bool, Error> {
    match fs::symlink_metadata(dest) {
        Ok(m) if m.file_type().is_symlink() => Err(Error::Destination {
            path: dest.into(),
            problem: "is a symbolic link; it is left alone: remove it or choose another --prefix".into(),
        }),
        Ok(m) if m.is_dir() => Ok(true),
        Ok(_) => Err(Error::Destination {
            path: dest.into(),
            problem: "exists and is not a directory: remove it or choose another --prefix".into(),
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(Error::io("inspect", dest, e)),
    }
}

/// The first line of a tree's `VERSION` file.
pub fn read_version(goroot: &Path) -> Option<String> {
    let text = fs::read_to_string(goroot.join("VERSION")).ok()?;
    text.lines().next().map(str::to_string)
}

/// Puts the staged tree at `dest`: an exchange when a tree is there, a no-replace rename when not.
fn swap(staging: &Path, dest: &Path, previous: bool) -> Result<(), Error> {
    let flags = if previous { RenameFlags::EXCHANGE } else { RenameFlags::NOREPLACE };
    match rustix::fs::renameat_with(CWD, staging, CWD, dest, flags) {
        Ok(()) => Ok(()),
        // FIXME(hardening): file systems without renameat2 flags get a non-atomic fallback here;
        // the journaled fallback belongs to the hardening work.
        Err(rustix::io::Errno::INVAL | rustix::io::Errno::NOSYS) => fallback_swap(staging, dest, previous),
        Err(e) => Err(Error::io("move the new tree into place at", dest, e.into())),
    }
}

/// Undoes [`swap`].
fn swap_back(staging: &Path, dest: &Path, previous: bool) -> Result<(), Error> {
    if previous {
        swap(staging, dest, true)
    } else {
        fs::rename(dest, staging).map_err(|e| Error::io("move back", dest, e))
    }
}

fn fallback_swap(staging: &Path, dest: &Path, previous: bool) -> Result<(), Error> {
    if !previous {
        return fs::rename(staging, dest).map_err(|e| Error::io("move the new tree into place at", dest, e));
    }
    let aside = staging.with_extension("old");
    fs::rename(dest, &aside).map_err(|e| Error::io("move aside", dest, e))?;
    if let Err(e) = fs::rename(staging, dest) {
        let _ = fs::rename(&aside, dest);
        return Err(Error::io("move the new tree into place at", dest, e));
    }
    fs::rename(&aside, staging).map_err(|e| Error::io("move the old tree to", staging, e))
}

/// fsync of a directory and, through syncfs, of the file system holding it.
fn sync_dir(dir: &Path) -> Result<(), Error> {
    let f = File::open(dir).map_err(|e| Error::io("open", dir, e))?;
    rustix::fs::syncfs(&f).map_err(|e| Error::io("sync", dir, e.into()))?;
    Ok(())
}

/// Runs the installed `go version` and `go env GOROOT` and compares them with the manifest.
fn check_installed(installer: &VerifiedInstaller, goroot: &Path, runner: &[String]) -> Result<String, Error> {
    let m = installer.manifest();
    let go = goroot.join("bin/go");
    let run = |args: &[&str]| -> Result<String, Error> {
        let mut cmd = match runner.split_first() {
            Some((program, rest)) => {
                let mut c = Command::new(program);
                c.args(rest).arg(&go);
                c
            }
            None => Command::new(&go),
        };
        // A clean environment: the user's GOROOT, GOFLAGS or GOTOOLCHAIN must not change the
        // answer. No HOME and cwd `/`: go then has nowhere to write (telemetry, caches), so the
        // check leaves no trace in the new tree or anywhere else.
        cmd.args(args)
            .current_dir("/")
            .env_clear()
            .env("PATH", "/usr/bin:/bin")
            .env("GOENV", "off")
            .env("GOTOOLCHAIN", "local")
            .env("GOCACHE", "off");
        let out = cmd.output().map_err(|e| Error::CheckFailed(format!("could not run '{}': {e}", go.display())))?;
        if !out.status.success() {
            return Err(Error::CheckFailed(format!(
                "'{} {}' failed ({}): {}",
                go.display(),
                args.join(" "),
                out.status,
                String::from_utf8_lossy(&out.stderr).trim()
            )));
        }
        Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
    };
    let version = run(&["version"])?;
    let expected = format!("go version {} {}/{}", m.go_version, m.goos, m.goarch);
    if !version.starts_with(&expected) {
        return Err(Error::CheckFailed(format!("'go version' printed '{version}', expected '{expected}'")));
    }
    let reported = run(&["env", "GOROOT"])?;
    let canonical = |p: &Path| fs::canonicalize(p).unwrap_or_else(|_| p.to_path_buf());
    if canonical(Path::new(&reported)) != canonical(goroot) {
        return Err(Error::CheckFailed(format!(
            "'go env GOROOT' printed '{reported}', expected '{}'",
            goroot.display()
        )));
    }
    Ok(version)
}
