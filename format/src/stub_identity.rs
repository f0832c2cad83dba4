//! The stub's identity: a fixed block of bytes compiled into every go-offline-installer stub
//! (`stub/src/main.rs`), saying which program it is, which installer formats it reads and which
//! target it was built for. The builder refuses a stub without one (any other executable would
//! otherwise be signed as an "installer"), or with one for another target; `inspect` and
//! `verify` say when a signed file's stub has none.
//!
//! ```text
//! GO-OFFLINE-INSTALLER-STUB-IDENTITY/1\n      (START)
//! program go-offline-installer\n
//! formats 1 2 3\n
//! target x86_64-unknown-linux-musl\n
//! \0\0…                                      (padding to a fixed length)
//! \nEND-STUB-IDENTITY\n                      (END, the last bytes of the block)
//! ```
//!
//! The block is [`LEN`] bytes, made at compile time by [`encode`] and found by [`stub_identity`]
//! anywhere in the stub's bytes: linkers place it where they like. It is an identity, not a
//! proof: anyone can copy it into another file. What it stops is a mistake (`--stub /bin/ls`, the
//! stub of another target); what is signed is still the stub's sha256.

use crate::layout::{FORMAT_V1, FORMAT_V2, FORMAT_VERSION};

/// The first bytes of the block.
pub const START: &[u8] = b"GO-OFFLINE-INSTALLER-STUB-IDENTITY/1\n";
/// The last bytes of the block.
pub const END: &[u8] = b"\nEND-STUB-IDENTITY\n";
/// The length of the block, padding included.
pub const LEN: usize = 256;
/// The program every stub names.
pub const PROGRAM: &str = "go-offline-installer";

/// What a stub says it is.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct StubIdentity {
    /// [`PROGRAM`] for our stubs.
    pub program: String,
    /// The installer format versions it reads (see [`crate::layout`]).
    pub formats: Vec<u32>,
    /// The target triple it was built for.
    pub target: String,
}

impl StubIdentity {
    /// Whether the stub reads installers of format `version`.
    pub fn reads(&self, version: u32) -> bool {
        self.formats.contains(&version)
    }
}

/// Why bytes have no (single) stub identity.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StubIdentityError {
    #[error("no stub identity found")]
    NotFound,
    #[error("{0} stub identities found, where a stub has one")]
    Several(usize),
}

/// The identity block of a stub for `target`, as the stub compiles it in.
///
/// Evaluated at compile time: a target that does not fit, or holds a space, a newline or a NUL,
/// is a compile error.
pub const fn encode(target: &str) -> [u8; LEN] {
    let target = target.as_bytes();
    let mut i = 0;
    while i < target.len() {
        assert!(target[i] > b' ' && target[i] < 0x7f, "a target triple is printable ASCII without spaces");
        i += 1;
    }
    let out = [0u8; LEN];
    let (out, at) = put(out, 0, START);
    let (out, at) = put(out, at, b"program ");
    let (out, at) = put(out, at, PROGRAM.as_bytes());
    let (out, at) = put(out, at, b"\nformats ");
    let (out, at) = put_u32(out, at, FORMAT_V1);
    let (out, at) = put(out, at, b" ");
    let (out, at) = put_u32(out, at, FORMAT_V2);
    let (out, at) = put(out, at, b" ");
    let (out, at) = put_u32(out, at, FORMAT_VERSION);
    let (out, at) = put(out, at, b"\ntarget ");
    let (out, at) = put(out, at, target);
    let (out, at) = put(out, at, b"\n");
    assert!(at <= LEN - END.len(), "the stub identity does not fit its block");
    let (out, _) = put(out, LEN - END.len(), END);
    out
}

/// `out` with `bytes` copied in at `at`, and the offset after them.
const fn put(mut out: [u8; LEN], at: usize, bytes: &[u8]) -> ([u8; LEN], usize) {
    let mut i = 0;
    while i < bytes.len() {
        out[at + i] = bytes[i];
        i += 1;
    }
    (out, at + bytes.len())
}

/// `out` with the decimal digits of `n` written at `at`, and the offset after them.
const fn put_u32(out: [u8; LEN], at: usize, n: u32) -> ([u8; LEN], usize) {
    let mut digits = [0u8; 10];
    let (mut len, mut rest) = (0, n);
    loop {
        digits[9 - len] = b'0' + (rest % 10) as u8;
        len += 1;
        rest /= 10;
        if rest == 0 {
            break;
        }
    }
    let (mut out, mut at) = (out, at);
    let mut i = 10 - len;
    while i < 10 {
        out[at] = digits[i];
        at += 1;
        i += 1;
    }
    (out, at)
}

/// The identity of the stub whose bytes are `bytes` (a stub file, or an installer's stub region):
/// the one well-formed block in them. A block cut short by the end of the bytes, or whose text
/// is not exactly what [`encode`] writes, is not one; two are refused, since a stub has one.
pub fn stub_identity(bytes: &[u8]) -> Result<StubIdentity, StubIdentityError> {
    let mut found = Vec::new();
    let mut from = 0;
    while let Some(at) = find(&bytes[from..], START).map(|i| from + i) {
        if let Some(identity) = bytes.get(at..at + LEN).and_then(parse_block) {
            found.push(identity);
        }
        from = at + 1;
    }
    match found.len() {
        0 => Err(StubIdentityError::NotFound),
        1 => Ok(found.remove(0)),
        n => Err(StubIdentityError::Several(n)),
    }
}

/// The first offset of `needle` in `haystack`.
fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    let first = needle[0];
    let mut from = 0;
    while let Some(i) = haystack[from..].iter().position(|&b| b == first) {
        let at = from + i;
        if haystack[at..].starts_with(needle) {
            return Some(at);
        }
        from = at + 1;
    }
    None
}

/// One block of [`LEN`] bytes starting with [`START`], if it is exactly one [`encode`] could write.
fn parse_block(block: &[u8]) -> Option<StubIdentity> {
    let body = block.strip_prefix(START)?.strip_suffix(END)?;
    let text_len = body.iter().position(|&b| b == 0).unwrap_or(body.len());
    let (text, padding) = body.split_at(text_len);
    if padding.iter().any(|&b| b != 0) {
        return None;
    }
    let text = std::str::from_utf8(text).ok()?;
    let mut lines = text.strip_suffix('\n')?.split('\n');
    let field = |line: Option<&str>, key: &str| -> Option<String> {
        let value = line?.strip_prefix(key)?.strip_prefix(' ')?;
        let plain = !value.is_empty() && value.bytes().all(|b| b > b' ' && b < 0x7f || b == b' ');
        plain.then(|| value.to_string())
    };
    let program = field(lines.next(), "program")?;
    let formats = field(lines.next(), "formats")?
        .split(' ')
        .map(|n| n.parse::<u32>().ok().filter(|_| n.bytes().all(|b| b.is_ascii_digit())))
        .collect::<Option<Vec<u32>>>()?;
    let target = field(lines.next(), "target")?;
    if lines.next().is_some() || program.contains(' ') || target.contains(' ') {
        return None;
    }
    Some(StubIdentity { program, formats, target })
}

#[cfg(test)]
mod tests {
    use super::*;

    const TRIPLE: &str = "x86_64-unknown-linux-musl";

    fn ours() -> StubIdentity {
        StubIdentity {
            program: PROGRAM.into(),
            formats: vec![FORMAT_V1, FORMAT_V2, FORMAT_VERSION],
            target: TRIPLE.into(),
        }
    }

    /// `prefix ‖ block ‖ suffix`.
    fn around(prefix: &[u8], block: &[u8], suffix: &[u8]) -> Vec<u8> {
        [prefix, block, suffix].concat()
    }

    /// A block with its text replaced by `text` (padded as `encode` pads).
    fn with_text(text: &[u8]) -> Vec<u8> {
        let mut block = vec![0u8; LEN];
        block[..START.len()].copy_from_slice(START);
        block[START.len()..START.len() + text.len()].copy_from_slice(text);
        block[LEN - END.len()..].copy_from_slice(END);
        block
    }

    #[test]
    fn identities_are_found_only_whole_and_alone() {
        let block = encode(TRIPLE);
        let elf = b"\x7fELF\x02\x01\x01 some code and data ".repeat(50);
        let mut flipped_end = block.to_vec();
        flipped_end[LEN - 2] ^= 1;
        let mut flipped_padding = block.to_vec();
        flipped_padding[LEN - END.len() - 1] = b'x';
        let other = encode("aarch64-unknown-linux-musl");
        type Case = (&'static str, Vec<u8>, Result<StubIdentity, StubIdentityError>);
        let cases: Vec<Case> = vec![
            ("found in the middle", around(&elf, &block, &elf), Ok(ours())),
            ("found at the very start and end", block.to_vec(), Ok(ours())),
            (
                "another target's",
                around(&elf, &other, &elf),
                Ok(StubIdentity { target: "aarch64-unknown-linux-musl".into(), ..ours() }),
            ),
            ("absent", elf.clone(), Err(StubIdentityError::NotFound)),
            ("empty", Vec::new(), Err(StubIdentityError::NotFound)),
            (
                "only the start magic, as code that parses it holds it",
                around(&elf, START, &elf),
                Err(StubIdentityError::NotFound),
            ),
            (
                "truncated by the end of the bytes",
                around(&elf, &block[..LEN - 1], b""),
                Err(StubIdentityError::NotFound),
            ),
            ("truncated in the middle", around(&elf, &block[..LEN / 2], &elf), Err(StubIdentityError::NotFound)),
            ("end magic damaged", around(&elf, &flipped_end, &elf), Err(StubIdentityError::NotFound)),
            ("garbage in the padding", around(&elf, &flipped_padding, &elf), Err(StubIdentityError::NotFound)),
            ("two markers", around(&block, &elf, &other), Err(StubIdentityError::Several(2))),
            ("two markers back to back", [block, block].concat(), Err(StubIdentityError::Several(2))),
            (
                "a missing field",
                with_text(b"program go-offline-installer\nformats 1 2\n"),
                Err(StubIdentityError::NotFound),
            ),
            (
                "fields out of order",
                with_text(b"formats 1 2\nprogram go-offline-installer\ntarget t\n"),
                Err(StubIdentityError::NotFound),
            ),
            (
                "a format that is not a number",
                with_text(b"program p\nformats 1 two\ntarget t\n"),
                Err(StubIdentityError::NotFound),
            ),
            ("a signed format", with_text(b"program p\nformats +2\ntarget t\n"), Err(StubIdentityError::NotFound)),
            ("an extra line", with_text(b"program p\nformats 2\ntarget t\nmore x\n"), Err(StubIdentityError::NotFound)),
            ("no final newline", with_text(b"program p\nformats 2\ntarget t"), Err(StubIdentityError::NotFound)),
            (
                "another program's",
                with_text(b"program something-else\nformats 7\ntarget t\n"),
                Ok(StubIdentity { program: "something-else".into(), formats: vec![7], target: "t".into() }),
            ),
        ];
        for (name, bytes, want) in cases {
            assert_eq!(stub_identity(&bytes), want, "{name}");
        }
    }

    #[test]
    fn the_block_is_text_then_padding() {
        let block = encode(TRIPLE);
        let text = format!(
            "{}program {PROGRAM}\nformats {FORMAT_V1} {FORMAT_V2} {FORMAT_VERSION}\ntarget {TRIPLE}\n",
            std::str::from_utf8(START).unwrap()
        );
        assert!(block.starts_with(text.as_bytes()));
        assert!(block[text.len()..LEN - END.len()].iter().all(|&b| b == 0));
        assert!(block.ends_with(END));
        assert!(ours().reads(FORMAT_VERSION) && !ours().reads(FORMAT_VERSION + 1));
        // The longest supported triple fits with room to spare.
        for t in crate::platform::TARGETS {
            assert_eq!(stub_identity(&encode(t.triple)).map(|i| i.target), Ok(t.triple.to_string()));
        }
    }
}
