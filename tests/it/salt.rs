//! The Salt state of `examples/salt/`, applied masterless (`salt-call --local`, from the venv
//! `cargo xtask test` makes in target/tools/salt) to a scratch machine: a private mount namespace
//! with its own `/usr/local`, `/etc` (overlay), `/var/cache` and `/var/log`, and no network.

use std::{fs, process::Command};

use serde_json::Value;

use crate::support::*;

/// Applies `state` with `pillar` (the `go_offline` pillar, YAML); returns the exit code and each
/// state's (id, result, changed, comment).
fn apply(ctx: &TestContext, state: &str, pillar: &str) -> (i32, Vec<(String, bool, bool, String)>) {
    let salt_call = workspace().join("target/tools/salt/bin/salt-call");
    assert!(salt_call.exists(), "{} is missing: `cargo xtask test` installs it", salt_call.display());
    fs::write(ctx.path("pillar/go_offline.sls"), pillar).unwrap();
    let d = |p: &str| ctx.path(p).display().to_string();
    let script = format!(
        "set -e; mount --bind '{}' /usr/local; \
         mount -t overlay overlay -o lowerdir=/etc,upperdir='{}',workdir='{}' /etc; \
         mount --bind '{}' /var/cache; mount --bind '{}' /var/log; \
         exec '{}' --local -c '{}' --out json state.apply {state}",
        d("usr-local"),
        d("etc-upper"),
        d("etc-work"),
        d("var-cache"),
        d("var-log"),
        salt_call.display(),
        d("conf")
    );
    let out = run(Command::new("unshare").args(["--mount", "--net", "--propagation", "private", "sh", "-c", &script]));
    let result: Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("salt-call printed no JSON ({e}): {}", stderr(&out)));
    let mut states: Vec<(String, bool, bool, String)> = result["local"]
        .as_object()
        .unwrap_or_else(|| panic!("no state results: {result}"))
        .iter()
        .map(|(k, v)| {
            let id = k.split("_|-").nth(1).unwrap_or(k).to_string();
            let changed = v["changes"].as_object().is_some_and(|c| !c.is_empty());
            (id, v["result"] == true, changed, v["comment"].to_string())
        })
        .collect();
    states.sort();
    (code(&out), states)
}

fn pillar(file: &str, sha256: &str, extra: &str) -> String {
    format!(
        "go_offline:\n  installer: salt://go-offline/{file}\n  sha256: {sha256}\n  org_keys:\n    - salt://go-offline/org.pub\n  prefix: /usr/local\n  extra_args: --no-build-check {extra}\n"
    )
}

fn state<'a>(states: &'a [(String, bool, bool, String)], id: &str) -> &'a (String, bool, bool, String) {
    states.iter().find(|s| s.0 == id).unwrap_or_else(|| panic!("no state {id} in {states:?}"))
}

#[test]
fn salt_state_installs_is_idempotent_refuses_tampering_and_rolls_back() {
    let ctx = TestContext::new();
    for d in
        ["usr-local", "etc-upper", "etc-work", "var-cache", "var-log", "srv/go-offline", "pillar", "conf", "salt-root"]
    {
        fs::create_dir_all(ctx.path(d)).unwrap();
    }
    let srv = ctx.path("srv/go-offline");
    fs::copy(&release_key().public, srv.join("org.pub")).unwrap();
    for (name, from) in [("older", older_installer()), ("newer", installer("amd64"))] {
        fs::copy(from, srv.join(name)).unwrap();
    }
    let mut tampered = fs::read(srv.join("newer")).unwrap();
    let at = tampered.len() / 2;
    tampered[at] ^= 0x20;
    fs::write(srv.join("tampered"), tampered).unwrap();
    fs::write(ctx.path("pillar/top.sls"), "base:\n  '*':\n    - go_offline\n").unwrap();
    fs::write(
        ctx.path("conf/minion"),
        format!(
            "file_client: local\nroot_dir: {}\nfile_roots:\n  base:\n    - {}\n    - {}\npillar_roots:\n  base:\n    - {}\n",
            ctx.path("salt-root").display(),
            workspace().join("examples/salt").display(),
            ctx.path("srv").display(),
            ctx.path("pillar").display()
        ),
    )
    .unwrap();
    let active = || fs::read_link(ctx.path("usr-local/go")).map(|l| l.display().to_string()).unwrap_or_default();
    let older = pillar("older", &sha256_file(&srv.join("older")), "");
    let newer = pillar("newer", &sha256_file(&srv.join("newer")), "");

    // The older Go, then the newer: both change, the installer says so.
    for (p, want) in [(&older, "go-1.26.6"), (&newer, "go-1.27.3")] {
        let (rc, states) = apply(&ctx, "go_offline", p);
        assert_eq!(rc, 0, "{states:?}");
        let install = state(&states, "go-offline-install");
        assert!(install.1 && install.2, "{states:?}");
        assert_eq!(active(), want);
    }
    assert!(ctx.path("etc-upper/go-offline-installer/trusted-keys/org.pub").exists());
    assert!(ctx.path("etc-upper/profile.d/go.sh").exists());

    // Again: every state true, none changed.
    let (rc, states) = apply(&ctx, "go_offline", &newer);
    assert_eq!(rc, 0);
    assert!(states.iter().all(|s| s.1 && !s.2), "{states:?}");

    // A copy whose sha256 is not the release's: refused before the installer runs.
    let (rc, states) = apply(&ctx, "go_offline", &pillar("tampered", &sha256_file(&srv.join("newer")), ""));
    assert_ne!(rc, 0);
    assert!(!state(&states, "go-offline-installer-sha256").1, "{states:?}");
    // A tampered file published with its own sha256: the installer refuses, with its message.
    let (rc, states) = apply(&ctx, "go_offline", &pillar("tampered", &sha256_file(&srv.join("tampered")), ""));
    assert_ne!(rc, 0);
    let install = state(&states, "go-offline-install");
    assert!(!install.1 && install.3.contains("digest mismatch"), "{states:?}");
    assert_eq!(active(), "go-1.27.3");

    // The rollback state: back to the older Go.
    let (rc, states) = apply(&ctx, "go_offline.rollback", &newer);
    assert_eq!(rc, 0, "{states:?}");
    assert!(state(&states, "go-offline-rollback").2, "{states:?}");
    assert_eq!(active(), "go-1.26.6");
}
