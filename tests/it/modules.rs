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
    run(&mut offline_sh(s, dir, cache, "go build -o prog . && ./prog"))
}

/// `script` run by sh in `dir` on the target machine, as [`build_offline`] runs `go build`
/// (`go` is the installed one); `GOPATH` (where go keeps the checksum database's tree head it
/// has seen) is `gopath-CACHE`.
fn offline_sh(s: &Setup, dir: &Path, cache: &str, script: &str) -> Command {
    let env_script = s.ctx.etc().join("profile.d/go-modules.sh");
    let bin = s.ctx.goroot().join("bin");
    let mut cmd = Command::new("unshare");
    cmd.args(["--net", "sh", "-ec"])
        .arg(format!("if [ -f '{0}' ]; then . '{0}'; fi; {script}", env_script.display()))
        .current_dir(dir)
        .env_clear()
        .env("PATH", format!("{}:/usr/bin:/bin", bin.display()))
        .env("HOME", s.ctx.path("gohome"))
        .env("GOCACHE", s.ctx.path("gocache"))
        .env("GOPATH", s.ctx.path(&format!("gopath-{cache}")))
        .env("GOMODCACHE", s.ctx.path(cache))
        .env("GOFLAGS", "-modcacherw")
        .env("GOTELEMETRY", "off");
    cmd
}

/// `go-offline-builder modules` at the test level.
fn bundle(projects: &[&Path], cache: &Path, out: &Path) -> Output {
    bundle_on(&stub(AMD64), projects, cache, out)
}

/// [`bundle`] on the stub `stub` (the crash-test stub, say). The bundles of a test share one
/// checksum database log, `sumdb-log.json` beside their outputs, as an organisation's do.
pub fn bundle_on(stub: &Path, projects: &[&Path], cache: &Path, out: &Path) -> Output {
    let log = out.parent().unwrap().join("sumdb-log.json");
    bundle_with(stub, projects, cache, out, &["--sumdb-log", log.to_str().unwrap()])
}

/// [`bundle_on`] with `extra` arguments instead of the shared log.
fn bundle_with(stub: &Path, projects: &[&Path], cache: &Path, out: &Path, extra: &[&str]) -> Output {
    let mut cmd = builder();
    cmd.args(["modules", "--level", TEST_LEVEL, "--key"]).arg(&release_key().private).arg("--cache").arg(cache);
    cmd.arg("--stub").arg(stub).arg("-o").arg(out).arg("--json").args(extra);
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
        stdout(&all).contains("go-modules: 36 entries, ok") && stdout(&all).contains("go1.27.3:"),
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
    // (The organisation's checksum database log already holds greet v1.1.0 with its real hash:
    // the builder refuses to log other hashes for it, so this bundle carries no database.)
    let from_cache = s.ctx.path("bin/modules-cache");
    let out = bundle(&[], &s.cache, &from_cache);
    assert_eq!(code(&out), builder::exit::BAD_INPUT, "{}", stderr(&out));
    assert!(
        stderr(&out).contains("example.com/greet@v1.1.0") && stderr(&out).contains("never changes"),
        "{}",
        stderr(&out)
    );
    let out = bundle_with(&stub(AMD64), &[], &s.cache, &from_cache, &["--no-sumdb"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(code(&install(&s, &from_cache, &[])), 0);
    let built = build_offline(&s, &s.app, "cache-evil");
    assert_ne!(code(&built), 0);
    assert!(stderr(&built).contains("checksum mismatch"), "{}", stderr(&built));
    assert!(!stdout(&built).contains("evil"));

    // And the good bundle cannot be mixed in: its greet v1.1.0 differs from the installed one.
    // The dry run ends as the install does.
    let before = s.ctx.snapshot();
    for extra in [&["--json", "--dry-run"][..], &["--json"]] {
        let out = install(&s, &good, extra);
        assert_eq!(code(&out), exit::MODULE_CONFLICT, "{extra:?}: {}", stderr(&out));
        assert_eq!(json(&out)["error"]["kind"], "module-conflict");
        assert_eq!(s.ctx.snapshot(), before);
    }
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
    let out_bundle = bundle(&[], &ctx.path("proxy"), &inst);
    assert_eq!(code(&out_bundle), 0, "{}", stderr(&out_bundle));
    assert_eq!(json(&out_bundle)["modules"], 3);
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
    let sumdb = json(&out_bundle)["sumdb"]["key"].as_str().unwrap().to_string();
    assert_eq!(fs::read_to_string(&script).unwrap(), installer::modules_script(&dir, Some(&sumdb)));
    let profile = fs::read_to_string(ctx.home().join(".profile")).unwrap();
    assert!(profile.contains(".config/go-offline/modules.env"), "{profile}");
    // A login shell gets GOPROXY and GOSUMDB, unless the user chose a proxy of their own; a
    // GOSUMDB the user set is theirs.
    let shell = |extra: &[(&str, &str)]| {
        let script = ". \"$HOME/.profile\"; printf '%s %s' \"$GOPROXY\" \"${GOSUMDB-unset}\"";
        let out = ctx.run_user(Path::new("/bin/sh"), &["-c", script], extra);
        stdout(&out)
    };
    let ours = format!("file://{} {sumdb}", dir.display());
    assert_eq!(shell(&[]), ours);
    assert_eq!(shell(&[("GOPROXY", "off")]), ours);
    assert_eq!(shell(&[("GOPROXY", "https://proxy.internal")]), "https://proxy.internal unset");
    assert_eq!(shell(&[("GOSUMDB", "sum.example.org+0+x")]), format!("file://{} sum.example.org+0+x", dir.display()));

    // Twice is once: nothing changes, the rc line is not repeated.
    let before = ctx.snapshot();
    let out = ctx.run_user(&inst, &args, &[("SHELL", "/bin/sh")]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(stdout(&out).contains("nothing to do"), "{}", stdout(&out));
    assert_eq!(ctx.snapshot(), before);
}

/// The checksum database a bundle carries lets go take a module no go.sum lists yet, offline,
/// checked: `go get` in a new project verifies what it takes against the organisation's log
/// (the bundle's own proxy serves it), a second bundle extends the log, a bundle of a log kept
/// apart is refused, and go itself refuses a database whose tile was altered.
#[test]
fn go_checks_a_module_no_go_sum_lists_against_the_bundles_checksum_database() {
    let s = setup();
    let (first, second, apart) = (s.ctx.path("bin/modules-1"), s.ctx.path("bin/modules-2"), s.ctx.path("bin/apart"));
    let log = s.ctx.path("bin/sumdb-log.json");
    let out = bundle(&[&s.app], &s.cache, &first);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let db = json(&out)["sumdb"].clone();
    assert_eq!((db["tree_size"].as_u64(), db["added"].as_u64()), (Some(2), Some(2)), "{db}");
    let key = db["key"].as_str().unwrap().to_string();
    let name = format!("go-offline-{}", release_key().id);
    assert!(key.starts_with(&format!("{name}+")), "{key}");
    let state: Value = serde_json::from_slice(&fs::read(&log).unwrap()).unwrap();
    assert_eq!(state["records"].as_array().map(Vec::len), Some(2), "{state}");
    let out = install(&s, &first, &[]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let script = fs::read_to_string(s.ctx.etc().join("profile.d/go-modules.sh")).unwrap();
    assert!(script.contains(&format!("export GOSUMDB='{key}'")), "{script}");
    // go remembers the tree it checked against (GOPATH/pkg/sumdb): the tree of 2 here. The next
    // bundle's tree must prove consistent with it, which go checks itself (`go get` below).
    let empty = s.ctx.path("empty");
    fs::create_dir_all(&empty).unwrap();
    let got = run(&mut offline_sh(&s, &empty, "cache-get", "go mod download example.com/greet@v1.1.0"));
    assert_eq!(code(&got), 0, "{}", stderr(&got));
    let seen = fs::read_to_string(s.ctx.path(&format!("gopath-cache-get/pkg/sumdb/{name}/latest"))).unwrap();
    assert!(seen.starts_with("go.sum database tree\n2\n"), "{seen}");

    // A bundle built with a log of its own (no --sumdb-log): its log does not extend the
    // installed one, and it is refused with nothing changed.
    let out = bundle_with(&stub(AMD64), &[&s.app2], &s.cache, &apart, &[]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(stdout(&out).contains("\"tree_size\":1"), "{}", stdout(&out));
    let before = s.ctx.snapshot();
    let out = install(&s, &apart, &["--json"]);
    assert_eq!(code(&out), exit::MODULE_CONFLICT, "{}", stderr(&out));
    let message = json(&out)["error"]["message"].as_str().unwrap_or_default().to_string();
    assert!(message.contains("does not extend") && message.contains("--sumdb-log"), "{message}");
    assert_eq!(s.ctx.snapshot(), before);

    // The organisation's next bundle extends the log: installed, the tree grows to 3.
    let out = bundle(&[&s.app2], &s.cache, &second);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(json(&out)["sumdb"]["tree_size"], 3);
    let out = install(&s, &second, &[]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let prefix = s.ctx.prefix();
    let status = s.ctx.run_root(&first, &["status", "--prefix", prefix.to_str().unwrap()], None, &[]);
    assert!(
        stdout(&status).contains(&format!("checksum database {name} (3 records): GOSUMDB={key}")),
        "{}",
        stdout(&status)
    );
    let info = s.ctx.run_root(&second, &["--info", "--trusted-key", release_key().public.to_str().unwrap()], None, &[]);
    assert!(stdout(&info).contains(&format!("checksum db: {name} (3 records)")), "{}", stdout(&info));

    // A new project, no go.sum: `go get` takes greet v1.0.0 from the bundle, which go checks
    // against the database (GOSUMDB from the environment script) and writes into go.sum.
    let app3 = s.ctx.path("app3");
    project(&app3, &[], "greet.Hello()");
    fs::write(app3.join("go.mod"), "module example.com/app3\n\ngo 1.21\n").unwrap();
    fs::write(
        app3.join("main.go"),
        "package main\n\nimport (\n\t\"fmt\"\n\t\"example.com/greet\"\n)\n\nfunc main() { fmt.Println(greet.Hello()) }\n",
    )
    .unwrap();
    let got =
        run(&mut offline_sh(&s, &app3, "cache-get", "go get example.com/greet@v1.0.0 && go build -o prog . && ./prog"));
    assert_eq!(code(&got), 0, "{}", stderr(&got));
    assert_eq!(stdout(&got).trim(), "hello from greet v1.0.0");
    let sums = fs::read_to_string(app3.join("go.sum")).unwrap();
    assert!(
        sums.contains("example.com/greet v1.0.0 h1:") && sums.contains("example.com/greet v1.0.0/go.mod h1:"),
        "{sums}"
    );
    // go moved to the new tree, consistent with the one it had.
    let seen = fs::read_to_string(s.ctx.path(&format!("gopath-cache-get/pkg/sumdb/{name}/latest"))).unwrap();
    assert!(seen.starts_with("go.sum database tree\n3\n"), "{seen}");

    // Served to a whole network by a stock web server (Python's, on loopback, inside the same
    // network namespace as go: still no other network), the directory does the same.
    fs::remove_file(app3.join("go.sum")).unwrap();
    let serve = format!(
        "ip link set lo up; python3 -m http.server --bind 127.0.0.1 --directory '{}' 8123 >/dev/null 2>&1 & \
         server=$!; trap 'kill $server' EXIT; \
         for i in 1 2 3 4 5 6 7 8 9 10; do python3 -c 'import urllib.request as u; u.urlopen(\"http://127.0.0.1:8123/go.sum\")' 2>/dev/null && break; sleep 0.5; done; \
         GOPROXY=http://127.0.0.1:8123; export GOPROXY; go get example.com/greet@v1.0.0 && go build -o prog . && ./prog",
        prefix.join("go-modules").display()
    );
    let served = run(&mut offline_sh(&s, &app3, "cache-http", &serve));
    assert_eq!(code(&served), 0, "{}", stderr(&served));
    assert_eq!(stdout(&served).trim(), "hello from greet v1.0.0");
    assert!(fs::read_to_string(app3.join("go.sum")).unwrap().contains("example.com/greet v1.0.0 h1:"));

    // Without the database (the public one, unreachable offline) the same `go get` fails:
    // nothing switches checks off.
    fs::remove_file(app3.join("go.sum")).unwrap();
    let refused = run(&mut offline_sh(
        &s,
        &app3,
        "cache-public",
        "GOSUMDB=sum.golang.org; export GOSUMDB; go get example.com/greet@v1.0.0",
    ));
    assert_ne!(code(&refused), 0);
    assert!(stderr(&refused).contains("sum.golang.org"), "{}", stderr(&refused));

    // go checks every tile it reads: a copy of the directory with one byte of a tile changed
    // is refused by go itself.
    let altered = s.ctx.path("altered");
    ok(Command::new("cp").arg("-a").arg(prefix.join("go-modules")).arg(&altered));
    ok(Command::new("chmod").arg("-R").arg("u+w").arg(&altered));
    let tile = altered.join(format!("sumdb/{name}/tile/8/0/000.p/3"));
    let mut bytes = fs::read(&tile).unwrap();
    bytes[40] ^= 1;
    fs::write(&tile, bytes).unwrap();
    let script = format!("GOPROXY='file://{}'; export GOPROXY; go get example.com/greet@v1.0.0", altered.display());
    let refused = run(&mut offline_sh(&s, &app3, "cache-altered", &script));
    assert_ne!(code(&refused), 0);
    assert!(stderr(&refused).contains("verifying"), "{}", stderr(&refused));

    // Installed in the other order (the newer bundle first), the bundles merge to the same log:
    // the larger tree's head is kept, the older bundle's partial tiles stay beside it.
    let other = s.ctx.path("prefix-b");
    for b in [&second, &first] {
        let args = ["--yes", "--no-modify-path", "--prefix", other.to_str().unwrap()];
        let out = s.ctx.run_root(
            b,
            &[&args[..], &["--trusted-key", release_key().public.to_str().unwrap()]].concat(),
            None,
            &[],
        );
        assert_eq!(code(&out), 0, "{}", stderr(&out));
    }
    let db_dir = |p: &Path| p.join(format!("go-modules/sumdb/{name}"));
    assert_eq!(fs::read(db_dir(&other).join("latest")).unwrap(), fs::read(db_dir(&prefix).join("latest")).unwrap());
    assert!(db_dir(&other).join("tile/8/0/000.p/2").is_file() && db_dir(&other).join("tile/8/0/000.p/3").is_file());

    // verify-installed checks the database files like every other file.
    let verify =
        s.ctx.run_root(&first, &["verify-installed", "modules", "--prefix", prefix.to_str().unwrap()], None, &[]);
    assert_eq!(code(&verify), 0, "{}", stdout(&verify));
}

/// A bundle can carry official releases as toolchain modules, in Go's own form: go switches to
/// one offline when GOTOOLCHAIN asks for it, taking it from the bundle's proxy and checking it
/// against the bundle's checksum database (and only there).
#[test]
fn go_switches_offline_to_a_toolchain_the_bundle_carries() {
    let s = setup();
    let bundle_file = s.ctx.path("bin/toolchains");
    let log = s.ctx.path("bin/sumdb-log.json");
    let release = older_go_tarball();
    let extra = ["--sumdb-log", log.to_str().unwrap(), "--toolchain", release.to_str().unwrap()];
    let out = bundle_with(&stub(AMD64), &[&s.app], &s.cache, &bundle_file, &extra);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(json(&out)["modules"], 3, "{}", stdout(&out));
    let out = install(&s, &bundle_file, &[]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let version = format!("v0.0.1-{OLDER_GO_VERSION}.linux-amd64");
    let dir = s.ctx.prefix().join("go-modules/golang.org/toolchain/@v");
    assert_eq!(fs::read_to_string(dir.join("list")).unwrap(), format!("{version}\n"));
    assert_eq!(fs::read_to_string(dir.join(format!("{version}.mod"))).unwrap(), "module golang.org/toolchain\n");

    // go 1.27.3 asked for the older release: it downloads the module from the bundle, checks it
    // against the database, unpacks it and runs it, all with no network.
    let script = format!("GOTOOLCHAIN={OLDER_GO_VERSION}; export GOTOOLCHAIN; go version");
    let switched = run(&mut offline_sh(&s, &s.app, "cache-toolchain", &script));
    assert_eq!(code(&switched), 0, "{}", stderr(&switched));
    assert_eq!(stdout(&switched).trim(), format!("go version {OLDER_GO_VERSION} linux/amd64"));
    let unpacked = s.ctx.path(&format!("cache-toolchain/golang.org/toolchain@{version}"));
    assert!(unpacked.join("bin/go").is_file() && unpacked.join("src/_go.mod").is_file(), "{}", unpacked.display());

    // With the public database named instead (unreachable offline), the same switch is refused:
    // the toolchain is only ever run once checked.
    let script =
        format!("GOSUMDB=sum.golang.org GOTOOLCHAIN={OLDER_GO_VERSION}; export GOSUMDB GOTOOLCHAIN; go version");
    let refused = run(&mut offline_sh(&s, &s.app, "cache-toolchain-public", &script));
    assert_ne!(code(&refused), 0, "{}", stdout(&refused));
    assert!(stderr(&refused).contains("sum.golang.org"), "{}", stderr(&refused));
}
