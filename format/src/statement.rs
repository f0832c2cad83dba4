//! The signed statement: the few hundred bytes an installer's signature covers (format versions 2
//! and 3).
//!
//! Signing the 2 MiB manifest itself needs a signer that takes any length of message; some do not
//! (a KMS that signs at most 4 KiB of raw message), and an HSM session or a sign-later ceremony is
//! easier to audit over a short text. So the signature covers this statement, pure Ed25519 over
//! its bytes, and the statement names the manifest by its sha256; the manifest names the stub and
//! payload by theirs, and the trailer is implied by those lengths: every byte of the file is still
//! covered.
//!
//! ```text
//! go-offline-installer signed statement
//! format: 3
//! manifest-sha256: 3f5c…(64 lower-case hex digits)
//! product: go
//! go-version: go1.27.3
//! target: x86_64-unknown-linux-musl
//! ```
//!
//! Six lines, each ended by `\n`, in this order, ASCII, nothing else; a module bundle's
//! `go-version` is empty (`go-version: ` then the newline), as its manifest's is. The first line is the
//! context: a signature by the same key over anything else (a `SHA256SUMS`, a manifest of format
//! version 1) never reads as a statement. `format` is the file's format version, which the
//! trailer repeats: a statement signed for one version never verifies a file of another. [`Statement::parse`] accepts exactly the bytes
//! [`Statement::encode`] writes: one canonical form, so one statement has one signature message.
//!
//! **Invariant:** [`crate::verify::verify`] checks the signature over the statement before it
//! reads anything else, then the manifest region's sha256 against it, and only then decodes and
//! parses the manifest, whose product, Go version and target must be the statement's.

pub use crate::layout::MAX_STATEMENT_LEN;
use crate::{
    layout::{FORMAT_V2, FORMAT_VERSION},
    manifest::Product,
};

/// The first line: what the signature is for.
pub const CONTEXT: &str = "go-offline-installer signed statement";
/// Longest value of a field (a Go version, a target triple).
const MAX_VALUE_LEN: usize = 128;

/// What an installer's signer states about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Statement {
    pub format: u32,
    /// sha256 of the manifest region, lower-case hex.
    pub manifest_sha256: String,
    pub product: Product,
    pub go_version: String,
    pub target: String,
}

/// A statement that is not in the one canonical form.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the signed statement is not well formed: {0}")]
pub struct StatementError(pub String);

impl Statement {
    /// The statement of a file of format [`FORMAT_VERSION`] for a manifest: the sha256 of its
    /// `region` (as the file stores it, [`crate::manifest::encode_region`]), and its product, Go
    /// version and target read from `json` (the canonical JSON the region holds).
    pub fn for_manifest(json: &[u8], region: &[u8]) -> Result<Statement, StatementError> {
        #[derive(serde::Deserialize)]
        struct Named {
            product: Product,
            go_version: String,
            target: String,
        }
        let named: Named = serde_json::from_slice(json).map_err(|e| {
            StatementError(format!("the manifest does not name its product, Go version and target: {e}"))
        })?;
        let s = Statement {
            format: FORMAT_VERSION,
            manifest_sha256: sha256_hex(region),
            product: named.product,
            go_version: named.go_version,
            target: named.target,
        };
        s.check()?;
        Ok(s)
    }

    /// The statement's bytes: what is signed.
    pub fn encode(&self) -> Vec<u8> {
        format!(
            "{CONTEXT}\nformat: {}\nmanifest-sha256: {}\nproduct: {}\ngo-version: {}\ntarget: {}\n",
            self.format,
            self.manifest_sha256,
            self.product.name(),
            self.go_version,
            self.target
        )
        .into_bytes()
    }

    /// Reads a statement, accepting only the canonical form [`Statement::encode`] writes.
    pub fn parse(bytes: &[u8]) -> Result<Statement, StatementError> {
        let bad = |m: String| StatementError(m);
        if bytes.len() as u64 > MAX_STATEMENT_LEN {
            return Err(bad(format!("it is {} bytes, more than {MAX_STATEMENT_LEN}", bytes.len())));
        }
        let text = std::str::from_utf8(bytes).map_err(|_| bad("it is not UTF-8 text".into()))?;
        let body = text.strip_suffix('\n').ok_or_else(|| bad("its last line does not end with a newline".into()))?;
        let mut lines = body.split('\n');
        if lines.next() != Some(CONTEXT) {
            return Err(bad(format!("its first line is not '{CONTEXT}'")));
        }
        let mut field = |name: &str| -> Result<&str, StatementError> {
            let line = lines.next().ok_or_else(|| bad(format!("the '{name}' line is missing")))?;
            line.strip_prefix(name)
                .and_then(|rest| rest.strip_prefix(": "))
                .ok_or_else(|| bad(format!("expected the '{name}: ' line, found '{}'", line.escape_debug())))
        };
        let format = field("format")?;
        let format: u32 = format.parse().map_err(|_| bad(format!("format '{format}' is not a number")))?;
        let manifest_sha256 = field("manifest-sha256")?.to_string();
        let product = match field("product")? {
            "go" => Product::Go,
            "go-modules" => Product::GoModules,
            other => return Err(bad(format!("product '{other}' is unknown"))),
        };
        let go_version = field("go-version")?.to_string();
        let target = field("target")?.to_string();
        if let Some(extra) = lines.next() {
            return Err(bad(format!("it has a line after 'target': '{}'", extra.escape_debug())));
        }
        let s = Statement { format, manifest_sha256, product, go_version, target };
        s.check()?;
        if s.encode() != bytes {
            return Err(bad("it is not in the canonical form".into()));
        }
        Ok(s)
    }

    fn check(&self) -> Result<(), StatementError> {
        let bad = |m: String| Err(StatementError(m));
        if !(FORMAT_V2..=FORMAT_VERSION).contains(&self.format) {
            return bad(format!("format {} is not {FORMAT_V2} to {FORMAT_VERSION}", self.format));
        }
        if self.manifest_sha256.len() != 64
            || !self.manifest_sha256.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
        {
            return bad(format!("manifest-sha256 '{}' is not 64 lower-case hex digits", self.manifest_sha256));
        }
        for (name, value) in [("go-version", &self.go_version), ("target", &self.target)] {
            let printable = value.bytes().all(|b| b.is_ascii_graphic());
            // A module bundle is for no one Go version: its manifest's is empty, and so is this.
            let may_be_empty = name == "go-version" && self.product == Product::GoModules;
            if (value.is_empty() && !may_be_empty) || value.len() > MAX_VALUE_LEN || !printable {
                return bad(format!(
                    "{name} '{}' is not 1 to {MAX_VALUE_LEN} printable ASCII characters",
                    value.escape_debug()
                ));
            }
        }
        Ok(())
    }
}

fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn good() -> Statement {
        Statement {
            format: FORMAT_VERSION,
            manifest_sha256: "ab".repeat(32),
            product: Product::Go,
            go_version: "go1.27.3".into(),
            target: "x86_64-unknown-linux-musl".into(),
        }
    }

    #[test]
    fn round_trips_and_is_short() {
        let s = good();
        let bytes = s.encode();
        assert_eq!(Statement::parse(&bytes), Ok(s));
        assert!(bytes.len() < 256, "{}", bytes.len());
        let modules = Statement { product: Product::GoModules, go_version: String::new(), ..good() };
        assert!(String::from_utf8(modules.encode()).unwrap().contains("\ngo-version: \ntarget: "));
        assert_eq!(Statement::parse(&modules.encode()), Ok(modules));
    }

    /// Each row rewrites the good statement's text; every one must be refused, naming the problem.
    #[test]
    fn every_other_form_is_refused() {
        let text = String::from_utf8(good().encode()).unwrap();
        type Edit = dyn Fn(&str) -> String;
        let cases: &[(&str, &Edit, &str)] = &[
            ("no final newline", &|t| t.trim_end().into(), "newline"),
            ("CRLF", &|t| t.replace('\n', "\r\n"), ""),
            ("other context", &|t| t.replacen("signed statement", "statement", 1), "first line"),
            ("format 1", &|t| t.replace("format: 3", "format: 1"), "format 1"),
            ("format 4", &|t| t.replace("format: 3", "format: 4"), "format 4"),
            ("format not a number", &|t| t.replace("format: 3", "format: two"), "not a number"),
            ("format with a leading zero", &|t| t.replace("format: 3", "format: 03"), "canonical"),
            ("upper-case digest", &|t| t.replace(&"ab".repeat(32), &"AB".repeat(32)), "lower-case"),
            ("short digest", &|t| t.replace(&"ab".repeat(32), "abab"), "64"),
            ("unknown product", &|t| t.replace("product: go", "product: rust"), "unknown"),
            (
                "fields swapped",
                &|t| t.replace("product: go\ngo-version: go1.27.3", "go-version: go1.27.3\nproduct: go"),
                "product",
            ),
            ("no target", &|t| t.replace("target: x86_64-unknown-linux-musl\n", ""), "missing"),
            ("extra line", &|t| format!("{t}base: go1.27.2\n"), "after"),
            ("two spaces", &|t| t.replace("target: ", "target:  "), "printable"),
            ("empty version", &|t| t.replace("go1.27.3", ""), "printable"),
            ("too long", &|t| format!("{t}{}", "x".repeat(MAX_STATEMENT_LEN as usize)), "more than"),
            ("not UTF-8", &|t| format!("{t}\u{0}"), ""),
        ];
        for (name, edit, says) in cases {
            let edited = edit(&text);
            let mut bytes = edited.into_bytes();
            if *name == "not UTF-8" {
                bytes.push(0xff);
            }
            match Statement::parse(&bytes) {
                Ok(s) => panic!("{name}: accepted {s:?}"),
                Err(e) => assert!(e.to_string().contains(says), "{name}: {e}"),
            }
        }
    }

    #[test]
    fn a_manifest_names_its_statement() {
        let manifest =
            br#"{"format":1,"product":"go-modules","go_version":"go1.26.6","target":"aarch64-unknown-linux-musl"}"#;
        let region = crate::manifest::encode_region(manifest, 3);
        let s = Statement::for_manifest(manifest, &region).unwrap();
        assert_eq!(
            (s.format, s.product, s.go_version.as_str(), s.target.as_str()),
            (FORMAT_VERSION, Product::GoModules, "go1.26.6", "aarch64-unknown-linux-musl")
        );
        assert_eq!(s.manifest_sha256, sha256_hex(&region), "the region as stored is named");
        assert_eq!(Statement::parse(&Statement { format: FORMAT_V2, ..s.clone() }.encode()).map(|s| s.format), Ok(2));
        assert!(Statement::for_manifest(b"{}", b"{}").is_err());
        let bad_version = br#"{"product":"go","go_version":"go 1","target":"t"}"#;
        assert!(Statement::for_manifest(bad_version, bad_version).is_err());
    }
}
