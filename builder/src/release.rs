//! `go-offline-builder release CONFIG`: the whole matrix in one command. Every Go version × arch
//! of the config is fetched (verified against the published sha256), built and signed; so is
//! every module bundle; then `SHA256SUMS` lists every output and `SHA256SUMS.sig` signs it.
//!
//! Incremental: `OUTPUT/.release-state.json` records, for each output, a fingerprint of its inputs
//! (tarball sha256, stub sha256, key id, go.env overrides, level, frames, the go.sum files of a
//! bundle, this builder's version) and the output's sha256. An output whose fingerprint is
//! unchanged and whose file still has that sha256 is not rebuilt. Builds are deterministic, so a
//! rebuild of unchanged inputs gives the same bytes anyway; the state only saves the time.
//! The module bundles share one checksum database log, `OUTPUT/.sumdb-log.json`, which each
//! bundle built extends (a bundle not rebuilt keeps the older tree it carries, which the log
//! extends).

use std::{
    collections::BTreeMap,
    fs,
    path::{Path, PathBuf},
};

use format::{keys, layout, platform::Target};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::{
    build::{build, BuildOptions, Provenance},
    checksum_db::SumdbOptions,
    delta::{build_delta, DeltaOptions},
    error::BuildError,
    modules::{build_modules, ModulesOptions},
    output::{check_output, write_output},
    pack::{Compression, DEFAULT_FRAMES, DEFAULT_LEVEL},
    seal::Seal,
    signer::{self, Signer, SignerSpec},
    stubs,
};

/// The release config (TOML). Relative paths are relative to the config file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Where the installers, SHA256SUMS and SHA256SUMS.sig go.
    pub output: PathBuf,
    /// The signer (see [`crate::signer`]): a PKCS#8 key file (relative to the config), or
    /// `pkcs11:…`, or `vault:…`.
    pub key: String,
    /// The org's public key (SPKI PEM): when given, the signer must hold exactly this key.
    #[serde(default)]
    pub expect_key: Option<PathBuf>,
    /// Go versions, e.g. `["1.27.3", "1.26.6"]`.
    pub versions: Vec<String>,
    /// GOARCH values, e.g. `["amd64", "arm64"]`.
    pub arches: Vec<String>,
    /// Download site or mirror (default: Go's) and its release index (default: the mirror's).
    #[serde(default)]
    pub mirror: Option<String>,
    #[serde(default)]
    pub index: Option<String>,
    /// Known sha256 of tarballs by file name, used instead of the index's.
    #[serde(default)]
    pub sha256: BTreeMap<String, String>,
    /// Download cache (default: the user's cache directory).
    #[serde(default)]
    pub cache: Option<PathBuf>,
    /// Directory of stubs, `DIR/TRIPLE/go-offline-installer` (default: the builder's own, as
    /// `build` picks them: see [`crate::stubs`]).
    #[serde(default)]
    pub stubs: Option<PathBuf>,
    /// `$GOROOT/go.env` overrides, as `build --go-env`.
    #[serde(default)]
    pub go_env: BTreeMap<String, String>,
    #[serde(default)]
    pub level: Option<i32>,
    #[serde(default)]
    pub frames: Option<u32>,
    /// Module bundles, one per entry and arch.
    #[serde(default)]
    pub modules: Vec<ModulesConfig>,
    /// Base versions of delta installers, e.g. `["1.27.2"]`: a delta to each version of
    /// `versions` newer than the base, for each arch (see [`crate::delta`]).
    #[serde(default)]
    pub deltas: Vec<String>,
    /// Write deltas that are not worth it too (more than half the full installer), instead of
    /// leaving them out of the release.
    #[serde(default)]
    pub force_deltas: bool,
}

/// One module bundle of a release.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModulesConfig {
    /// Part of the output name: `go-modules-NAME-linux-ARCH`.
    pub name: String,
    #[serde(default)]
    pub projects: Vec<PathBuf>,
    #[serde(default)]
    pub cache: Option<PathBuf>,
    /// Carry the matrix's releases for the bundle's arch as toolchain modules
    /// (`golang.org/toolchain`), which go switches to offline (`GOTOOLCHAIN`).
    #[serde(default)]
    pub toolchains: bool,
}

/// One output of a release run.
#[derive(Debug, Clone, Serialize)]
pub struct Output {
    pub name: String,
    pub sha256: String,
    pub status: Status,
    /// Where the tarball came from (installers only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    /// A delta installer: the Go version of its base.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub delta_from: Option<String>,
}

/// A delta a release leaves out, and why.
#[derive(Debug, Clone, Serialize)]
pub struct Skipped {
    pub name: String,
    pub reason: String,
}

/// What a release run did with one output.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Built (`"built"`).
    Built,
    /// Its inputs and file are as recorded by the previous run: not rebuilt (`"unchanged"`).
    Unchanged,
}

impl Status {
    /// The name printed and written in `--json`.
    pub fn name(self) -> &'static str {
        match self {
            Status::Built => "built",
            Status::Unchanged => "unchanged",
        }
    }
}

/// What a release run produced.
#[derive(Debug, Clone, Serialize)]
pub struct Summary {
    pub output: PathBuf,
    pub outputs: Vec<Output>,
    /// Deltas not worth it (see [`Config::force_deltas`]).
    pub skipped: Vec<Skipped>,
    pub sums: PathBuf,
    pub signature: PathBuf,
    pub signer_key_id: String,
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct State {
    outputs: BTreeMap<String, Recorded>,
    /// Deltas left out as not worth it, with the reason (in `sha256`'s place): not encoded again
    /// while their inputs are unchanged.
    #[serde(default)]
    skipped: BTreeMap<String, Recorded>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Recorded {
    fingerprint: String,
    sha256: String,
}

const STATE: &str = ".release-state.json";
/// The log of the release's checksum database (see [`crate::checksum_db`]), in its output.
const SUMDB_LOG: &str = ".sumdb-log.json";
pub const SUMS: &str = "SHA256SUMS";
pub const SUMS_SIG: &str = "SHA256SUMS.sig";

/// Reads a release config.
pub fn read_config(path: &Path) -> Result<Config, BuildError> {
    let text = fs::read_to_string(path).map_err(|e| BuildError::io("read the release config", path, e))?;
    let mut config: Config = toml::from_str(&text).map_err(|e| BuildError::Source {
        path: path.into(),
        problem: format!("is not a valid release config: {e}"),
    })?;
    let base = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let at = |p: &Path| if p.is_absolute() { p.to_path_buf() } else { base.join(p) };
    config.output = at(&config.output);
    config.key = SignerSpec::parse(&config.key)?.relative_to(base).to_string();
    config.expect_key = config.expect_key.as_deref().map(at);
    config.cache = config.cache.as_deref().map(at);
    config.stubs = config.stubs.as_deref().map(at);
    for m in &mut config.modules {
        m.projects = m.projects.iter().map(|p| at(p)).collect();
        m.cache = m.cache.as_deref().map(at);
    }
    if config.versions.is_empty() || config.arches.is_empty() {
        return Err(BuildError::Source { path: path.into(), problem: "lists no versions or no arches".into() });
    }
    Ok(config)
}

/// The default download cache: `$XDG_CACHE_HOME/go-offline-builder`, else `~/.cache/…`.
pub fn default_cache() -> PathBuf {
    let var = |k| std::env::var_os(k).filter(|v| !v.is_empty()).map(PathBuf::from);
    var("XDG_CACHE_HOME")
        .or_else(|| var("HOME").map(|h| h.join(".cache")))
        .unwrap_or_else(|| PathBuf::from(".cache"))
        .join("go-offline-builder")
}

/// What every output of one release run shares.
struct Run<'a> {
    config: &'a Config,
    signer: &'a Signer,
    fetcher: fetch::Fetcher,
    key_id: String,
    level: i32,
    frames: u32,
    /// `config.go_env` as `--go-env` arguments.
    go_env: Vec<String>,
    /// Files the run reads that no output may replace: the key file, `expect_key`.
    keep: Vec<PathBuf>,
    /// What the previous run recorded (empty when there is no state or it is unreadable: then
    /// everything is built).
    old: State,
}

/// Runs a release.
pub fn release(config: &Config, progress: bool) -> Result<Summary, BuildError> {
    // Opened once: a token logs in once, and every installer and SHA256SUMS are signed alike.
    let signer = signer::open_named(&config.key, config.expect_key.as_deref())?;
    fs::create_dir_all(&config.output).map_err(|e| BuildError::io("create", &config.output, e))?;
    let state_path = config.output.join(STATE);
    let cache = config.cache.clone().unwrap_or_else(default_cache);
    // A release rewrites its own outputs (that is what makes it incremental), never its inputs.
    let keep: Vec<PathBuf> =
        signer.key_file().into_iter().chain(config.expect_key.as_deref()).map(Path::to_path_buf).collect();
    let run = Run {
        config,
        fetcher: fetch::Fetcher::new(config.mirror.as_deref(), config.index.as_deref(), &cache, progress),
        signer: &signer,
        key_id: signer.key_id().to_string(),
        level: config.level.unwrap_or(DEFAULT_LEVEL),
        frames: config.frames.unwrap_or(DEFAULT_FRAMES),
        go_env: config.go_env.iter().map(|(k, v)| format!("{k}={v}")).collect(),
        keep,
        old: fs::read(&state_path).ok().and_then(|b| serde_json::from_slice(&b).ok()).unwrap_or_default(),
    };
    let mut state = State::default();
    let mut outputs = Vec::new();
    for version in &config.versions {
        for arch in &config.arches {
            outputs.push(installer_output(&run, &mut state, version, arch)?);
        }
    }
    // Deltas after the full installers: each is measured against its full installer.
    let mut skipped = Vec::new();
    for base in &config.deltas {
        for version in config.versions.iter().filter(|v| newer(v, base)) {
            for arch in &config.arches {
                match delta_output(&run, &mut state, base, version, arch)? {
                    Ok(output) => outputs.push(output),
                    Err(skip) => skipped.push(skip),
                }
            }
        }
    }
    for m in &config.modules {
        for arch in &config.arches {
            outputs.push(bundle_output(&run, &mut state, m, arch)?);
        }
    }
    outputs.sort_by(|a, b| a.name.cmp(&b.name));
    let (sums, signature) = write_sums(&config.output, &signer, &outputs)?;
    let state_bytes = serde_json::to_vec_pretty(&state).unwrap_or_default();
    check_output(&state_path, &run.keep.iter().map(PathBuf::as_path).collect::<Vec<_>>(), true)?;
    write_output(&state_path, &[&state_bytes])?;
    Ok(Summary { output: config.output.clone(), outputs, skipped, sums, signature, signer_key_id: run.key_id })
}

/// The stub target for GOARCH `arch` (releases are for Linux).
fn target_of(arch: &str) -> Result<Target, BuildError> {
    Target::from_go("linux", arch).ok_or_else(|| {
        let known: Vec<_> = format::platform::TARGETS.iter().map(|t| t.goarch).collect();
        BuildError::Mismatch(format!("no stub target exists for linux/{arch} (supported: {})", known.join(", ")))
    })
}

/// The stub file a release builds for `target` with (the config's `stubs` directory, else
/// `None`: the one [`stubs::resolve`] picks), and its sha256 (an input of the fingerprint).
fn stub_of(config: &Config, target: &Target) -> Result<(Option<PathBuf>, String), BuildError> {
    let file = config.stubs.as_ref().map(|dir| dir.join(target.triple).join(target.stub_name()));
    if let Some(path) = file.as_ref().filter(|p| !p.exists()) {
        return Err(BuildError::NoConfigStub { triple: target.triple.into(), path: path.clone() });
    }
    let stub = stubs::resolve(target, file.as_deref())?;
    Ok((file, stub.sha256))
}

/// The installer of Go `version` for `arch`: the tarball fetched (or found in the cache) and
/// checked, then the installer built unless it is unchanged.
fn installer_output(run: &Run, state: &mut State, version: &str, arch: &str) -> Result<Output, BuildError> {
    let target = target_of(arch)?;
    let tarball = fetch::tarball_name(version, arch);
    let fetched = run.fetcher.fetch(version, arch, run.config.sha256.get(&tarball).map(String::as_str))?;
    let (stub, stub_sha) = stub_of(run.config, &target)?;
    let format_version = layout::FORMAT_VERSION.to_string();
    let fingerprint = fingerprint(&[
        "installer",
        env!("CARGO_PKG_VERSION"),
        &format_version,
        &fetched.sha256,
        &fetched.url,
        &stub_sha,
        &run.key_id,
        &run.go_env.join("\n"),
        &run.level.to_string(),
        &run.frames.to_string(),
    ]);
    let name = format::delta::full_installer_name(&go_version(version), "linux", arch);
    let source = Some(fetched.url.clone());
    fresh(run, state, name, fingerprint, source, |out| {
        build(
            &BuildOptions {
                go: fetched.path.clone(),
                target: Some(target.triple.into()),
                stub,
                output: out.to_path_buf(),
                go_env: run.go_env.clone(),
                level: run.level,
                threads: 0,
                frames: run.frames,
                source_date_epoch: None,
                provenance: Some(Provenance {
                    url: fetched.url.clone(),
                    published_sha256: fetched.sha256.clone(),
                    published_by: fetched.sha256_source.clone(),
                }),
                force: true,
                keep: run.keep.clone(),
            },
            Seal::Now(run.signer),
        )
        .map(|_| ())
    })
}

/// `go1.27.3` for `1.27.3` or `go1.27.3`.
fn go_version(version: &str) -> String {
    format!("go{}", version.trim_start_matches("go"))
}

/// Whether `version` is newer than `base`.
fn newer(version: &str, base: &str) -> bool {
    format::version::compare(&go_version(version), &go_version(base)) == Some(std::cmp::Ordering::Greater)
}

/// The delta installer from `base` to `version` for `arch` (after the full installer of
/// `version`, whose size it is measured against), built unless it is unchanged; `Err` when it
/// is not worth it and the config does not force it.
fn delta_output(
    run: &Run,
    state: &mut State,
    base: &str,
    version: &str,
    arch: &str,
) -> Result<Result<Output, Skipped>, BuildError> {
    let target = target_of(arch)?;
    let sha = |v: &str| run.config.sha256.get(&fetch::tarball_name(v, arch)).map(String::as_str);
    let fetched = run.fetcher.fetch(version, arch, sha(version))?;
    let fetched_base = run.fetcher.fetch(base, arch, sha(base))?;
    let (stub, stub_sha) = stub_of(run.config, &target)?;
    let full = run.config.output.join(format::delta::full_installer_name(&go_version(version), "linux", arch));
    let full_len = fs::metadata(&full).map_err(|e| BuildError::io("read", &full, e))?.len();
    let format_version = layout::FORMAT_VERSION.to_string();
    let fingerprint = fingerprint(&[
        "delta",
        env!("CARGO_PKG_VERSION"),
        &format_version,
        &fetched.sha256,
        &fetched.url,
        &fetched_base.sha256,
        &fetched_base.url,
        &stub_sha,
        &run.key_id,
        &run.go_env.join("\n"),
        &run.level.to_string(),
        &run.config.force_deltas.to_string(),
    ]);
    let name = format::delta::delta_installer_name(&go_version(base), &go_version(version), "linux", arch);
    if let Some(r) = run.old.skipped.get(&name).filter(|r| r.fingerprint == fingerprint) {
        state.skipped.insert(name.clone(), r.clone());
        return Ok(Err(Skipped { name, reason: r.sha256.clone() }));
    }
    let made = fresh(run, state, name.clone(), fingerprint.clone(), Some(fetched.url.clone()), |out| {
        let opts = BuildOptions {
            go: fetched.path.clone(),
            target: Some(target.triple.into()),
            stub,
            output: out.to_path_buf(),
            go_env: run.go_env.clone(),
            level: run.level,
            threads: 0,
            frames: 1,
            source_date_epoch: None,
            provenance: Some(Provenance {
                url: fetched.url.clone(),
                published_sha256: fetched.sha256.clone(),
                published_by: fetched.sha256_source.clone(),
            }),
            force: true,
            keep: run.keep.clone(),
        };
        let d =
            DeltaOptions { base: fetched_base.path.clone(), full_len: Some(full_len), force: run.config.force_deltas };
        build_delta(&opts, &d, Seal::Now(run.signer)).map(|_| ())
    });
    match made {
        Ok(output) => Ok(Ok(Output { delta_from: Some(go_version(base)), ..output })),
        Err(e @ BuildError::NotWorthIt { .. }) => {
            state.skipped.insert(name.clone(), Recorded { fingerprint, sha256: e.to_string() });
            Ok(Err(Skipped { name, reason: e.to_string() }))
        }
        Err(e) => Err(e),
    }
}

/// The module bundle `m` for `arch`, built unless it is unchanged.
fn bundle_output(run: &Run, state: &mut State, m: &ModulesConfig, arch: &str) -> Result<Output, BuildError> {
    let target = target_of(arch)?;
    let (stub, stub_sha) = stub_of(run.config, &target)?;
    // go.sum pins every module's content; without projects the cache is the input: its
    // listing (names, sizes, times) stands for it.
    let mut parts = vec![
        "modules".to_string(),
        env!("CARGO_PKG_VERSION").into(),
        layout::FORMAT_VERSION.to_string(),
        stub_sha,
        run.key_id.clone(),
    ];
    parts.push(run.level.to_string());
    if m.projects.is_empty() {
        parts.push(listing(m.cache.as_deref().unwrap_or(Path::new("")))?);
    }
    for p in &m.projects {
        let sum = fs::read(p.join("go.sum")).map_err(|e| BuildError::io("read", p.join("go.sum"), e))?;
        parts.push(hex::encode(Sha256::digest(&sum)));
    }
    // The matrix's releases for this arch, when the bundle carries them as toolchains.
    let mut toolchains = Vec::new();
    if m.toolchains {
        for version in &run.config.versions {
            let tarball = fetch::tarball_name(version, arch);
            let fetched = run.fetcher.fetch(version, arch, run.config.sha256.get(&tarball).map(String::as_str))?;
            parts.push(fetched.sha256.clone());
            toolchains.push(fetched.path);
        }
    }
    let fingerprint = fingerprint(&parts.iter().map(String::as_str).collect::<Vec<_>>());
    let name = format!("go-modules-{}-linux-{arch}", m.name);
    fresh(run, state, name, fingerprint, None, |out| {
        build_modules(
            &ModulesOptions {
                projects: m.projects.clone(),
                cache: m.cache.clone(),
                target: target.triple.into(),
                stub,
                output: out.to_path_buf(),
                compression: Compression { level: run.level, threads: 0, frames: 1 },
                source_date_epoch: None,
                force: true,
                keep: run.keep.clone(),
                // One log for the release's bundles, kept beside its state.
                sumdb: Some(SumdbOptions { name: None, log: Some(run.config.output.join(SUMDB_LOG)), signature: None }),
                toolchains: toolchains.clone(),
            },
            Seal::Now(run.signer),
        )
        .map(|_| ())
    })
}

/// The output `name`, whose inputs have `fingerprint`: kept when the previous run recorded the
/// same fingerprint and the file still has the sha256 recorded, else made by `build` at its
/// path; recorded in `state` either way.
fn fresh(
    run: &Run,
    state: &mut State,
    name: String,
    fingerprint: String,
    source: Option<String>,
    build: impl FnOnce(&Path) -> Result<(), BuildError>,
) -> Result<Output, BuildError> {
    let path = run.config.output.join(&name);
    // Hashed once: the recorded sha256 of an unchanged output is its current one.
    let unchanged = run
        .old
        .outputs
        .get(&name)
        .filter(|r| r.fingerprint == fingerprint && fetch::sha256_file(&path).is_ok_and(|h| h == r.sha256));
    let (sha256, status) = match unchanged {
        Some(r) => (r.sha256.clone(), Status::Unchanged),
        None => {
            build(&path)?;
            (sha256_of(&path)?, Status::Built)
        }
    };
    state.outputs.insert(name.clone(), Recorded { fingerprint, sha256: sha256.clone() });
    Ok(Output { name, sha256, status, source, delta_from: None })
}

/// Writes `SHA256SUMS` (a `SHA256  NAME` line per output, in the order given) and
/// `SHA256SUMS.sig` into `dir`; returns their paths. The signature is ed25519 over the file's
/// bytes as they are, not an installer's signed message, so `openssl pkeyutl -verify -rawin`
/// checks it with nothing but the public key.
fn write_sums(dir: &Path, signer: &Signer, outputs: &[Output]) -> Result<(PathBuf, PathBuf), BuildError> {
    let files: Vec<(&str, &str)> = outputs.iter().map(|o| (o.sha256.as_str(), o.name.as_str())).collect();
    sign_sums(dir, signer, &files)
}

/// Writes `SHA256SUMS` (a `SHA256  NAME` line per `(sha256, name)`, in the order given) and its
/// signature `SHA256SUMS.sig` into `dir`, as [`release`] does; returns their paths. `cargo xtask
/// dist` signs the builder's own release with it.
pub fn sign_sums(dir: &Path, signer: &Signer, files: &[(&str, &str)]) -> Result<(PathBuf, PathBuf), BuildError> {
    let sums: String = files.iter().map(|(sha256, name)| format!("{sha256}  {name}\n")).collect();
    let signature = signer.sign(sums.as_bytes())?;
    let sums_path = dir.join(SUMS);
    let sig_path = dir.join(SUMS_SIG);
    // Rewritten at every release (they are the release's own), never over the signing key.
    let key: Vec<&Path> = signer.key_file().into_iter().collect();
    check_output(&sums_path, &key, true)?;
    check_output(&sig_path, &key, true)?;
    write_output(&sums_path, &[sums.as_bytes()])?;
    write_output(&sig_path, &[&signature])?;
    Ok((sums_path, sig_path))
}

/// The sha256 of a file, as lowercase hex.
fn sha256_of(path: &Path) -> Result<String, BuildError> {
    fs::File::open(path).and_then(format::verify::sha256_reader).map_err(|e| BuildError::io("read", path, e))
}

/// sha256 of a directory's listing: every file's path, size and modification time.
fn listing(dir: &Path) -> Result<String, BuildError> {
    let mut lines = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in fs::read_dir(&d).map_err(|e| BuildError::io("list", &d, e))? {
            let e = e.map_err(|err| BuildError::io("list", &d, err))?;
            let meta = e.metadata().map_err(|err| BuildError::io("inspect", e.path(), err))?;
            if meta.is_dir() {
                stack.push(e.path());
            } else {
                let mtime = meta.modified().ok().and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok());
                lines.push(format!("{} {} {:?}", e.path().display(), meta.len(), mtime));
            }
        }
    }
    lines.sort();
    Ok(fingerprint(&lines.iter().map(String::as_str).collect::<Vec<_>>()))
}

/// sha256 of the inputs, one per line.
fn fingerprint(parts: &[&str]) -> String {
    let mut h = Sha256::new();
    for p in parts {
        h.update(p.as_bytes());
        h.update(b"\n");
    }
    hex::encode(h.finalize())
}

/// Checks `SHA256SUMS.sig` against `SHA256SUMS` with the public key at `public` (the same check as
/// `openssl pkeyutl -verify -pubin -inkey PUB -rawin -in SHA256SUMS -sigfile SHA256SUMS.sig`), then
/// every file `SHA256SUMS` lists against its sha256.
pub fn verify_sums(dir: &Path, public: &Path) -> Result<(), BuildError> {
    let sums_path = dir.join(SUMS);
    let sig_path = dir.join(SUMS_SIG);
    let sums = fs::read(&sums_path).map_err(|e| BuildError::io("read", &sums_path, e))?;
    let sig = fs::read(&sig_path).map_err(|e| BuildError::io("read", &sig_path, e))?;
    let key = keys::read_public_key(public)?;
    let sig = ed25519_dalek::Signature::from_slice(&sig)
        .map_err(|_| BuildError::SumsMismatch(format!("{} is not an ed25519 signature", sig_path.display())))?;
    key.verify_strict(&sums, &sig)
        .map_err(|_| BuildError::SumsMismatch(format!("{SUMS_SIG} does not sign {}", sums_path.display())))?;
    for (want, name) in sums_lines(&sums).map_err(|problem| BuildError::Source { path: sums_path.clone(), problem })? {
        let found = sha256_of(&dir.join(name))
            .map_err(|e| BuildError::SumsMismatch(format!("{name} is listed in {SUMS} but cannot be checked: {e}")))?;
        if found != want {
            return Err(BuildError::SumsMismatch(format!("{name}: sha256 {found}, {SUMS} says {want}")));
        }
    }
    Ok(())
}

/// The `(sha256, name)` lines of a SHA256SUMS file as [`release`] writes it: `HEX  NAME`, NAME a
/// file of the release directory itself.
fn sums_lines(sums: &[u8]) -> Result<Vec<(&str, &str)>, String> {
    let text = std::str::from_utf8(sums).map_err(|_| "is not UTF-8 text".to_string())?;
    let mut lines = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let bad = |problem: &str| format!("line {}: {problem}: '{}'", n + 1, line.escape_debug());
        let (sha256, name) = line.split_once("  ").ok_or_else(|| bad("expected SHA256  NAME"))?;
        if !format::manifest::is_sha256_hex(sha256) {
            return Err(bad("not a sha256"));
        }
        if name.is_empty() || name.contains('/') || name == "." || name == ".." {
            return Err(bad("not the name of a file in the release directory"));
        }
        lines.push((sha256, name));
    }
    Ok(lines)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sums_lines_are_parsed_strictly() {
        let hex = "ab".repeat(32);
        let good = format!("{hex}  go-offline-installer-go1.27.3-linux-amd64\n{hex}  go-modules-app-linux-arm64\n");
        assert_eq!(
            sums_lines(good.as_bytes()),
            Ok(vec![
                (hex.as_str(), "go-offline-installer-go1.27.3-linux-amd64"),
                (hex.as_str(), "go-modules-app-linux-arm64")
            ])
        );
        let cases: &[(&str, String)] = &[
            ("one space", format!("{hex} name")),
            ("short hash", format!("{}  name", "ab".repeat(31))),
            ("upper-case hash", format!("{}  name", "AB".repeat(32))),
            ("a path", format!("{hex}  ../etc/passwd")),
            ("an absolute path", format!("{hex}  /etc/passwd")),
            ("no name", format!("{hex}  ")),
            ("dot-dot", format!("{hex}  ..")),
        ];
        for (name, text) in cases {
            assert!(sums_lines(text.as_bytes()).is_err(), "{name} was accepted");
        }
        assert!(sums_lines(&[0xff, 0xfe]).is_err(), "not UTF-8");
        assert_eq!(sums_lines(b""), Ok(vec![]));
    }
}
