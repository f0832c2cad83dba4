//! The prefix: its layout, its locks, and the link to the active version.
//!
//! ```text
//! PREFIX/
//!   go -> go-1.27.3        the active version: a symlink to a plain name beside it, replaced
//!                          by one rename (switching is atomic)
//!   go-1.27.3/             one tree per version, never modified after it is in place
//!   go-1.26.6/
//!   go-modules/            the module bundle (modules.rs)
//!   .go-offline/           receipts and state (receipt.rs)
//!   .go-offline-journal    what an interrupted command was doing (journal.rs)
//! ```
//!
//! `PREFIX/go/bin` is what the environment puts on PATH, so a switch needs no environment change.
//! A plain directory at `PREFIX/go` (the official tarball unpacked by hand, or an install made
//! before versions were kept side by side) is *adopted* when another version is installed: it
//! moves to its versioned name, untouched. A symlink at `PREFIX/go` that this tool did not make
//! (pointing anywhere but a plain `go-*` name beside it) is refused and left alone.
//!
//! **Invariant:** a switch of the active version is one atomic rename; a tree in place is never
//! modified.

use std::path::{Path, PathBuf};

use crate::{error::Error, os};

/// Name of the active version's link under the prefix.
pub const LINK: &str = "go";

/// A prefix directory. Commands that change it hold [`Prefix::lock_exclusive`], commands that
/// only read it [`Prefix::lock_shared`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Prefix {
    root: PathBuf,
}

impl Prefix {
    pub fn new(root: impl Into<PathBuf>) -> Prefix {
        Prefix { root: root.into() }
    }

    pub fn path(&self) -> &Path {
        &self.root
    }

    /// `PREFIX/name`.
    pub fn join(&self, name: impl AsRef<Path>) -> PathBuf {
        self.root.join(name)
    }

    /// `PREFIX/go`, the active version's link.
    pub fn goroot(&self) -> PathBuf {
        self.join(LINK)
    }

    /// Whether the prefix is there (a directory).
    pub fn exists(&self) -> bool {
        self.root.is_dir()
    }

    /// Creates the prefix and its missing parents (0755 whatever the umask); returns those
    /// created, outermost first, so a failed install can remove them again.
    pub fn create(&self) -> Result<Vec<PathBuf>, Error> {
        let made =
            os::create_dirs(&self.root, 0o755).map_err(|e| Error::io("create prefix directory", &self.root, e))?;
        if !self.exists() {
            return Err(Error::Destination {
                path: self.root.clone(),
                problem: "is not a directory (choose another --prefix)".into(),
            });
        }
        Ok(made)
    }

    /// Locks the prefix for a command that changes it.
    pub fn lock_exclusive(&self, wait: bool) -> Result<os::Lock, Error> {
        self.lock(os::LockMode::Exclusive, wait)
    }

    /// Locks the prefix for a command that only reads it.
    pub fn lock_shared(&self, wait: bool) -> Result<os::Lock, Error> {
        self.lock(os::LockMode::Shared, wait)
    }

    fn lock(&self, mode: os::LockMode, wait: bool) -> Result<os::Lock, Error> {
        os::lock(&self.root, mode, wait).map_err(|e| match e {
            os::LockError::Busy => Error::Busy(self.root.clone()),
            os::LockError::Open(e) => Error::io("open", &self.root, e),
            os::LockError::Io(e) => Error::io("lock", &self.root, e),
        })
    }

    /// fsync of the prefix directory.
    pub fn sync(&self) -> Result<(), Error> {
        os::sync_dir(&self.root).map_err(|e| Error::io("sync", &self.root, e))
    }

    /// Reads `PREFIX/go`, refusing what this tool would not have made.
    pub fn active(&self) -> Result<Active, Error> {
        let link = self.goroot();
        let refuse = |problem: String| Error::Destination { path: link.clone(), problem };
        match os::kind_of(&link).map_err(|e| Error::io("inspect", &link, e))? {
            None => Ok(Active::None),
            Some((os::Kind::Dir, ..)) => Ok(Active::Plain(read_version(&link))),
            Some((os::Kind::Symlink, ..)) => {
                let target = std::fs::read_link(&link).map_err(|e| Error::io("read the link", &link, e))?;
                let name = target.to_str().filter(|t| is_tree_name(t)).ok_or_else(|| {
                    refuse(format!(
                        "is a symbolic link to '{}', which this installer did not make; it is left alone: remove it or choose another --prefix",
                        target.display()
                    ))
                })?;
                if os::tree_id(&self.join(name)).is_none() {
                    return Err(refuse(format!(
                        "points to '{name}', which is not a directory: run `go-offline-installer use VERSION` with an installed version, or remove the link"
                    )));
                }
                Ok(Active::Link(name.to_string()))
            }
            Some(_) => Err(refuse("exists and is not a directory: remove it or choose another --prefix".into())),
        }
    }

    /// The target of `PREFIX/go` if it is a symlink (whatever it points to).
    pub fn link_target(&self) -> Option<String> {
        os::link_target(&self.goroot())
    }

    /// Makes `PREFIX/go` a link to `target`, or removes the link for `None`. Atomic and
    /// idempotent; never touches a directory at `PREFIX/go`.
    pub fn set_link(&self, target: Option<&str>) -> Result<(), Error> {
        os::switch_link(&self.root, LINK, target).map_err(|e| Error::io("switch the link", self.goroot(), e))
    }

    /// Whether a plain directory is at `PREFIX/name`; refuses anything else that is there.
    pub fn has_tree(&self, name: &str) -> Result<bool, Error> {
        let dest = self.join(name);
        match os::kind_of(&dest).map_err(|e| Error::io("inspect", &dest, e))? {
            None => Ok(false),
            Some((os::Kind::Dir, ..)) => Ok(true),
            Some((os::Kind::Symlink, ..)) => Err(Error::Destination {
                path: dest,
                problem: "is a symbolic link; it is left alone: remove it or choose another --prefix".into(),
            }),
            Some(_) => Err(Error::Destination {
                path: dest,
                problem: "exists and is not a directory: remove it or choose another --prefix".into(),
            }),
        }
    }

    /// Renames `PREFIX/from` to `PREFIX/to` (or any two paths in it), never replacing.
    pub fn rename_noreplace(&self, from: &Path, to: &Path) -> Result<(), Error> {
        os::rename_noreplace(from, to).map_err(|e| Error::io("move a tree to", to, e))
    }

    /// Names of the version trees in the prefix (`go-*`).
    pub fn tree_names(&self) -> Result<Vec<String>, Error> {
        let list = std::fs::read_dir(&self.root).map_err(|e| Error::io("list", &self.root, e))?;
        let mut names: Vec<String> = list
            .flatten()
            .filter_map(|e| e.file_name().to_str().map(str::to_string))
            .filter(|n| is_tree_name(n))
            .collect();
        names.sort();
        Ok(names)
    }
}

/// `go-1.27.3` for `go1.27.3`.
pub fn tree_name(go_version: &str) -> String {
    format!("go-{}", go_version.strip_prefix("go").unwrap_or(go_version))
}

/// The Go version a user means by `1.27.3`, `go1.27.3` or `go-1.27.3`; `None` if it is not one.
pub fn parse_version_arg(arg: &str) -> Option<String> {
    let bare = arg.strip_prefix("go-").or_else(|| arg.strip_prefix("go")).unwrap_or(arg);
    let v = format!("go{bare}");
    format::manifest::is_go_version(&v).then_some(v)
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

/// Whether `name` is a version tree name this tool makes (`go-` and a Go version).
pub fn is_tree_name(name: &str) -> bool {
    name.strip_prefix("go-").is_some_and(|v| format::manifest::is_go_version(&format!("go{v}")))
}

/// The first line of a tree's `VERSION` file.
pub fn read_version(goroot: &Path) -> Option<String> {
    let text = std::fs::read_to_string(goroot.join("VERSION")).ok()?;
    text.lines().next().map(str::to_string)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

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
        let p = Prefix::new(dir.path());
        assert_eq!(p.active().unwrap(), Active::None);
        fs::create_dir(p.join("go-1.27.3")).unwrap();
        fs::create_dir(p.join("go-1.26.6")).unwrap();
        p.set_link(Some("go-1.27.3")).unwrap();
        p.set_link(Some("go-1.27.3")).unwrap();
        assert_eq!(p.active().unwrap(), Active::Link("go-1.27.3".into()));
        p.set_link(Some("go-1.26.6")).unwrap();
        assert_eq!(p.active().unwrap().tree(), Some("go-1.26.6"));
        p.set_link(None).unwrap();
        p.set_link(None).unwrap();
        assert_eq!(p.active().unwrap(), Active::None);
        std::os::unix::fs::symlink("/etc", p.join("go")).unwrap();
        assert!(p.active().unwrap_err().to_string().contains("did not make"));
        fs::remove_file(p.join("go")).unwrap();
        fs::create_dir(p.join("go")).unwrap();
        fs::write(p.join("go/VERSION"), "go1.25.0\ntime x\n").unwrap();
        assert_eq!(p.active().unwrap(), Active::Plain(Some("go1.25.0".into())));
        let names: Vec<_> = fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert_eq!(names.len(), 3, "no temp link left: {names:?}");
    }
}
