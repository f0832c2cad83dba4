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
