//! What this crate asks of the operating system: one call, a positioned read. Everything else
//! OS-specific lives in the installer's `os` layer; this crate stays below it and is shared
//! with the builder.

use std::{fs::File, io};

/// Reads into `buf` from `offset` of `file` without moving its file offset (so threads can share
/// one `File`).
pub(crate) fn read_at(file: &File, buf: &mut [u8], offset: u64) -> io::Result<usize> {
    #[cfg(unix)]
    return std::os::unix::fs::FileExt::read_at(file, buf, offset);
    #[cfg(windows)]
    return std::os::windows::fs::FileExt::seek_read(file, buf, offset);
}
