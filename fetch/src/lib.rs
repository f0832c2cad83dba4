//! Downloading official Go releases on a connected machine: the release index (Go's JSON
//! download index, `?mode=json&include=all`), tarballs checked against the sha256 it publishes
//! (or one given), resumed after an interruption, and cached by that hash.
//!
//! This crate is the builder's only network code; the installer has none (cargo-deny enforces
//! that only this crate may depend on an HTTP client).
//!
//! **Invariant:** a file is in the cache only under the sha256 it has: a download is written to a
//! `.part` file, hashed whole when complete, and renamed into `sha256/HEX/NAME` only if it matches;
//! a mismatch deletes it.

use std::{
    fs::{self, File, OpenOptions},
    io::{self, IsTerminal, Read, Write},
    path::{Path, PathBuf},
    time::{Duration, Instant},
};

use serde::Deserialize;
use sha2::{Digest, Sha256};

/// Go's download site: tarballs at `BASE + NAME`, the index at `BASE + "?mode=json&include=all"`.
pub const DEFAULT_MIRROR: &str = "https://go.dev/dl/";

/// Everything that can stop a fetch.
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    #[error("cannot download '{url}': {problem}")]
    Http { url: String, problem: String },
    #[error("the release index '{url}' is unusable: {problem}")]
    Index { url: String, problem: String },
    #[error("the release index '{url}' lists no {name}: check the version and architecture (or pass --sha256 for a mirror without an index)")]
    NotListed { url: String, name: String },
    #[error("SHA256 MISMATCH for '{url}': expected {expected} ({source_of_hash}), downloaded {found}; the download was deleted. The mirror or the index is wrong or was tampered with: do not use it")]
    Mismatch { url: String, expected: String, found: String, source_of_hash: String },
    #[error("bad --sha256 '{0}': expected 64 hex digits")]
    BadSha256(String),
    #[error("could not {action} '{path}': {source}")]
    Io { action: &'static str, path: PathBuf, source: io::Error },
}

fn io_err<'a>(action: &'static str, path: &'a Path) -> impl FnOnce(io::Error) -> FetchError + 'a {
    move |source| FetchError::Io { action, path: path.to_path_buf(), source }
}

/// One release of the index.
#[derive(Debug, Clone, Deserialize)]
pub struct Release {
    pub version: String,
    #[serde(default)]
    pub files: Vec<ReleaseFile>,
}

/// One file of a release.
#[derive(Debug, Clone, Deserialize)]
pub struct ReleaseFile {
    pub filename: String,
    #[serde(default)]
    pub os: String,
    #[serde(default)]
    pub arch: String,
    pub sha256: String,
    #[serde(default)]
    pub size: u64,
}

/// A tarball in the cache.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Fetched {
    pub path: PathBuf,
    /// Where it was downloaded from (or would have been, when cached).
    pub url: String,
    /// Its sha256, equal to the published one.
    pub sha256: String,
    /// Where the expected sha256 came from: the index URL, or `--sha256`.
    pub sha256_source: String,
    pub size: u64,
    /// Already in the cache: nothing was downloaded.
    pub cached: bool,
    /// Bytes a resumed download did not fetch again.
    pub resumed_from: u64,
}

/// Downloads from one mirror into one cache.
pub struct Fetcher {
    mirror: String,
    index_url: String,
    cache: PathBuf,
    agent: ureq::Agent,
    progress: bool,
}

/// The official tarball name of a Go version for Linux and an architecture.
pub fn tarball_name(version: &str, arch: &str) -> String {
    format!("go{}.linux-{arch}.tar.gz", version.trim_start_matches("go"))
}

impl Fetcher {
    /// A fetcher for `mirror` (a base URL ending in `/`; [`DEFAULT_MIRROR`] by default) whose index
    /// is `index` (by default the mirror's own), caching under `cache`.
    pub fn new(mirror: Option<&str>, index: Option<&str>, cache: &Path, progress: bool) -> Fetcher {
        let mut mirror = mirror.unwrap_or(DEFAULT_MIRROR).to_string();
        if !mirror.ends_with('/') {
            mirror.push('/');
        }
        let index_url = index.map(str::to_string).unwrap_or_else(|| format!("{mirror}?mode=json&include=all"));
        let agent = ureq::AgentBuilder::new()
            .timeout_connect(Duration::from_secs(30))
            .timeout_read(Duration::from_secs(60))
            .build();
        Fetcher { mirror, index_url, cache: cache.to_path_buf(), agent, progress }
    }

    /// The release index.
    pub fn index(&self) -> Result<Vec<Release>, FetchError> {
        let url = &self.index_url;
        let response = self.get(url, None)?;
        let mut body = Vec::new();
        response
            .into_reader()
            .take(64 << 20)
            .read_to_end(&mut body)
            .map_err(|e| FetchError::Http { url: url.clone(), problem: e.to_string() })?;
        serde_json::from_slice(&body).map_err(|e| FetchError::Index { url: url.clone(), problem: e.to_string() })
    }

    /// The published sha256 of a tarball, from the index.
    pub fn published(&self, name: &str) -> Result<ReleaseFile, FetchError> {
        let index = self.index()?;
        let file = index.into_iter().flat_map(|r| r.files).find(|f| f.filename == name);
        let file = file.ok_or_else(|| FetchError::NotListed { url: self.index_url.clone(), name: name.into() })?;
        if !is_sha256(&file.sha256) {
            return Err(FetchError::Index {
                url: self.index_url.clone(),
                problem: format!("the sha256 of {name} is not 64 hex digits"),
            });
        }
        Ok(file)
    }

    /// Fetches the official tarball of `version` for `arch`, verified against `sha256` or, when
    /// none is given, the index's.
    pub fn fetch(&self, version: &str, arch: &str, sha256: Option<&str>) -> Result<Fetched, FetchError> {
        let name = tarball_name(version, arch);
        let (expected, sha256_source) = match sha256 {
            Some(h) if is_sha256(&h.to_ascii_lowercase()) => (h.to_ascii_lowercase(), "--sha256".to_string()),
            Some(h) => return Err(FetchError::BadSha256(h.into())),
            None => (self.published(&name)?.sha256.to_ascii_lowercase(), format!("release index {}", self.index_url)),
        };
        let url = format!("{}{name}", self.mirror);
        let dir = self.cache.join("sha256").join(&expected);
        let path = dir.join(&name);
        if path.is_file() {
            let found = sha256_file(&path)?;
            if found == expected {
                let size = fs::metadata(&path).map_err(io_err("stat", &path))?.len();
                return Ok(Fetched { path, url, sha256: expected, sha256_source, size, cached: true, resumed_from: 0 });
            }
            // Changed on disk since: fetch again.
            fs::remove_file(&path).map_err(io_err("remove", &path))?;
        }
        let partial_dir = self.cache.join("partial");
        fs::create_dir_all(&partial_dir).map_err(io_err("create", &partial_dir))?;
        let part = partial_dir.join(format!("{expected}-{name}.part"));
        let resumed_from = self.download(&url, &part)?;
        let found = sha256_file(&part)?;
        if found != expected {
            let _ = fs::remove_file(&part);
            return Err(FetchError::Mismatch { url, expected, found, source_of_hash: sha256_source });
        }
        fs::create_dir_all(&dir).map_err(io_err("create", &dir))?;
        fs::rename(&part, &path).map_err(io_err("move into the cache", &path))?;
        let size = fs::metadata(&path).map_err(io_err("stat", &path))?.len();
        Ok(Fetched { path, url, sha256: expected, sha256_source, size, cached: false, resumed_from })
    }

    /// Downloads `url` into `part`, resuming from its length when the server honours a range;
    /// returns the bytes it did not fetch again.
    fn download(&self, url: &str, part: &Path) -> Result<u64, FetchError> {
        let mut have = fs::metadata(part).map(|m| m.len()).unwrap_or(0);
        let response = match self.get(url, (have > 0).then_some(have)) {
            // The part is as long as the file (or longer): start again from nothing.
            Err(FetchError::Http { problem, .. }) if have > 0 && problem.starts_with("HTTP 416") => {
                have = 0;
                self.get(url, None)?
            }
            r => r?,
        };
        let resumed = have > 0 && response.status() == 206;
        let start = if resumed { have } else { 0 };
        let total = response.header("Content-Length").and_then(|v| v.parse::<u64>().ok()).map(|n| n + start);
        let mut out = OpenOptions::new()
            .create(true)
            .write(true)
            .append(resumed)
            .truncate(!resumed)
            .open(part)
            .map_err(io_err("write", part))?;
        let mut reader = response.into_reader();
        let mut buf = vec![0u8; 1 << 20];
        let mut done = start;
        let mut shown = Instant::now();
        let show = self.progress && io::stderr().is_terminal();
        loop {
            let n = match reader.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    return Err(FetchError::Http {
                        url: url.into(),
                        problem: format!("{e} after {done} bytes (run again to resume)"),
                    })
                }
            };
            out.write_all(&buf[..n]).map_err(io_err("write", part))?;
            done += n as u64;
            if show && shown.elapsed() > Duration::from_millis(200) {
                shown = Instant::now();
                match total {
                    Some(t) if t > 0 => {
                        eprint!("\r{url}: {:>5.1}% of {:.1} MiB", done as f64 * 100.0 / t as f64, t as f64 / 1048576.0)
                    }
                    _ => eprint!("\r{url}: {:.1} MiB", done as f64 / 1048576.0),
                }
            }
        }
        if show {
            eprintln!("\r{url}: {:.1} MiB, done{}", done as f64 / 1048576.0, " ".repeat(20));
        }
        out.sync_all().map_err(io_err("sync", part))?;
        if let Some(t) = total {
            if done != t {
                return Err(FetchError::Http {
                    url: url.into(),
                    problem: format!("the connection ended after {done} of {t} bytes (run again to resume)"),
                });
            }
        }
        Ok(if resumed { have } else { 0 })
    }

    fn get(&self, url: &str, from: Option<u64>) -> Result<ureq::Response, FetchError> {
        let mut request = self.agent.get(url);
        if let Some(from) = from {
            request = request.set("Range", &format!("bytes={from}-"));
        }
        match request.call() {
            Ok(r) => Ok(r),
            Err(ureq::Error::Status(code, r)) => {
                Err(FetchError::Http { url: url.into(), problem: format!("HTTP {code} {}", r.status_text()) })
            }
            Err(e) => Err(FetchError::Http { url: url.into(), problem: e.to_string() }),
        }
    }
}

fn is_sha256(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// The sha256 of a file, as lowercase hex.
pub fn sha256_file(path: &Path) -> Result<String, FetchError> {
    let mut f = File::open(path).map_err(io_err("read", path))?;
    let mut h = Sha256::new();
    io::copy(&mut f, &mut h).map_err(io_err("read", path))?;
    Ok(hex::encode(h.finalize()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_hashes() {
        assert_eq!(tarball_name("1.27.3", "amd64"), "go1.27.3.linux-amd64.tar.gz");
        assert_eq!(tarball_name("go1.27.3", "arm64"), "go1.27.3.linux-arm64.tar.gz");
        assert!(is_sha256(&"a".repeat(64)));
        for bad in ["A".repeat(64), "a".repeat(63), "g".repeat(64)] {
            assert!(!is_sha256(&bad), "{bad}");
        }
    }
}
