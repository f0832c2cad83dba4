//! Fetch and release with no network: the test serves mirror directories (a release index in
//! Go's JSON format and the real tarballs from `cargo xtask fixtures`) over HTTP on a loopback
//! port, from a thread of its own. One mirror is honest, one serves a tampered tarball, one a
//! wrong index; a download cut in the middle is resumed with a range request.

use std::{
    fs,
    io::{BufRead, BufReader, Write},
    net::{TcpListener, TcpStream},
    path::{Path, PathBuf},
    sync::{Arc, Mutex},
};

use serde_json::{json, Value};

use crate::support::*;

/// A tiny HTTP/1.1 file server: `GET /NAME` (with an optional `Range: bytes=N-`) serves
/// `ROOT/NAME`; `GET /?…` serves `ROOT/index.json`. Every request line (and its range) is logged.
pub struct Mirror {
    pub url: String,
    log: Arc<Mutex<Vec<String>>>,
}

impl Mirror {
    pub fn serve(root: &Path) -> Mirror {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}/dl/", listener.local_addr().unwrap());
        let log = Arc::new(Mutex::new(Vec::new()));
        let (root, log2) = (root.to_path_buf(), log.clone());
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let (root, log) = (root.clone(), log2.clone());
                std::thread::spawn(move || {
                    let _ = answer(stream, &root, &log);
                });
            }
        });
        Mirror { url, log }
    }

    fn requests(&self) -> Vec<String> {
        self.log.lock().unwrap().clone()
    }
}

fn answer(stream: TcpStream, root: &Path, log: &Mutex<Vec<String>>) -> std::io::Result<()> {
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut request = String::new();
    reader.read_line(&mut request)?;
    let mut range = None;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line)? == 0 || line == "\r\n" {
            break;
        }
        if let Some(v) = line.to_ascii_lowercase().strip_prefix("range: bytes=") {
            range = v.trim().trim_end_matches('-').parse::<u64>().ok();
        }
    }
    let path = request.split_whitespace().nth(1).unwrap_or("/").to_string();
    log.lock().unwrap().push(format!("{path}{}", range.map(|r| format!(" range {r}-")).unwrap_or_default()));
    let rel = path.trim_start_matches("/dl/");
    let file = if rel.starts_with('?') { root.join("index.json") } else { root.join(rel) };
    let mut out = stream;
    match fs::read(&file) {
        Ok(data) => {
            let from = range.unwrap_or(0).min(data.len() as u64) as usize;
            let status = if range.is_some() { "206 Partial Content" } else { "200 OK" };
            write!(out, "HTTP/1.1 {status}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n", data.len() - from)?;
            out.write_all(&data[from..])
        }
        Err(_) => write!(out, "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"),
    }
}

/// A mirror directory with the real tarballs (hard links) and an index listing them; `tamper`
/// changes one byte of the amd64 tarball after the index was written; `wrong_index` lists a wrong
/// sha256 for it.
pub fn mirror_dir(dir: &Path, tamper: bool, wrong_index: bool) -> PathBuf {
    fs::create_dir_all(dir).unwrap();
    let mut files = Vec::new();
    for (version, arch, tarball) in [
        (GO_VERSION, "amd64", go_release("amd64")),
        (GO_VERSION, "arm64", go_release("arm64")),
        (OLDER_GO_VERSION, "amd64", older_go_tarball()),
        (crate::delta::OLDER_BASE_VERSION, "amd64", crate::delta::tarball(crate::delta::OLDER_BASE_VERSION)),
    ] {
        let name = format!("{version}.linux-{arch}.tar.gz");
        let to = dir.join(&name);
        if tamper && arch == "amd64" && version == GO_VERSION {
            let mut bytes = fs::read(&tarball).unwrap();
            let at = bytes.len() / 3;
            bytes[at] ^= 1;
            fs::write(&to, bytes).unwrap();
        } else {
            fs::hard_link(&tarball, &to).or_else(|_| fs::copy(&tarball, &to).map(|_| ())).unwrap();
        }
        let mut sha = sha256_file(&tarball);
        if wrong_index && arch == "amd64" && version == GO_VERSION {
            sha = "0".repeat(64);
        }
        let size = fs::metadata(&tarball).unwrap().len();
        files.push((version, json!({"filename": name, "os": "linux", "arch": arch, "version": version, "sha256": sha, "size": size, "kind": "archive"})));
    }
    let mut releases: Vec<Value> = Vec::new();
    for version in [GO_VERSION, OLDER_GO_VERSION, crate::delta::OLDER_BASE_VERSION] {
        let f: Vec<Value> = files.iter().filter(|(v, _)| *v == version).map(|(_, f)| f.clone()).collect();
        releases.push(json!({"version": version, "stable": true, "files": f}));
    }
    fs::write(dir.join("index.json"), serde_json::to_vec(&releases).unwrap()).unwrap();
    dir.to_path_buf()
}

fn fetch(mirror: &Mirror, cache: &Path, extra: &[&str]) -> std::process::Output {
    run(builder().args(["fetch", "--mirror", &mirror.url, "--json", "--cache"]).arg(cache).args(extra))
}

#[test]
fn fetch_verifies_against_the_index_caches_by_hash_and_resumes() {
    let ctx = TestContext::new();
    let mirror = Mirror::serve(&mirror_dir(&ctx.path("mirror"), false, false));
    let cache = ctx.path("cache");
    let out = fetch(&mirror, &cache, &["--version", "1.27.3", "--arch", "amd64,arm64"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let fetched: Value = serde_json::from_str(&stdout(&out)).unwrap();
    for (f, arch) in fetched.as_array().unwrap().iter().zip(["amd64", "arm64"]) {
        let path = PathBuf::from(f["path"].as_str().unwrap());
        assert_eq!(sha256_file(&path), sha256_file(&go_release(arch)));
        assert_eq!(f["sha256"], sha256_file(&go_release(arch)));
        assert!(path.starts_with(cache.join("sha256").join(f["sha256"].as_str().unwrap())));
        assert_eq!(f["cached"], false);
    }
    // Again: from the cache, the index read but no tarball downloaded.
    let before = mirror.requests().len();
    let out = fetch(&mirror, &cache, &["--version", "1.27.3", "--arch", "amd64,arm64"]);
    assert_eq!(code(&out), 0);
    assert!(serde_json::from_str::<Value>(&stdout(&out))
        .unwrap()
        .as_array()
        .unwrap()
        .iter()
        .all(|f| f["cached"] == true));
    assert!(mirror.requests()[before..].iter().all(|r| !r.contains(".tar.gz")), "{:?}", mirror.requests());

    // An interrupted download (half a file in the partial directory) is resumed with a range.
    let older = older_go_tarball();
    let sha = sha256_file(&older);
    let partial = cache.join("partial").join(format!("{sha}-{OLDER_GO_VERSION}.linux-amd64.tar.gz.part"));
    let bytes = fs::read(&older).unwrap();
    fs::write(&partial, &bytes[..bytes.len() / 2]).unwrap();
    let out = fetch(&mirror, &cache, &["--version", "1.26.6", "--sha256", &sha]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let f = &serde_json::from_str::<Value>(&stdout(&out)).unwrap()[0];
    assert_eq!(f["resumed_from"], bytes.len() / 2);
    assert_eq!(sha256_file(Path::new(f["path"].as_str().unwrap())), sha);
    assert!(mirror
        .requests()
        .iter()
        .any(|r| r == &format!("/dl/{OLDER_GO_VERSION}.linux-amd64.tar.gz range {}-", bytes.len() / 2)));
    assert!(!partial.exists());
}

#[test]
fn tampered_tarballs_and_wrong_indexes_are_refused_and_deleted() {
    let ctx = TestContext::new();
    for (name, tamper, wrong_index) in [("tampered", true, false), ("wrong-index", false, true)] {
        let mirror = Mirror::serve(&mirror_dir(&ctx.path(name), tamper, wrong_index));
        let cache = ctx.path(&format!("cache-{name}"));
        let out = fetch(&mirror, &cache, &["--version", "1.27.3", "--arch", "amd64"]);
        assert_eq!(code(&out), builder::exit::FETCH_FAILED, "{name}: {}", stderr(&out));
        assert!(stderr(&out).contains("SHA256 MISMATCH"), "{name}: {}", stderr(&out));
        // Nothing kept: no partial file, nothing under sha256/.
        let kept: Vec<_> = walk(&cache).into_iter().filter(|p| p.is_file()).collect();
        assert!(kept.is_empty(), "{name}: {kept:?}");
    }
    // A --sha256 that the honest tarball does not have is refused the same way.
    let mirror = Mirror::serve(&mirror_dir(&ctx.path("honest"), false, false));
    let out = fetch(&mirror, &ctx.path("cache-pinned"), &["--version", "1.27.3", "--sha256", &"ab".repeat(32)]);
    assert_eq!(code(&out), builder::exit::FETCH_FAILED);
    assert!(stderr(&out).contains("--sha256"), "{}", stderr(&out));
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    if let Ok(rd) = fs::read_dir(dir) {
        for e in rd.flatten() {
            let p = e.path();
            if p.is_dir() {
                out.extend(walk(&p));
            }
            out.push(p);
        }
    }
    out
}

#[test]
fn release_builds_the_matrix_signs_sums_and_is_incremental() {
    let ctx = TestContext::new();
    let mirror = Mirror::serve(&mirror_dir(&ctx.path("mirror"), false, false));
    let config = ctx.path("release.toml");
    // A module bundle too, from a proxy directory (modules written as in tests/it/modules.rs).
    crate::modules::write_proxy(&ctx.path("proxy"));
    fs::write(
        &config,
        format!(
            "output = \"dist\"\nkey = \"{}\"\nversions = [\"1.27.3\", \"1.26.6\"]\narches = [\"amd64\"]\n\
             mirror = \"{}\"\ncache = \"cache\"\nstubs = \"{}\"\nlevel = 3\ndeltas = [\"1.26.5\"]\n\n\
             [go_env]\nGOFLAGS = \"-mod=mod\"\n\n\
             [[modules]]\nname = \"deps\"\ncache = \"proxy\"\ntoolchains = true\n",
            release_key().private.display(),
            mirror.url,
            workspace().join("target/stubs").display()
        ),
    )
    .unwrap();
    let run_release = || run(builder().arg("release").arg(&config).arg("--json"));
    let out = run_release();
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let summary: Value = serde_json::from_str(&stdout(&out)).unwrap();
    let names: Vec<&str> = summary["outputs"].as_array().unwrap().iter().map(|o| o["name"].as_str().unwrap()).collect();
    assert_eq!(
        names,
        [
            "go-modules-deps-linux-amd64",
            "go-offline-installer-go1.26.5-to-go1.26.6-linux-amd64",
            "go-offline-installer-go1.26.6-linux-amd64",
            "go-offline-installer-go1.27.3-linux-amd64"
        ]
    );
    assert!(summary["outputs"].as_array().unwrap().iter().all(|o| o["status"] == "built"));
    // The delta of the point release is made; the one across minor versions is not worth it.
    assert_eq!(summary["outputs"][1]["delta_from"], "go1.26.5", "{summary}");
    let skipped = summary["skipped"].as_array().unwrap();
    assert_eq!(skipped.len(), 1, "{summary}");
    assert_eq!(skipped[0]["name"], "go-offline-installer-go1.26.5-to-go1.27.3-linux-amd64");
    assert!(skipped[0]["reason"].as_str().unwrap().contains("not worth it"), "{summary}");
    let dist = ctx.path("dist");

    // SHA256SUMS lists every output; its signature verifies with openssl alone and with the builder.
    let sums = fs::read_to_string(dist.join("SHA256SUMS")).unwrap();
    for name in &names {
        assert!(sums.contains(&format!("{}  {name}\n", sha256_file(&dist.join(name)))), "{sums}");
    }
    ok(std::process::Command::new("openssl")
        .args(["pkeyutl", "-verify", "-pubin", "-inkey"])
        .arg(&release_key().public)
        .args(["-rawin", "-in"])
        .arg(dist.join("SHA256SUMS"))
        .arg("-sigfile")
        .arg(dist.join("SHA256SUMS.sig")));
    ok(builder().arg("verify-sums").arg(&dist).arg("--key").arg(&release_key().public));

    // Provenance: where the tarball came from and whose sha256 it has, signed and shown.
    let out = ok(builder().arg("inspect").arg(dist.join(names[3])).arg("--json"));
    let info: Value = serde_json::from_str(&stdout(&out)).unwrap();
    let tarball_sha = sha256_file(&go_release("amd64"));
    assert_eq!(info["source"]["url"], format!("{}go1.27.3.linux-amd64.tar.gz", mirror.url));
    assert_eq!(info["source"]["published_sha256"], tarball_sha);
    assert!(info["source"]["published_by"].as_str().unwrap().starts_with("release index "));
    let text = stdout(&ok(builder().arg("inspect").arg(dist.join(names[3]))));
    assert!(text.contains(&format!("downloaded from {}go1.27.3", mirror.url)), "{text}");
    // The bundle carries the matrix's releases as toolchain modules, in its checksum database,
    // whose log the release keeps.
    let log: Value = serde_json::from_slice(&fs::read(dist.join(".sumdb-log.json")).unwrap()).unwrap();
    let records: Vec<&str> = log["records"].as_array().unwrap().iter().map(|r| r.as_str().unwrap()).collect();
    for v in ["v0.0.1-go1.27.3.linux-amd64", "v0.0.1-go1.26.6.linux-amd64"] {
        assert!(records.iter().any(|r| r.starts_with(&format!("golang.org/toolchain {v} h1:"))), "{v}: {records:?}");
    }
    // The installers verify and carry the go.env override.
    for name in &names {
        ok(builder().arg("verify").arg(dist.join(name)).arg("--trusted-key").arg(&release_key().public));
    }
    assert_eq!(info["go_env"]["GOFLAGS"], "-mod=mod");

    // Incremental: nothing rebuilt, every byte the same, and no tarball downloaded again.
    let before: Vec<String> = names.iter().map(|n| sha256_file(&dist.join(n))).collect();
    let requests = mirror.requests().len();
    let out = run_release();
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let summary: Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert!(summary["outputs"].as_array().unwrap().iter().all(|o| o["status"] == "unchanged"), "{summary}");
    assert_eq!(summary["skipped"].as_array().map(Vec::len), Some(1), "a skipped delta stays skipped: {summary}");
    assert_eq!(names.iter().map(|n| sha256_file(&dist.join(n))).collect::<Vec<_>>(), before);
    assert!(mirror.requests()[requests..].iter().all(|r| !r.contains(".tar.gz")));
    assert_eq!(fs::read_to_string(dist.join("SHA256SUMS")).unwrap(), sums);

    // A changed input rebuilds only what it touches; a damaged output is rebuilt to the same bytes.
    fs::write(dist.join(names[2]), b"damaged").unwrap();
    let out = run_release();
    let summary: Value = serde_json::from_str(&stdout(&out)).unwrap();
    let status: Vec<&str> =
        summary["outputs"].as_array().unwrap().iter().map(|o| o["status"].as_str().unwrap()).collect();
    assert_eq!(status, ["unchanged", "unchanged", "built", "unchanged"]);
    assert_eq!(sha256_file(&dist.join(names[2])), before[2], "a rebuild of the same inputs is byte-identical");

    // A bad sha256 for a tarball stops the release with the fetch exit code and names the file.
    let pinned = fs::read_to_string(&config).unwrap().replace(
        "[go_env]",
        &format!("[sha256]\n\"go1.26.6.linux-amd64.tar.gz\" = \"{}\"\n\n[go_env]", "cd".repeat(32)),
    );
    fs::write(&config, pinned).unwrap();
    fs::remove_dir_all(ctx.path("cache")).unwrap();
    let out = run_release();
    assert_eq!(code(&out), builder::exit::FETCH_FAILED, "{}", stderr(&out));
    assert!(
        stderr(&out).contains("SHA256 MISMATCH") && stderr(&out).contains("go1.26.6.linux-amd64.tar.gz"),
        "{}",
        stderr(&out)
    );
    // The signed set from before is untouched.
    assert_eq!(fs::read_to_string(dist.join("SHA256SUMS")).unwrap(), sums);
}
