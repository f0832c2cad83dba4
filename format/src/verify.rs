//! Verification of an installer file, before anything is written.
//!
//! [`verify`] reads the trailer, the manifest, the statement and the signature, checks the
//! signature over the statement against the trust store (strict ed25519), then the manifest's
//! region's sha256 against the statement (format version 1: the signature over the manifest
//! itself), decodes (format version 3), parses and validates the manifest, re-encodes the trailer from the verified lengths, and hashes
//! the stub and payload regions. Its result, [`VerifiedInstaller`], is
//! the only value [`crate::payload`] accepts: there is no way to extract an unchecked payload.

use std::{
    borrow::Cow,
    fs::File,
    io::{self, Read},
    path::{Path, PathBuf},
};

use ed25519_dalek::Signature;
use sha2::{Digest, Sha256};

use crate::{
    authenticode::{self, Checksum, PeHeader, SignedPeError},
    error::Error,
    keys::{self, TrustStore, TrustedKey},
    layout::{self, Layout, FORMAT_V1, TRAILER_LEN},
    manifest::{self, Manifest, ManifestError},
    os::read_at,
    platform::Target,
    statement::{Statement, StatementError},
};

/// Reports progress in bytes (of the regions hashed here, of file data in `payload`), called from
/// several threads.
pub type Progress<'a> = &'a (dyn Fn(u64) + Sync);

/// An installer whose signature, manifest and region digests have been checked.
#[derive(Debug)]
pub struct VerifiedInstaller {
    layout: Layout,
    manifest: Manifest,
    signer: TrustedKey,
    path: PathBuf,
    file_sha256: String,
}

impl VerifiedInstaller {
    pub fn layout(&self) -> &Layout {
        &self.layout
    }
    pub fn manifest(&self) -> &Manifest {
        &self.manifest
    }
    pub fn signer(&self) -> &TrustedKey {
        &self.signer
    }
    pub fn path(&self) -> &Path {
        &self.path
    }
    /// sha256 of the whole installer file as verified.
    pub fn file_sha256(&self) -> &str {
        &self.file_sha256
    }
}

/// The parts of an installer file, parsed but not verified: for `inspect` and for error
/// messages. Nothing here may be trusted.
#[derive(Debug)]
pub struct UnverifiedInstaller {
    pub layout: Layout,
    /// The manifest region as stored: the JSON, or in format version 3 its zstd frame (read it
    /// with [`UnverifiedInstaller::manifest_json`]).
    pub manifest_region: Vec<u8>,
    /// Empty in format version 1.
    pub statement: Vec<u8>,
    pub signature: layout::SignatureBytes,
    /// A PE (Windows) stub's header fields that Authenticode signing rewrites; `None` for ELF.
    pub pe: Option<PeHeader>,
}

impl UnverifiedInstaller {
    /// The bytes the signature must cover: the statement, or in format version 1 the context and
    /// the manifest.
    pub fn signed_message(&self) -> std::borrow::Cow<'_, [u8]> {
        if self.layout.version == FORMAT_V1 {
            layout::v1_signed_message(&self.manifest_region).into()
        } else {
            self.statement.as_slice().into()
        }
    }

    /// The manifest's JSON, decoded from the region as its format stores it (not verified).
    pub fn manifest_json(&self) -> Result<Cow<'_, [u8]>, ManifestError> {
        manifest::decode_region(self.layout.version, &self.manifest_region)
    }
}

/// Reads the trailer, manifest, statement and signature of `file` without checking them.
pub fn read_parts(file: &File, path: &Path) -> Result<UnverifiedInstaller, Error> {
    let read_err = |source| Error::ReadSelf { path: path.into(), source };
    let file_len = file.metadata().map_err(read_err)?.len();
    if file_len < TRAILER_LEN {
        return Err(layout::LayoutError::TooShort(file_len).into());
    }
    let mut head = vec![0u8; file_len.min(authenticode::HEAD_LEN as u64) as usize];
    read_exact_at(file, &mut head, 0).map_err(read_err)?;
    let pe = authenticode::pe_header(&head);
    let layout = match &pe {
        Some(pe) if pe.table().is_some() => signed_pe_layout(file, pe, file_len, path)?,
        _ => {
            if let Some(pe) = &pe {
                authenticode::regions_end_candidates(pe, file_len)?;
            }
            let mut trailer = [0u8; TRAILER_LEN as usize];
            read_exact_at(file, &mut trailer, file_len - TRAILER_LEN).map_err(read_err)?;
            Layout::parse(file_len, &trailer)?
        }
    };
    let mut manifest_region = vec![0u8; layout::len(&layout.manifest) as usize];
    read_exact_at(file, &mut manifest_region, layout.manifest.start).map_err(read_err)?;
    let mut statement = vec![0u8; layout::len(&layout.statement) as usize];
    read_exact_at(file, &mut statement, layout.statement.start).map_err(read_err)?;
    let mut signature = layout::UNSIGNED;
    read_exact_at(file, &mut signature, layout.signature.start).map_err(read_err)?;
    Ok(UnverifiedInstaller { layout, manifest_region, statement, signature, pe })
}

/// The layout of an Authenticode-signed PE installer: the trailer ends where only zero padding
/// (fewer than 8 bytes) separates it from the certificate table, which ends the file.
fn signed_pe_layout(file: &File, pe: &PeHeader, file_len: u64, path: &Path) -> Result<Layout, Error> {
    let candidates = authenticode::regions_end_candidates(pe, file_len)?;
    let table_start = candidates.end - 1;
    if candidates.start < TRAILER_LEN {
        return Err(SignedPeError::NoTrailer.into());
    }
    let from = candidates.start - TRAILER_LEN;
    let mut tail = vec![0u8; (table_start - from) as usize];
    read_exact_at(file, &mut tail, from).map_err(|source| Error::ReadSelf { path: path.into(), source })?;
    for end in candidates {
        let (trailer_at, padding_at) = ((end - TRAILER_LEN - from) as usize, (end - from) as usize);
        if tail[padding_at..].iter().any(|&b| b != 0) {
            continue;
        }
        if let Ok(layout) = Layout::parse(end, &tail[trailer_at..padding_at]) {
            return Ok(layout);
        }
    }
    Err(SignedPeError::NoTrailer.into())
}

/// Verifies an installer file completely. Reads it, writes nothing.
pub fn verify(file: &File, path: &Path, trust: &TrustStore) -> Result<VerifiedInstaller, Error> {
    verify_with_progress(file, path, trust, &|_| {})
}

/// [`verify`], reporting the bytes of the stub and payload regions as their digests are computed
/// (the bulk of its work; about the file's length in all).
pub fn verify_with_progress(
    file: &File,
    path: &Path,
    trust: &TrustStore,
    progress: Progress,
) -> Result<VerifiedInstaller, Error> {
    let parts = read_parts(file, path)?;
    let signer = check_signature(&parts, trust)?;
    let statement = if parts.layout.version == FORMAT_V1 { None } else { Some(check_statement(&parts)?) };
    let manifest = Manifest::parse(&parts.manifest_json()?)?;
    if let Some(statement) = statement {
        let named = (manifest.product, &manifest.go_version, &manifest.target);
        if (statement.product, &statement.go_version, &statement.target) != named {
            return Err(Error::PayloadMismatch(format!(
                "the signed statement is for {} {} ({}) but the manifest is for {} {} ({})",
                statement.product.name(),
                statement.go_version,
                statement.target,
                manifest.product.name(),
                manifest.go_version,
                manifest.target
            )));
        }
    }
    if manifest.signer_key_id != signer.id {
        return Err(Error::BadSignature { key_id: signer.id.clone() });
    }
    let layout = parts.layout;
    let bind = |what: &str, signed: u64, actual: u64| {
        if signed == actual {
            Ok(())
        } else {
            Err(Error::PayloadMismatch(format!("the signed {what} length is {signed} but the file holds {actual}")))
        }
    };
    bind("stub", manifest.stub.len, layout::len(&layout.stub))?;
    bind("payload", manifest.payload.len, layout::len(&layout.payload))?;
    // The trailer is implied by the verified lengths; re-encode and compare so no byte is unsigned.
    let mut trailer = [0u8; TRAILER_LEN as usize];
    read_exact_at(file, &mut trailer, layout.trailer.start)
        .map_err(|source| Error::ReadSelf { path: path.into(), source })?;
    if trailer != layout.encode_trailer() {
        return Err(Error::DigestMismatch {
            region: "trailer".into(),
            expected: "the canonical trailer".into(),
            found: "other bytes".into(),
        });
    }
    // The signed digests of the stub and payload, and the whole file's sha256 (for receipts), on
    // two threads: each reads the file once. A PE stub's digest leaves out the header fields
    // Authenticode signing rewrites; a signed one's PE checksum is computed on a third.
    let read_err = |source| Error::ReadSelf { path: path.into(), source };
    let body = layout.stub.start..layout.payload.end;
    let pe = parts.pe;
    let signed_table = pe.and_then(|p| p.table());
    let (regions, whole, checksum) = std::thread::scope(|s| {
        let whole = s.spawn(|| sha256_region(file, body, None, &|_| {}));
        let checksum = pe.filter(|_| signed_table.is_some()).map(|p| {
            let end = signed_table.as_ref().map_or(0, |t| t.end);
            s.spawn(move || pe_checksum(file, &p, end))
        });
        let regions = [
            ("stub", &layout.stub, &manifest.stub.sha256, pe),
            ("payload", &layout.payload, &manifest.payload.sha256, None),
        ]
        .map(|(region, range, expected, mask)| {
            let hashed = sha256_region(file, range.clone(), mask.as_ref(), progress);
            (region, hashed.map(|h| hex::encode(h.finalize())), expected)
        });
        (regions, joined(whole), checksum.map(joined))
    });
    for (region, found, expected) in regions {
        let found = found.map_err(read_err)?;
        if &found != expected {
            return Err(Error::DigestMismatch { region: region.into(), expected: expected.clone(), found });
        }
    }
    if let Some(pe) = &pe {
        authenticode::check_checksum(pe, checksum.transpose().map_err(read_err)?)?;
    }
    let mut whole = whole.map_err(read_err)?;
    whole.update(&parts.manifest_region);
    whole.update(&parts.statement);
    whole.update(parts.signature);
    whole.update(trailer);
    // A signed file's sha256 is of all of it: the padding and the certificate table too.
    if let Some(table) = signed_table {
        let mut tail = vec![0u8; (table.end - layout.file_len()) as usize];
        read_exact_at(file, &mut tail, layout.file_len()).map_err(read_err)?;
        whole.update(&tail);
    }
    Ok(VerifiedInstaller { layout, manifest, signer, path: path.into(), file_sha256: hex::encode(whole.finalize()) })
}

/// Checks the signature against every trusted key. On failure, tells an untrusted signer from a
/// bad signature using the key id the (unverified) manifest claims, for the message only.
fn check_signature(parts: &UnverifiedInstaller, trust: &TrustStore) -> Result<TrustedKey, Error> {
    if layout::is_unsigned(&parts.signature) {
        return Err(Error::NotSigned);
    }
    let signature = Signature::from_bytes(&parts.signature);
    let message = parts.signed_message();
    for key in &trust.keys {
        if keys::verifies(&key.key, &message, &signature) {
            return Ok(key.clone());
        }
    }
    // The manifest is not verified here: its claimed signer only chooses the message. A claim that
    // cannot be read means the manifest itself was damaged, which is an integrity failure.
    match claimed_signer(parts) {
        Some(id) if trust.revoked.contains(&id) => Err(Error::Revoked {
            list: trust.revocation_list.as_ref().map(|p| p.display().to_string()).unwrap_or_default(),
            key_id: id,
        }),
        Some(id) if !trust.keys.iter().any(|k| k.id == id) => {
            Err(Error::Untrusted { key_id: id, trust: trust.describe() })
        }
        Some(id) => Err(Error::BadSignature { key_id: id }),
        None => Err(Error::BadSignature { key_id: "(unreadable: the manifest is damaged)".into() }),
    }
}

/// Format versions 2 and 3, after the signature verified: the statement is well formed, is for
/// this format version, and names the manifest region by its sha256.
fn check_statement(parts: &UnverifiedInstaller) -> Result<Statement, Error> {
    let statement = Statement::parse(&parts.statement)?;
    if statement.format != parts.layout.version {
        return Err(StatementError(format!(
            "it is for format version {}, the file is of version {}",
            statement.format, parts.layout.version
        ))
        .into());
    }
    let found = hex::encode(Sha256::digest(&parts.manifest_region));
    if found != statement.manifest_sha256 {
        return Err(Error::DigestMismatch { region: "manifest".into(), expected: statement.manifest_sha256, found });
    }
    Ok(statement)
}

/// The key id an unverified manifest claims, if it can be read at all.
fn claimed_signer(parts: &UnverifiedInstaller) -> Option<String> {
    #[derive(serde::Deserialize)]
    struct Claim {
        signer_key_id: String,
    }
    let claim: Claim = serde_json::from_slice(&parts.manifest_json().ok()?).ok()?;
    let id = claim.signer_key_id;
    (id.len() == 16 && id.bytes().all(|b| b.is_ascii_hexdigit())).then_some(id)
}

/// Refuses an installer built for a platform other than the one this program runs on.
pub fn check_platform(manifest: &Manifest) -> Result<(), Error> {
    let have = Target::current();
    let wanted = format!("{}/{} ({})", manifest.goos, manifest.goarch, manifest.target);
    match have {
        Some(t) if t.triple == manifest.target && t.goos == manifest.goos && t.goarch == manifest.goarch => Ok(()),
        Some(t) => Err(Error::WrongPlatform { wanted, have: format!("{}/{} ({})", t.goos, t.goarch, t.triple) }),
        None => Err(Error::WrongPlatform { wanted, have: crate::platform::BUILD_TARGET.into() }),
    }
}

/// `read_at` until `buf` is full.
fn read_exact_at(file: &File, mut buf: &mut [u8], mut offset: u64) -> io::Result<()> {
    while !buf.is_empty() {
        match read_at(file, buf, offset) {
            Ok(0) => {
                return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "installer file shrank while being read"))
            }
            Ok(n) => {
                buf = &mut buf[n..];
                offset += n as u64;
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// A `Read` over one region of a file, by positioned reads (the file offset is not used, so
/// several readers can share one `File`).
pub struct RegionReader<'a> {
    file: &'a File,
    pos: u64,
    end: u64,
}

impl<'a> RegionReader<'a> {
    pub fn new(file: &'a File, range: std::ops::Range<u64>) -> RegionReader<'a> {
        RegionReader { file, pos: range.start, end: range.end }
    }
}

impl Read for RegionReader<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let want = (self.end - self.pos).min(buf.len() as u64) as usize;
        if want == 0 {
            return Ok(0);
        }
        let n = read_at(self.file, &mut buf[..want], self.pos)?;
        if n == 0 {
            return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "installer file shrank while being read"));
        }
        self.pos += n as u64;
        Ok(n)
    }
}

/// The hasher of a region, to finish or to feed on; with `mask`, the PE header fields that
/// Authenticode signing rewrites are hashed as zeros. `progress` hears of every chunk hashed.
fn sha256_region(
    file: &File,
    range: std::ops::Range<u64>,
    mask: Option<&PeHeader>,
    progress: Progress,
) -> io::Result<Sha256> {
    let mut hasher = Sha256::new();
    let mut at = range.start;
    for_each_chunk(RegionReader::new(file, range), |chunk| {
        if let Some(pe) = mask {
            authenticode::masked(pe, at, chunk);
        }
        at += chunk.len() as u64;
        progress(chunk.len() as u64);
        hasher.update(chunk)
    })?;
    Ok(hasher)
}

/// A scoped thread's result (its panic goes on in the caller).
fn joined<T>(handle: std::thread::ScopedJoinHandle<'_, T>) -> T {
    handle.join().unwrap_or_else(|panic| std::panic::resume_unwind(panic))
}

/// The PE checksum of the first `len` bytes of the file (all of a signed one).
fn pe_checksum(file: &File, pe: &PeHeader, len: u64) -> io::Result<u32> {
    let mut sum = Checksum::new(pe);
    for_each_chunk(RegionReader::new(file, 0..len), |chunk| sum.update(chunk))?;
    Ok(sum.finish())
}

/// sha256 of a whole reader, as lowercase hex.
pub fn sha256_reader(reader: impl Read) -> io::Result<String> {
    let mut hasher = Sha256::new();
    for_each_chunk(reader, |chunk| hasher.update(chunk))?;
    Ok(hex::encode(hasher.finalize()))
}

/// Reads `reader` to the end in 64 KiB chunks. Not larger: this hashes every file of a tree
/// (`verify-installed`, a delta's base), and a buffer past the allocator's mmap threshold
/// (musl's is 128 KiB) would be mapped, zeroed page by page and unmapped for each small file.
fn for_each_chunk(mut reader: impl Read, mut f: impl FnMut(&mut [u8])) -> io::Result<()> {
    let mut buf = vec![0u8; 64 << 10];
    loop {
        let n = reader.read(&mut buf)?;
        if n == 0 {
            return Ok(());
        }
        f(&mut buf[..n]);
    }
}
