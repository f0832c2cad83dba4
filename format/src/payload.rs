//! Streams a verified payload, checking every byte, into a [`Sink`].
//!
//! The payload is read from the installer file region by region (never whole in memory), hashed
//! again as it is read, decompressed with a window no larger than the signed one, and stopped at
//! the signed uncompressed length. It is made of independent zstd frames of whole tar entries
//! (listed in the manifest), streamed by one thread per core at once. Each tar entry must be
//! exactly the next entry of the manifest: same path, same type, same size, and for files the
//! same sha256 once read (a file the manifest lists as filtered is decoded by its
//! [`crate::filter`] first, so the digest is of the bytes installed). Only files, directories and symlinks exist; modes come from the
//! manifest, never from the tar header. The tar crate is used only to split the stream into
//! headers and data; its `unpack` is never called, so its own path guards are not load-bearing:
//! the manifest allow-list is.
//!
//! This module writes nothing itself: the installer's sink creates the files (in its staging
//! directory, through its OS layer), [`check_payload`]'s sink drops them.

use std::{
    collections::HashMap,
    fs::File,
    io::{self, Read},
    sync::{
        atomic::{AtomicUsize, Ordering},
        Mutex,
    },
};

use sha2::{Digest, Sha256};

use crate::{
    filter::{self, Filter},
    manifest::{Entry, EntryType, Frame, MAX_WINDOW_LOG},
    verify::{RegionReader, VerifiedInstaller},
    Error,
};

/// What a walk over the payload saw.
#[derive(Debug, Clone, Copy, Default)]
pub struct PayloadStats {
    pub entries: u64,
    pub bytes: u64,
}

pub use crate::verify::Progress;

/// Where the checked entries go. Every call comes after the entry's header matched the signed
/// manifest; a file's data is handed over as it is read and hashed, and [`Sink::close_file`] is
/// called only once its size and sha256 matched.
pub trait Sink: Sync {
    type Error: From<Error> + Send;
    type File;
    /// Before any frame: one directory of the manifest (parents come before children).
    fn make_dir(&self, entry: &Entry) -> Result<(), Self::Error>;
    fn symlink(&self, entry: &Entry) -> Result<(), Self::Error>;
    fn create_file(&self, entry: &Entry) -> Result<Self::File, Self::Error>;
    fn write(&self, file: &mut Self::File, entry: &Entry, data: &[u8]) -> Result<(), Self::Error>;
    fn close_file(&self, file: Self::File, entry: &Entry) -> Result<(), Self::Error>;
    /// After every frame: the directories again, deepest first (to give them their modes).
    fn finish_dir(&self, entry: &Entry) -> Result<(), Self::Error>;
}

/// A sink that keeps nothing: every check of the walk, no write.
struct Discard;

impl Sink for Discard {
    type Error = Error;
    type File = ();
    fn make_dir(&self, _: &Entry) -> Result<(), Error> {
        Ok(())
    }
    fn symlink(&self, _: &Entry) -> Result<(), Error> {
        Ok(())
    }
    fn create_file(&self, _: &Entry) -> Result<(), Error> {
        Ok(())
    }
    fn write(&self, _: &mut (), _: &Entry, _: &[u8]) -> Result<(), Error> {
        Ok(())
    }
    fn close_file(&self, _: (), _: &Entry) -> Result<(), Error> {
        Ok(())
    }
    fn finish_dir(&self, _: &Entry) -> Result<(), Error> {
        Ok(())
    }
}

/// Runs every check of [`walk`] (each entry against the manifest, each file's size and sha256,
/// the exact decompressed length) and writes nothing: `--check` and `go-offline-builder verify`.
pub fn check_payload(installer: &VerifiedInstaller, file: &File, progress: Progress) -> Result<PayloadStats, Error> {
    walk(installer, file, &Discard, progress)
}

/// One frame of the payload: its bytes in the file and the manifest entries it holds.
struct Job<'a> {
    index: usize,
    range: std::ops::Range<u64>,
    frame: Frame,
    files: &'a [Entry],
}

/// Streams the payload of `installer` (read from `file`) into `sink`.
///
/// Every directory is made first, from the manifest (parents before children); then the frames
/// are streamed by up to one thread per core, each frame on its own. An error stops the threads
/// of later frames at their next entry; the error of the earliest failing frame is reported.
pub fn walk<S: Sink>(
    installer: &VerifiedInstaller,
    file: &File,
    sink: &S,
    progress: Progress,
) -> Result<PayloadStats, S::Error> {
    let manifest = installer.manifest();
    for e in manifest.files.iter().filter(|e| e.kind == EntryType::Dir) {
        sink.make_dir(e)?;
    }
    let jobs = jobs(installer);
    // One thread per core and frame, as many as fit in the memory of one decoder with the largest
    // window (2^27): each decoder holds up to its window.
    let fit = 1usize << MAX_WINDOW_LOG.saturating_sub(manifest.payload.window_log).min(8);
    let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
    let threads = cores.min(fit).min(jobs.len()).max(1);
    let next = AtomicUsize::new(0);
    // The lowest index of a frame that failed: frames after it stop at their next entry, frames
    // before it go on, so the error reported (the earliest frame's) does not depend on timing.
    let failed = AtomicUsize::new(usize::MAX);
    type Outcome<E> = (PayloadStats, Option<(usize, E)>);
    let outcome: Mutex<Outcome<S::Error>> = Mutex::new((PayloadStats::default(), None));
    let filters = manifest.filters();
    let work = || {
        let mut buf = vec![0u8; 256 << 10];
        loop {
            let i = next.fetch_add(1, Ordering::Relaxed);
            let Some(job) = jobs.get(i) else { break };
            if failed.load(Ordering::Relaxed) < job.index {
                break;
            }
            let ctx = FrameContext {
                installer,
                file,
                frames: jobs.len(),
                sink,
                progress,
                failed: &failed,
                filters: &filters,
            };
            let result = walk_frame(&ctx, job, &mut buf);
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
    // Directories last, deepest first, so a read-only directory never blocks writing into it.
    for e in manifest.files.iter().rev().filter(|e| e.kind == EntryType::Dir) {
        sink.finish_dir(e)?;
    }
    Ok(stats)
}

/// The frames of the payload with their byte ranges and their entries.
fn jobs(installer: &VerifiedInstaller) -> Vec<Job<'_>> {
    let manifest = installer.manifest();
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
    jobs
}

/// What every frame's walk shares.
struct FrameContext<'a, S> {
    installer: &'a VerifiedInstaller,
    file: &'a File,
    frames: usize,
    sink: &'a S,
    progress: Progress<'a>,
    failed: &'a AtomicUsize,
    /// The filter of each file carried filtered, by path.
    filters: &'a HashMap<&'a str, Filter>,
}

/// Walks one frame: hashes its compressed bytes, decompresses it with the signed window and
/// stops one byte past its signed length, and matches its tar entries one by one with its part
/// of the manifest.
fn walk_frame<S: Sink>(ctx: &FrameContext<S>, job: &Job, buf: &mut [u8]) -> Result<PayloadStats, S::Error> {
    let manifest = ctx.installer.manifest();
    let path = ctx.installer.path();
    let read_err = |e: io::Error| match e.kind() {
        io::ErrorKind::InvalidData | io::ErrorKind::UnexpectedEof | io::ErrorKind::Other => {
            Error::PayloadMismatch(format!("payload stream is corrupt: {e}"))
        }
        _ => Error::ReadSelf { path: path.into(), source: e },
    };
    let in_frame = || if ctx.frames > 1 { format!(" (in frame {})", job.index) } else { String::new() };
    let frame = &job.frame;
    let compressed = HashingReader::new(RegionReader::new(ctx.file, job.range.clone()));
    let mut decoder = zstd::stream::read::Decoder::new(compressed).map_err(read_err)?;
    decoder.window_log_max(manifest.payload.window_log).map_err(read_err)?;
    // One byte beyond the signed length lets us tell "exactly that long" from "longer" (saturating:
    // a signed length of u64::MAX is legal, and nothing is longer).
    let limited = CountingReader { inner: decoder.take(frame.uncompressed_len.saturating_add(1)), count: 0 };
    let mut archive = tar::Archive::new(limited);
    let mut stats = PayloadStats::default();
    let mut expected = job.files.iter();
    for entry in archive.entries().map_err(read_err)? {
        if ctx.failed.load(Ordering::Relaxed) < job.index {
            return Ok(stats); // an earlier frame failed; its error is the one reported
        }
        let mut entry = entry.map_err(read_err)?;
        let Some(want) = expected.next() else {
            return Err(Error::PayloadMismatch(format!(
                "entry '{}' is not in the manifest{}",
                String::from_utf8_lossy(&entry.path_bytes()).escape_debug(),
                in_frame()
            ))
            .into());
        };
        check_header(&entry, want)?;
        match want.kind {
            EntryType::Dir => {} // made before the frames, from the manifest
            EntryType::Symlink => ctx.sink.symlink(want)?,
            EntryType::File => {
                stats.bytes += match ctx.filters.get(want.path.as_str()) {
                    Some(&filter) => copy_checked(ctx, &mut filter::Decode::new(filter, &mut entry), want, buf)?,
                    None => copy_checked(ctx, &mut entry, want, buf)?,
                }
            }
        }
        stats.entries += 1;
    }
    if let Some(missing) = expected.next() {
        return Err(Error::PayloadMismatch(format!(
            "entry '{}' of the manifest is missing from the payload",
            missing.path
        ))
        .into());
    }
    // Drain what follows the last entry: it must end exactly at the signed length.
    let mut limited = archive.into_inner();
    io::copy(&mut limited, &mut io::sink()).map_err(read_err)?;
    if limited.count != frame.uncompressed_len {
        return Err(Error::PayloadMismatch(format!(
            "payload{} decompresses to {}{} bytes, the manifest signs {}",
            if ctx.frames > 1 { format!(" frame {}", job.index) } else { String::new() },
            if limited.count > frame.uncompressed_len { "more than " } else { "" },
            limited.count.min(frame.uncompressed_len),
            frame.uncompressed_len
        ))
        .into());
    }
    // The zstd stream must end here too, and the compressed bytes must hash as signed (the file
    // could have changed since `verify` read it).
    let mut compressed = limited.inner.into_inner().finish();
    io::copy(&mut compressed, &mut io::sink()).map_err(read_err)?;
    let found = compressed.into_inner().finish();
    if found != frame.sha256 {
        return Err(Error::DigestMismatch {
            region: if ctx.frames > 1 { format!("payload frame {}", job.index) } else { "payload".into() },
            expected: frame.sha256.clone(),
            found,
        }
        .into());
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

/// Hands one file's data (decoded, when it is carried filtered) to the sink while hashing it;
/// checks size and sha256 before the sink closes it.
fn copy_checked<S: Sink>(
    ctx: &FrameContext<S>,
    data: &mut impl Read,
    want: &Entry,
    buf: &mut [u8],
) -> Result<u64, S::Error> {
    let mut out = ctx.sink.create_file(want)?;
    let mut hasher = Sha256::new();
    let mut written = 0u64;
    loop {
        let n = data.read(buf).map_err(|e| Error::PayloadMismatch(format!("entry '{}': {e}", want.path)))?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
        ctx.sink.write(&mut out, want, &buf[..n])?;
        written += n as u64;
        (ctx.progress)(n as u64);
    }
    if Some(written) != want.size {
        return Err(Error::PayloadMismatch(format!(
            "entry '{}': {written} bytes, the manifest signs {:?}",
            want.path, want.size
        ))
        .into());
    }
    let found = hex::encode(hasher.finalize());
    if Some(&found) != want.sha256.as_ref() {
        return Err(Error::DigestMismatch {
            region: format!("file '{}'", want.path),
            expected: want.sha256.clone().unwrap_or_default(),
            found,
        }
        .into());
    }
    ctx.sink.close_file(out, want)?;
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
