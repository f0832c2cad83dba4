//! Where the shell environment goes, and what is written there: on Unix a profile script for
//! root, an env script under HOME sourced by one line in the user's rc files (and a fish script)
//! for a user; on Windows two entries of the registry's `Path` (the user's, or with `--system`
//! the machine's): `PREFIX\go\bin` and `%USERPROFILE%\go\bin`. One description ([`pieces`]) serves Go and module bundles alike; the engine's
//! `env` module turns it into edits, applies them, journals and undoes them.
//!
//! The scripts are templates (`os/templates/`) with the one value they need filled in, quoted.
//! They guard themselves at shell run time, so sourcing them twice changes nothing. `GOROOT` is
//! never set: Go finds it from its own path.

use std::path::{Path, PathBuf};

use super::Store;

/// The comment that marks what we wrote.
pub const MARKER: &str = "go-offline-installer";
/// Root's profile directory.
pub const SYSTEM_PROFILE_D: &str = "/etc/profile.d";

const GO_SH: &str = include_str!("templates/go.sh");
const GO_FISH: &str = include_str!("templates/go.fish");
const MODULES_SH: &str = include_str!("templates/modules.sh");
const MODULES_SUMDB_SH: &str = include_str!("templates/modules-sumdb.sh");

/// Where the environment goes.
#[derive(Debug, Clone)]
pub enum Scope {
    /// Root: one script in the system profile directory.
    System { profile_d: PathBuf },
    /// A user: an env script under HOME, sourced from the rc files.
    User { home: PathBuf, shell: Option<String> },
    /// Windows: the `Path` value of the user's or the machine's environment.
    Registry { store: Store },
}

/// What an environment is for.
#[derive(Debug, Clone, Copy)]
pub enum Purpose<'a> {
    /// Go on PATH: `bin_dir` is `PREFIX/go/bin`.
    Go { bin_dir: &'a Path },
    /// `GOPROXY` at an installed module bundle, and `GOSUMDB` at its checksum database, if any.
    Modules { proxy_dir: &'a Path, sumdb: Option<&'a str> },
}

/// One part of an environment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Piece {
    /// A whole file of ours.
    Script { path: PathBuf, contents: String },
    /// One exact line in a user's file; `create` says whether a missing file is created for it.
    Line { path: PathBuf, line: String, create: bool },
    /// One entry of the `;`-separated `Path` value of a store, kept `REG_EXPAND_SZ`.
    PathEntry { store: Store, entry: String },
}

/// The entry for the user's own Go programs (`go install`'s default GOBIN), expanded per user.
pub const USER_GO_BIN: &str = r"%USERPROFILE%\go\bin";

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
pub const RC_FILES: &[(&str, bool)] = &[
    (".profile", true),
    (".bash_profile", false),
    (".bash_login", false),
    (".bashrc", false),
    (".zshenv", false),
    (".zshrc", false),
];

/// Every piece of the environment `purpose` needs in `scope`, in the order they are written.
pub fn pieces(scope: &Scope, purpose: Purpose) -> Vec<Piece> {
    let script = |path: PathBuf, contents: String| Piece::Script { path, contents };
    match (scope, purpose) {
        (Scope::System { profile_d }, Purpose::Go { bin_dir }) => {
            vec![script(profile_d.join("go.sh"), posix_script(bin_dir))]
        }
        (Scope::System { profile_d }, Purpose::Modules { proxy_dir, sumdb }) => {
            vec![script(profile_d.join("go-modules.sh"), modules_script(proxy_dir, sumdb))]
        }
        (Scope::User { home, shell }, Purpose::Go { bin_dir }) => {
            let mut v = vec![script(user_env_script(home), posix_script(bin_dir))];
            let fish_conf = home.join(".config/fish");
            let uses_fish = shell.as_deref().is_some_and(|s| s.ends_with("/fish") || s == "fish");
            if uses_fish || fish_conf.is_dir() {
                v.push(script(fish_conf.join("conf.d/go-offline.fish"), fish_script(bin_dir)));
            }
            v.extend(rc_lines(home, &source_line()));
            v
        }
        (Scope::User { home, .. }, Purpose::Modules { proxy_dir, sumdb }) => {
            let mut v = vec![script(user_modules_script(home), modules_script(proxy_dir, sumdb))];
            v.extend(rc_lines(home, &modules_source_line()));
            v
        }
        (Scope::Registry { store }, Purpose::Go { bin_dir }) => {
            [bin_dir.to_string_lossy().into_owned(), USER_GO_BIN.into()]
                .into_iter()
                .map(|entry| Piece::PathEntry { store: *store, entry })
                .collect()
        }
        // Module bundles are not installed on Windows yet.
        (Scope::Registry { .. }, Purpose::Modules { .. }) => Vec::new(),
    }
}

/// The source line in each rc file of [`RC_FILES`].
fn rc_lines(home: &Path, line: &str) -> Vec<Piece> {
    RC_FILES
        .iter()
        .map(|(name, always)| Piece::Line { path: home.join(name), line: line.to_string(), create: *always })
        .collect()
}

/// Where the environment goes, for the plan shown before installing: the system script, or the
/// user's script and rc files. (No scope, the environment left unchanged, is the caller's to say:
/// it is a choice made on its command line.)
pub fn describe(scope: &Scope, purpose: Purpose) -> String {
    match (scope, purpose) {
        (Scope::System { profile_d }, Purpose::Go { .. }) => profile_d.join("go.sh").display().to_string(),
        (Scope::System { profile_d }, Purpose::Modules { .. }) => profile_d.join("go-modules.sh").display().to_string(),
        (Scope::User { home, .. }, Purpose::Go { .. }) => {
            format!("{} and your shell rc files", user_env_script(home).display())
        }
        (Scope::User { home, .. }, Purpose::Modules { .. }) => {
            format!("{} and your shell rc files", user_modules_script(home).display())
        }
        (Scope::Registry { store }, Purpose::Go { bin_dir }) => {
            format!("{} (adds {} and {USER_GO_BIN})", store.path_value().display(), bin_dir.display())
        }
        (Scope::Registry { .. }, Purpose::Modules { .. }) => "unchanged (not on Windows yet)".to_string(),
    }
}

/// The POSIX sh script that puts Go on PATH. `bin_dir` is `PREFIX/go/bin`; `PREFIX/bin`, the
/// toolchain links, comes right after it.
pub fn posix_script(bin_dir: &Path) -> String {
    GO_SH
        .replace("@BIN_DIR@", &shell_quote(&bin_dir.to_string_lossy()))
        .replace("@TOOLCHAINS_DIR@", &shell_quote(&toolchains_dir(bin_dir).to_string_lossy()))
}

/// The fish script that does the same.
pub fn fish_script(bin_dir: &Path) -> String {
    GO_FISH
        .replace("@BIN_DIR@", &shell_quote(&bin_dir.to_string_lossy()))
        .replace("@TOOLCHAINS_DIR@", &shell_quote(&toolchains_dir(bin_dir).to_string_lossy()))
}

/// `PREFIX/bin` of `PREFIX/go/bin`.
fn toolchains_dir(bin_dir: &Path) -> PathBuf {
    bin_dir.parent().and_then(Path::parent).unwrap_or(Path::new("/")).join("bin")
}

/// The POSIX sh script that points the go command at an installed module bundle (a module
/// proxy directory), unless GOPROXY already names a proxy other than `off`. Checksum
/// verification is not touched: go still checks every module against go.sum (and GOSUMDB for
/// a module go.sum lacks, which fails offline rather than trusting it).
///
/// With `sumdb` (the bundle's checksum database, `GOSUMDB`'s `NAME+HASH+KEY`), it also sets
/// `GOSUMDB` to it when it sets `GOPROXY` and `GOSUMDB` is unset: the go command then checks a
/// module no go.sum lists yet against that database, offline.
pub fn modules_script(proxy_dir: &Path, sumdb: Option<&str>) -> String {
    let proxy = shell_quote(&format!("file://{}", proxy_dir.to_string_lossy()));
    match sumdb {
        None => MODULES_SH.replace("@PROXY_URL@", &proxy),
        Some(key) => MODULES_SUMDB_SH.replace("@PROXY_URL@", &proxy).replace("@SUMDB@", &shell_quote(key)),
    }
}

/// Single-quotes a string for sh and fish.
fn shell_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

/// The prefix `existing` was written for, when it is exactly one of our scripts as this
/// installer writes them ([`posix_script`], [`fish_script`], [`modules_script`]); `None` for
/// anything else (a script of an earlier release, one edited by hand, someone else's file). Each
/// quoted string in it is tried as the one value its template takes, and the script made again
/// from it must be `existing` byte for byte, so a match is never a guess.
pub fn script_prefix(existing: &[u8]) -> Option<PathBuf> {
    let text = std::str::from_utf8(existing).ok()?;
    let values = quoted_strings(text);
    values.iter().find_map(|value| {
        if let Some(proxy_dir) = value.strip_prefix("file://").map(Path::new) {
            // With no checksum database, or with any other quoted value as its key.
            let mut sumdbs = std::iter::once(None).chain(values.iter().map(|v| Some(v.as_str())));
            if sumdbs.any(|sumdb| modules_script(proxy_dir, sumdb) == text) {
                return proxy_dir.parent().map(Path::to_path_buf);
            }
        }
        let bin_dir = Path::new(&value);
        let ours = posix_script(bin_dir) == text || fish_script(bin_dir) == text;
        // `PREFIX/go/bin`: the prefix is two levels up.
        ours.then(|| bin_dir.parent().and_then(Path::parent).map(Path::to_path_buf)).flatten()
    })
}

/// The strings of `text` quoted as [`shell_quote`] quotes them, unquoted, in order.
fn quoted_strings(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find('\'') {
        let mut value = String::new();
        let mut after = &rest[start + 1..];
        loop {
            let Some(end) = after.find('\'') else { return out };
            value.push_str(&after[..end]);
            after = &after[end + 1..];
            match after.strip_prefix(r"\''") {
                Some(more) => {
                    value.push('\'');
                    after = more;
                }
                None => break,
            }
        }
        out.push(value);
        rest = after;
    }
    out
}

/// Path of a user's env script.
pub fn user_env_script(home: &Path) -> PathBuf {
    home.join(".config/go-offline/env")
}

/// Path of a user's module env script.
pub fn user_modules_script(home: &Path) -> PathBuf {
    home.join(".config/go-offline/modules.env")
}

/// The line added to rc files for Go.
pub fn source_line() -> String {
    format!(r#"if [ -f "$HOME/.config/go-offline/env" ]; then . "$HOME/.config/go-offline/env"; fi # {MARKER}"#)
}

/// The line added to rc files for the module bundle.
pub fn modules_source_line() -> String {
    format!(
        r#"if [ -f "$HOME/.config/go-offline/modules.env" ]; then . "$HOME/.config/go-offline/modules.env"; fi # {MARKER}"#
    )
}

/// How a toolchain shim starts: what marks it as ours.
pub const SHIM_HEADER: &str = "#!/bin/sh\n# go-offline-installer toolchain shim.";

/// The shim's line naming the tree it runs.
const SHIM_RUNS: &str = "# runs: ";

/// The target of the toolchain link to `tree`'s go command, relative to `PREFIX/bin`.
pub fn toolchain_link(tree: &str) -> String {
    format!("../{tree}/bin/go")
}

/// The tree a link made by [`toolchain_link`] names, if `target` is one.
pub fn toolchain_link_tree(target: &str) -> Option<&str> {
    target.strip_prefix("../")?.strip_suffix("/bin/go")
}

/// A toolchain shim's text: runs `go` (of `tree`) for a go command that asked for `name`.
pub fn toolchain_shim(go: &Path, name: &str, tree: &str) -> String {
    let quoted = format!("'{}'", go.to_string_lossy().replace('\'', r"'\''"));
    format!(
        "{SHIM_HEADER} Do not edit: the installer rewrites and removes it.\n\
         {SHIM_RUNS}{tree}\n\
         # A go.mod asking for {name} is built by {tree}, the newest release of that language version\n\
         # installed here. The go command that switched here expects exactly {name}; this runs\n\
         # {tree} as the local toolchain instead of confirming that.\n\
         unset GOTOOLCHAIN_INTERNAL_SWITCH_VERSION\n\
         GOTOOLCHAIN=local\n\
         export GOTOOLCHAIN\n\
         exec {quoted} \"$@\"\n"
    )
}

/// The tree a shim made by [`toolchain_shim`] runs, if `text` is one.
pub fn shim_tree(text: &str) -> Option<&str> {
    if !text.starts_with(SHIM_HEADER) {
        return None;
    }
    text.lines().find_map(|l| l.strip_prefix(SHIM_RUNS))
}
