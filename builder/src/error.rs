//! The builder's errors: [`BuildError`], everything that can stop a command, and [`SignError`],
//! everything a signer can refuse. Each variant chooses its exit code here ([`exit::TABLE`]) and
//! names the file and the fix in its message.
//!
//! This module is at the bottom of the crate: it knows the `format`, `fetch` and key errors it
//! wraps and [`exit`], and no command. ([`SignError`] lives here rather than in `signer` so that
//! `signer` can return a [`BuildError`] without an import circle.)

use std::{io, path::PathBuf};

use format::{
    keys::{self, KeyError},
    layout::LayoutError,
    manifest,
};

use crate::exit;

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
    /// Packing the payload failed (the tar stream and its compression write to memory: out of memory, or a
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
    /// A signer could not sign (see [`SignError`]).
    #[error("{0}")]
    Sign(#[from] SignError),
    /// A delta larger than `delta::WORTH` of the full installer, not asked for.
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

/// Why a signer could not sign. Every message names the signer and the fix.
#[derive(Debug, thiserror::Error)]
pub enum SignError {
    /// The signer string itself is wrong.
    #[error("bad signer '{spec}': {problem}: {fix}")]
    Spec { spec: String, problem: String, fix: String },
    /// A key file that cannot be read or is not a PKCS#8 Ed25519 key.
    #[error("{0}")]
    File(#[from] KeyError),
    /// The token's module, or the server, cannot be reached.
    #[error("signer {signer}: {problem}: {fix}")]
    Unreachable { signer: String, problem: String, fix: String },
    /// The PIN or token is refused.
    #[error("signer {signer}: {problem}: {fix}")]
    Denied { signer: String, problem: String, fix: String },
    /// The token, or the key, is not there.
    #[error("signer {signer}: {problem}: {fix}")]
    NoKey { signer: String, problem: String, fix: String },
    /// The key is not an Ed25519 key.
    #[error("signer {signer}: the key is {found}, not Ed25519: installers are signed with Ed25519 keys only; make one with `go-offline-builder keygen --key {signer}` under another name")]
    KeyType { signer: String, found: String },
    /// The signer's key is not the one `--expect-key` names.
    #[error("signer {signer} holds key {found} but --expect-key is key {expected}: refusing to sign with another key than the one the installers' hosts trust; check the key label or id, or the --expect-key file")]
    NotExpected { signer: String, found: String, expected: String },
    /// The signer answered with bytes that are not a valid signature by its key.
    #[error("signer {signer} returned a signature that does not verify with its public key {key_id}; nothing was written: the signer is faulty or not the key it claims to be")]
    BadSignature { signer: String, key_id: String },
    /// `keygen` into a token or engine that already has a key of that name.
    #[error("signer {signer}: {problem}: refusing to overwrite it; choose another label, id or name")]
    KeyExists { signer: String, problem: String },
    /// Anything else the token or server refused.
    #[error("signer {signer}: {problem}")]
    Refused { signer: String, problem: String },
}

impl SignError {
    /// [`exit::BAD_INPUT`] for what the user wrote (the spec, a key file, a name taken);
    /// [`exit::SIGN_FAILED`] for everything a signer did.
    pub fn exit_code(&self) -> i32 {
        match self {
            SignError::Spec { .. } | SignError::File(_) | SignError::KeyExists { .. } => exit::BAD_INPUT,
            _ => exit::SIGN_FAILED,
        }
    }
}
