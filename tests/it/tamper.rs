//! A modified installer is refused with its documented exit code, and the machine is unchanged.

use std::{fs, path::Path};

use ed25519_dalek::Signer;
use stub::{exit, format::Layout, keys, manifest::Manifest};

use crate::support::*;

/// The regions of an installer file.
fn layout(bytes: &[u8]) -> Layout {
    let len = bytes.len() as u64;
    Layout::parse(len, &bytes[bytes.len() - 96..]).unwrap()
}

/// Re-signs an installer after changing its manifest (and optionally its payload): what an
/// attacker holding a trusted key could produce.
pub fn resign(bytes: &[u8], key: &Key, edit: impl FnOnce(&mut Manifest)) -> Vec<u8> {
    let l = layout(bytes);
    let r = |r: &std::ops::Range<u64>| &bytes[r.start as usize..r.end as usize];
    let mut manifest = Manifest::parse(r(&l.manifest)).unwrap();
    edit(&mut manifest);
    let manifest_bytes = serde_json::to_vec(&manifest).unwrap();
    let signing = keys::read_private_key(&key.private).unwrap();
    let mut message = keys::SIGNATURE_CONTEXT.to_vec();
    message.extend_from_slice(&manifest_bytes);
    let sig = signing.sign(&message).to_bytes();
    let new = Layout::for_lengths(stub_len(&l), payload_len(&l), manifest_bytes.len() as u64).unwrap();
    [r(&l.stub), r(&l.payload), &manifest_bytes, &sig, &new.encode_trailer()].concat()
}

fn stub_len(l: &Layout) -> u64 {
    l.stub.end - l.stub.start
}
fn payload_len(l: &Layout) -> u64 {
    l.payload.end - l.payload.start
}

type Mutation = fn(&mut Vec<u8>, &Layout);

fn flip(bytes: &mut [u8], at: u64) {
    bytes[at as usize] ^= 0x01;
}

/// One row per region and per length change.
const CASES: &[(&str, Mutation, i32)] = &[
    // Section headers at the end of the stub are not loaded: the stub still runs and must notice.
    ("stub byte", |b, l| flip(b, l.stub.end - 8), exit::INTEGRITY),
    ("payload first byte", |b, l| flip(b, l.payload.start), exit::INTEGRITY),
    ("payload middle byte", |b, l| flip(b, (l.payload.start + l.payload.end) / 2), exit::INTEGRITY),
    ("payload last byte", |b, l| flip(b, l.payload.end - 1), exit::INTEGRITY),
    ("manifest middle byte", |b, l| flip(b, (l.manifest.start + l.manifest.end) / 2), exit::INTEGRITY),
    ("manifest first byte", |b, l| flip(b, l.manifest.start), exit::INTEGRITY),
    ("signature byte", |b, l| flip(b, l.signature.start + 10), exit::INTEGRITY),
    ("trailer magic", |b, l| flip(b, l.trailer.start), exit::MALFORMED),
    ("trailer payload length", |b, l| flip(b, l.trailer.start + 40), exit::MALFORMED),
    ("trailer end magic", |b, l| flip(b, l.trailer.end - 1), exit::MALFORMED),
    ("truncated by one byte", |b, _| b.truncate(b.len() - 1), exit::MALFORMED),
    (
        "truncated inside the payload",
        |b, l| b.truncate(((l.payload.start + l.payload.end) / 2) as usize),
        exit::MALFORMED,
    ),
    ("truncated to the stub", |b, l| b.truncate(l.stub.end as usize), exit::MALFORMED),
    ("one byte appended", |b, _| b.push(0), exit::MALFORMED),
    (
        "a trailer appended",
        |b, _| {
            let t = b[b.len() - 96..].to_vec();
            b.extend_from_slice(&t)
        },
        exit::MALFORMED,
    ),
];

/// Runs a modified installer as root and checks the exit code and that nothing changed.
fn check_refused(name: &str, bytes: &[u8], trusted: &Key, expected: i32) {
    check_refused_with(name, bytes, trusted, expected, expected)
}

/// As [`check_refused`], when the builder's `verify` (which runs on any platform) expects `verify_expected`.
fn check_refused_with(name: &str, bytes: &[u8], trusted: &Key, expected: i32, verify_expected: i32) {
    let ctx = TestContext::new();
    let inst = ctx.path("bin/go-offline-installer");
    fs::write(&inst, bytes).unwrap();
    fs::set_permissions(&inst, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let before = ctx.snapshot();
    let out = ctx.install_root(&inst, trusted, &[]);
    assert_eq!(code(&out), expected, "case '{name}': wrong exit code; stderr: {}", stderr(&out));
    assert!(stderr(&out).lines().last().unwrap_or_default().starts_with("error: "), "case '{name}': {}", stderr(&out));
    assert_eq!(ctx.snapshot(), before, "case '{name}' changed the machine");
    assert!(ctx.staging_dirs().is_empty(), "case '{name}' left {:?}", ctx.staging_dirs());
    // The builder's verify agrees (the same verifier, run from outside the file).
    let out = run(builder().arg("verify").arg(&inst).arg("--trusted-key").arg(&trusted.public));
    assert_eq!(code(&out), verify_expected, "case '{name}': builder verify disagrees");
}

#[test]
fn every_region_tampered_is_refused() {
    let good = fs::read(installer("amd64")).unwrap();
    for (name, mutate, expected) in CASES {
        let mut bytes = good.clone();
        mutate(&mut bytes, &layout(&good));
        assert_ne!(bytes, good, "case '{name}' changed nothing");
        check_refused(name, &bytes, release_key(), *expected);
    }
}

#[test]
fn untrusted_and_wrong_keys_are_refused() {
    let good = fs::read(installer("amd64")).unwrap();
    // Signed by the release key, only another key trusted: the signer's key id is named.
    let ctx = TestContext::new();
    let inst = ctx.copy_installer(&installer("amd64"), "go-offline-installer");
    let before = ctx.snapshot();
    let out = ctx.install_root(&inst, other_key(), &[]);
    assert_eq!(code(&out), exit::UNTRUSTED);
    assert!(stderr(&out).contains(&format!("signer {} is not trusted", release_key().id)), "{}", stderr(&out));
    assert_eq!(ctx.snapshot(), before);
    // No key at all.
    let out = ctx.run_root(&inst, &["--check"], None, &[]);
    assert_eq!(code(&out), exit::UNTRUSTED);
    // Re-signed by an untrusted key, claiming to be the trusted one.
    let forged = resign(&good, other_key(), |m| m.signer_key_id = release_key().id.clone());
    check_refused("signed by another key, claiming the trusted id", &forged, release_key(), exit::INTEGRITY);
    // Re-signed by an untrusted key under its own id.
    let other = resign(&good, other_key(), |m| m.signer_key_id = other_key().id.clone());
    check_refused("signed by an untrusted key", &other, release_key(), exit::UNTRUSTED);
    // A trusted signature whose manifest names another signer.
    let lying = resign(&good, release_key(), |m| m.signer_key_id = other_key().id.clone());
    check_refused("manifest names another signer", &lying, release_key(), exit::INTEGRITY);
}

#[test]
fn signed_but_wrong_inside_is_refused() {
    let good = fs::read(installer("amd64")).unwrap();
    // Verification is platform-neutral (the builder verifies installers for any target); the
    // installer itself refuses to install for another platform.
    let other_platform = resign(&good, release_key(), |m| {
        m.target = ARM64.into();
        m.goarch = "arm64".into();
    });
    check_refused_with("another platform", &other_platform, release_key(), exit::WRONG_PLATFORM, 0);
    let cases: Vec<(&str, Vec<u8>, i32)> = vec![
        (
            "a file digest differs",
            resign(&good, release_key(), |m| {
                let e = m.files.iter_mut().find(|e| e.path == "src/fmt/format.go").unwrap();
                e.sha256 = Some("0".repeat(64));
            }),
            exit::INTEGRITY,
        ),
        (
            "a file size differs",
            resign(&good, release_key(), |m| {
                let e = m.files.iter_mut().find(|e| e.path == "VERSION").unwrap();
                e.size = Some(e.size.unwrap() + 1);
            }),
            exit::INTEGRITY,
        ),
        (
            "an entry missing from the payload",
            resign(&good, release_key(), |m| {
                m.files.push(stub::manifest::Entry::file("zz-not-in-payload".into(), 0o644, 0, "0".repeat(64)));
                m.file_count += 1;
            }),
            exit::INTEGRITY,
        ),
        (
            "a payload entry absent from the manifest",
            resign(&good, release_key(), |m| {
                let i = m.files.iter().position(|e| e.path == "src/fmt/print.go").unwrap();
                m.files.remove(i);
                m.file_count -= 1;
            }),
            exit::INTEGRITY,
        ),
        (
            "decompresses beyond the signed size",
            resign(&good, release_key(), |m| m.payload.uncompressed_len -= 1024),
            exit::INTEGRITY,
        ),
        (
            "a setuid mode",
            resign(&good, release_key(), |m| {
                m.files.iter_mut().find(|e| e.path == "bin/go").unwrap().mode = 0o4755;
            }),
            exit::MALFORMED,
        ),
        (
            "a path escaping the tree",
            resign(&good, release_key(), |m| m.files[3].path = "../escape".into()),
            exit::MALFORMED,
        ),
    ];
    for (name, bytes, expected) in cases {
        check_refused(name, &bytes, release_key(), expected);
    }
}

#[test]
fn openssl_alone_verifies_the_signature() {
    // An auditor needs no code of ours: the manifest and signature are at offsets in the trailer,
    // and the signed message is the context string followed by the manifest.
    let bytes = fs::read(installer("amd64")).unwrap();
    let l = layout(&bytes);
    let dir = tempfile::tempdir().unwrap();
    let mut message = keys::SIGNATURE_CONTEXT.to_vec();
    message.extend_from_slice(&bytes[l.manifest.start as usize..l.manifest.end as usize]);
    fs::write(dir.path().join("msg"), &message).unwrap();
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
    let m = Manifest::parse(&bytes[l.manifest.start as usize..l.manifest.end as usize]).unwrap();
    use sha2::Digest;
    let digest = |r: &std::ops::Range<u64>| hex::encode(sha2::Sha256::digest(&bytes[r.start as usize..r.end as usize]));
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
    // With another key the same recipe fails.
    fs::copy(&other_key().public, dir.path().join("keys/org.pub")).unwrap();
    let out = run(std::process::Command::new("bash").arg("-ec").arg(script).current_dir(dir.path()));
    assert!(!out.status.success());
}
