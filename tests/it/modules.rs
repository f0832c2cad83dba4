//! Module bundles end to end. The test writes its own module proxy directory (a module that
//! depends on another, two versions of that one), the real go command (Go 1.27.3, installed by
//! our installer) fills a module cache and go.sum files from it as a connected build machine
//! would, the builder bundles them, the installer puts the bundle into the prefix, and `go build`
//! with no network (`unshare -n`), checksum verification on, builds the projects.

use std::{
    fs,
    io::Write,
    os::unix::fs::PermissionsExt,
    path::{Path, PathBuf},
    process::{Command, Output},
};

use format::exit;
use serde_json::Value;

use crate::support::*;

/// `(module, version, files)`: files relative to the module root.
type ModuleSource = (&'static str, &'static str, Vec<(&'static str, String)>);

fn modules() -> Vec<ModuleSource> {
    let greet = |v: &str| {
        vec![
            ("go.mod", "module example.com/greet\n\ngo 1.21\n".to_string()),
            ("greet.go", format!("package greet\n\nfunc Hello() string {{ return \"hello from greet {v}\" }}\n")),
        ]
    };
    vec![
        ("example.com/greet", "v1.0.0", greet("v1.0.0")),
        ("example.com/greet", "v1.1.0", greet("v1.1.0")),
        (
            "example.com/hello",
            "v1.0.0",
            vec![
                ("go.mod", "module example.com/hello\n\ngo 1.21\n\nrequire example.com/greet v1.1.0\n".into()),
                (
                    "hello.go",
                    "package hello\n\nimport \"example.com/greet\"\n\nfunc Message() string { return greet.Hello() + \", via hello\" }\n"
                        .into(),
                ),
            ],
        ),
    ]
}

/// Writes the module proxy directory (`GOPROXY=file://DIR` layout).
pub fn write_proxy(dir: &Path) {
    let mut lists: std::collections::BTreeMap<&str, String> = Default::default();
    for (module, version, files) in modules() {
        let at = dir.join(module).join("@v");
        fs::create_dir_all(&at).unwrap();
        let go_mod = &files.iter().find(|(n, _)| *n == "go.mod").unwrap().1;
        fs::write(at.join(format!("{version}.mod")), go_mod).unwrap();
        fs::write(
            at.join(format!("{version}.info")),
            format!("{{\"Version\":\"{version}\",\"Time\":\"2026-01-02T03:04:05Z\"}}\n"),
        )
        .unwrap();
        let mut zip = zip::ZipWriter::new(fs::File::create(at.join(format!("{version}.zip"))).unwrap());
        for (name, text) in &files {
            zip.start_file(format!("{module}@{version}/{name}"), zip::write::SimpleFileOptions::default()).unwrap();
            zip.write_all(text.as_bytes()).unwrap();
        }
        zip.finish().unwrap();
        lists.entry(module).or_default().push_str(&format!("{version}\n"));
    }
    for (module, list) in lists {
        fs::write(dir.join(module).join("@v/list"), list).unwrap();
    }
}

/// A program importing `imports` (each `PATH VERSION`), printing what `body` returns.
fn project(dir: &Path, imports: &[(&str, &str)], body: &str) {
    fs::create_dir_all(dir).unwrap();
    let mut go_mod = "module example.com/app\n\ngo 1.21\n\nrequire (\n".to_string();
    for (path, version) in imports {
        go_mod.push_str(&format!("\t{path} {version}\n"));
    }
    go_mod.push_str(")\n");
    fs::write(dir.join("go.mod"), go_mod).unwrap();
    let imports: String = imports.iter().map(|(p, _)| format!("\t\"{p}\"\n")).collect();
    fs::write(
        dir.join("main.go"),
        format!("package main\n\nimport (\n\t\"fmt\"\n{imports})\n\nfunc main() {{ fmt.Println({body}) }}\n"),
    )
    .unwrap();
}

/// The prepared machine: Go installed in the prefix, the proxy, a module cache filled by `go mod
/// download` from it, and two projects whose go.sum the go command wrote.
pub struct Setup {
    pub ctx: TestContext,
    /// The module cache (`GOMODCACHE`) of the "connected" machine.
    pub cache: PathBuf,
    /// Imports example.com/hello (and so greet v1.1.0).
    pub app: PathBuf,
    /// Imports example.com/greet v1.0.0 directly.
    pub app2: PathBuf,
}

pub fn setup() -> Setup {
    let ctx = TestContext::new();
    let out = ctx.install_root(&installer("amd64"), release_key(), &["--no-modify-path"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    write_proxy(&ctx.path("proxy"));
    let cache = ctx.path("modcache");
    let app = ctx.path("app");
    let app2 = ctx.path("app2");
    project(&app, &[("example.com/hello", "v1.0.0")], "hello.Message()");
    project(&app2, &[("example.com/greet", "v1.0.0")], "greet.Hello()");
    // The connected machine: the proxy stands in for the network. This test's modules are in no
    // public checksum database, so GONOSUMDB names them here (and only here): go.sum gets the
    // hashes of what was downloaded.
    let proxy = format!("file://{}", ctx.path("proxy").display());
    for dir in [&app, &app2] {
        ok(go(&ctx, dir)
            .args(["mod", "tidy"])
            .env("GOPROXY", &proxy)
            .env("GONOSUMDB", "example.com")
            .env("GOMODCACHE", &cache));
        assert!(fs::read_to_string(dir.join("go.sum")).unwrap().contains("h1:"));
    }
    Setup { ctx, cache, app, app2 }
}

/// The installed go, with no network, in `dir`, with a scratch cache (read-write, so the test's
/// directories can be removed) and nothing of the host's Go settings.
fn go(ctx: &TestContext, dir: &Path) -> Command {
    let mut cmd = offline_go(ctx, &ctx.goroot().join("bin/go"), None);
    cmd.current_dir(dir).env("GOFLAGS", "-modcacherw").env("GOTOOLCHAIN", "local");
    cmd
}

/// `go build` and run the program of `dir` on the target machine: no network, an empty module
/// cache, and GOPROXY from the profile script the installer wrote (sourced by sh, as a login
/// shell would). GOSUMDB and GONOSUMDB are unset: checksum verification is on.
fn build_offline(s: &Setup, dir: &Path, cache: &str) -> Output {
    let script = s.ctx.etc().join("profile.d/go-modules.sh");
    let go = s.ctx.goroot().join("bin/go");
    run(Command::new("unshare")
        .args(["--net", "sh", "-ec"])
        .arg(format!(
            "if [ -f '{0}' ]; then . '{0}'; fi; '{1}' build -o prog . && ./prog",
            script.display(),
            go.display()
        ))
        .current_dir(dir)
        .env_clear()
        .env("PATH", "/usr/bin:/bin")
        .env("HOME", s.ctx.path("gohome"))
        .env("GOCACHE", s.ctx.path("gocache"))
        .env("GOPATH", s.ctx.path("gopath"))
        .env("GOMODCACHE", s.ctx.path(cache))
        .env("GOFLAGS", "-modcacherw")
        .env("GOTELEMETRY", "off"))
}

/// `go-offline-builder modules` at the test level.
fn bundle(projects: &[&Path], cache: &Path, out: &Path) -> Output {
    bundle_on(&stub(AMD64), projects, cache, out)
}

/// [`bundle`] on the stub `stub` (the crash-test stub, say).
pub fn bundle_on(stub: &Path, projects: &[&Path], cache: &Path, out: &Path) -> Output {
    let mut cmd = builder();
    cmd.args(["modules", "--level", TEST_LEVEL, "--key"]).arg(&release_key().private).arg("--cache").arg(cache);
    cmd.arg("--stub").arg(stub).arg("-o").arg(out).arg("--json");
    for p in projects {
        cmd.arg("--project").arg(p);
    }
    run(&mut cmd)
}

fn install(s: &Setup, bundle: &Path, extra: &[&str]) -> Output {
    let mut args = vec!["--yes"];
    args.extend_from_slice(extra);
    let prefix = s.ctx.prefix();
    args.extend(["--prefix", prefix.to_str().unwrap(), "--trusted-key", release_key().public.to_str().unwrap()]);
    s.ctx.run_root(bundle, &args, None, &[])
}

fn json(out: &Output) -> Value {
    serde_json::from_str(stdout(out).trim()).unwrap_or_else(|e| panic!("not one JSON document ({e}): {}", stdout(out)))
}

#[test]
fn bundle_builds_offline_with_sums_verified_and_updates_add_to_it() {
    let s = setup();
    let first = s.ctx.path("bin/modules-1");
    let out = bundle(&[&s.app], &s.cache, &first);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let summary = json(&out);
    // hello v1.0.0 and greet v1.1.0 with their zips; greet v1.0.0 is not needed by app.
    assert_eq!((summary["modules"].as_u64(), summary["zips"].as_u64()), (Some(2), Some(2)), "{summary}");

    // Before the bundle, the offline build fails: GOPROXY=off from go.env.
    let before = build_offline(&s, &s.app, "cache-0");
    assert_ne!(code(&before), 0);
    assert!(stderr(&before).contains("GOPROXY=off"), "{}", stderr(&before));

    let out = install(&s, &first, &["--json"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let r = json(&out);
    assert_eq!(r["action"], "install-modules");
    assert_eq!(r["changed"], true);
    assert_eq!(r["modules_added"], serde_json::json!(["example.com/greet@v1.1.0", "example.com/hello@v1.0.0"]));
    let dir = s.ctx.prefix().join("go-modules");
    let script = fs::read_to_string(s.ctx.etc().join("profile.d/go-modules.sh")).unwrap();
    assert!(script.contains(&format!("GOPROXY='file://{}'", dir.display())), "{script}");
    // Read-only, like Go's own module cache.
    for p in ["example.com/greet/@v/v1.1.0.zip", "example.com/greet/@v", ""] {
        let mode = fs::metadata(dir.join(p)).unwrap().permissions().mode() & 0o777;
        assert!(mode & 0o222 == 0, "{p} is writable: {mode:o}");
    }

    let built = build_offline(&s, &s.app, "cache-1");
    assert_eq!(code(&built), 0, "{}", stderr(&built));
    assert_eq!(stdout(&built).trim(), "hello from greet v1.1.0, via hello");

    // app2 needs greet v1.0.0, which this bundle lacks: go's own clear error, at once.
    let missing = build_offline(&s, &s.app2, "cache-2");
    assert_ne!(code(&missing), 0);
    assert!(stderr(&missing).contains("example.com/greet@v1.0.0"), "{}", stderr(&missing));

    // A second bundle adds to the first.
    let second = s.ctx.path("bin/modules-2");
    assert_eq!(code(&bundle(&[&s.app2], &s.cache, &second)), 0);
    let out = install(&s, &second, &["--json"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(json(&out)["modules_added"], serde_json::json!(["example.com/greet@v1.0.0"]));
    assert_eq!(json(&out)["modules_total"], 3);
    assert_eq!(fs::read_to_string(dir.join("example.com/greet/@v/list")).unwrap(), "v1.0.0\nv1.1.0\n");
    for (app, cache, want) in
        [(&s.app, "cache-3", "hello from greet v1.1.0, via hello"), (&s.app2, "cache-4", "hello from greet v1.0.0")]
    {
        let built = build_offline(&s, app, cache);
        assert_eq!(code(&built), 0, "{}", stderr(&built));
        assert_eq!(stdout(&built).trim(), want);
    }
    // The merged go.sum holds every line of both projects' go.sum files.
    let merged = fs::read_to_string(dir.join("go.sum")).unwrap();
    for app in [&s.app, &s.app2] {
        for line in fs::read_to_string(app.join("go.sum")).unwrap().lines() {
            assert!(merged.contains(line), "{line} missing from the bundle's go.sum");
        }
    }

    // Installing the first again changes nothing.
    let snapshot = s.ctx.snapshot();
    let again = install(&s, &first, &["--json"]);
    assert_eq!(code(&again), 0, "{}", stderr(&again));
    assert_eq!(json(&again)["changed"], false);
    assert_eq!(s.ctx.snapshot(), snapshot);

    // verify-installed covers the bundle: clean, then one changed byte found.
    let prefix = s.ctx.prefix();
    let verify = |args: &[&str]| {
        let mut all = vec!["verify-installed"];
        all.extend_from_slice(args);
        all.extend(["--prefix", prefix.to_str().unwrap()]);
        s.ctx.run_root(&first, &all, None, &[])
    };
    let all = verify(&[]);
    assert_eq!(code(&all), 0);
    assert!(
        stdout(&all).contains("go-modules: 17 entries, ok") && stdout(&all).contains("go1.27.3:"),
        "{}",
        stdout(&all)
    );
    assert_eq!(code(&verify(&["modules"])), 0);
    let zip = dir.join("example.com/greet/@v/v1.0.0.zip");
    let mut bytes = fs::read(&zip).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 1;
    fs::write(&zip, bytes).unwrap();
    let drift = verify(&["modules"]);
    assert_eq!(code(&drift), exit::DRIFT);
    assert!(stdout(&drift).contains("go-modules/example.com/greet/@v/v1.0.0.zip"), "{}", stdout(&drift));
}

#[test]
fn tampered_modules_are_refused() {
    let s = setup();
    let good = s.ctx.path("bin/modules");
    assert_eq!(code(&bundle(&[&s.app], &s.cache, &good)), 0);

    // A byte changed anywhere in the signed bundle: refused before anything is written.
    let snapshot = s.ctx.snapshot();
    let tampered = s.ctx.copy_installer(&good, "modules-tampered");
    let mut bytes = fs::read(&tampered).unwrap();
    let stub_len = fs::metadata(stub(AMD64)).unwrap().len() as usize;
    bytes[stub_len + 100] ^= 0x40; // inside the payload
    fs::write(&tampered, bytes).unwrap();
    let snapshot_with_copy = s.ctx.snapshot();
    let out = install(&s, &tampered, &[]);
    assert_eq!(code(&out), exit::INTEGRITY, "{}", stderr(&out));
    assert_eq!(s.ctx.snapshot(), snapshot_with_copy);
    fs::remove_file(&tampered).unwrap();
    assert_eq!(s.ctx.snapshot(), snapshot);

    // A zip altered in the cache no longer matches go.sum: the builder refuses to bundle it.
    let zip = s.cache.join("cache/download/example.com/greet/@v/v1.1.0.zip");
    let original = fs::read(&zip).unwrap();
    let evil = rezip_with(&original, "greet.go", "package greet\n\nfunc Hello() string { return \"evil\" }\n");
    fs::set_permissions(&zip, fs::Permissions::from_mode(0o644)).unwrap();
    fs::write(&zip, &evil).unwrap();
    let out = bundle(&[&s.app], &s.cache, &s.ctx.path("bin/never"));
    assert_eq!(code(&out), builder::exit::BAD_INPUT, "a cache that disagrees with go.sum is a refused input");
    assert!(stderr(&out).contains("example.com/greet@v1.1.0") && stderr(&out).contains("go.sum"), "{}", stderr(&out));
    assert!(!s.ctx.path("bin/never").exists());

    // Bundled from the cache alone (no go.sum to compare with), the altered zip is signed and
    // installed, but go still checks it against the project's go.sum: a checksum mismatch, not
    // a build of the altered code.
    let from_cache = s.ctx.path("bin/modules-cache");
    let out = bundle(&[], &s.cache, &from_cache);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(code(&install(&s, &from_cache, &[])), 0);
    let built = build_offline(&s, &s.app, "cache-evil");
    assert_ne!(code(&built), 0);
    assert!(stderr(&built).contains("checksum mismatch"), "{}", stderr(&built));
    assert!(!stdout(&built).contains("evil"));

    // And the good bundle cannot be mixed in: its greet v1.1.0 differs from the installed one.
    let before = s.ctx.snapshot();
    let out = install(&s, &good, &["--json"]);
    assert_eq!(code(&out), exit::MODULE_CONFLICT, "{}", stderr(&out));
    assert_eq!(json(&out)["error"]["kind"], "module-conflict");
    assert_eq!(s.ctx.snapshot(), before);
}

/// The zip `original` with the file whose name ends in `name` replaced by `text`.
fn rezip_with(original: &[u8], name: &str, text: &str) -> Vec<u8> {
    let mut input = zip::ZipArchive::new(std::io::Cursor::new(original)).unwrap();
    let mut out = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    for i in 0..input.len() {
        let mut f = input.by_index(i).unwrap();
        let entry = f.name().to_string();
        let mut data = Vec::new();
        std::io::Read::read_to_end(&mut f, &mut data).unwrap();
        if entry.ends_with(name) {
            data = text.as_bytes().to_vec();
        }
        out.start_file(entry, zip::write::SimpleFileOptions::default()).unwrap();
        out.write_all(&data).unwrap();
    }
    out.finish().unwrap().into_inner()
}

#[test]
fn non_root_user_gets_the_bundle_in_home_and_a_sourced_env_script() {
    let ctx = TestContext::new();
    // The proxy directory the test writes is itself a valid cache: bundle all of it.
    write_proxy(&ctx.path("proxy"));
    let inst = ctx.path("bin/go-modules-installer");
    let out = bundle(&[], &ctx.path("proxy"), &inst);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(json(&out)["modules"], 3);
    let key_copy = ctx.path("bin/release.pub");
    fs::copy(&release_key().public, &key_copy).unwrap();
    ctx.chown_to_nobody();
    let args = ["--yes", "--trusted-key", key_copy.to_str().unwrap()];
    let out = ctx.run_user(&inst, &args, &[("SHELL", "/bin/sh")]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));

    // Default prefix for a user: $HOME/.local; the script is sourced from .profile.
    let dir = ctx.home().join(".local/go-modules");
    assert_eq!(fs::read_to_string(dir.join("example.com/greet/@v/list")).unwrap(), "v1.0.0\nv1.1.0\n");
    let script = ctx.home().join(".config/go-offline/modules.env");
    assert_eq!(fs::read_to_string(&script).unwrap(), installer::modules_script(&dir));
    let profile = fs::read_to_string(ctx.home().join(".profile")).unwrap();
    assert!(profile.contains(".config/go-offline/modules.env"), "{profile}");
    // A login shell gets GOPROXY, unless the user chose a proxy of their own.
    let shell = |extra: &[(&str, &str)]| {
        let out = ctx.run_user(Path::new("/bin/sh"), &["-c", ". \"$HOME/.profile\"; printf %s \"$GOPROXY\""], extra);
        stdout(&out)
    };
    assert_eq!(shell(&[]), format!("file://{}", dir.display()));
    assert_eq!(shell(&[("GOPROXY", "off")]), format!("file://{}", dir.display()));
    assert_eq!(shell(&[("GOPROXY", "https://proxy.internal")]), "https://proxy.internal");

    // Twice is once: nothing changes, the rc line is not repeated.
    let before = ctx.snapshot();
    let out = ctx.run_user(&inst, &args, &[("SHELL", "/bin/sh")]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(stdout(&out).contains("nothing to do"), "{}", stdout(&out));
    assert_eq!(ctx.snapshot(), before);
}
