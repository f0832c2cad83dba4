//! `--dry-run` ends as the install would (issue 30): in every scenario the dry run exits with
//! the real run's code and, when that is an error, says the real run's error word for word; and
//! it leaves the machine as it found it, to the byte and the modification time. The decision is
//! the install's own: an active version checked for drift, an environment script of another
//! prefix refused.

use std::{
    collections::BTreeMap,
    fs,
    path::{Path, PathBuf},
};

use format::exit;

use crate::support::*;

/// What a case prepared: where to install, with which installer, and a mount to undo at the end.
struct Scenario {
    prefix: PathBuf,
    installer: PathBuf,
    /// A mount ([`Tmpfs`], [`ReadOnly`]) undone when the case ends.
    _mount: Option<Box<dyn std::any::Any>>,
}

/// Who runs a case: root (private /etc, /var/log and /tmp), or `nobody` with the context's
/// HOME, prefix and bin/ handed over (then the prefix given back to root when the case says so).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Who {
    Root,
    Nobody,
}

/// Builds a case's scenario in a fresh context; `new` is this release's installer copied into the
/// context's bin/.
type Setup = fn(&TestContext, &Path) -> Scenario;

fn in_prefix(ctx: &TestContext, installer: &Path) -> Scenario {
    Scenario { prefix: ctx.prefix(), installer: installer.to_path_buf(), _mount: None }
}

/// An older release's installer in the context's bin/.
fn older(ctx: &TestContext) -> PathBuf {
    ctx.copy_installer(&older_installer(), "older")
}

/// Installs `installer` for real, as root, into the context's prefix.
fn installed(ctx: &TestContext, installer: &Path, extra: &[&str]) {
    let out = ctx.install_root(installer, release_key(), extra);
    assert_eq!(code(&out), 0, "setup install: {}", stderr(&out));
}

/// The state of everything an install may write: prefix (also when it is elsewhere), HOME, /etc,
/// the host log's directory and the installer's.
fn machine(ctx: &TestContext, prefix: &Path) -> BTreeMap<String, Vec<String>> {
    let mut state: BTreeMap<String, Vec<String>> = ["prefix", "home", "etc-upper", "var-log", "bin"]
        .iter()
        .map(|d| (d.to_string(), listing(&ctx.path(d))))
        .collect();
    state.insert(prefix.display().to_string(), listing(prefix));
    state
}

/// The `error: ...` lines of a run.
fn errors(out: &std::process::Output) -> Vec<String> {
    stderr(out).lines().filter(|l| l.starts_with("error: ")).map(str::to_string).collect()
}

#[test]
fn dry_run_ends_as_the_install_would_and_changes_nothing() {
    // (case, setup, who, exit code of both runs, what the dry run says on stdout or stderr)
    let cases: &[(&str, Setup, Who, i32, &str)] = &[
        ("a fresh install", in_prefix, Who::Root, exit::OK, "writes:      /etc/profile.d/go.sh"),
        (
            "a prefix not made yet",
            |ctx, new| Scenario { prefix: ctx.path("bin/opt/go-offline"), ..in_prefix(ctx, new) },
            Who::Root,
            exit::OK,
            "would make:",
        ),
        (
            "the prefix is a file",
            |ctx, new| {
                let file = ctx.path("bin/not-a-dir");
                fs::write(&file, "x").unwrap();
                Scenario { prefix: file, ..in_prefix(ctx, new) }
            },
            Who::Root,
            exit::DESTINATION,
            "is not a directory",
        ),
        (
            "a read-only prefix",
            |ctx, new| Scenario { _mount: Some(Box::new(ReadOnly::mount(&ctx.prefix()))), ..in_prefix(ctx, new) },
            Who::Root,
            exit::DESTINATION,
            "read-only file system: choose another --prefix",
        ),
        (
            "a prefix the user may not write (root's)",
            |ctx, new| {
                std::os::unix::fs::chown(ctx.prefix(), Some(0), Some(0)).unwrap();
                in_prefix(ctx, new)
            },
            Who::Nobody,
            exit::DESTINATION,
            "/.go-offline-journal': permission denied: run as root or choose another --prefix",
        ),
        (
            "a prefix to make where the user may not write",
            |ctx, new| {
                std::os::unix::fs::chown(ctx.prefix(), Some(0), Some(0)).unwrap();
                Scenario { prefix: ctx.prefix().join("sub"), ..in_prefix(ctx, new) }
            },
            Who::Nobody,
            exit::DESTINATION,
            "could not create prefix directory",
        ),
        (
            "go is a symlink this installer did not make",
            |ctx, new| {
                fs::create_dir(ctx.path("bin/elsewhere")).unwrap();
                std::os::unix::fs::symlink(ctx.path("bin/elsewhere"), ctx.goroot()).unwrap();
                in_prefix(ctx, new)
            },
            Who::Root,
            exit::DESTINATION,
            "is a symbolic link",
        ),
        (
            "a plain go tree to adopt",
            |ctx, new| {
                fs::create_dir(ctx.goroot()).unwrap();
                fs::write(ctx.goroot().join("VERSION"), "go1.20.1\ntime 2023-02-14T00:00:00Z\n").unwrap();
                fs::write(ctx.goroot().join("README.md"), "a Go unpacked by hand\n").unwrap();
                in_prefix(ctx, new)
            },
            Who::Root,
            exit::OK,
            "would adopt: the plain go1.20.1 tree at",
        ),
        (
            "an older release while this one is active",
            |ctx, new| {
                installed(ctx, new, &[]);
                Scenario { installer: older(ctx), ..in_prefix(ctx, new) }
            },
            Who::Root,
            exit::DOWNGRADE,
            "is active, which is newer than",
        ),
        (
            "the same version, active",
            |ctx, new| {
                installed(ctx, new, &[]);
                in_prefix(ctx, new)
            },
            Who::Root,
            exit::OK,
            "would do nothing: go1.27.3 is already installed and active",
        ),
        (
            "the same version, active, a file of its tree drifted",
            |ctx, new| {
                installed(ctx, new, &[]);
                let doc = ctx.tree(GO_VERSION).join("src/fmt/doc.go");
                fs::write(&doc, fs::read_to_string(&doc).unwrap() + "// edited\n").unwrap();
                in_prefix(ctx, new)
            },
            Who::Root,
            exit::OK,
            "(repairs the active go1.27.3: 1 file(s) of its tree differ from its receipt",
        ),
        (
            "an environment script of another prefix",
            |ctx, new| {
                // Another prefix, installed first, owns /etc/profile.d/go.sh: never taken over.
                let other = ctx.path("bin/other-prefix");
                let key = release_key().public.to_str().unwrap();
                let args = ["--yes", "--no-build-check", "--prefix", other.to_str().unwrap(), "--trusted-key", key];
                let out = ctx.run_root(new, &args, None, &[]);
                assert_eq!(code(&out), 0, "setup install: {}", stderr(&out));
                in_prefix(ctx, new)
            },
            Who::Root,
            exit::ENVIRONMENT,
            "puts the installation in another prefix",
        ),
        (
            "the same version, installed but not active",
            |ctx, new| {
                installed(ctx, new, &[]);
                installed(ctx, &older(ctx), &["--allow-downgrade"]);
                in_prefix(ctx, new)
            },
            Who::Root,
            exit::OK,
            "would activate the installed go1.27.3",
        ),
        (
            "not enough free space",
            |ctx, new| Scenario { _mount: Some(Box::new(Tmpfs::mount(&ctx.prefix(), "64M"))), ..in_prefix(ctx, new) },
            Who::Root,
            exit::IO,
            "not enough space in",
        ),
        (
            "an rc file the user may not write",
            |ctx, new| {
                fs::write(ctx.home().join(".bashrc"), "# root's, read-only for the user\n").unwrap();
                std::os::unix::fs::chown(ctx.home().join(".bashrc"), Some(0), Some(0)).unwrap();
                in_prefix(ctx, new)
            },
            Who::Nobody,
            exit::ENVIRONMENT,
            ".bashrc",
        ),
    ];
    for (name, setup, who, expected, says) in cases {
        let ctx = TestContext::new();
        let new = ctx.copy_installer(&installer("amd64"), "go-offline-installer");
        let key = ctx.path("bin/release.pub");
        fs::copy(&release_key().public, &key).unwrap();
        if *who == Who::Nobody {
            ctx.chown_to_nobody();
        }
        let s = setup(&ctx, &new);
        let (prefix, key) = (s.prefix.to_str().unwrap(), key.to_str().unwrap());
        let run_as = |args: &[&str]| match who {
            Who::Root => ctx.run_root(&s.installer, args, None, &[]),
            Who::Nobody => ctx.run_user(&s.installer, args, &[]),
        };

        let before = machine(&ctx, &s.prefix);
        let dry = run_as(&["--dry-run", "--prefix", prefix, "--trusted-key", key]);
        assert_eq!(machine(&ctx, &s.prefix), before, "{name}: the dry run changed the machine");
        let real = run_as(&["--yes", "--no-build-check", "--prefix", prefix, "--trusted-key", key]);

        assert_eq!(code(&real), *expected, "{name}: the real run: {}", stderr(&real));
        assert_eq!(code(&dry), code(&real), "{name}: the dry run: {}{}", stdout(&dry), stderr(&dry));
        assert_eq!(errors(&dry), errors(&real), "{name}: the dry run's error is not the real run's");
        let said = format!("{}{}", stdout(&dry), stderr(&dry));
        assert!(said.contains(says), "{name}: the dry run says: {said}");
    }
}
