//! Faults: crashes (kill -9 at every failpoint and at random times), file systems without
//! renameat2 flags, a full disk, two installers at once, odd umasks, read-only places. After each,
//! the machine holds exactly the old state or exactly the new one, and Go runs.

use std::{
    collections::BTreeMap,
    fs,
    os::unix::{fs::PermissionsExt, process::ExitStatusExt},
    path::{Path, PathBuf},
    process::{Child, Command},
    sync::OnceLock,
    time::{Duration, Instant},
};

use format::exit;
use installer::failpoint::{MODULES_POINTS, POINTS};

use crate::support::*;

/// Two installers of the same Go on the crash-test stub, whose trees differ (go.env): "old" and
/// "new", so a snapshot tells which one a prefix holds.
fn failpoint_installers() -> &'static (PathBuf, PathBuf) {
    static PAIR: OnceLock<(PathBuf, PathBuf)> = OnceLock::new();
    PAIR.get_or_init(|| {
        let dir = tempfile::Builder::new().prefix("go-offline-fp.").tempdir_in(workspace().join("target/it-tmp"));
        let dir = dir.unwrap().keep();
        fs::set_permissions(&dir, fs::Permissions::from_mode(0o755)).unwrap();
        let stub = failpoint_stub();
        let build = |name: &str, extra: &[&str]| {
            let out = dir.join(name);
            let mut args: Vec<&std::ffi::OsStr> = vec!["--stub".as_ref(), stub.as_os_str()];
            args.extend(extra.iter().map(std::ffi::OsStr::new));
            let o = build_with(&go_release("amd64"), &release_key().private, &out, &args);
            assert!(o.status.success(), "{}", stderr(&o));
            out
        };
        (build("old", &["--go-env", "GOFLAGS=-mod=mod"]), build("new", &[]))
    })
}

/// A prefix with the old installer's Go, and the snapshots of the machine with either tree.
struct Crashable {
    ctx: TestContext,
    old: PathBuf,
    new: PathBuf,
    with_old: BTreeMap<String, String>,
    with_new: BTreeMap<String, String>,
    /// Failpoint switches every run of this prefix gets (`tree-layout,` for Windows's layout).
    base: &'static str,
}

impl Crashable {
    fn new() -> Crashable {
        Crashable::with_switches("")
    }

    fn with_switches(base: &'static str) -> Crashable {
        let ctx = TestContext::new();
        let (old, new) = failpoint_installers();
        let old = ctx.copy_installer(old, "old");
        let new = ctx.copy_installer(new, "new");
        let c = Crashable { ctx, old, new, with_old: BTreeMap::new(), with_new: BTreeMap::new(), base };
        c.install(&c.new);
        let with_new = c.ctx.snapshot();
        c.install(&c.old);
        let with_old = c.ctx.snapshot();
        assert_ne!(with_old, with_new, "the two trees must be told apart");
        Crashable { with_old, with_new, ..c }
    }

    fn install(&self, which: &Path) {
        let envs = self.envs(&[]);
        let out = run(&mut self.ctx.install_command(which, release_key(), &["--force"], &pairs(&envs)));
        assert_eq!(code(&out), 0, "{}", stderr(&out));
    }

    fn new_install(&self, envs: &[(&str, &str)]) -> Command {
        self.ctx.install_command(&self.new, release_key(), &["--force"], &pairs(&self.envs(envs)))
    }

    /// `envs` with this prefix's switches put before any failpoints they arm.
    fn envs(&self, envs: &[(&str, &str)]) -> Vec<(&'static str, String)> {
        let mut out: Vec<(&'static str, String)> = vec![("GO_OFFLINE_FAILPOINT", self.base.to_string())];
        for (k, v) in envs {
            match *k {
                "GO_OFFLINE_FAILPOINT" => out[0].1.push_str(v),
                "GO_OFFLINE_INSTALLER_CHECK_RUNNER" => out.push(("GO_OFFLINE_INSTALLER_CHECK_RUNNER", v.to_string())),
                other => panic!("no such variable in these tests: {other}"),
            }
        }
        out
    }

    /// The journal's phase, if an install was interrupted.
    fn journal_phase(&self) -> Option<String> {
        let text = fs::read_to_string(self.ctx.prefix().join(installer::JOURNAL_NAME)).ok()?;
        let j: serde_json::Value = serde_json::from_str(&text).unwrap();
        Some(j["phase"].as_str().unwrap().to_string())
    }

    /// Runs `--recover` and checks the machine holds exactly one of the two states, that Go runs
    /// and that nothing is left over; returns which state ("old" or "new"), and puts the old one
    /// back for the next round.
    fn recover_and_check(&self, case: &str) -> &'static str {
        let prefix = self.ctx.prefix();
        let envs = self.envs(&[]);
        let envs = pairs(&envs);
        let out =
            self.ctx.run_root(&self.new, &["--recover", "--json", "--prefix", prefix.to_str().unwrap()], None, &envs);
        assert_eq!(code(&out), 0, "{case}: {}", stderr(&out));
        let result: serde_json::Value = serde_json::from_str(stdout(&out).trim()).unwrap();
        let again = self.ctx.run_root(&self.new, &["--recover", "--prefix", prefix.to_str().unwrap()], None, &envs);
        assert!(stdout(&again).starts_with("nothing to recover"), "{case}: recovery must be done in one run");
        let snapshot = self.ctx.snapshot();
        let state = if snapshot == self.with_old {
            "old"
        } else if snapshot == self.with_new {
            "new"
        } else {
            panic!("{case}: the machine holds neither the old nor the new state: {snapshot:?} (recovery: {result})")
        };
        assert!(self.ctx.staging_dirs().is_empty(), "{case}: left {:?}", self.ctx.staging_dirs());
        let version = ok(Command::new(self.ctx.goroot().join("bin/go")).arg("version"));
        assert!(stdout(&version).contains(GO_VERSION), "{case}");
        if state == "new" {
            self.install(&self.old);
        }
        state
    }
}

fn pairs<'a>(envs: &'a [(&'static str, String)]) -> Vec<(&'a str, &'a str)> {
    envs.iter().map(|(k, v)| (*k, v.as_str())).collect()
}

fn killed_by_sigkill(status: std::process::ExitStatus) -> bool {
    status.signal() == Some(9)
}

/// kill -9 at each failpoint, with renameat2 and without it (the journaled fallback): the next
/// run rolls back to the old tree before the commit point and finishes the new one after it.
#[test]
fn kill_at_every_failpoint_then_recover() {
    kill_at_every_failpoint("");
}

/// The same in the layout of Windows (`PREFIX/go` is the active tree itself), which the
/// crash-test stub takes with the switch `tree-layout`.
#[test]
fn kill_at_every_failpoint_in_the_windows_layout_then_recover() {
    kill_at_every_failpoint("tree-layout,");
}

fn kill_at_every_failpoint(base: &'static str) {
    let c = Crashable::with_switches(base);
    if !base.is_empty() {
        assert!(c.ctx.goroot().symlink_metadata().unwrap().is_dir(), "go is the tree itself");
    }
    let mut kills = 0;
    for switches in ["", "no-renameat2,"] {
        for point in POINTS.iter().filter(|p| **p != "recovered") {
            if *point == "fallback-aside" && switches.is_empty() {
                continue; // only passed on the fallback path
            }
            let case = format!("{switches}{point}");
            let out = run(&mut c.new_install(&[("GO_OFFLINE_FAILPOINT", &case)]));
            assert!(killed_by_sigkill(out.status), "{case}: the failpoint was not reached: {}", stderr(&out));
            kills += 1;
            let committed =
                POINTS.iter().position(|p| p == point) >= POINTS.iter().position(|p| *p == "journal-committing");
            assert!(c.journal_phase().is_some(), "{case}: a crash mid-install leaves its journal");
            let state = c.recover_and_check(&case);
            assert_eq!(state, if committed { "new" } else { "old" }, "{case}");
        }
    }
    eprintln!("kill -9 at failpoints ({base}): {kills} kills, every one recovered");
    // Every point but "recovered" twice, and "fallback-aside" only on the fallback path.
    assert_eq!(kills, 2 * (POINTS.len() - 1) - 1);
}

/// kill -9 at each failpoint of a module bundle install, with renameat2 and without it: a
/// second bundle (it adds a module version to the directory and, unlike the first, writes the
/// environment) is killed, and `--recover` leaves exactly the old directory and environment
/// before the commit point, exactly the new ones after it; the directory then verifies.
#[test]
fn kill_at_every_failpoint_of_a_bundle_install_then_recover() {
    let s = crate::modules::setup();
    let ctx = &s.ctx;
    let stub = failpoint_stub();
    let (first, second) = (ctx.path("bin/modules-1"), ctx.path("bin/modules-2"));
    for (out, projects) in [(&first, vec![s.app.as_path()]), (&second, vec![s.app.as_path(), s.app2.as_path()])] {
        let built = crate::modules::bundle_on(&stub, &projects, &s.cache, out);
        assert_eq!(code(&built), 0, "{}", stderr(&built));
    }
    let prefix = ctx.prefix();
    let p = prefix.to_str().unwrap();
    let key = release_key().public.to_str().unwrap();
    let bundle = |file: &Path, extra: &[&str], failpoint: &str| {
        let mut args = vec!["--yes", "--json", "--prefix", p, "--trusted-key", key];
        args.extend(extra);
        ctx.run_root(file, &args, None, &[("GO_OFFLINE_FAILPOINT", failpoint)])
    };
    let out = bundle(&first, &["--no-modify-path"], "");
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    // `/etc/profile.d` copied up into the context's overlay, as the second bundle's script does:
    // on a machine the directory is there before and after, as here in the merged view.
    let copy_up = "touch /etc/profile.d/.copy-up && rm /etc/profile.d/.copy-up";
    ok(&mut ctx.root_command(Path::new("/bin/sh"), &["-c", copy_up], None, &[]));
    // The old state, saved whole (the tree is read-only: copied as root, modes kept).
    let saved = ctx.path("saved");
    let places = ["prefix", "home", "etc-upper"];
    fs::create_dir(&saved).unwrap();
    for d in places {
        ok(Command::new("cp").arg("-a").arg(ctx.path(d)).arg(saved.join(d)));
    }
    let restore = || {
        for d in places {
            ok(Command::new("rm").arg("-rf").arg(ctx.path(d)));
            ok(Command::new("cp").arg("-a").arg(saved.join(d)).arg(ctx.path(d)));
        }
    };
    let old = ctx.snapshot();
    let out = bundle(&second, &[], "");
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(ctx.etc().join("profile.d/go-modules.sh").exists(), "the second bundle writes the environment");
    let new = ctx.snapshot();
    assert_ne!(old, new);
    restore();
    assert_eq!(ctx.snapshot(), old);

    let mut kills = 0;
    for switches in ["", "no-renameat2,"] {
        for point in MODULES_POINTS {
            if *point == "fallback-aside" && switches.is_empty() {
                continue; // only passed on the fallback path
            }
            let case = format!("{switches}{point}");
            let out = bundle(&second, &[], &case);
            assert!(killed_by_sigkill(out.status), "{case}: the failpoint was not reached: {}", stderr(&out));
            kills += 1;
            let journal = prefix.join(installer::JOURNAL_NAME);
            assert!(journal.exists(), "{case}: a crash mid-install leaves its journal");
            let out = ctx.run_root(&second, &["--recover", "--json", "--prefix", p], None, &[]);
            assert_eq!(code(&out), 0, "{case}: {}", stderr(&out));
            let result: serde_json::Value = serde_json::from_str(stdout(&out).trim()).unwrap();
            assert_eq!(result["recovered"]["action"], "install-modules", "{case}: {result}");
            let committed = MODULES_POINTS.iter().position(|p| p == point)
                >= MODULES_POINTS.iter().position(|p| *p == "journal-committing");
            let snapshot = ctx.snapshot();
            assert_eq!(snapshot, if committed { new.clone() } else { old.clone() }, "{case}: {result}");
            assert!(ctx.staging_dirs().is_empty(), "{case}: left {:?}", ctx.staging_dirs());
            let out = ctx.run_root(&second, &["verify-installed", "modules", "--prefix", p], None, &[]);
            assert_eq!(code(&out), 0, "{case}: {}", stdout(&out));
            restore();
        }
    }
    eprintln!("kill -9 at the failpoints of a bundle install: {kills} kills, every one recovered");
    assert_eq!(kills, 2 * MODULES_POINTS.len() - 1);
}

/// kill -9 at pseudo-random moments of an install (a fixed seed, so a failure can be replayed).
#[test]
fn kill_at_random_moments_then_recover() {
    let c = Crashable::new();
    // How long an install takes here, to spread the kills over it.
    let start = Instant::now();
    c.install(&c.new);
    let span = start.elapsed();
    c.install(&c.old);
    let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut phases: BTreeMap<String, u32> = BTreeMap::new();
    let mut states: BTreeMap<&str, u32> = BTreeMap::new();
    let rounds = 32;
    for round in 0..rounds {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        let delay = span.mul_f64((seed % 1000) as f64 / 1000.0);
        let switches = if round % 2 == 0 { "" } else { "no-renameat2" };
        let mut child: Child = c.new_install(&[("GO_OFFLINE_FAILPOINT", switches)]).spawn().unwrap();
        std::thread::sleep(delay);
        let _ = child.kill(); // SIGKILL
        let status = child.wait().unwrap();
        let phase =
            if killed_by_sigkill(status) { c.journal_phase().unwrap_or("none".into()) } else { "finished".into() };
        *phases.entry(phase.clone()).or_default() += 1;
        let state = c.recover_and_check(&format!("round {round}, {delay:?}, {switches}, phase {phase}"));
        *states.entry(state).or_default() += 1;
    }
    eprintln!("kill -9 at random moments over {span:?}: {rounds} kills; journal phase at the kill: {phases:?}; after recovery: {states:?}");
    assert!(phases.keys().any(|p| p != "none" && p != "finished"), "no kill landed mid-install: {phases:?}");
}

/// The next ordinary install recovers on its own and says so.
#[test]
fn the_next_install_recovers_and_reports_it() {
    let c = Crashable::new();
    let out = run(&mut c.new_install(&[("GO_OFFLINE_FAILPOINT", "swapped")]));
    assert!(killed_by_sigkill(out.status));
    let out = run(&mut c.ctx.install_command(&c.new, release_key(), &["--force", "--json"], &[]));
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let result: serde_json::Value = serde_json::from_str(stdout(&out).trim()).unwrap();
    assert_eq!(result["recovered"]["outcome"], "rolled-back", "{result}");
    assert_eq!(result["recovered"]["phase"], "swapping", "{result}");
    assert_eq!(c.ctx.snapshot(), c.with_new);
    // Human output names it too.
    let out = run(&mut c.new_install(&[("GO_OFFLINE_FAILPOINT", "journal-committing")]));
    assert!(killed_by_sigkill(out.status));
    let out = run(&mut c.ctx.install_command(&c.old, release_key(), &["--force"], &[]));
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(stderr(&out).contains("recovered: an interrupted install of go1.27.3"), "{}", stderr(&out));
    assert!(stderr(&out).contains("finished it"), "{}", stderr(&out));
    assert_eq!(c.ctx.snapshot(), c.with_old);
}

/// Without renameat2 flags an install still replaces the tree whole, and a failed check still
/// puts the old tree back.
#[test]
fn journaled_fallback_without_renameat2() {
    let c = Crashable::new();
    let out = run(&mut c.new_install(&[("GO_OFFLINE_FAILPOINT", "no-renameat2")]));
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(c.ctx.snapshot(), c.with_new);
    c.install(&c.old);
    let out = run(&mut c
        .new_install(&[("GO_OFFLINE_FAILPOINT", "no-renameat2"), ("GO_OFFLINE_INSTALLER_CHECK_RUNNER", "/bin/false")]));
    assert_eq!(code(&out), exit::CHECK_FAILED, "{}", stderr(&out));
    assert_eq!(c.ctx.snapshot(), c.with_old);
    assert!(c.ctx.staging_dirs().is_empty());
}

fn used_bytes(p: &Path) -> u64 {
    let st = rustix::fs::statvfs(p).unwrap();
    (st.f_blocks - st.f_bfree) * st.f_frsize
}

/// A disk too small for a second tree: refused up front, or (with the free-space check switched
/// off) met during extraction; either way a clean error, nothing left, the old Go still runs.
#[test]
fn disk_full_is_a_clean_error() {
    let c = Crashable::new();
    let _fs = Tmpfs::mount(&c.ctx.prefix(), "1G");
    c.install(&c.old);
    let used = used_bytes(&c.ctx.prefix());
    _fs.resize(used + used / 2);
    let with_old = c.ctx.snapshot();
    for (case, switches, message) in [
        ("free-space check", "", "not enough space in"),
        ("full during extraction", "no-preflight", "the disk is full"),
    ] {
        let out = run(&mut c.new_install(&[("GO_OFFLINE_FAILPOINT", switches)]));
        assert_eq!(code(&out), exit::IO, "{case}: {}", stderr(&out));
        assert!(stderr(&out).contains(message), "{case}: {}", stderr(&out));
        assert_eq!(c.ctx.snapshot(), with_old, "{case} changed the machine");
        assert!(c.ctx.staging_dirs().is_empty(), "{case}: {:?}", c.ctx.staging_dirs());
        let version = ok(Command::new(c.ctx.goroot().join("bin/go")).arg("version"));
        assert!(stdout(&version).contains(GO_VERSION));
    }
    eprintln!("disk full: tmpfs of {} MiB, one Go tree uses {} MiB", (used + used / 2) >> 20, used >> 20);
}

fn process_state(pid: u32) -> Option<char> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    stat.rsplit(") ").next()?.chars().next()
}

/// Two installers at once: the second refuses with a clear message (or, with --wait, waits), and
/// the first is unaffected.
#[test]
fn two_installers_at_once() {
    let c = Crashable::new();
    // The first stops itself half-way through extraction, holding the prefix lock.
    let mut first = c.new_install(&[("GO_OFFLINE_FAILPOINT", "extracting=pause")]).spawn().unwrap();
    let pid = first.id();
    let mut polls = 0;
    while process_state(pid) != Some('T') {
        assert!(first.try_wait().unwrap().is_none(), "the first installer ended before pausing");
        polls += 1;
        assert!(polls < 100_000, "the first installer never paused");
        std::thread::sleep(Duration::from_millis(10));
    }
    let second = c.ctx.install_root(&c.old, release_key(), &["--force"]);
    assert_eq!(code(&second), exit::BUSY, "{}", stderr(&second));
    assert!(stderr(&second).contains("another go-offline-installer is installing into"), "{}", stderr(&second));
    assert!(stderr(&second).contains("--wait"), "{}", stderr(&second));
    // With --wait the second queues behind the first.
    let mut waiting = c.ctx.install_command(&c.old, release_key(), &["--force", "--wait"], &[]).spawn().unwrap();
    std::thread::sleep(Duration::from_millis(300));
    assert!(waiting.try_wait().unwrap().is_none(), "--wait must wait while the first holds the lock");
    rustix::process::kill_process(rustix::process::Pid::from_raw(pid as i32).unwrap(), rustix::process::Signal::CONT)
        .unwrap();
    assert!(first.wait().unwrap().success(), "the first installer must finish unaffected");
    assert!(waiting.wait().unwrap().success(), "the waiting installer runs once the first is done");
    // Last one in wins, whole.
    assert_eq!(c.ctx.snapshot(), c.with_old);
    assert!(c.ctx.staging_dirs().is_empty());
}

/// Modes come from the manifest whatever the umask: 077 does not hide Go from other users, 000
/// does not make anything world-writable.
#[test]
fn umask_does_not_change_modes() {
    for umask in ["077", "000"] {
        let ctx = TestContext::new();
        ctx.umask.set(Some(umask));
        let inst = ctx.copy_installer(&installer("amd64"), "go-offline-installer");
        let out = ctx.install_root(&inst, release_key(), &[]);
        assert_eq!(code(&out), 0, "umask {umask}: {}", stderr(&out));
        let mode = |p: &Path| fs::symlink_metadata(p).unwrap().permissions().mode() & 0o7777;
        let tree = ctx.tree(GO_VERSION);
        for (rel, want) in [("", 0o755), ("bin", 0o755), ("bin/go", 0o755), ("VERSION", 0o644), ("src/fmt", 0o755)] {
            assert_eq!(mode(&tree.join(rel)), want, "umask {umask}: go/{rel}");
        }
        assert_eq!(mode(&ctx.etc().join("profile.d/go.sh")), 0o644, "umask {umask}");
        // Receipts are readable by everyone (status works for any user), writable by root only.
        for (rel, want) in [
            (".go-offline", 0o755),
            (".go-offline/receipts", 0o755),
            (".go-offline/receipts/go-1.27.3.json", 0o644),
            (".go-offline/state.json", 0o644),
        ] {
            assert_eq!(mode(&ctx.prefix().join(rel)), want, "umask {umask}: {rel}");
        }
        // Nothing in the prefix is writable by group or others.
        let writable = ok(Command::new("find").arg(ctx.prefix()).args(["-perm", "/022", "!", "-type", "l"]));
        assert_eq!(stdout(&writable), "", "umask {umask}");
        // Another user can run it.
        let out = ctx.run_user(&ctx.goroot().join("bin/go"), &["version"], &[("GOTELEMETRY", "off")]);
        assert_eq!(code(&out), 0, "umask {umask}: {}", stderr(&out));
    }
}

/// A read-only prefix and a read-only HOME: a clear error naming the place, nothing changed.
#[test]
fn read_only_prefix_and_home() {
    // Prefix on a read-only mount, with the old Go in it: refused, old Go intact.
    let c = Crashable::new();
    let before = c.ctx.snapshot();
    {
        let _ro = ReadOnly::mount(&c.ctx.prefix());
        let out = run(&mut c.new_install(&[]));
        assert_eq!(code(&out), exit::DESTINATION, "{}", stderr(&out));
        assert!(stderr(&out).contains("read-only file system: choose another --prefix"), "{}", stderr(&out));
    }
    assert_eq!(c.ctx.snapshot(), before);

    // A user whose HOME is read-only: the tree is installed in a writable prefix, the rc files
    // cannot be written, and everything is rolled back with exit 19; --no-modify-path works.
    let ctx = TestContext::new();
    let inst = ctx.copy_installer(&installer("amd64"), "go-offline-installer");
    fs::write(ctx.home().join(".profile"), "# user's own\n").unwrap();
    ctx.chown_to_nobody();
    let before = ctx.snapshot();
    let _ro = ReadOnly::mount(&ctx.home());
    let prefix = ctx.prefix();
    let args = ["--yes", "--prefix", prefix.to_str().unwrap(), "--trusted-key", release_key().public.to_str().unwrap()];
    let out = ctx.run_user(&inst, &args, &[]);
    assert_eq!(code(&out), exit::ENVIRONMENT, "{}", stderr(&out));
    assert!(stderr(&out).contains("--no-modify-path"), "{}", stderr(&out));
    assert_eq!(ctx.snapshot(), before);
    let mut args = args.to_vec();
    args.push("--no-modify-path");
    let out = ctx.run_user(&inst, &args, &[]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(ctx.goroot().join("bin/go").exists());
}

/// Names in the prefix that look like ours but are not: a directory and a symlink at staging-like
/// names, a journal planted as a symlink. They are never used, followed or deleted.
#[test]
fn foreign_staging_names_are_left_alone() {
    let ctx = TestContext::new();
    let inst = ctx.copy_installer(&installer("amd64"), "go-offline-installer");
    let decoy = ctx.path("bin/decoy");
    fs::create_dir(&decoy).unwrap();
    fs::create_dir(ctx.prefix().join(".go-offline-staging.planted")).unwrap();
    fs::write(ctx.prefix().join(".go-offline-staging.planted/keep"), "mine").unwrap();
    std::os::unix::fs::symlink(&decoy, ctx.prefix().join(".go-offline-staging.link")).unwrap();
    let out = ctx.install_root(&inst, release_key(), &[]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(fs::read_to_string(ctx.prefix().join(".go-offline-staging.planted/keep")).unwrap(), "mine");
    assert!(fs::symlink_metadata(ctx.prefix().join(".go-offline-staging.link")).unwrap().file_type().is_symlink());
    assert_eq!(fs::read_dir(&decoy).unwrap().count(), 0, "nothing written through the symlink");
    // A journal planted as a symlink is refused, not followed.
    let target = ctx.path("bin/target");
    fs::write(&target, "{}").unwrap();
    std::os::unix::fs::symlink(&target, ctx.prefix().join(installer::JOURNAL_NAME)).unwrap();
    let before = ctx.snapshot();
    let out = ctx.install_root(&inst, release_key(), &["--force"]);
    assert_eq!(code(&out), exit::DESTINATION, "{}", stderr(&out));
    assert!(stderr(&out).contains("is a symbolic link"), "{}", stderr(&out));
    assert_eq!(ctx.snapshot(), before);
}

/// The version policy, with a real older release: the same version is a no-op unless --force; an
/// older one needs --allow-downgrade; going up again needs nothing.
#[test]
fn same_version_and_downgrade_policy() {
    let ctx = TestContext::new();
    let inst = ctx.copy_installer(&installer("amd64"), "go-offline-installer");
    let older = ctx.path("bin/older");
    let out =
        build_with(&older_go_tarball(), &release_key().private, &older, &["--stub".as_ref(), stub(AMD64).as_os_str()]);
    assert!(out.status.success(), "{}", stderr(&out));
    let go_version = |ctx: &TestContext| stdout(&ok(Command::new(ctx.goroot().join("bin/go")).arg("version")));

    let out = ctx.install_root(&inst, release_key(), &[]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let before = ctx.snapshot();
    let out = ctx.install_root(&inst, release_key(), &["--json"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let result: serde_json::Value = serde_json::from_str(stdout(&out).trim()).unwrap();
    assert_eq!(result["changed"], false, "{result}");
    assert_eq!(ctx.snapshot(), before, "the same version again is a no-op");
    let out = ctx.install_root(&inst, release_key(), &[]);
    assert!(stdout(&out).contains("already installed") && stdout(&out).contains("--force"), "{}", stdout(&out));

    // Down to the older release: refused, then allowed.
    let out = ctx.install_root(&older, release_key(), &[]);
    assert_eq!(code(&out), exit::DOWNGRADE, "{}", stderr(&out));
    let message = format!("{GO_VERSION} is active, which is newer than {OLDER_GO_VERSION}");
    assert!(stderr(&out).contains(&message), "{}", stderr(&out));
    assert!(stderr(&out).contains("--allow-downgrade"), "{}", stderr(&out));
    assert_eq!(ctx.snapshot(), before);
    let out = ctx.install_root(&older, release_key(), &["--allow-downgrade", "--json"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let result: serde_json::Value = serde_json::from_str(stdout(&out).trim()).unwrap();
    assert_eq!(result["previous_version"], GO_VERSION);
    assert!(go_version(&ctx).starts_with(&format!("go version {OLDER_GO_VERSION} ")), "{}", go_version(&ctx));
    // And up again, no flag needed.
    let out = ctx.install_root(&inst, release_key(), &[]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(go_version(&ctx).starts_with(&format!("go version {GO_VERSION} ")));
    assert!(ctx.staging_dirs().is_empty());
}
