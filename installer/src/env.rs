//! The shell environment: putting `GOROOT/bin` and `$GOPATH/bin` on PATH, once.
//!
//! Edits are data: [`plan`] computes every file's new contents from the inputs it is given (HOME,
//! SHELL, root or not), without reading the process environment, and [`apply`] writes them, undoing
//! what it wrote if a later write fails. Our own scripts are written whole (temp file + rename); a
//! user's rc files only ever get one exact line appended, after a newline if the file lacks one,
//! and only when the line is not already there. Running the installer twice therefore leaves every
//! file byte-identical to running it once. `GOROOT` is never set: Go finds it from its own path.

use crate::receipt::EnvRecord;
use std::{
    fs::{self, OpenOptions},
    io::Write,
    os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt},
    path::{Path, PathBuf},
};

/// Where the environment goes.
#[derive(Debug, Clone)]
pub enum Scope {
    /// Root: one script in the system profile directory.
    System { profile_d: PathBuf },
    /// A user: an env script under HOME, sourced from the rc files.
    User { home: PathBuf, shell: Option<String> },
}

/// The comment that marks what we wrote.
const MARKER: &str = "go-offline-installer";

/// The rc files of a user, and when each gets the source line.
///
/// | file            | when         | why                                                      |
/// |-----------------|--------------|----------------------------------------------------------|
/// | `.profile`      | always       | read by sh/dash/ksh login shells, and by bash without .bash_profile |
/// | `.bash_profile` | if it exists | bash reads it *instead of* `.profile` for login shells   |
/// | `.bash_login`   | if it exists | likewise, when `.bash_profile` is absent                 |
/// | `.bashrc`       | if it exists | interactive non-login bash (most terminal windows)       |
/// | `.zshenv`       | if it exists | every zsh                                                |
/// | `.zshrc`        | if it exists | interactive zsh, for setups without `.zshenv`           |
const RC_FILES: &[(&str, bool)] = &[
    (".profile", true),
    (".bash_profile", false),
    (".bash_login", false),
    (".bashrc", false),
    (".zshenv", false),
    (".zshrc", false),
];

/// One file to write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Edit {
    /// Write the whole file (our own script).
    Replace { path: PathBuf, contents: String, mode: u32 },
    /// Append this text to a user's file (which may not exist yet).
    Append { path: PathBuf, text: String },
}

impl Edit {
    pub fn path(&self) -> &Path {
        match self {
            Edit::Replace { path, .. } | Edit::Append { path, .. } => path,
        }
    }
}

/// The POSIX sh script that puts Go on PATH. `bin_dir` is `GOROOT/bin`.
pub fn posix_script(bin_dir: &Path) -> String {
    let dir = shell_quote(&bin_dir.to_string_lossy());
    format!(
        r#"# Written by {MARKER}: puts Go on PATH. Do not edit; re-run the installer instead.
# GOROOT is deliberately not set: the go command finds it from its own location.
_go_offline_root_bin={dir}
case ":${{PATH}}:" in
    *:"$_go_offline_root_bin":*) ;;
    *) export PATH="$_go_offline_root_bin:$PATH" ;;
esac
_go_offline_gopath="${{GOPATH:-$HOME/go}}"
_go_offline_gopath_bin="${{_go_offline_gopath%%:*}}/bin"
case ":${{PATH}}:" in
    *:"$_go_offline_gopath_bin":*) ;;
    *) export PATH="$PATH:$_go_offline_gopath_bin" ;;
esac
unset _go_offline_root_bin _go_offline_gopath _go_offline_gopath_bin
"#
    )
}

/// The fish script that does the same.
pub fn fish_script(bin_dir: &Path) -> String {
    let dir = shell_quote(&bin_dir.to_string_lossy());
    format!(
        r#"# Written by {MARKER}: puts Go on PATH. Do not edit; re-run the installer instead.
if not contains -- {dir} $PATH
    set -gx PATH {dir} $PATH
end
set -l _go_offline_gopath $HOME/go
if set -q GOPATH
    set _go_offline_gopath (string split -m1 : $GOPATH)[1]
end
if not contains -- $_go_offline_gopath/bin $PATH
    set -gx PATH $PATH $_go_offline_gopath/bin
end
"#
    )
}

/// Single-quotes a string for sh and fish.
fn shell_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

/// Path of a user's env script.
pub fn user_env_script(home: &Path) -> PathBuf {
    home.join(".config/go-offline/env")
}

/// The line added to rc files.
pub fn source_line() -> String {
    format!(r#"if [ -f "$HOME/.config/go-offline/env" ]; then . "$HOME/.config/go-offline/env"; fi # {MARKER}"#)
}

/// Computes the edits for `scope` so that `bin_dir` ends up on PATH. Reads the rc files that exist
/// (to skip lines already present) and nothing else. Edits that would change nothing are omitted.
pub fn plan(scope: &Scope, bin_dir: &Path) -> Result<Vec<Edit>, String> {
    let mut edits = Vec::new();
    let mut replace = |path: PathBuf, contents: String, mode: u32| -> Result<(), String> {
        match fs::read(&path) {
            Ok(old) if old == contents.as_bytes() => {}
            Ok(_) => edits.push(Edit::Replace { path, contents, mode }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => edits.push(Edit::Replace { path, contents, mode }),
            Err(e) => return Err(format!("cannot read '{}': {e}", path.display())),
        }
        Ok(())
    };
    match scope {
        Scope::System { profile_d } => replace(profile_d.join("go.sh"), posix_script(bin_dir), 0o644)?,
        Scope::User { home, shell } => {
            replace(user_env_script(home), posix_script(bin_dir), 0o644)?;
            let fish_conf = home.join(".config/fish");
            let uses_fish = shell.as_deref().is_some_and(|s| s.ends_with("/fish") || s == "fish");
            if uses_fish || fish_conf.is_dir() {
                replace(fish_conf.join("conf.d/go-offline.fish"), fish_script(bin_dir), 0o644)?;
            }
            rc_edits(home, &source_line(), &mut edits)?;
        }
    }
    Ok(edits)
}

/// Appends `line` to the rc files of `home` that need it (see [`RC_FILES`]).
fn rc_edits(home: &Path, line: &str, edits: &mut Vec<Edit>) -> Result<(), String> {
    for (name, always) in RC_FILES {
        let path = home.join(name);
        let existing = match fs::read(&path) {
            Ok(bytes) => Some(bytes),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(e) => return Err(format!("cannot read '{}': {e}", path.display())),
        };
        if existing.is_none() && !always {
            continue;
        }
        let existing = existing.unwrap_or_default();
        let text = String::from_utf8_lossy(&existing);
        if text.lines().any(|l| l.trim_end() == line) {
            continue;
        }
        let mut add = String::new();
        if !existing.is_empty() && !existing.ends_with(b"\n") {
            add.push('\n');
        }
        add.push_str(line);
        add.push('\n');
        edits.push(Edit::Append { path, text: add });
    }
    Ok(())
}

/// The POSIX sh script that points the go command at an installed module bundle (a module
/// proxy directory), unless GOPROXY already names a proxy other than `off`. Checksum
/// verification is not touched: go still checks every module against go.sum (and GOSUMDB for
/// a module go.sum lacks, which fails offline rather than trusting it).
pub fn modules_script(proxy_dir: &Path) -> String {
    let url = shell_quote(&format!("file://{}", proxy_dir.to_string_lossy()));
    format!(
        r#"# Written by {MARKER}: points Go at the offline module bundle. Do not edit; re-run the installer instead.
# Sums stay verified: GOSUMDB and GONOSUMDB are left as they are.
case "${{GOPROXY:-off}}" in
    off) export GOPROXY={url} ;;
esac
"#
    )
}

/// Path of a user's module env script.
pub fn user_modules_script(home: &Path) -> PathBuf {
    home.join(".config/go-offline/modules.env")
}

/// Computes the edits that make the module bundle at `proxy_dir` Go's proxy: a script in the
/// system profile directory, or a user script sourced from the rc files.
pub fn plan_modules(scope: &Scope, proxy_dir: &Path) -> Result<Vec<Edit>, String> {
    let contents = modules_script(proxy_dir);
    let mut edits = Vec::new();
    let path = match scope {
        Scope::System { profile_d } => profile_d.join("go-modules.sh"),
        Scope::User { home, .. } => {
            let line = format!(
                r#"if [ -f "$HOME/.config/go-offline/modules.env" ]; then . "$HOME/.config/go-offline/modules.env"; fi # {MARKER}"#
            );
            rc_edits(home, &line, &mut edits)?;
            user_modules_script(home)
        }
    };
    match fs::read(&path) {
        Ok(old) if old == contents.as_bytes() => {}
        Ok(_) => edits.insert(0, Edit::Replace { path, contents, mode: 0o644 }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            edits.insert(0, Edit::Replace { path, contents, mode: 0o644 })
        }
        Err(e) => return Err(format!("cannot read '{}': {e}", path.display())),
    }
    Ok(edits)
}

/// What [`apply`] did, so it can be undone.
#[derive(Debug, Default)]
pub struct Applied {
    undo: Vec<Undo>,
    /// Paths written, in order.
    pub written: Vec<PathBuf>,
}

#[derive(Debug)]
enum Undo {
    Restore { path: PathBuf, contents: Vec<u8> },
    Remove(PathBuf),
    Truncate { path: PathBuf, len: u64 },
    RemoveDir(PathBuf),
}

impl Applied {
    /// Undoes every write, last first. Best effort: errors are ignored because this runs while
    /// another error is already being reported.
    pub fn rollback(self) {
        for u in self.undo.into_iter().rev() {
            let _ = match u {
                Undo::Restore { path, contents } => write_atomic(&path, &contents, None),
                Undo::Remove(path) => fs::remove_file(path),
                Undo::Truncate { path, len } => OpenOptions::new().write(true).open(path).and_then(|f| f.set_len(len)),
                Undo::RemoveDir(path) => fs::remove_dir(path),
            };
        }
    }
}

/// Applies the edits; on failure undoes the ones already made and returns the error.
pub fn apply(edits: &[Edit]) -> Result<Applied, String> {
    let mut applied = Applied::default();
    for edit in edits {
        if let Err(e) = apply_one(edit, &mut applied) {
            applied.rollback();
            return Err(e);
        }
    }
    Ok(applied)
}

fn apply_one(edit: &Edit, applied: &mut Applied) -> Result<(), String> {
    let path = edit.path();
    let fail = |what: &str, e: std::io::Error| format!("cannot {what} '{}': {e}", path.display());
    if let Some(parent) = path.parent() {
        create_dirs(parent, applied).map_err(|e| fail("create the directory of", e))?;
    }
    match edit {
        Edit::Replace { contents, mode, .. } => {
            match fs::read(path) {
                Ok(old) => applied.undo.push(Undo::Restore { path: path.into(), contents: old }),
                Err(_) => applied.undo.push(Undo::Remove(path.into())),
            }
            write_atomic(path, contents.as_bytes(), Some(*mode)).map_err(|e| fail("write", e))?;
        }
        Edit::Append { text, .. } => {
            // Appending in place keeps the user's file, its mode, owner and any symlink to it.
            let mut f =
                OpenOptions::new().append(true).create(true).mode(0o644).open(path).map_err(|e| fail("open", e))?;
            let len = f.metadata().map_err(|e| fail("stat", e))?.len();
            applied.undo.push(if len == 0 {
                Undo::Remove(path.into())
            } else {
                Undo::Truncate { path: path.into(), len }
            });
            f.write_all(text.as_bytes()).map_err(|e| fail("append to", e))?;
            f.sync_all().map_err(|e| fail("sync", e))?;
        }
    }
    applied.written.push(path.into());
    Ok(())
}

/// The state of one file before [`apply`], kept in the install journal so that a crash after
/// the environment was written can still be undone by the next run.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Backup {
    pub path: PathBuf,
    /// Hex of the previous contents; `None` when the file did not exist.
    pub contents: Option<String>,
    /// Directories [`apply`] would create for it, outermost first.
    pub created_dirs: Vec<PathBuf>,
}

/// Records what `edits` are about to change.
pub fn backup(edits: &[Edit]) -> Result<Vec<Backup>, String> {
    let mut backups = Vec::new();
    for edit in edits {
        let path = edit.path();
        let contents = match fs::read(path) {
            Ok(bytes) => Some(hex::encode(bytes)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(e) => return Err(format!("cannot read '{}': {e}", path.display())),
        };
        let mut created_dirs = Vec::new();
        let mut dir = path.parent();
        while let Some(d) = dir.filter(|d| !d.as_os_str().is_empty() && fs::symlink_metadata(d).is_err()) {
            created_dirs.insert(0, d.to_path_buf());
            dir = d.parent();
        }
        backups.push(Backup { path: path.into(), contents, created_dirs });
    }
    Ok(backups)
}

/// Puts every file of `backups` back as it was; idempotent, so it can run again after a crash.
/// A file the user appended to is truncated back in place (keeping its owner, mode and links);
/// a file that differs otherwise is rewritten whole.
pub fn restore(backups: &[Backup]) -> Result<(), String> {
    for b in backups.iter().rev() {
        let fail = |what: &str, e: std::io::Error| format!("cannot {what} '{}': {e}", b.path.display());
        let current = match fs::read(&b.path) {
            Ok(bytes) => Some(bytes),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(e) => return Err(fail("read", e)),
        };
        let previous = match &b.contents {
            Some(h) => {
                Some(hex::decode(h).map_err(|e| format!("journal entry for '{}' is corrupt: {e}", b.path.display()))?)
            }
            None => None,
        };
        match (previous, current) {
            (None, None) => {}
            (None, Some(_)) => fs::remove_file(&b.path).map_err(|e| fail("remove", e))?,
            (Some(prev), Some(cur)) if prev == cur => {}
            (Some(prev), Some(cur)) if cur.starts_with(&prev) => OpenOptions::new()
                .write(true)
                .open(&b.path)
                .and_then(|f| {
                    f.set_len(prev.len() as u64)?;
                    f.sync_all()
                })
                .map_err(|e| fail("truncate", e))?,
            (Some(prev), _) => write_atomic(&b.path, &prev, None).map_err(|e| fail("restore", e))?,
        }
        for dir in b.created_dirs.iter().rev() {
            // Only what exists: apply may have stopped before creating it (and removing a
            // missing name on a read-only file system fails with EROFS, not ENOENT).
            if !fs::symlink_metadata(dir).is_ok_and(|m| m.is_dir()) {
                continue;
            }
            match fs::remove_dir(dir) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                // Not empty: something else lives there now; it stays.
                Err(e) if e.kind() == std::io::ErrorKind::DirectoryNotEmpty => {}
                Err(e) => return Err(format!("cannot remove '{}': {e}", dir.display())),
            }
        }
    }
    Ok(())
}

/// What this tool's part of the environment is now, for receipts: each of our scripts whose
/// contents are ours, and each rc file holding our line. `edits` are those just applied, to
/// know where a newline was added before the line.
pub fn records(scope: &Scope, bin_dir: &Path, edits: &[Edit]) -> Vec<EnvRecord> {
    let mut out = Vec::new();
    let script = |path: PathBuf, contents: String, out: &mut Vec<EnvRecord>| {
        if fs::read(&path).is_ok_and(|b| b == contents.as_bytes()) {
            out.push(EnvRecord::Script { path, sha256: sha256_hex(contents.as_bytes()) });
        }
    };
    match scope {
        Scope::System { profile_d } => script(profile_d.join("go.sh"), posix_script(bin_dir), &mut out),
        Scope::User { home, .. } => {
            script(user_env_script(home), posix_script(bin_dir), &mut out);
            script(home.join(".config/fish/conf.d/go-offline.fish"), fish_script(bin_dir), &mut out);
            let line = source_line();
            for (name, _) in RC_FILES {
                let path = home.join(name);
                let has =
                    fs::read(&path).is_ok_and(|b| String::from_utf8_lossy(&b).lines().any(|l| l.trim_end() == line));
                if has {
                    let newline_added = edits
                        .iter()
                        .any(|e| matches!(e, Edit::Append { path: p, text } if p == &path && text.starts_with('\n')));
                    out.push(EnvRecord::Line { path, line: line.clone(), newline_added });
                }
            }
        }
    }
    out
}

fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(bytes))
}

/// How uninstall leaves one environment file.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Final {
    pub path: PathBuf,
    /// Hex of the new contents; `None` removes the file.
    pub contents: Option<String>,
}

/// What uninstalling `records` does to each file, and the files kept because the user changed
/// them. Our scripts go when they are exactly as written; our line leaves each rc file and
/// every other byte of it stays (the newline put before it goes too, when nothing follows).
pub fn removal_plan(records: &[EnvRecord]) -> (Vec<Final>, Vec<String>) {
    let mut finals = Vec::new();
    let mut kept = Vec::new();
    for r in records {
        let Ok(bytes) = fs::read(r.path()) else { continue };
        match r {
            EnvRecord::Script { path, sha256 } => {
                if &sha256_hex(&bytes) == sha256 {
                    finals.push(Final { path: path.clone(), contents: None });
                } else {
                    kept.push(format!("{} (changed since it was written; remove it by hand)", path.display()));
                }
            }
            EnvRecord::Line { path, line, newline_added } => {
                if let Some(new) = without_line(&bytes, line, *newline_added) {
                    finals.push(Final { path: path.clone(), contents: Some(hex::encode(new)) });
                }
            }
        }
    }
    (finals, kept)
}

/// `text` without the first line equal to `line`; `None` if there is none.
fn without_line(text: &[u8], line: &str, newline_added: bool) -> Option<Vec<u8>> {
    let mut start = 0;
    while start < text.len() {
        let end = text[start..].iter().position(|&b| b == b'\n').map_or(text.len(), |i| start + i + 1);
        let this = String::from_utf8_lossy(&text[start..end]);
        if this.trim_end() == line {
            let mut out = text[..start].to_vec();
            out.extend_from_slice(&text[end..]);
            if newline_added && end >= text.len() && out.ends_with(b"\n") {
                out.pop();
            }
            return Some(out);
        }
        start = end;
    }
    None
}

/// Applies uninstall's [`Final`]s; idempotent. A rewritten file keeps its mode; the directory of
/// the user env script goes when it is left empty.
pub fn apply_final(finals: &[Final]) -> Result<(), String> {
    for f in finals {
        let fail = |what: &str, e: std::io::Error| format!("cannot {what} '{}': {e}", f.path.display());
        match &f.contents {
            None => {
                match fs::remove_file(&f.path) {
                    Ok(()) => {}
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                    Err(e) => return Err(fail("remove", e)),
                }
                if let Some(dir) = f.path.parent().filter(|d| d.file_name().is_some_and(|n| n == "go-offline")) {
                    let _ = fs::remove_dir(dir);
                }
            }
            Some(h) => {
                let new =
                    hex::decode(h).map_err(|e| format!("journal entry for '{}' is corrupt: {e}", f.path.display()))?;
                match fs::read(&f.path) {
                    Ok(cur) if cur == new => {}
                    Ok(_) => write_atomic(&f.path, &new, None).map_err(|e| fail("rewrite", e))?,
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                    Err(e) => return Err(fail("read", e)),
                }
            }
        }
    }
    Ok(())
}

/// `create_dir_all`, recording each directory created so rollback can remove it.
fn create_dirs(dir: &Path, applied: &mut Applied) -> std::io::Result<()> {
    if dir.is_dir() {
        return Ok(());
    }
    if let Some(parent) = dir.parent() {
        create_dirs(parent, applied)?;
    }
    // 0755 whatever the umask: a umask of 000 must not make a world-writable directory.
    fs::DirBuilder::new().mode(0o755).create(dir)?;
    fs::set_permissions(dir, fs::Permissions::from_mode(0o755))?;
    applied.undo.push(Undo::RemoveDir(dir.into()));
    Ok(())
}

/// Writes a file by temp file + fsync + rename, so readers never see half of it.
fn write_atomic(path: &Path, contents: &[u8], mode: Option<u32>) -> std::io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let mut tmp = tempfile::Builder::new().prefix(crate::journal::TEMP_PREFIX).tempfile_in(dir)?;
    tmp.write_all(contents)?;
    let mode = match mode {
        Some(m) => m,
        None => fs::metadata(path).map(|m| m.permissions().mode() & 0o7777).unwrap_or(0o644),
    };
    tmp.as_file().set_permissions(fs::Permissions::from_mode(mode))?;
    tmp.as_file().sync_all()?;
    tmp.persist(path).map_err(|e| e.error)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run_twice(scope: &Scope, bin: &Path) {
        let first = plan(scope, bin).unwrap();
        assert!(!first.is_empty());
        apply(&first).unwrap();
        assert_eq!(plan(scope, bin).unwrap(), vec![], "second plan must be empty");
    }

    #[test]
    fn user_edits_are_idempotent_and_keep_user_content() {
        let home = tempfile::tempdir().unwrap();
        fs::write(home.path().join(".bashrc"), "alias ll='ls -l'").unwrap(); // no final newline
        let scope = Scope::User { home: home.path().into(), shell: Some("/usr/bin/fish".into()) };
        run_twice(&scope, Path::new("/opt/it's here/go/bin"));
        let bashrc = fs::read_to_string(home.path().join(".bashrc")).unwrap();
        assert_eq!(bashrc, format!("alias ll='ls -l'\n{}\n", source_line()));
        assert!(home.path().join(".profile").exists());
        assert!(!home.path().join(".zshrc").exists(), "absent zshrc must not be created");
        assert!(home.path().join(".config/fish/conf.d/go-offline.fish").exists());
        let script = fs::read_to_string(user_env_script(home.path())).unwrap();
        assert!(script.contains(r"_go_offline_root_bin='/opt/it'\''s here/go/bin'"), "{script}");
    }

    #[test]
    fn script_puts_dirs_on_path_once() {
        let dir = tempfile::tempdir().unwrap();
        let script = dir.path().join("env");
        fs::write(&script, posix_script(Path::new("/x y/go/bin"))).unwrap();
        let out = std::process::Command::new("sh")
            .arg("-c")
            .arg(format!(". '{0}'; . '{0}'; printf %s \"$PATH\"", script.display()))
            .env("PATH", "/usr/bin:/bin")
            .env("HOME", "/home/u")
            .env_remove("GOPATH")
            .output()
            .unwrap();
        assert_eq!(String::from_utf8_lossy(&out.stdout), "/x y/go/bin:/usr/bin:/bin:/home/u/go/bin");
    }

    #[test]
    fn restore_from_backup_is_idempotent() {
        let home = tempfile::tempdir().unwrap();
        fs::write(home.path().join(".profile"), "user line\n").unwrap();
        fs::write(home.path().join(".bashrc"), "no newline").unwrap();
        let scope = Scope::User { home: home.path().into(), shell: None };
        let edits = plan(&scope, Path::new("/g/bin")).unwrap();
        let backups = backup(&edits).unwrap();
        apply(&edits).unwrap();
        restore(&backups).unwrap();
        restore(&backups).unwrap();
        assert_eq!(fs::read_to_string(home.path().join(".profile")).unwrap(), "user line\n");
        assert_eq!(fs::read_to_string(home.path().join(".bashrc")).unwrap(), "no newline");
        assert!(!home.path().join(".config").exists());
        // Restoring before anything was applied changes nothing either.
        restore(&backups).unwrap();
        assert_eq!(fs::read_to_string(home.path().join(".profile")).unwrap(), "user line\n");
    }

    #[test]
    fn uninstall_removes_only_our_part() {
        let home = tempfile::tempdir().unwrap();
        let h = home.path();
        // (file, before install, user text appended after install)
        let cases =
            [(".profile", "user line\n", "export A=1\n"), (".bashrc", "no newline", ""), (".zshrc", "", "alias x=y\n")];
        for (name, before, _) in cases {
            fs::write(h.join(name), before).unwrap();
        }
        let scope = Scope::User { home: h.into(), shell: None };
        let edits = plan(&scope, Path::new("/g/bin")).unwrap();
        apply(&edits).unwrap();
        let recs = records(&scope, Path::new("/g/bin"), &edits);
        assert_eq!(recs.len(), 4, "{recs:?}");
        for (name, _, after) in cases {
            OpenOptions::new().append(true).open(h.join(name)).unwrap().write_all(after.as_bytes()).unwrap();
        }
        let (finals, kept) = removal_plan(&recs);
        assert!(kept.is_empty());
        apply_final(&finals).unwrap();
        apply_final(&finals).unwrap();
        for (name, before, after) in cases {
            assert_eq!(fs::read_to_string(h.join(name)).unwrap(), format!("{before}{after}"), "{name}");
        }
        assert!(!h.join(".config").join("go-offline").exists());
        // An edited script of ours stays.
        apply(&plan(&scope, Path::new("/g/bin")).unwrap()).unwrap();
        let recs = records(&scope, Path::new("/g/bin"), &[]);
        fs::write(user_env_script(h), "edited").unwrap();
        let (_, kept) = removal_plan(&recs);
        assert_eq!(kept.len(), 1, "{kept:?}");
    }

    #[test]
    fn rollback_restores_everything() {
        let home = tempfile::tempdir().unwrap();
        fs::write(home.path().join(".profile"), "user line\n").unwrap();
        let scope = Scope::User { home: home.path().into(), shell: None };
        let applied = apply(&plan(&scope, Path::new("/g/bin")).unwrap()).unwrap();
        applied.rollback();
        assert_eq!(fs::read_to_string(home.path().join(".profile")).unwrap(), "user line\n");
        assert!(!home.path().join(".config").exists());
    }
}
