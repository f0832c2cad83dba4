//! Lifecycle: versions side by side, switch, rollback, uninstall, drift check, adoption of a
//! plain tree, the build check, and kill -9 during each command; with real Go 1.27.3 and 1.26.6.

use std::{
    fs,
    os::unix::fs::PermissionsExt,
    path::{Path, PathBuf},
    process::{Command, Output},
};

use format::exit;
use installer::{
    failpoint::{SWITCH_POINTS, UNINSTALL_POINTS},
    Layout,
};
use serde_json::Value;

use crate::support::*;

/// A lifecycle command as root: `INSTALLER ARGS... --prefix PREFIX`.
fn lc(ctx: &TestContext, inst: &Path, args: &[&str], envs: &[(&str, &str)]) -> Output {
    let prefix = ctx.prefix();
    let mut all = args.to_vec();
    all.extend(["--prefix", prefix.to_str().unwrap()]);
    ctx.run_root(inst, &all, None, envs)
}

fn json(out: &Output) -> Value {
    serde_json::from_str(stdout(out).trim()).unwrap_or_else(|e| panic!("not one JSON document ({e}): {}", stdout(out)))
}

fn go_version(ctx: &TestContext) -> String {
    stdout(&ok(Command::new(ctx.goroot().join("bin/go")).arg("version").env_clear()))
}

/// JSON results with what differs from run to run (ids, times, digests of the installer and of
/// files naming the scratch paths, the host name) replaced by placeholders, and the context's
/// directory by `$CTX`.
fn normalize(v: &Value, ctx: &TestContext) -> Value {
    const VOLATILE: &[&str] = &[
        "receipt_id",
        "log_id",
        "installer_sha256",
        "installed_at",
        "installed_by",
        "sha256",
        "id",
        "pid",
        "signer_key_id",
    ];
    let root = ctx.root.path().to_str().unwrap();
    match v {
        Value::Object(m) => Value::Object(
            m.iter()
                .map(|(k, v)| {
                    let v = if VOLATILE.contains(&k.as_str()) && !v.is_null() {
                        Value::String(format!("<{k}>"))
                    } else {
                        normalize(v, ctx)
                    };
                    (k.clone(), v)
                })
                .collect(),
        ),
        Value::Array(a) => Value::Array(a.iter().map(|v| normalize(v, ctx)).collect()),
        Value::String(s) => Value::String(s.replace(root, "$CTX")),
        other => other.clone(),
    }
}

/// Compares `got` with the stored snapshot `name` (tests/it/snapshots/NAME.json), or rewrites
/// it under UPDATE_SNAPSHOTS=1.
fn check_snapshot(name: &str, got: &Value) {
    let path = workspace().join("tests/it/snapshots").join(format!("{name}.json"));
    let text = serde_json::to_string_pretty(got).unwrap() + "\n";
    if std::env::var_os("UPDATE_SNAPSHOTS").is_some() {
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(&path, &text).unwrap();
        return;
    }
    let want = fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!("{}: {e}; run the test with UPDATE_SNAPSHOTS=1 and review the file", path.display())
    });
    assert!(
        want == text,
        "--json output differs from {} (if intended, rerun with UPDATE_SNAPSHOTS=1 and review the diff):\n{text}",
        path.display()
    );
}

/// The whole life of two versions as root, each command's --json result kept as a snapshot.
#[test]
fn two_versions_switch_rollback_drift_uninstall() {
    let ctx = TestContext::new();
    let newer = ctx.copy_installer(&installer("amd64"), "newer");
    let older = ctx.copy_installer(&older_installer(), "older");
    let key = release_key();
    let mut results = Vec::new();
    let mut record = |step: &str, out: &Output, want: i32| -> Value {
        assert_eq!(code(out), want, "{step}: {}", stderr(out));
        let v = json(out);
        results.push(serde_json::json!({ "step": step, "exit": want, "result": normalize(&v, &ctx) }));
        v
    };

    let out = ctx.install_root(&newer, key, &["--json"]);
    let r = record("install newer", &out, 0);
    assert_eq!((r["install_action"].as_str(), r["active_version"].as_str()), (Some("installed"), Some(GO_VERSION)));
    let installed_once = ctx.snapshot();
    let out = ctx.install_root(&older, key, &["--json"]);
    let r = record("install older without --allow-downgrade", &out, exit::DOWNGRADE);
    assert_eq!(r["error"]["kind"], "downgrade");
    assert_eq!(ctx.snapshot(), installed_once, "a refused downgrade changes nothing");
    let out = ctx.install_root(&older, key, &["--allow-downgrade", "--json"]);
    let r = record("install older", &out, 0);
    assert_eq!(r["previous_version"], GO_VERSION);
    // Side by side: both trees, the link on the older one.
    assert!(ctx.tree(GO_VERSION).join("bin/go").exists() && ctx.tree(OLDER_GO_VERSION).join("bin/go").exists());
    assert_eq!(fs::read_link(ctx.goroot()).unwrap(), Path::new("go-1.26.6"));
    assert!(go_version(&ctx).starts_with(&format!("go version {OLDER_GO_VERSION} ")));

    let r = record("status", &lc(&ctx, &newer, &["status", "--json"], &[]), 0);
    assert_eq!(r["active_version"], OLDER_GO_VERSION);
    let versions = r["versions"].as_array().unwrap();
    assert_eq!(versions.len(), 2);
    assert_eq!(versions[1]["go_version"], GO_VERSION);
    assert_eq!(versions[1]["installer_sha256"], sha256_file(&newer), "the receipt names the installer file");
    assert_eq!(versions[1]["signer_key_id"], key.id);
    assert_eq!(versions[0]["active"], true);
    // Human status shows the same.
    let human =
        stdout(&ok(&mut ctx.root_command(&newer, &["status", "--prefix", ctx.prefix().to_str().unwrap()], None, &[])));
    assert!(human.contains(&format!("* {OLDER_GO_VERSION}")) && human.contains(&key.id), "{human}");

    // use: atomic switch; twice is once.
    let r = record("use newer", &lc(&ctx, &newer, &["use", "1.27.3", "--json"], &[]), 0);
    assert_eq!((r["changed"].as_bool(), r["active_version"].as_str()), (Some(true), Some(GO_VERSION)));
    assert!(go_version(&ctx).starts_with(&format!("go version {GO_VERSION} ")));
    let switched = ctx.snapshot();
    let r = record("use newer again", &lc(&ctx, &newer, &["use", "go1.27.3", "--json"], &[]), 0);
    assert_eq!(r["changed"], false);
    assert_eq!(ctx.snapshot(), switched);
    record("use a version not installed", &lc(&ctx, &newer, &["use", "1.20.1", "--json"], &[]), exit::NOT_INSTALLED);

    // rollback: back to the older one; twice is once.
    let r = record("rollback", &lc(&ctx, &newer, &["rollback", "--json"], &[]), 0);
    assert_eq!(
        (r["active_version"].as_str(), r["previous_version"].as_str()),
        (Some(OLDER_GO_VERSION), Some(GO_VERSION))
    );
    let rolled = ctx.snapshot();
    let r = record("rollback again", &lc(&ctx, &newer, &["rollback", "--json"], &[]), 0);
    assert_eq!(r["changed"], false);
    assert_eq!(ctx.snapshot(), rolled);
    assert!(go_version(&ctx).starts_with(&format!("go version {OLDER_GO_VERSION} ")));

    // verify-installed: clean, then after deleting, editing (longer, and same size), adding,
    // chmod-ing files of the newer tree.
    record("verify-installed", &lc(&ctx, &newer, &["verify-installed", "--json"], &[]), 0);
    let tree = ctx.tree(GO_VERSION);
    fs::remove_file(tree.join("src/fmt/print.go")).unwrap();
    fs::write(tree.join("src/fmt/doc.go"), fs::read_to_string(tree.join("src/fmt/doc.go")).unwrap() + "// edited\n")
        .unwrap();
    let mut gofmt = fs::read(tree.join("bin/gofmt")).unwrap();
    gofmt[1000] ^= 0xff;
    fs::write(tree.join("bin/gofmt"), gofmt).unwrap();
    fs::write(tree.join("src/fmt/extra.go"), "package fmt\n").unwrap();
    fs::set_permissions(tree.join("src/fmt/format.go"), fs::Permissions::from_mode(0o600)).unwrap();
    let r =
        record("verify-installed after drift", &lc(&ctx, &newer, &["verify-installed", "--json"], &[]), exit::DRIFT);
    let diffs: Vec<(String, String)> = r["versions"][1]["differences"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| (d["path"].as_str().unwrap().to_string(), d["flags"].as_str().unwrap().to_string()))
        .collect();
    let want = [
        ("go-1.27.3/bin/gofmt", "..5.."),
        ("go-1.27.3/src/fmt/doc.go", "S.5.."),
        ("go-1.27.3/src/fmt/format.go", ".M..."),
        ("go-1.27.3/src/fmt/print.go", "missing"),
        ("go-1.27.3/src/fmt/extra.go", "extra"),
    ];
    assert_eq!(diffs, want.map(|(p, f)| (p.to_string(), f.to_string())));
    assert_eq!(r["versions"][0]["ok"], true, "the older tree is untouched");
    record("verify-installed older", &lc(&ctx, &newer, &["verify-installed", "1.26.6", "--json"], &[]), 0);
    // The human form is rpm -V's: flags, then the path; exit 23.
    let out = lc(&ctx, &newer, &["verify-installed", "1.27.3"], &[]);
    assert_eq!(code(&out), exit::DRIFT);
    assert!(stdout(&out).contains("S.5..    go-1.27.3/src/fmt/doc.go"), "{}", stdout(&out));
    assert!(stdout(&out).contains("missing  go-1.27.3/src/fmt/print.go"), "{}", stdout(&out));

    // Installing the newer version again replaces the drifted tree by the signed one.
    let r = record("install newer over its drifted tree", &ctx.install_root(&newer, key, &["--json"]), 0);
    assert_eq!(r["install_action"], "reinstalled");
    record("verify-installed after reinstall", &lc(&ctx, &newer, &["verify-installed", "--json"], &[]), 0);

    // uninstall: not the active one while another is there; the other one, once.
    let before = ctx.snapshot();
    record(
        "uninstall the active version",
        &lc(&ctx, &newer, &["uninstall", "1.27.3", "--yes", "--json"], &[]),
        exit::IN_USE,
    );
    assert_eq!(ctx.snapshot(), before);
    let r = record("uninstall older", &lc(&ctx, &newer, &["uninstall", "1.26.6", "--yes", "--json"], &[]), 0);
    assert_eq!(r["removed"], serde_json::json!([OLDER_GO_VERSION]));
    assert!(!ctx.tree(OLDER_GO_VERSION).exists());
    let after = ctx.snapshot();
    let r = record("uninstall older again", &lc(&ctx, &newer, &["uninstall", "1.26.6", "--yes", "--json"], &[]), 0);
    assert_eq!(r["changed"], false);
    assert_eq!(ctx.snapshot(), after);
    record("rollback with nothing to go back to", &lc(&ctx, &newer, &["rollback", "--json"], &[]), exit::NOT_INSTALLED);

    // uninstall --all: the link, the tree, profile.d/go.sh and the receipts go; a file of the
    // operator's in the tree stays.
    fs::write(tree.join("operator-notes.txt"), "mine\n").unwrap();
    let r = record("uninstall --all", &lc(&ctx, &newer, &["uninstall", "--all", "--yes", "--json"], &[]), 0);
    assert_eq!(r["kept"], serde_json::json!(["go-1.27.3/operator-notes.txt (not listed in the receipt)"]));
    let left: Vec<String> = walk(&ctx.prefix());
    // And what the repair above moved out of the tree (src/fmt/extra.go) is beside it.
    let kept = ["go-1.27.3.kept", "go-1.27.3.kept/src", "go-1.27.3.kept/src/fmt", "go-1.27.3.kept/src/fmt/extra.go"];
    assert_eq!(left, [&["go-1.27.3"][..], &kept, &["go-1.27.3/operator-notes.txt"]].concat());
    assert!(!ctx.etc().join("profile.d/go.sh").exists());
    let r = record("uninstall --all again", &lc(&ctx, &newer, &["uninstall", "--all", "--yes", "--json"], &[]), 0);
    assert_eq!(r["changed"], false);

    // The host log says who did what, once per action.
    let log: Vec<Value> =
        fs::read_to_string(ctx.host_log()).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let actions: Vec<(&str, &str)> =
        log.iter().map(|l| (l["action"].as_str().unwrap(), l["go_version"].as_str().unwrap_or(""))).collect();
    assert_eq!(
        actions,
        [
            ("install", GO_VERSION),
            ("install", OLDER_GO_VERSION),
            ("use", GO_VERSION),
            ("rollback", OLDER_GO_VERSION),
            ("install", GO_VERSION),
            ("uninstall", OLDER_GO_VERSION),
            ("uninstall", GO_VERSION),
        ]
    );
    assert!(log.iter().all(|l| l["by"]["user"] == "root"));
    assert_eq!(log[0]["installer_sha256"], sha256_file(&newer));
    check_snapshot("lifecycle", &Value::Array(results));
}

/// Every path under `root`, relative, sorted.
fn walk(root: &Path) -> Vec<String> {
    let out = ok(Command::new("find").arg(root).args(["-mindepth", "1", "-printf", "%P\n"]));
    let mut v: Vec<String> = stdout(&out).lines().map(str::to_string).collect();
    v.sort();
    v
}

/// A user's install, with their own edits around our rc lines: `uninstall --all` removes our
/// lines and scripts and nothing else, byte for byte.
#[test]
fn uninstall_all_keeps_the_users_rc_edits() {
    let ctx = TestContext::new();
    let newer = ctx.copy_installer(&installer("amd64"), "newer");
    let older = ctx.copy_installer(&older_installer(), "older");
    let key_copy = ctx.path("bin/release.pub");
    fs::copy(&release_key().public, &key_copy).unwrap();
    let home = ctx.home();
    fs::write(home.join(".bashrc"), "# my bashrc\nexport EDITOR=vi").unwrap(); // no final newline
    fs::write(home.join(".zshrc"), "setopt nobeep").unwrap(); // no final newline, no later edits
    fs::write(home.join(".profile"), "# my profile\n").unwrap();
    ctx.chown_to_nobody();
    let k = key_copy.to_str().unwrap();
    for (inst, extra) in [(&newer, None), (&older, Some("--allow-downgrade"))] {
        let mut args = vec!["--yes", "--no-build-check", "--trusted-key", k];
        args.extend(extra);
        let out = ctx.run_user(inst, &args, &[("SHELL", "/bin/bash")]);
        assert_eq!(code(&out), 0, "{}", stderr(&out));
    }
    let line = installer::source_line();
    assert_eq!(fs::read_to_string(home.join(".bashrc")).unwrap(), format!("# my bashrc\nexport EDITOR=vi\n{line}\n"));
    // The user edits around our lines afterwards.
    let append = |name: &str, text: &str| {
        let p = home.join(name);
        fs::write(&p, fs::read_to_string(&p).unwrap() + text).unwrap();
    };
    append(".bashrc", "alias ll='ls -l'\n");
    append(".profile", "export FOO=1\n");
    fs::write(home.join(".profile"), format!("# edited by me\n{}", fs::read_to_string(home.join(".profile")).unwrap()))
        .unwrap();
    let status = json(&ctx.run_user(&newer, &["status", "--json"], &[]));
    assert_eq!(status["versions"].as_array().unwrap().len(), 2, "{status}");

    let out = ctx.run_user(&newer, &["uninstall", "--all", "--yes", "--json"], &[]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(fs::read_to_string(home.join(".bashrc")).unwrap(), "# my bashrc\nexport EDITOR=vi\nalias ll='ls -l'\n");
    assert_eq!(fs::read_to_string(home.join(".zshrc")).unwrap(), "setopt nobeep");
    assert_eq!(fs::read_to_string(home.join(".profile")).unwrap(), "# edited by me\n# my profile\nexport FOO=1\n");
    assert!(!home.join(".config/go-offline").exists(), "our env script and its directory are gone");
    let local = home.join(".local");
    assert!(!local.join("go").exists() && !local.join("go-1.27.3").exists() && !local.join(".go-offline").exists());
    // The user's own host log (under ~/.local/state) keeps the record.
    let log = fs::read_to_string(local.join("state/go-offline-installer/log.jsonl")).unwrap();
    assert_eq!(log.lines().count(), 3, "{log}");
}

/// A user's install and `uninstall --all` leave HOME byte-identical to before: rc files the
/// install created (`~/.profile` in an empty HOME) and the directories made for our scripts
/// (`~/.config`) go; files that were there keep every byte (issue 30).
#[test]
fn uninstall_all_leaves_home_as_it_was_before_the_install() {
    // (case, the files in HOME before the install, the user's shell)
    type Files<'a> = &'a [(&'a str, &'a str)];
    let cases: &[(&str, Files, &str)] = &[
        ("an empty HOME", &[], "/bin/sh"),
        ("an empty HOME, a fish user", &[], "/usr/bin/fish"),
        ("a .profile of the user's", &[(".profile", "# my profile\nexport A=1\n")], "/bin/sh"),
        ("rc files without a final newline", &[(".profile", "export A=1"), (".bashrc", "alias x=y")], "/bin/bash"),
        ("an empty .profile of the user's", &[(".profile", "")], "/bin/sh"),
        ("a ~/.config of the user's", &[(".config/app.conf", "x\n")], "/usr/bin/fish"),
    ];
    let inst = installer("amd64");
    for (name, files, shell) in cases {
        let ctx = TestContext::new();
        let newer = ctx.copy_installer(&inst, "newer");
        let key_copy = ctx.path("bin/release.pub");
        fs::copy(&release_key().public, &key_copy).unwrap();
        // The user's host log outside HOME: this test is about what the environment leaves.
        let state = ctx.path("bin/state");
        fs::create_dir(&state).unwrap();
        let home = ctx.home();
        for (rel, contents) in *files {
            fs::create_dir_all(home.join(rel).parent().unwrap()).unwrap();
            fs::write(home.join(rel), contents).unwrap();
        }
        ctx.chown_to_nobody();
        let before = tree_hash(&home);
        let paths_before = walk(&home);
        let envs = [("SHELL", *shell), ("XDG_STATE_HOME", state.to_str().unwrap())];
        let p = ctx.prefix();
        let args = ["--yes", "--no-build-check", "--prefix", p.to_str().unwrap(), "--trusted-key"];
        let mut args = args.to_vec();
        args.push(key_copy.to_str().unwrap());
        let out = ctx.run_user(&newer, &args, &envs);
        assert_eq!(code(&out), 0, "{name}: {}", stderr(&out));
        assert_ne!(tree_hash(&home), before, "{name}: the install wrote no environment");
        let out = ctx.run_user(&newer, &["uninstall", "--all", "--yes", "--prefix", p.to_str().unwrap()], &envs);
        assert_eq!(code(&out), 0, "{name}: {}", stderr(&out));
        assert_eq!(walk(&home), paths_before, "{name}: the same files");
        assert_eq!(tree_hash(&home), before, "{name}: byte for byte");
    }
}

/// After an install with `--prefix`, `status` without it (the default prefix, empty) names the
/// prefix this installer's environment, or `go` on PATH, leads to, and how to reach it; with
/// `--prefix` there is nothing elsewhere to point to (issue 30).
#[test]
fn status_of_an_empty_default_prefix_points_to_the_installation() {
    // (case, install with --no-modify-path, PATH has PREFIX/go/bin, whether status finds it)
    let cases = [
        ("the env script names the prefix", false, false, true),
        ("go on PATH is in the prefix", true, true, true),
        ("nothing leads to it", true, false, false),
    ];
    let inst = installer("amd64");
    for (name, no_modify_path, on_path, found) in cases {
        let ctx = TestContext::new();
        let newer = ctx.copy_installer(&inst, "newer");
        let key_copy = ctx.path("bin/release.pub");
        fs::copy(&release_key().public, &key_copy).unwrap();
        ctx.chown_to_nobody();
        let p = ctx.prefix();
        let p = p.to_str().unwrap();
        let mut args = vec!["--yes", "--no-build-check", "--prefix", p, "--trusted-key", key_copy.to_str().unwrap()];
        if no_modify_path {
            args.push("--no-modify-path");
        }
        let out = ctx.run_user(&newer, &args, &[]);
        assert_eq!(code(&out), 0, "{name}: {}", stderr(&out));
        let path_var = match on_path {
            true => format!("{}:/usr/bin:/bin", ctx.goroot().join("bin").display()),
            false => "/usr/bin:/bin".to_string(),
        };
        let envs = [("PATH", path_var.as_str())];
        let status = json(&ctx.run_user(&newer, &["status", "--json"], &envs));
        assert_eq!(status["prefix"], ctx.home().join(".local").to_str().unwrap(), "{name}");
        assert_eq!(status["versions"], serde_json::json!([]), "{name}");
        let want = if found { serde_json::json!([p]) } else { serde_json::json!([]) };
        assert_eq!(status["found_elsewhere"], want, "{name}: {status}");
        let human = stdout(&ctx.run_user(&newer, &["status"], &envs));
        let hint = format!("--prefix {p}");
        assert_eq!(human.contains(&hint), found, "{name}: {human}");
        // Named, the prefix is what status shows, and nothing is pointed to elsewhere.
        let status = json(&ctx.run_user(&newer, &["status", "--json", "--prefix", p], &envs));
        assert_eq!(status["versions"].as_array().map(Vec::len), Some(1), "{name}: {status}");
        assert_eq!(status["found_elsewhere"], serde_json::json!([]), "{name}");
    }
}

/// A plain tree from the official tarball at PREFIX/go is adopted, byte for byte, when another
/// version is installed; a crash in the middle puts it back.
#[test]
fn a_plain_official_tree_is_adopted_not_destroyed() {
    let ctx = TestContext::new();
    let newer = ctx.copy_installer(&installer("amd64"), "newer");
    let (_, fp_older) = failpoint_lifecycle_installers();
    let older = ctx.copy_installer(fp_older, "older");
    ok(Command::new("tar").arg("-C").arg(ctx.prefix()).arg("-xzf").arg(go_release("amd64")));
    let plain = tree_hash(&ctx.goroot());
    let untouched = ctx.snapshot();

    // The same version as the plain tree: nothing to do.
    let r = json(&ctx.install_root(&newer, release_key(), &["--json"]));
    assert_eq!(r["changed"], false, "{r}");
    assert_eq!(ctx.snapshot(), untouched);
    let s = json(&lc(&ctx, &newer, &["status", "--json"], &[]));
    assert_eq!(s["unmanaged"], serde_json::json!([ctx.goroot()]), "{s}");
    // A switch needs a managed prefix.
    assert_eq!(code(&lc(&ctx, &newer, &["use", "1.27.3"], &[])), exit::NOT_INSTALLED);

    // Killed just after the link took the plain tree's place: recovery puts it back.
    let out = run(&mut ctx.install_command(
        &older,
        release_key(),
        &["--allow-downgrade"],
        &[("GO_OFFLINE_FAILPOINT", "activated")],
    ));
    assert_eq!(std::os::unix::process::ExitStatusExt::signal(&out.status), Some(9), "{}", stderr(&out));
    let out = lc(&ctx, &newer, &["--recover"], &[]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(ctx.snapshot(), untouched, "the plain tree is back at go/, byte for byte");

    let r = json(&ctx.install_root(&older, release_key(), &["--allow-downgrade", "--json"]));
    assert_eq!(r["adopted"], "go-1.27.3", "{r}");
    assert_eq!(tree_hash(&ctx.tree(GO_VERSION)), plain, "adopted untouched");
    let s = json(&lc(&ctx, &newer, &["status", "--json"], &[]));
    let origins: Vec<(&str, &str)> = s["versions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| (v["go_version"].as_str().unwrap(), v["origin"].as_str().unwrap()))
        .collect();
    assert_eq!(origins, [(OLDER_GO_VERSION, "installed"), (GO_VERSION, "adopted")]);
    assert_eq!(code(&lc(&ctx, &newer, &["verify-installed"], &[])), 0);
    let r = json(&lc(&ctx, &newer, &["rollback", "--json"], &[]));
    assert_eq!(r["active_version"], GO_VERSION, "{r}");
    assert!(go_version(&ctx).starts_with(&format!("go version {GO_VERSION} ")));
    let out = lc(&ctx, &newer, &["uninstall", "--all", "--yes"], &[]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(walk(&ctx.prefix()), Vec::<String>::new());
}

/// A Go whose `go version` works but whose compiler does not: the build check refuses it and the
/// previous Go and environment are back, byte for byte.
#[test]
fn a_failing_build_check_rolls_back() {
    let ctx = TestContext::new();
    let good = ctx.copy_installer(&installer("amd64"), "good");
    let src = ctx.path("src");
    fs::create_dir(&src).unwrap();
    ok(Command::new("tar").arg("-C").arg(&src).arg("-xzf").arg(go_release("amd64")));
    let compile = src.join("go/pkg/tool/linux_amd64/compile");
    fs::write(&compile, "#!/bin/sh\necho 'compile: broken on purpose' >&2\nexit 3\n").unwrap();
    let broken = ctx.path("bin/broken");
    let out =
        build_with(&src.join("go"), &release_key().private, &broken, &["--stub".as_ref(), stub(AMD64).as_os_str()]);
    assert!(out.status.success(), "{}", stderr(&out));

    let out = ctx.install_root(&good, release_key(), &[]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let before = ctx.snapshot();
    ctx.build_check.set(true);
    let out = ctx.install_root(&broken, release_key(), &["--force"]);
    assert_eq!(code(&out), exit::CHECK_FAILED, "{}", stderr(&out));
    assert!(stderr(&out).contains("building hello world with the new Go failed"), "{}", stderr(&out));
    assert!(stderr(&out).contains("broken on purpose"), "{}", stderr(&out));
    assert_eq!(ctx.snapshot(), before);
    assert!(ctx.staging_dirs().is_empty(), "{:?}", ctx.staging_dirs());
    // And as the first install: nothing is left at all.
    let fresh = TestContext::new();
    fresh.build_check.set(true);
    let broken = fresh.copy_installer(&broken, "broken");
    let before = fresh.snapshot();
    let out = fresh.install_root(&broken, release_key(), &[]);
    assert_eq!(code(&out), exit::CHECK_FAILED, "{}", stderr(&out));
    assert_eq!(fresh.snapshot(), before);
}

/// Two versions installed (on the crash-test stub): kill -9 at every point of `use`, `rollback`
/// and `uninstall`. After recovery the machine is exactly as before the command or exactly as
/// after it, and running the command again ends exactly as after it.
#[test]
fn kill_during_use_rollback_and_uninstall_then_recover() {
    kill_during_switches(Layout::Link);
}

/// The same in the layout of Windows (`PREFIX/go` is the active tree, a switch is two renames),
/// which the crash-test stub takes with the switch `tree-layout`: one more point, between the
/// two renames.
#[test]
fn kill_during_use_rollback_and_uninstall_in_the_windows_layout_then_recover() {
    kill_during_switches(Layout::Tree);
}

fn kill_during_switches(layout: Layout) {
    let ctx = TestContext::new();
    let base = match layout {
        Layout::Link => "",
        Layout::Tree => "tree-layout,",
    };
    let armed = |point: &str| format!("{base}{point}");
    let switch_points: Vec<&str> = match layout {
        Layout::Link => SWITCH_POINTS.to_vec(),
        Layout::Tree => {
            let mut v = SWITCH_POINTS.to_vec();
            v.insert(1, "fallback-aside"); // the old tree parked, the new one not yet at `go`
            v
        }
    };
    let (fp_newer, fp_older) = failpoint_lifecycle_installers();
    let newer = ctx.copy_installer(fp_newer, "newer");
    let older = ctx.copy_installer(fp_older, "older");
    let in_layout = [("GO_OFFLINE_FAILPOINT", base)];
    let install = |inst: &PathBuf, extra: &[&str]| {
        let out = run(&mut ctx.install_command(inst, release_key(), extra, &in_layout));
        assert_eq!(code(&out), 0, "{}", stderr(&out));
    };
    let cmd = |args: &[&str], point: &str| lc(&ctx, &newer, args, &[("GO_OFFLINE_FAILPOINT", &armed(point))]);
    install(&newer, &[]);
    install(&older, &["--allow-downgrade"]);
    let start = ctx.snapshot(); // older active, newer previous
    let back_to_start = || {
        assert_eq!(code(&cmd(&["use", "1.26.6"], "")), 0);
        assert_eq!(ctx.snapshot(), start, "the start state is reached again");
    };
    let recover = |case: &str| {
        let out = cmd(&["--recover", "--json"], "");
        assert_eq!(code(&out), 0, "{case}: {}", stderr(&out));
        let again = cmd(&["--recover"], "");
        assert!(stdout(&again).starts_with("nothing to recover"), "{case}: recovery is done in one run");
        assert!(ctx.staging_dirs().is_empty(), "{case}: left {:?}", ctx.staging_dirs());
    };

    let mut kills = 0;
    if layout == Layout::Tree {
        assert_eq!(ctx.goroot().symlink_metadata().map(|m| m.is_dir()).ok(), Some(true), "go is a tree");
    }
    let points = &switch_points[..];
    for args in [&["use", "1.27.3"][..], &["rollback"][..]] {
        assert_eq!(code(&cmd(args, "")), 0);
        let done = ctx.snapshot();
        back_to_start();
        for point in points {
            let case = format!("{} at {point}", args.join(" "));
            let out = cmd(args, point);
            assert_eq!(std::os::unix::process::ExitStatusExt::signal(&out.status), Some(9), "{case}: {}", stderr(&out));
            kills += 1;
            recover(&case);
            let committed =
                points.iter().position(|p| p == point) >= points.iter().position(|p| *p == "journal-committing");
            assert_eq!(ctx.snapshot(), if committed { done.clone() } else { start.clone() }, "{case}");
            let out = cmd(args, "");
            assert_eq!(code(&out), 0, "{case}: {}", stderr(&out));
            assert_eq!(ctx.snapshot(), done, "{case}: the command run again ends as if run once");
            back_to_start();
        }
    }
    // uninstall runs forward: every crash is finished by recovery.
    assert_eq!(code(&cmd(&["uninstall", "1.27.3", "--yes"], "")), 0);
    let done = ctx.snapshot();
    let reinstall = || {
        install(&newer, &[]);
        back_to_start();
    };
    reinstall();
    for point in UNINSTALL_POINTS {
        let case = format!("uninstall at {point}");
        let out = cmd(&["uninstall", "1.27.3", "--yes"], point);
        assert_eq!(std::os::unix::process::ExitStatusExt::signal(&out.status), Some(9), "{case}: {}", stderr(&out));
        kills += 1;
        recover(&case);
        assert_eq!(ctx.snapshot(), done, "{case}");
        let r = json(&cmd(&["uninstall", "1.27.3", "--yes", "--json"], ""));
        assert_eq!(r["changed"], false, "{case}: {r}");
        reinstall();
    }
    eprintln!("kill -9 during use, rollback and uninstall ({layout:?} layout): {kills} kills, every one recovered");
    assert_eq!(kills, 2 * points.len() + UNINSTALL_POINTS.len());
}

/// Installing the active version again checks it as `verify-installed` does: intact, it is
/// nothing to do (no confirmation needed, no terminal, no `--yes`); drifted (a file of its tree,
/// its environment script, a toolchain link), the plan says it repairs and how much differs, it
/// needs a confirmation like any install, and the signed tree replaces the drifted one.
#[test]
fn installing_the_active_version_again_repairs_what_drifted() {
    let ctx = TestContext::new();
    let inst = ctx.copy_installer(&installer("amd64"), "go-offline-installer");
    let key = release_key();
    let out = ctx.install_root(&inst, key, &[]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let tree = ctx.tree(GO_VERSION);
    let go_sh = ctx.etc().join("profile.d/go.sh");
    let (prefix, key_path) = (ctx.prefix(), key.public.clone());
    // The install as an operator at a script runs it: no terminal, and `--yes` or not.
    let again = |yes: bool| {
        let mut args = vec!["--no-build-check", "--prefix", prefix.to_str().unwrap()];
        args.extend(["--trusted-key", key_path.to_str().unwrap()]);
        if yes {
            args.push("--yes");
        }
        ctx.run_root(&inst, &args, None, &[])
    };
    let damage_a_file = || {
        let doc = tree.join("src/fmt/doc.go");
        fs::write(&doc, fs::read_to_string(&doc).unwrap() + "// edited\n").unwrap();
    };
    let remove_go_sh = || fs::remove_file(&go_sh).unwrap();
    let remove_a_toolchain_link = || fs::remove_file(ctx.prefix().join("bin/go1.27.3")).unwrap();
    let nothing = || {};
    // (case, damage done first, --yes, exit, what the plan says, changed)
    type Case<'a> = (&'a str, &'a dyn Fn(), bool, i32, &'a str, bool);
    let cases: Vec<Case> = vec![
        ("intact, no --yes", &nothing, false, 0, "", false),
        ("intact, --yes", &nothing, true, 0, "", false),
        (
            "a file changed, no --yes",
            &damage_a_file,
            false,
            exit::DECLINED,
            "(repairs the active go1.27.3: 1 file(s) of its tree differ from its receipt; its tree is replaced with the signed one)",
            false,
        ),
        (
            "a file changed, --yes",
            &nothing,
            true,
            0,
            "(repairs the active go1.27.3: 1 file(s) of its tree differ from its receipt; its tree is replaced with the signed one)",
            true,
        ),
        ("repaired, no --yes", &nothing, false, 0, "", false),
        (
            "the environment script removed",
            &remove_go_sh,
            true,
            0,
            "(repairs the active go1.27.3: 1 environment file(s) to write again;",
            true,
        ),
        (
            "a toolchain link removed",
            &remove_a_toolchain_link,
            true,
            0,
            "(repairs the active go1.27.3: 1 toolchain link(s) in PREFIX/bin to put right;",
            true,
        ),
    ];
    for (case, damage, yes, want, plan, changed) in cases {
        damage();
        let verified = lc(&ctx, &inst, &["verify-installed"], &[]);
        if plan.is_empty() {
            assert_eq!(code(&verified), 0, "{case}: {}", stdout(&verified));
        } else {
            // The advice names what the next step does.
            assert_eq!(code(&verified), exit::DRIFT, "{case}");
            let advice =
                format!("run the installer of {GO_VERSION} ('{}', as its receipt says) again: it ", inst.display());
            assert!(stderr(&verified).contains(&advice), "{case}: {}", stderr(&verified));
        }
        let before = ctx.snapshot();
        let out = again(yes);
        assert_eq!(code(&out), want, "{case}: {}", stderr(&out));
        let (said, warned) = (stdout(&out), stderr(&out));
        match (plan.is_empty(), yes) {
            (true, _) => {
                assert!(said.contains("already installed and active"), "{case}: {said}");
                assert!(!warned.contains("About to install") && !warned.contains("--yes"), "{case}: {warned}");
            }
            // The plan is what `installing ...` says; without a terminal to ask at, a repair
            // needs --yes like any install.
            (false, true) => assert!(
                warned.contains(&format!("installing {GO_VERSION} for linux/amd64")) && warned.contains(plan),
                "{case}: {warned}"
            ),
            (false, false) => assert!(warned.contains("re-run with --yes"), "{case}: {warned}"),
        }
        assert_eq!(ctx.snapshot() != before, changed, "{case}: whether the prefix changed");
        if want == 0 {
            let out = lc(&ctx, &inst, &["verify-installed"], &[]);
            assert_eq!(code(&out), 0, "{case}: verify-installed after: {}", stdout(&out));
        }
    }
}

/// A directory of an installed tree replaced by a link to a copy of it elsewhere: the lifecycle
/// commands never go through the link. `verify-installed` reports the directory's type and its
/// files as missing (not the copy's files as intact), and `uninstall --all` deletes nothing
/// beyond the link: the copy stays whole; the link, which no receipt lists, stays in the tree.
#[test]
fn a_directory_replaced_by_a_link_is_never_followed() {
    let ctx = TestContext::new();
    let inst = ctx.copy_installer(&installer("amd64"), "go-offline-installer");
    let out = ctx.install_root(&inst, release_key(), &["--no-modify-path"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let tree = ctx.tree("go1.27.3");
    let (dir, elsewhere) = (tree.join("src/fmt"), ctx.path("elsewhere/fmt"));
    fs::create_dir_all(elsewhere.parent().unwrap()).unwrap();
    assert!(Command::new("cp").arg("-a").arg(&dir).arg(&elsewhere).status().unwrap().success());
    let copy_before = tree_hash(&elsewhere);
    fs::remove_dir_all(&dir).unwrap();
    std::os::unix::fs::symlink(&elsewhere, &dir).unwrap();

    let out = lc(&ctx, &inst, &["verify-installed", "--json"], &[]);
    assert_eq!(code(&out), exit::DRIFT, "{}", stdout(&out));
    let report = json(&out);
    let differences = &report["versions"][0]["differences"];
    let problems_of = |path: &str| -> Vec<String> {
        let d = differences.as_array().unwrap().iter().find(|d| d["path"] == path);
        let d = d.unwrap_or_else(|| panic!("no difference for {path}: {report}"));
        d["problems"].as_array().unwrap().iter().map(|p| p.as_str().unwrap().to_string()).collect()
    };
    assert_eq!(problems_of("go-1.27.3/src/fmt"), ["type"], "{report}");
    assert_eq!(problems_of("go-1.27.3/src/fmt/print.go"), ["missing"], "{report}");

    let out = lc(&ctx, &inst, &["uninstall", "--all", "--yes"], &[]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(tree_hash(&elsewhere), copy_before, "nothing behind the link was removed");
    assert!(fs::symlink_metadata(&dir).unwrap().file_type().is_symlink(), "the link, listed by no receipt, stays");
}

/// Files a user puts inside an installed tree are theirs, and the tree is the release's: no
/// command deletes such a file, and no install leaves one in the tree it installs. A repair,
/// `--force`, and an install after `uninstall` (which left them at the version's name) move them
/// beside the tree, to `go-1.27.3.kept` (`.kept.2`, ...), and name them in the plan and the
/// result; `status` shows those directories and what uninstall left as what they are, not as
/// unmanaged trees; `verify-installed` says where a reinstall puts them. A Go tree with no
/// receipt at that name is still refused without `--force`.
#[test]
fn a_users_files_inside_a_tree_are_kept_and_reported() {
    let ctx = TestContext::new();
    let inst = ctx.copy_installer(&installer("amd64"), "go-offline-installer");
    let key = release_key();
    let install = |extra: &[&str]| {
        let mut args = vec!["--json"];
        args.extend_from_slice(extra);
        json(&ctx.install_root(&inst, key, &args))
    };
    let verify_clean = |case: &str| {
        let out = lc(&ctx, &inst, &["verify-installed"], &[]);
        assert_eq!(code(&out), 0, "{case}: the tree is the release's: {}", stdout(&out));
    };
    let r = install(&[]);
    assert_eq!(r["install_action"], "installed", "{r}");
    let tree = ctx.tree(GO_VERSION);
    let prefix = ctx.prefix();
    // A file at the top, one in a directory of the release, a directory of the user's own.
    let mine = [("operator-notes.txt", "notes\n"), ("bin/mytool", "#!/bin/sh\n"), ("mine/sub/data", "data\n")];
    for (path, text) in mine {
        fs::create_dir_all(tree.join(path).parent().unwrap()).unwrap();
        fs::write(tree.join(path), text).unwrap();
    }

    // verify-installed names them and says where a reinstall puts them.
    let out = lc(&ctx, &inst, &["verify-installed"], &[]);
    assert_eq!(code(&out), exit::DRIFT, "{}", stdout(&out));
    assert!(stdout(&out).contains("extra    go-1.27.3/bin/mytool"), "{}", stdout(&out));
    assert!(
        stderr(&out).contains("3 entries the release does not have are moved beside it, to go-1.27.3.kept*"),
        "{}",
        stderr(&out)
    );

    // The repair: planned (the dry run changes nothing), done, and the files are beside the tree.
    let kept = ["go-1.27.3.kept/bin/mytool", "go-1.27.3.kept/mine", "go-1.27.3.kept/operator-notes.txt"];
    let before = ctx.snapshot();
    let dry = json(&ctx.install_root(&inst, key, &["--json", "--dry-run"]));
    assert_eq!(dry["kept"], serde_json::json!(kept), "{dry}");
    let text = stdout(&ctx.install_root(&inst, key, &["--dry-run"]));
    let line = format!(
        "keeps:       {}: not part of the release, moved out of the tree (nothing is deleted)",
        kept.join(", ")
    );
    assert!(text.contains(&line), "{text}");
    assert_eq!(ctx.snapshot(), before, "the dry run changed nothing");
    let out = ctx.install_root(&inst, key, &[]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(
        stdout(&out).contains("kept: go-1.27.3.kept/mine (not part of the release: moved out of the tree)"),
        "{}",
        stdout(&out)
    );
    for (path, text) in mine {
        assert_eq!(fs::read_to_string(prefix.join("go-1.27.3.kept").join(path)).unwrap(), text, "{path}");
        assert!(!tree.join(path).exists(), "{path} left the tree");
    }
    verify_clean("repair");

    // --force: to the next free name; the first directory stays as it is.
    fs::write(tree.join("notes-2.txt"), "two\n").unwrap();
    let r = install(&["--force"]);
    assert_eq!(r["kept"], serde_json::json!(["go-1.27.3.kept.2/notes-2.txt"]), "{r}");
    assert_eq!(fs::read_to_string(prefix.join("go-1.27.3.kept/operator-notes.txt")).unwrap(), "notes\n");
    verify_clean("--force");

    // uninstall --all leaves a user's file at the version's name; status shows what each
    // directory is; the dry run and the install move it aside too.
    fs::write(tree.join("notes-3.txt"), "three\n").unwrap();
    let r = json(&lc(&ctx, &inst, &["uninstall", "--all", "--yes", "--json"], &[]));
    assert_eq!(r["ok"], true, "{r}");
    let s = json(&lc(&ctx, &inst, &["status", "--json"], &[]));
    assert_eq!(s["unmanaged"], serde_json::json!([]), "{s}");
    let dirs: Vec<(&str, &Value)> =
        s["kept"].as_array().unwrap().iter().map(|k| (k["path"].as_str().unwrap(), &k["files"])).collect();
    let at = |name: &str| prefix.join(name).to_str().unwrap().to_string();
    assert_eq!(
        dirs,
        [
            (at("go-1.27.3").as_str(), &serde_json::json!(["notes-3.txt"])),
            (at("go-1.27.3.kept").as_str(), &serde_json::json!(["bin/mytool", "mine/sub/data", "operator-notes.txt"])),
            (at("go-1.27.3.kept.2").as_str(), &serde_json::json!(["notes-2.txt"])),
        ],
        "{s}"
    );
    let text = stdout(&lc(&ctx, &inst, &["status"], &[]));
    assert!(text.contains("holds 1 file(s) of a user's that this installer kept, beside go1.27.3"), "{text}");
    assert!(!text.contains("unmanaged"), "{text}");
    let before = ctx.snapshot();
    let out = ctx.install_root(&inst, key, &["--dry-run"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(
        stdout(&out).contains("(its directory holds only files an uninstall kept: they are moved aside"),
        "{}",
        stdout(&out)
    );
    assert_eq!(ctx.snapshot(), before, "the dry run changed nothing");
    let r = install(&[]);
    assert_eq!(r["kept"], serde_json::json!(["go-1.27.3.kept.3/notes-3.txt"]), "{r}");
    assert!(go_version(&ctx).contains(GO_VERSION));
    verify_clean("install after uninstall");

    // A Go tree with no receipt at that name: refused without --force (nothing changes);
    // --force moves what the release does not have aside.
    let r = json(&lc(&ctx, &inst, &["uninstall", "--all", "--yes", "--json"], &[]));
    assert_eq!(r["ok"], true, "{r}");
    fs::create_dir_all(&tree).unwrap();
    ok(Command::new("tar").arg("-C").arg(&tree).args(["--strip-components=1", "-xzf"]).arg(go_release("amd64")));
    fs::write(tree.join("operator-notes.txt"), "notes\n").unwrap();
    let before = ctx.snapshot();
    let out = ctx.install_root(&inst, key, &[]);
    assert_eq!(code(&out), exit::DESTINATION, "{}", stderr(&out));
    assert!(stderr(&out).contains("holds a Go tree that was not installed by this installer"), "{}", stderr(&out));
    assert_eq!(ctx.snapshot(), before);
    let r = install(&["--force"]);
    assert_eq!(r["kept"], serde_json::json!(["go-1.27.3.kept.4/operator-notes.txt"]), "{r}");
    verify_clean("--force over a Go tree with no receipt");
}

/// The plan's "to undo:" line, followed as written, takes the install back out for each kind of
/// install: a new version over an older active one (rollback, then uninstall), an installed
/// version made active (rollback), a repair of the active version while another is installed
/// (use the other, then uninstall: `uninstall` of the active one alone would be refused, 24).
#[test]
fn the_undo_in_the_plan_works_as_written() {
    let key = release_key();
    // What the prefix holds: (active version, installed versions).
    let state = |ctx: &TestContext, inst: &Path| {
        let s = json(&lc(ctx, inst, &["status", "--json"], &[]));
        let mut versions: Vec<String> =
            s["versions"].as_array().unwrap().iter().map(|v| v["go_version"].as_str().unwrap().to_string()).collect();
        versions.sort();
        (s["active_version"].as_str().map(str::to_string), versions)
    };
    let damage = |ctx: &TestContext| fs::write(ctx.tree(GO_VERSION).join("src/fmt/doc.go"), "// edited\n").unwrap();
    // (case, the installer run after the setup: newer or older, setup, expected undo words)
    type Setup<'a> = &'a dyn Fn(&TestContext, &Path, &Path);
    let cases: [(&str, bool, Setup, &str); 3] = [
        (
            "a new version over an older active one",
            true,
            &|ctx, _, older| {
                assert_eq!(code(&ctx.install_root(older, key, &[])), 0);
            },
            "rollback --prefix",
        ),
        (
            "an installed version made active",
            false,
            &|ctx, newer, older| {
                assert_eq!(code(&ctx.install_root(older, key, &[])), 0);
                assert_eq!(code(&ctx.install_root(newer, key, &[])), 0);
            },
            "rollback --prefix",
        ),
        (
            "a repair of the active version, another installed",
            true,
            &|ctx, newer, older| {
                assert_eq!(code(&ctx.install_root(older, key, &[])), 0);
                assert_eq!(code(&ctx.install_root(newer, key, &[])), 0);
                damage(ctx);
            },
            "use 1.26.6 --prefix",
        ),
    ];
    for (case, run_newer, setup, says) in cases {
        let ctx = TestContext::new();
        let newer = ctx.copy_installer(&installer("amd64"), "newer");
        let older = ctx.copy_installer(&older_installer(), "older");
        setup(&ctx, &newer, &older);
        let before = state(&ctx, &newer);
        let inst = if run_newer { &newer } else { &older };
        let extra: &[&str] = if run_newer { &[] } else { &["--allow-downgrade"] };
        let plan = stdout(&ctx.install_root(inst, key, &[&["--dry-run"][..], extra].concat()));
        let undo = plan.lines().find_map(|l| l.trim().strip_prefix("to undo:")).expect("an undo line").trim();
        assert!(undo.contains(says), "{case}: {undo}");
        let out = ctx.install_root(inst, key, extra);
        assert_eq!(code(&out), 0, "{case}: {}", stderr(&out));
        // Each command as a shell splits it (the installer's path may be quoted), run with --yes.
        for command in undo.split(", then ") {
            let split = format!("for a in {command}; do printf '%s\\0' \"$a\"; done");
            let words = stdout(&ok(Command::new("sh").arg("-c").arg(&split)));
            let words: Vec<&str> = words.split('\0').filter(|w| !w.is_empty()).collect();
            assert_eq!(Path::new(words[0]), inst.as_path(), "{case}: {undo}");
            let args: Vec<&str> = words[1..].iter().copied().chain(["--yes"]).collect();
            let out = ctx.run_root(inst, &args, None, &[]);
            assert_eq!(code(&out), 0, "{case}: {command}: {}", stderr(&out));
        }
        let after = state(&ctx, &newer);
        if case.starts_with("a repair") {
            // A repair cannot bring the drifted files back: its version is gone, the other active.
            assert_eq!(after, (Some(OLDER_GO_VERSION.into()), vec![OLDER_GO_VERSION.to_string()]), "{case}");
        } else {
            assert_eq!(after, before, "{case}");
        }
    }
}
