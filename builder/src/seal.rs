//! Sealing: how an installer gets its signature, and the one place that puts an installer file
//! together.
//!
//! `seal` packs a tree ([`crate::pack`]), completes the manifest, signs its statement with the
//! [`Seal`] it is given (a [`Signer`] now, or a public key whose holder signs later), assembles
//! the file through [`format::layout`] and writes it. [`attach`] is the second half of signing
//! later: it writes a signature made elsewhere into the installer's signature region.
//!
//! **Invariant: every byte of the layout comes from `format::layout`** (regions, signature length,
//! the unsigned marker, the signature's offset, the trailer); this module fills it in. **A signer
//! that fails, or an attached signature that does not verify, leaves no output.** It knows the
//! codec only through [`crate::pack`], and no command.

use std::{
    fs, io,
    path::{Path, PathBuf},
};

use ed25519_dalek::VerifyingKey;
use format::{
    keys,
    layout::{self, Assembled, Layout, SignatureBytes},
    manifest::{Entry, Manifest, Payload, Region},
    statement::Statement,
};
use sha2::{Digest, Sha256};

use crate::{
    error::BuildError,
    output::{check_output, write_file, write_output},
    pack::{manifest_region, pack, Compression, Packed},
    signer::{self, Signer},
    source::{self, Tree},
    stubs,
};

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
    pub(crate) fn key_file(&self) -> Option<&Path> {
        match self {
            Seal::Now(signer) => signer.key_file(),
            Seal::Later(_) => None,
        }
    }

    /// The public key the installer is signed with, now or later.
    pub(crate) fn public_key(&self) -> &VerifyingKey {
        match self {
            Seal::Now(signer) => signer.public_key(),
            Seal::Later(key) => key,
        }
    }

    /// The signature region for `statement`: signed now (and verified, see [`Signer::sign`]), or
    /// [`layout::UNSIGNED`] with the file the statement must be written to, `OUTPUT.tosign`.
    fn signature(&self, statement: &[u8], output: &Path) -> Result<(SignatureBytes, Option<PathBuf>), BuildError> {
        match self {
            Seal::Now(signer) => Ok((signer.sign(statement)?, None)),
            Seal::Later(_) => Ok((layout::UNSIGNED, Some(to_sign_path(output)))),
        }
    }
}

/// The file beside an unsigned installer that holds the statement to sign: `OUTPUT.tosign`.
pub fn to_sign_path(output: &Path) -> PathBuf {
    let mut name = output.as_os_str().to_owned();
    name.push(".tosign");
    PathBuf::from(name)
}

/// What sealing an installer produced (a build, a delta, a module bundle).
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

/// [`check_output`] for an installer `output` and, when `seal_with` signs later, for the statement
/// beside it (`OUTPUT.tosign`): neither may replace one of `inputs` (which name the signing key
/// file, [`Seal::key_file`]), nor an existing file unless `force`.
pub(crate) fn check_sealed_output(
    output: &Path,
    inputs: &[&Path],
    force: bool,
    seal_with: Seal,
) -> Result<(), BuildError> {
    check_output(output, inputs, force)?;
    if let Seal::Later(_) = seal_with {
        check_output(&to_sign_path(output), inputs, force)?;
    }
    Ok(())
}

/// An installer to seal: the tree its payload packs, its stub, how it is signed and compressed,
/// and where it is written.
#[derive(Clone, Copy)]
pub(crate) struct Sealing<'a> {
    pub tree: &'a Tree,
    pub stub: &'a stubs::Stub,
    pub seal_with: Seal<'a>,
    pub compression: Compression,
    pub output: &'a Path,
}

/// Packs `what.tree` into the payload, completes `manifest` with the payload, the stub, the
/// entries and the signer, signs its statement (or leaves that for later, see [`Seal::Later`]),
/// and writes the installer to `what.output`.
pub(crate) fn seal(manifest: Manifest, what: Sealing) -> Result<BuildSummary, BuildError> {
    seal_checked(manifest, what, &|_| Ok(()))
}

/// [`seal`], with `admit` asked, before anything is signed or written, whether an installer of
/// that many bytes is wanted.
pub(crate) fn seal_checked(
    manifest: Manifest,
    what: Sealing,
    admit: &dyn Fn(u64) -> Result<(), BuildError>,
) -> Result<BuildSummary, BuildError> {
    let Sealing { tree, stub, seal_with, compression, output } = what;
    let key_id = keys::key_id(seal_with.public_key());
    let Packed { bytes: payload, payload: payload_region, entries } = pack(tree, manifest.created, compression)?;
    let stub_bytes = &*format::authenticode::as_built(&stub.bytes);
    let (manifest, manifest_json) = complete_manifest(manifest, &key_id, stub_bytes, payload_region, entries)?;
    let manifest_bytes = manifest_region(&manifest_json, compression);
    let statement = Statement::for_manifest(&manifest_json, &manifest_bytes).map_err(BuildError::Statement)?.encode();
    let lengths = [stub_bytes, &payload, &manifest_bytes, &statement].map(|r| r.len() as u64);
    admit(Layout::for_lengths(layout::FORMAT_VERSION, lengths)?.file_len())?;
    // Signed (and the signature verified) before anything is written: a signer that fails
    // leaves no output.
    let (signature, to_sign) = seal_with.signature(&statement, output)?;
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
        uncompressed_len: manifest.payload.uncompressed_len,
        file_count: manifest.file_count,
        signer_key_id: key_id,
        installer_sha256: hex::encode(whole.finalize()),
        to_sign,
    })
}

/// `manifest` completed with the signer's key id, the stub, the payload and its entries: checked,
/// encoded, and parsed back by the reader's parser (what we write is what the installer accepts).
fn complete_manifest(
    mut manifest: Manifest,
    key_id: &str,
    stub_bytes: &[u8],
    payload: Payload,
    entries: Vec<Entry>,
) -> Result<(Manifest, Vec<u8>), BuildError> {
    manifest.signer_key_id = key_id.to_string();
    manifest.stub = Region { len: stub_bytes.len() as u64, sha256: source::sha256_hex(stub_bytes) };
    manifest.payload = payload;
    manifest.file_count = entries.len() as u64;
    manifest.files = entries;
    manifest.validate()?;
    let manifest_json = manifest.to_canonical_json();
    Ok((Manifest::parse(&manifest_json)?, manifest_json))
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
    check_unsigned_for(installer, &parts, expect, &key_id)?;
    let raw = read_signature(signature, &key, &key_id, &parts.statement, installer)?;
    let trust = keys::TrustStore::from_keys(vec![keys::TrustedKey {
        key,
        id: key_id.clone(),
        origin: expect.display().to_string(),
    }]);
    let (signed, installer_sha256) = signed_copy(&file, installer, parts.layout.signature.start, &raw, &trust)?;
    signed.persist(installer).map_err(|e| BuildError::io("write", installer, e.error))?;
    // The statement beside it has served its purpose; one that differs is not ours to remove.
    let beside = to_sign_path(installer);
    if fs::read(&beside).is_ok_and(|b| b == parts.statement) {
        let _ = fs::remove_file(&beside);
    }
    Ok(AttachSummary { installer: installer.into(), signer_key_id: key_id, installer_sha256 })
}

/// Refuses an installer `attach` cannot sign: one of format version 1 (signed when built), one
/// signed already, one built for another key than `expect`'s (`key_id`).
fn check_unsigned_for(
    installer: &Path,
    parts: &format::verify::UnverifiedInstaller,
    expect: &Path,
    key_id: &str,
) -> Result<(), BuildError> {
    if parts.layout.version == layout::FORMAT_V1 {
        return Err(BuildError::Attach(format!(
            "'{}' is an installer of format version 1, which is signed when it is built: there is nothing to attach",
            installer.display()
        )));
    }
    if !layout::is_unsigned(&parts.signature) {
        return Err(BuildError::Attach(format!(
            "'{}' is signed already: attach signs only what `build --unsigned` wrote",
            installer.display()
        )));
    }
    let manifest =
        Manifest::parse(&parts.manifest_json().map_err(format::Error::from)?).map_err(format::Error::from)?;
    if manifest.signer_key_id != key_id {
        return Err(BuildError::Attach(format!(
            "'{}' was built to be signed by key {} but --expect-key '{}' is key {key_id}: pass the public key it was built for",
            installer.display(),
            manifest.signer_key_id,
            expect.display()
        )));
    }
    Ok(())
}

/// Reads the detached signature file `signature` and checks that it is `key`'s over `statement`,
/// the statement of `installer`.
fn read_signature(
    signature: &Path,
    key: &VerifyingKey,
    key_id: &str,
    statement: &[u8],
    installer: &Path,
) -> Result<SignatureBytes, BuildError> {
    let bytes = fs::read(signature).map_err(|e| BuildError::io("read the signature", signature, e))?;
    let raw = signer::parse_detached_signature(&bytes).map_err(|problem| {
        BuildError::Attach(format!("the signature '{}' is unusable: {problem}", signature.display()))
    })?;
    if key.verify_strict(statement, &ed25519_dalek::Signature::from_bytes(&raw)).is_err() {
        return Err(BuildError::ForeignSignature {
            signature: signature.into(),
            key_id: key_id.into(),
            statement: to_sign_path(installer),
        });
    }
    Ok(raw)
}

/// A copy of `file` (the installer at `installer`) beside it, with `signature` written at
/// `offset` (the layout's signature region), synced and verified whole against `trust` as the
/// installer will verify it; with the sha256 of the copy.
fn signed_copy(
    file: &fs::File,
    installer: &Path,
    offset: u64,
    signature: &SignatureBytes,
    trust: &keys::TrustStore,
) -> Result<(tempfile::NamedTempFile, String), BuildError> {
    let dir = installer.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let mut tmp = tempfile::Builder::new()
        .prefix(".go-offline-installer.")
        .tempfile_in(dir)
        .map_err(|e| BuildError::io("create a file in", dir, e))?;
    let mut source = file;
    io::copy(&mut source, tmp.as_file_mut()).map_err(|e| BuildError::io("copy", installer, e))?;
    std::os::unix::fs::FileExt::write_all_at(tmp.as_file(), signature, offset)
        .map_err(|e| BuildError::io("write", tmp.path(), e))?;
    let mode = file.metadata().map_err(|e| BuildError::io("read", installer, e))?.permissions();
    tmp.as_file().set_permissions(mode).map_err(|e| BuildError::io("chmod", tmp.path(), e))?;
    tmp.as_file().sync_all().map_err(|e| BuildError::io("sync", tmp.path(), e))?;
    // The whole check, statement against manifest included, as the installer will make it.
    let verified = format::verify::verify(tmp.as_file(), tmp.path(), trust)?;
    let sha256 = verified.file_sha256().to_string();
    Ok((tmp, sha256))
}
