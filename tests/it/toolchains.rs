//! A go.mod picks the installed Go it needs (`GOTOOLCHAIN=local+path` in the signed go.env, the
//! `PREFIX/bin/go1.N.P` links and shims of installer/src/toolchains.rs), with no network:
//! go1.26.6 and go1.27.3 side by side, go1.26.6 active, for root and for a user.

use std::{
    fs,
    path::{Path, PathBuf},
    process::{Command, Output},
};

use serde_json::Value;

use crate::support::*;

/// `sh -c '. ENV_SCRIPT; SCRIPT'` in `dir`, with no network and a clean environment: what a
/// user's login shell does, then the command they type.
fn shell(ctx: &TestContext, env_script: &Path, dir: &Path, script: &str, as_user: bool) -> Output {
    let line = format!(". {}; {script}", sh_quote(env_script));
    let mut cmd = match as_user {
        true => {
            let mut c = offline_go(ctx, Path::new("setpriv"), None);
            c.args(["--reuid", "65534", "--regid", "65534", "--clear-groups", "--", "sh"]);
            c
        }
        false => offline_go(ctx, Path::new("sh"), None),
    };
    run(cmd.args(["-c", &line]).current_dir(dir))
}

/// A module in `ctx/projects/NAME` whose go.mod says `go GO_LINE`.
fn project(ctx: &TestContext, name: &str, go_line: &str) -> PathBuf {
    let dir = ctx.path(&format!("projects/{name}"));
    fs::create_dir_all(&dir).unwrap();
    fs::write(dir.join("go.mod"), format!("module example.com/{name}\n\ngo {go_line}\n")).unwrap();
    fs::write(dir.join("main.go"), "package main\n\nimport \"fmt\"\n\nfunc main() { fmt.Println(\"built\") }\n")
        .unwrap();
    dir
}

/// What `PREFIX/bin` holds: each name with its link target, or `shim of TREE`.
fn toolchain_dir(prefix: &Path) -> Vec<(String, String)> {
    let Ok(list) = fs::read_dir(prefix.join("bin")) else { return Vec::new() };
    let mut v: Vec<(String, String)> = list
        .map(|e| {
            let e = e.unwrap();
            let name = e.file_name().to_string_lossy().into_owned();
            let what = match fs::read_link(e.path()) {
                Ok(t) => t.display().to_string(),
                Err(_) => {
                    let text = fs::read_to_string(e.path()).unwrap();
                    let runs = text.lines().find_map(|l| l.strip_prefix("# runs: ")).unwrap_or("?");
                    format!("shim of {runs}")
                }
            };
            (name, what)
        })
        .collect();
    v.sort();
    v
}

fn expected_dir(with_newer: bool) -> Vec<(String, String)> {
    let mut v: Vec<(String, String)> = (0..6).map(|p| (format!("go1.26.{p}"), "shim of go-1.26.6".into())).collect();
    v.push(("go1.26.6".into(), "../go-1.26.6/bin/go".into()));
    if with_newer {
        v.extend((0..3).map(|p| (format!("go1.27.{p}"), "shim of go-1.27.3".to_string())));
        v.push(("go1.27.3".into(), "../go-1.27.3/bin/go".into()));
    }
    v
}

/// The checks of the issue, in a shell that sourced `env_script`.
fn go_mod_selects(ctx: &TestContext, env_script: &Path, as_user: bool, snapshot: &dyn Fn() -> String) {
    let cases: &[(&str, &str, Result<&str, &str>)] = &[
        // (project, go line, the Go that builds it or go's message)
        ("needs-1-27", "1.27", Ok(GO_VERSION)),
        ("needs-1-27-3", "1.27.3", Ok(GO_VERSION)),
        ("needs-1-27-1", "1.27.1", Ok(GO_VERSION)),
        ("needs-1-26", "1.26", Ok(OLDER_GO_VERSION)),
        ("needs-1-21", "1.21", Ok(OLDER_GO_VERSION)),
        ("needs-1-28", "1.28", Err("go: cannot find \"go1.28.0\" in PATH")),
        ("needs-1-27-4", "1.27.4", Err("go: cannot find \"go1.27.4\" in PATH")),
    ];
    for (name, line, want) in cases {
        let dir = project(ctx, name, line);
        if as_user {
            ok(Command::new("chown").args(["-R", "65534:65534"]).arg(ctx.path("projects")));
        }
        let before = snapshot();
        let version = shell(ctx, env_script, &dir, "go version", as_user);
        match want {
            Ok(v) => {
                assert_eq!(
                    stdout(&version).trim(),
                    format!("go version {v} linux/amd64"),
                    "{name}: {}",
                    stderr(&version)
                );
                let built = shell(ctx, env_script, &dir, "go build -buildvcs=false -o hello . && ./hello", as_user);
                assert_eq!(code(&built), 0, "{name}: {}", stderr(&built));
                assert_eq!(stdout(&built), "built\n", "{name}");
            }
            Err(message) => {
                assert_ne!(code(&version), 0, "{name}: {}", stdout(&version));
                assert_eq!(stderr(&version).trim(), *message, "{name}");
                assert_eq!(snapshot(), before, "{name}: a Go that is not there changed something");
            }
        }
    }
}

#[test]
fn a_go_mod_picks_the_installed_go_it_needs_with_no_network() {
    let ctx = TestContext::new();
    let newer = ctx.copy_installer(&installer("amd64"), "newer");
    let older = ctx.copy_installer(&older_installer(), "older");
    let key = release_key();
    let prefix = ctx.prefix();
    let p = prefix.to_str().unwrap();
    ok(&mut ctx.install_command(&newer, key, &[], &[]));
    ok(&mut ctx.install_command(&older, key, &["--allow-downgrade"], &[]));
    assert_eq!(fs::read_link(ctx.goroot()).unwrap(), Path::new("go-1.26.6"));
    assert_eq!(toolchain_dir(&prefix), expected_dir(true));

    // Root's profile script puts PREFIX/bin on PATH once, right after PREFIX/go/bin, however
    // often it is sourced.
    let profile = ctx.etc().join("profile.d/go.sh");
    let path = shell(&ctx, &profile, &ctx.path(""), &format!(". {}; echo \"$PATH\"", sh_quote(&profile)), false);
    let want = format!(
        "{}:{}:/usr/bin:/bin:{}/bin",
        ctx.goroot().join("bin").display(),
        prefix.join("bin").display(),
        ctx.path("gopath").display()
    );
    assert_eq!(stdout(&path).trim(), want);

    let snapshot = || format!("{:?}", ctx.snapshot());
    go_mod_selects(&ctx, &profile, false, &snapshot);

    // status lists what a go.mod can select; verify-installed checks it.
    let status: Value = serde_json::from_str(&stdout(&ok(&mut ctx.root_command(
        &newer,
        &["status", "--json", "--prefix", p],
        None,
        &[],
    ))))
    .unwrap();
    let listed: Vec<(String, String, bool)> = status["toolchains"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            (t["name"].as_str().unwrap().into(), t["go_version"].as_str().unwrap().into(), t["shim"].as_bool().unwrap())
        })
        .collect();
    assert!(listed.contains(&("go1.27.3".into(), GO_VERSION.into(), false)), "{listed:?}");
    assert!(listed.contains(&("go1.27.0".into(), GO_VERSION.into(), true)), "{listed:?}");
    assert_eq!(listed.len(), 11, "{listed:?}");
    let human = stdout(&ok(&mut ctx.root_command(&newer, &["status", "--prefix", p], None, &[])));
    assert!(
        human.contains("a go.mod can select (GOTOOLCHAIN=local+path") && human.contains("go1.26.6, go1.27.3"),
        "{human}"
    );
    assert!(human.contains("go1.27.0, go1.27.1, go1.27.2 run go1.27.3"), "{human}");
    ok(&mut ctx.root_command(&newer, &["verify-installed", "--prefix", p], None, &[]));
    // A link removed by hand is drift, and the next install puts it back.
    fs::remove_file(prefix.join("bin/go1.27.3")).unwrap();
    let drift = ctx.run_root(&newer, &["verify-installed", "--json", "--prefix", p], None, &[]);
    assert_eq!(code(&drift), format::exit::DRIFT, "{}", stdout(&drift));
    assert!(stdout(&drift).contains("bin/go1.27.3"), "{}", stdout(&drift));
    ok(&mut ctx.install_command(&older, key, &["--allow-downgrade", "--force"], &[]));
    assert_eq!(toolchain_dir(&prefix), expected_dir(true));
    // A go1.27.0 that is not ours (golang.org/dl's, say) is left alone, and said so.
    fs::remove_file(prefix.join("bin/go1.27.0")).unwrap();
    fs::write(prefix.join("bin/go1.27.0"), "#!/bin/sh\necho theirs\n").unwrap();
    let out = ctx.install_command(&older, key, &["--allow-downgrade", "--force", "--json"], &[]).output().unwrap();
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(stdout(&out).contains("is not one of ours; it is left alone"), "{}", stdout(&out));
    assert_eq!(fs::read_to_string(prefix.join("bin/go1.27.0")).unwrap(), "#!/bin/sh\necho theirs\n");
    // verify-installed calls it drift of type (T), and leaves it as it is.
    let foreign = ctx.run_root(&newer, &["verify-installed", "--prefix", p], None, &[]);
    assert_eq!(code(&foreign), format::exit::DRIFT, "{}", stdout(&foreign));
    assert!(stdout(&foreign).lines().any(|l| l.contains("bin/go1.27.0") && l.contains('T')), "{}", stdout(&foreign));
    assert_eq!(fs::read_to_string(prefix.join("bin/go1.27.0")).unwrap(), "#!/bin/sh\necho theirs\n");
    fs::remove_file(prefix.join("bin/go1.27.0")).unwrap();

    // Uninstalling go1.27.3 takes its link and shims; the 1.27 project then fails clearly.
    ok(&mut ctx.root_command(&newer, &["uninstall", "1.27.3", "--yes", "--prefix", p], None, &[]));
    assert_eq!(toolchain_dir(&prefix), expected_dir(false));
    let dir = ctx.path("projects/needs-1-27");
    let gone = shell(&ctx, &profile, &dir, "go version", false);
    assert_eq!(stderr(&gone).trim(), "go: cannot find \"go1.27.0\" in PATH");
    ok(&mut ctx.root_command(&newer, &["verify-installed", "--prefix", p], None, &[]));
    // The last version goes with PREFIX/bin.
    ok(&mut ctx.root_command(&newer, &["uninstall", "1.26.6", "--yes", "--prefix", p], None, &[]));
    assert!(!prefix.join("bin").exists());
}

#[test]
fn a_users_go_mod_picks_the_installed_go_too_and_rc_files_stay_as_they_are() {
    let ctx = TestContext::new();
    let newer = ctx.copy_installer(&installer("amd64"), "newer");
    let older = ctx.copy_installer(&older_installer(), "older");
    let key = release_key();
    ctx.chown_to_nobody();
    ok(Command::new("chown").args(["65534:65534"]).arg(ctx.path("")));
    let p = ctx.prefix();
    let p = p.to_str().unwrap();
    let k = key.public.to_str().unwrap();
    let user_install = |inst: &Path, extra: &[&str]| {
        let mut args = vec!["--yes", "--no-build-check", "--prefix", p, "--trusted-key", k];
        args.extend_from_slice(extra);
        let out = ctx.run_user(inst, &args, &[]);
        assert_eq!(code(&out), 0, "{}", stderr(&out));
    };
    user_install(&newer, &[]);
    user_install(&older, &["--allow-downgrade"]);
    assert_eq!(toolchain_dir(&ctx.prefix()), expected_dir(true));
    let env_script = ctx.home().join(".config/go-offline/env");
    let rc = |name: &str| fs::read_to_string(ctx.home().join(name)).unwrap_or_default();
    let rc_before = (rc(".profile"), fs::read_to_string(&env_script).unwrap());
    let snapshot = || format!("{:?}", ctx.snapshot());
    go_mod_selects(&ctx, &env_script, true, &snapshot);
    // Installing again changes neither the rc files nor the env script.
    user_install(&older, &["--allow-downgrade"]);
    assert_eq!((rc(".profile"), fs::read_to_string(&env_script).unwrap()), rc_before);
    assert_eq!(rc(".profile").matches("go-offline-installer").count(), 1, "{}", rc(".profile"));
}
