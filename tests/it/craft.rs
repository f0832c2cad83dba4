//! Hand-made installers: a raw tar writer (every header byte under the test's control), hand-made
//! zstd frames, and a manifest signed with the trusted release key, assembled onto the real stub.
//! This is what an attacker holding a trusted key could ship; the installer must still refuse it
//! through its own allow-list and per-entry checks, never through the tar crate's guards.

use std::{
    collections::BTreeMap,
    fs,
    path::Path,
    process::{Command, Output, Stdio},
};

use ed25519_dalek::Signer;
use format::{
    keys,
    layout::Assembled,
    manifest::{Entry, Manifest, Payload, Product, Region, Source},
    statement::Statement,
};
use sha2::{Digest, Sha256};

use crate::support::*;

pub fn sha256(data: &[u8]) -> String {
    hex::encode(Sha256::digest(data))
}

/// tar typeflags.
pub const REGULAR: u8 = b'0';
pub const HARD_LINK: u8 = b'1';
pub const SYMLINK: u8 = b'2';
pub const CHAR_DEV: u8 = b'3';
pub const BLOCK_DEV: u8 = b'4';
pub const DIRECTORY: u8 = b'5';
pub const FIFO: u8 = b'6';
pub const GNU_LONG_NAME: u8 = b'L';

/// One 512-byte header. `size` is written as given (so it may lie about the data that follows).
pub fn header(name: &[u8], typeflag: u8, mode: u32, size: &[u8], link: &[u8]) -> [u8; 512] {
    let mut h = [0u8; 512];
    let put = |h: &mut [u8; 512], at: usize, max: usize, v: &[u8]| {
        let n = v.len().min(max);
        h[at..at + n].copy_from_slice(&v[..n]);
    };
    put(&mut h, 0, 100, name);
    put(&mut h, 100, 8, format!("{mode:07o}\0").as_bytes());
    put(&mut h, 108, 8, b"0000000\0");
    put(&mut h, 116, 8, b"0000000\0");
    put(&mut h, 124, 12, size);
    put(&mut h, 136, 12, b"00000000000\0");
    h[156] = typeflag;
    put(&mut h, 157, 100, link);
    // GNU magic: the tar crate honours 'L' long names only in GNU headers.
    put(&mut h, 257, 8, b"ustar  \0");
    h[148..156].copy_from_slice(b"        ");
    let sum: u32 = h.iter().map(|&b| u32::from(b)).sum();
    put(&mut h, 148, 8, format!("{sum:06o}\0 ").as_bytes());
    h
}

/// An octal size field.
pub fn size_field(size: u64) -> Vec<u8> {
    format!("{size:011o}\0").into_bytes()
}

/// A tar stream written byte by byte.
#[derive(Default, Clone)]
pub struct Tar {
    pub bytes: Vec<u8>,
}

impl Tar {
    /// A header followed by `data`, padded to 512 bytes.
    pub fn raw(&mut self, header: [u8; 512], data: &[u8]) -> &mut Self {
        self.bytes.extend_from_slice(&header);
        self.bytes.extend_from_slice(data);
        self.bytes.resize(self.bytes.len().next_multiple_of(512), 0);
        self
    }
    /// An entry of any type; names longer than 100 bytes get a GNU 'L' record first.
    pub fn entry(&mut self, name: &[u8], typeflag: u8, mode: u32, data: &[u8], link: &[u8]) -> &mut Self {
        // A NUL would end the name in the header itself; a long-name record carries it.
        if name.len() > 100 || name.contains(&0) {
            let mut long = name.to_vec();
            long.push(0);
            self.raw(header(b"././@LongLink", GNU_LONG_NAME, 0o644, &size_field(long.len() as u64), b""), &long);
        }
        self.raw(header(name, typeflag, mode, &size_field(data.len() as u64), link), data)
    }
    pub fn file(&mut self, name: &str, data: &[u8]) -> &mut Self {
        self.entry(name.as_bytes(), REGULAR, 0o644, data, b"")
    }
    pub fn dir(&mut self, name: &str) -> &mut Self {
        self.entry(format!("{name}/").as_bytes(), DIRECTORY, 0o755, b"", b"")
    }
    pub fn symlink(&mut self, name: &str, target: &str) -> &mut Self {
        self.entry(name.as_bytes(), SYMLINK, 0o777, b"", target.as_bytes())
    }
    /// The stream with its end marker (two zero blocks).
    pub fn finish(&self) -> Vec<u8> {
        let mut b = self.bytes.clone();
        b.resize(b.len() + 1024, 0);
        b
    }
}

/// A Go tree as two lists that normally agree: the tar stream and the manifest entries. Hostile
/// cases add to one only, or to both.
#[derive(Clone)]
pub struct Tree {
    pub tar: Tar,
    pub files: Vec<Entry>,
}

impl Tree {
    /// The smallest tree the manifest accepts as a Go distribution.
    pub fn go() -> Tree {
        let mut t = Tree { tar: Tar::default(), files: Vec::new() };
        t.file("VERSION", b"go1.27.3\ntime 2026-01-01T00:00:00Z\n")
            .file("go.env", b"GOPROXY=off\nGOTOOLCHAIN=local\n")
            .dir("bin")
            .file("bin/go", b"#!/bin/sh\necho not go\n");
        t
    }
    pub fn file(&mut self, path: &str, data: &[u8]) -> &mut Self {
        self.tar.file(path, data);
        self.files.push(Entry::file(path.into(), 0o644, data.len() as u64, sha256(data)));
        self
    }
    pub fn dir(&mut self, path: &str) -> &mut Self {
        self.tar.dir(path);
        self.files.push(Entry::dir(path.into(), 0o755));
        self
    }
    pub fn symlink(&mut self, path: &str, target: &str) -> &mut Self {
        self.tar.symlink(path, target);
        self.files.push(Entry::symlink(path.into(), target.into()));
        self
    }
    /// Signed with the release key, zstd at level 3 (window 2^27 allowed).
    pub fn installer(&self) -> Vec<u8> {
        self.installer_with(|_| {})
    }
    /// As [`Tree::installer`], with the manifest edited before signing.
    pub fn installer_with(&self, edit: impl FnOnce(&mut Manifest)) -> Vec<u8> {
        self.installer_on(&stub_bytes(), edit)
    }
    /// As [`Tree::installer_with`], on the program `stub` instead of the amd64 stub.
    pub fn installer_on(&self, stub: &[u8], edit: impl FnOnce(&mut Manifest)) -> Vec<u8> {
        let tar = self.tar.finish();
        let compressed = zstd::encode_all(&tar[..], 3).unwrap();
        let mut m = manifest(&compressed, tar.len() as u64, self.files.clone());
        m.stub = Region { len: stub.len() as u64, sha256: sha256(stub) };
        edit(&mut m);
        assemble_on(stub, &compressed, &serde_json::to_vec(&m).unwrap(), &release_signer)
    }
}

/// A manifest for this payload on the real amd64 stub, signed by the release key.
pub fn manifest(compressed: &[u8], uncompressed_len: u64, files: Vec<Entry>) -> Manifest {
    let stub = stub_bytes();
    Manifest {
        format: 1,
        product: Product::Go,
        go_version: GO_VERSION.into(),
        goos: "linux".into(),
        goarch: "amd64".into(),
        goarm: None,
        target: AMD64.into(),
        created: 0,
        signer_key_id: release_key().id.clone(),
        stub: Region { len: stub.len() as u64, sha256: sha256(&stub) },
        payload: Payload {
            compression: "zstd".into(),
            len: compressed.len() as u64,
            sha256: sha256(compressed),
            uncompressed_len,
            window_log: format::manifest::MAX_WINDOW_LOG,
            frames: None,
            filtered: None,
        },
        source: Source { kind: "tarball".into(), name: "hostile.tar.gz".into(), ..Default::default() },
        go_env: BTreeMap::from([("GOPROXY".into(), "off".into())]),
        file_count: files.len() as u64,
        files,
        modules: None,
        delta: None,
        sumdb: None,
    }
}

fn stub_bytes() -> Vec<u8> {
    fs::read(stub(AMD64)).unwrap()
}

/// Signs a message (a statement) with the release key.
pub fn release_signer(message: &[u8]) -> [u8; 64] {
    keys::read_private_key(&release_key().private).unwrap().sign(message).to_bytes()
}

/// stub ‖ payload ‖ manifest region (of the JSON `manifest`) ‖ statement ‖ sign(statement) ‖
/// trailer.
pub fn assemble(compressed: &[u8], manifest: &[u8], sign: &dyn Fn(&[u8]) -> [u8; 64]) -> Vec<u8> {
    assemble_on(&stub_bytes(), compressed, manifest, sign)
}

/// [`assemble`] on the program `stub`.
pub fn assemble_on(stub: &[u8], compressed: &[u8], manifest: &[u8], sign: &dyn Fn(&[u8]) -> [u8; 64]) -> Vec<u8> {
    let region = format::manifest::encode_region(manifest, 3);
    let statement = Statement::for_manifest(manifest, &region).unwrap().encode();
    let sig = sign(&statement);
    Assembled::new(stub, compressed, &region, &statement, &sig).unwrap().to_vec()
}

/// The manifest an installer file's bytes carry, decoded from its region (not verified).
pub fn manifest_of(bytes: &[u8]) -> format::manifest::Manifest {
    let l = format::layout::Layout::parse(bytes.len() as u64, &bytes[bytes.len() - 96..]).unwrap();
    let region = &bytes[l.manifest.start as usize..l.manifest.end as usize];
    format::manifest::Manifest::parse(&format::manifest::decode_region(l.version, region).unwrap()).unwrap()
}

/// A zstd frame made by hand: the header declares a window of 2^`window_log` (no content size),
/// then `blocks`. Lets a test choose the window and the expansion ratio exactly.
pub struct Frame {
    bytes: Vec<u8>,
}

/// Largest zstd block.
const BLOCK: usize = 128 << 10;

impl Frame {
    pub fn new(window_log: u32) -> Frame {
        assert!((10..=31).contains(&window_log));
        // Magic, frame header descriptor 0 (no checksum, no content size, not single segment),
        // window descriptor: exponent = window_log - 10, mantissa 0.
        Frame { bytes: vec![0x28, 0xb5, 0x2f, 0xfd, 0x00, ((window_log - 10) << 3) as u8] }
    }
    fn block(&mut self, kind: u32, size: usize, content: &[u8]) {
        let h = (kind << 1) | ((size as u32) << 3);
        self.bytes.extend_from_slice(&h.to_le_bytes()[..3]);
        self.bytes.extend_from_slice(content);
    }
    /// Raw (stored) blocks holding `data`.
    pub fn raw(mut self, data: &[u8]) -> Frame {
        for chunk in data.chunks(BLOCK) {
            self.block(0, chunk.len(), chunk);
        }
        self
    }
    /// RLE blocks: `count` bytes of `byte`, 4 bytes per 128 KiB.
    pub fn rle(mut self, byte: u8, count: u64) -> Frame {
        let mut left = count;
        while left > 0 {
            let n = left.min(BLOCK as u64) as usize;
            self.block(1, n, &[byte]);
            left -= n as u64;
        }
        self
    }
    /// Ends the frame with an empty last raw block.
    pub fn finish(mut self) -> Vec<u8> {
        self.bytes.extend_from_slice(&1u32.to_le_bytes()[..3]);
        self.bytes
    }
}

/// Runs the installer as `TestContext::run_root` does (private mount and network namespaces,
/// overlay /etc, noexec /tmp) under `/usr/bin/time -v`, and also returns the installer's peak
/// resident set in KiB. Not `wait4` from this process: a child spawned from the test process
/// inherits the test's own high-water mark at `exec` (Linux keeps the largest across exec), so
/// only a small intermediate process that forks the installer measures the installer alone.
pub fn run_root_measured(ctx: &TestContext, installer: &Path, key: &Key) -> (Output, u64) {
    let time = Path::new("/usr/bin/time");
    assert!(time.exists(), "{} is missing: install GNU time (package `time`)", time.display());
    // The context's private /etc and /var/log, as every root run has: the machine is not touched.
    let setup = ctx.root_setup(None);
    let report = tempfile::NamedTempFile::new().unwrap();
    let out = run(Command::new(time)
        .arg("-v")
        .arg("-o")
        .arg(report.path())
        .args(["unshare", "--mount", "--net", "--propagation", "private", "sh", "-c", &setup, "sh"])
        .arg(installer)
        .args(["--yes", "--prefix"])
        .arg(ctx.prefix())
        .arg("--trusted-key")
        .arg(&key.public)
        .env("HOME", ctx.home())
        .stdin(Stdio::null()));
    let report = fs::read_to_string(report.path()).unwrap();
    let kib = report
        .lines()
        .find_map(|l| l.trim().strip_prefix("Maximum resident set size (kbytes): "))
        .unwrap_or_else(|| panic!("no maximum resident set size in the report of {}: {report}", time.display()))
        .parse()
        .unwrap();
    (out, kib)
}
