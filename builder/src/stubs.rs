//! Where an installer's stub comes from, and the stubs a release builder carries inside itself.
//!
//! A builder made by `cargo xtask dist` embeds the release stub of every target (compressed,
//! with the length, sha256, version and commit each was built from: see `build.rs`), so `build
//! --target TRIPLE` needs no file beside it. [`resolve`] picks, in this order:
//!
//! 1. `--stub FILE`, when given;
//! 2. `$GO_OFFLINE_STUBS_DIR/TRIPLE/go-offline-installer`, when that variable is set (a
//!    development checkout's freshly built stubs, preferred on purpose);
//! 3. the embedded stub for the target;
//! 4. in a builder with no embedded stubs (a development build), the stub `cargo xtask stubs`
//!    built in the checkout, `target/stubs/TRIPLE/` beside `target/{debug,release}/`.
//!
//! **Invariant:** an embedded stub is used only after its bytes have the recorded length and
//! sha256; a damaged one is refused ([`BuildError::DamagedStub`]), never built into an installer.

use std::{
    fs, io,
    path::{Path, PathBuf},
};

use format::{
    layout::FORMAT_VERSION,
    platform::{exe_platform, Target},
    stub_identity::{self, stub_identity},
};
use serde::Serialize;

use crate::{error::BuildError, pack::decompress_bounded, source::sha256_hex};

/// A stub compiled into this builder.
#[derive(Debug)]
pub struct EmbeddedStub {
    pub triple: &'static str,
    /// Length of the stub itself (not of its compressed bytes).
    pub len: u64,
    pub sha256: &'static str,
    /// The workspace version the stub was built from.
    pub version: &'static str,
    /// The git commit it was built from (`unknown` outside a git checkout; `-dirty` when the
    /// tree had changes).
    pub commit: &'static str,
    /// The stub, compressed as one frame ([`crate::pack::decompress_bounded`]).
    compressed: &'static [u8],
}

include!(concat!(env!("OUT_DIR"), "/embedded_stubs.rs"));

impl EmbeddedStub {
    /// The stub's bytes, after checking them against the recorded length and sha256.
    pub fn unpack(&self) -> Result<Vec<u8>, BuildError> {
        let damaged = |problem: String| BuildError::DamagedStub { triple: self.triple.into(), problem };
        // The recorded length bounds the output: a damaged frame cannot make us allocate more.
        let capacity =
            usize::try_from(self.len).map_err(|_| damaged(format!("its length {} is too large", self.len)))?;
        let bytes = decompress_bounded(self.compressed, capacity)
            .map_err(|e| damaged(format!("its compressed bytes do not decode ({e})")))?;
        if bytes.len() as u64 != self.len {
            return Err(damaged(format!("it unpacks to {} bytes, not the recorded {}", bytes.len(), self.len)));
        }
        let found = sha256_hex(&bytes);
        if found != self.sha256 {
            return Err(damaged(format!("it has sha256 {found}, not the recorded {}", self.sha256)));
        }
        Ok(bytes)
    }

    /// How many bytes the builder spends on it.
    pub fn compressed_len(&self) -> u64 {
        self.compressed.len() as u64
    }
}

/// The stubs embedded in this builder (none in a development build).
pub fn embedded() -> &'static [EmbeddedStub] {
    EMBEDDED
}

/// The embedded stub for `triple`.
pub fn embedded_for(triple: &str) -> Option<&'static EmbeddedStub> {
    EMBEDDED.iter().find(|s| s.triple == triple)
}

/// The embedded stub with this sha256 (to name the builder release an installer came from).
pub fn embedded_with_sha256(sha256: &str) -> Option<&'static EmbeddedStub> {
    EMBEDDED.iter().find(|s| s.sha256 == sha256)
}

/// Where a build's stub came from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Origin {
    /// `--stub FILE` (or a release config's `stubs` directory).
    File { path: PathBuf },
    /// `$GO_OFFLINE_STUBS_DIR` or the development checkout's `target/stubs/`.
    Checkout { path: PathBuf },
    /// Compiled into this builder by `cargo xtask dist`.
    Embedded { version: &'static str, commit: &'static str },
}

impl Origin {
    /// The stub's file, when it came from one.
    pub fn path(&self) -> Option<&Path> {
        match self {
            Origin::File { path } | Origin::Checkout { path } => Some(path),
            Origin::Embedded { .. } => None,
        }
    }

    /// The stub's name in a message: its file, or "the stub embedded in this builder".
    pub fn name(&self) -> String {
        match self {
            Origin::File { path } | Origin::Checkout { path } => path.display().to_string(),
            Origin::Embedded { .. } => "the stub embedded in this builder".into(),
        }
    }

    /// One line for people: "embedded (go-offline 0.1.0, commit …)", "file FILE", ….
    pub fn describe(&self) -> String {
        match self {
            Origin::File { path } => format!("the file {}", path.display()),
            Origin::Checkout { path } => format!("the checkout's freshly built {}", path.display()),
            Origin::Embedded { version, commit } => format!("embedded in this builder ({version}, commit {commit})"),
        }
    }
}

/// A stub to build with: its bytes, their sha256 and where they came from.
#[derive(Debug)]
pub struct Stub {
    pub bytes: Vec<u8>,
    pub sha256: String,
    pub origin: Origin,
}

/// The stub for `target`: `explicit` (`--stub FILE`) when given, else as the module docs say;
/// checked to be an executable for the target's machine.
pub fn resolve(target: &Target, explicit: Option<&Path>) -> Result<Stub, BuildError> {
    let (bytes, origin) = if let Some(path) = explicit {
        let bytes = fs::read(path).map_err(|e| BuildError::io("read the stub", path, e))?;
        (bytes, Origin::File { path: path.to_path_buf() })
    } else if let Some((dir, looked_in)) = stubs_dir() {
        let path = dir.join(target.triple).join(target.stub_name());
        let bytes = fs::read(&path).map_err(|e| match e.kind() {
            io::ErrorKind::NotFound => no_stub(target, looked_in),
            _ => BuildError::io("read the stub", &path, e),
        })?;
        (bytes, Origin::Checkout { path })
    } else if let Some(e) = embedded_for(target.triple) {
        (e.unpack()?, Origin::Embedded { version: e.version, commit: e.commit })
    } else {
        let has: Vec<_> = EMBEDDED.iter().map(|s| s.triple).collect();
        return Err(BuildError::NotEmbedded { triple: target.triple.into(), embedded: has.join(", ") });
    };
    check_machine(&bytes, target, &origin)?;
    check_identity(&bytes, target, &origin)?;
    let sha256 = sha256_hex(&bytes);
    Ok(Stub { bytes, sha256, origin })
}

/// The directory of freshly built stubs to prefer: `$GO_OFFLINE_STUBS_DIR`, else, in a builder
/// with nothing embedded, the checkout's `target/stubs/` (the builder runs from
/// `target/{debug,release}/`). `None`: use the embedded stubs.
pub fn checkout_dir() -> Option<PathBuf> {
    stubs_dir().map(|(dir, _)| dir)
}

/// [`checkout_dir`], and how a message names it: by the variable, or as the checkout's
/// `target/stubs/`, never by its absolute path (the path of the machine this builder was built
/// on says nothing to whoever runs it elsewhere).
fn stubs_dir() -> Option<(PathBuf, &'static str)> {
    if let Some(d) = std::env::var_os("GO_OFFLINE_STUBS_DIR").filter(|d| !d.is_empty()) {
        return Some((PathBuf::from(d), "in $GO_OFFLINE_STUBS_DIR"));
    }
    if !EMBEDDED.is_empty() {
        return None;
    }
    let beside_exe =
        std::env::current_exe().ok().and_then(|exe| exe.parent().and_then(Path::parent).map(|t| t.join("stubs")));
    let dir = beside_exe.unwrap_or_else(|| PathBuf::from("target/stubs"));
    Some((dir, "embedded in this development builder (it embeds none) or built in its checkout's target/stubs/"))
}

/// [`BuildError::NoStub`] for `target`, looked for in the directory `looked_in` names.
fn no_stub(target: &Target, looked_in: &'static str) -> BuildError {
    BuildError::NoStub {
        triple: target.triple.into(),
        looked_in,
        file: format!("{}/{}", target.triple, target.stub_name()),
    }
}

/// Refuses a stub that is not an executable for `target`'s machine.
fn check_machine(bytes: &[u8], target: &Target, origin: &Origin) -> Result<(), BuildError> {
    match exe_platform(bytes) {
        // Machine, class and byte order together: ppc64le and ppc64 share a machine number.
        Some((goos, goarch)) if goos == target.goos && goarch == target.goarch => Ok(()),
        other => Err(BuildError::Mismatch(format!(
            "the stub from {} is {} but the target is {} ({}/{}): use the stub built for {}",
            origin.describe(),
            other
                .map(|(goos, goarch)| format!("a {goos}/{goarch} binary"))
                .unwrap_or_else(|| "not a supported ELF or PE binary".into()),
            target.triple,
            target.goos,
            target.goarch,
            target.triple
        ))),
    }
}

/// Refuses a stub that is not one of ours for `target` and for the installer format this builder
/// writes: its identity ([`format::stub_identity`]) must name our program, the target and the
/// format. Any other executable would otherwise be signed and verify as an "installer".
fn check_identity(bytes: &[u8], target: &Target, origin: &Origin) -> Result<(), BuildError> {
    let stub = origin.name();
    let identity =
        stub_identity(bytes).map_err(|e| BuildError::NotAStub { stub: stub.clone(), problem: e.to_string() })?;
    if identity.program != stub_identity::PROGRAM {
        let problem = format!("its identity names the program '{}'", identity.program);
        return Err(BuildError::NotAStub { stub, problem });
    }
    if identity.target != target.triple {
        return Err(BuildError::Mismatch(format!(
            "{stub} is the go-offline-installer stub for {}, not for the target {}: use the stub built for {}",
            identity.target, target.triple, target.triple
        )));
    }
    if !identity.reads(FORMAT_VERSION) {
        let reads: Vec<String> = identity.formats.iter().map(u32::to_string).collect();
        return Err(BuildError::Mismatch(format!(
            "{stub} reads installer formats {} only, and this builder writes format {FORMAT_VERSION}: use a stub of this builder's release",
            reads.join(", ")
        )));
    }
    Ok(())
}

/// One row of `go-offline-builder targets`: a supported target and the stub this builder would
/// build it with.
#[derive(Debug, Serialize)]
pub struct TargetRow {
    pub triple: &'static str,
    pub goos: &'static str,
    pub goarch: &'static str,
    /// `None`: this builder has no stub for the target.
    pub stub: Option<StubRow>,
}

/// The stub of a [`TargetRow`].
#[derive(Debug, Serialize)]
pub struct StubRow {
    pub origin: Origin,
    pub len: u64,
    pub sha256: String,
    /// Bytes the builder spends on it (embedded stubs only).
    pub compressed_len: Option<u64>,
    /// Whether its bytes match the recorded length and sha256 (a file is taken as it is).
    pub intact: bool,
    /// Why not, when not.
    pub problem: Option<String>,
}

/// Every supported target, with the stub [`resolve`] would pick for it (embedded stubs are
/// unpacked and checked).
pub fn targets() -> Vec<TargetRow> {
    format::platform::TARGETS
        .iter()
        .map(|t| TargetRow { triple: t.triple, goos: t.goos, goarch: t.goarch, stub: stub_row(t) })
        .collect()
}

fn stub_row(target: &Target) -> Option<StubRow> {
    if let Some(dir) = checkout_dir() {
        let path = dir.join(target.triple).join(target.stub_name());
        let bytes = fs::read(&path).ok()?;
        return Some(StubRow {
            len: bytes.len() as u64,
            sha256: sha256_hex(&bytes),
            origin: Origin::Checkout { path },
            compressed_len: None,
            intact: true,
            problem: None,
        });
    }
    let e = embedded_for(target.triple)?;
    let problem = e.unpack().err().map(|err| err.to_string());
    Some(StubRow {
        origin: Origin::Embedded { version: e.version, commit: e.commit },
        len: e.len,
        sha256: e.sha256.into(),
        compressed_len: Some(e.compressed_len()),
        intact: problem.is_none(),
        problem,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stub_of(compressed: &'static [u8], len: u64, sha256: &'static str) -> EmbeddedStub {
        EmbeddedStub {
            triple: "x86_64-unknown-linux-musl",
            len,
            sha256,
            version: "0.1.0",
            commit: "c0ffee",
            compressed,
        }
    }

    /// Every way an embedded stub can be damaged is refused with the triple and the problem.
    #[test]
    fn damaged_embedded_stubs_are_refused() {
        let data = b"\x7fELF a stub that is not very long, repeated: a stub that is not very long".to_vec();
        let frame: &'static [u8] = crate::pack::compress_whole(&data, 19).unwrap().leak();
        let sha: &'static str = sha256_hex(&data).leak();
        let mut flipped = frame.to_vec();
        let mid = flipped.len() / 2;
        flipped[mid] ^= 0x20;
        let flipped: &'static [u8] = flipped.leak();
        let cases: &[(EmbeddedStub, Option<&str>)] = &[
            (stub_of(frame, data.len() as u64, sha), None),
            (stub_of(frame, data.len() as u64, "0".repeat(64).leak()), Some("has sha256")),
            (stub_of(frame, data.len() as u64 - 1, sha), Some("do not decode")),
            (stub_of(frame, data.len() as u64 + 1, sha), Some("not the recorded")),
            (stub_of(&frame[..frame.len() - 3], data.len() as u64, sha), Some("do not decode")),
            // A flipped byte fails the frame's checksum, its decoding or the sha256: any refusal.
            (stub_of(flipped, data.len() as u64, sha), Some("is damaged")),
            // No bytes at all decode to no bytes, which the recorded length refuses.
            (stub_of(b"", data.len() as u64, sha), Some("unpacks to 0 bytes, not the recorded")),
        ];
        for (i, (stub, problem)) in cases.iter().enumerate() {
            match (stub.unpack(), problem) {
                (Ok(bytes), None) => assert_eq!(bytes, data, "case {i}"),
                (Err(e), Some(p)) => {
                    let msg = e.to_string();
                    assert!(matches!(e, BuildError::DamagedStub { .. }), "case {i}: {e:?}");
                    assert!(msg.contains(p) && msg.contains("x86_64-unknown-linux-musl"), "case {i}: {msg}");
                }
                (got, want) => panic!("case {i}: got {got:?}, want problem {want:?}"),
            }
        }
    }

    /// Only a stub whose one identity names our program, the target and this builder's format
    /// passes.
    #[test]
    fn stub_identities_are_checked() {
        let target = Target::from_triple("x86_64-unknown-linux-musl").unwrap();
        let code = b"\x7fELF code and data ".repeat(20);
        let with = |block: &[u8]| [&code[..], block, &code[..]].concat();
        let block = |text: &str| {
            let mut b = vec![0u8; stub_identity::LEN];
            b[..stub_identity::START.len()].copy_from_slice(stub_identity::START);
            b[stub_identity::START.len()..stub_identity::START.len() + text.len()].copy_from_slice(text.as_bytes());
            b[stub_identity::LEN - stub_identity::END.len()..].copy_from_slice(stub_identity::END);
            b
        };
        let cases: &[(&str, Vec<u8>, Option<&str>)] = &[
            ("ours", with(&stub_identity::encode(target.triple)), None),
            ("no identity", code.clone(), Some("s is not a go-offline-installer stub (no stub identity found)")),
            (
                "another target's",
                with(&stub_identity::encode("aarch64-unknown-linux-musl")),
                Some("s is the go-offline-installer stub for aarch64-unknown-linux-musl, not for the target x86_64-unknown-linux-musl"),
            ),
            (
                "another program's",
                with(&block("program ls\nformats 2\ntarget x86_64-unknown-linux-musl\n")),
                Some("(its identity names the program 'ls')"),
            ),
            (
                "a stub of formats 1 and 2 only (the release before format 3)",
                with(&block("program go-offline-installer\nformats 1 2\ntarget x86_64-unknown-linux-musl\n")),
                Some("reads installer formats 1, 2 only, and this builder writes format 3"),
            ),
        ];
        for (name, bytes, refused) in cases {
            match (check_identity(bytes, &target, &Origin::File { path: "s".into() }), refused) {
                (Ok(()), None) => {}
                (Err(e), Some(said)) => {
                    assert_eq!(e.exit_code(), crate::exit::BAD_INPUT, "{name}");
                    assert!(e.to_string().contains(said), "{name}: {e}");
                }
                (got, _) => panic!("{name}: {got:?}, want {refused:?}"),
            }
        }
    }

    #[test]
    fn origins_say_where_the_stub_came_from() {
        let cases = [
            (Origin::File { path: "s".into() }, "the file s"),
            (Origin::Checkout { path: "t/s".into() }, "freshly built t/s"),
            (Origin::Embedded { version: "0.1.0", commit: "abc" }, "embedded in this builder (0.1.0, commit abc)"),
        ];
        for (origin, said) in cases {
            assert!(origin.describe().contains(said), "{origin:?}: {}", origin.describe());
        }
    }
}
