//! go-offline-builder: turns a Go distribution into one signed installer file.
//!
//! [`build`] reads the distribution ([`source`]), writes the offline defaults into `go.env`,
//! packs the tree into a zstd-compressed tar stream, writes the manifest, signs it and appends
//! payload, manifest, signature and trailer to the stub. The byte layout, the signed message and
//! the manifest belong to the `format` crate ([`format::layout`], [`format::manifest`]); this crate
//! only fills them in. How each failure ends the program is [`BuildError::exit_code`] ([`exit`]).
//!
//! **Invariant:** same inputs and key give a byte-identical installer: entries are sorted, tar
//! headers carry fixed owners and one mtime (`SOURCE_DATE_EPOCH`, else the newest in the source),
//! and multi-threaded zstd output does not depend on the number of threads.

pub mod cli;
pub mod delta;
pub mod exit;
pub mod modules;
pub mod release;
pub mod signer;
pub mod source;
pub mod stubs;

use std::{
    collections::BTreeMap,
    fs,
    io::{self, Write},
    os::unix::fs::{OpenOptionsExt, PermissionsExt},
    path::{Path, PathBuf},
};

use ed25519_dalek::{SigningKey, VerifyingKey};
use format::{
    keys,
    layout::{self, Assembled, LayoutError},
    manifest::{self, Entry, Frame, Manifest, Payload, Product, Region, Source},
    platform::{elf_machine, Target},
    statement::Statement,
};
use sha2::{Digest, Sha256};

use crate::{
    signer::Signer,
    source::{Node, Tree},
};

/// This builder's version (that of the workspace).
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// Default zstd level: the strongest level that does not need `--ultra` memory on the decoder.
pub const DEFAULT_LEVEL: i32 = 19;
/// Default number of payload frames: two, decoded at once on two cores in the memory one
/// 128 MiB-window frame needs (see [`window_log`] and docs/bench.md).
pub const DEFAULT_FRAMES: u32 = 2;
/// zstd window log (`--long=27`): 128 MiB, recorded in the manifest and capped by the decoder.
pub const WINDOW_LOG: u32 = 27;

/// The window of a payload of `frames` frames: 128 MiB for one, 64 MiB for more, so that two
/// frames decoded at once need no more memory than one (the installer runs as many decoders as
/// fit in 128 MiB of windows). Two 64 MiB-window frames cost about 0.6% of size against one
/// 128 MiB frame, and halve the time to unpack on two cores.
pub fn window_log(frames: u32) -> u32 {
    if frames > 1 {
        WINDOW_LOG - 1
    } else {
        WINDOW_LOG
    }
}

/// Everything that can stop the builder. Each variant has one exit code
/// ([`BuildError::exit_code`]), so a new variant has to choose one.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    /// Reading an input (key, tarball, GOROOT, stub, module cache, config) or writing the output
    /// failed.
    #[error("could not {action} '{path}': {source}")]
    Io { action: &'static str, path: PathBuf, source: io::Error },
    /// An input is not what it must be: not a Go distribution, a link leaving the tree, a bad
    /// go.sum or module cache, a bad release config.
    #[error("Go distribution: '{path}' {problem}")]
    Source { path: PathBuf, problem: String },
    /// A key file cannot be read or is not an ed25519 key in the expected PEM form.
    #[error("{0}")]
    Key(#[from] keys::KeyError),
    /// Inputs that do not go together: a Go distribution and a stub or target for another
    /// machine, an unknown target, a module file whose hash differs from go.sum.
    #[error("{0}")]
    Mismatch(String),
    /// A stub file that carries no go-offline-installer stub identity (any other executable).
    #[error("{stub} is not a go-offline-installer stub ({problem}): use a stub built by `cargo xtask stubs` or the one embedded for --target")]
    NotAStub { stub: String, problem: String },
    /// No stub file for the target where this builder looks for one (`looked_in`: the
    /// directory's name, never a path of the machine the builder was made on); `file` is the
    /// stub's path relative to that directory, `TRIPLE/go-offline-installer`.
    #[error("no stub for target {triple} {looked_in} (no {file} there): pass --stub FILE, set GO_OFFLINE_STUBS_DIR to a directory that holds {file}, or choose another --target (`go-offline-builder targets` lists the stubs found); in a development checkout, `cargo xtask stubs --target {triple}` builds it")]
    NoStub { triple: String, looked_in: &'static str, file: String },
    /// A release config's `stubs` directory has no stub for a target it builds for.
    #[error("no stub for target {triple} in the release config's stubs directory: '{path}' does not exist; put the stub there, or remove `stubs` from the config to use this builder's own")]
    NoConfigStub { triple: String, path: PathBuf },
    /// A release builder without a stub for the target asked for.
    #[error("this builder embeds no stub for target {triple} (it embeds: {embedded}): pass --stub FILE")]
    NotEmbedded { triple: String, embedded: String },
    /// A stub embedded in this builder does not have its recorded length or sha256: the builder
    /// file was damaged after it was made.
    #[error("the stub for {triple} embedded in this builder is damaged: {problem}; this builder cannot be trusted to make installers: download it again and check it against SHA256SUMS")]
    DamagedStub { triple: String, problem: String },
    #[error("bad --go-env '{0}': expected KEY=VALUE with KEY in capitals (for example GOPROXY=off)")]
    GoEnv(String),
    #[error("refusing to overwrite the existing key '{0}': choose another --out, or pass --force to replace it (the old key is then lost)")]
    KeyExists(PathBuf),
    /// The output names a file that exists, and `--force` was not given.
    #[error("refusing to overwrite the existing file '{0}': pass --force to replace it, or choose another output")]
    OutputExists(PathBuf),
    /// The output names a directory (or a symlink to one, or ends with a `/`).
    #[error("refusing to write '{}': it is a directory: name a file (for example {})", .0.display(), .0.join("go-offline-installer").display())]
    OutputIsDirectory(PathBuf),
    /// The output is one of the command's inputs (by device and inode, through symlinks and hard
    /// links), or lies inside an input directory: refused even with `--force`.
    #[error("refusing to write '{output}': it {relation} '{input}', an input of this command; an output never replaces an input, even with --force: choose another output")]
    OutputIsInput { output: PathBuf, input: PathBuf, relation: &'static str },
    /// A download, or the release index, failed; or the tarball does not have the published sha256.
    #[error("{0}")]
    Fetch(#[from] fetch::FetchError),
    /// A tarball to build from does not have the sha256 its publisher lists for it (it changed in
    /// the cache after it was fetched and checked).
    #[error("'{path}' has sha256 {found} but {published_by} publishes {published_sha256} for {url}: it is not the published tarball")]
    NotPublished { path: PathBuf, found: String, published_sha256: String, published_by: String, url: String },
    /// `verify-sums`: SHA256SUMS.sig does not sign SHA256SUMS with the key, or a file differs
    /// from its line in SHA256SUMS.
    #[error("{0}")]
    SumsMismatch(String),
    /// Packing the payload failed (the tar stream and zstd write to memory: out of memory, or a
    /// bug).
    #[error("could not compress the payload: {0}")]
    Compress(io::Error),
    /// `attach`: the installer, the signature or the key do not go together.
    #[error("attach: {0}")]
    Attach(String),
    /// `attach`: the signature is not the expected key's over the installer's statement.
    #[error("attach: the signature '{signature}' is not key {key_id}'s signature of this installer's statement: it was made by another key or over other bytes; sign exactly the bytes of '{statement}' with the private key of --expect-key (pure Ed25519, e.g. openssl pkeyutl -sign -rawin)")]
    ForeignSignature { signature: PathBuf, key_id: String, statement: PathBuf },
    /// An installer read by `attach` is not well formed or does not verify.
    #[error("{0}")]
    Installer(#[from] format::Error),
    /// A signer could not sign (see [`signer::SignError`]).
    #[error("{0}")]
    Sign(#[from] signer::SignError),
    /// A delta larger than [`delta::WORTH`] of the full installer, not asked for.
    #[error("the delta is {delta_len} bytes, {percent}% of the full installer ({full_len} bytes{}): not worth it (a full installer carries everything for little more); pass --force-delta to write it anyway", if *estimated { ", estimated at zstd level 3; pass --full FILE for its exact size" } else { "" })]
    NotWorthIt { delta_len: u64, full_len: u64, estimated: bool, percent: u32 },
    #[error("the statement built is invalid: {0} (this is a bug)")]
    Statement(format::statement::StatementError),
    #[error("the manifest built is invalid: {0} (this is a bug)")]
    Manifest(#[from] manifest::ManifestError),
    #[error("the installer's regions do not fit a layout: {0} (this is a bug)")]
    Layout(#[from] LayoutError),
}

impl BuildError {
    pub fn io(action: &'static str, path: impl Into<PathBuf>, source: io::Error) -> BuildError {
        BuildError::Io { action, path: path.into(), source }
    }

    /// The exit code documented for this error in [`exit::TABLE`]: what the user gave us is
    /// refused with [`exit::BAD_INPUT`] (a write to the output path counts: the user chose it and
    /// the message names it); a failed or unfaithful download is [`exit::FETCH_FAILED`]; a
    /// manifest or layout we built and cannot use is our bug, [`exit::INTERNAL`].
    pub fn exit_code(&self) -> i32 {
        match self {
            BuildError::Io { .. }
            | BuildError::Source { .. }
            | BuildError::Key(_)
            | BuildError::Mismatch(_)
            | BuildError::NoStub { .. }
            | BuildError::NoConfigStub { .. }
            | BuildError::NotAStub { .. }
            | BuildError::NotEmbedded { .. }
            | BuildError::GoEnv(_)
            | BuildError::KeyExists(_)
            | BuildError::OutputExists(_)
            | BuildError::OutputIsDirectory(_)
            | BuildError::OutputIsInput { .. }
            | BuildError::NotWorthIt { .. } => exit::BAD_INPUT,
            // A malformed sha256 can only come from the release config's [sha256] table: the
            // command line's --sha256 is checked when it is parsed.
            BuildError::Fetch(fetch::FetchError::BadSha256(_)) => exit::BAD_INPUT,
            BuildError::Fetch(_) | BuildError::NotPublished { .. } => exit::FETCH_FAILED,
            BuildError::SumsMismatch(_) | BuildError::DamagedStub { .. } => exit::INTEGRITY,
            BuildError::Sign(e) => e.exit_code(),
            BuildError::Attach(_) => exit::BAD_INPUT,
            BuildError::ForeignSignature { .. } => exit::INTEGRITY,
            BuildError::Installer(e) => e.exit_code(),
            BuildError::Compress(_) | BuildError::Manifest(_) | BuildError::Statement(_) | BuildError::Layout(_) => {
                exit::INTERNAL
            }
        }
    }

    /// A short stable kebab-case name for the error's class: the `kind` of a `--json` failure,
    /// spelled as the installer spells its own (an installer's failure has the installer's name
    /// for it: `bad-signature`, `digest-mismatch`, ...), so a fleet tool reads both alike.
    pub fn kind(&self) -> String {
        let kind = match self {
            BuildError::Io { .. } => "io",
            BuildError::Source { .. } => "bad-source",
            BuildError::Key(_) => "bad-key",
            BuildError::Mismatch(_) => "mismatch",
            BuildError::NotAStub { .. } => "not-a-stub",
            BuildError::NoStub { .. } | BuildError::NoConfigStub { .. } | BuildError::NotEmbedded { .. } => "no-stub",
            BuildError::DamagedStub { .. } => "damaged-stub",
            BuildError::GoEnv(_) => "bad-go-env",
            BuildError::KeyExists(_) => "key-exists",
            BuildError::OutputExists(_) => "output-exists",
            BuildError::OutputIsDirectory(_) => "output-is-directory",
            BuildError::OutputIsInput { .. } => "output-is-input",
            BuildError::Fetch(fetch::FetchError::BadSha256(_)) => "bad-sha256",
            BuildError::Fetch(fetch::FetchError::Mismatch { .. }) | BuildError::NotPublished { .. } => {
                "sha256-mismatch"
            }
            BuildError::Fetch(_) => "fetch-failed",
            BuildError::SumsMismatch(_) => "sums-mismatch",
            BuildError::Attach(_) => "bad-attach-input",
            BuildError::ForeignSignature { .. } => "foreign-signature",
            BuildError::Installer(e) => return e.kind().to_string(),
            BuildError::Sign(e) if e.exit_code() == exit::BAD_INPUT => "bad-signer",
            BuildError::Sign(_) => "sign-failed",
            BuildError::NotWorthIt { .. } => "delta-not-worth-it",
            BuildError::Compress(_) | BuildError::Statement(_) | BuildError::Manifest(_) | BuildError::Layout(_) => {
                "internal"
            }
        };
        kind.to_string()
    }
}

/// The offline defaults written into `$GOROOT/go.env`: the go command never downloads a
/// toolchain, and never reaches a module proxy; checksum verification (GOSUMDB) stays as shipped.
/// `local+path`: a go.mod asking for a newer Go than this one runs the installed one of that
/// name found on PATH (the installer's `PREFIX/bin/go1.N.P` links), or fails naming it.
pub const OFFLINE_DEFAULTS: &[(&str, &str)] = &[("GOPROXY", "off"), ("GOTOOLCHAIN", "local+path")];

/// Options of [`build`].
#[derive(Debug, Clone)]
pub struct BuildOptions {
    /// A `go*.tar.gz` or a GOROOT directory.
    pub go: PathBuf,
    /// Stub target triple; by default the one matching the distribution.
    pub target: Option<String>,
    /// Stub file; by default the one [`stubs::resolve`] picks for the target.
    pub stub: Option<PathBuf>,
    pub output: PathBuf,
    /// `--go-env KEY=VALUE` overrides, applied after [`OFFLINE_DEFAULTS`].
    pub go_env: Vec<String>,
    /// zstd level (1..=22).
    pub level: i32,
    /// Worker threads for zstd (0: all cores).
    pub threads: u32,
    /// Independent zstd frames of the payload (1..=256), extracted in parallel by the installer.
    pub frames: u32,
    /// Build time; by default the newest mtime of the source.
    pub source_date_epoch: Option<u64>,
    /// Where the tarball was downloaded from and the sha256 published for it (recorded in the
    /// manifest; the tarball must have that sha256).
    pub provenance: Option<Provenance>,
    /// Replace an existing output (never one of the inputs: see [`check_output`]).
    pub force: bool,
    /// Files the caller read that the output must never replace, besides those named here (the
    /// signing key, `--expect-key`, `--full`).
    pub keep: Vec<PathBuf>,
}

/// Where a tarball came from (see [`format::manifest::Source`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Provenance {
    pub url: String,
    pub published_sha256: String,
    pub published_by: String,
}

/// What [`build`] produced.
#[derive(Debug, Clone, serde::Serialize)]
pub struct BuildSummary {
    pub output: PathBuf,
    pub go_version: String,
    pub goos: String,
    pub goarch: String,
    /// For `arm`, the Go toolchain's `GOARM` level, when its build information records one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub goarm: Option<String>,
    pub target: String,
    pub installer_len: u64,
    pub stub_len: u64,
    pub stub_sha256: String,
    /// Where the stub came from (embedded, a file, the checkout).
    pub stub_origin: stubs::Origin,
    pub payload_len: u64,
    pub uncompressed_len: u64,
    pub file_count: u64,
    pub signer_key_id: String,
    pub installer_sha256: String,
    /// `build --unsigned`: the statement to sign (the installer's signature is empty until
    /// `attach`).
    pub to_sign: Option<PathBuf>,
}

/// Writes a new key pair `NAME.key` (0600) and `NAME.pub` for `out` = `DIR/NAME`; returns the key id.
/// An existing key file is refused unless `force`, and then replaced atomically.
pub fn keygen(out: &Path, force: bool) -> Result<String, BuildError> {
    let key = SigningKey::generate(&mut rand_core::OsRng);
    let private = out.with_extension("key");
    let public = out.with_extension("pub");
    for p in [&private, &public] {
        check_output(p, &[], force).map_err(|e| match e {
            BuildError::OutputExists(p) => BuildError::KeyExists(p),
            e => e,
        })?;
    }
    if let Some(dir) = out.parent().filter(|d| !d.as_os_str().is_empty()) {
        fs::create_dir_all(dir).map_err(|e| BuildError::io("create", dir, e))?;
    }
    if force {
        write_file(&private, keys::private_key_pem(&key).as_bytes(), 0o600)?;
    } else {
        // O_EXCL: a key that appeared since the check is not replaced either.
        let mut f = fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&private)
            .map_err(|e| BuildError::io("create", &private, e))?;
        f.write_all(keys::private_key_pem(&key).as_bytes()).map_err(|e| BuildError::io("write", &private, e))?;
    }
    write_file(&public, keys::public_key_pem(&key.verifying_key()).as_bytes(), 0o644)?;
    Ok(keys::key_id(&key.verifying_key()))
}

/// The identity of the file `path` names, through symlinks: device and inode.
fn file_id(path: &Path) -> Option<(u64, u64)> {
    use std::os::unix::fs::MetadataExt;
    fs::metadata(path).ok().map(|m| (m.dev(), m.ino()))
}

/// Refuses to write `output` where that would destroy something: when it is one of `inputs`
/// (the same file by device and inode, so through a symlink or a hard link too) or lies inside an
/// input directory (a GOROOT, a module cache), always; when anything else is there, unless
/// `force`. Every command that writes a file calls it before it writes (the file itself is then
/// written beside and renamed into place). Inputs that do not exist are skipped.
pub fn check_output(output: &Path, inputs: &[&Path], force: bool) -> Result<(), BuildError> {
    let protected: Vec<(&Path, (u64, u64))> = inputs.iter().filter_map(|p| file_id(p).map(|id| (*p, id))).collect();
    let input_with = |id: (u64, u64)| protected.iter().find(|(_, i)| *i == id).map(|(p, _)| p.to_path_buf());
    if let Some(input) = file_id(output).and_then(input_with) {
        return Err(BuildError::OutputIsInput { output: output.into(), input, relation: "is" });
    }
    let dir = output.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
    if let Ok(dir) = fs::canonicalize(dir) {
        if let Some(input) = dir.ancestors().filter_map(file_id).find_map(input_with) {
            return Err(BuildError::OutputIsInput { output: output.into(), input, relation: "is inside" });
        }
    }
    // A symlink to a directory counts as one (renaming onto it would replace the link), and so
    // does a name that ends with a slash, which can only name a directory.
    if fs::metadata(output).is_ok_and(|m| m.is_dir()) || output.as_os_str().as_encoded_bytes().ends_with(b"/") {
        return Err(BuildError::OutputIsDirectory(output.into()));
    }
    match fs::symlink_metadata(output) {
        Ok(_) if !force => Err(BuildError::OutputExists(output.into())),
        _ => Ok(()),
    }
}

/// Writes a public key file (SPKI PEM), refusing to overwrite one unless `force`.
pub fn write_public_key(path: &Path, pem: &str, force: bool) -> Result<(), BuildError> {
    if force {
        return write_file(path, pem.as_bytes(), 0o644);
    }
    let mut f = fs::OpenOptions::new().write(true).create_new(true).open(path).map_err(|e| match e.kind() {
        io::ErrorKind::AlreadyExists => BuildError::KeyExists(path.into()),
        _ => BuildError::io("create", path, e),
    })?;
    f.write_all(pem.as_bytes()).map_err(|e| BuildError::io("write", path, e))
}

/// What [`attach`] did.
#[derive(Debug, Clone, serde::Serialize)]
pub struct AttachSummary {
    pub installer: PathBuf,
    pub signer_key_id: String,
    pub installer_sha256: String,
}

/// Puts a signature made outside the builder into an installer built with `--unsigned`: checks
/// that the installer was built for `expect` (its public key), that the signature is that key's
/// over the installer's statement, writes it into a copy, verifies the copy completely as an
/// installer signed by `expect`, and only then replaces the installer with it. Any failure leaves
/// the installer as it was.
pub fn attach(installer: &Path, signature: &Path, expect: &Path) -> Result<AttachSummary, BuildError> {
    // The installer is rewritten in place (that is the command's job), never over its other inputs.
    check_output(installer, &[signature, expect], true)?;
    let key = keys::read_public_key(expect)?;
    let key_id = keys::key_id(&key);
    let file = fs::File::open(installer).map_err(|e| BuildError::io("read", installer, e))?;
    let parts = format::verify::read_parts(&file, installer)?;
    if parts.layout.version == layout::FORMAT_V1 {
        return Err(BuildError::Attach(format!(
            "'{}' is an installer of format version 1, which is signed when it is built: there is nothing to attach",
            installer.display()
        )));
    }
    if parts.signature != [0u8; 64] {
        return Err(BuildError::Attach(format!(
            "'{}' is signed already: attach signs only what `build --unsigned` wrote",
            installer.display()
        )));
    }
    let manifest = Manifest::parse(&parts.manifest_bytes).map_err(format::Error::from)?;
    if manifest.signer_key_id != key_id {
        return Err(BuildError::Attach(format!(
            "'{}' was built to be signed by key {} but --expect-key '{}' is key {key_id}: pass the public key it was built for",
            installer.display(),
            manifest.signer_key_id,
            expect.display()
        )));
    }
    let bytes = fs::read(signature).map_err(|e| BuildError::io("read the signature", signature, e))?;
    let raw = signer::parse_detached_signature(&bytes).map_err(|problem| {
        BuildError::Attach(format!("the signature '{}' is unusable: {problem}", signature.display()))
    })?;
    if key.verify_strict(&parts.statement, &ed25519_dalek::Signature::from_bytes(&raw)).is_err() {
        return Err(BuildError::ForeignSignature {
            signature: signature.into(),
            key_id,
            statement: to_sign_path(installer),
        });
    }
    let dir = installer.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let mut tmp = tempfile::Builder::new()
        .prefix(".go-offline-installer.")
        .tempfile_in(dir)
        .map_err(|e| BuildError::io("create a file in", dir, e))?;
    let mut source = &file;
    io::copy(&mut source, tmp.as_file_mut()).map_err(|e| BuildError::io("copy", installer, e))?;
    std::os::unix::fs::FileExt::write_all_at(tmp.as_file(), &raw, parts.layout.signature.start)
        .map_err(|e| BuildError::io("write", tmp.path(), e))?;
    let mode = file.metadata().map_err(|e| BuildError::io("read", installer, e))?.permissions();
    tmp.as_file().set_permissions(mode).map_err(|e| BuildError::io("chmod", tmp.path(), e))?;
    tmp.as_file().sync_all().map_err(|e| BuildError::io("sync", tmp.path(), e))?;
    let trust = format::keys::TrustStore::from_keys(vec![format::keys::TrustedKey {
        key,
        id: key_id.clone(),
        origin: expect.display().to_string(),
    }]);
    // The whole check, statement against manifest included, as the installer will make it.
    let verified = format::verify::verify(tmp.as_file(), tmp.path(), &trust)?;
    let installer_sha256 = verified.file_sha256().to_string();
    tmp.persist(installer).map_err(|e| BuildError::io("write", installer, e.error))?;
    // The statement beside it has served its purpose; one that differs is not ours to remove.
    let beside = to_sign_path(installer);
    if fs::read(&beside).is_ok_and(|b| b == parts.statement) {
        let _ = fs::remove_file(&beside);
    }
    Ok(AttachSummary { installer: installer.into(), signer_key_id: key_id, installer_sha256 })
}

/// Parses `--go-env` arguments on top of the offline defaults.
pub fn go_env_overrides(args: &[String]) -> Result<BTreeMap<String, String>, BuildError> {
    let mut env: BTreeMap<String, String> =
        OFFLINE_DEFAULTS.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    for arg in args {
        let (k, v) = arg.split_once('=').ok_or_else(|| BuildError::GoEnv(arg.clone()))?;
        let key_ok = !k.is_empty() && k.bytes().all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_');
        if !key_ok || v.bytes().any(|b| b.is_ascii_control()) {
            return Err(BuildError::GoEnv(arg.clone()));
        }
        env.insert(k.to_string(), v.to_string());
    }
    Ok(env)
}

/// Rewrites a `go.env` file: values of keys in `set` replace the shipped ones in place, keys not
/// present are appended. Returns the new text and every KEY=VALUE it then defines.
pub fn rewrite_go_env(original: &str, set: &BTreeMap<String, String>) -> (String, BTreeMap<String, String>) {
    let mut out = String::new();
    let mut done = std::collections::BTreeSet::new();
    let mut all = BTreeMap::new();
    for line in original.lines() {
        let key = line.split_once('=').map(|(k, _)| k.trim()).filter(|k| !k.starts_with('#') && !k.is_empty());
        match key.and_then(|k| set.get_key_value(k)) {
            Some((k, v)) => {
                out.push_str(&format!("{k}={v}\n"));
                done.insert(k.clone());
                all.insert(k.clone(), v.clone());
            }
            None => {
                out.push_str(line);
                out.push('\n');
                if let Some((k, v)) = line.split_once('=').filter(|(k, _)| !k.trim_start().starts_with('#')) {
                    all.insert(k.trim().to_string(), v.trim().to_string());
                }
            }
        }
    }
    let missing: Vec<_> = set.iter().filter(|(k, _)| !done.contains(*k)).collect();
    if !missing.is_empty() {
        out.push_str(
            "\n# Offline defaults set by go-offline-builder. The environment and 'go env -w' override them.\n",
        );
        for (k, v) in missing {
            out.push_str(&format!("{k}={v}\n"));
            all.insert(k.clone(), v.clone());
        }
    }
    (out, all)
}

/// How an installer gets its signature.
#[derive(Debug, Clone, Copy)]
pub enum Seal<'a> {
    /// Signed now, by this signer (the signature is verified before anything is written).
    Now(&'a Signer),
    /// Signed later, outside the builder, by this key: the installer is written with an empty
    /// signature and the statement to sign beside it, `OUTPUT.tosign`; `attach` puts the
    /// signature in.
    Later(&'a VerifyingKey),
}

impl Seal<'_> {
    /// The key file the signer reads, if it is one (an input no output may replace).
    fn key_file(&self) -> Option<&Path> {
        match self {
            Seal::Now(signer) => signer.key_file(),
            Seal::Later(_) => None,
        }
    }

    fn public_key(&self) -> &VerifyingKey {
        match self {
            Seal::Now(signer) => signer.public_key(),
            Seal::Later(key) => key,
        }
    }
}

/// The file beside an unsigned installer that holds the statement to sign: `OUTPUT.tosign`.
pub fn to_sign_path(output: &Path) -> PathBuf {
    let mut name = output.as_os_str().to_owned();
    name.push(".tosign");
    PathBuf::from(name)
}

/// Builds an installer.
pub fn build(opts: &BuildOptions, seal_with: Seal) -> Result<BuildSummary, BuildError> {
    let Prepared { tree, manifest, stub, .. } = prepare(opts)?;
    check_build_output(&opts.output, opts, &stub, &[], seal_with)?;
    seal(manifest, &tree, &stub, seal_with, Compression::of(opts), &opts.output)
}

/// [`check_output`] for a build's `output` (and, signed later, `OUTPUT.tosign`): its inputs are
/// the distribution, the stub file, the signing key file, `opts.keep` and `more`.
pub(crate) fn check_build_output(
    output: &Path,
    opts: &BuildOptions,
    stub: &stubs::Stub,
    more: &[&Path],
    seal_with: Seal,
) -> Result<(), BuildError> {
    let mut inputs: Vec<&Path> = vec![&opts.go];
    inputs.extend(stub.origin.path());
    inputs.extend(opts.stub.as_deref());
    inputs.extend(seal_with.key_file());
    inputs.extend(opts.keep.iter().map(PathBuf::as_path));
    inputs.extend(more);
    check_output(output, &inputs, opts.force)?;
    if let Seal::Later(_) = seal_with {
        check_output(&to_sign_path(output), &inputs, opts.force)?;
    }
    Ok(())
}

/// A Go distribution read and made ready to pack: its tree with the offline `go.env`, the
/// manifest to complete, the stub.
pub(crate) struct Prepared {
    pub tree: Tree,
    pub manifest: Manifest,
    pub stub: stubs::Stub,
    /// The `--go-env` overrides applied (a delta's base gets the same).
    pub overrides: BTreeMap<String, String>,
}

/// Reads, identifies and checks the distribution of `opts`, and writes its `go.env`.
pub(crate) fn prepare(opts: &BuildOptions) -> Result<Prepared, BuildError> {
    let (mut tree, source) = source::read(&opts.go)?;
    let dist = identify(&tree, &opts.go)?;
    let target = choose_target(opts.target.as_deref(), &dist)?;
    let stub = stubs::resolve(&target, opts.stub.as_deref())?;
    if let Some(p) = &opts.provenance {
        check_published(&opts.go, &source, p)?;
    }
    let overrides = go_env_overrides(&opts.go_env)?;
    let go_env = offline_go_env(&mut tree, &overrides);
    let created = opts.source_date_epoch.unwrap_or(tree.newest_mtime);
    let manifest = Manifest {
        format: manifest::MANIFEST_FORMAT,
        product: Product::Go,
        go_version: dist.go_version,
        goos: dist.goos.into(),
        goarch: dist.goarch.into(),
        goarm: dist.goarm.clone(),
        target: target.triple.into(),
        created,
        signer_key_id: String::new(),
        stub: Region { len: 0, sha256: String::new() },
        payload: Payload::default(),
        source: Source {
            kind: source.kind.name().into(),
            name: source.name.clone(),
            sha256: source.sha256.clone(),
            url: opts.provenance.as_ref().map(|p| p.url.clone()),
            published_sha256: opts.provenance.as_ref().map(|p| p.published_sha256.clone()),
            published_by: opts.provenance.as_ref().map(|p| p.published_by.clone()),
        },
        go_env,
        file_count: 0,
        files: Vec::new(),
        modules: None,
        delta: None,
    };
    Ok(Prepared { tree, manifest, stub, overrides })
}

/// Writes the offline defaults and `overrides` into the tree's `go.env`, so they are signed and
/// listed like every other file; returns every setting it holds.
pub(crate) fn offline_go_env(tree: &mut Tree, overrides: &BTreeMap<String, String>) -> BTreeMap<String, String> {
    let original_env = tree.file("go.env").map(|b| String::from_utf8_lossy(b).into_owned()).unwrap_or_default();
    let (go_env_text, go_env) = rewrite_go_env(&original_env, overrides);
    tree.nodes.insert("go.env".into(), Node::File { mode: 0o644, data: go_env_text.into_bytes() });
    go_env
}

/// What a Go distribution says it is.
struct Distribution {
    /// The first line of `VERSION`, e.g. `go1.27.3`.
    go_version: String,
    goos: &'static str,
    /// From the ELF header of `bin/go`.
    goarch: &'static str,
    /// For `arm`, the `GOARM` level in `bin/go`'s build information, when it records one.
    goarm: Option<String>,
}

/// Reads the version and platform of the Go distribution `tree`, read from `go`; refuses a tree
/// that is not a Linux Go distribution.
fn identify(tree: &Tree, go: &Path) -> Result<Distribution, BuildError> {
    let go_version = tree
        .file("VERSION")
        .and_then(|v| std::str::from_utf8(v).ok())
        .and_then(|v| v.lines().next())
        .map(str::to_string)
        .filter(|v| manifest::is_go_version(v))
        .ok_or_else(|| BuildError::Source {
            path: go.join("VERSION"),
            problem: "is missing or does not start with a Go version line: not a Go distribution".into(),
        })?;
    // A Windows distribution has bin/go.exe (a PE file), every other one bin/go (ELF here).
    if let Some(exe) = tree.file("bin/go.exe").filter(|_| tree.file("bin/go").is_none()) {
        let bad_exe = |problem: String| BuildError::Source { path: go.join("bin/go.exe"), problem };
        let machine = format::platform::pe_machine(exe).ok_or_else(|| bad_exe("is not a PE executable".into()))?;
        let goarch = format::platform::pe_goarch(machine)
            .ok_or_else(|| bad_exe(format!("is for PE machine {machine:#06x}, which Go does not ship for Windows")))?;
        return Ok(Distribution { go_version, goos: "windows", goarch, goarm: None });
    }
    let bad_go = |problem: String| BuildError::Source { path: go.join("bin/go"), problem };
    let go_bin =
        tree.file("bin/go").ok_or_else(|| bad_go("is missing (and so is bin/go.exe): not a Go distribution".into()))?;
    let elf = elf_machine(go_bin).ok_or_else(|| {
        bad_go("is not an ELF executable: only Linux and Windows Go distributions are supported".into())
    })?;
    let goarch =
        elf.goarch().ok_or_else(|| bad_go(format!("is for ELF machine {}, which Go does not support", elf.machine)))?;
    let goarm =
        (goarch == "arm").then(|| format::platform::go_build_setting(go_bin, "GOARM").map(str::to_string)).flatten();
    Ok(Distribution { go_version, goos: "linux", goarch, goarm })
}

/// The stub target: `requested` (a triple), else the one for the distribution's platform; refuses
/// a target for another platform than the distribution's.
fn choose_target(requested: Option<&str>, dist: &Distribution) -> Result<Target, BuildError> {
    let Distribution { go_version, goos, goarch, .. } = dist;
    let target = match requested {
        Some(t) => Target::from_triple(t).ok_or_else(|| {
            let known: Vec<_> = format::platform::TARGETS.iter().map(|t| t.triple).collect();
            BuildError::Mismatch(format!("unknown target '{t}': supported targets are {}", known.join(", ")))
        })?,
        None => Target::from_go(goos, goarch).ok_or_else(|| {
            let known: Vec<_> = format::platform::TARGETS.iter().map(|t| format!("{}/{}", t.goos, t.goarch)).collect();
            BuildError::Mismatch(format!(
                "the Go distribution is {go_version} {goos}/{goarch}, and this builder makes installers for {} only: there is no stub for {goos}/{goarch} yet",
                known.join(", ")
            ))
        })?,
    };
    if target.goarch != *goarch || target.goos != *goos {
        return Err(BuildError::Mismatch(format!(
            "the Go distribution is {go_version} {goos}/{goarch} but the target {} is {}/{}: build with the distribution for {}/{} or pass --target for {goos}/{goarch}",
            target.triple, target.goos, target.goarch, target.goos, target.goarch
        )));
    }
    Ok(target)
}

/// Refuses a source (read from `go`) that is not the tarball its publisher lists.
fn check_published(go: &Path, source: &source::SourceInfo, p: &Provenance) -> Result<(), BuildError> {
    if source.sha256.as_deref() == Some(p.published_sha256.as_str()) {
        return Ok(());
    }
    Err(BuildError::NotPublished {
        path: go.to_path_buf(),
        found: source.sha256.clone().unwrap_or_else(|| "(a directory, not a tarball)".into()),
        published_sha256: p.published_sha256.clone(),
        published_by: p.published_by.clone(),
        url: p.url.clone(),
    })
}

/// How to compress a payload.
#[derive(Debug, Clone, Copy)]
pub struct Compression {
    /// zstd level (1..=22).
    pub level: i32,
    /// Worker threads for zstd (0: all cores).
    pub threads: u32,
    /// Independent zstd frames (1..=256).
    pub frames: u32,
}

impl Compression {
    fn of(opts: &BuildOptions) -> Compression {
        Compression { level: opts.level, threads: opts.threads, frames: opts.frames }
    }
}

/// Packs `tree` into the payload, completes `manifest` with the payload, the stub, the entries
/// and the signer, signs its statement (or leaves that for later, see [`Seal::Later`]), and
/// writes the installer to `output`.
pub(crate) fn seal(
    manifest: Manifest,
    tree: &Tree,
    stub: &stubs::Stub,
    seal_with: Seal,
    compression: Compression,
    output: &Path,
) -> Result<BuildSummary, BuildError> {
    seal_checked(manifest, tree, stub, seal_with, compression, output, &|_| Ok(()))
}

/// [`seal`], with `admit` asked, before anything is signed or written, whether an installer of
/// that many bytes is wanted.
pub(crate) fn seal_checked(
    mut manifest: Manifest,
    tree: &Tree,
    stub: &stubs::Stub,
    seal_with: Seal,
    compression: Compression,
    output: &Path,
    admit: &dyn Fn(u64) -> Result<(), BuildError>,
) -> Result<BuildSummary, BuildError> {
    let key_id = keys::key_id(seal_with.public_key());
    let Packed { payload, uncompressed_len, entries, frames } = pack(tree, manifest.created, compression)?;
    manifest.signer_key_id = key_id.clone();
    let stub_bytes = &*format::authenticode::as_built(&stub.bytes);
    manifest.stub = Region { len: stub_bytes.len() as u64, sha256: source::sha256_hex(stub_bytes) };
    manifest.payload = Payload {
        compression: "zstd".into(),
        len: payload.len() as u64,
        sha256: source::sha256_hex(&payload),
        uncompressed_len,
        window_log: window_log(compression.frames),
        frames: Some(frames),
    };
    manifest.file_count = entries.len() as u64;
    manifest.files = entries;
    manifest.validate()?;
    let manifest_bytes = manifest.to_canonical_json();
    // Round-trip through the reader's parser: what we write is what the installer accepts.
    manifest = Manifest::parse(&manifest_bytes)?;
    let statement = Statement::for_manifest(&manifest_bytes).map_err(BuildError::Statement)?.encode();
    let len =
        [stub_bytes.len(), payload.len(), manifest_bytes.len(), statement.len(), 64, layout::TRAILER_LEN as usize];
    admit(len.iter().map(|&n| n as u64).sum())?;
    // Signed (and the signature verified) before anything is written: a signer that fails
    // leaves no output.
    let (signature, to_sign) = match seal_with {
        Seal::Now(signer) => (signer.sign(&statement)?, None),
        Seal::Later(_) => ([0u8; 64], Some(to_sign_path(output))),
    };
    let assembled = Assembled::new(stub_bytes, &payload, &manifest_bytes, &statement, &signature)?;
    let parts = assembled.parts();
    let mut whole = Sha256::new();
    for part in parts {
        whole.update(part);
    }
    if let Some(path) = &to_sign {
        write_file(path, &statement, 0o644)?;
    }
    write_output(output, &parts)?;
    Ok(BuildSummary {
        output: output.to_path_buf(),
        go_version: manifest.go_version,
        goos: manifest.goos,
        goarch: manifest.goarch,
        goarm: manifest.goarm,
        target: manifest.target,
        installer_len: assembled.layout.file_len(),
        stub_len: stub_bytes.len() as u64,
        stub_sha256: stub.sha256.clone(),
        stub_origin: stub.origin.clone(),
        payload_len: payload.len() as u64,
        uncompressed_len,
        file_count: manifest.file_count,
        signer_key_id: key_id,
        installer_sha256: hex::encode(whole.finalize()),
        to_sign,
    })
}

/// Packs the tree into a tar stream cut, at entry boundaries, into `opts.frames` parts of about
/// the same size, each compressed as its own zstd frame (content size in its header, so a decoder
/// never allocates more window than the frame needs); returns the frames back to back, the tar's
/// length, the manifest entries in payload order and the frame table.
fn pack(tree: &Tree, mtime: u64, opts: Compression) -> Result<Packed, BuildError> {
    let TarStream { stream, entries, ends } = tar_stream(tree, mtime)?;
    let cuts = cut_points(&ends, stream.len(), opts.frames.clamp(1, manifest::MAX_FRAMES as u32) as usize);
    let mut payload = Vec::new();
    let mut frames = Vec::with_capacity(cuts.len());
    let (mut first_entry, mut start) = (0usize, 0usize);
    for (entry_end, end) in cuts {
        let part = &stream[start..end];
        let compressed = compress_frame(part, opts)?;
        frames.push(Frame {
            len: compressed.len() as u64,
            sha256: source::sha256_hex(&compressed),
            uncompressed_len: part.len() as u64,
            entries: (entry_end - first_entry) as u64,
        });
        payload.extend_from_slice(&compressed);
        (first_entry, start) = (entry_end, end);
    }
    Ok(Packed { payload, uncompressed_len: stream.len() as u64, entries, frames })
}

/// A tree as one tar stream, with what [`pack`] needs to cut it into frames.
struct TarStream {
    /// The tar, with its end-of-archive blocks.
    stream: Vec<u8>,
    /// The manifest entries, in the tar's order.
    entries: Vec<Entry>,
    /// The tar offset where each entry ends.
    ends: Vec<usize>,
}

/// The tree as one tar stream: fixed owners, one mtime, in path order.
fn tar_stream(tree: &Tree, mtime: u64) -> Result<TarStream, BuildError> {
    let counter = CountingWriter { inner: Vec::new(), count: 0 };
    let mut tar = tar::Builder::new(counter);
    let mut entries = Vec::with_capacity(tree.nodes.len());
    let mut ends = Vec::with_capacity(tree.nodes.len());
    let terr = BuildError::Compress;
    for (path, node) in &tree.nodes {
        let mut header = tar::Header::new_gnu();
        header.set_mtime(mtime);
        header.set_uid(0);
        header.set_gid(0);
        match node {
            Node::File { mode, data } => {
                header.set_entry_type(tar::EntryType::Regular);
                header.set_mode(*mode);
                header.set_size(data.len() as u64);
                tar.append_data(&mut header, path, &data[..]).map_err(terr)?;
            }
            Node::Dir => {
                header.set_entry_type(tar::EntryType::Directory);
                header.set_mode(0o755);
                header.set_size(0);
                tar.append_data(&mut header, path, io::empty()).map_err(terr)?;
            }
            Node::Symlink { target } => {
                header.set_entry_type(tar::EntryType::Symlink);
                header.set_mode(0o777);
                header.set_size(0);
                tar.append_link(&mut header, path, target).map_err(terr)?;
            }
        }
        entries.push(entry_of(path, node));
        ends.push(tar.get_ref().count as usize);
    }
    let stream = tar.into_inner().map_err(terr)?.inner;
    Ok(TarStream { stream, entries, ends })
}

/// The manifest entry of one node of a tree.
pub(crate) fn entry_of(path: &str, node: &Node) -> Entry {
    match node {
        Node::File { mode, data } => Entry::file(path.into(), *mode, data.len() as u64, source::sha256_hex(data)),
        Node::Dir => Entry::dir(path.into(), 0o755),
        Node::Symlink { target } => Entry::symlink(path.into(), target.clone()),
    }
}

/// One zstd frame of `part`: long-distance matching in the window of [`window_log`], the content
/// size in the header, no checksum.
fn compress_frame(part: &[u8], opts: Compression) -> Result<Vec<u8>, BuildError> {
    let threads = match opts.threads {
        0 => std::thread::available_parallelism().map(|n| n.get() as u32).unwrap_or(1),
        n => n,
    };
    let zio = BuildError::Compress;
    let mut encoder = zstd::stream::write::Encoder::new(Vec::new(), opts.level).map_err(zio)?;
    encoder.long_distance_matching(true).map_err(zio)?;
    encoder.window_log(window_log(opts.frames)).map_err(zio)?;
    // No xxhash: the frame's sha256 and every file's are signed and checked.
    encoder.include_checksum(false).map_err(zio)?;
    encoder.include_contentsize(true).map_err(zio)?;
    encoder.set_pledged_src_size(Some(part.len() as u64)).map_err(zio)?;
    encoder.multithread(threads).map_err(zio)?;
    encoder.write_all(part).map_err(zio)?;
    encoder.finish().map_err(zio)
}

/// What unpacking one entry costs beyond its bytes (creating, writing, closing and chmod-ing a
/// file), in bytes of data that take as long: measured on tmpfs, where the installer is fastest.
const ENTRY_COST: usize = 4096;

/// Where to cut a tar stream whose entries end at `ends` into `n` frames that take about as
/// long to unpack (bytes plus [`ENTRY_COST`] per entry; one frame of small files takes longer
/// than one of as many bytes in a few binaries): `(entries so far, tar offset)` for each frame, the
/// last one holding the end-of-archive blocks of a stream of `len` bytes.
fn cut_points(ends: &[usize], len: usize, n: usize) -> Vec<(usize, usize)> {
    let cost = |i: usize| ends[i] + (i + 1) * ENTRY_COST; // of entries 0..=i
    let total = len + ends.len() * ENTRY_COST;
    let mut cuts: Vec<(usize, usize)> = Vec::new();
    for k in 1..n {
        let target = total * k / n;
        // The entry end nearest the target.
        let at = (0..ends.len()).find(|&i| cost(i) >= target);
        let nearest = at.map(|i| if i > 0 && target - cost(i - 1) < cost(i) - target { i - 1 } else { i });
        if let Some(i) = nearest {
            if cuts.last().is_none_or(|&(c, _)| c < i + 1) && i + 1 < ends.len() {
                cuts.push((i + 1, ends[i]));
            }
        }
    }
    cuts.push((ends.len(), len));
    cuts
}

/// What [`pack`] made.
struct Packed {
    payload: Vec<u8>,
    uncompressed_len: u64,
    entries: Vec<Entry>,
    frames: Vec<Frame>,
}

/// Writes the installer atomically (temp file beside it, then rename), mode 0755.
pub(crate) fn write_output(output: &Path, parts: &[&[u8]]) -> Result<(), BuildError> {
    write_parts(output, parts, 0o755)
}

/// Writes `bytes` to `path` atomically with `mode`.
pub(crate) fn write_file(path: &Path, bytes: &[u8], mode: u32) -> Result<(), BuildError> {
    write_parts(path, &[bytes], mode)
}

fn write_parts(output: &Path, parts: &[&[u8]], mode: u32) -> Result<(), BuildError> {
    let dir = output.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let mut tmp = tempfile::Builder::new()
        .prefix(".go-offline-installer.")
        .tempfile_in(dir)
        .map_err(|e| BuildError::io("create a file in", dir, e))?;
    for part in parts {
        tmp.write_all(part).map_err(|e| BuildError::io("write", output, e))?;
    }
    tmp.as_file().set_permissions(fs::Permissions::from_mode(mode)).map_err(|e| BuildError::io("chmod", output, e))?;
    tmp.as_file().sync_all().map_err(|e| BuildError::io("sync", output, e))?;
    tmp.persist(output).map_err(|e| BuildError::io("write", output, e.error))?;
    Ok(())
}

struct CountingWriter<W> {
    inner: W,
    count: u64,
}

impl<W: Write> Write for CountingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.count += n as u64;
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_cut_at_entry_ends_by_cost() {
        let k = ENTRY_COST;
        // (entry ends, stream length, frames, expected cuts)
        type Case<'a> = (&'a [usize], usize, usize, &'a [(usize, usize)]);
        let cases: &[Case] = &[
            (&[100, 200], 1024, 1, &[(2, 1024)]),
            // Two equal entries: the cut falls after the first.
            (&[10 * k, 20 * k], 20 * k + 1024, 2, &[(1, 10 * k), (2, 20 * k + 1024)]),
            // Twenty small entries then one big one of as many bytes: the small ones weigh more,
            // so the first frame ends before the big entry's bytes are half of the stream.
            (
                &(1..=20).map(|i| i * 512).chain([20 * 512 + 30 * k]).collect::<Vec<_>>(),
                20 * 512 + 30 * k + 1024,
                2,
                &[(20, 20 * 512), (21, 20 * 512 + 30 * k + 1024)],
            ),
            // More frames than entries: one frame per entry, never an empty one.
            (&[512, 1024], 2048, 8, &[(1, 512), (2, 2048)]),
        ];
        for (ends, len, n, want) in cases {
            assert_eq!(cut_points(ends, *len, *n), *want, "ends {ends:?}, {n} frames");
        }
    }

    /// Every way an output can be an input is refused, with or without force; an existing
    /// output needs force; a new one is fine.
    #[test]
    fn outputs_that_are_inputs_or_exist() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let (key, tarball, goroot, other) = (d.join("org.key"), d.join("go.tar.gz"), d.join("goroot"), d.join("other"));
        fs::write(&key, "key").unwrap();
        fs::write(&tarball, "tarball").unwrap();
        fs::write(&other, "someone's").unwrap();
        fs::create_dir_all(goroot.join("bin")).unwrap();
        std::os::unix::fs::symlink(&key, d.join("key-link")).unwrap();
        fs::create_dir(d.join("elsewhere")).unwrap();
        std::os::unix::fs::symlink(d.join("elsewhere"), d.join("dir-link")).unwrap();
        fs::hard_link(&tarball, d.join("tarball-link")).unwrap();
        let inputs: &[&Path] = &[&key, &tarball, &goroot, &d.join("missing-input")];
        // (output, force, refused as)
        let cases: &[(PathBuf, bool, Option<&str>)] = &[
            (key.clone(), false, Some("it is '")),
            (key.clone(), true, Some("it is '")),
            (d.join("key-link"), true, Some("it is '")),
            (d.join("tarball-link"), true, Some("it is '")),
            (d.join("./go.tar.gz"), true, Some("it is '")),
            (goroot.join("bin/go-offline-installer"), true, Some("it is inside '")),
            (goroot.clone(), true, Some("it is '")),
            (other.clone(), false, Some("refusing to overwrite the existing file")),
            (other.clone(), true, None),
            (d.to_path_buf(), true, Some("it is a directory")),
            (d.join("dir-link"), true, Some("it is a directory")),
            (d.join("new-dir/"), true, Some("it is a directory: name a file (for example")),
            (d.join("new"), false, None),
        ];
        for (output, force, refused) in cases {
            let got = check_output(output, inputs, *force);
            match (got, refused) {
                (Ok(()), None) => {}
                (Err(e), Some(said)) => {
                    assert_eq!(e.exit_code(), exit::BAD_INPUT, "{output:?}");
                    assert!(e.to_string().contains(said), "{output:?} {force}: {e}");
                }
                (got, _) => panic!("{output:?} (force {force}): {got:?}, want {refused:?}"),
            }
        }
        assert_eq!(fs::read(&key).unwrap(), b"key");
    }

    #[test]
    fn go_env_keeps_comments_and_sumdb() {
        let shipped = "# comment\nGOPROXY=https://mirror.example,direct\nGOSUMDB=sum.example\n\nGOTOOLCHAIN=auto\n";
        let set = go_env_overrides(&["GOFLAGS=-mod=mod".into()]).unwrap();
        let (text, all) = rewrite_go_env(shipped, &set);
        assert_eq!(
            text,
            "# comment\nGOPROXY=off\nGOSUMDB=sum.example\n\nGOTOOLCHAIN=local+path\n\n# Offline defaults set by go-offline-builder. The environment and 'go env -w' override them.\nGOFLAGS=-mod=mod\n"
        );
        assert_eq!(all.get("GOSUMDB").map(String::as_str), Some("sum.example"));
        assert_eq!(all.get("GOPROXY").map(String::as_str), Some("off"));
        assert!(go_env_overrides(&["lower=x".into()]).is_err());
        assert!(go_env_overrides(&["NOEQUALS".into()]).is_err());
    }
}
