//! Installs a verified payload: lock, recover, stage, place, check, activate, write the
//! environment, commit.
//!
//! ```text
//! PREFIX/                       (flock'ed for the whole install)
//!   go -> go-1.27.3             the active version (see prefix.rs), switched by one rename
//!   go-1.27.3/                  the new tree, moved in whole by one rename
//!   go-1.26.6/                  other versions stay
//!   .go-offline/                receipts and state (see receipt.rs)
//!   .go-offline-journal         what the running install is doing (see journal.rs)
//!   .go-offline-staging.XXXX    private (0700) staging directory beside it, same file system
//!   .go-offline-check.XXXX      scratch directory of the build check
//! ```
//!
//! The journal is written before each step that changes the prefix. The new tree is extracted
//! into the staging directory, synced once, and renamed to `go-VERSION` (`RENAME_NOREPLACE`, or
//! `RENAME_EXCHANGE` with the tree it replaces under `--force`; on file systems without renameat2
//! flags, two renames whose gap the journal covers). The new tree's `go version` and `go env
//! GOROOT` must match the manifest, and hello world must build and run with it, offline, in a
//! scratch directory, *before* `PREFIX/go` points to it; then the environment is written. If any
//! step fails, or the process dies, the journal puts the link, the trees and the environment
//! back. Receipts, state and host log are written at commit.
//!
//! **Invariant:** a tree is never extracted over another, and a tree in place is never modified;
//! after any crash and the next run, `PREFIX/go` is either the old active version or the new one,
//! whole.

use std::{
    cmp::Ordering,
    fs::{self, DirBuilder, File},
    os::unix::fs::{DirBuilderExt, PermissionsExt},
    path::{Path, PathBuf},
    process::Command,
    sync::atomic::{AtomicU64, Ordering as AtomicOrdering},
    time::{SystemTime, UNIX_EPOCH},
};

use rustix::fs::{FlockOperation, RenameFlags};

use crate::{
    env::{self, Scope},
    error::Error,
    extract::{self, Progress},
    failpoint,
    journal::{self, Adopt, Journal, Json, LinkChange, PendingWrite, Phase, Recovery},
    lifecycle,
    manifest::{EntryType, Manifest},
    prefix::{self, Active},
    receipt::{self, InstallerInfo, LogRecord, Origin, Receipt},
    verify::VerifiedInstaller,
    version,
};

/// Prefix of staging directory names.
pub const STAGING_PREFIX: &str = ".go-offline-staging.";
/// Prefix of the build check's scratch directory names.
pub const SCRATCH_PREFIX: &str = ".go-offline-check.";

/// Environment variable naming a program (and arguments, space-separated) that runs the installed
/// `go` for the post-install check, as cargo's `runner`. It exists to test an installer for another
/// architecture under an emulator (`qemu-aarch64-static`); it does not relax any check.
pub const CHECK_RUNNER_ENV: &str = "GO_OFFLINE_INSTALLER_CHECK_RUNNER";

/// How to install.
#[derive(Debug, Clone, Default)]
pub struct InstallConfig {
    /// Go lands in `prefix/go-VERSION`, and `prefix/go` points to it.
    pub prefix: PathBuf,
    /// Where the environment goes; `None` leaves it alone (`--no-modify-path`).
    pub env: Option<Scope>,
    /// Runs the installed `go` under this program (see [`CHECK_RUNNER_ENV`]).
    pub check_runner: Vec<String>,
    /// Reinstall even when the same version is installed.
    pub force: bool,
    /// Allow activating a version older than the active one.
    pub allow_downgrade: bool,
    /// Wait for another installer holding the prefix instead of refusing.
    pub wait: bool,
    /// Build and run hello world with the new Go before activating it.
    pub build_check: bool,
    /// The host log, if any.
    pub log: Option<PathBuf>,
}

/// What an install did.
#[derive(Debug, Clone, serde::Serialize)]
pub struct InstallReport {
    pub go_version: String,
    /// `PREFIX/go`, the active version's link.
    pub goroot: PathBuf,
    /// `PREFIX/go-VERSION`, the tree.
    pub tree: PathBuf,
    /// False when the same version was already installed and active, and nothing was done.
    pub changed: bool,
    /// `installed`, `reinstalled`, `activated` (it was installed but not active) or `none`.
    pub action: &'static str,
    /// The version that was active before, if any.
    pub previous_version: Option<String>,
    /// A plain `PREFIX/go` tree that was kept under this versioned name.
    pub adopted: Option<String>,
    /// Files of the shell environment that were written.
    pub env_files: Vec<PathBuf>,
    /// Output of the installed `go version`.
    pub go_version_output: String,
    /// What the hello-world program printed (`None` when the build check was skipped).
    pub build_check: Option<String>,
    pub files: u64,
    pub bytes: u64,
    /// Id of the receipt (and host log line) of this install.
    pub receipt_id: Option<String>,
    /// An interrupted earlier command that was finished or undone first.
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

/// Finishes or undoes a command in `prefix` that was interrupted (`--recover`); every command
/// that changes the prefix does this first on its own.
pub fn recover(prefix: &Path, wait: bool) -> Result<Option<Recovery>, Error> {
    if !prefix.is_dir() {
        return Ok(None);
    }
    let _lock = lock_prefix(prefix, wait, false)?;
    journal::recover(prefix)
}

/// The version of the active tree: its receipt's, else its `VERSION` file's.
pub fn active_version(prefix: &Path, active: &Active) -> Result<Option<String>, Error> {
    Ok(match active {
        Active::None => None,
        Active::Plain(v) => v.clone(),
        Active::Link(tree) => match receipt::read_receipt(prefix, tree)? {
            Some(r) => Some(r.go_version),
            None => prefix::read_version(&prefix.join(tree)),
        },
    })
}

fn install_in_prefix(
    installer: &VerifiedInstaller,
    file: &File,
    config: &InstallConfig,
    progress: Progress,
) -> Result<InstallReport, Error> {
    let prefix = &config.prefix;
    let m = installer.manifest();
    let _lock = lock_prefix(prefix, config.wait, false)?;
    let recovered = journal::recover(prefix)?;
    let active = prefix::active(prefix)?;
    let tree = prefix::tree_name(&m.go_version);
    let dest = prefix.join(&tree);
    let replacing = existing_tree(&dest)?;
    let previous_version = active_version(prefix, &active)?;
    let mut report = InstallReport {
        go_version: m.go_version.clone(),
        goroot: prefix.join(prefix::LINK),
        tree: dest.clone(),
        changed: false,
        action: "none",
        previous_version: previous_version.clone(),
        adopted: None,
        env_files: Vec::new(),
        go_version_output: String::new(),
        build_check: None,
        files: 0,
        bytes: 0,
        receipt_id: None,
        recovered,
    };
    let is_active = match &active {
        Active::Link(t) => t == &tree,
        Active::Plain(v) => v.as_deref() == Some(m.go_version.as_str()),
        Active::None => false,
    };
    if let Some(installed) = &previous_version {
        match version::compare(&m.go_version, installed) {
            Some(Ordering::Equal) if is_active && !config.force => return Ok(report),
            Some(Ordering::Less) if !config.allow_downgrade => {
                return Err(Error::Downgrade { installed: installed.clone(), new: m.go_version.clone() })
            }
            _ => {}
        }
    }
    // Installed beside the active one and intact: activating it is all that is left to do. A
    // tree that drifted from its receipt is replaced by the signed one.
    let intact = |r: &Receipt| lifecycle::diff_tree(&dest, &tree, &r.files).map(|d| d.is_empty());
    let reusable = match receipt::read_receipt(prefix, &tree)? {
        Some(r) if replacing && !config.force => intact(&r)?,
        None if replacing && !config.force => {
            return Err(Error::Destination {
                path: dest,
                problem: "exists but was not installed by this installer (it has no receipt): move it away, or pass --force to replace it".into(),
            })
        }
        _ => false,
    };
    if reusable {
        let switched = lifecycle::switch_locked(
            prefix,
            &m.go_version,
            journal::Action::Use,
            config.log.as_deref(),
            &config.check_runner,
        )?;
        report.changed = switched.changed;
        report.action = "activated";
        report.receipt_id = Some(switched.id);
        report.go_version_output = switched.go_version_output;
        return Ok(report);
    }
    let mut journal = Journal::new(&m.go_version, &tree, staging_name());
    journal.link = Some(LinkChange { before: active.tree().map(str::to_string), after: Some(tree.clone()) });
    let mut adopted_receipt = None;
    if let Active::Plain(plain) = &active {
        let go = prefix.join(prefix::LINK);
        let version = plain.clone().ok_or_else(|| Error::Destination {
            path: go.clone(),
            problem: "is a directory without a VERSION file, not a Go tree this installer can adopt: move it away"
                .into(),
        })?;
        let keep = version != m.go_version;
        let name = if keep { prefix::tree_name(&version) } else { format!("{}.replaced", journal.staging) };
        if keep && fs::symlink_metadata(prefix.join(&name)).is_ok() {
            return Err(Error::Destination {
                path: prefix.join(&name),
                problem: format!(
                    "exists, so the {version} tree at '{}' cannot be kept under that name: move one of them away",
                    go.display()
                ),
            });
        }
        let id = journal::tree_id(&go).ok_or_else(|| Error::io("inspect", &go, std::io::ErrorKind::NotFound.into()))?;
        journal.adopt = Some(Adopt {
            id,
            tmp: format!("{}adopt.{}", journal::TEMP_PREFIX, journal.staging),
            name: name.clone(),
            keep,
        });
        if keep {
            let files = lifecycle::scan_tree(&go)?;
            adopted_receipt = Some(Receipt::new(&version, &m.goos, &m.goarch, &name, Origin::Adopted, files));
            report.adopted = Some(name);
        }
    }
    preflight(prefix, m)?;

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
        let written = AtomicU64::new(0);
        let tick = |n: u64| {
            let before = written.fetch_add(n, AtomicOrdering::Relaxed);
            if before <= half && before + n > half {
                failpoint::hit("extracting");
            }
            progress(n)
        };
        let stats = extract::extract(installer, file, &staging, &tick)?;
        failpoint::hit("extracted");
        sync_fs(&staging)?;
        failpoint::hit("synced");

        let bin = prefix.join(prefix::LINK).join("bin");
        let edits = match &config.env {
            Some(scope) => env::plan(scope, &bin).map_err(Error::Environment)?,
            None => Vec::new(),
        };
        journal.env = env::backup(&edits).map_err(Error::Environment)?;
        journal.phase = Phase::Swapping;
        journal.new_tree = journal::tree_id(&staging);
        journal.old_tree = if replacing { journal::tree_id(&dest) } else { None };
        journal.scratch = config.build_check.then(|| staging_name().replacen(STAGING_PREFIX, SCRATCH_PREFIX, 1));
        journal::write(prefix, &journal)?;
        failpoint::hit("journal-swapping");
        place(prefix, &journal, replacing)?;
        failpoint::hit("swapped");
        let check = check_installed(&m.into(), &dest, &config.check_runner)?;
        let built = match &journal.scratch {
            Some(s) => Some(build_check(&dest, &prefix.join(s), &config.check_runner)?),
            None => None,
        };
        failpoint::hit("checked");
        activate(prefix, &journal)?;
        failpoint::hit("activated");
        let applied = env::apply(&edits).map_err(Error::Environment)?;
        failpoint::hit("env-written");
        let env_records = match &config.env {
            Some(scope) => env::records(scope, &bin, &edits),
            None => Vec::new(),
        };
        Ok((stats, check, built, applied.written, env_records))
    })();
    let (stats, check, built, env_files, env_records) = match steps {
        Ok(done) => done,
        Err(error) => return Err(undo(prefix, &journal, error)),
    };

    // What commit writes: the receipts, the state, the log line.
    let mut receipt = Receipt::new(&m.go_version, &m.goos, &m.goarch, &tree, Origin::Installed, m.files.clone());
    receipt.installer = Some(InstallerInfo {
        path: installer.path().to_path_buf(),
        sha256: installer.file_sha256().to_string(),
        len: installer.layout().file_len(),
        target: m.target.clone(),
        signer_key_id: installer.signer().id.clone(),
        signer_trusted_by: installer.signer().origin.clone(),
    });
    receipt.env = env_records.clone();
    let mut state = receipt::read_state(prefix)?;
    if !is_active {
        state.previous = previous_version.clone();
        state.rolled_back = false;
    }
    state.add_env(&env_records);
    let rel = |p: PathBuf| p.strip_prefix(prefix).map(Path::to_path_buf).unwrap_or(p);
    let mut writes = vec![PendingWrite { path: rel(receipt::receipt_path(prefix, &tree)), value: Json::of(&receipt) }];
    if let Some(r) = &adopted_receipt {
        writes.push(PendingWrite { path: rel(receipt::receipt_path(prefix, &r.tree)), value: Json::of(r) });
    }
    writes.push(PendingWrite { path: rel(receipt::state_path(prefix)), value: Json::of(&state) });
    journal.writes = writes;
    if let Some(path) = &config.log {
        let mut record = LogRecord::new("install", prefix, Some(&m.go_version), previous_version.as_deref());
        record.id = receipt.id.clone();
        record.installer_sha256 = Some(installer.file_sha256().to_string());
        record.signer_key_id = Some(installer.signer().id.clone());
        journal.log = Some((path.clone(), record));
    }
    journal.phase = Phase::Committing;
    journal::write(prefix, &journal).map_err(|e| undo(prefix, &journal, e))?;
    failpoint::hit("journal-committing");
    // Installed. Failing to finish (delete the replaced tree, write the receipts) is not a failed
    // install: the journal stays and the next run finishes the job.
    if let Err(e) = journal::commit(prefix, &journal) {
        eprintln!("warning: {e}; the next run of the installer finishes the job");
    }
    report.changed = true;
    report.action = if replacing || matches!(&journal.adopt, Some(a) if !a.keep) { "reinstalled" } else { "installed" };
    report.env_files = env_files;
    report.go_version_output = check;
    report.build_check = built;
    report.files = stats.entries;
    report.bytes = stats.bytes;
    report.receipt_id = Some(receipt.id);
    Ok(report)
}

/// Points `PREFIX/go` at the new tree. A plain `go/` directory is exchanged with a new link in
/// one step (it lands at the adoption's temp name; commit gives it its versioned name).
fn activate(prefix: &Path, j: &Journal) -> Result<(), Error> {
    let after = j.link.as_ref().and_then(|l| l.after.as_deref()).unwrap_or(&j.dest);
    let Some(a) = &j.adopt else { return prefix::set_link(prefix, Some(after)) };
    let go = prefix.join(prefix::LINK);
    let tmp = prefix.join(&a.tmp);
    std::os::unix::fs::symlink(after, &tmp).map_err(|e| Error::io("create a link at", &tmp, e))?;
    match journal::renameat2(&tmp, &go, RenameFlags::EXCHANGE) {
        Ok(()) => {}
        Err(rustix::io::Errno::INVAL | rustix::io::Errno::NOSYS) => {
            let _ = fs::remove_file(&tmp);
            journal::rename_noreplace(&go, &tmp)?;
            failpoint::hit("fallback-aside");
            prefix::set_link(prefix, Some(after))?;
        }
        Err(e) => return Err(Error::io("move the link into place at", &go, e.into())),
    }
    journal::sync_dir(prefix)
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
pub(crate) fn create_prefix(prefix: &Path) -> Result<Vec<PathBuf>, Error> {
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

/// Locks the prefix directory itself (no lock file is left behind): exclusive for commands that
/// change it, shared for those that only read it.
pub fn lock_prefix(prefix: &Path, wait: bool, shared: bool) -> Result<File, Error> {
    let dir = File::open(prefix).map_err(|e| Error::io("open", prefix, e))?;
    let op = match (shared, wait) {
        (false, true) => FlockOperation::LockExclusive,
        (false, false) => FlockOperation::NonBlockingLockExclusive,
        (true, true) => FlockOperation::LockShared,
        (true, false) => FlockOperation::NonBlockingLockShared,
    };
    match rustix::fs::flock(&dir, op) {
        Ok(()) => Ok(dir),
        Err(rustix::io::Errno::WOULDBLOCK) => Err(Error::Busy(prefix.into())),
        Err(e) => Err(Error::io("lock", prefix, e.into())),
    }
}

/// Whether a Go tree is at `dest`; refuses anything that is not a plain directory.
pub(crate) fn existing_tree(dest: &Path) -> Result<bool, Error> {
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

/// Puts the staged tree at `dest`: a no-replace rename, or an exchange with the tree it replaces
/// (`--force`). Without renameat2 flags, the old tree is moved aside and the new one in: two
/// renames, with the journal (already in phase `swapping`) covering the moment between them.
fn place(prefix: &Path, journal: &Journal, replacing: bool) -> Result<(), Error> {
    let staging = prefix.join(&journal.staging);
    let dest = prefix.join(&journal.dest);
    if replacing {
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

/// A command running the tree's `go` (under the check runner, if any) in a clean environment:
/// the user's GOROOT, GOFLAGS or GOTOOLCHAIN must not change the answer, and with no HOME go has
/// nowhere to write telemetry or caches of its own.
fn go_command(goroot: &Path, runner: &[String]) -> Command {
    let mut cmd = under_runner(&goroot.join("bin/go"), runner);
    cmd.current_dir("/")
        .env_clear()
        .env("PATH", "/usr/bin:/bin")
        .env("GOENV", "off")
        .env("GOTOOLCHAIN", "local")
        .env("GOPROXY", "off")
        .env("GOCACHE", "off");
    cmd
}

/// `program`, or `runner... program` when a check runner is set.
fn under_runner(program: &Path, runner: &[String]) -> Command {
    match runner.split_first() {
        Some((first, rest)) => {
            let mut c = Command::new(first);
            c.args(rest).arg(program);
            c
        }
        None => Command::new(program),
    }
}

/// Runs `cmd` and returns its trimmed stdout, or a check failure naming `what`.
fn run_check(mut cmd: Command, what: &str) -> Result<String, Error> {
    let out = cmd.output().map_err(|e| Error::CheckFailed(format!("could not run {what}: {e}")))?;
    if !out.status.success() {
        return Err(Error::CheckFailed(format!(
            "{what} failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
}

/// What `go version` must say.
#[derive(Debug, Clone, Copy)]
pub struct Expected<'a> {
    pub go_version: &'a str,
    pub goos: &'a str,
    pub goarch: &'a str,
}

impl<'a> From<&'a Manifest> for Expected<'a> {
    fn from(m: &'a Manifest) -> Self {
        Expected { go_version: &m.go_version, goos: &m.goos, goarch: &m.goarch }
    }
}

impl<'a> From<&'a Receipt> for Expected<'a> {
    fn from(r: &'a Receipt) -> Self {
        Expected { go_version: &r.go_version, goos: &r.goos, goarch: &r.goarch }
    }
}

/// Runs the tree's `go version` and `go env GOROOT` and compares them with what is expected.
pub fn check_installed(m: &Expected<'_>, goroot: &Path, runner: &[String]) -> Result<String, Error> {
    let go = goroot.join("bin/go");
    let run = |args: &[&str]| {
        let mut cmd = go_command(goroot, runner);
        cmd.args(args);
        run_check(cmd, &format!("'{} {}'", go.display(), args.join(" ")))
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

/// The program the build check compiles.
const HELLO: &str = "package main\n\nimport \"os\"\n\nfunc main() { os.Stdout.WriteString(\"hello, world\\n\") }\n";

/// Builds and runs hello world with the tree's Go, offline, everything (sources, build cache,
/// temp files, module cache) inside `scratch`, which is removed afterwards. Under a check
/// runner the compiler and linker run under it too (`-toolexec`).
fn build_check(goroot: &Path, scratch: &Path, runner: &[String]) -> Result<String, Error> {
    DirBuilder::new()
        .mode(0o700)
        .create(scratch)
        .map_err(|e| Error::io("create the check's scratch directory", scratch, e))?;
    let result = (|| {
        let src = scratch.join("hello.go");
        fs::write(&src, HELLO).map_err(|e| Error::io("write", &src, e))?;
        let exe = scratch.join("hello");
        let mut cmd = go_command(goroot, runner);
        cmd.current_dir(scratch)
            .env("GOCACHE", scratch.join("cache"))
            .env("GOTMPDIR", scratch)
            .env("GOPATH", scratch.join("gopath"))
            .env("GOMODCACHE", scratch.join("gopath/pkg/mod"))
            .env("CGO_ENABLED", "0")
            .arg("build");
        if !runner.is_empty() {
            cmd.arg(format!("-toolexec={}", runner.join(" ")));
        }
        cmd.arg("-o").arg(&exe).arg(&src);
        run_check(cmd, "building hello world with the new Go")?;
        let mut run = under_runner(&exe, runner);
        run.current_dir(scratch).env_clear();
        let printed = run_check(run, "running hello world built with the new Go")?;
        if printed != "hello, world" {
            return Err(Error::CheckFailed(format!("hello world printed '{printed}', expected 'hello, world'")));
        }
        Ok(printed)
    })();
    let _ = fs::remove_dir_all(scratch);
    result
}
