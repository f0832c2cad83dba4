//! The codec: how a tree becomes the payload, and every other zstd the builder writes or reads.
//!
//! `pack` writes the tree as one tar stream (fixed owners, one mtime, like files together:
//! `payload_order`; executables through their `format::filter`), cuts it at entry boundaries
//! into `Compression::frames` parts that take about as long to unpack (`cut_points`), and
//! compresses each as an independent zstd frame (`frame_encoder`); it returns the frames and
//! what the manifest says of them. Delta patches (`compress_patch`) and
//! the stubs embedded in a release builder (`decompress_bounded`) go through here too.
//!
//! **Invariant: this is the only module of the builder that names the codec**: its levels, window,
//! frames and the zstd crate. It knows the tree ([`crate::source`]) and the manifest's payload
//! types, and no command. **Invariant: the output depends only on the tree, the mtime and the
//! level and frame count**, never on the number of threads (zstd's multi-threaded output is the
//! same for any count).

use std::io::{self, Write};

use format::{
    filter::{self, Filter},
    manifest::{self, Entry, Filtered, Frame, Payload},
};

use crate::{
    error::BuildError,
    source::{self, Node, Tree},
};

/// Default zstd level: the strongest level that does not need `--ultra` memory on the decoder.
pub const DEFAULT_LEVEL: i32 = 19;
/// Default number of payload frames: two, decoded at once on two cores in the memory one
/// 128 MiB-window frame needs (see [`window_log`] and docs/bench.md).
pub const DEFAULT_FRAMES: u32 = 2;
/// The match finder's hash and chain table sizes (log2 of entries) at [`DEFAULT_LEVEL`] and
/// above: level 22's, which level 19 makes 2^22 and 2^24.
const STRONG_HASH_LOG: u32 = 25;
const STRONG_CHAIN_LOG: u32 = 27;
/// The level a delta's full installer is estimated at when its size is not given (`--full`):
/// fast, and larger than the real one, so a delta is never kept for being smaller than a guess.
pub const ESTIMATE_LEVEL: i32 = 3;
/// zstd window log (`--long=27`): 128 MiB, recorded in the manifest and capped by the decoder.
pub const WINDOW_LOG: u32 = 27;

/// The window of a payload of `frames` frames: 128 MiB for one, 64 MiB for more, so that two
/// frames decoded at once need no more memory than one (the installer runs as many decoders as
/// fit in 128 MiB of windows). Two 64 MiB-window frames cost about 0.6% of size against one
/// 128 MiB frame, and halve the time to unpack on two cores.
pub fn window_log(frames: u32) -> u32 {
    if frames > 1 {
        WINDOW_LOG - 1
    } else {
        WINDOW_LOG
    }
}

/// How to compress a payload.
#[derive(Debug, Clone, Copy)]
pub struct Compression {
    /// zstd level (1..=22).
    pub level: i32,
    /// Worker threads for zstd (0: all cores).
    pub threads: u32,
    /// Independent zstd frames (1..=256).
    pub frames: u32,
}

/// Packs the tree into a tar stream cut, at entry boundaries, into `opts.frames` parts of about
/// the same size, each compressed as its own zstd frame (content size in its header, so a decoder
/// never allocates more window than the frame needs); returns the frames back to back, what the
/// manifest says of them (codec, window, frame table) and the manifest entries in payload order.
///
/// The tar is written twice and never kept: once to count where each entry ends (the frames are
/// cut, and each encoder told its exact input size, before anything is compressed), then through
/// the encoders. Peak memory is the tree and the compressed payload, not also the tar beside them.
pub(crate) fn pack(tree: &Tree, mtime: u64, opts: Compression) -> Result<Packed, BuildError> {
    let terr = BuildError::Compress;
    let mut measure = tar::Builder::new(CountingWriter { inner: io::sink(), count: 0 });
    let mut entries = Vec::with_capacity(tree.nodes.len());
    let mut ends = Vec::with_capacity(tree.nodes.len());
    let nodes = payload_order(tree, filter_of);
    let filters: Vec<Option<Filter>> = nodes.iter().map(|(_, node)| filter_of(node)).collect();
    // Bytes of filtered files so far, at each entry's end: decoding them costs more.
    let mut filtered_ends = Vec::with_capacity(tree.nodes.len());
    let mut filtered_bytes = 0usize;
    for ((path, node), filter) in nodes.iter().zip(&filters) {
        append_node(&mut measure, path, node, *filter, mtime).map_err(terr)?;
        entries.push(entry_of(path, node));
        ends.push(measure.get_ref().count as usize);
        if let (Some(_), Node::File { data, .. }) = (filter, node) {
            filtered_bytes += data.len();
        }
        filtered_ends.push(filtered_bytes);
    }
    let tar_len = measure.into_inner().map_err(terr)?.count as usize;
    let frames = opts.frames.clamp(1, manifest::MAX_FRAMES as u32) as usize;
    let cuts = cut_points(&ends, &filtered_ends, tar_len, frames);
    let mut tar = tar::Builder::new(FrameWriter::new(&cuts, opts).map_err(terr)?);
    for (i, ((path, node), filter)) in nodes.iter().zip(&filters).enumerate() {
        tar.get_mut().before_entry(i).map_err(terr)?;
        append_node(&mut tar, path, node, *filter, mtime).map_err(terr)?;
    }
    // The end-of-archive blocks go into the last frame.
    let compressed = tar.into_inner().map_err(terr)?.finish().map_err(terr)?;
    let mut bytes = Vec::with_capacity(compressed.iter().map(Vec::len).sum());
    let mut frames = Vec::with_capacity(cuts.len());
    let (mut first_entry, mut start) = (0usize, 0usize);
    for ((entry_end, end), frame) in cuts.into_iter().zip(compressed) {
        frames.push(Frame {
            len: frame.len() as u64,
            sha256: source::sha256_hex(&frame),
            uncompressed_len: (end - start) as u64,
            entries: (entry_end - first_entry) as u64,
        });
        bytes.extend_from_slice(&frame);
        (first_entry, start) = (entry_end, end);
    }
    let payload = Payload {
        compression: "zstd".into(),
        len: bytes.len() as u64,
        sha256: source::sha256_hex(&bytes),
        uncompressed_len: tar_len as u64,
        window_log: window_log(opts.frames),
        frames: Some(frames),
        filtered: filtered(&nodes, &filters),
    };
    Ok(Packed { bytes, payload, entries })
}

/// The filter a node's bytes are carried with: executables for x86 and arm64 (ELF or PE, by their
/// header) get theirs, every other file and node none.
fn filter_of(node: &Node) -> Option<Filter> {
    match node {
        Node::File { data, .. } => payload_filter(data),
        Node::Dir | Node::Symlink { .. } => None,
    }
}

/// The filter a file of these bytes is carried with, in a payload or a patch.
pub(crate) fn payload_filter(data: &[u8]) -> Option<Filter> {
    filter::detect(&data[..data.len().min(4096)])
}

/// The manifest's list of the files carried filtered, in payload order; `None` when none is.
fn filtered(nodes: &[(&str, &Node)], filters: &[Option<Filter>]) -> Option<Vec<Filtered>> {
    let list: Vec<Filtered> = nodes
        .iter()
        .zip(filters)
        .filter_map(|((path, _), f)| f.map(|filter| Filtered { path: path.to_string(), filter }))
        .collect();
    (!list.is_empty()).then_some(list)
}

/// Appends one node of a tree to `tar`: fixed owners, one mtime; a file's data through its
/// `filter` when it has one (the same length: the header's size is the file's).
fn append_node<W: Write>(
    tar: &mut tar::Builder<W>,
    path: &str,
    node: &Node,
    filter: Option<Filter>,
    mtime: u64,
) -> io::Result<()> {
    let mut header = tar::Header::new_gnu();
    header.set_mtime(mtime);
    header.set_uid(0);
    header.set_gid(0);
    match node {
        Node::File { mode, data } => {
            header.set_entry_type(tar::EntryType::Regular);
            header.set_mode(*mode);
            header.set_size(data.len() as u64);
            match filter {
                Some(filter) => tar.append_data(&mut header, path, filter::Encode::new(filter, &data[..])),
                None => tar.append_data(&mut header, path, &data[..]),
            }
        }
        Node::Dir => {
            header.set_entry_type(tar::EntryType::Directory);
            header.set_mode(0o755);
            header.set_size(0);
            tar.append_data(&mut header, path, io::empty())
        }
        Node::Symlink { target } => {
            header.set_entry_type(tar::EntryType::Symlink);
            header.set_mode(0o777);
            header.set_size(0);
            tar.append_link(&mut header, path, target)
        }
    }
}

/// The writer of [`pack`]'s second pass: the tar bytes of each frame go through an encoder of
/// their own, told the frame's size, and the frame is finished where the next one starts.
struct FrameWriter {
    opts: Compression,
    /// `(entries so far, tar offset)` where each frame ends ([`cut_points`]).
    cuts: Vec<(usize, usize)>,
    /// The frame being written: its index in `cuts`, and its encoder.
    current: usize,
    encoder: Option<zstd::stream::write::Encoder<'static, Vec<u8>>>,
    /// The frames finished so far.
    done: Vec<Vec<u8>>,
}

impl FrameWriter {
    fn new(cuts: &[(usize, usize)], opts: Compression) -> io::Result<FrameWriter> {
        let first_len = cuts.first().map_or(0, |&(_, end)| end);
        let encoder = frame_encoder(first_len as u64, opts)?;
        Ok(FrameWriter { opts, cuts: cuts.to_vec(), current: 0, encoder: Some(encoder), done: Vec::new() })
    }

    /// Called before entry `i` is written: when it is the first entry of the next frame, finishes
    /// this frame (before the next encoder is made: one encoder's memory at a time) and starts it.
    fn before_entry(&mut self, i: usize) -> io::Result<()> {
        let (entry_end, start) = self.cuts[self.current];
        if i < entry_end || self.current + 1 == self.cuts.len() {
            return Ok(());
        }
        if let Some(encoder) = self.encoder.take() {
            self.done.push(encoder.finish()?);
        }
        self.current += 1;
        let len = self.cuts[self.current].1 - start;
        self.encoder = Some(frame_encoder(len as u64, self.opts)?);
        Ok(())
    }

    /// Finishes the last frame; returns every frame, in order.
    fn finish(mut self) -> io::Result<Vec<Vec<u8>>> {
        if let Some(encoder) = self.encoder.take() {
            self.done.push(encoder.finish()?);
        }
        Ok(self.done)
    }
}

impl Write for FrameWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match &mut self.encoder {
            Some(encoder) => encoder.write(buf),
            None => Err(io::Error::other("a payload frame was written after it was finished (this is a bug)")),
        }
    }

    /// Does nothing: flushing an encoder would end its block early, and the payload would then
    /// depend on when the tar writer flushed. A frame is complete when it is finished.
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// The manifest entry of one node of a tree.
pub(crate) fn entry_of(path: &str, node: &Node) -> Entry {
    match node {
        Node::File { mode, data } => Entry::file(path.into(), *mode, data.len() as u64, source::sha256_hex(data)),
        Node::Dir => Entry::dir(path.into(), 0o755),
        Node::Symlink { target } => Entry::symlink(path.into(), target.clone()),
    }
}

/// The encoder of one zstd frame of `len` bytes: long-distance matching in the window of
/// [`window_log`], the content size in the header, no checksum, on `opts.threads` threads.
fn frame_encoder(len: u64, opts: Compression) -> io::Result<zstd::stream::write::Encoder<'static, Vec<u8>>> {
    let threads = match opts.threads {
        0 => std::thread::available_parallelism().map(|n| n.get() as u32).unwrap_or(1),
        n => n,
    };
    let mut encoder = zstd::stream::write::Encoder::new(Vec::new(), opts.level)?;
    encoder.long_distance_matching(true)?;
    encoder.window_log(window_log(opts.frames))?;
    if opts.level >= DEFAULT_LEVEL {
        // The match finder's tables of level 22 with the search of level 19: 1.7% smaller
        // (go1.27.3 linux/amd64), for encoder memory; the decoder does not see them.
        encoder.set_parameter(zstd::stream::raw::CParameter::HashLog(STRONG_HASH_LOG))?;
        encoder.set_parameter(zstd::stream::raw::CParameter::ChainLog(STRONG_CHAIN_LOG))?;
    }
    // No xxhash: the frame's sha256 and every file's are signed and checked.
    encoder.include_checksum(false)?;
    encoder.include_contentsize(true)?;
    encoder.set_pledged_src_size(Some(len))?;
    encoder.multithread(threads)?;
    Ok(encoder)
}

/// The tree's nodes in the order the payload carries them, which puts like next to like inside
/// zstd's window: every directory first, in path order (a parent before its children, as the
/// manifest requires); then the executables a filter applies to; then the other files and the
/// symlinks by file name extension (`.go` with `.go`, `.s` with `.s`, …); path order within
/// each group. Measured on go1.27.3 linux/amd64 at level 19 (docs/bench.md): 0.3 MB smaller
/// than path order.
fn payload_order(tree: &Tree, filters: impl Fn(&Node) -> Option<Filter>) -> Vec<(&str, &Node)> {
    let mut nodes: Vec<(&str, &Node)> = tree.nodes.iter().map(|(p, n)| (p.as_str(), n)).collect();
    // A stable sort: path order stays within each group.
    nodes.sort_by_cached_key(|&(path, node)| match node {
        Node::Dir => (0, ""),
        _ if filters(node).is_some() => (1, ""),
        _ => (2, extension(path)),
    });
    nodes
}

/// The extension of a path's file name (`go` of `src/fmt/print.go`), empty when it has none.
fn extension(path: &str) -> &str {
    let name = path.rsplit('/').next().unwrap_or(path);
    name.rsplit_once('.').map_or("", |(stem, ext)| if stem.is_empty() { "" } else { ext })
}

/// What unpacking one entry costs beyond its bytes (creating, writing, closing and chmod-ing a
/// file), in bytes of data that take as long: measured on tmpfs, where the installer is fastest.
const ENTRY_COST: usize = 4096;

/// What decoding a filtered byte costs beyond an unfiltered one, in tenths of a byte: the x86
/// filter decodes at about 1.8 GB/s. Measured on go1.27.3 linux/amd64 on tmpfs (per-thread
/// times from `perf record`): with 8 the frame of executables took 0.31 s and the other 0.42 s;
/// with 4, 0.36 s and 0.39 s.
const FILTERED_COST_TENTHS: usize = 4;

/// Where to cut a tar stream whose entries end at `ends` into `n` frames that take about as
/// long to unpack (bytes plus [`ENTRY_COST`] per entry, plus [`FILTERED_COST_TENTHS`] for each
/// byte of a filtered file, `filtered_ends` counting those up to each entry's end; one frame of
/// small files takes longer than one of as many bytes in a few binaries): `(entries so far, tar
/// offset)` for each frame, the last one holding the end-of-archive blocks of a stream of `len`
/// bytes.
fn cut_points(ends: &[usize], filtered_ends: &[usize], len: usize, n: usize) -> Vec<(usize, usize)> {
    let filtered = |i: usize| filtered_ends[i] * FILTERED_COST_TENTHS / 10;
    let cost = |i: usize| ends[i] + (i + 1) * ENTRY_COST + filtered(i); // of entries 0..=i
    let total = len + ends.len() * ENTRY_COST + filtered_ends.last().map_or(0, |&b| b * FILTERED_COST_TENTHS / 10);
    let mut cuts: Vec<(usize, usize)> = Vec::new();
    for k in 1..n {
        let target = total * k / n;
        // The entry end nearest the target.
        let at = (0..ends.len()).find(|&i| cost(i) >= target);
        let nearest = at.map(|i| if i > 0 && target - cost(i - 1) < cost(i) - target { i - 1 } else { i });
        if let Some(i) = nearest {
            if cuts.last().is_none_or(|&(c, _)| c < i + 1) && i + 1 < ends.len() {
                cuts.push((i + 1, ends[i]));
            }
        }
    }
    cuts.push((ends.len(), len));
    cuts
}

/// What [`pack`] made.
pub(crate) struct Packed {
    /// The payload region: the frames back to back.
    pub bytes: Vec<u8>,
    /// What the manifest says of the payload (its `payload` field).
    pub payload: Payload,
    /// The manifest entries, in payload order.
    pub entries: Vec<Entry>,
}

/// A writer that counts the bytes written through it: where each tar entry ends.
struct CountingWriter<W> {
    inner: W,
    count: u64,
}

impl<W: Write> Write for CountingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.count += n as u64;
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// The manifest region of `json` (see `format::manifest::encode_region`): at the payload's level,
/// at most [`manifest::REGION_LEVEL`] (stronger levels gain nothing on its hex digests).
pub(crate) fn manifest_region(json: &[u8], opts: Compression) -> Vec<u8> {
    manifest::encode_region(json, opts.level.clamp(1, manifest::REGION_LEVEL))
}

/// A zstd patch: `data` as one frame with `reference` as its prefix (level `level`,
/// long-distance matching, window 2^`window_log`, content size, no checksum), as
/// `zstd --patch-from` makes it; with a `filter`, of both encoded by it.
/// `format::delta::apply_patch` decodes it.
pub(crate) fn compress_patch(
    reference: &[u8],
    data: &[u8],
    filter: Option<Filter>,
    level: i32,
    window_log: u32,
) -> io::Result<Vec<u8>> {
    if let Some(f) = filter {
        let (mut reference, mut data) = (reference.to_vec(), data.to_vec());
        filter::encode(f, &mut reference);
        filter::encode(f, &mut data);
        return compress_patch(&reference, &data, None, level, window_log);
    }
    let mut encoder = zstd::stream::write::Encoder::with_ref_prefix(Vec::new(), level, reference)?;
    encoder.window_log(window_log)?;
    encoder.long_distance_matching(true)?;
    encoder.include_checksum(false)?;
    encoder.include_contentsize(true)?;
    encoder.set_pledged_src_size(Some(data.len() as u64))?;
    encoder.write_all(data)?;
    encoder.finish()
}

/// The window log a patch of `data` against `reference` needs, as `zstd --patch-from` chooses
/// it: one more than the log of the larger.
pub fn patch_window_log(reference: usize, data: usize) -> u32 {
    let larger = reference.max(data).max(1) as u64;
    (64 - larger.leading_zeros()).max(10)
}

/// Decodes one zstd frame of at most `capacity` bytes (an embedded stub): a frame that would
/// decode to more is refused, so damaged bytes cannot make us allocate more.
pub(crate) fn decompress_bounded(frame: &[u8], capacity: usize) -> io::Result<Vec<u8>> {
    zstd::bulk::decompress(frame, capacity)
}

/// One zstd frame of `data` at `level`, as `cargo xtask dist` compresses a stub to embed.
#[cfg(test)]
pub(crate) fn compress_whole(data: &[u8], level: i32) -> io::Result<Vec<u8>> {
    zstd::bulk::compress(data, level)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_as_zstd_patch_from_chooses_them() {
        // (reference, data, window log)
        let cases = [(0, 0, 10), (1000, 10, 10), (28 << 20, 27 << 20, 25), (1 << 26, 10, 27), (100 << 20, 1, 27)];
        for (r, d, want) in cases {
            assert_eq!(patch_window_log(r, d), want, "{r} {d}");
        }
        assert_eq!(patch_window_log(1 << 27, 1), 28, "over the cap: carried whole");
    }

    #[test]
    fn frames_cut_at_entry_ends_by_cost() {
        let k = ENTRY_COST;
        // (entry ends, stream length, frames, expected cuts)
        type Case<'a> = (&'a [usize], usize, usize, &'a [(usize, usize)]);
        let cases: &[Case] = &[
            (&[100, 200], 1024, 1, &[(2, 1024)]),
            // Two equal entries: the cut falls after the first.
            (&[10 * k, 20 * k], 20 * k + 1024, 2, &[(1, 10 * k), (2, 20 * k + 1024)]),
            // Twenty small entries then one big one of as many bytes: the small ones weigh more,
            // so the first frame ends before the big entry's bytes are half of the stream.
            (
                &(1..=20).map(|i| i * 512).chain([20 * 512 + 30 * k]).collect::<Vec<_>>(),
                20 * 512 + 30 * k + 1024,
                2,
                &[(20, 20 * 512), (21, 20 * 512 + 30 * k + 1024)],
            ),
            // More frames than entries: one frame per entry, never an empty one.
            (&[512, 1024], 2048, 8, &[(1, 512), (2, 2048)]),
        ];
        for (ends, len, n, want) in cases {
            assert_eq!(cut_points(ends, &vec![0; ends.len()], *len, *n), *want, "ends {ends:?}, {n} frames");
        }
        // Two large executables, then twenty small files: filtered, the executables weigh more,
        // and the first frame takes three small files with them instead of five.
        let ends: Vec<usize> = [10 * k, 20 * k].into_iter().chain((1..=20).map(|i| (20 + i) * k)).collect();
        let filtered: Vec<usize> = ends.iter().map(|&e| e.min(20 * k)).collect();
        let plain = vec![0; ends.len()];
        assert_eq!(cut_points(&ends, &plain, 40 * k, 2), [(7, 25 * k), (22, 40 * k)]);
        assert_eq!(cut_points(&ends, &filtered, 40 * k, 2), [(5, 23 * k), (22, 40 * k)]);
    }
}
