//! The prefix layout: versions side by side, one of them active.
//!
//! ```text
//! PREFIX/
//!   go -> go-1.27.3        the active version: a symlink to a plain name beside it, replaced
//!                          by one rename (switching is atomic)
//!   go-1.27.3/             one tree per version, never modified after it is in place
//!   go-1.26.6/
//!   .go-offline/           receipts and state (receipt.rs)
//! ```
//!
//! `PREFIX/go/bin` is what the environment puts on PATH, so a switch needs no environment change.
//! A plain directory at `PREFIX/go` (the official tarball unpacked by hand, or an install made
//! before versions were kept side by side) is *adopted* when another version is installed: it
//! moves to its versioned name, untouched. A symlink at `PREFIX/go` that this tool did not make
//! (pointing anywhere but a plain `go-*` name beside it) is refused and left alone.

use std::{
    fs,
    io::ErrorKind,
    path::{Path, PathBuf},
};

use crate::{error::Error, journal, manifest};

/// Name of the active version's link under the prefix.
pub const LINK: &str = "go";

/// `go-1.27.3` for `go1.27.3`.
pub fn tree_name(go_version: &str) -> String {
    format!("go-{}", go_version.strip_prefix("go").unwrap_or(go_version))
}

/// The Go version a user means by `1.27.3`, `go1.27.3` or `go-1.27.3`; `None` if it is not one.
pub fn parse_version_arg(arg: &str) -> Option<String> {
    let bare = arg.strip_prefix("go-").or_else(|| arg.strip_prefix("go")).unwrap_or(arg);
    let v = format!("go{bare}");
    manifest::is_go_version(&v).then_some(v)
}

/// What is at `PREFIX/go`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Active {
    /// Nothing.
    None,
    /// Our link, to the tree of this name.
    Link(String),
    /// A plain directory (to adopt); its `VERSION`, if readable.
    Plain(Option<String>),
}

impl Active {
    /// The link target, if the active version is one of ours.
    pub fn tree(&self) -> Option<&str> {
        match self {
            Active::Link(t) => Some(t),
            _ => None,
        }
    }
}

/// Reads `PREFIX/go`, refusing what this tool would not have made.
pub fn active(prefix: &Path) -> Result<Active, Error> {
    let link = prefix.join(LINK);
    let refuse = |problem: String| Error::Destination { path: link.clone(), problem };
    match fs::symlink_metadata(&link) {
        Err(e) if e.kind() == ErrorKind::NotFound => Ok(Active::None),
        Err(e) => Err(Error::io("inspect", &link, e)),
        Ok(m) if m.is_dir() => Ok(Active::Plain(read_version(&link))),
        Ok(m) if m.file_type().is_symlink() => {
            let target = fs::read_link(&link).map_err(|e| Error::io("read the link", &link, e))?;
            let name = target.to_str().filter(|t| is_tree_name(t)).ok_or_else(|| {
                refuse(format!(
                    "is a symbolic link to '{}', which this installer did not make; it is left alone: remove it or choose another --prefix",
                    target.display()
                ))
            })?;
            if !fs::symlink_metadata(prefix.join(name)).is_ok_and(|m| m.is_dir()) {
                return Err(refuse(format!(
                    "points to '{name}', which is not a directory: run `go-offline-installer use VERSION` with an installed version, or remove the link"
                )));
            }
            Ok(Active::Link(name.to_string()))
        }
        Ok(_) => Err(refuse("exists and is not a directory: remove it or choose another --prefix".into())),
    }
}

/// Whether `name` is a version tree name this tool makes (`go-` and a Go version).
pub fn is_tree_name(name: &str) -> bool {
    name.strip_prefix("go-").is_some_and(|v| manifest::is_go_version(&format!("go{v}")))
}

/// The first line of a tree's `VERSION` file.
pub fn read_version(goroot: &Path) -> Option<String> {
    let text = fs::read_to_string(goroot.join("VERSION")).ok()?;
    text.lines().next().map(str::to_string)
}

/// The target of `PREFIX/go` if it is a symlink (whatever it points to).
pub fn link_target(prefix: &Path) -> Option<String> {
    let link = prefix.join(LINK);
    let m = fs::symlink_metadata(&link).ok()?;
    if !m.file_type().is_symlink() {
        return None;
    }
    fs::read_link(&link).ok().and_then(|t| t.to_str().map(str::to_string))
}

/// Makes `PREFIX/go` a link to `target`, or removes the link for `None`. Atomic (a new link made
/// beside it, then renamed over it) and idempotent. Never touches a directory at `PREFIX/go`.
pub fn set_link(prefix: &Path, target: Option<&str>) -> Result<(), Error> {
    let link = prefix.join(LINK);
    let current = link_target(prefix);
    if current.as_deref() == target {
        return Ok(());
    }
    match target {
        None => {
            if current.is_some() {
                fs::remove_file(&link).map_err(|e| Error::io("remove the link", &link, e))?;
            }
        }
        Some(t) => {
            let tmp = temp_link(prefix, t)?;
            if let Err(e) = fs::rename(&tmp, &link) {
                let _ = fs::remove_file(&tmp);
                return Err(Error::io("switch the link", &link, e));
            }
        }
    }
    journal::sync_dir(prefix)
}

/// A new symlink to `target` under a temp name in the prefix.
pub fn temp_link(prefix: &Path, target: &str) -> Result<PathBuf, Error> {
    for n in 0..100u32 {
        let tmp = prefix.join(format!("{}link.{:x}.{n}", journal::TEMP_PREFIX, std::process::id()));
        match std::os::unix::fs::symlink(target, &tmp) {
            Ok(()) => return Ok(tmp),
            Err(e) if e.kind() == ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(Error::io("create a link in", prefix, e)),
        }
    }
    Err(Error::io("create a link in", prefix, std::io::Error::from(ErrorKind::AlreadyExists)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_args() {
        let cases = [
            ("1.27.3", Some("go1.27.3")),
            ("go1.27.3", Some("go1.27.3")),
            ("go-1.27.3", Some("go1.27.3")),
            ("1.21rc2", Some("go1.21rc2")),
            ("latest", None),
            ("../etc", None),
            ("", None),
        ];
        for (arg, want) in cases {
            assert_eq!(parse_version_arg(arg).as_deref(), want, "{arg}");
        }
        assert_eq!(tree_name("go1.27.3"), "go-1.27.3");
        assert!(is_tree_name("go-1.26.6"));
        assert!(!is_tree_name("go-x/.."));
        assert!(!is_tree_name("go"));
    }

    #[test]
    fn links_are_switched_and_foreign_ones_refused() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path();
        assert_eq!(active(p).unwrap(), Active::None);
        fs::create_dir(p.join("go-1.27.3")).unwrap();
        fs::create_dir(p.join("go-1.26.6")).unwrap();
        set_link(p, Some("go-1.27.3")).unwrap();
        set_link(p, Some("go-1.27.3")).unwrap();
        assert_eq!(active(p).unwrap(), Active::Link("go-1.27.3".into()));
        set_link(p, Some("go-1.26.6")).unwrap();
        assert_eq!(active(p).unwrap().tree(), Some("go-1.26.6"));
        set_link(p, None).unwrap();
        set_link(p, None).unwrap();
        assert_eq!(active(p).unwrap(), Active::None);
        std::os::unix::fs::symlink("/etc", p.join("go")).unwrap();
        assert!(active(p).unwrap_err().to_string().contains("did not make"));
        fs::remove_file(p.join("go")).unwrap();
        fs::create_dir(p.join("go")).unwrap();
        fs::write(p.join("go/VERSION"), "go1.25.0\ntime x\n").unwrap();
        assert_eq!(active(p).unwrap(), Active::Plain(Some("go1.25.0".into())));
        let names: Vec<_> = fs::read_dir(p).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert_eq!(names.len(), 3, "no temp link left: {names:?}");
    }
}
