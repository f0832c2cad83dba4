//! The byte layout of an installer file. This module is the only place that knows it: the builder,
//! the tests and the fuzz targets assemble files with [`Assembled`] and sign [`signed_message`];
//! the installer reads them through [`Layout::parse`].
//!
//! ```text
//! +-----------+----------------------+----------------+-----------+-------------------+
//! | stub (ELF)| payload (zstd of tar)| manifest (JSON)| signature | trailer (96 bytes)|
//! +-----------+----------------------+----------------+-----------+-------------------+
//! 0                                                                          file length
//! ```
//!
//! The trailer holds a magic, the format version and the offset and length of every region. The
//! regions are contiguous and cover the file exactly: a gap, an overlap, a byte too many or too few
//! is refused. The trailer itself is not signed, but every value in it is implied by the signed
//! manifest (stub and payload lengths) and the manifest and signature lengths; after verification
//! the installer re-encodes the trailer from the verified values and compares it byte for byte, so
//! the signature covers every byte of the file.

use std::ops::Range;

/// First eight bytes of the trailer.
pub const MAGIC: [u8; 8] = *b"GOOFFLN\x01";
/// Last eight bytes of the trailer (and of the file).
pub const END_MAGIC: [u8; 8] = *b"\x01NLFFOOG";
/// The only format version this code reads and writes.
pub const FORMAT_VERSION: u32 = 1;
/// Size of the trailer in bytes.
pub const TRAILER_LEN: u64 = 96;
/// Size of an ed25519 signature.
pub const SIGNATURE_LEN: u64 = 64;
/// Largest manifest accepted. Go 1.27's manifest is about 2 MiB; this bounds the memory a hostile
/// file can make the installer allocate before its signature is checked.
pub const MAX_MANIFEST_LEN: u64 = 64 << 20;

/// The context string that prefixes the manifest in the signed message. It binds a signature to
/// this purpose: a signature made by the same key over the same bytes for anything else does not
/// verify here.
pub const SIGNATURE_CONTEXT: &[u8] = b"go-offline-installer manifest v1\0";

/// The message an installer's signature covers: [`SIGNATURE_CONTEXT`] then the manifest bytes.
/// Built here only; the builder signs it and verification checks it.
pub fn signed_message(manifest: &[u8]) -> Vec<u8> {
    let mut message = Vec::with_capacity(SIGNATURE_CONTEXT.len() + manifest.len());
    message.extend_from_slice(SIGNATURE_CONTEXT);
    message.extend_from_slice(manifest);
    message
}

/// An installer file's regions in file order, with the trailer that describes them: the only way
/// the writers (builder, tests, fuzz targets) put a file together.
#[derive(Debug, Clone)]
pub struct Assembled<'a> {
    pub layout: Layout,
    regions: [&'a [u8]; 4],
    trailer: [u8; TRAILER_LEN as usize],
}

impl<'a> Assembled<'a> {
    /// stub ‖ payload ‖ manifest ‖ signature ‖ trailer.
    pub fn new(
        stub: &'a [u8],
        payload: &'a [u8],
        manifest: &'a [u8],
        signature: &'a [u8; SIGNATURE_LEN as usize],
    ) -> Result<Assembled<'a>, LayoutError> {
        let layout = Layout::for_lengths(stub.len() as u64, payload.len() as u64, manifest.len() as u64)?;
        let trailer = layout.encode_trailer();
        Ok(Assembled { layout, regions: [stub, payload, manifest, signature], trailer })
    }

    /// The five parts, in file order, to write one after the other.
    pub fn parts(&self) -> [&[u8]; 5] {
        let [stub, payload, manifest, signature] = self.regions;
        [stub, payload, manifest, signature, &self.trailer]
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
    #[error("installer format version {0} is not supported by this program (it reads version {FORMAT_VERSION})")]
    UnsupportedVersion(u32),
    #[error("trailer field {field} is invalid: {problem}")]
    BadField { field: &'static str, problem: String },
}

/// Where each region of an installer file lies. Construct it with [`Layout::parse`] (reading) or
/// [`Layout::for_lengths`] (writing); both guarantee the regions are contiguous and cover the file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layout {
    pub stub: Range<u64>,
    pub payload: Range<u64>,
    pub manifest: Range<u64>,
    pub signature: Range<u64>,
    pub trailer: Range<u64>,
}

impl Layout {
    /// The layout of a file made of regions of these lengths, in order.
    pub fn for_lengths(stub_len: u64, payload_len: u64, manifest_len: u64) -> Result<Layout, LayoutError> {
        let overflow = |field| LayoutError::BadField { field, problem: "offset overflows".into() };
        let stub = 0..stub_len;
        let payload = stub.end..stub.end.checked_add(payload_len).ok_or(overflow("payload_len"))?;
        let manifest = payload.end..payload.end.checked_add(manifest_len).ok_or(overflow("manifest_len"))?;
        let signature = manifest.end..manifest.end.checked_add(SIGNATURE_LEN).ok_or(overflow("signature_len"))?;
        let trailer = signature.end..signature.end.checked_add(TRAILER_LEN).ok_or(overflow("trailer"))?;
        Ok(Layout { stub, payload, manifest, signature, trailer })
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
        let expected = Layout::for_lengths(t.stub_len, t.payload_len, t.manifest_len)?;
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
            stub_off: self.stub.start,
            stub_len: len(&self.stub),
            payload_off: self.payload.start,
            payload_len: len(&self.payload),
            manifest_off: self.manifest.start,
            manifest_len: len(&self.manifest),
            signature_off: self.signature.start,
            signature_len: len(&self.signature),
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
/// 80  reserved         8   zero
/// 88  end magic        8   END_MAGIC
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Trailer {
    stub_off: u64,
    stub_len: u64,
    payload_off: u64,
    payload_len: u64,
    manifest_off: u64,
    manifest_len: u64,
    signature_off: u64,
    signature_len: u64,
}

impl Trailer {
    fn encode(&self) -> [u8; TRAILER_LEN as usize] {
        let mut b = [0u8; TRAILER_LEN as usize];
        b[0..8].copy_from_slice(&MAGIC);
        b[8..12].copy_from_slice(&FORMAT_VERSION.to_le_bytes());
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
        if version != FORMAT_VERSION {
            return Err(LayoutError::UnsupportedVersion(version));
        }
        if u64::from(u32_at(12)) != TRAILER_LEN {
            return Err(LayoutError::BadField { field: "trailer_len", problem: format!("is {}", u32_at(12)) });
        }
        if b[80..88] != [0u8; 8] {
            return Err(LayoutError::BadField { field: "reserved", problem: "is not zero".into() });
        }
        Ok(Trailer {
            stub_off: u64_at(16),
            stub_len: u64_at(24),
            payload_off: u64_at(32),
            payload_len: u64_at(40),
            manifest_off: u64_at(48),
            manifest_len: u64_at(56),
            signature_off: u64_at(64),
            signature_len: u64_at(72),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn good() -> Layout {
        Layout::for_lengths(1000, 500, 200).unwrap()
    }

    #[test]
    fn round_trip() {
        let l = good();
        assert_eq!(l.file_len(), 1000 + 500 + 200 + 64 + 96);
        assert_eq!(Layout::parse(l.file_len(), &l.encode_trailer()), Ok(l));
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
        // Magic, version, reserved.
        for offset in [0, 8, 12, 80, 95] {
            let mut t = l.encode_trailer();
            t[offset] ^= 0x40;
            assert!(Layout::parse(l.file_len(), &t).is_err(), "flip at {offset} was accepted");
        }
        assert_eq!(Layout::parse(10, &[0; 10]), Err(LayoutError::TooShort(10)));
    }
}
