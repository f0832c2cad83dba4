//! The byte layout of an installer file. This module is the only place that knows it: the builder,
//! the tests and the fuzz targets assemble files with [`Assembled`]; the installer reads them
//! through [`Layout::parse`].
//!
//! ```text
//! +-----------+----------------------+----------------+-----------+-----------+-------------------+
//! | stub (ELF)| payload (zstd of tar)| manifest (zstd)| statement | signature | trailer (96 bytes)|
//! +-----------+----------------------+----------------+-----------+-----------+-------------------+
//! 0                                                                                      file length
//! ```
//!
//! The trailer holds a magic, the format version and the offset and length of every region. The
//! regions are contiguous and cover the file exactly: a gap, an overlap, a byte too many or too few
//! is refused. The signature covers the statement ([`crate::statement`]), which names the
//! manifest by its sha256; the manifest names the stub and payload by theirs. The trailer itself is
//! not signed, but every value in it is implied by the signed lengths; after verification the
//! installer re-encodes the trailer from the verified values and compares it byte for byte, so the
//! signature covers every byte of the file.
//!
//! Earlier versions are still read and verified, since such installers are in the field; they are
//! written only by tests that prove so:
//!
//! | version | manifest region | signature over | payload files |
//! |---|---|---|---|
//! | 3 (written) | one zstd frame of the canonical JSON ([`crate::manifest::encode_region`]) | the statement | may be filtered ([`crate::filter`]) |
//! | 2 | the canonical JSON | the statement | as they are |
//! | 1 | the canonical JSON | [`V1_SIGNATURE_CONTEXT`] ‖ manifest ([`v1_signed_message`]) | as they are |

use std::ops::Range;

/// First eight bytes of the trailer.
pub const MAGIC: [u8; 8] = *b"GOOFFLN\x01";
/// Last eight bytes of the trailer (and of the file).
pub const END_MAGIC: [u8; 8] = *b"\x01NLFFOOG";
/// The format version this code writes: the manifest region is compressed, payload files may be
/// filtered, the signature covers a statement.
pub const FORMAT_VERSION: u32 = 3;
/// The second format version, still read: the manifest region is the JSON itself.
pub const FORMAT_V2: u32 = 2;
/// The first format version, still read: the signature covers the whole manifest.
pub const FORMAT_V1: u32 = 1;

/// Whether this program reads files of format `version`.
pub fn reads(version: u32) -> bool {
    (FORMAT_V1..=FORMAT_VERSION).contains(&version)
}
/// Size of the trailer in bytes.
pub const TRAILER_LEN: u64 = 96;
/// Size of an ed25519 signature.
pub const SIGNATURE_LEN: u64 = 64;
/// The signature region's bytes: one ed25519 signature.
pub type SignatureBytes = [u8; SIGNATURE_LEN as usize];
/// The signature region of a file built to be signed later (`build --unsigned`): all zeros, which
/// no reader takes for a signature (it refuses the file as "not signed yet").
pub const UNSIGNED: SignatureBytes = [0; SIGNATURE_LEN as usize];

/// Whether `signature`, a file's signature region, is [`UNSIGNED`].
pub fn is_unsigned(signature: &[u8]) -> bool {
    signature == UNSIGNED
}

/// Largest manifest accepted, as stored and (format version 3) once decompressed. Go 1.27's
/// manifest is about 2 MiB of JSON, 0.5 MiB compressed; this bounds the memory a hostile file can
/// make the installer allocate.
pub const MAX_MANIFEST_LEN: u64 = 64 << 20;

/// Longest statement accepted or written (the statement region's length): what the most limited
/// signer (a KMS signing raw messages) takes. A real statement is about 200 bytes.
pub const MAX_STATEMENT_LEN: u64 = 4096;

/// Format version 1: the context string that prefixes the manifest in the signed message. It binds
/// a signature to this purpose: a signature made by the same key over the same bytes for anything
/// else does not verify here.
pub const V1_SIGNATURE_CONTEXT: &[u8] = b"go-offline-installer manifest v1\0";

/// Format version 1: the message an installer's signature covers, [`V1_SIGNATURE_CONTEXT`] then
/// the manifest bytes.
pub fn v1_signed_message(manifest: &[u8]) -> Vec<u8> {
    let mut message = Vec::with_capacity(V1_SIGNATURE_CONTEXT.len() + manifest.len());
    message.extend_from_slice(V1_SIGNATURE_CONTEXT);
    message.extend_from_slice(manifest);
    message
}

/// An installer file's regions in file order, with the trailer that describes them: the only way
/// the writers (builder, tests, fuzz targets) put a file together.
#[derive(Debug, Clone)]
pub struct Assembled<'a> {
    pub layout: Layout,
    regions: [&'a [u8]; 5],
    trailer: [u8; TRAILER_LEN as usize],
}

impl<'a> Assembled<'a> {
    /// stub ‖ payload ‖ manifest ‖ statement ‖ signature ‖ trailer (format version 3: `manifest`
    /// is the region [`crate::manifest::encode_region`] makes). The signature is over
    /// `statement` (see [`crate::statement::Statement::encode`]).
    pub fn new(
        stub: &'a [u8],
        payload: &'a [u8],
        manifest: &'a [u8],
        statement: &'a [u8],
        signature: &'a SignatureBytes,
    ) -> Result<Assembled<'a>, LayoutError> {
        Assembled::of_version(FORMAT_VERSION, stub, payload, manifest, statement, signature)
    }

    /// As [`Assembled::new`] for format version 2, whose manifest region is the JSON itself: only
    /// for tests that prove such files still verify.
    pub fn v2(
        stub: &'a [u8],
        payload: &'a [u8],
        manifest: &'a [u8],
        statement: &'a [u8],
        signature: &'a SignatureBytes,
    ) -> Result<Assembled<'a>, LayoutError> {
        Assembled::of_version(FORMAT_V2, stub, payload, manifest, statement, signature)
    }

    fn of_version(
        version: u32,
        stub: &'a [u8],
        payload: &'a [u8],
        manifest: &'a [u8],
        statement: &'a [u8],
        signature: &'a SignatureBytes,
    ) -> Result<Assembled<'a>, LayoutError> {
        let lengths = [stub, payload, manifest, statement].map(|r| r.len() as u64);
        let layout = Layout::for_lengths(version, lengths)?;
        let trailer = layout.encode_trailer();
        Ok(Assembled { layout, regions: [stub, payload, manifest, statement, signature], trailer })
    }

    /// stub ‖ payload ‖ manifest ‖ signature ‖ trailer of format version 1, the signature over
    /// [`v1_signed_message`]: only for tests that prove such files still verify.
    pub fn v1(
        stub: &'a [u8],
        payload: &'a [u8],
        manifest: &'a [u8],
        signature: &'a SignatureBytes,
    ) -> Result<Assembled<'a>, LayoutError> {
        let lengths = [stub.len() as u64, payload.len() as u64, manifest.len() as u64, 0];
        let layout = Layout::for_lengths(FORMAT_V1, lengths)?;
        let trailer = layout.encode_trailer();
        Ok(Assembled { layout, regions: [stub, payload, manifest, &[], signature], trailer })
    }

    /// The six parts, in file order, to write one after the other (the statement is empty in
    /// format version 1).
    pub fn parts(&self) -> [&[u8]; 6] {
        let [stub, payload, manifest, statement, signature] = self.regions;
        [stub, payload, manifest, statement, signature, &self.trailer]
    }

    /// The whole file.
    pub fn to_vec(&self) -> Vec<u8> {
        self.parts().concat()
    }
}

/// A malformed trailer or region table.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum LayoutError {
    #[error("file is {0} bytes, too short to hold an installer trailer")]
    TooShort(u64),
    #[error("no installer trailer at the end of the file (bad magic): the file is truncated, has bytes appended, or is not an installer")]
    BadMagic,
    #[error("installer format version {0} is not supported by this program (it reads versions {FORMAT_V1} to {FORMAT_VERSION}): use a newer go-offline release to read it")]
    UnsupportedVersion(u32),
    #[error("trailer field {field} is invalid: {problem}")]
    BadField { field: &'static str, problem: String },
}

/// Where each region of an installer file lies. Construct it with [`Layout::parse`] (reading) or
/// [`Layout::for_lengths`] (writing); both guarantee the regions are contiguous and cover the file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layout {
    /// [`FORMAT_VERSION`], or an earlier one this program [`reads`].
    pub version: u32,
    pub stub: Range<u64>,
    pub payload: Range<u64>,
    pub manifest: Range<u64>,
    /// Empty in format version 1.
    pub statement: Range<u64>,
    pub signature: Range<u64>,
    pub trailer: Range<u64>,
}

impl Layout {
    /// The layout of a file of format `version` made of regions of these lengths (stub, payload,
    /// manifest, statement), in order, then the signature and the trailer.
    pub fn for_lengths(
        version: u32,
        [stub_len, payload_len, manifest_len, statement_len]: [u64; 4],
    ) -> Result<Layout, LayoutError> {
        let overflow = |field| LayoutError::BadField { field, problem: "offset overflows".into() };
        let stub = 0..stub_len;
        let payload = stub.end..stub.end.checked_add(payload_len).ok_or(overflow("payload_len"))?;
        let manifest = payload.end..payload.end.checked_add(manifest_len).ok_or(overflow("manifest_len"))?;
        let statement = manifest.end..manifest.end.checked_add(statement_len).ok_or(overflow("statement_len"))?;
        let signature = statement.end..statement.end.checked_add(SIGNATURE_LEN).ok_or(overflow("signature_len"))?;
        let trailer = signature.end..signature.end.checked_add(TRAILER_LEN).ok_or(overflow("trailer"))?;
        Ok(Layout { version, stub, payload, manifest, statement, signature, trailer })
    }

    /// Total length of the file this layout describes.
    pub fn file_len(&self) -> u64 {
        self.trailer.end
    }

    /// Parses and checks the trailer read from the last [`TRAILER_LEN`] bytes of a file of
    /// `file_len` bytes.
    pub fn parse(file_len: u64, trailer: &[u8]) -> Result<Layout, LayoutError> {
        if file_len < TRAILER_LEN || trailer.len() as u64 != TRAILER_LEN {
            return Err(LayoutError::TooShort(file_len));
        }
        let t = Trailer::decode(trailer)?;
        let bad = |field: &'static str, problem: String| LayoutError::BadField { field, problem };
        if t.stub_off != 0 {
            return Err(bad("stub_offset", format!("is {}, must be 0", t.stub_off)));
        }
        if t.stub_len == 0 {
            return Err(bad("stub_len", "is 0".into()));
        }
        if t.payload_len == 0 {
            return Err(bad("payload_len", "is 0".into()));
        }
        if t.manifest_len == 0 || t.manifest_len > MAX_MANIFEST_LEN {
            return Err(bad("manifest_len", format!("{} is outside 1..={MAX_MANIFEST_LEN}", t.manifest_len)));
        }
        if t.signature_len != SIGNATURE_LEN {
            return Err(bad("signature_len", format!("is {}, must be {SIGNATURE_LEN}", t.signature_len)));
        }
        match t.version {
            FORMAT_V1 if t.statement_len != 0 => {
                return Err(bad("reserved", "is not zero (format version 1 has no statement)".into()))
            }
            FORMAT_V1 => {}
            _ if t.statement_len == 0 || t.statement_len > MAX_STATEMENT_LEN => {
                return Err(bad("statement_len", format!("{} is outside 1..={MAX_STATEMENT_LEN}", t.statement_len)))
            }
            _ => {}
        }
        let expected = Layout::for_lengths(t.version, [t.stub_len, t.payload_len, t.manifest_len, t.statement_len])?;
        for (field, got, want) in [
            ("payload_offset", t.payload_off, expected.payload.start),
            ("manifest_offset", t.manifest_off, expected.manifest.start),
            ("signature_offset", t.signature_off, expected.signature.start),
        ] {
            if got != want {
                return Err(bad(field, format!("is {got}, regions must be contiguous (expected {want})")));
            }
        }
        if expected.file_len() != file_len {
            return Err(bad(
                "lengths",
                format!(
                    "regions cover {} bytes but the file has {file_len}: bytes were added or removed",
                    expected.file_len()
                ),
            ));
        }
        Ok(expected)
    }

    /// The trailer bytes that describe this layout.
    pub fn encode_trailer(&self) -> [u8; TRAILER_LEN as usize] {
        Trailer {
            version: self.version,
            stub_off: self.stub.start,
            stub_len: len(&self.stub),
            payload_off: self.payload.start,
            payload_len: len(&self.payload),
            manifest_off: self.manifest.start,
            manifest_len: len(&self.manifest),
            signature_off: self.signature.start,
            signature_len: len(&self.signature),
            statement_len: len(&self.statement),
        }
        .encode()
    }
}

/// Length of a region.
pub fn len(r: &Range<u64>) -> u64 {
    r.end - r.start
}

/// The trailer's fields as stored (little-endian).
///
/// ```text
///  0  magic            8   MAGIC
///  8  format version   4   u32
/// 12  trailer length   4   u32 (96)
/// 16  stub offset      8   u64, always 0
/// 24  stub length      8
/// 32  payload offset   8
/// 40  payload length   8
/// 48  manifest offset  8
/// 56  manifest length  8
/// 64  signature offset 8
/// 72  signature length 8   always 64
/// 80  statement length 8   1..=4096 (format version 1: reserved, zero); the statement lies
///                          between the manifest and the signature
/// 88  end magic        8   END_MAGIC
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Trailer {
    version: u32,
    stub_off: u64,
    stub_len: u64,
    payload_off: u64,
    payload_len: u64,
    manifest_off: u64,
    manifest_len: u64,
    signature_off: u64,
    signature_len: u64,
    statement_len: u64,
}

impl Trailer {
    fn encode(&self) -> [u8; TRAILER_LEN as usize] {
        let mut b = [0u8; TRAILER_LEN as usize];
        b[0..8].copy_from_slice(&MAGIC);
        b[8..12].copy_from_slice(&self.version.to_le_bytes());
        b[12..16].copy_from_slice(&(TRAILER_LEN as u32).to_le_bytes());
        let fields = [
            self.stub_off,
            self.stub_len,
            self.payload_off,
            self.payload_len,
            self.manifest_off,
            self.manifest_len,
            self.signature_off,
            self.signature_len,
            self.statement_len,
        ];
        for (i, v) in fields.iter().enumerate() {
            b[16 + 8 * i..24 + 8 * i].copy_from_slice(&v.to_le_bytes());
        }
        b[88..96].copy_from_slice(&END_MAGIC);
        b
    }

    fn decode(b: &[u8]) -> Result<Trailer, LayoutError> {
        let u32_at = |o: usize| u32::from_le_bytes([b[o], b[o + 1], b[o + 2], b[o + 3]]);
        let u64_at = |o: usize| {
            let mut a = [0u8; 8];
            a.copy_from_slice(&b[o..o + 8]);
            u64::from_le_bytes(a)
        };
        if b[0..8] != MAGIC || b[88..96] != END_MAGIC {
            return Err(LayoutError::BadMagic);
        }
        let version = u32_at(8);
        if !reads(version) {
            return Err(LayoutError::UnsupportedVersion(version));
        }
        if u64::from(u32_at(12)) != TRAILER_LEN {
            return Err(LayoutError::BadField { field: "trailer_len", problem: format!("is {}", u32_at(12)) });
        }
        Ok(Trailer {
            version,
            stub_off: u64_at(16),
            stub_len: u64_at(24),
            payload_off: u64_at(32),
            payload_len: u64_at(40),
            manifest_off: u64_at(48),
            manifest_len: u64_at(56),
            signature_off: u64_at(64),
            signature_len: u64_at(72),
            statement_len: u64_at(80),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn good() -> Layout {
        Layout::for_lengths(FORMAT_VERSION, [1000, 500, 200, 180]).unwrap()
    }

    #[test]
    fn round_trip() {
        let l = good();
        assert_eq!(l.file_len(), 1000 + 500 + 200 + 180 + 64 + 96);
        assert_eq!(Layout::parse(l.file_len(), &l.encode_trailer()), Ok(l));
        let v1 = Layout::for_lengths(FORMAT_V1, [1000, 500, 200, 0]).unwrap();
        assert_eq!(v1.statement, 1700..1700);
        assert_eq!(Layout::parse(v1.file_len(), &v1.encode_trailer()), Ok(v1));
    }

    /// A statement length in a version 1 trailer, or none in a version 2 one, is refused: the
    /// version decides what the signature covers, and the lengths must agree with it.
    #[test]
    fn the_version_and_the_statement_agree() {
        let v1 = Layout::for_lengths(FORMAT_V1, [1000, 500, 200, 0]).unwrap();
        let v2 = Layout::for_lengths(FORMAT_V2, [1000, 500, 200, 180]).unwrap();
        let cases: &[(&str, &Layout, u32, u64, &str)] = &[
            ("v1 with a statement", &v1, FORMAT_V1, 16, "reserved"),
            ("v2 without one", &v2, FORMAT_V2, 0, "statement_len"),
            ("v2 with a huge one", &v2, FORMAT_V2, MAX_STATEMENT_LEN + 1, "statement_len"),
            ("v3 without one", &v2, FORMAT_VERSION, 0, "statement_len"),
            ("version 4", &v2, 4, 180, "version 4"),
        ];
        for (name, l, version, statement_len, says) in cases {
            let mut t = l.encode_trailer();
            t[8..12].copy_from_slice(&version.to_le_bytes());
            t[80..88].copy_from_slice(&statement_len.to_le_bytes());
            let e = Layout::parse(l.file_len(), &t).expect_err(name);
            assert!(e.to_string().contains(says), "{name}: {e}");
        }
    }

    /// Each row patches one little-endian u64 field at `offset` of a good trailer.
    #[test]
    fn bad_trailers_are_refused() {
        let l = good();
        let cases: &[(&str, usize, u64)] = &[
            ("stub offset not zero", 16, 1),
            ("stub length zero", 24, 0),
            ("payload overlaps stub", 32, 999),
            ("gap after stub", 32, 1001),
            ("payload length overflows", 40, u64::MAX),
            ("manifest offset outside file", 48, u64::MAX - 3),
            ("manifest huge", 56, MAX_MANIFEST_LEN + 1),
            ("manifest empty", 56, 0),
            ("signature offset wrong", 64, 0),
            ("signature length wrong", 72, 63),
        ];
        for (name, offset, value) in cases {
            let mut t = l.encode_trailer();
            t[*offset..offset + 8].copy_from_slice(&value.to_le_bytes());
            assert!(Layout::parse(l.file_len(), &t).is_err(), "{name} was accepted");
        }
        // Appended and missing bytes.
        assert!(Layout::parse(l.file_len() + 1, &l.encode_trailer()).is_err());
        assert!(Layout::parse(l.file_len() - 1, &l.encode_trailer()).is_err());
        // Magic, version, statement length.
        for offset in [0, 8, 12, 80, 95] {
            let mut t = l.encode_trailer();
            t[offset] ^= 0x40;
            assert!(Layout::parse(l.file_len(), &t).is_err(), "flip at {offset} was accepted");
        }
        assert_eq!(Layout::parse(10, &[0; 10]), Err(LayoutError::TooShort(10)));
    }
}
