//! Hostile input: every way we know to damage, forge or poison an installer file, in one table,
//! run by one helper. Each case is refused with its documented exit code, the last line of stderr
//! is an `error: ` line, the machine (prefix with a pre-existing Go tree, HOME, /etc, the
//! installer's directory) is byte-identical afterwards, no staging directory is left, and
//! `go-offline-builder verify` agrees.
//!
//! Payloads signed by the trusted key but hostile inside come in two variants where both make
//! sense: (a) the manifest honestly lists the hostile entry, so manifest validation refuses it
//! (exit 10); (b) the manifest is benign and only the tar differs, so the extractor's entry-by-entry
//! comparison refuses it (exit 11). Either way our allow-list decides, never the tar crate.

use std::{
    fs,
    panic::{catch_unwind, AssertUnwindSafe},
    path::Path,
    sync::{
        atomic::{AtomicUsize, Ordering},
        Mutex, OnceLock,
    },
};

use ed25519_dalek::{Signer, VerifyingKey};
use format::{
    exit, keys,
    layout::{self, Assembled, Layout, MAX_MANIFEST_LEN},
    manifest::{Entry, Manifest},
    statement::{self, Statement},
};

use crate::{
    craft::{self, Frame, Tree},
    support::*,
};

/// The regions of an installer file.
fn layout(bytes: &[u8]) -> Layout {
    let len = bytes.len() as u64;
    Layout::parse(len, &bytes[bytes.len() - 96..]).unwrap()
}

/// Re-signs an installer after changing its manifest: what an attacker holding `key` could
/// produce.
pub fn resign(bytes: &[u8], key: &Key, edit: impl FnOnce(&mut Manifest)) -> Vec<u8> {
    let signing = keys::read_private_key(&key.private).unwrap();
    resign_raw(bytes, edit, &|statement, _| signing.sign(statement).to_bytes())
}

/// Signs `(statement, manifest region)`.
type SignFn<'a> = dyn Fn(&[u8], &[u8]) -> [u8; 64] + 'a;

/// As [`resign`], with the signature computed by `sign` from the statement and the manifest
/// region (which the statement names by its sha256).
fn resign_raw(bytes: &[u8], edit: impl FnOnce(&mut Manifest), sign: &SignFn) -> Vec<u8> {
    resign_with(bytes, edit, |_| {}, sign)
}

/// As [`resign_raw`], with the statement changed by `edit_statement` before it is signed.
fn resign_with(
    bytes: &[u8],
    edit: impl FnOnce(&mut Manifest),
    edit_statement: impl FnOnce(&mut Vec<u8>),
    sign: &SignFn,
) -> Vec<u8> {
    let l = layout(bytes);
    let r = |r: &std::ops::Range<u64>| &bytes[r.start as usize..r.end as usize];
    let mut manifest = craft::manifest_of(bytes);
    edit(&mut manifest);
    let json = serde_json::to_vec(&manifest).unwrap();
    let region = format::manifest::encode_region(&json, 3);
    let mut statement = Statement::for_manifest(&json, &region).unwrap().encode();
    edit_statement(&mut statement);
    let sig = sign(&statement, &region);
    Assembled::new(r(&l.stub), r(&l.payload), &region, &statement, &sig).unwrap().to_vec()
}

/// A statement naming a manifest digest one bit away from the real one.
fn flip_digest(statement: &mut [u8]) {
    let text = String::from_utf8(statement.to_vec()).unwrap();
    let at = text.find("manifest-sha256: ").unwrap() + "manifest-sha256: ".len();
    statement[at] = if statement[at] == b'0' { b'1' } else { b'0' };
}

/// A statement's text with `from` replaced by `to` (the case must change something).
fn replace_in(statement: &mut Vec<u8>, from: &str, to: &str) {
    let text = String::from_utf8(statement.clone()).unwrap();
    assert!(text.contains(from), "{from} is not in {text}");
    *statement = text.replacen(from, to, 1).into_bytes();
}

/// The real Go 1.27.3 amd64 installer, read once.
fn good() -> &'static [u8] {
    static GOOD: OnceLock<Vec<u8>> = OnceLock::new();
    GOOD.get_or_init(|| fs::read(installer("amd64")).unwrap())
}

type Make = Box<dyn Fn() -> Vec<u8> + Send + Sync>;

/// One hostile input and what must happen to it.
struct Case {
    name: String,
    make: Make,
    /// Exit code of the installer.
    expected: i32,
    /// Exit code of `go-offline-builder verify` (the same verifier, platform-neutral, and blind to
    /// the test's private /etc).
    verify: i32,
    /// False when the damage leaves no runnable program (empty file, half an ELF): only the
    /// builder's verify can speak for it, and the machine must still be unchanged.
    runs: bool,
    /// The key the installer is told to trust.
    trust: fn() -> Key,
    /// The release key is listed in /etc/go-offline-installer/revoked-keys.
    revoked: bool,
    /// Text the error line must contain.
    says: Option<String>,
    /// Peak memory the installer may use, measured with wait4.
    max_rss_mib: Option<u64>,
}

fn case(name: impl Into<String>, expected: i32, make: impl Fn() -> Vec<u8> + Send + Sync + 'static) -> Case {
    Case {
        name: name.into(),
        make: Box::new(make),
        expected,
        verify: expected,
        runs: true,
        trust: || release_key().clone(),
        revoked: false,
        says: None,
        max_rss_mib: None,
    }
}

impl Case {
    fn verify(mut self, code: i32) -> Case {
        self.verify = code;
        self
    }
    fn not_runnable(mut self) -> Case {
        self.runs = false;
        self
    }
    fn trust(mut self, key: fn() -> Key) -> Case {
        self.trust = key;
        self
    }
    fn revoked(mut self) -> Case {
        self.revoked = true;
        self
    }
    fn says(mut self, text: impl Into<String>) -> Case {
        self.says = Some(text.into());
        self
    }
    fn max_rss_mib(mut self, mib: u64) -> Case {
        self.max_rss_mib = Some(mib);
        self
    }
}

/// The real installer, changed by `f`.
fn real(f: impl Fn(&mut Vec<u8>, &Layout) + Send + Sync + 'static) -> impl Fn() -> Vec<u8> + Send + Sync {
    move || {
        let mut b = good().to_vec();
        f(&mut b, &layout(good()));
        assert_ne!(b, good(), "the case changed nothing");
        b
    }
}

/// The frame table of a manifest (the real installer has one).
fn frames(m: &mut Manifest) -> &mut Vec<format::manifest::Frame> {
    m.payload.frames.as_mut().expect("the real installer lists its frames")
}

/// The frame holding entry `i`.
fn frame_of(m: &mut Manifest, i: usize) -> &mut format::manifest::Frame {
    let mut first = 0;
    for f in frames(m) {
        if i < first + f.entries as usize {
            return f;
        }
        first += f.entries as usize;
    }
    panic!("entry {i} is in no frame")
}

/// The real installer re-signed by the release key after `edit`.
fn signed(edit: impl Fn(&mut Manifest) + Send + Sync + 'static) -> impl Fn() -> Vec<u8> + Send + Sync {
    move || resign(good(), release_key(), &edit)
}

/// A hand-made tree (see [`Tree::go`]) changed by `f`, signed by the release key.
fn crafted(f: impl Fn(&mut Tree) + Send + Sync + 'static) -> impl Fn() -> Vec<u8> + Send + Sync {
    move || {
        let mut t = Tree::go();
        f(&mut t);
        t.installer()
    }
}

/// A hand-made tree whose signed manifest is edited as JSON, to name things the manifest types
/// cannot express (an entry type `hardlink`, `chardev`...).
fn crafted_json(f: impl Fn(&mut Tree) -> String + Send + Sync + 'static) -> impl Fn() -> Vec<u8> + Send + Sync {
    move || {
        let mut t = Tree::go();
        let kind = f(&mut t);
        let tar = t.tar.finish();
        let compressed = zstd::encode_all(&tar[..], 3).unwrap();
        let m = craft::manifest(&compressed, tar.len() as u64, t.files.clone());
        let mut v = serde_json::to_value(&m).unwrap();
        let files = v["files"].as_array_mut().unwrap();
        files.last_mut().unwrap()["type"] = kind.into();
        craft::assemble(&compressed, &serde_json::to_vec(&v).unwrap(), &craft::release_signer)
    }
}

fn flip(bytes: &mut [u8], at: u64) {
    bytes[at as usize] ^= 0x01;
}

/// Writes a little-endian u64 at `offset` of the trailer.
fn trailer_u64(b: &mut [u8], l: &Layout, offset: u64, value: u64) {
    let at = (l.trailer.start + offset) as usize;
    b[at..at + 8].copy_from_slice(&value.to_le_bytes());
}

const DATA: &[u8] = b"hostile\n";

/// An identity point: a small-order ("weak") public key. With the signature R = identity, S = 0
/// it "verifies" any message under non-strict ed25519 verification.
fn weak_key() -> Key {
    static KEY: OnceLock<Key> = OnceLock::new();
    KEY.get_or_init(|| {
        let dir = workspace().join("target/it-tmp");
        fs::create_dir_all(&dir).unwrap();
        let dir = tempfile::Builder::new().prefix("weak-key.").tempdir_in(dir).unwrap().keep();
        let mut point = [0u8; 32];
        point[0] = 1;
        let key = VerifyingKey::from_bytes(&point).unwrap();
        let public = dir.join("weak.pub");
        fs::write(&public, keys::public_key_pem(&key)).unwrap();
        fs::set_permissions(&dir, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
        Key { private: dir.join("none.key"), public, id: keys::key_id(&key) }
    })
    .clone()
}

/// Every case, in one table.
fn cases() -> Vec<Case> {
    use exit::{INTEGRITY, MALFORMED, UNTRUSTED, WRONG_PLATFORM};
    let mut v = vec![
        // --- Corruption of every region (the signature chain covers every byte).
        // Section headers at the end of the stub are not loaded: the stub still runs and must notice.
        case("stub byte", INTEGRITY, real(|b, l| flip(b, l.stub.end - 8))),
        case("payload first byte", INTEGRITY, real(|b, l| flip(b, l.payload.start))),
        case("payload middle byte", INTEGRITY, real(|b, l| flip(b, (l.payload.start + l.payload.end) / 2))),
        case("payload last byte", INTEGRITY, real(|b, l| flip(b, l.payload.end - 1))),
        case("manifest first byte", INTEGRITY, real(|b, l| flip(b, l.manifest.start))),
        case("manifest middle byte", INTEGRITY, real(|b, l| flip(b, (l.manifest.start + l.manifest.end) / 2))),
        case("signature byte", INTEGRITY, real(|b, l| flip(b, l.signature.start + 10))),
        case("trailer magic", MALFORMED, real(|b, l| flip(b, l.trailer.start))),
        case("trailer format version", MALFORMED, real(|b, l| flip(b, l.trailer.start + 8))),
        case("trailer payload length", MALFORMED, real(|b, l| flip(b, l.trailer.start + 40))),
        case("trailer reserved bytes", MALFORMED, real(|b, l| flip(b, l.trailer.start + 80))),
        case("trailer end magic", MALFORMED, real(|b, l| flip(b, l.trailer.end - 1))),
        // --- Truncation inside each region, and extension.
        case("empty file", MALFORMED, real(|b, _| b.clear())).not_runnable(),
        case("truncated inside the stub, still runnable", MALFORMED, real(|b, l| b.truncate(l.stub.end as usize - 8))),
        case("truncated to half the stub", MALFORMED, real(|b, l| b.truncate(l.stub.end as usize / 2))).not_runnable(),
        case("truncated to the stub", MALFORMED, real(|b, l| b.truncate(l.stub.end as usize))),
        case(
            "truncated inside the payload",
            MALFORMED,
            real(|b, l| b.truncate(((l.payload.start + l.payload.end) / 2) as usize)),
        ),
        case(
            "truncated inside the manifest",
            MALFORMED,
            real(|b, l| b.truncate(((l.manifest.start + l.manifest.end) / 2) as usize)),
        ),
        case("truncated inside the signature", MALFORMED, real(|b, l| b.truncate(l.signature.start as usize + 32))),
        case("truncated inside the trailer", MALFORMED, real(|b, l| b.truncate(l.trailer.start as usize + 48))),
        case("truncated by one byte", MALFORMED, real(|b, _| b.truncate(b.len() - 1))),
        case("one byte appended", MALFORMED, real(|b, _| b.push(0))),
        case(
            "a trailer appended",
            MALFORMED,
            real(|b, _| {
                let t = b[b.len() - 96..].to_vec();
                b.extend_from_slice(&t)
            }),
        ),
        // --- Trailers that lie about the regions.
        case("trailer: payload overlaps the stub", MALFORMED, real(|b, l| trailer_u64(b, l, 32, l.stub.end - 1))),
        case("trailer: gap after the stub", MALFORMED, real(|b, l| trailer_u64(b, l, 32, l.stub.end + 1))),
        case(
            "trailer: signature overlaps the manifest",
            MALFORMED,
            real(|b, l| trailer_u64(b, l, 64, l.manifest.start)),
        ),
        case(
            "trailer: manifest offset outside the file",
            MALFORMED,
            real(|b, l| trailer_u64(b, l, 48, l.trailer.end + 4096)),
        ),
        case(
            "trailer: payload offset + length wraps u64",
            MALFORMED,
            real(|b, l| trailer_u64(b, l, 40, u64::MAX - l.stub.end + 1)),
        ),
        case(
            "trailer: manifest length above the cap",
            MALFORMED,
            real(|b, l| trailer_u64(b, l, 56, MAX_MANIFEST_LEN + 1)),
        ),
        // --- Keys and signatures.
        case("signer not trusted", UNTRUSTED, || good().to_vec())
            .trust(|| other_key().clone())
            .says(format!("signer {} is not trusted", release_key().id)),
        case("signed by an untrusted key", UNTRUSTED, || {
            resign(good(), other_key(), |m| m.signer_key_id = other_key().id.clone())
        }),
        case("signed by another key, claiming the trusted id", INTEGRITY, || {
            resign(good(), other_key(), |m| m.signer_key_id = release_key().id.clone())
        }),
        case("manifest names another signer", INTEGRITY, || {
            resign(good(), release_key(), |m| m.signer_key_id = other_key().id.clone())
        }),
        case("signed without the context line", INTEGRITY, || {
            let k = keys::read_private_key(&release_key().private).unwrap();
            resign_raw(good(), |_| {}, &|s, _| k.sign(&s[statement::CONTEXT.len() + 1..]).to_bytes())
        }),
        case("signed as the manifest of format version 1", INTEGRITY, || {
            let k = keys::read_private_key(&release_key().private).unwrap();
            resign_raw(good(), |_| {}, &|_, m| k.sign(&layout::v1_signed_message(m)).to_bytes())
        }),
        case("signed statement names another manifest", INTEGRITY, || {
            let k = keys::read_private_key(&release_key().private).unwrap();
            resign_with(good(), |_| {}, |s| flip_digest(s.as_mut_slice()), &|s, _| k.sign(s).to_bytes())
        })
        .says("manifest digest mismatch"),
        case("signed statement for another Go version", INTEGRITY, || {
            let k = keys::read_private_key(&release_key().private).unwrap();
            resign_with(good(), |_| {}, |s| replace_in(s, "go-version: go1.27.3", "go-version: go1.27.4"), &|s, _| {
                k.sign(s).to_bytes()
            })
        })
        .says("signed statement is for go go1.27.4"),
        case("signed statement for another target", INTEGRITY, || {
            let k = keys::read_private_key(&release_key().private).unwrap();
            resign_with(good(), |_| {}, |s| replace_in(s, "target: x86_64", "target: aarch64"), &|s, _| {
                k.sign(s).to_bytes()
            })
        })
        .says("aarch64-unknown-linux-musl"),
        case("signed statement not in canonical form", MALFORMED, || {
            let k = keys::read_private_key(&release_key().private).unwrap();
            resign_with(good(), |_| {}, |s| replace_in(s, "format: 3", "format: 03"), &|s, _| k.sign(s).to_bytes())
        })
        .says("canonical"),
        case("not signed yet (built with --unsigned)", INTEGRITY, || resign_raw(good(), |_| {}, &|_, _| [0u8; 64]))
            .says("not signed yet"),
        // Non-strict verification would accept R = identity, S = 0 under a small-order key; the
        // trust store refuses such a key outright.
        case("weak key trusted, identity signature", UNTRUSTED, || {
            let mut sig = [0u8; 64];
            sig[0] = 1;
            resign_raw(good(), |m| m.signer_key_id = weak_key().id, &|_, _| sig)
        })
        .trust(weak_key)
        .says("weak"),
        // The builder's verify reads the real /etc, not the test's overlay, so it accepts.
        case("signer revoked", UNTRUSTED, || good().to_vec()).revoked().verify(0).says("revoked"),
        // --- Platform: verification is platform-neutral (the builder verifies any target).
        case(
            "another platform in the manifest",
            WRONG_PLATFORM,
            signed(|m| {
                m.target = ARM64.into();
                m.goarch = "arm64".into();
            }),
        )
        .verify(0),
        // The real arm64 release, re-signed onto the amd64 stub: this stub runs here and must refuse it
        // (an arm64 stub would not run on this machine at all).
        case("arm64 Go on the amd64 stub", WRONG_PLATFORM, || {
            let arm = fs::read(installer("arm64")).unwrap();
            let l = layout(&arm);
            let payload = &arm[l.payload.start as usize..l.payload.end as usize];
            let mut m = craft::manifest_of(&arm);
            assert_eq!((m.goarch.as_str(), m.target.as_str()), ("arm64", ARM64));
            let amd_stub = fs::read(stub(AMD64)).unwrap();
            m.stub = format::manifest::Region { len: amd_stub.len() as u64, sha256: craft::sha256(&amd_stub) };
            craft::assemble(payload, &serde_json::to_vec(&m).unwrap(), &craft::release_signer)
        })
        .verify(0)
        .says("arm64"),
        // --- The real tree, signed by the trusted key but wrong inside.
        case(
            "real: a file digest differs",
            INTEGRITY,
            signed(|m| {
                let e = m.files.iter_mut().find(|e| e.path == "src/fmt/format.go").unwrap();
                e.sha256 = Some("0".repeat(64));
            }),
        ),
        case(
            "real: a file size differs",
            INTEGRITY,
            signed(|m| {
                let e = m.files.iter_mut().find(|e| e.path == "VERSION").unwrap();
                e.size = Some(e.size.unwrap() + 1);
            }),
        ),
        case(
            "real: an entry missing from the payload",
            INTEGRITY,
            signed(|m| {
                m.files.push(Entry::file("zz-not-in-payload".into(), 0o644, 0, "0".repeat(64)));
                m.file_count += 1;
                frames(m).last_mut().unwrap().entries += 1;
            }),
        ),
        case(
            "real: a payload entry absent from the manifest",
            INTEGRITY,
            signed(|m| {
                let i = m.files.iter().position(|e| e.path == "src/fmt/print.go").unwrap();
                m.files.remove(i);
                m.file_count -= 1;
                frame_of(m, i).entries -= 1;
            }),
        ),
        case(
            "real: decompresses beyond the signed size",
            INTEGRITY,
            signed(|m| {
                m.payload.uncompressed_len -= 1024;
                frames(m).last_mut().unwrap().uncompressed_len -= 1024;
            }),
        ),
        // --- The frame table of the real installer (two frames), signed but lying.
        case(
            "frames: an entry claimed by the wrong frame",
            INTEGRITY,
            signed(|m| {
                let f = frames(m);
                f[0].entries += 1;
                f[1].entries -= 1;
            }),
        )
        .says("missing from the payload"),
        case(
            "frames: the boundary moved by one byte",
            INTEGRITY,
            signed(|m| {
                let f = frames(m);
                f[0].len += 1;
                f[1].len -= 1;
            }),
        ),
        case("frames: a frame's digest", INTEGRITY, signed(|m| frames(m)[1].sha256 = "0".repeat(64)))
            .says("payload frame 1 digest mismatch"),
        case(
            "frames: decompressed lengths moved between frames",
            INTEGRITY,
            signed(|m| {
                let f = frames(m);
                f[0].uncompressed_len += 512;
                f[1].uncompressed_len -= 512;
            }),
        ),
        case("frames: not adding up to the payload", MALFORMED, signed(|m| frames(m)[0].len += 1)),
        case("frames: none", MALFORMED, signed(|m| m.payload.frames = Some(Vec::new()))),
        case(
            "real: a setuid mode",
            MALFORMED,
            signed(|m| m.files.iter_mut().find(|e| e.path == "bin/go").unwrap().mode = 0o4755),
        ),
        case("real: a path escaping the tree", MALFORMED, signed(|m| m.files[3].path = "../escape".into())),
    ];

    // --- Hand-made payloads signed by the trusted key. Names with (a): the manifest lists the
    // hostile entry; with (b): the manifest is benign and only the tar differs.
    for (what, name) in [
        ("`../` path", "../evil"),
        ("absolute path", "/etc/evil"),
        ("`////etc/x` path", "////etc/evil"),
        ("backslash", "bin\\evil"),
        ("NUL in the name", "evil\0.txt"),
        ("newline in the name", "evil\n"),
    ] {
        v.push(case(
            format!("(a) {what}"),
            MALFORMED,
            crafted(move |t| {
                t.file(name, DATA);
            }),
        ));
        v.push(case(
            format!("(b) {what}"),
            INTEGRITY,
            crafted(move |t| {
                t.files.push(Entry::file("evil".into(), 0o644, DATA.len() as u64, craft::sha256(DATA)));
                t.tar.entry(name.as_bytes(), craft::REGULAR, 0o644, DATA, b"");
            }),
        ));
    }
    v.extend([
        case(
            "(a) symlink out of the tree, then a file through it",
            MALFORMED,
            crafted(|t| {
                t.symlink("lib", "../../../../etc").file("lib/evil", DATA);
            }),
        ),
        case(
            "(b) symlink out of the tree, then a file through it",
            INTEGRITY,
            crafted(|t| {
                t.files.push(Entry::dir("lib".into(), 0o755));
                t.files.push(Entry::file("lib/evil".into(), 0o644, DATA.len() as u64, craft::sha256(DATA)));
                t.tar.symlink("lib", "/etc").file("lib/evil", DATA);
            }),
        ),
        case(
            "(a) `x -> ..`, then x/y/z",
            MALFORMED,
            crafted(|t| {
                t.symlink("x", "..").dir("x/y").file("x/y/z", DATA);
            }),
        ),
        case(
            "(b) `x -> ..`, then x/y/z",
            INTEGRITY,
            crafted(|t| {
                t.files.push(Entry::dir("x".into(), 0o755));
                t.tar.symlink("x", "..");
                t.dir("x/y").file("x/y/z", DATA);
            }),
        ),
        case(
            "(a) symlink, then a directory of the same name",
            MALFORMED,
            crafted(|t| {
                t.symlink("d", "bin").dir("d");
            }),
        )
        .says("listed twice"),
        case(
            "(b) symlink, then a directory of the same name",
            INTEGRITY,
            crafted(|t| {
                t.tar.symlink("d", "bin");
                t.dir("d").file("d/evil", DATA);
            }),
        ),
        case(
            "(a) duplicate path",
            MALFORMED,
            crafted(|t| {
                t.file("dup", DATA).file("dup", b"other");
            }),
        ),
        case(
            "(b) duplicate path",
            INTEGRITY,
            crafted(|t| {
                t.file("dup", DATA);
                t.tar.file("dup", b"other");
            }),
        ),
        case(
            "(a) names that collide by case",
            MALFORMED,
            crafted(|t| {
                t.file("README", DATA).file("readme", DATA);
            }),
        )
        .says("differs only by case"),
        case(
            "(b) names that collide by case",
            INTEGRITY,
            crafted(|t| {
                t.file("README", DATA);
                t.tar.file("readme", DATA);
            }),
        ),
        case(
            "(a) a component longer than 255 bytes",
            MALFORMED,
            crafted(|t| {
                t.file(&"n".repeat(256), DATA);
            }),
        ),
        case(
            "(b) a component longer than 255 bytes",
            INTEGRITY,
            crafted(|t| {
                t.files.push(Entry::file("long".into(), 0o644, DATA.len() as u64, craft::sha256(DATA)));
                t.tar.file(&"n".repeat(256), DATA);
            }),
        ),
        case(
            "(a) a path longer than 4096 bytes",
            MALFORMED,
            crafted(|t| {
                let mut p = String::new();
                while p.len() < 4000 {
                    p.push_str(if p.is_empty() { "" } else { "/" });
                    p.push_str(&"d".repeat(200));
                    t.dir(&p);
                }
                t.file(&format!("{p}/{}", "f".repeat(200)), DATA);
            }),
        ),
        case(
            "(b) a path longer than 4096 bytes",
            INTEGRITY,
            crafted(|t| {
                t.files.push(Entry::file("long".into(), 0o644, DATA.len() as u64, craft::sha256(DATA)));
                t.tar.file(&"p/".repeat(2100), DATA);
            }),
        ),
        case(
            "(a) a setuid file",
            MALFORMED,
            crafted(|t| {
                t.file("suid", DATA);
                t.files.last_mut().unwrap().mode = 0o4755;
            }),
        ),
        case(
            "(b) an entry missing from the payload",
            INTEGRITY,
            crafted(|t| t.files.push(Entry::file("missing".into(), 0o644, 0, craft::sha256(b"")))),
        ),
        case(
            "(b) an entry absent from the manifest",
            INTEGRITY,
            crafted(|t| {
                t.tar.file("extra", DATA);
            }),
        ),
        case(
            "(b) a tar size field that differs (claims 4 GiB)",
            INTEGRITY,
            crafted(|t| {
                t.files.push(Entry::file("big".into(), 0o644, DATA.len() as u64, craft::sha256(DATA)));
                t.tar.raw(craft::header(b"big", craft::REGULAR, 0o644, &craft::size_field(4 << 30), b""), DATA);
            }),
        ),
        case(
            "(b) a tar size field that is not a number",
            INTEGRITY,
            crafted(|t| {
                t.files.push(Entry::file("big".into(), 0o644, DATA.len() as u64, craft::sha256(DATA)));
                t.tar.raw(craft::header(b"big", craft::REGULAR, 0o644, b"zz\xff", b""), DATA);
            }),
        ),
        case(
            "(b) file contents that differ from the signed digest",
            INTEGRITY,
            crafted(|t| {
                t.files.push(Entry::file("f".into(), 0o644, DATA.len() as u64, craft::sha256(DATA)));
                t.tar.file("f", b"HOSTILE\n");
            }),
        ),
        case(
            "100,000 tiny files, the last with a wrong digest",
            INTEGRITY,
            crafted(|t| {
                for d in 0..100 {
                    let dir = format!("many/{d:03}");
                    if d == 0 {
                        t.dir("many");
                    }
                    t.dir(&dir);
                    for f in 0..1000 {
                        t.file(&format!("{dir}/{f:03}"), &[b'0' + (f % 10) as u8]);
                    }
                }
                t.files.last_mut().unwrap().sha256 = Some(craft::sha256(b"not this"));
            }),
        ),
        case("(a) a zstd window above the cap", MALFORMED, crafted(|_| {}).into_window(28)),
        case("(b) a zstd frame whose window exceeds the signed window_log", INTEGRITY, || {
            let t = Tree::go();
            let tar = t.tar.finish();
            let frame = Frame::new(24).raw(&tar).finish();
            let mut m = craft::manifest(&frame, tar.len() as u64, t.files.clone());
            m.payload.window_log = 20;
            craft::assemble(&frame, &serde_json::to_vec(&m).unwrap(), &craft::release_signer)
        }),
        // 4 GiB of zeros after the tar in 128 KiB of zstd: the extractor stops one byte past the
        // signed size, with bounded memory.
        case("zstd bomb: 4 GiB of zeros after the signed tar", INTEGRITY, || {
            let t = Tree::go();
            let tar = t.tar.finish();
            let frame = Frame::new(20).raw(&tar).rle(0, 4 << 30).finish();
            let m = craft::manifest(&frame, tar.len() as u64, t.files.clone());
            craft::assemble(&frame, &serde_json::to_vec(&m).unwrap(), &craft::release_signer)
        })
        .max_rss_mib(300),
    ]);
    // Entry types the manifest cannot name (a), and that the tar carries under a benign file (b).
    for (what, typeflag, json_type) in [
        ("hard link", craft::HARD_LINK, "hardlink"),
        ("character device", craft::CHAR_DEV, "chardev"),
        ("block device", craft::BLOCK_DEV, "blockdev"),
        ("FIFO", craft::FIFO, "fifo"),
    ] {
        v.push(case(
            format!("(a) {what}"),
            MALFORMED,
            crafted_json(move |t| {
                t.file("special", b"");
                json_type.to_string()
            }),
        ));
        v.push(case(
            format!("(b) {what}"),
            INTEGRITY,
            crafted(move |t| {
                t.files.push(Entry::file("special".into(), 0o644, 0, craft::sha256(b"")));
                t.tar.entry(b"special", typeflag, 0o644, b"", b"/etc/shadow");
            }),
        ));
    }
    v
}

/// Window variants need the manifest's window changed after the payload is made.
trait IntoWindow {
    fn into_window(self, window_log: u32) -> Make;
}

impl<F: Fn() -> Vec<u8> + Send + Sync + 'static> IntoWindow for F {
    fn into_window(self, window_log: u32) -> Make {
        Box::new(move || resign(&self(), release_key(), |m| m.payload.window_log = window_log))
    }
}

/// Runs one case on a fresh machine whose prefix already holds a small Go tree.
fn check(case: &Case) {
    let name = &case.name;
    let bytes = (case.make)();
    let trusted = (case.trust)();
    let ctx = TestContext::new();
    fs::create_dir_all(ctx.goroot().join("bin")).unwrap();
    fs::write(ctx.goroot().join("VERSION"), "go1.0-sentinel\n").unwrap();
    if case.revoked {
        *ctx.revoked.borrow_mut() = Some(format!("# compromised\n{}\n", release_key().id));
        // Provisioning the list writes to the overlay's upper /etc: do it once before the
        // snapshot, so the comparison sees only what the installer does.
        ctx.run_root(Path::new("/bin/true"), &[], None, &[]);
    }
    let inst = ctx.path("bin/go-offline-installer");
    fs::write(&inst, &bytes).unwrap();
    drop(bytes);
    fs::set_permissions(&inst, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let before = ctx.snapshot();
    if case.runs {
        let out = match case.max_rss_mib {
            Some(limit) => {
                let (out, rss_kib) = craft::run_root_measured(&ctx, &inst, &trusted);
                eprintln!("case '{name}': max RSS {rss_kib} KiB");
                assert!(rss_kib < limit << 10, "case '{name}': max RSS {rss_kib} KiB is over {limit} MiB");
                out
            }
            None => ctx.install_root(&inst, &trusted, &[]),
        };
        assert_eq!(code(&out), case.expected, "case '{name}': wrong exit code; stderr: {}", stderr(&out));
        error_line(name, &out, case.says.as_deref());
    }
    assert_eq!(ctx.snapshot(), before, "case '{name}' changed the machine");
    assert!(ctx.staging_dirs().is_empty(), "case '{name}' left {:?}", ctx.staging_dirs());
    // The builder's verify agrees (the same verifier, run from outside the file).
    let out = run(builder().arg("verify").arg(&inst).arg("--trusted-key").arg(&trusted.public));
    assert_eq!(code(&out), case.verify, "case '{name}': builder verify disagrees");
    if case.verify != 0 {
        error_line(name, &out, if case.runs { None } else { case.says.as_deref() });
    }
}

fn error_line(name: &str, out: &std::process::Output, says: Option<&str>) {
    let err = stderr(out);
    let last = err.lines().last().unwrap_or_default();
    assert!(last.starts_with("error: "), "case '{name}': last stderr line is not an error: {err}");
    if let Some(text) = says {
        assert!(last.contains(text), "case '{name}': error does not say '{text}': {last}");
    }
}

/// Runs the whole table on two threads and reports every failing case at once.
/// `HOSTILE_CASE='text|other'` runs only the cases whose name contains one of these.
#[test]
fn hostile_inputs_are_refused() {
    let filter = std::env::var("HOSTILE_CASE").unwrap_or_default();
    let all = cases();
    assert!(all.len() >= 45, "the table shrank to {} cases", all.len());
    let selected: Vec<&Case> = all.iter().filter(|c| filter.split('|').any(|f| c.name.contains(f))).collect();
    // Shared artefacts first, so the workers do not race to build them.
    let _ = (good(), release_key(), other_key());
    let next = AtomicUsize::new(0);
    let failures = Mutex::new(Vec::new());
    std::thread::scope(|s| {
        for _ in 0..2 {
            s.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::SeqCst);
                let Some(case) = selected.get(i) else { break };
                if catch_unwind(AssertUnwindSafe(|| check(case))).is_err() {
                    failures.lock().unwrap().push(case.name.clone());
                }
            });
        }
    });
    let failures = failures.into_inner().unwrap();
    assert!(failures.is_empty(), "{} of {} cases failed: {failures:#?}", failures.len(), selected.len());
    eprintln!("{} hostile cases refused as expected", selected.len());
}

#[test]
fn openssl_alone_verifies_the_signature() {
    // An auditor needs no code of ours: the statement and signature are at offsets in the
    // trailer, the signed message is the statement, and the statement names the manifest's sha256.
    let bytes = fs::read(installer("amd64")).unwrap();
    let l = layout(&bytes);
    let dir = tempfile::tempdir().unwrap();
    let message = &bytes[l.statement.start as usize..l.statement.end as usize];
    // The statement's text written out, as ARCHITECTURE.md documents it: not the code's encoder.
    let m = craft::manifest_of(&bytes);
    use sha2::Digest;
    let digest = |r: &std::ops::Range<u64>| hex::encode(sha2::Sha256::digest(&bytes[r.start as usize..r.end as usize]));
    let documented = format!(
        "go-offline-installer signed statement\nformat: 3\nmanifest-sha256: {}\nproduct: go\ngo-version: {}\ntarget: {}\n",
        digest(&l.manifest),
        m.go_version,
        m.target
    );
    assert_eq!(String::from_utf8_lossy(message), documented);
    fs::write(dir.path().join("msg"), message).unwrap();
    fs::write(dir.path().join("sig"), &bytes[l.signature.start as usize..l.signature.end as usize]).unwrap();
    let verify = |pubkey: &Path| {
        run(std::process::Command::new("openssl")
            .args(["pkeyutl", "-verify", "-pubin", "-inkey"])
            .arg(pubkey)
            .args(["-rawin", "-in"])
            .arg(dir.path().join("msg"))
            .arg("-sigfile")
            .arg(dir.path().join("sig")))
    };
    assert!(verify(&release_key().public).status.success());
    assert!(!verify(&other_key().public).status.success());
    // And the manifest's digests match the regions, checked with sha256 alone.
    assert_eq!(digest(&l.stub), m.stub.sha256);
    assert_eq!(digest(&l.payload), m.payload.sha256);
}

#[test]
fn readme_openssl_recipe_works_as_written() {
    // The recipe in README.md, run as written in a directory holding the installer and the key.
    let readme = fs::read_to_string(workspace().join("README.md")).unwrap();
    let section = readme.split("### Checking a signature with openssl alone").nth(1).expect("README section");
    let script = section.split("```sh\n").nth(1).and_then(|s| s.split("```").next()).expect("sh block");
    let dir = tempfile::tempdir().unwrap();
    fs::copy(installer("amd64"), dir.path().join("go-offline-installer")).unwrap();
    fs::create_dir(dir.path().join("keys")).unwrap();
    fs::copy(&release_key().public, dir.path().join("keys/org.pub")).unwrap();
    let out = run(std::process::Command::new("bash").arg("-ec").arg(script).current_dir(dir.path()));
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).contains("Signature Verified Successfully"), "{}", stdout(&out));
    assert!(stdout(&out).contains("the manifest is the signed one"), "{}", stdout(&out));
    // The manifest it decodes with zstd alone is the one the file carries.
    let json = fs::read(dir.path().join("manifest.json")).unwrap();
    assert_eq!(Manifest::parse(&json).unwrap(), craft::manifest_of(&fs::read(installer("amd64")).unwrap()));
    // A manifest changed after signing fails the recipe at the digest.
    let mut changed = fs::read(installer("amd64")).unwrap();
    let l = layout(&changed);
    changed[l.manifest.start as usize + 10] ^= 0x01;
    fs::write(dir.path().join("go-offline-installer"), &changed).unwrap();
    let out = run(std::process::Command::new("bash").arg("-ec").arg(script).current_dir(dir.path()));
    assert!(!out.status.success() && !stdout(&out).contains("the manifest is the signed one"), "{}", stdout(&out));
    // With another key the same recipe fails.
    fs::copy(installer("amd64"), dir.path().join("go-offline-installer")).unwrap();
    fs::copy(&other_key().public, dir.path().join("keys/org.pub")).unwrap();
    let out = run(std::process::Command::new("bash").arg("-ec").arg(script).current_dir(dir.path()));
    assert!(!out.status.success());
}

/// Installers of the earlier formats are in the field: version 1 (the signature over the context
/// and the whole manifest, no statement) and version 2 (the manifest region is the JSON itself).
/// This verifier and the installer still accept them, and still refuse one changed after signing.
#[test]
fn installers_of_format_versions_1_and_2_still_verify_and_install() {
    let bytes = good();
    let l = layout(bytes);
    let r = |r: &std::ops::Range<u64>| &bytes[r.start as usize..r.end as usize];
    let k = keys::read_private_key(&release_key().private).unwrap();
    let json = craft::manifest_of(bytes).to_canonical_json();
    let v1_sig = k.sign(&layout::v1_signed_message(&json)).to_bytes();
    let v2_statement =
        Statement { format: layout::FORMAT_V2, ..Statement::for_manifest(&json, &json).unwrap() }.encode();
    let v2_sig = k.sign(&v2_statement).to_bytes();
    let cases = [
        ("v1", 1u32, Assembled::v1(r(&l.stub), r(&l.payload), &json, &v1_sig).unwrap().to_vec()),
        ("v2", 2, Assembled::v2(r(&l.stub), r(&l.payload), &json, &v2_statement, &v2_sig).unwrap().to_vec()),
    ];
    for (name, version, old) in cases {
        let trailer = &old[old.len() - 96..];
        assert_eq!(&trailer[8..12], &version.to_le_bytes()[..], "{name}: not a version {version} trailer");
        let ctx = TestContext::new();
        let file = ctx.path(&format!("go-offline-installer-{name}"));
        fs::write(&file, &old).unwrap();
        fs::set_permissions(&file, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
        let out = ok(builder().arg("verify").arg(&file).arg("--trusted-key").arg(&release_key().public));
        assert!(stdout(&out).contains("every digest matches"), "{name}: {}", stdout(&out));
        let out = ok(builder().arg("inspect").arg(&file));
        assert!(stdout(&out).contains(&format!("format:      {version} ")), "{name}: {}", stdout(&out));
        let out = ctx.install_root(&file, release_key(), &[]);
        assert_eq!(code(&out), 0, "{name}: {}", stderr(&out));
        let go = ok(std::process::Command::new(ctx.goroot().join("bin/go")).arg("version"));
        assert!(stdout(&go).contains(GO_VERSION), "{name}");
        // One manifest byte changed after signing: refused as before.
        let mut changed = old.clone();
        changed[l.manifest.start as usize + 20] ^= 0x01;
        fs::write(&file, &changed).unwrap();
        let out = run(builder().arg("verify").arg(&file).arg("--trusted-key").arg(&release_key().public));
        assert_eq!(code(&out), exit::INTEGRITY, "{name}: {}", stderr(&out));
    }
    // A version 2 statement does not verify a version 3 file, nor the reverse: the statement
    // names its format.
    let v2_on_v3 = Assembled::new(r(&l.stub), r(&l.payload), r(&l.manifest), &v2_statement, &v2_sig).unwrap().to_vec();
    let ctx = TestContext::new();
    let file = ctx.path("go-offline-installer-mixed");
    fs::write(&file, &v2_on_v3).unwrap();
    let out = run(builder().arg("verify").arg(&file).arg("--trusted-key").arg(&release_key().public));
    assert_eq!(code(&out), exit::MALFORMED, "{}", stderr(&out));
    assert!(stderr(&out).contains("format version 2, the file is of version 3"), "{}", stderr(&out));
}
