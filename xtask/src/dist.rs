//! `cargo xtask dist`: the builder as people download it.
//!
//! One static `go-offline-builder` per host architecture (x86_64 and aarch64 Linux), each with
//! the release stub of every target embedded (zstd-compressed, with its length, sha256, version
//! and commit: see builder/build.rs and builder/src/stubs.rs), so that it needs nothing beside it.
//! Into `target/dist/`:
//!
//! - `go-offline-builder-VERSION-ARCH-linux.tar.gz`: the builder, README, licences, bash, zsh
//!   and fish completions, man pages for `go-offline-builder` (and each subcommand) and
//!   `go-offline-installer`;
//! - `go-offline-builder_VERSION-1_DEBARCH.deb`: the same, made by cargo-deb;
//! - `SHA256SUMS` and `SHA256SUMS.sig`, signed as `go-offline-builder release` signs releases.
//!
//! **Invariant:** reproducible. Every timestamp is `SOURCE_DATE_EPOCH` (default: the time of the
//! last commit), tar entries are sorted with fixed owners and modes, gzip headers carry no name,
//! and the signature is deterministic ed25519: two runs give byte-identical files.

use std::{
    fs,
    io::Write,
    path::{Path, PathBuf},
    process::Command,
    time::Instant,
};

use clap::CommandFactory;
use sha2::{Digest, Sha256};

use crate::{build_stubs, cargo, feature_runs, run, tools, Result, TARGETS};

/// The builders made: Rust triple, the archive's architecture name, Debian's.
pub const HOSTS: &[(&str, &str, &str)] =
    &[("x86_64-unknown-linux-musl", "x86_64", "amd64"), ("aarch64-unknown-linux-musl", "aarch64", "arm64")];

/// The cargo-deb release `cargo_deb` installs (in the cache, see `cache`).
const CARGO_DEB_VERSION: &str = "3.8.0";

/// zstd level of the embedded stubs (they are small: the strongest level costs a second).
const STUB_LEVEL: i32 = 19;

/// Where the stubs to embed, the man pages and the completions are prepared.
const WORK: &str = "target/dist-work";

pub fn dist_cmd(args: &[String]) -> Result {
    let mut out = PathBuf::from("target/dist");
    let mut key = None;
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--out-dir" => out = PathBuf::from(it.next().ok_or("--out-dir needs a directory")?),
            "--key" => {
                key = Some(it.next().ok_or("--key needs a signer (a key file, pkcs11:URI or vault:KEY)")?.clone())
            }
            other => return Err(format!("dist: unknown argument '{other}'")),
        }
    }
    dist(&out, key.as_deref()).map(|_| ())
}

/// Makes every dist file into `out` (emptied first), signing SHA256SUMS with the signer `key`
/// names, as `go-offline-builder --key` does (default: a key of this checkout,
/// `target/dist-keys/dist.key`, made on first use); returns the files.
pub fn dist(out: &Path, key: Option<&str>) -> Result<Vec<PathBuf>> {
    let started = Instant::now();
    let version = builder::VERSION;
    let work = std::path::absolute(WORK).map_err(|e| e.to_string())?;
    // Not emptied: a stub file rewritten with the same bytes would still be newer than the
    // builder's build script, which would run again and link the builders anew (minutes of
    // link-time optimisation) for nothing. `embed_stubs` writes only what changed.
    let stubs = embed_stubs(&work.join("stubs"), version, &commit())?;
    // The builders in as few cargo runs as make the same bytes: their link-time optimisations
    // run side by side.
    tools::zigbuild()?;
    let triples: Vec<&str> = HOSTS.iter().map(|(triple, _, _)| *triple).collect();
    for triple in &triples {
        tools::rust_target(triple)?;
    }
    for run_of in feature_runs(cargo, "builder", &[], &triples)? {
        let mut build = cargo();
        build.args(["zigbuild", "--release", "--locked", "-p", "builder", "--bin", "go-offline-builder"]);
        for triple in run_of {
            build.args(["--target", triple]);
        }
        run(build.env("GO_OFFLINE_EMBED_STUBS", work.join("stubs")))?;
    }
    let (files, signer) = pack(out, key, &work)?;

    println!(
        "dist {version} (commit {}, SOURCE_DATE_EPOCH {}) in {:.0} s:",
        commit(),
        source_date_epoch()?,
        started.elapsed().as_secs_f64()
    );
    for (triple, len, compressed) in &stubs {
        println!("  embedded stub {triple}: {len} bytes, {compressed} compressed");
    }
    for (triple, _, _) in HOSTS {
        let b = builder_path(triple);
        println!("  builder {triple}: {} bytes", size(&b));
    }
    for f in &files {
        println!("  {} ({} bytes)", f.display(), size(f));
    }
    println!("  SHA256SUMS.sig verifies with key {} ({})", signer.key_id(), signer.spec());
    Ok(files)
}

/// The dist files of the builders built: their archives (with the man pages and completions
/// made into `work`), their packages and the signed sums, into `out` (emptied first). They are
/// made in `.NAME.partial` beside `out` and renamed to `out` once the sums are signed, so that a
/// run stopped half way leaves no half dist at `out`.
fn pack(out: &Path, key: Option<&str>, work: &Path) -> Result<(Vec<PathBuf>, builder::signer::Signer)> {
    let (version, epoch) = (builder::VERSION, source_date_epoch()?);
    let _ = fs::remove_dir_all(work.join("doc"));
    docs(&work.join("doc"))?;
    empty_out_dir(out)?;
    let name = out.file_name().ok_or_else(|| format!("{} names no directory", out.display()))?;
    let (done, out) = (out, out.with_file_name(format!(".{}.partial", name.to_string_lossy())));
    let out = out.as_path();
    // Ours by name: what a stopped run left there.
    let _ = fs::remove_dir_all(out);
    fs::create_dir_all(out).map_err(|e| format!("create {}: {e}", out.display()))?;
    let mut files = Vec::new();
    for (triple, arch, _) in HOSTS {
        files.push(archive(out, triple, arch, version, epoch, &work.join("doc"))?);
    }
    let cargo_deb = cargo_deb()?;
    for (triple, _, deb_arch) in HOSTS {
        let deb = out.join(format!("go-offline-builder_{version}-1_{deb_arch}.deb"));
        run(Command::new(&cargo_deb)
            .args(["-p", "builder", "--no-build", "--no-strip", "--locked", "--target", triple, "--output"])
            .arg(&deb)
            .env("SOURCE_DATE_EPOCH", epoch.to_string()))?;
        files.push(deb);
    }
    let signer = signer(key)?;
    let mut sums = Vec::new();
    for f in &files {
        let name = f.file_name().and_then(|n| n.to_str()).ok_or("dist file names are UTF-8")?.to_string();
        sums.push((sha256_file(f)?, name));
    }
    sums.sort_by(|a, b| a.1.cmp(&b.1));
    let lines: Vec<(&str, &str)> = sums.iter().map(|(s, n)| (s.as_str(), n.as_str())).collect();
    let (sums_path, sig_path) = builder::release::sign_sums(out, &signer, &lines).map_err(|e| e.to_string())?;
    files.extend([sums_path, sig_path]);
    if let Some(parent) = done.parent() {
        fs::create_dir_all(parent).map_err(|e| format!("create {}: {e}", parent.display()))?;
    }
    fs::rename(out, done).map_err(|e| format!("move {} to {}: {e}", out.display(), done.display()))?;
    let files = files.iter().filter_map(|f| f.file_name()).map(|n| done.join(n)).collect();
    Ok((files, signer))
}

/// `cargo xtask dist` twice gives the same bytes: everything after the compiler is done again
/// (the stubs compressed, the man pages and completions, the archives, the packages, the signed
/// sums) into `target/dist-again` and compared with the first, file by file. The compiler's
/// part is not run twice: with the same sources cargo would only say the programs are fresh.
pub fn check_reproducible(first: &[PathBuf]) -> Result {
    let again_dir = Path::new("target/dist-again");
    let work = std::path::absolute(WORK).map_err(|e| e.to_string())?;
    for triple in TARGETS {
        let embedded = work.join("stubs").join(format!("{triple}.zst"));
        let stub = fs::read(Path::new("target/stubs").join(triple).join(crate::stub_name(triple)))
            .map_err(|e| format!("read the {triple} stub: {e}"))?;
        let again = compress_checked(&stub).map_err(|e| format!("compress the {triple} stub: {e}"))?;
        if fs::read(&embedded).map_err(|e| format!("read {}: {e}", embedded.display()))? != again {
            return Err(format!("dist is not reproducible: the {triple} stub compresses to other bytes"));
        }
    }
    let (again, _) = pack(again_dir, None, &work)?;
    let names = |files: &[PathBuf]| -> Vec<String> {
        files.iter().filter_map(|f| f.file_name().map(|n| n.to_string_lossy().into_owned())).collect()
    };
    if names(first) != names(&again) {
        return Err(format!("dist made {:?} once and {:?} the second time", names(first), names(&again)));
    }
    for (a, b) in first.iter().zip(&again) {
        if fs::read(a).map_err(|e| e.to_string())? != fs::read(b).map_err(|e| e.to_string())? {
            return Err(format!("dist is not reproducible: {} and {} differ", a.display(), b.display()));
        }
    }
    eprintln!("xtask: dist is reproducible: {} files byte-identical in two runs", first.len());
    let _ = fs::remove_dir_all(again_dir);
    Ok(())
}

/// Empties `out` for a new dist: refuses a directory with files that are not an earlier dist's
/// (one with SHA256SUMS, or only files a dist writes: what an earlier release of this task left
/// when it was stopped before the sums), so that `--out-dir` never deletes anything else.
fn empty_out_dir(out: &Path) -> Result {
    let Ok(entries) = fs::read_dir(out) else { return Ok(()) };
    let names: Vec<String> = entries.flatten().map(|e| e.file_name().to_string_lossy().into_owned()).collect();
    let a_dist_file = |n: &String| n.starts_with("go-offline-builder") || n.starts_with(builder::release::SUMS);
    if !out.join(builder::release::SUMS).exists() && !names.iter().all(a_dist_file) {
        return Err(format!(
            "{} is not empty and holds no earlier dist (no SHA256SUMS): choose an empty or new --out-dir",
            out.display()
        ));
    }
    fs::remove_dir_all(out).map_err(|e| format!("empty {}: {e}", out.display()))
}

/// Where cargo puts the builder for `triple`.
pub fn builder_path(triple: &str) -> PathBuf {
    crate::cargo_target_dir().join(triple).join("release/go-offline-builder")
}

/// cargo-deb, installed when missing; returns it.
pub fn cargo_deb() -> Result<PathBuf> {
    crate::fuzz::install_tool("cargo-deb", CARGO_DEB_VERSION)
}

/// Builds the release stubs and writes each, zstd-compressed, into `dir` with the `stubs.tsv`
/// index builder/build.rs reads; returns (triple, length, compressed length) of each.
fn embed_stubs(dir: &Path, version: &str, commit: &str) -> Result<Vec<(String, u64, u64)>> {
    fs::create_dir_all(dir).map_err(|e| format!("create {}: {e}", dir.display()))?;
    let mut index = String::new();
    let mut made = Vec::new();
    for (triple, stub) in TARGETS.iter().zip(build_stubs(TARGETS, &[], None)?) {
        let bytes = fs::read(&stub).map_err(|e| format!("read {}: {e}", stub.display()))?;
        let compressed = compress_checked(&bytes).map_err(|e| format!("compress {}: {e}", stub.display()))?;
        let file = format!("{triple}.zst");
        write_if_changed(&dir.join(&file), &compressed)?;
        let sha256 = hex::encode(Sha256::digest(&bytes));
        index.push_str(&format!("{triple}\t{}\t{sha256}\t{version}\t{commit}\t{file}\n", bytes.len()));
        made.push((triple.to_string(), bytes.len() as u64, compressed.len() as u64));
    }
    write_if_changed(&dir.join("stubs.tsv"), index.as_bytes())?;
    // Stubs of targets no longer built.
    let wanted: Vec<String> = TARGETS.iter().map(|t| format!("{t}.zst")).chain(["stubs.tsv".into()]).collect();
    for entry in fs::read_dir(dir).map_err(|e| e.to_string())? {
        let entry = entry.map_err(|e| e.to_string())?;
        if !wanted.iter().any(|w| entry.file_name() == w.as_str()) {
            fs::remove_file(entry.path()).map_err(|e| format!("remove {}: {e}", entry.path().display()))?;
        }
    }
    Ok(made)
}

/// Writes `bytes` to `path` unless it holds them already (its time then stays as it was).
fn write_if_changed(path: &Path, bytes: &[u8]) -> Result {
    if fs::read(path).is_ok_and(|old| old == bytes) {
        return Ok(());
    }
    fs::write(path, bytes).map_err(|e| format!("write {}: {e}", path.display()))
}

/// One zstd frame with its content checksum: a damaged byte fails the decoding itself, before the
/// builder's own length and sha256 checks.
fn compress_checked(bytes: &[u8]) -> std::io::Result<Vec<u8>> {
    let mut c = zstd::bulk::Compressor::new(STUB_LEVEL)?;
    c.set_parameter(zstd::stream::raw::CParameter::ChecksumFlag(true))?;
    c.compress(bytes)
}

/// Man pages (`man/`: the builder, each of its subcommands, the installer) and the builder's
/// completions for bash, zsh and fish (`completions/`), from the programs' clap definitions.
fn docs(dir: &Path) -> Result {
    use clap_complete::Shell;
    let man = dir.join("man");
    let completions = dir.join("completions");
    for d in [&man, &completions] {
        fs::create_dir_all(d).map_err(|e| format!("create {}: {e}", d.display()))?;
    }
    let mut builder_cmd = builder::cli::Cli::command();
    clap_mangen::generate_to(builder_cmd.clone(), &man).map_err(|e| format!("man pages: {e}"))?;
    clap_mangen::generate_to(stub::cli::Cli::command(), &man).map_err(|e| format!("man pages: {e}"))?;
    for shell in [Shell::Bash, Shell::Zsh, Shell::Fish] {
        clap_complete::generate_to(shell, &mut builder_cmd, "go-offline-builder", &completions)
            .map_err(|e| format!("{shell} completions: {e}"))?;
    }
    Ok(())
}

/// One file of an archive: its path under the top directory, mode and bytes.
struct Member {
    path: String,
    mode: u32,
    data: Vec<u8>,
}

/// Writes `go-offline-builder-VERSION-ARCH-linux.tar.gz` into `out`: one top directory of that
/// name, entries sorted, owner root, every time `epoch`.
fn archive(out: &Path, triple: &str, arch: &str, version: &str, epoch: u64, doc: &Path) -> Result<PathBuf> {
    let top = format!("go-offline-builder-{version}-{arch}-linux");
    let read = |p: &Path| fs::read(p).map_err(|e| format!("read {}: {e}", p.display()));
    let mut members = vec![
        Member { path: "go-offline-builder".into(), mode: 0o755, data: read(&builder_path(triple))? },
        Member { path: "README.md".into(), mode: 0o644, data: read(Path::new("README.md"))? },
        Member { path: "LICENSE-MIT".into(), mode: 0o644, data: read(Path::new("LICENSE-MIT"))? },
        Member { path: "LICENSE-APACHE".into(), mode: 0o644, data: read(Path::new("LICENSE-APACHE"))? },
    ];
    for sub in ["man", "completions"] {
        for entry in fs::read_dir(doc.join(sub)).map_err(|e| e.to_string())? {
            let p = entry.map_err(|e| e.to_string())?.path();
            let name = p.file_name().and_then(|n| n.to_str()).ok_or("doc file names are UTF-8")?;
            let path = if sub == "man" { format!("man/man1/{name}") } else { format!("completions/{name}") };
            members.push(Member { path, mode: 0o644, data: read(&p)? });
        }
    }
    members.sort_by(|a, b| a.path.cmp(&b.path));

    let path = out.join(format!("{top}.tar.gz"));
    let file = fs::File::create(&path).map_err(|e| format!("create {}: {e}", path.display()))?;
    let gz = flate2::GzBuilder::new().mtime(u32::try_from(epoch).unwrap_or(0)).write(file, flate2::Compression::best());
    let mut tar = tar::Builder::new(gz);
    let mut dirs = std::collections::BTreeSet::new();
    for m in &members {
        // Each directory once, before its first file (the members are sorted).
        let mut parent = Path::new(&m.path).parent();
        let mut missing = Vec::new();
        while let Some(d) = parent.filter(|d| !d.as_os_str().is_empty()) {
            if dirs.insert(d.to_path_buf()) {
                missing.push(d.to_path_buf());
            }
            parent = d.parent();
        }
        if dirs.insert(PathBuf::new()) {
            missing.push(PathBuf::new());
        }
        for d in missing.iter().rev() {
            append(&mut tar, &Path::new(&top).join(d), tar::EntryType::Directory, 0o755, epoch, &[])?;
        }
        append(&mut tar, &Path::new(&top).join(&m.path), tar::EntryType::Regular, m.mode, epoch, &m.data)?;
    }
    let gz = tar.into_inner().map_err(|e| e.to_string())?;
    gz.finish().and_then(|mut f| f.flush()).map_err(|e| format!("write {}: {e}", path.display()))?;
    Ok(path)
}

fn append<W: Write>(
    tar: &mut tar::Builder<W>,
    path: &Path,
    kind: tar::EntryType,
    mode: u32,
    mtime: u64,
    data: &[u8],
) -> Result {
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(kind);
    h.set_mode(mode);
    h.set_mtime(mtime);
    h.set_uid(0);
    h.set_gid(0);
    h.set_username("root").map_err(|e| e.to_string())?;
    h.set_groupname("root").map_err(|e| e.to_string())?;
    h.set_size(data.len() as u64);
    tar.append_data(&mut h, path, data).map_err(|e| format!("tar {}: {e}", path.display()))
}

/// `SOURCE_DATE_EPOCH`, else the time of the last commit, else 0.
fn source_date_epoch() -> Result<u64> {
    if let Ok(v) = std::env::var("SOURCE_DATE_EPOCH") {
        return v.trim().parse().map_err(|_| format!("SOURCE_DATE_EPOCH='{v}' is not a number of seconds"));
    }
    let out = Command::new("git").args(["log", "-1", "--format=%ct"]).output();
    Ok(out.ok().and_then(|o| String::from_utf8_lossy(&o.stdout).trim().parse().ok()).unwrap_or(0))
}

/// The commit the stubs are built from: `git rev-parse --short=12 HEAD`, `-dirty` when tracked
/// files changed, `unknown` outside a git checkout.
fn commit() -> String {
    let git = |args: &[&str]| {
        Command::new("git")
            .args(args)
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
    };
    match git(&["rev-parse", "--short=12", "HEAD"]) {
        Some(c) if !c.is_empty() => {
            let dirty = git(&["status", "--porcelain", "--untracked-files=no"]).is_some_and(|s| !s.is_empty());
            if dirty {
                format!("{c}-dirty")
            } else {
                c
            }
        }
        _ => "unknown".into(),
    }
}

/// The signer of SHA256SUMS: the one `key` names, or this checkout's own key
/// `target/dist-keys/dist.key` (made on first use; its public key is `dist.pub` beside it).
fn signer(key: Option<&str>) -> Result<builder::signer::Signer> {
    use builder::signer::{self, SignerSpec};
    let spec = match key {
        Some(k) => SignerSpec::parse(k).map_err(|e| e.to_string())?,
        None => {
            let base = Path::new("target/dist-keys/dist");
            if !base.with_extension("key").exists() {
                builder::keygen(base, false).map_err(|e| e.to_string())?;
            }
            SignerSpec::File(base.with_extension("key"))
        }
    };
    signer::open(&spec, None).map_err(|e| e.to_string())
}

fn sha256_file(p: &Path) -> Result<String> {
    Ok(hex::encode(Sha256::digest(fs::read(p).map_err(|e| format!("read {}: {e}", p.display()))?)))
}

fn size(p: &Path) -> u64 {
    fs::metadata(p).map(|m| m.len()).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use std::fs;

    /// What `empty_out_dir` empties (an earlier dist, whole or stopped before its sums) and what
    /// it refuses (anything else); a refused directory keeps every file.
    #[test]
    fn only_an_earlier_dist_is_emptied() {
        let root = std::env::temp_dir().join(format!("xtask-dist-test.{}", std::process::id()));
        let cases: &[(&str, &[&str], bool)] = &[
            ("missing", &[], true),
            ("empty", &[], true),
            ("whole dist", &["go-offline-builder-0.1.0-x86_64-linux.tar.gz", "SHA256SUMS", "SHA256SUMS.sig"], true),
            ("stopped before the sums", &["go-offline-builder_0.1.0-1_amd64.deb"], true),
            ("a dist and a file of the user's", &["SHA256SUMS", "notes.txt"], true),
            ("a file of the user's", &["notes.txt"], false),
            ("a dist's file and the user's, no sums", &["go-offline-builder_0.1.0-1_amd64.deb", "notes.txt"], false),
        ];
        for (name, files, emptied) in cases {
            let dir = root.join(name);
            if *name != "missing" {
                fs::create_dir_all(&dir).unwrap();
            }
            for f in *files {
                fs::write(dir.join(f), b"x").unwrap();
            }
            let result = super::empty_out_dir(&dir);
            assert_eq!(result.is_ok(), *emptied, "{name}: {result:?}");
            if *emptied {
                assert!(!dir.exists(), "{name}: not emptied");
            } else {
                assert_eq!(fs::read_dir(&dir).unwrap().count(), files.len(), "{name}: a file went");
            }
        }
        fs::remove_dir_all(&root).unwrap();
    }
}
