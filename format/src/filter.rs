//! Branch-target filters: a reversible rewrite of executables that makes them compress better,
//! like xz's BCJ filters.
//!
//! Machine code addresses calls and globals relative to the instruction: a function called from
//! a thousand places has a thousand different displacements. Replacing each displacement with
//! the target itself (displacement plus position, the position being the byte offset in the
//! file) makes the thousand calls the same bytes, which zstd then finds as repeats. The builder
//! encodes each executable before compression ([`Encode`]), the installer decodes after
//! decompression ([`Decode`]). [`detect`] picks the filter from a file's header.
//!
//! **Invariant: `decode(encode(x)) == x` for every byte string `x`, and both run in one pass
//! over the data with a bounded buffer.** Decoding works because every decision the encoder
//! takes (where an instruction starts, whether it was converted) is read from bytes the
//! encoding leaves unchanged or maps onto the same class:
//!
//! - [`Filter::X86`] scans forward. At a position that starts a pattern (a `CALL rel32`, or a
//!   RIP-relative `MOV`/`LEA` with a 64-bit operand) and whose whole instruction fits in the
//!   file, the instruction's bytes are *claimed*, converted or not, and the scan continues
//!   after them; elsewhere it moves on by one byte. The bytes that decide a claim (the opcode
//!   bytes) are never part of a displacement, so the decoder, scanning the same way, claims
//!   exactly the same instructions. Within a claimed instruction only a displacement in ±16 MiB
//!   (its top byte `0x00` or `0xFF`) is converted, by adding the position modulo 2^25, which
//!   maps that range onto itself: the decoder sees the same top-byte class and subtracts. (xz's
//!   x86 filter does not claim the bytes it leaves alone and needs state to undo that; claiming
//!   makes the decision a function of unchanged bytes alone.)
//! - [`Filter::Arm64`] looks at each aligned 32-bit word independently: `BL` and `ADRP` are
//!   recognised by opcode bits the conversion does not touch, and their immediate fields get the
//!   word's position added modulo their width.
//!
//! A filter is an optimisation, not a check: the installer still compares each file's sha256
//! with the signed manifest after decoding, so a wrong or buggy filter can make an installation
//! fail, never install wrong bytes. This module knows nothing of the manifest: recording which
//! filter encoded a file is its caller's job.

use std::io::{self, Read};

use serde::{Deserialize, Serialize};

/// A branch-target filter, named in the manifest by its lowercase name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Filter {
    /// x86 and x86-64 code. Converts, with the claim rule of the module documentation:
    ///
    /// - `E8 rel32` (`CALL`), target relative to the end of the 5-byte instruction;
    /// - `REX.W MOV/LEA reg, [RIP+disp32]` (`48`|`4C`, `8B`|`8D`, ModRM with mod = 00 and
    ///   rm = 101), target relative to the end of the 7-byte instruction: Go's code loads every
    ///   global, type descriptor and function value this way.
    ///
    /// Measured with `zstd -19 --long=27` on Go 1.27.3 linux-amd64, `compile` (28.3 MB) and all
    /// 68 ELF files of the tree concatenated (104.8 MB):
    ///
    /// | converted                         | `compile`  | all ELF files |
    /// |-----------------------------------|-----------:|--------------:|
    /// | nothing                           |  7,385,705 |    20,768,034 |
    /// | `E8`, `E9` (xz's choice)          |  6,917,395 |    20,178,990 |
    /// | `E8`                              |  6,847,432 |    19,856,248 |
    /// | `E8`, `E9`, `48 8D` `LEA`         |  6,800,037 |    19,743,243 |
    /// | `E8`, `E9`, `MOV`/`LEA` as above  |  6,771,147 |    19,635,403 |
    /// | `E8`, `MOV`/`LEA` as above (this) |  6,702,418 |    19,341,143 |
    ///
    /// `E9` (`JMP rel32`) is left alone because converting it costs more than it gains, most
    /// likely because Go's jumps mostly stay within a function, where the short displacements
    /// repeat more than absolute targets would. At `zstd -3`, adding the other REX prefixes,
    /// stores (`89`) or the forms without REX.W gained less than 0.1 % more. In i386 code `48`
    /// and `4C` are one-byte `DEC` instructions and the `MOV`/`LEA` forms next to never occur:
    /// linux-386 `compile` gives 6,849,993 bytes raw, 6,202,495 with `E8`, 6,202,192 with this.
    X86,
    /// AArch64 code. Converts, in every 4-byte aligned little-endian word: `BL` (its 26-bit
    /// word offset plus the word's index) and `ADRP` (its 21-bit page offset plus the word's
    /// position divided by 4096; file offsets and addresses differ by a multiple of the page
    /// size in Go's binaries, so this is the target page up to a constant).
    ///
    /// Measured like [`Filter::X86`], on Go 1.27.3 linux-arm64 (`compile` 26.6 MB; 68 ELF files,
    /// 99.4 MB): nothing converted 6,403,927 and 18,990,978 bytes; `BL` alone 5,904,582 and
    /// 18,017,747; `BL` and `ADRP` (this) 5,774,799 and 17,735,867.
    Arm64,
}

impl Filter {
    /// The name used in manifests and messages: `"x86"` or `"arm64"`.
    pub fn name(self) -> &'static str {
        match self {
            Filter::X86 => "x86",
            Filter::Arm64 => "arm64",
        }
    }
}

/// The filter for an executable, from its first bytes (up to 4096 are looked at; fewer are
/// fine). Little-endian ELF with `e_machine` x86-64 or i386 and PE with machine AMD64 or i386
/// give [`Filter::X86`]; aarch64 ELF and ARM64 PE give [`Filter::Arm64`]. Anything else,
/// including a header cut short or pointing outside `head`, gives `None`.
pub fn detect(head: &[u8]) -> Option<Filter> {
    if head.starts_with(b"\x7fELF") {
        // EI_CLASS (1 = 32-bit, 2 = 64-bit) and EI_DATA (1 = little-endian); e_machine is at
        // offset 18 in both classes.
        let (class, data) = (*head.get(4)?, *head.get(5)?);
        if !matches!(class, 1 | 2) || data != 1 {
            return None;
        }
        return match u16_le(head, 18)? {
            62 | 3 => Some(Filter::X86),
            183 => Some(Filter::Arm64),
            _ => None,
        };
    }
    if head.starts_with(b"MZ") {
        // e_lfanew: where the PE signature is; the COFF machine field follows it.
        let pe = usize::try_from(u32::from_le_bytes(head.get(0x3c..0x40)?.try_into().ok()?)).ok()?;
        if head.get(pe..pe.checked_add(4)?)? != b"PE\0\0" {
            return None;
        }
        return match u16_le(head, pe.checked_add(4)?)? {
            0x8664 | 0x014c => Some(Filter::X86),
            0xAA64 => Some(Filter::Arm64),
            _ => None,
        };
    }
    None
}

fn u16_le(bytes: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_le_bytes(bytes.get(at..at.checked_add(2)?)?.try_into().ok()?))
}

/// Encodes a whole file in place (the builder's direction). Gives the same bytes as [`Encode`].
pub fn encode(filter: Filter, data: &mut [u8]) {
    transform(filter, Direction::Encode, data, 0, End::Final);
}

/// Decodes a whole file in place (the installer's direction). Gives the same bytes as [`Decode`].
pub fn decode(filter: Filter, data: &mut [u8]) {
    transform(filter, Direction::Decode, data, 0, End::Final);
}

/// Which way a transform goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Direction {
    /// Relative to absolute.
    Encode,
    /// Absolute back to relative.
    Decode,
}

/// Whether more of the file follows the bytes given to [`transform`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum End {
    /// More follows: stop before a position whose decision needs bytes not yet seen.
    More,
    /// The file ends here: decide everything, leaving an instruction cut off by the end as it is.
    Final,
}

/// Transforms `data`, which starts at byte `start` of the file, in place, and returns how many
/// of its bytes are decided (all of them with [`End::Final`]). The rest, at most
/// [`MAX_UNDECIDED`] bytes, is untouched and must be passed again, with the bytes that follow it,
/// starting at `start` plus the returned length.
fn transform(filter: Filter, direction: Direction, data: &mut [u8], start: u64, end: End) -> usize {
    match filter {
        Filter::X86 => x86(direction, data, start, end),
        Filter::Arm64 => arm64(direction, data, start, end),
    }
}

/// The longest run of bytes a filter can leave undecided at the end of a block: the length of
/// the longest x86 pattern (7) less one, or an incomplete Arm64 word.
const MAX_UNDECIDED: usize = 6;

/// The x86 scan of [`Filter::X86`]; see the module documentation for why the decoder's scan
/// claims the same instructions as the encoder's.
fn x86(direction: Direction, data: &mut [u8], start: u64, end: End) -> usize {
    let len = data.len();
    // With more to come, scan only positions whose longest pattern fits in `data`: every read
    // below is then in bounds and every "does it fit in the file" answer is yes, as it would be
    // with the whole file.
    let scan_end = match end {
        End::More => len.saturating_sub(MAX_UNDECIDED),
        End::Final => len,
    };
    let mut i = 0;
    while i < scan_end {
        // Skip eight bytes at a time to the next byte that can start a pattern; the decision
        // below is unchanged for it, and every byte skipped would have been passed over alone.
        if let Some(word) = data.get(i..i + 8).filter(|_| i + 8 <= scan_end) {
            let word = u64::from_le_bytes(word.try_into().expect("eight bytes"));
            let starts = x86_starts(word);
            if starts == 0 {
                i += 8;
                continue;
            }
            i += starts.trailing_zeros() as usize / 8;
        }
        // The decision reads the opcode bytes: `data[i]`, then `data[i + 1]` only after a REX.W
        // prefix, then `data[i + 2]` only after `8B`/`8D`. None of them is ever part of a
        // displacement: claimed windows before `i` end at or before it, and a window starting
        // at `j > i` has its displacement from `j + 1` (`E8`) or `j + 3` (`MOV`/`LEA`) on, so
        // only an `E8` at `i + 1` could cover `data[i + 2]`, which is then not read. The
        // encoder never changes a byte this decision reads; the decoder decides the same.
        let (disp_at, window) = match data[i] {
            0xE8 => (1, 5),
            0x48 | 0x4C
                if matches!(data.get(i + 1), Some(0x8B | 0x8D))
                    && data.get(i + 2).is_some_and(|modrm| modrm & 0xC7 == 0x05) =>
            {
                (3, 7)
            }
            _ => {
                i += 1;
                continue;
            }
        };
        // Only an instruction whole in the file is claimed.
        let Some(disp) = data.get_mut(i + disp_at..i + window) else {
            i += 1;
            continue;
        };
        let field: &mut [u8; 4] = disp.try_into().expect("a displacement is 4 bytes");
        convert_rel32(direction, field, start.wrapping_add((i + window) as u64));
        i += window;
    }
    // A window may end past `scan_end`, never past `len`.
    i.min(len)
}

/// A mask whose lowest set bit is the high bit of the first byte of `word` (little-endian) that
/// may start an x86 pattern (`E8`, `48`, `4C`), or zero if none can. Bits above the lowest may
/// be set wrongly (a borrow runs upwards), none is missed; only the lowest is used.
#[inline(always)]
fn x86_starts(word: u64) -> u64 {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGHS: u64 = 0x8080_8080_8080_8080;
    // Every zero byte of `v` (and maybe bytes above the lowest of them).
    let zero_bytes = |v: u64| v.wrapping_sub(ONES) & !v & HIGHS;
    zero_bytes(word ^ (0xE8 * ONES)) | zero_bytes((word & (0xFB * ONES)) ^ (0x48 * ONES))
}

/// Converts one claimed x86 displacement, relative to `next` (the position after the
/// instruction), if it is within ±16 MiB.
///
/// The set of 32-bit values whose top byte is `0x00` or `0xFF` is exactly the 25-bit signed
/// range [-2^24, 2^24); adding (or subtracting) a constant modulo 2^25 and sign-extending maps
/// it one-to-one onto itself. Values outside it are left alone, and stay outside it. Only the
/// position modulo 2^25 matters, so its truncation to 32 bits is harmless.
#[inline(always)]
fn convert_rel32(direction: Direction, field: &mut [u8; 4], next: u64) {
    if !matches!(field[3], 0x00 | 0xFF) {
        return;
    }
    let value = u32::from_le_bytes(*field);
    let position = next as u32;
    let moved = match direction {
        Direction::Encode => value.wrapping_add(position),
        Direction::Decode => value.wrapping_sub(position),
    };
    // Keep 25 bits, sign-extended: the top byte is 0x00 or 0xFF again.
    let converted = (((moved << 7) as i32) >> 7) as u32;
    *field = converted.to_le_bytes();
}

/// The word scan of [`Filter::Arm64`]. `start` is a multiple of 4 (every block before ends at a
/// word boundary).
fn arm64(direction: Direction, data: &mut [u8], start: u64, end: End) -> usize {
    debug_assert_eq!(start % 4, 0, "an arm64 block starts at a word boundary");
    let len = data.len();
    let whole_words = len - len % 4;
    let mut position = start;
    for bytes in data[..whole_words].chunks_exact_mut(4) {
        let word: &mut [u8; 4] = bytes.try_into().expect("chunks of 4");
        let w = u32::from_le_bytes(*word);
        let converted = if w >> 26 == 0b100101 {
            // BL: imm26 is the target's distance in words.
            let imm = w & 0x03FF_FFFF;
            let index = (position / 4) as u32;
            let imm = match direction {
                Direction::Encode => imm.wrapping_add(index),
                Direction::Decode => imm.wrapping_sub(index),
            };
            (w & 0xFC00_0000) | (imm & 0x03FF_FFFF)
        } else if w & 0x9F00_0000 == 0x9000_0000 {
            // ADRP: a 21-bit page distance, its high 19 bits (immhi) in bits 5 to 23, its low 2
            // (immlo) in bits 29 and 30.
            let imm = ((w >> 5) & 0x7_FFFF) << 2 | ((w >> 29) & 0b11);
            let page = (position >> 12) as u32;
            let imm = match direction {
                Direction::Encode => imm.wrapping_add(page),
                Direction::Decode => imm.wrapping_sub(page),
            } & 0x1F_FFFF;
            (w & !(0x7_FFFF << 5) & !(0b11 << 29)) | ((imm >> 2) << 5) | ((imm & 0b11) << 29)
        } else {
            w
        };
        *word = converted.to_le_bytes();
        position = position.wrapping_add(4);
    }
    match end {
        End::More => whole_words,
        // The last, incomplete word stays as it is.
        End::Final => len,
    }
}

/// How many bytes the adapters transform at a time.
const BLOCK_LEN: usize = 64 * 1024;

/// The transformed bytes of a whole stream, read through a block buffer: the state both
/// adapters share.
struct Stream<R> {
    filter: Filter,
    direction: Direction,
    inner: R,
    block: Box<[u8]>,
    /// The file position of `block[0]`.
    block_start: u64,
    /// `block[..filled]` holds data read from `inner`; `block[..decided]` of it is transformed
    /// and `block[..emitted]` of that given to the caller.
    emitted: usize,
    decided: usize,
    filled: usize,
    /// `inner` has reported its end, and `block[..filled]` was transformed as the file's end.
    at_end: bool,
}

impl<R: Read> Stream<R> {
    fn new(filter: Filter, direction: Direction, inner: R) -> Stream<R> {
        Stream {
            filter,
            direction,
            inner,
            block: vec![0; BLOCK_LEN].into_boxed_slice(),
            block_start: 0,
            emitted: 0,
            decided: 0,
            filled: 0,
            at_end: false,
        }
    }

    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        if out.is_empty() {
            return Ok(0);
        }
        while self.emitted == self.decided {
            if self.at_end {
                return Ok(0);
            }
            self.next_block()?;
        }
        let n = out.len().min(self.decided - self.emitted);
        out[..n].copy_from_slice(&self.block[self.emitted..self.emitted + n]);
        self.emitted += n;
        Ok(n)
    }

    /// Moves the undecided bytes to the front, fills the block from `inner` (to its end or the
    /// stream's) and transforms it. On an error nothing read is lost: the next call goes on.
    fn next_block(&mut self) -> io::Result<()> {
        self.block.copy_within(self.decided..self.filled, 0);
        self.block_start = self.block_start.wrapping_add(self.decided as u64);
        self.filled -= self.decided;
        self.decided = 0;
        self.emitted = 0;
        let mut inner_ended = false;
        while self.filled < self.block.len() {
            match self.inner.read(&mut self.block[self.filled..]) {
                Ok(0) => {
                    inner_ended = true;
                    break;
                }
                Ok(n) => self.filled += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        let end = if inner_ended { End::Final } else { End::More };
        self.decided = transform(self.filter, self.direction, &mut self.block[..self.filled], self.block_start, end);
        self.at_end = inner_ended;
        Ok(())
    }
}

/// Reads `inner` encoded with a filter (the builder's direction): the same bytes as [`encode`]
/// of the whole stream, whatever the sizes of the reads on either side. Holds one 64 KiB block.
pub struct Encode<R>(Stream<R>);

impl<R: Read> Encode<R> {
    /// The encoding of everything `inner` gives until its end.
    pub fn new(filter: Filter, inner: R) -> Encode<R> {
        Encode(Stream::new(filter, Direction::Encode, inner))
    }
}

impl<R: Read> Read for Encode<R> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        self.0.read(out)
    }
}

/// Reads `inner` decoded with a filter (the installer's direction): the same bytes as [`decode`]
/// of the whole stream, whatever the sizes of the reads on either side. Holds one 64 KiB block.
pub struct Decode<R>(Stream<R>);

impl<R: Read> Decode<R> {
    /// The decoding of everything `inner` gives until its end.
    pub fn new(filter: Filter, inner: R) -> Decode<R> {
        Decode(Stream::new(filter, Direction::Decode, inner))
    }
}

impl<R: Read> Read for Decode<R> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        self.0.read(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A small deterministic generator (xorshift64*), so the tests need no new dependency.
    struct XorShift(u64);

    impl XorShift {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
        }

        /// `len` bytes, each uniform over `alphabet` (all 256 values when it is empty).
        fn bytes(&mut self, len: usize, alphabet: &[u8]) -> Vec<u8> {
            (0..len)
                .map(|_| {
                    let r = self.next();
                    if alphabet.is_empty() {
                        (r >> 56) as u8
                    } else {
                        alphabet[(r >> 32) as usize % alphabet.len()]
                    }
                })
                .collect()
        }
    }

    /// Bytes that make the x86 and arm64 patterns, and their top-byte classes, frequent.
    const PATTERN_BYTES: &[u8] =
        &[0xE8, 0xE9, 0x48, 0x4C, 0x8B, 0x8D, 0x05, 0x0D, 0x00, 0xFF, 0x94, 0x97, 0x90, 0xB0, 0x01];

    /// Random inputs: (name, bytes).
    fn random_inputs() -> Vec<(&'static str, Vec<u8>)> {
        let mut rng = XorShift(0x9E37_79B9_7F4A_7C15);
        vec![
            ("empty", Vec::new()),
            ("1 byte", rng.bytes(1, &[])),
            ("6 bytes", rng.bytes(6, PATTERN_BYTES)),
            ("7 bytes", rng.bytes(7, PATTERN_BYTES)),
            ("uniform 4097", rng.bytes(4097, &[])),
            ("uniform 200k", rng.bytes(200_003, &[])),
            ("patterns 4099", rng.bytes(4099, PATTERN_BYTES)),
            ("patterns 200k", rng.bytes(200_001, PATTERN_BYTES)),
        ]
    }

    const FILTERS: [Filter; 2] = [Filter::X86, Filter::Arm64];

    #[test]
    fn random_data_round_trips_both_ways() {
        for filter in FILTERS {
            for (name, input) in random_inputs() {
                let mut encoded = input.clone();
                encode(filter, &mut encoded);
                let mut back = encoded.clone();
                decode(filter, &mut back);
                assert!(back == input, "{filter:?} {name}: decode(encode(x)) != x");
                // Decoding is a bijection too: arbitrary bytes decode to something that encodes back.
                let mut decoded = input.clone();
                decode(filter, &mut decoded);
                encode(filter, &mut decoded);
                assert!(decoded == input, "{filter:?} {name}: encode(decode(x)) != x");
            }
        }
    }

    #[test]
    fn pattern_data_is_actually_changed() {
        for filter in FILTERS {
            let (_, input) = random_inputs().pop().unwrap();
            let mut encoded = input.clone();
            encode(filter, &mut encoded);
            let changed = input.iter().zip(&encoded).filter(|(a, b)| a != b).count();
            assert!(changed > input.len() / 100, "{filter:?}: only {changed} bytes changed");
        }
    }

    fn words(words: &[u32]) -> Vec<u8> {
        words.iter().flat_map(|w| w.to_le_bytes()).collect()
    }

    /// A crafted case: name, filter, file position of the first byte, input, its encoding.
    type Crafted = (&'static str, Filter, u64, Vec<u8>, Vec<u8>);

    #[test]
    fn crafted_cases_encode_as_expected_and_round_trip() {
        #[rustfmt::skip]
        let cases: Vec<Crafted> = vec![
            ("call at 0", Filter::X86, 0,
                vec![0xE8, 0, 0, 0, 0], vec![0xE8, 5, 0, 0, 0]),
            ("call backwards to 0", Filter::X86, 0,
                vec![0xE8, 0xFB, 0xFF, 0xFF, 0xFF], vec![0xE8, 0, 0, 0, 0]),
            ("call cut off by the end", Filter::X86, 0,
                vec![0xE8, 0, 0, 0], vec![0xE8, 0, 0, 0]),
            ("lone E8 at the end", Filter::X86, 0,
                vec![0x90, 0xE8], vec![0x90, 0xE8]),
            ("E8 E8 E8: claimed, top byte E8, unchanged", Filter::X86, 0,
                vec![0xE8; 12], vec![0xE8; 12]),
            ("E8 inside a displacement is not a call", Filter::X86, 0,
                vec![0xE8, 0xE8, 0, 0, 0, 0, 0], vec![0xE8, 0xED, 0, 0, 0, 0, 0]),
            ("claimed but not converted still skips its window", Filter::X86, 0,
                vec![0xE8, 0xE8, 0, 0, 0x01, 0xE8, 0, 0, 0, 0],
                vec![0xE8, 0xE8, 0, 0, 0x01, 0xE8, 10, 0, 0, 0]),
            ("E9 is left alone", Filter::X86, 0,
                vec![0xE9, 0, 0, 0, 0], vec![0xE9, 0, 0, 0, 0]),
            ("displacement 2^24 - 1 wraps to negative", Filter::X86, 0,
                vec![0xE8, 0xFF, 0xFF, 0xFF, 0x00], vec![0xE8, 0x04, 0, 0, 0xFF]),
            ("displacement -2^24", Filter::X86, 0,
                vec![0xE8, 0, 0, 0, 0xFF], vec![0xE8, 0x05, 0, 0, 0xFF]),
            ("displacement 2^24 (top byte 01) is not converted", Filter::X86, 0,
                vec![0xE8, 0, 0, 0, 0x01], vec![0xE8, 0, 0, 0, 0x01]),
            ("displacement -2^24 - 1 (top byte FE) is not converted", Filter::X86, 0,
                vec![0xE8, 0xFF, 0xFF, 0xFF, 0xFE], vec![0xE8, 0xFF, 0xFF, 0xFF, 0xFE]),
            ("all FF", Filter::X86, 0,
                vec![0xFF; 9], vec![0xFF; 9]),
            ("position 2^25 - 5: the sum wraps modulo 2^25", Filter::X86, (1 << 25) - 5,
                vec![0xE8, 0, 0, 0, 0], vec![0xE8, 0, 0, 0, 0]),
            ("position past 2^32", Filter::X86, (1 << 32) + 3,
                vec![0xE8, 1, 0, 0, 0], vec![0xE8, 9, 0, 0, 0]),
            ("LEAQ sym(SB), AX", Filter::X86, 0,
                vec![0x48, 0x8D, 0x05, 1, 0, 0, 0], vec![0x48, 0x8D, 0x05, 8, 0, 0, 0]),
            ("MOVQ sym(SB), R9", Filter::X86, 16,
                vec![0x4C, 0x8B, 0x0D, 0xF0, 0xFF, 0xFF, 0xFF], vec![0x4C, 0x8B, 0x0D, 0x07, 0, 0, 0]),
            ("LEA with a base register is not RIP-relative", Filter::X86, 0,
                vec![0x48, 0x8D, 0x45, 0, 0, 0, 0], vec![0x48, 0x8D, 0x45, 0, 0, 0, 0]),
            ("MOV store is left alone", Filter::X86, 0,
                vec![0x48, 0x89, 0x05, 0, 0, 0, 0], vec![0x48, 0x89, 0x05, 0, 0, 0, 0]),
            ("LEA cut off by the end", Filter::X86, 0,
                vec![0x48, 0x8D, 0x05, 0, 0, 0], vec![0x48, 0x8D, 0x05, 0, 0, 0]),
            ("48 8D with a non-RIP ModRM E8, which is a call", Filter::X86, 0,
                vec![0x48, 0x8D, 0xE8, 0, 0, 0, 0], vec![0x48, 0x8D, 0xE8, 7, 0, 0, 0]),
            ("REX prefix then a call", Filter::X86, 0,
                vec![0x48, 0xE8, 0, 0, 0, 0], vec![0x48, 0xE8, 6, 0, 0, 0]),
            ("BL at word 0 is unchanged", Filter::Arm64, 0,
                words(&[0x9400_0000]), words(&[0x9400_0000])),
            ("BL at word 1", Filter::Arm64, 0,
                words(&[0xD503_201F, 0x9400_0000]), words(&[0xD503_201F, 0x9400_0001])),
            ("BL backwards wraps modulo 2^26", Filter::Arm64, 0,
                words(&[0, 0x97FF_FFFF]), words(&[0, 0x9400_0000])),
            ("B is left alone", Filter::Arm64, 4,
                words(&[0x1400_0000]), words(&[0x1400_0000])),
            ("ADRP on page 1", Filter::Arm64, 4096,
                words(&[0x9000_0000]), words(&[0xB000_0000])),
            ("ADRP -1 page on page 1 wraps modulo 2^21", Filter::Arm64, 4096,
                words(&[0xF0FF_FFE5]), words(&[0x9000_0005])),
            ("ADRP immlo carries into immhi", Filter::Arm64, 3 * 4096,
                words(&[0xB000_0003]), words(&[0x9000_0023])),
            ("ADR is left alone", Filter::Arm64, 4096,
                words(&[0x1000_0000]), words(&[0x1000_0000])),
            ("trailing bytes are untouched", Filter::Arm64, 0,
                vec![0, 0, 0, 0, 0x00, 0x00, 0x00], vec![0, 0, 0, 0, 0x00, 0x00, 0x00]),
            ("a BL's last 3 bytes at the end are untouched", Filter::Arm64, 0,
                vec![0, 0, 0, 0, 0, 0, 0x94], vec![0, 0, 0, 0, 0, 0, 0x94]),
        ];
        for (name, filter, start, input, expected) in cases {
            let mut encoded = input.clone();
            transform(filter, Direction::Encode, &mut encoded, start, End::Final);
            assert_eq!(encoded, expected, "{name}: encoding");
            transform(filter, Direction::Decode, &mut encoded, start, End::Final);
            assert_eq!(encoded, input, "{name}: decoding");
        }
    }

    /// Every displacement in ±16 MiB, at positions that make the sum wrap in 25 and 32 bits:
    /// decoding gives it back, and the encoding is in ±16 MiB again (so the decoder converts it).
    #[test]
    fn every_near_displacement_round_trips() {
        for next in [5, (1 << 24) + 1, (1 << 25) - 1, (1 << 32) + 7] {
            for value in -(1i32 << 24)..(1 << 24) {
                let original = value.to_le_bytes();
                let mut field = original;
                convert_rel32(Direction::Encode, &mut field, next);
                assert!(matches!(field[3], 0x00 | 0xFF), "{value} at {next}: encoded {field:?}");
                convert_rel32(Direction::Decode, &mut field, next);
                assert_eq!(field, original, "{value} at {next}");
            }
        }
    }

    /// A reader that returns at most 1, 2, …, 13, 1, 2, … bytes per call.
    struct Dribble<'a> {
        data: &'a [u8],
        calls: usize,
    }

    impl Read for Dribble<'_> {
        fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
            self.calls += 1;
            let n = out.len().min(self.data.len()).min(1 + self.calls % 13);
            out[..n].copy_from_slice(&self.data[..n]);
            self.data = &self.data[n..];
            Ok(n)
        }
    }

    /// Everything `reader` gives, read `read_len` bytes at a time.
    fn read_all(mut reader: impl Read, read_len: usize) -> Vec<u8> {
        let mut out = Vec::new();
        let mut buf = vec![0; read_len];
        loop {
            let n = reader.read(&mut buf).unwrap();
            if n == 0 {
                return out;
            }
            out.extend_from_slice(&buf[..n]);
        }
    }

    #[test]
    fn adapters_match_the_slice_functions_whatever_the_read_sizes() {
        for filter in FILTERS {
            for (name, input) in random_inputs() {
                let mut encoded = input.clone();
                encode(filter, &mut encoded);
                let mut decoded = input.clone();
                decode(filter, &mut decoded);
                for read_len in [1, 3, 7, 4096, 65536] {
                    let case = format!("{filter:?} {name}, reads of {read_len}");
                    let whole = read_all(Encode::new(filter, &input[..]), read_len);
                    assert!(whole == encoded, "{case}: Encode over a slice");
                    let dribbled = read_all(Encode::new(filter, Dribble { data: &input, calls: 0 }), read_len);
                    assert!(dribbled == encoded, "{case}: Encode over 1..13-byte reads");
                    let whole = read_all(Decode::new(filter, &input[..]), read_len);
                    assert!(whole == decoded, "{case}: Decode over a slice");
                    let dribbled = read_all(Decode::new(filter, Dribble { data: &input, calls: 0 }), read_len);
                    assert!(dribbled == decoded, "{case}: Decode over 1..13-byte reads");
                }
            }
        }
    }

    /// A real executable, this test program: the round trip through both adapters gives it back.
    #[test]
    fn this_test_executable_round_trips() {
        let program = std::fs::read(std::env::current_exe().unwrap()).unwrap();
        for filter in FILTERS {
            let encoded = read_all(Encode::new(filter, &program[..]), 65536);
            assert!(encoded != program, "{filter:?} changed nothing");
            let decoded = read_all(Decode::new(filter, Dribble { data: &encoded, calls: 0 }), 4096);
            assert!(decoded == program, "{filter:?}: the program does not round trip");
        }
    }

    /// An ELF header start: class, data (endianness), e_machine (in the header's byte order).
    fn elf(class: u8, data: u8, machine: u16) -> Vec<u8> {
        let mut h = vec![0; 64];
        h[..4].copy_from_slice(b"\x7fELF");
        h[4] = class;
        h[5] = data;
        h[6] = 1;
        let m = if data == 2 { machine.to_be_bytes() } else { machine.to_le_bytes() };
        h[18..20].copy_from_slice(&m);
        h
    }

    /// A PE file start: DOS header with e_lfanew, "PE\0\0" there and the machine after it.
    fn pe(lfanew: u32, machine: u16) -> Vec<u8> {
        let mut h = vec![0; 0x100];
        h[..2].copy_from_slice(b"MZ");
        h[0x3c..0x40].copy_from_slice(&lfanew.to_le_bytes());
        if let Some(sig) = h.get_mut(lfanew as usize..lfanew as usize + 6) {
            sig[..4].copy_from_slice(b"PE\0\0");
            sig[4..].copy_from_slice(&machine.to_le_bytes());
        }
        h
    }

    #[test]
    fn detect_from_headers() {
        let truncated = |mut h: Vec<u8>, len: usize| {
            h.truncate(len);
            h
        };
        let with_byte = |mut h: Vec<u8>, at: usize, byte: u8| {
            h[at] = byte;
            h
        };
        let cases: Vec<(&str, Vec<u8>, Option<Filter>)> = vec![
            ("ELF64 x86-64", elf(2, 1, 62), Some(Filter::X86)),
            ("ELF32 i386", elf(1, 1, 3), Some(Filter::X86)),
            ("ELF64 aarch64", elf(2, 1, 183), Some(Filter::Arm64)),
            ("ELF64 big-endian aarch64", elf(2, 2, 183), None),
            ("ELF64 riscv", elf(2, 1, 243), None),
            ("ELF32 arm", elf(1, 1, 40), None),
            ("ELF with class 0", elf(0, 1, 62), None),
            ("ELF cut before e_machine", truncated(elf(2, 1, 62), 18), None),
            ("ELF cut inside e_machine", truncated(elf(2, 1, 62), 19), None),
            ("ELF cut after e_machine", truncated(elf(2, 1, 62), 20), Some(Filter::X86)),
            ("ELF magic only", b"\x7fELF".to_vec(), None),
            ("PE amd64", pe(0x80, 0x8664), Some(Filter::X86)),
            ("PE i386", pe(0x80, 0x014c), Some(Filter::X86)),
            ("PE arm64", pe(0x80, 0xAA64), Some(Filter::Arm64)),
            ("PE arm (thumb)", pe(0x80, 0x01c4), None),
            ("PE signature at the very end", truncated(pe(0xfa, 0x8664), 0x100), Some(Filter::X86)),
            ("PE cut inside the machine", truncated(pe(0x80, 0x8664), 0x85), None),
            ("PE e_lfanew past the head", pe(0x1000, 0x8664), None),
            ("PE e_lfanew u32::MAX", pe(u32::MAX, 0x8664), None),
            ("MZ without PE signature", with_byte(pe(0x80, 0x8664), 0x80, b'X'), None),
            ("MZ cut before e_lfanew", b"MZ\x90\x00".to_vec(), None),
            ("empty", Vec::new(), None),
            ("shell script", b"#!/bin/sh\necho hello\n".to_vec(), None),
            ("garbage", XorShift(7).bytes(4096, &[]), None),
        ];
        for (name, head, expected) in cases {
            assert_eq!(detect(&head), expected, "{name}");
        }
    }

    #[test]
    fn names_and_serde_agree() {
        for (filter, name) in [(Filter::X86, "x86"), (Filter::Arm64, "arm64")] {
            assert_eq!(filter.name(), name);
            assert_eq!(serde_json::to_string(&filter).unwrap(), format!("\"{name}\""));
            assert_eq!(serde_json::from_str::<Filter>(&format!("\"{name}\"")).unwrap(), filter);
        }
        assert!(serde_json::from_str::<Filter>("\"X86\"").is_err());
    }
}
