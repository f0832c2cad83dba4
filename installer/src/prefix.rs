//! The prefix: its layout, its locks, and the one name of the active version.
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
//! That is [`Layout::Link`]. Where no link can be relied on ([`Layout::Tree`]: Windows, where a
//! junction or a directory symbolic link needs rights, a file system and a Wine that not every
//! machine has, and where a shell holding the old target's `bin` open would keep it anyway),
//! `PREFIX\go` *is* the active version's tree, and the others wait beside it as `go-VERSION`:
//!
//! ```text
//! PREFIX\
//!   go\                    the active version's tree itself (its name comes from its VERSION)
//!   go-1.26.6\             the others, parked
//! ```
//!
//! A switch there is two renames, `go` to its own `go-VERSION` and the new version's
//! `go-VERSION` to `go`, each idempotent, under the journal: after a crash between them the next
//! run finds no `go`, and puts back the tree the journal names. Which tree is at `go` is read off
//! its `VERSION` (tree names are made from it in both layouts); it is ours when a receipt of
//! that name exists, else a plain tree to adopt. [`Prefix::tree_path`] is the one place that
//! says where a tree of a name is. A tree in use (a program running from it, a file open in it)
//! cannot be renamed on Windows: the switch then fails before anything moved and says so.
//!
//! **Invariant:** a switch of the active version is one atomic rename, or two journaled ones; a
//! tree in place is never modified.

use std::path::{Path, PathBuf};

use crate::{
    error::{Error, Remedy},
    failpoint, os,
};

/// Name of the active version under the prefix (a link, or the tree itself: [`Layout`]).
pub const LINK: &str = "go";

/// The directory beside a tree where an install that replaces it keeps what the release does not
/// list: `PREFIX/go-1.27.3.kept` (`.kept.2`, ... when that is taken).
pub const KEPT_SUFFIX: &str = ".kept";

/// Directory of receipts and state in the prefix (receipt.rs writes what is in it).
pub const STATE_DIR: &str = ".go-offline";
/// Directory of the receipts in [`STATE_DIR`].
pub const RECEIPTS: &str = "receipts";

/// `PREFIX/.go-offline`.
pub fn state_dir(prefix: &Path) -> PathBuf {
    prefix.join(STATE_DIR)
}

/// Path of the receipt of tree `tree`.
pub fn receipt_path(prefix: &Path, tree: &str) -> PathBuf {
    state_dir(prefix).join(RECEIPTS).join(format!("{tree}.json"))
}

/// How the active version is reached (see the module's comment).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layout {
    /// `PREFIX/go` is a symlink to `go-VERSION`, switched by one rename.
    Link,
    /// `PREFIX/go` is the active tree; the others are parked as `go-VERSION`.
    Tree,
}

impl Layout {
    /// This OS's layout: [`Layout::Link`] where a link is switched by one rename
    /// ([`os::SWITCHES_LINKS`]), else [`Layout::Tree`]. A crash-test build also takes the tree
    /// layout with the failpoint switch `tree-layout`, so the crash tests cover it where they run.
    pub fn native() -> Layout {
        if !os::SWITCHES_LINKS || failpoint::enabled("tree-layout") {
            Layout::Tree
        } else {
            Layout::Link
        }
    }
}

/// A prefix directory. Commands that change it hold [`Prefix::lock_exclusive`], commands that
/// only read it [`Prefix::lock_shared`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Prefix {
    root: PathBuf,
    layout: Layout,
}

impl Prefix {
    /// The prefix at `root`, in this OS's layout.
    pub fn new(root: impl Into<PathBuf>) -> Prefix {
        Prefix::with_layout(root, Layout::native())
    }

    pub fn with_layout(root: impl Into<PathBuf>, layout: Layout) -> Prefix {
        Prefix { root: root.into(), layout }
    }

    pub fn layout(&self) -> Layout {
        self.layout
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
        let made = os::create_dirs(&self.root, 0o755).map_err(|e| self.create_failed(e))?;
        if !self.exists() {
            return Err(self.not_a_directory());
        }
        Ok(made)
    }

    /// What [`Prefix::create`] would do, asked without writing: the directories it would make
    /// (outermost first), or the error it would meet (the prefix is not a directory; the
    /// directory it would be made in cannot be written, or is a file).
    pub fn check_create(&self) -> Result<Vec<PathBuf>, Error> {
        let (missing, nearest) = os::missing_dirs(&self.root);
        if missing.is_empty() && !self.exists() {
            return Err(self.not_a_directory());
        }
        if !missing.is_empty() {
            os::can_write_in(&nearest).map_err(|e| self.create_failed(e))?;
        }
        Ok(missing)
    }

    fn create_failed(&self, e: std::io::Error) -> Error {
        Error::io("create prefix directory", &self.root, e)
    }

    fn not_a_directory(&self) -> Error {
        Error::Destination {
            path: self.root.clone(),
            problem: "is not a directory".into(),
            remedy: Some(Remedy::OtherPrefix),
        }
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
        let refuse =
            |problem: String, remedy: Remedy| Error::Destination { path: link.clone(), problem, remedy: Some(remedy) };
        match os::kind_of(&link).map_err(|e| Error::io("inspect", &link, e))? {
            None => Ok(Active::None),
            Some((os::Kind::Dir, ..)) => match self.layout {
                Layout::Link => Ok(Active::Plain(read_version(&link))),
                Layout::Tree => Ok(match self.parked_name() {
                    Some(name) if receipt_path(&self.root, &name).is_file() => Active::Link(name),
                    _ => Active::Plain(read_version(&link)),
                }),
            },
            Some((os::Kind::Symlink, ..)) if self.layout == Layout::Tree => Err(refuse(
                "is a link (a junction or a symbolic link), which this installer does not make here; it is left alone"
                    .into(),
                Remedy::RemoveOrOtherPrefix,
            )),
            Some((os::Kind::Symlink, ..)) => {
                let target = std::fs::read_link(&link).map_err(|e| Error::io("read the link", &link, e))?;
                let name = target.to_str().filter(|t| is_tree_name(t)).ok_or_else(|| {
                    refuse(
                        format!(
                            "is a symbolic link to '{}', which this installer did not make; it is left alone",
                            target.display()
                        ),
                        Remedy::RemoveOrOtherPrefix,
                    )
                })?;
                if os::tree_id(&self.join(name)).is_none() {
                    return Err(refuse(
                        format!("points to '{name}', which is not a directory"),
                        Remedy::UseOrRemoveLink,
                    ));
                }
                Ok(Active::Link(name.to_string()))
            }
            Some(_) => Err(refuse("exists and is not a directory".into(), Remedy::RemoveOrOtherPrefix)),
        }
    }

    /// The tree name `PREFIX/go` stands for: the target of the link ([`Layout::Link`],
    /// whatever it points to), or the name the tree there is parked under ([`Layout::Tree`]).
    pub fn link_target(&self) -> Option<String> {
        match self.layout {
            Layout::Link => os::link_target(&self.goroot()),
            Layout::Tree => os::tree_id(&self.goroot()).and_then(|_| self.parked_name()),
        }
    }

    /// In [`Layout::Tree`], the name the tree at `PREFIX/go` is parked under: `go-` and its
    /// `VERSION` (a name that is not a plain tree name, as a `VERSION` planted with a `/`
    /// would give, is none).
    fn parked_name(&self) -> Option<String> {
        read_version(&self.goroot()).map(|v| tree_name(&v)).filter(|n| is_tree_name(n))
    }

    /// Makes `PREFIX/go` stand for the tree `target`, or for none. Idempotent, and after a crash
    /// at any point the next call finishes it. [`Layout::Link`]: one atomic rename of a new link;
    /// never touches a directory at `PREFIX/go`. [`Layout::Tree`]: the tree at `PREFIX/go` goes
    /// to its parked name, then `target` comes to `PREFIX/go` (the journal covers the moment
    /// between).
    pub fn set_link(&self, target: Option<&str>) -> Result<(), Error> {
        match self.layout {
            Layout::Link => {
                os::switch_link(&self.root, LINK, target).map_err(|e| Error::io("switch the link", self.goroot(), e))
            }
            Layout::Tree => self.switch_tree(target),
        }
    }

    fn switch_tree(&self, target: Option<&str>) -> Result<(), Error> {
        let go = self.goroot();
        match os::kind_of(&go).map_err(|e| Error::io("inspect", &go, e))? {
            None => {}
            Some((os::Kind::Dir, ..)) => {
                let name = self.parked_name().ok_or_else(|| Error::Destination {
                    path: go.clone(),
                    problem: "has no VERSION file naming its Go version, so it cannot be put under its versioned name: move it away".into(),
                    remedy: None,
                })?;
                if Some(name.as_str()) == target {
                    return Ok(());
                }
                self.move_tree(&go, &self.join(&name))?;
                failpoint::hit("fallback-aside");
            }
            Some(_) => {
                return Err(Error::Destination {
                    path: go,
                    problem: "is not a directory".into(),
                    remedy: Some(Remedy::RemoveOrOtherPrefix),
                })
            }
        }
        if let Some(t) = target {
            self.move_tree(&self.join(t), &go)?;
        }
        self.sync()
    }

    /// Renames a version tree; one in use says so (Windows refuses to rename a directory a
    /// program runs from or holds a file open in).
    fn move_tree(&self, from: &Path, to: &Path) -> Result<(), Error> {
        os::rename_noreplace(from, to).map_err(|e| match os::in_use(&e) {
            true => Error::Destination {
                path: from.into(),
                problem: format!(
                    "cannot be moved ({e}): a program runs from it or holds a file in it open (close the shells, editors, language servers and builds using this Go, and run the command again), or this account may not change the prefix (run it elevated for a prefix under Program Files)"
                ),
                remedy: None,
            },
            false => Error::io("move a tree to", to, e),
        })
    }

    /// Where the tree of name `name` is: `PREFIX/name`, except for the active tree of
    /// [`Layout::Tree`] (ours: a plain tree at `PREFIX/go` is not a tree of any name yet), which
    /// is at `PREFIX/go`.
    pub fn tree_path(&self, name: &str) -> PathBuf {
        self.join(self.tree_location(name))
    }

    /// [`Prefix::tree_path`], relative to the prefix (what a journal records).
    pub fn tree_location(&self, name: &str) -> String {
        match self.layout {
            Layout::Tree if matches!(self.active(), Ok(Active::Link(t)) if t == name) => LINK.to_string(),
            _ => name.to_string(),
        }
    }

    /// Whether a plain directory is the tree `name` ([`Prefix::tree_path`]); refuses anything
    /// else that is there.
    pub fn has_tree(&self, name: &str) -> Result<bool, Error> {
        let dest = self.tree_path(name);
        match os::kind_of(&dest).map_err(|e| Error::io("inspect", &dest, e))? {
            None => Ok(false),
            Some((os::Kind::Dir, ..)) => Ok(true),
            Some((os::Kind::Symlink, ..)) => Err(Error::Destination {
                path: dest,
                problem: "is a symbolic link; it is left alone".into(),
                remedy: Some(Remedy::RemoveOrOtherPrefix),
            }),
            Some(_) => Err(Error::Destination {
                path: dest,
                problem: "exists and is not a directory".into(),
                remedy: Some(Remedy::RemoveOrOtherPrefix),
            }),
        }
    }

    /// Renames `PREFIX/from` to `PREFIX/to` (or any two paths in it), never replacing.
    pub fn rename_noreplace(&self, from: &Path, to: &Path) -> Result<(), Error> {
        os::rename_noreplace(from, to).map_err(|e| Error::io("move a tree to", to, e))
    }

    /// Puts the tree at the name `staging` at the name `dest` (names in the prefix, each in the
    /// journal): when `replacing`, in one exchange with the tree there, or, where the file system
    /// cannot exchange, that tree moved to `aside` first; then the prefix synced. Recovery finds
    /// each tree at one of the three names by its identity.
    pub fn place_tree(&self, staging: &str, dest: &str, aside: &str, replacing: bool) -> Result<(), Error> {
        let (staging, dest) = (self.join(staging), self.join(dest));
        if replacing {
            match os::rename_exchange(&staging, &dest) {
                Ok(()) => {}
                Err(os::Exchange::Unsupported) => {
                    self.rename_noreplace(&dest, &self.join(aside))?;
                    failpoint::hit("fallback-aside");
                    self.rename_noreplace(&staging, &dest)?;
                }
                Err(os::Exchange::Io(e)) => return Err(Error::io("move the new tree into place at", &dest, e)),
            }
        } else {
            self.rename_noreplace(&staging, &dest)?;
        }
        self.sync()
    }

    /// Names of the version trees in the prefix (`go-*`, and the active one of [`Layout::Tree`]).
    pub fn tree_names(&self) -> Result<Vec<String>, Error> {
        let list = std::fs::read_dir(&self.root).map_err(|e| Error::io("list", &self.root, e))?;
        let mut names: Vec<String> = list
            .flatten()
            .filter_map(|e| e.file_name().to_str().map(str::to_string))
            .filter(|n| is_tree_name(n))
            .collect();
        if self.layout == Layout::Tree {
            names.extend(self.active()?.tree().map(str::to_string));
        }
        names.sort();
        names.dedup();
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

    /// A tree of `version` at `PREFIX/name`, and (`ours`) its receipt.
    fn tree_at(p: &Prefix, name: &str, version: &str, ours: bool) {
        fs::create_dir(p.join(name)).unwrap();
        fs::write(p.join(name).join("VERSION"), format!("{version}\ntime x\n")).unwrap();
        if ours {
            let r = receipt_path(p.path(), &tree_name(version));
            fs::create_dir_all(r.parent().unwrap()).unwrap();
            fs::write(r, "{}").unwrap();
        }
    }

    fn listing(p: &Prefix) -> Vec<String> {
        let mut names: Vec<String> =
            fs::read_dir(p.path()).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
        names.retain(|n| n != STATE_DIR);
        names.sort();
        names
    }

    /// The Windows layout, run here: `go` is the active tree, switched by two renames; every
    /// state a crash can leave between them is finished by the next call, which is idempotent.
    #[test]
    fn in_the_tree_layout_go_is_the_active_tree_and_switches_by_two_renames() {
        let dir = tempfile::tempdir().unwrap();
        let p = Prefix::with_layout(dir.path(), Layout::Tree);
        assert_eq!(p.active().unwrap(), Active::None);
        tree_at(&p, "go-1.27.3", "go1.27.3", true);
        tree_at(&p, "go-1.26.6", "go1.26.6", true);
        assert_eq!(p.tree_path("go-1.27.3"), p.join("go-1.27.3"));
        p.set_link(Some("go-1.27.3")).unwrap();
        p.set_link(Some("go-1.27.3")).unwrap();
        assert_eq!(listing(&p), ["go", "go-1.26.6"]);
        assert_eq!(p.active().unwrap(), Active::Link("go-1.27.3".into()));
        assert_eq!((p.tree_path("go-1.27.3"), p.tree_path("go-1.26.6")), (p.goroot(), p.join("go-1.26.6")));
        assert_eq!(p.tree_location("go-1.27.3"), LINK);
        assert_eq!(p.tree_names().unwrap(), ["go-1.26.6", "go-1.27.3"]);
        p.set_link(Some("go-1.26.6")).unwrap();
        assert_eq!(listing(&p), ["go", "go-1.27.3"]);
        assert_eq!(read_version(&p.goroot()).as_deref(), Some("go1.26.6"));
        // A crash between the two renames: nothing at `go`; either way finishes.
        fs::rename(p.goroot(), p.join("go-1.26.6")).unwrap();
        assert_eq!((p.link_target(), p.active().unwrap()), (None, Active::None));
        p.set_link(Some("go-1.27.3")).unwrap();
        assert_eq!(p.active().unwrap().tree(), Some("go-1.27.3"));
        p.set_link(None).unwrap();
        p.set_link(None).unwrap();
        assert_eq!(listing(&p), ["go-1.26.6", "go-1.27.3"]);

        // (what is at `go`, what `active` says, or the start of its error)
        let cases: &[(&str, Result<Active, &str>)] = &[
            ("a plain tree without a receipt", Ok(Active::Plain(Some("go1.25.0".into())))),
            ("a tree whose VERSION names a path", Ok(Active::Plain(Some("go1.25.0/../../x".into())))),
            ("a directory without VERSION", Ok(Active::Plain(None))),
            ("a symbolic link", Err("is a link (a junction or a symbolic link)")),
            ("a file", Err("exists and is not a directory")),
        ];
        for (what, want) in cases {
            let go = p.goroot();
            match *what {
                "a plain tree without a receipt" => tree_at(&p, "go", "go1.25.0", false),
                "a tree whose VERSION names a path" => tree_at(&p, "go", "go1.25.0/../../x", false),
                "a directory without VERSION" => fs::create_dir(&go).unwrap(),
                "a symbolic link" => std::os::unix::fs::symlink("go-1.27.3", &go).unwrap(),
                _ => fs::write(&go, "").unwrap(),
            }
            match (p.active(), want) {
                (Ok(got), Ok(want)) => assert_eq!(&got, want, "{what}"),
                (Err(e), Err(want)) => assert!(e.to_string().contains(want), "{what}: {e}"),
                (got, want) => panic!("{what}: {got:?}, want {want:?}"),
            }
            if !matches!(want, Ok(Active::Plain(Some(v))) if v == "go1.25.0") {
                assert!(p.set_link(Some("go-1.27.3")).is_err(), "{what}: must not be moved away");
                assert!(os::kind_of(&go).unwrap().is_some(), "{what}: left in place");
            }
            match os::kind_of(&go).unwrap() {
                Some((os::Kind::Dir, ..)) => fs::remove_dir_all(&go).unwrap(),
                _ => fs::remove_file(&go).unwrap(),
            }
        }
        assert_eq!(listing(&p), ["go-1.26.6", "go-1.27.3"], "nothing left behind");
    }
}
