//! Authenticode: an installer whose stub is a Windows (PE) program may be signed by its
//! organisation after it was built (signtool, osslsigncode; for SmartScreen and WDAC). Signing
//! pads the file with zeros to a multiple of 8, appends a certificate table, and rewrites two
//! fields of the PE header: `CheckSum` and the Certificate Table entry (data directory 4).
//!
//! What a signed file may differ in, and nothing else (every rule fails closed):
//! - after our trailer: fewer than 8 zero bytes, then exactly the certificate table the header
//!   names, ending at the end of the file;
//! - the header's Certificate Table entry: exactly that table's offset and length;
//! - the header's `CheckSum`: the PE checksum of the whole file, as signing tools write it.
//!
//! An unsigned PE installer has neither (entry and `CheckSum` zero), so its stub digest over the
//! file's bytes equals the digest [`masked`] computes with those two fields zeroed, which is the
//! one [`crate::verify::verify`] checks for every PE stub: the builder's digest stays valid once
//! the file is signed. The checksum covers the table too, so a damaged table is refused; its
//! signature itself is Windows' to judge (a checksum can be recomputed by anyone, our ed25519
//! signature over everything else cannot).

use std::ops::Range;

/// How many bytes of the file's start hold the headers this module reads.
pub const HEAD_LEN: usize = 4096;

/// Largest certificate table accepted (real ones, a chain and a timestamp, are some KiB).
pub const MAX_TABLE_LEN: u64 = 1 << 20;

/// The two PE header fields Authenticode signing rewrites, as found in a file's first bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PeHeader {
    /// File offset of the optional header's `CheckSum` (4 bytes).
    pub checksum_at: u64,
    pub checksum: u32,
    /// File offset of the Certificate Table entry (8 bytes: file offset, length).
    pub table_entry_at: u64,
    pub table_offset: u32,
    pub table_len: u32,
}

impl PeHeader {
    /// The byte ranges signing rewrites, to leave out of the stub's digest.
    pub fn rewritten(&self) -> [Range<u64>; 2] {
        [self.checksum_at..self.checksum_at + 4, self.table_entry_at..self.table_entry_at + 8]
    }

    /// The appended certificate table, when the file is signed.
    pub fn table(&self) -> Option<Range<u64>> {
        (self.table_len != 0)
            .then(|| u64::from(self.table_offset)..u64::from(self.table_offset) + u64::from(self.table_len))
    }
}

/// The PE header fields of a file from its first bytes (at least [`HEAD_LEN`] when the file is
/// that long); `None` when it is not a PE image with a Certificate Table entry.
pub fn pe_header(head: &[u8]) -> Option<PeHeader> {
    let u16_at = |at: usize| Some(u16::from_le_bytes(head.get(at..at + 2)?.try_into().ok()?));
    let u32_at = |at: usize| Some(u32::from_le_bytes(head.get(at..at + 4)?.try_into().ok()?));
    if head.get(0..2)? != b"MZ" {
        return None;
    }
    let pe = u32_at(0x3c)? as usize;
    if head.get(pe..pe.checked_add(4)?)? != b"PE\0\0" {
        return None;
    }
    let optional = pe + 24;
    // PE32 and PE32+ differ in where the data directories (and their count) start.
    let (count_at, directories) = match u16_at(optional)? {
        0x10b => (optional + 92, optional + 96),
        0x20b => (optional + 108, optional + 112),
        _ => return None,
    };
    if u32_at(count_at)? < 5 {
        return None;
    }
    let checksum_at = optional + 64;
    let table_entry_at = directories + 4 * 8;
    Some(PeHeader {
        checksum_at: checksum_at as u64,
        checksum: u32_at(checksum_at)?,
        table_entry_at: table_entry_at as u64,
        table_offset: u32_at(table_entry_at)?,
        table_len: u32_at(table_entry_at + 4)?,
    })
}

/// Why a PE installer's Authenticode part is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignedPeError {
    #[error("the PE header names a certificate table at {offset} of {len} bytes, but the file has {file_len}: bytes were appended or removed after signing")]
    TableNotAtEnd { offset: u64, len: u64, file_len: u64 },
    #[error(
        "the PE header names a certificate table at offset {0}, which is not a multiple of 8 as Authenticode writes it"
    )]
    Unaligned(u64),
    #[error("the certificate table is {0} bytes, more than any signature needs")]
    TooLong(u64),
    #[error("the PE header's certificate table entry is set but empty: the header was changed")]
    EmptyEntry,
    #[error("no installer trailer just before the certificate table (only zero padding may lie between them): bytes were changed or added after signing")]
    NoTrailer,
    #[error("the PE header's CheckSum is {found:#010x} but {wanted}: the header was changed")]
    CheckSum { found: u32, wanted: String },
}

/// Where our regions must end in a file of `file_len` with this header: the file's end when it
/// is not signed, else just before the zero padding that precedes its certificate table. Checks
/// the table entry; `trailer_end_candidates` are then tried by the caller, who knows the trailer.
pub fn regions_end_candidates(pe: &PeHeader, file_len: u64) -> Result<Range<u64>, SignedPeError> {
    let Some(table) = pe.table() else {
        if pe.table_offset != 0 {
            return Err(SignedPeError::EmptyEntry);
        }
        return Ok(file_len..file_len + 1);
    };
    if table.end != file_len {
        return Err(SignedPeError::TableNotAtEnd { offset: table.start, len: table.end - table.start, file_len });
    }
    if table.start % 8 != 0 {
        return Err(SignedPeError::Unaligned(table.start));
    }
    if table.end - table.start > MAX_TABLE_LEN {
        return Err(SignedPeError::TooLong(table.end - table.start));
    }
    // Padding to a multiple of 8: the regions end at most 7 bytes before the table.
    Ok(table.start.saturating_sub(7)..table.start + 1)
}

/// Checks the header's `CheckSum`: zero in an unsigned file (as the linker leaves it), the PE
/// checksum of the whole file (`checksum`, from [`Checksum`]) in a signed one.
pub fn check_checksum(pe: &PeHeader, checksum: Option<u32>) -> Result<(), SignedPeError> {
    match (pe.table(), checksum) {
        (None, _) if pe.checksum == 0 => Ok(()),
        (None, _) => Err(SignedPeError::CheckSum { found: pe.checksum, wanted: "0 in an unsigned installer".into() }),
        (Some(_), Some(sum)) if sum == pe.checksum => Ok(()),
        (Some(_), sum) => Err(SignedPeError::CheckSum {
            found: pe.checksum,
            wanted: sum.map(|s| format!("the file's checksum is {s:#010x}")).unwrap_or_else(|| "unknown".into()),
        }),
    }
}

/// A stub as an installer carries it: a PE stub with the fields signing rewrites (`CheckSum`,
/// the certificate table entry) zeroed, as an unsigned installer must have them (a linker may
/// have set a checksum); any other stub as it is.
pub fn as_built(stub: &[u8]) -> std::borrow::Cow<'_, [u8]> {
    match pe_header(stub) {
        Some(pe) => {
            let mut copy = stub.to_vec();
            masked(&pe, 0, &mut copy);
            std::borrow::Cow::Owned(copy)
        }
        None => std::borrow::Cow::Borrowed(stub),
    }
}

/// `bytes`, which start at file offset `at`, with the fields signing rewrites zeroed.
pub fn masked(pe: &PeHeader, at: u64, bytes: &mut [u8]) {
    let span = at..at + bytes.len() as u64;
    for field in pe.rewritten() {
        let (start, end) = (field.start.max(span.start), field.end.min(span.end));
        for off in start..end {
            bytes[(off - at) as usize] = 0;
        }
    }
}

/// The PE checksum (the algorithm of `CheckSumMappedFile`): 16-bit one's-complement-style sum of
/// the whole file with the `CheckSum` field taken as zero, plus the file's length. Fed in order.
#[derive(Debug)]
pub struct Checksum {
    checksum_at: u64,
    pos: u64,
    sum: u64,
    /// A byte left over from an odd-length chunk.
    odd: Option<u8>,
}

impl Checksum {
    pub fn new(pe: &PeHeader) -> Checksum {
        Checksum { checksum_at: pe.checksum_at, pos: 0, sum: 0, odd: None }
    }

    pub fn update(&mut self, chunk: &[u8]) {
        for &b in chunk {
            let in_field = (self.checksum_at..self.checksum_at + 4).contains(&self.pos);
            let b = if in_field { 0 } else { b };
            self.pos += 1;
            match self.odd.take() {
                None => self.odd = Some(b),
                Some(low) => {
                    self.sum += u64::from(u16::from_le_bytes([low, b]));
                    self.sum = (self.sum & 0xffff) + (self.sum >> 16);
                }
            }
        }
    }

    pub fn finish(mut self) -> u32 {
        if let Some(low) = self.odd.take() {
            self.sum += u64::from(low);
        }
        let folded = (self.sum & 0xffff) + (self.sum >> 16);
        let folded = (folded & 0xffff) + (folded >> 16);
        (folded as u32).wrapping_add(self.pos as u32)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A minimal PE32+ header: `MZ`, the PE offset, `PE\0\0`, the optional header's magic, 16 data
    /// directories, and the checksum and certificate table entry given.
    fn pe(checksum: u32, table: (u32, u32)) -> Vec<u8> {
        let at = 0x80usize;
        let mut b = vec![0u8; 1024];
        b[0..2].copy_from_slice(b"MZ");
        b[0x3c..0x40].copy_from_slice(&(at as u32).to_le_bytes());
        b[at..at + 4].copy_from_slice(b"PE\0\0");
        let opt = at + 24;
        b[opt..opt + 2].copy_from_slice(&0x20bu16.to_le_bytes());
        b[opt + 64..opt + 68].copy_from_slice(&checksum.to_le_bytes());
        b[opt + 108..opt + 112].copy_from_slice(&16u32.to_le_bytes());
        let entry = opt + 112 + 32;
        b[entry..entry + 4].copy_from_slice(&table.0.to_le_bytes());
        b[entry + 4..entry + 8].copy_from_slice(&table.1.to_le_bytes());
        b
    }

    #[test]
    fn header_fields_are_found_in_pe32_plus() {
        let h = pe_header(&pe(0x1234, (4096, 1520))).unwrap();
        assert_eq!((h.checksum_at, h.checksum, h.table_entry_at), (0x80 + 24 + 64, 0x1234, 0x80 + 24 + 112 + 32));
        assert_eq!(h.table(), Some(4096..5616));
        assert_eq!(pe_header(&pe(0, (0, 0))).unwrap().table(), None);
        assert_eq!(pe_header(b"\x7fELF\x02\x01\x01"), None);
        let mut few = pe(0, (0, 0));
        few[0x80 + 24 + 108] = 4;
        assert_eq!(pe_header(&few), None, "no data directory 4");
    }

    #[test]
    fn the_table_must_end_the_file_aligned() {
        let h = |offset, len| pe_header(&pe(0, (offset, len))).unwrap();
        // (header, file length, where the regions may end)
        type Case = (PeHeader, u64, Result<Range<u64>, SignedPeError>);
        let cases: &[Case] = &[
            (h(0, 0), 5000, Ok(5000..5001)),
            (h(4096, 1520), 5616, Ok(4089..4097)),
            (h(4096, 1520), 5617, Err(SignedPeError::TableNotAtEnd { offset: 4096, len: 1520, file_len: 5617 })),
            (h(4100, 1516), 5616, Err(SignedPeError::Unaligned(4100))),
            (h(8, (MAX_TABLE_LEN + 8) as u32), MAX_TABLE_LEN + 16, Err(SignedPeError::TooLong(MAX_TABLE_LEN + 8))),
            (h(4096, 0), 5000, Err(SignedPeError::EmptyEntry)),
        ];
        for (header, file_len, want) in cases {
            assert_eq!(&regions_end_candidates(header, *file_len), want, "{header:?} in {file_len}");
        }
    }

    #[test]
    fn masking_and_checksum() {
        let file = pe(0xdead_beef, (4096, 8));
        let h = pe_header(&file).unwrap();
        let mut copy = file.clone();
        masked(&h, 0, &mut copy);
        assert_eq!(pe_header(&copy).unwrap().checksum, 0);
        assert_eq!(pe_header(&copy).unwrap().table(), None);
        // Masking a chunk that starts inside a field zeroes only its part of it.
        let mut tail = file[h.checksum_at as usize + 2..].to_vec();
        masked(&h, h.checksum_at + 2, &mut tail);
        assert_eq!(tail[0..2], [0, 0]);
        // The checksum is the same fed at once or byte by byte, and ignores the CheckSum field.
        let mut whole = Checksum::new(&h);
        whole.update(&file);
        let mut bytes = Checksum::new(&h);
        for b in &copy {
            bytes.update(std::slice::from_ref(b));
        }
        let (a, b) = (whole.finish(), bytes.finish());
        assert_ne!(a, b, "the table entry differs, so the sums do");
        let mut same = Checksum::new(&h);
        let mut zeroed = file.clone();
        zeroed[h.checksum_at as usize..h.checksum_at as usize + 4].fill(0);
        same.update(&zeroed);
        assert_eq!(same.finish(), a);
        assert_eq!(check_checksum(&h, Some(0xdead_beef)), Ok(()));
        assert!(check_checksum(&h, Some(1)).is_err());
        assert!(check_checksum(&pe_header(&pe(7, (0, 0))).unwrap(), None).is_err());
        assert_eq!(check_checksum(&pe_header(&pe(0, (0, 0))).unwrap(), None), Ok(()));
    }
}
