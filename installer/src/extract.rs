//! Streams a verified payload into a fresh staging directory.
//!
//! The payload is read from the installer file region by region (never whole in memory), hashed
//! again as it is read, decompressed with a window no larger than the signed one, and stopped at
//! the signed uncompressed length. It is made of independent zstd frames of whole tar entries
//! (listed in the manifest), extracted by one thread per core at once. Each tar entry must be exactly the next entry of the manifest:
//! same path, same type, same size, and for files the same sha256 once written. Only files,
//! directories and symlinks exist; modes come from the manifest, never from the tar header. The
//! tar crate is used only to split the stream into headers and data; its `unpack` is never called,
//! so its own path guards are not load-bearing: the manifest allow-list is.
//!
//! **Invariant:** nothing is written outside `staging`, and every parent of a written path is a
//! directory this function created.

use std::{
    fs::{self, File, OpenOptions},
    io::{self, Read, Write},
    os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt},
    path::Path,
    sync::{
        atomic::{AtomicUsize, Ordering},
        Mutex,
    },
};

use sha2::{Digest, Sha256};

use crate::{
    error::Error,
    manifest::{Entry, EntryType, Frame, MAX_WINDOW_LOG},
    verify::{RegionReader, VerifiedInstaller},
};

/// What extraction did.
#[derive(Debug, Clone, Copy, Default)]
pub struct ExtractStats {
    pub entries: u64,
    pub bytes: u64,
}

/// Reports progress in bytes of file data written (called from several threads).
pub type Progress<'a> = &'a (dyn Fn(u64) + Sync);

/// Extracts the payload of `installer` (read from `file`) into `staging`, an empty directory
/// private to this process.
pub fn extract(
    installer: &VerifiedInstaller,
    file: &File,
    staging: &Path,
    progress: Progress,
) -> Result<ExtractStats, Error> {
    walk(installer, file, Some(staging), progress)
}

/// Runs every check of [`extract`] (each entry against the manifest, each file's size and
/// sha256, the exact decompressed length) and writes nothing: `--check` and `verify`.
pub fn check_payload(installer: &VerifiedInstaller, file: &File, progress: Progress) -> Result<ExtractStats, Error> {
    walk(installer, file, None, progress)
}

/// One frame of the payload: its bytes in the file and the manifest entries it holds.
struct Job<'a> {
    index: usize,
    range: std::ops::Range<u64>,
    frame: Frame,
    files: &'a [Entry],
}

/// The one loop behind [`extract`] and [`check_payload`]; `staging` is `None` to write nothing.
///
/// Every directory is made first, from the manifest (parents before children); then the frames
/// are extracted by up to one thread per core, each frame on its own. An error stops the threads
/// of later frames at their next entry; the error of the earliest failing frame is reported.
fn walk(
    installer: &VerifiedInstaller,
    file: &File,
    staging: Option<&Path>,
    progress: Progress,
) -> Result<ExtractStats, Error> {
    let manifest = installer.manifest();
    if let Some(staging) = staging {
        for e in manifest.files.iter().filter(|e| e.kind == EntryType::Dir) {
            let target = staging.join(&e.path);
            fs::DirBuilder::new()
                .mode(0o700)
                .create(&target)
                .map_err(|err| Error::io("create directory", &target, err))?;
        }
    }
    let mut jobs = Vec::new();
    let (mut offset, mut first) = (installer.layout().payload.start, 0usize);
    for (index, frame) in manifest.frames().into_iter().enumerate() {
        // The manifest validated that frames add up to the payload and to the entries.
        let count = usize::try_from(frame.entries).unwrap_or(usize::MAX).min(manifest.files.len() - first);
        let range = offset..offset.saturating_add(frame.len);
        offset = range.end;
        jobs.push(Job { index, range, files: &manifest.files[first..first + count], frame });
        first += count;
    }
    // One thread per core and frame, as many as fit in the memory of one decoder with the largest
    // window (2^27): each decoder holds up to its window.
    let fit = 1usize << MAX_WINDOW_LOG.saturating_sub(manifest.payload.window_log).min(8);
    let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
    let threads = cores.min(fit).min(jobs.len()).max(1);
    let next = AtomicUsize::new(0);
    // The lowest index of a frame that failed: frames after it stop at their next entry, frames
    // before it go on, so the error reported (the earliest frame's) does not depend on timing.
    let failed = AtomicUsize::new(usize::MAX);
    let outcome: Mutex<(ExtractStats, Option<(usize, Error)>)> = Mutex::new((ExtractStats::default(), None));
    let work = || {
        let mut buf = vec![0u8; 256 << 10];
        loop {
            let i = next.fetch_add(1, Ordering::Relaxed);
            let Some(job) = jobs.get(i) else { break };
            if failed.load(Ordering::Relaxed) < job.index {
                break;
            }
            let result = extract_frame(installer, file, job, jobs.len(), staging, &mut buf, progress, &failed);
            let mut o = outcome.lock().unwrap_or_else(|p| p.into_inner());
            match result {
                Ok(st) => {
                    o.0.entries += st.entries;
                    o.0.bytes += st.bytes;
                }
                Err(e) => {
                    failed.fetch_min(job.index, Ordering::Relaxed);
                    if o.1.as_ref().is_none_or(|(j, _)| job.index < *j) {
                        o.1 = Some((job.index, e));
                    }
                }
            }
        }
    };
    if threads == 1 {
        work();
    } else {
        std::thread::scope(|s| {
            for _ in 0..threads {
                s.spawn(work);
            }
        });
    }
    let (stats, error) = outcome.into_inner().unwrap_or_else(|p| p.into_inner());
    if let Some((_, e)) = error {
        return Err(e);
    }
    let Some(staging) = staging else { return Ok(stats) };
    // Directories last, deepest first, so a read-only directory never blocks writing into it.
    for e in manifest.files.iter().rev().filter(|e| e.kind == EntryType::Dir) {
        let p = staging.join(&e.path);
        fs::set_permissions(&p, fs::Permissions::from_mode(e.mode)).map_err(|err| Error::io("set mode of", &p, err))?;
    }
    fs::set_permissions(staging, fs::Permissions::from_mode(0o755))
        .map_err(|e| Error::io("set mode of", staging, e))?;
    Ok(stats)
}

/// Extracts (or only checks) one frame: hashes its compressed bytes, decompresses it with the
/// signed window and stops one byte past its signed length, and matches its tar entries one by
/// one with its part of the manifest.
#[allow(clippy::too_many_arguments)]
fn extract_frame(
    installer: &VerifiedInstaller,
    file: &File,
    job: &Job,
    frames: usize,
    staging: Option<&Path>,
    buf: &mut [u8],
    progress: Progress,
    failed: &AtomicUsize,
) -> Result<ExtractStats, Error> {
    let manifest = installer.manifest();
    let path = installer.path();
    let read_err = |e: io::Error| match e.kind() {
        io::ErrorKind::InvalidData | io::ErrorKind::UnexpectedEof | io::ErrorKind::Other => {
            Error::PayloadMismatch(format!("payload stream is corrupt: {e}"))
        }
        _ => Error::ReadSelf { path: path.into(), source: e },
    };
    let frame = &job.frame;
    let compressed = HashingReader::new(RegionReader::new(file, job.range.clone()));
    let mut decoder = zstd::stream::read::Decoder::new(compressed).map_err(read_err)?;
    decoder.window_log_max(manifest.payload.window_log).map_err(read_err)?;
    // One byte beyond the signed length lets us tell "exactly that long" from "longer" (saturating:
    // a signed length of u64::MAX is legal, and nothing is longer).
    let limited = CountingReader { inner: decoder.take(frame.uncompressed_len.saturating_add(1)), count: 0 };
    let mut archive = tar::Archive::new(limited);
    let mut stats = ExtractStats::default();
    let mut expected = job.files.iter();
    {
        let entries = archive.entries().map_err(read_err)?;
        for entry in entries {
            if failed.load(Ordering::Relaxed) < job.index {
                return Ok(stats); // an earlier frame failed; its error is the one reported
            }
            let mut entry = entry.map_err(read_err)?;
            let Some(want) = expected.next() else {
                return Err(Error::PayloadMismatch(format!(
                    "entry '{}' is not in the manifest{}",
                    String::from_utf8_lossy(&entry.path_bytes()).escape_debug(),
                    if frames > 1 { format!(" (in frame {})", job.index) } else { String::new() }
                )));
            };
            check_header(&entry, want)?;
            let Some(staging) = staging else {
                if want.kind == EntryType::File {
                    stats.bytes += check_file(&mut entry, want, buf, progress)?;
                }
                stats.entries += 1;
                continue;
            };
            let target = staging.join(&want.path);
            match want.kind {
                EntryType::Dir => {} // made before the frames, from the manifest
                EntryType::Symlink => {
                    let link = want.target.as_deref().unwrap_or_default();
                    std::os::unix::fs::symlink(link, &target).map_err(|e| Error::io("create symlink", &target, e))?;
                }
                EntryType::File => {
                    stats.bytes += write_file(&mut entry, &target, want, buf, progress)?;
                }
            }
            stats.entries += 1;
        }
    }
    if let Some(missing) = expected.next() {
        return Err(Error::PayloadMismatch(format!(
            "entry '{}' of the manifest is missing from the payload",
            missing.path
        )));
    }
    // Drain what follows the last entry: it must end exactly at the signed length.
    let mut limited = archive.into_inner();
    io::copy(&mut limited, &mut io::sink()).map_err(read_err)?;
    if limited.count != frame.uncompressed_len {
        return Err(Error::PayloadMismatch(format!(
            "payload{} decompresses to {}{} bytes, the manifest signs {}",
            if frames > 1 { format!(" frame {}", job.index) } else { String::new() },
            if limited.count > frame.uncompressed_len { "more than " } else { "" },
            limited.count.min(frame.uncompressed_len),
            frame.uncompressed_len
        )));
    }
    // The zstd stream must end here too, and the compressed bytes must hash as signed (the file
    // could have changed since `verify` read it).
    let mut compressed = limited.inner.into_inner().finish();
    io::copy(&mut compressed, &mut io::sink()).map_err(read_err)?;
    let found = compressed.into_inner().finish();
    if found != frame.sha256 {
        return Err(Error::DigestMismatch {
            region: if frames > 1 { format!("payload frame {}", job.index) } else { "payload".into() },
            expected: frame.sha256.clone(),
            found,
        });
    }
    Ok(stats)
}

/// The tar header must describe exactly the manifest entry.
fn check_header<R: Read>(entry: &tar::Entry<R>, want: &Entry) -> Result<(), Error> {
    let mismatch = |what: String| Error::PayloadMismatch(format!("entry '{}': {what}", want.path));
    let raw = entry.path_bytes();
    let mut name: &[u8] = &raw;
    let header = entry.header();
    let kind = header.entry_type();
    if kind.is_dir() {
        name = name.strip_suffix(b"/").unwrap_or(name);
    }
    if name != want.path.as_bytes() {
        return Err(Error::PayloadMismatch(format!(
            "found entry '{}' where the manifest lists '{}'",
            String::from_utf8_lossy(&raw).escape_debug(),
            want.path
        )));
    }
    let found = match kind {
        tar::EntryType::Regular => EntryType::File,
        tar::EntryType::Directory => EntryType::Dir,
        tar::EntryType::Symlink => EntryType::Symlink,
        other => return Err(mismatch(format!("type {other:?} is not allowed (only files, directories, symlinks)"))),
    };
    if found != want.kind {
        return Err(mismatch(format!("is a {found:?} in the payload but a {:?} in the manifest", want.kind)));
    }
    let size = header.size().map_err(|e| mismatch(format!("bad size field: {e}")))?;
    if size != want.size.unwrap_or(0) {
        return Err(mismatch(format!("size {size} differs from the signed {}", want.size.unwrap_or(0))));
    }
    if want.kind == EntryType::Symlink {
        let link = entry.link_name_bytes();
        if link.as_deref() != want.target.as_deref().map(str::as_bytes) {
            return Err(mismatch("symlink target differs from the manifest".into()));
        }
    }
    Ok(())
}

/// Writes one file, checking its size and digest, and sets its mode from the manifest.
fn write_file(
    data: &mut impl Read,
    target: &Path,
    want: &Entry,
    buf: &mut [u8],
    progress: Progress,
) -> Result<u64, Error> {
    let mut out = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .custom_flags(rustix::fs::OFlags::NOFOLLOW.bits() as i32)
        .open(target)
        .map_err(|e| Error::io("create", target, e))?;
    let written = copy_checked(data, Some((&mut out, target)), want, buf, progress)?;
    out.set_permissions(fs::Permissions::from_mode(want.mode)).map_err(|e| Error::io("set mode of", target, e))?;
    Ok(written)
}

/// Reads one file's data and checks its size and digest, writing nothing.
fn check_file(data: &mut impl Read, want: &Entry, buf: &mut [u8], progress: Progress) -> Result<u64, Error> {
    copy_checked(data, None, want, buf, progress)
}

/// Copies an entry's data to `out` (if any) while hashing it; checks size and sha256.
fn copy_checked(
    data: &mut impl Read,
    mut out: Option<(&mut File, &Path)>,
    want: &Entry,
    buf: &mut [u8],
    progress: Progress,
) -> Result<u64, Error> {
    let mut hasher = Sha256::new();
    let mut written = 0u64;
    loop {
        let n = data.read(buf).map_err(|e| Error::PayloadMismatch(format!("entry '{}': {e}", want.path)))?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
        if let Some((f, path)) = out.as_mut() {
            f.write_all(&buf[..n]).map_err(|e| Error::io("write", *path, e))?;
        }
        written += n as u64;
        progress(n as u64);
    }
    if Some(written) != want.size {
        return Err(Error::PayloadMismatch(format!(
            "entry '{}': {written} bytes, the manifest signs {:?}",
            want.path, want.size
        )));
    }
    let found = hex::encode(hasher.finalize());
    if Some(&found) != want.sha256.as_ref() {
        return Err(Error::DigestMismatch {
            region: format!("file '{}'", want.path),
            expected: want.sha256.clone().unwrap_or_default(),
            found,
        });
    }
    Ok(written)
}

/// Counts bytes read.
struct CountingReader<R> {
    inner: R,
    count: u64,
}

impl<R: Read> Read for CountingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.count += n as u64;
        Ok(n)
    }
}

/// Hashes what passes through.
struct HashingReader<R> {
    inner: R,
    hasher: Sha256,
}

impl<R: Read> HashingReader<R> {
    fn new(inner: R) -> Self {
        HashingReader { inner, hasher: Sha256::new() }
    }
    fn finish(self) -> String {
        hex::encode(self.hasher.finalize())
    }
}

impl<R: Read> Read for HashingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        Ok(n)
    }
}
