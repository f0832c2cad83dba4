//! The builder: keys, determinism, platform checks, real GOROOT directories with symlinks.

use std::{
    fs,
    os::unix::fs::PermissionsExt,
    path::{Path, PathBuf},
    process::Command,
};

use format::exit;

use crate::support::*;

fn build(go: &Path, key: &Path, out: &Path, extra: &[&str]) -> std::process::Output {
    let extra: Vec<&std::ffi::OsStr> = extra.iter().map(|a| a.as_ref()).collect();
    build_with(go, key, out, &extra)
}

#[test]
fn keygen_writes_private_key_0600_and_refuses_to_overwrite() {
    let dir = tempfile::tempdir().unwrap();
    let key = keygen(dir.path(), "org");
    assert_eq!(fs::metadata(&key.private).unwrap().permissions().mode() & 0o777, 0o600);
    assert!(fs::read_to_string(&key.private).unwrap().starts_with("-----BEGIN PRIVATE KEY-----"));
    assert!(fs::read_to_string(&key.public).unwrap().starts_with("-----BEGIN PUBLIC KEY-----"));
    assert_eq!(key.id.len(), 16);
    // The key id is what openssl computes from the raw public key.
    let der = ok(Command::new("openssl").args(["pkey", "-pubin", "-outform", "DER", "-in"]).arg(&key.public));
    use sha2::Digest;
    assert_eq!(hex::encode(&sha2::Sha256::digest(&der.stdout[der.stdout.len() - 32..])[..8]), key.id);
    let before = fs::read(&key.private).unwrap();
    let out = run(builder().arg("keygen").arg("--out").arg(dir.path().join("org")));
    assert_eq!(code(&out), builder::exit::BAD_INPUT);
    assert!(stderr(&out).contains("refusing to overwrite"));
    assert_eq!(fs::read(&key.private).unwrap(), before);
}

#[test]
fn openssl_keys_work_as_they_are_and_output_is_deterministic() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    ok(Command::new("openssl").args(["genpkey", "-algorithm", "ed25519", "-out"]).arg(d.join("ossl.key")));
    ok(Command::new("openssl")
        .args(["pkey", "-pubout", "-in"])
        .arg(d.join("ossl.key"))
        .arg("-out")
        .arg(d.join("ossl.pub")));
    let go = go_release("amd64");
    let out = build(&go, &d.join("ossl.key"), &d.join("a"), &[]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    ok(builder().arg("verify").arg(d.join("a")).arg("--trusted-key").arg(d.join("ossl.pub")));
    // Same inputs, same key, other thread count: the same bytes.
    ok(&mut {
        let mut c = builder();
        c.arg("build").arg("--go").arg(&go).arg("--key").arg(d.join("ossl.key")).args([
            "--level",
            TEST_LEVEL,
            "--threads",
            "1",
            "--output",
        ]);
        c.arg(d.join("b")).env("GO_OFFLINE_STUBS_DIR", workspace().join("target/stubs"));
        c
    });
    assert!(fs::read(d.join("a")).unwrap() == fs::read(d.join("b")).unwrap(), "two builds of the same inputs differ");
    // SOURCE_DATE_EPOCH is the build time.
    let out = run(builder()
        .arg("build")
        .arg("--go")
        .arg(&go)
        .arg("--key")
        .arg(d.join("ossl.key"))
        .args(["--level", TEST_LEVEL, "--output"])
        .arg(d.join("c"))
        .env("SOURCE_DATE_EPOCH", "1700000000")
        .env("GO_OFFLINE_STUBS_DIR", workspace().join("target/stubs")));
    assert_eq!(code(&out), 0);
    let inspect = ok(builder().arg("inspect").arg(d.join("c")).arg("--json"));
    let info: serde_json::Value = serde_json::from_slice(&inspect.stdout).unwrap();
    assert_eq!(info["created"], 1_700_000_000u64);
    // For people, the same time as a UTC date.
    let text = stdout(&ok(builder().arg("inspect").arg(d.join("c"))));
    assert!(text.contains("created:     2023-11-14T22:13:20Z\n"), "{text}");
    assert_eq!(info["go_version"], GO_VERSION);
    assert_eq!(info["target"], AMD64);
    assert_eq!(info["files"], 12086);
    assert_eq!(info["go_env"]["GOPROXY"], "off");
    assert_eq!(info["go_env"]["GOTOOLCHAIN"], "local+path");
    assert_eq!(info["go_env"]["GOSUMDB"], "sum.golang.org", "checksum verification stays on");
    assert_eq!(info["source"]["kind"], "tarball");
    let tarball_sha = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(fs::read(&go).unwrap()));
    assert_eq!(info["source"]["sha256"], tarball_sha);
    assert_ne!(fs::read(d.join("a")).unwrap(), fs::read(d.join("c")).unwrap());
}

#[test]
fn platform_mismatches_are_refused_at_build_time() {
    let dir = tempfile::tempdir().unwrap();
    let key = &release_key().private;
    let out_file = dir.path().join("x");
    let cases: &[(&str, &str, &[&str], &str)] = &[
        ("arm64 Go onto the x86_64 stub", "arm64", &["--target", AMD64], "linux/arm64"),
        ("arm64 Go with an x86_64 stub file", "arm64", &["--stub", "X86STUB"], "is a linux/amd64 binary"),
        ("amd64 Go onto the aarch64 stub", "amd64", &["--target", ARM64], "linux/amd64"),
        ("386 Go onto the x86_64 stub", "386", &["--target", AMD64], "linux/386"),
        ("amd64 Go onto the i686 stub", "amd64", &["--target", I686], "is linux/386"),
        ("s390x Go onto the ppc64le stub", "s390x", &["--target", PPC64LE], "linux/s390x"),
        ("ppc64le Go with an s390x stub file", "ppc64le", &["--stub", "S390XSTUB"], "is a linux/s390x binary"),
        ("arm Go onto the riscv64 stub", "arm", &["--target", RISCV64], "linux/arm"),
        ("riscv64 Go with an armv7 stub file", "riscv64", &["--stub", "ARMSTUB"], "is a linux/arm binary"),
        ("unknown target", "amd64", &["--target", "loongarch64-unknown-linux-musl"], "unknown target"),
    ];
    for (name, goarch, extra, message) in cases {
        let (x86, s390x, armv7) = (stub(AMD64), stub(S390X), stub(ARMV7));
        let extra: Vec<&str> = extra
            .iter()
            .map(|a| match *a {
                "X86STUB" => x86.to_str().unwrap(),
                "S390XSTUB" => s390x.to_str().unwrap(),
                "ARMSTUB" => armv7.to_str().unwrap(),
                a => a,
            })
            .collect();
        let out = build(&go_release(goarch), key, &out_file, &extra);
        assert_eq!(code(&out), builder::exit::BAD_INPUT, "{name}");
        assert!(stderr(&out).contains(message), "{name}: {}", stderr(&out));
        assert!(!out_file.exists(), "{name}: no output may be written");
    }
}

/// The official Windows zip is read as Go ships it (version from `VERSION`, platform from the PE
/// header of `bin/go.exe`); a stub of the other OS is refused either way round, naming both, and
/// a zip that is not Go's layout is refused as such. Nothing is written when refused.
#[test]
fn the_official_windows_zip_is_read_and_a_stub_of_the_other_os_refused() {
    let dir = tempfile::tempdir().unwrap();
    let key = &release_key().private;
    let out_file = dir.path().join("x");
    // A zip of the right shape with the wrong root, made here.
    let odd = dir.path().join("odd.zip");
    let mut w = zip::ZipWriter::new(fs::File::create(&odd).unwrap());
    w.start_file("golang/VERSION", zip::write::SimpleFileOptions::default()).unwrap();
    std::io::Write::write_all(&mut w, b"go1.27.3\n").unwrap();
    w.finish().unwrap();
    let zip = go_zip();
    let linux = go_release("amd64");
    let win_stub = stub(WIN64);
    let linux_stub = stub(AMD64);
    let cases: &[(&str, &Path, &[&str], &str)] = &[
        ("the Windows zip on the Linux stub", &zip, &["--target", AMD64], "is go1.27.3 windows/amd64 but the target"),
        (
            "a Linux Go on the Windows stub",
            &linux,
            &["--target", WIN64],
            "is go1.27.3 linux/amd64 but the target x86_64-pc-windows-gnu is windows/amd64",
        ),
        (
            "the Linux stub file given for the Windows zip",
            &zip,
            &["--target", WIN64, "--stub", linux_stub.to_str().unwrap()],
            "is a linux/amd64 binary but the target is x86_64-pc-windows-gnu",
        ),
        ("a zip not in Go's layout", &odd, &[], "is not under the top-level 'go/' directory: not an official Go zip"),
    ];
    for (name, go, extra, message) in cases {
        let out = build(go, key, &out_file, extra);
        assert_eq!(code(&out), builder::exit::BAD_INPUT, "{name}: {}", stderr(&out));
        assert!(stderr(&out).contains(message), "{name}: {}", stderr(&out));
        assert!(!out_file.exists(), "{name}: no output may be written");
    }
    // On its own, the zip picks the Windows stub.
    let out = build(&zip, key, &out_file, &[]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let head = fs::read(&out_file).unwrap();
    assert_eq!(format::platform::exe_platform(&head), Some(("windows", "amd64")));
    // (with the PE fields Authenticode signing rewrites zeroed, as an unsigned installer has them)
    let as_built = format::authenticode::as_built(&fs::read(&win_stub).unwrap()).into_owned();
    assert!(head.starts_with(&as_built), "the installer starts with the Windows stub");
}

/// Extracts the official tarball into `dir/go` with the system tar.
fn unpack_official(dir: &Path) -> PathBuf {
    ok(Command::new("tar").arg("-xzf").arg(go_release("amd64")).arg("-C").arg(dir));
    dir.join("go")
}

#[test]
fn goroot_directory_with_inner_symlinks_installs_and_builds() {
    // A distribution-style GOROOT: sources moved under share/ and linked back, relative, inside.
    let ctx = TestContext::new();
    let goroot = unpack_official(&ctx.path(""));
    fs::create_dir(goroot.join("share")).unwrap();
    fs::rename(goroot.join("src"), goroot.join("share/src")).unwrap();
    std::os::unix::fs::symlink("share/src", goroot.join("src")).unwrap();
    std::os::unix::fs::symlink("../../share/src/cmd", goroot.join("pkg/tool/cmd-sources")).unwrap();
    let inst = ctx.path("bin/go-offline-installer");
    let out = build(&goroot, &release_key().private, &inst, &[]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let out = ctx.run_root(&inst, &["--list", "--trusted-key", release_key().public.to_str().unwrap()], None, &[]);
    let listing = stdout(&out);
    assert!(listing.lines().any(|l| l.starts_with("l0777") && l.ends_with(" src -> share/src")), "symlink listed");
    let prefix = ctx.prefix();
    let out = ctx.install_root(&inst, release_key(), &["--no-modify-path"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(fs::read_link(prefix.join("go/src")).unwrap(), Path::new("share/src"));
    let hello = ctx.path("hello");
    hello_module(&hello);
    ok(offline_go(&ctx, &prefix.join("go/bin/go"), None).args(["build", "-o", "hello", "."]).current_dir(&hello));
    assert_eq!(stdout(&ok(&mut Command::new(hello.join("hello")))), "hello, offline\n");
}

#[test]
fn links_leaving_the_tree_are_refused() {
    // Debian's golang-1.19 links src, api, misc and test to ../../share/go-1.19: outside the tree.
    let dir = tempfile::tempdir().unwrap();
    let out = build(&debian_goroot(), &release_key().private, &dir.path().join("x"), &[]);
    assert_eq!(code(&out), builder::exit::BAD_INPUT);
    let err = stderr(&out);
    assert!(err.contains("leaves the tree") && err.contains("../../share/go-1.19/"), "{err}");
    assert!(!dir.path().join("x").exists());
}

#[test]
fn verify_subcommand_reports_like_the_installer() {
    let inst = installer("amd64");
    let out = ok(builder().arg("verify").arg(&inst).arg("--trusted-key").arg(&release_key().public));
    assert!(stdout(&out).contains(&format!("signed by {}", release_key().id)));
    let out = run(builder().arg("verify").arg(&inst).arg("--trusted-key").arg(&other_key().public));
    assert_eq!(code(&out), exit::UNTRUSTED);
    assert!(stderr(&out).contains(&release_key().id));
    let out = run(builder().arg("verify").arg(&inst));
    assert_eq!(code(&out), exit::UNTRUSTED, "no trusted key is a refusal, not a pass");
}

/// What a refused or allowed write must leave: the sha256 of each file.
fn hashes(files: &[&Path]) -> Vec<(PathBuf, String)> {
    files.iter().map(|f| (f.to_path_buf(), sha256_file(f))).collect()
}

/// Issue 30: no builder command writes over one of its inputs (the same file by device and
/// inode: through a symlink or a hard link too; or into an input directory), even with
/// --force; an existing unrelated output is replaced only with --force. Every input is
/// byte-identical after a refusal.
#[test]
fn outputs_never_replace_inputs_and_existing_files_need_force() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let key = keygen(d, "org");
    // Copies: a failure of this test must not destroy the shared fixtures.
    let go = d.join("go1.27.3.linux-amd64.tar.gz");
    fs::copy(go_release("amd64"), &go).unwrap();
    let stub_copy = d.join("stub");
    fs::copy(stub(AMD64), &stub_copy).unwrap();
    std::os::unix::fs::symlink(&go, d.join("go-symlink")).unwrap();
    fs::hard_link(&go, d.join("go-hardlink")).unwrap();
    let existing = d.join("existing");
    fs::write(&existing, "someone's file\n").unwrap();
    fs::create_dir(d.join("a-directory")).unwrap();
    // A project and a module cache for `modules`, and an unsigned-looking file for `attach`.
    let project = d.join("project");
    fs::create_dir(&project).unwrap();
    fs::write(project.join("go.mod"), "module example.com/p\n\ngo 1.27\n").unwrap();
    fs::write(project.join("go.sum"), "").unwrap();
    let cache = d.join("modcache");
    fs::create_dir_all(cache.join("example.com/m/@v")).unwrap();
    fs::write(cache.join("example.com/m/@v/list"), "v1.0.0\n").unwrap();
    let signature = d.join("sig");
    fs::write(&signature, [7u8; 64]).unwrap();
    let go_mod = project.join("go.mod");
    let inputs: Vec<&Path> = vec![&key.private, &key.public, &go, &stub_copy, &existing, &go_mod, &signature];
    let p = |p: &Path| p.to_str().unwrap().to_string();
    let build = |output: &Path, extra: &[&str]| -> Vec<String> {
        let mut a = vec!["build".into(), "--go".into(), p(&go), "--key".into(), p(&key.private)];
        a.extend(["--level".into(), TEST_LEVEL.into(), "--stub".into(), p(&stub_copy), "--output".into(), p(output)]);
        a.extend(extra.iter().map(|s| s.to_string()));
        a
    };
    let modules = |output: &Path, extra: &[&str]| -> Vec<String> {
        let mut a = vec!["modules".into(), "--project".into(), p(&project), "--cache".into(), p(&cache)];
        a.extend(["--key".into(), p(&key.private), "--stub".into(), p(&stub_copy), "--output".into(), p(output)]);
        a.extend(extra.iter().map(|s| s.to_string()));
        a
    };
    let is_input = "an input of this command; an output never replaces an input, even with --force";
    // (case, arguments, exit code, what stderr says)
    let refused: Vec<(&str, Vec<String>, i32, String)> = vec![
        (
            "build --output KEY",
            build(&key.private, &[]),
            4,
            format!("refusing to write '{}': it is '{}', {is_input}", p(&key.private), p(&key.private)),
        ),
        ("build --output KEY --force", build(&key.private, &["--force"]), 4, is_input.into()),
        ("build --output the --go tarball", build(&go, &["--force"]), 4, format!("it is '{}', {is_input}", p(&go))),
        (
            "build --output a symlink to the tarball",
            build(&d.join("go-symlink"), &["--force"]),
            4,
            format!("it is '{}'", p(&go)),
        ),
        (
            "build --output a hard link of the tarball",
            build(&d.join("go-hardlink"), &["--force"]),
            4,
            format!("it is '{}'", p(&go)),
        ),
        ("build --output the --stub", build(&stub_copy, &["--force"]), 4, format!("it is '{}'", p(&stub_copy))),
        (
            "build --output the public key",
            build(&key.public, &["--expect-key", &p(&key.public), "--force"]),
            4,
            format!("it is '{}'", p(&key.public)),
        ),
        (
            "build over an existing file",
            build(&existing, &[]),
            4,
            format!("refusing to overwrite the existing file '{}': pass --force to replace it", p(&existing)),
        ),
        ("build onto a directory", build(&d.join("a-directory"), &["--force"]), 4, "it is a directory".into()),
        (
            "keygen over an existing key",
            vec!["keygen".into(), "--out".into(), p(&d.join("org"))],
            4,
            format!("refusing to overwrite the existing key '{}'", p(&key.private)),
        ),
        (
            "modules --output a project's go.sum",
            modules(&project.join("go.sum"), &["--force"]),
            4,
            format!("it is '{}'", p(&project.join("go.sum"))),
        ),
        (
            "modules --output into the module cache",
            modules(&cache.join("example.com/bundle"), &[]),
            4,
            format!("it is inside '{}'", p(&cache)),
        ),
        (
            "attach an installer that is the --expect-key",
            vec![
                "attach".into(),
                p(&key.public),
                "--signature".into(),
                p(&signature),
                "--expect-key".into(),
                p(&key.public),
            ],
            4,
            format!("it is '{}'", p(&key.public)),
        ),
        (
            "attach an installer that is the --signature",
            vec![
                "attach".into(),
                p(&signature),
                "--signature".into(),
                p(&signature),
                "--expect-key".into(),
                p(&key.public),
            ],
            4,
            format!("it is '{}'", p(&signature)),
        ),
    ];
    let before = hashes(&inputs);
    for (name, args, want, message) in &refused {
        let out = run(builder().args(args));
        assert_eq!(code(&out), *want, "{name}: {}", stderr(&out));
        assert!(stderr(&out).contains(message.as_str()), "{name}: {}", stderr(&out));
        assert_eq!(hashes(&inputs), before, "{name} changed an input");
        assert_eq!(fs::read_to_string(&existing).unwrap(), "someone's file\n", "{name}");
        assert!(fs::read_dir(d.join("a-directory")).unwrap().next().is_none(), "{name}");
        assert!(!cache.join("example.com/bundle").exists(), "{name}");
        let strays: Vec<_> = fs::read_dir(d)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.starts_with(".go-offline"))
            .collect();
        assert!(strays.is_empty(), "{name} left {strays:?}");
    }
    // With --force, an existing file that is no input is replaced by the installer.
    let out = run(builder().args(build(&existing, &["--force"])));
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(fs::read(&existing).unwrap().starts_with(&fs::read(&stub_copy).unwrap()), "the installer replaced it");
    ok(builder().arg("verify").arg(&existing).arg("--trusted-key").arg(&key.public));
    // keygen --force replaces the key pair.
    let old = fs::read(&key.private).unwrap();
    let out = run(builder().args(["keygen", "--force", "--out"]).arg(d.join("org")));
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_ne!(fs::read(&key.private).unwrap(), old);
    assert_eq!(fs::metadata(&key.private).unwrap().permissions().mode() & 0o777, 0o600);
}

/// `--stub FILE` at the stub's block of identity, replaced by `block`.
fn with_identity_block(stub: &[u8], block: &[u8]) -> Vec<u8> {
    let ours = format::stub_identity::encode(AMD64);
    let at = stub.windows(ours.len()).position(|w| w == ours).expect("the amd64 stub carries its identity");
    [&stub[..at], block, &stub[at + ours.len()..]].concat()
}

/// Issue 30: only a go-offline-installer stub for the target is built into an installer; any
/// other executable (`/bin/ls`) or the stub of another target is refused, and nothing is written.
/// `inspect` and `verify` say when a signed file's stub is not one of ours.
#[test]
fn only_go_offline_installer_stubs_for_the_target_are_built_with() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let key = &release_key().private;
    let real = fs::read(stub(AMD64)).unwrap();
    let other_target = d.join("other-target");
    fs::write(&other_target, with_identity_block(&real, &format::stub_identity::encode("x86_64-unknown-linux-gnu")))
        .unwrap();
    let two = d.join("two-identities");
    fs::write(&two, [&real[..], &format::stub_identity::encode(AMD64)[..]].concat()).unwrap();
    let arm64 = stub(ARM64);
    let out_file = d.join("x");
    // (case, --stub, exit code, what stderr says)
    let mut cases: Vec<(&str, PathBuf, i32, String)> = vec![
        (
            "/bin/ls",
            "/bin/ls".into(),
            builder::exit::BAD_INPUT,
            "/bin/ls is not a go-offline-installer stub (no stub identity found): use a stub built by `cargo xtask stubs` or the one embedded for --target".into(),
        ),
        (
            "the amd64 stub whose identity names another target",
            other_target.clone(),
            builder::exit::BAD_INPUT,
            format!(
                "{} is the go-offline-installer stub for x86_64-unknown-linux-gnu, not for the target {AMD64}",
                other_target.display()
            ),
        ),
        ("two identities", two.clone(), builder::exit::BAD_INPUT, "2 stub identities found".into()),
    ];
    if arm64.exists() {
        cases.push(("the aarch64 stub", arm64, builder::exit::BAD_INPUT, "is a linux/arm64 binary".into()));
    } else {
        eprintln!("skipped the row of another target's stub: {} is absent", arm64.display());
    }
    // Last: the only row that writes the output.
    cases.push(("the real stub", stub(AMD64), 0, String::new()));
    let go = go_release("amd64");
    for (name, stub_file, want, message) in &cases {
        let out = build(&go, key, &out_file, &["--stub", stub_file.to_str().unwrap()]);
        assert_eq!(code(&out), *want, "{name}: {}", stderr(&out));
        assert!(stderr(&out).contains(message.as_str()), "{name}: {}", stderr(&out));
        assert_eq!(out_file.exists(), *want == 0, "{name}: an output only when built");
    }
    let inspect = |file: &Path| -> serde_json::Value {
        serde_json::from_slice(&ok(builder().arg("inspect").arg(file).arg("--json")).stdout).unwrap()
    };
    let info = inspect(&out_file);
    assert_eq!(info["stub_identity"]["target"], AMD64);
    assert_eq!(info["stub_identity"]["program"], "go-offline-installer");
    assert!(info["stub_warning"].is_null());

    // A file signed by a trusted key around another program: it verifies (the signature is
    // good), and both commands say that it is not an installer.
    let ls_installer = d.join("ls-installer");
    fs::write(&ls_installer, crate::craft::Tree::go().installer_on(&fs::read("/bin/ls").unwrap(), |_| {})).unwrap();
    let info = inspect(&ls_installer);
    assert!(info["stub_identity"].is_null());
    assert!(info["stub_warning"]
        .as_str()
        .unwrap()
        .contains("not a go-offline-installer stub (no stub identity found)"));
    let human = stdout(&ok(builder().arg("inspect").arg(&ls_installer)));
    assert!(human.contains("warning:     the stub of this file is not a go-offline-installer stub"), "{human}");
    let verified = ok(builder().arg("verify").arg(&ls_installer).arg("--trusted-key").arg(&release_key().public));
    assert!(
        stderr(&verified).contains("warning: the stub of this file is not a go-offline-installer stub"),
        "{}",
        stderr(&verified)
    );
    let verified = ok(builder().arg("verify").arg(&out_file).arg("--trusted-key").arg(&release_key().public));
    assert!(!stderr(&verified).contains("warning"), "{}", stderr(&verified));
}

/// Every command that takes `--json` prints exactly one JSON object when it fails too, in the
/// installer's shape (`ok` false, the exit code, a snake_case kind, the message of the `error:`
/// line), and still the `error:` line and the documented exit code.
#[test]
fn json_failures_are_one_object_in_the_installers_shape() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let notes = d.join("notes.txt");
    fs::write(&notes, "not an installer, not a Go release\n").unwrap();
    let key = release_key();
    let go = go_release("amd64");
    let (inst, existing) = (installer("amd64"), d.join("existing"));
    fs::write(&existing, "someone's").unwrap();
    let p = |p: &Path| p.to_str().unwrap().to_string();
    let build = |go: &Path, out: &Path| {
        vec!["build".into(), "--go".into(), p(go), "--key".into(), p(&key.private), "-o".into(), p(out)]
    };
    // (what, arguments before --json, exit code, kind)
    let cases: Vec<(&str, Vec<String>, i32, &str)> = vec![
        ("inspect, no such file", vec!["inspect".into(), p(&d.join("missing"))], builder::exit::READ_FAILED, "io"),
        ("inspect, not an installer", vec!["inspect".into(), p(&notes)], exit::MALFORMED, "malformed"),
        (
            "verify, signed by a key not trusted",
            vec!["verify".into(), p(&inst), "--trusted-key".into(), p(&other_key().public)],
            exit::UNTRUSTED,
            "untrusted",
        ),
        ("build, a text file as --go", build(&notes, &d.join("x")), builder::exit::BAD_INPUT, "bad-source"),
        ("build, a directory as -o", build(&go, d), builder::exit::BAD_INPUT, "output-is-directory"),
        ("build, an existing -o", build(&go, &existing), builder::exit::BAD_INPUT, "output-exists"),
        (
            "keygen, an existing key",
            vec!["keygen".into(), "--out".into(), p(&key.private.with_extension(""))],
            builder::exit::BAD_INPUT,
            "key-exists",
        ),
        (
            "attach, no such installer",
            vec![
                "attach".into(),
                p(&d.join("missing")),
                "--signature".into(),
                p(&notes),
                "--expect-key".into(),
                p(&key.public),
            ],
            builder::exit::BAD_INPUT,
            "io",
        ),
        ("release, no such config", vec!["release".into(), p(&d.join("missing.toml"))], builder::exit::BAD_INPUT, "io"),
        (
            "fetch, --sha256 for two versions",
            vec!["fetch".into(), "--version".into(), "1.27.3,1.26.6".into(), "--sha256".into(), "ab".repeat(32)],
            exit::USAGE,
            "usage",
        ),
        ("inspect, no FILE (a usage error)", vec!["inspect".into()], exit::USAGE, "usage"),
        ("an unknown subcommand", vec!["frobnicate".into()], exit::USAGE, "usage"),
    ];
    for (what, args, want_code, want_kind) in &cases {
        let out = run(builder().args(args).arg("--json").env("GO_OFFLINE_STUBS_DIR", workspace().join("target/stubs")));
        assert_eq!(code(&out), *want_code, "{what}: {}", stderr(&out));
        let text = stdout(&out);
        assert_eq!(text.lines().count(), 1, "{what}: one line of JSON: {text:?}");
        let v: serde_json::Value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{what}: {e}: {text:?}"));
        assert_eq!(v["schema"], 1, "{what}: {v}");
        assert_eq!(v["ok"], false, "{what}: {v}");
        let action = args[0].as_str();
        let action = if action == "frobnicate" { serde_json::Value::Null } else { action.into() };
        assert_eq!(v["action"], action, "{what}: {v}");
        assert_eq!(v["error"]["code"], *want_code, "{what}: {v}");
        assert_eq!(v["error"]["kind"], *want_kind, "{what}: {v}");
        // The message of the `error:` line (its first paragraph, for clap's usage errors).
        let err = stderr(&out);
        let paragraph: Vec<&str> = err.lines().take_while(|l| !l.trim().is_empty()).map(str::trim).collect();
        assert_eq!(paragraph.join(" "), format!("error: {}", v["error"]["message"].as_str().unwrap()), "{what}");
    }
}

/// A file that is not a Go release, and a directory as the output, are refused with a sentence
/// that names the file and the fix.
#[test]
fn a_text_file_as_go_and_a_directory_as_output_are_explained() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let notes = d.join("notes.txt");
    fs::write(&notes, "my notes\n").unwrap();
    let key = &release_key().private;
    let cases: &[(&str, &Path, &Path, &[&str])] = &[
        (
            "a text file as --go",
            &notes,
            &d.join("x"),
            &["'NOTES' is not a Go release", "expected an official go*.tar.gz (or go*.zip for Windows)"],
        ),
        ("a directory as -o", &go_release("amd64"), d, &["refusing to write 'DIR': it is a directory: name a file"]),
    ];
    for (what, go, out_path, said) in cases {
        let out = build(go, key, out_path, &[]);
        assert_eq!(code(&out), builder::exit::BAD_INPUT, "{what}");
        let err = stderr(&out);
        assert!(!err.contains("unexpected end of file") && !err.contains("Is a directory"), "{what}: {err}");
        for s in *said {
            let s = s.replace("NOTES", notes.to_str().unwrap()).replace("DIR", d.to_str().unwrap());
            assert!(err.contains(&s), "{what}: {err:?} lacks {s:?}");
        }
    }
    assert_eq!(fs::read_dir(d).unwrap().count(), 1, "nothing written");
}

/// With no stub where the builder looks, the error names every way to give one (the real
/// options and variable) and no path of the machine the builder was built on.
#[test]
fn a_missing_stub_names_the_ways_to_give_one() {
    let dir = tempfile::tempdir().unwrap();
    let empty = dir.path().join("stubs");
    fs::create_dir(&empty).unwrap();
    let out = run(builder()
        .arg("build")
        .arg("--go")
        .arg(go_release("amd64"))
        .arg("--key")
        .arg(&release_key().private)
        .arg("-o")
        .arg(dir.path().join("x"))
        .env("GO_OFFLINE_STUBS_DIR", &empty));
    assert_eq!(code(&out), builder::exit::BAD_INPUT);
    let err = stderr(&out);
    for said in ["no stub for target x86_64-unknown-linux-musl", "$GO_OFFLINE_STUBS_DIR", "--stub FILE", "--target"] {
        assert!(err.contains(said), "{err:?} lacks {said:?}");
    }
    for path in [empty.to_str().unwrap(), workspace().to_str().unwrap()] {
        assert!(!err.contains(path), "{err:?} names the machine path {path}");
    }
}

/// `verify --json` and `keygen --json`: one object, with the facts of the text output, named as
/// the other commands' objects name them.
#[test]
fn verify_and_keygen_report_as_json() {
    let dir = tempfile::tempdir().unwrap();
    let out = ok(builder().arg("keygen").arg("--out").arg(dir.path().join("k")).arg("--json"));
    let made: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(stdout(&out).lines().count(), 1);
    assert_eq!(made["key_id"].as_str().unwrap().len(), 16, "{made}");
    assert_eq!(made["private_key"], dir.path().join("k.key").to_str().unwrap());
    assert_eq!(made["public_key"], dir.path().join("k.pub").to_str().unwrap());
    assert!(dir.path().join("k.key").exists() && dir.path().join("k.pub").exists());

    let inst = installer("amd64");
    let out = ok(builder().arg("verify").arg(&inst).arg("--trusted-key").arg(&release_key().public).arg("--json"));
    assert_eq!(stdout(&out).lines().count(), 1);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["verified"], true);
    assert_eq!(v["file"], inst.to_str().unwrap());
    assert_eq!(v["signer_key_id"], release_key().id.as_str());
    assert!(v["signer_origin"].as_str().unwrap().contains(release_key().public.to_str().unwrap()), "{v}");
    assert_eq!(v["installer_sha256"], sha256_file(&inst));
    assert_eq!(v["go_version"], GO_VERSION);
    assert_eq!(v["target"], AMD64);
    assert_eq!(v["stub_warning"], serde_json::Value::Null);
    // The facts both report, named and valued alike.
    let inspect: serde_json::Value =
        serde_json::from_slice(&ok(builder().arg("inspect").arg(&inst).arg("--json")).stdout).unwrap();
    for field in
        ["go_version", "goos", "goarch", "goarm", "target", "signer_key_id", "format_version", "file_count", "delta"]
    {
        assert_eq!(v[field], inspect[field], "{field}");
    }
    assert_eq!(inspect["verified"], false);
}
