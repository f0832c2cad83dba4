//! Installs a verified payload: lock, recover, stage, swap, check, write the environment, commit.
//!
//! ```text
//! PREFIX/                       (flock'ed for the whole install)
//!   go/                         the active tree, replaced only by a rename
//!   .go-offline-journal         what the running install is doing (see journal.rs)
//!   .go-offline-staging.XXXX    private (0700) staging directory beside it, same file system
//! ```
//!
//! The journal is written before each step that changes the prefix. The new tree is extracted
//! into the staging directory and synced once. It then takes the place of `PREFIX/go` with
//! `renameat2(RENAME_EXCHANGE)` (the old tree lands at the staging path), `RENAME_NOREPLACE` when
//! there was none, or, on file systems without renameat2 flags, two renames (old aside, new in)
//! whose gap the journal covers. The installed `go version` and `go env GOROOT` must then match
//! the manifest, and the environment must be written; if either fails, or the process dies, the
//! journal puts the old tree and the environment back. Only then is the old tree deleted.
//!
//! **Invariant:** a tree is never extracted over another; after any crash and the next run,
//! `PREFIX/go` is either the whole old tree or the whole new one.

use std::{
    cell::Cell,
    cmp::Ordering,
    fs::{self, DirBuilder, File},
    os::unix::fs::{DirBuilderExt, PermissionsExt},
    path::{Path, PathBuf},
    process::Command,
    time::{SystemTime, UNIX_EPOCH},
};

use rustix::fs::{FlockOperation, RenameFlags};

use crate::{
    env::{self, Scope},
    error::Error,
    extract::{self, Progress},
    failpoint,
    journal::{self, Journal, Phase, Recovery},
    manifest::{EntryType, Manifest},
    verify::VerifiedInstaller,
    version,
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
#[derive(Debug, Clone, Default)]
pub struct InstallConfig {
    /// Go lands in `prefix/go`.
    pub prefix: PathBuf,
    /// Where the environment goes; `None` leaves it alone (`--no-modify-path`).
    pub env: Option<Scope>,
    /// Runs the installed `go` under this program (see [`CHECK_RUNNER_ENV`]).
    pub check_runner: Vec<String>,
    /// Reinstall even when the same version is installed.
    pub force: bool,
    /// Allow replacing a newer installed version.
    pub allow_downgrade: bool,
    /// Wait for another installer holding the prefix instead of refusing.
    pub wait: bool,
}

/// What an install did.
#[derive(Debug, Clone, serde::Serialize)]
pub struct InstallReport {
    pub go_version: String,
    pub goroot: PathBuf,
    /// False when the same version was already installed and nothing was done.
    pub changed: bool,
    /// The version that was replaced, if any.
    pub previous_version: Option<String>,
    /// Files of the shell environment that were written.
    pub env_files: Vec<PathBuf>,
    /// Output of the installed `go version`.
    pub go_version_output: String,
    pub files: u64,
    pub bytes: u64,
    /// An interrupted earlier install that was finished or undone first.
    pub recovered: Option<Recovery>,
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

/// Finishes or undoes an install of `prefix` that was interrupted (`--recover`); every install
/// does this first on its own.
pub fn recover(prefix: &Path, wait: bool) -> Result<Option<Recovery>, Error> {
    if !prefix.is_dir() {
        return Ok(None);
    }
    let _lock = lock_prefix(prefix, wait)?;
    journal::recover(prefix)
}

fn install_in_prefix(
    installer: &VerifiedInstaller,
    file: &File,
    config: &InstallConfig,
    progress: Progress,
) -> Result<InstallReport, Error> {
    let prefix = &config.prefix;
    let m = installer.manifest();
    let _lock = lock_prefix(prefix, config.wait)?;
    let recovered = journal::recover(prefix)?;
    let dest = prefix.join(GO_DIR);
    let previous = existing_tree(&dest)?;
    let previous_version = previous.then(|| read_version(&dest)).flatten();
    let mut report = InstallReport {
        go_version: m.go_version.clone(),
        goroot: dest.clone(),
        changed: false,
        previous_version: previous_version.clone(),
        env_files: Vec::new(),
        go_version_output: String::new(),
        files: 0,
        bytes: 0,
        recovered,
    };
    if let Some(installed) = &previous_version {
        match version::compare(&m.go_version, installed) {
            Some(Ordering::Equal) if !config.force => return Ok(report),
            Some(Ordering::Less) if !config.allow_downgrade => {
                return Err(Error::Downgrade { installed: installed.clone(), new: m.go_version.clone() })
            }
            _ => {}
        }
    }
    preflight(prefix, m)?;

    let mut journal = Journal::new(&m.go_version, GO_DIR, staging_name());
    journal::write(prefix, &journal)?;
    failpoint::hit("journal-staging");
    let staging = prefix.join(&journal.staging);
    // mkdir, not "create or reuse": a directory someone else put at this name is never used,
    // and never deleted.
    if let Err(e) = DirBuilder::new().mode(0o700).create(&staging) {
        let _ = journal::remove(prefix);
        return Err(Error::io("create a staging directory in", prefix, e));
    }
    let steps = (|| {
        failpoint::hit("staging-created");
        let half = m.files_size() / 2;
        let written = Cell::new(0u64);
        let tick = |n: u64| {
            let before = written.get();
            written.set(before + n);
            if before <= half && before + n > half {
                failpoint::hit("extracting");
            }
            progress(n)
        };
        let stats = extract::extract(installer, file, &staging, &tick)?;
        failpoint::hit("extracted");
        sync_fs(&staging)?;
        failpoint::hit("synced");

        let edits = match &config.env {
            Some(scope) => env::plan(scope, &dest.join("bin")).map_err(Error::Environment)?,
            None => Vec::new(),
        };
        journal.env = env::backup(&edits).map_err(Error::Environment)?;
        journal.phase = Phase::Swapping;
        journal.new_tree = journal::tree_id(&staging);
        journal.old_tree = if previous { journal::tree_id(&dest) } else { None };
        journal::write(prefix, &journal)?;
        failpoint::hit("journal-swapping");
        swap(prefix, &journal, previous)?;
        failpoint::hit("swapped");
        let check = check_installed(installer, &dest, &config.check_runner)?;
        failpoint::hit("checked");
        let applied = env::apply(&edits).map_err(Error::Environment)?;
        failpoint::hit("env-written");
        Ok((stats, check, applied.written))
    })();
    let (stats, check, env_files) = match steps {
        Ok(done) => done,
        Err(error) => return Err(undo(prefix, &journal, error)),
    };
    journal.phase = Phase::Committing;
    journal::write(prefix, &journal).map_err(|e| undo(prefix, &journal, e))?;
    failpoint::hit("journal-committing");
    // Installed. Failing to delete the old tree is not a failed install: the journal stays and
    // the next run finishes the job.
    if let Err(e) = journal::commit(prefix, &journal) {
        eprintln!("warning: {e}; the next run of the installer removes what is left");
    }
    report.changed = true;
    report.env_files = env_files;
    report.go_version_output = check;
    report.files = stats.entries;
    report.bytes = stats.bytes;
    Ok(report)
}

/// Rolls an install back after `error`. Should that fail too, the old tree is never deleted:
/// the error (exit 20) says where it is, and the journal stays so the next run tries again.
fn undo(prefix: &Path, journal: &Journal, error: Error) -> Error {
    match journal::roll_back(prefix, journal) {
        Ok(()) => error,
        Err(undo) => {
            let dest = prefix.join(&journal.dest);
            let old = journal.old_tree;
            let kept = [&journal.staging, &journal.aside]
                .into_iter()
                .map(|n| prefix.join(n))
                .find(|p| old.is_some() && journal::tree_id(p) == old);
            let journal_path = prefix.join(journal::JOURNAL_NAME);
            let advice = match kept {
                Some(p) => format!(
                    "the previous Go is kept, untouched, at '{}'; fix the cause and run the installer again \
                     (or with --recover), which moves it back to '{}' as recorded in '{}'",
                    p.display(),
                    dest.display(),
                    journal_path.display()
                ),
                None => format!(
                    "the Go tree at '{}' is as it was before; '{}' stays, and the next run (or --recover) \
                     finishes the undo once the cause is fixed",
                    dest.display(),
                    journal_path.display()
                ),
            };
            Error::RollbackFailed { error: Box::new(error), undo: Box::new(undo), advice }
        }
    }
}

/// A staging name no other install uses: pid and time, made with mkdir (which refuses to reuse).
fn staging_name() -> String {
    let nanos = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0);
    format!("{STAGING_PREFIX}{:x}.{:x}", std::process::id(), nanos)
}

/// Refuses before writing anything when the new tree cannot fit beside the old one.
fn preflight(prefix: &Path, m: &Manifest) -> Result<(), Error> {
    if failpoint::enabled("no-preflight") {
        return Ok(());
    }
    let st = rustix::fs::statvfs(prefix).map_err(|e| Error::io("query the free space of", prefix, e.into()))?;
    let block = st.f_frsize.max(512);
    let need: u64 = m
        .files
        .iter()
        .map(|e| match e.kind {
            EntryType::File => e.size.unwrap_or(0).div_ceil(block).saturating_mul(block),
            EntryType::Dir | EntryType::Symlink => block,
        })
        .fold(0u64, u64::saturating_add);
    let have = st.f_bavail.saturating_mul(st.f_frsize);
    let mib = |b: u64| format!("{:.1} MiB", b as f64 / (1u64 << 20) as f64);
    if need > have {
        return Err(Error::NoSpace { path: prefix.into(), need: mib(need), have: mib(have) });
    }
    if st.f_files > 0 && m.file_count > st.f_favail {
        return Err(Error::NoSpace {
            path: prefix.into(),
            need: format!("{} inodes", m.file_count),
            have: format!("{} inodes", st.f_favail),
        });
    }
    Ok(())
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
        // 0755 whatever the umask (000 must not give a world-writable prefix).
        DirBuilder::new()
            .mode(0o755)
            .create(dir)
            .and_then(|()| fs::set_permissions(dir, fs::Permissions::from_mode(0o755)))
            .map_err(|e| Error::io("create prefix directory", dir, e))?;
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
fn lock_prefix(prefix: &Path, wait: bool) -> Result<File, Error> {
    let dir = File::open(prefix).map_err(|e| Error::io("open", prefix, e))?;
    let op = if wait { FlockOperation::LockExclusive } else { FlockOperation::NonBlockingLockExclusive };
    match rustix::fs::flock(&dir, op) {
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

/// Puts the staged tree at `dest`: an exchange when a tree is there, a no-replace rename when
/// not. Without renameat2 flags, the old tree is moved aside and the new one in: two renames,
/// with the journal (already in phase `swapping`) covering the moment between them.
fn swap(prefix: &Path, journal: &Journal, previous: bool) -> Result<(), Error> {
    let staging = prefix.join(&journal.staging);
    let dest = prefix.join(&journal.dest);
    if previous {
        match journal::renameat2(&staging, &dest, RenameFlags::EXCHANGE) {
            Ok(()) => {}
            Err(rustix::io::Errno::INVAL | rustix::io::Errno::NOSYS) => {
                journal::rename_noreplace(&dest, &prefix.join(&journal.aside))?;
                failpoint::hit("fallback-aside");
                journal::rename_noreplace(&staging, &dest)?;
            }
            Err(e) => return Err(Error::io("move the new tree into place at", &dest, e.into())),
        }
    } else {
        journal::rename_noreplace(&staging, &dest)?;
    }
    journal::sync_dir(prefix)
}

/// Flushes the file system holding `dir` (one syncfs for the whole staged tree).
fn sync_fs(dir: &Path) -> Result<(), Error> {
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
