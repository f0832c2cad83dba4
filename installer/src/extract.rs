//! Extraction: the payload walk of [`format::payload`] with a sink that writes into a fresh
//! staging directory, through the OS layer.
//!
//! Files are created `O_CREAT|O_EXCL|O_NOFOLLOW` (mode 0600 while written), get the manifest's
//! mode once their size and sha256 matched; directories are made 0700 before any file and get
//! their mode last, deepest first.
//!
//! **Invariant:** nothing is written outside `staging`, and every parent of a written path is a
//! directory this module created.

use std::{
    fs::File,
    io::Write,
    path::{Path, PathBuf},
};

use format::{
    manifest::Entry,
    payload::{self, PayloadStats, Progress, Sink},
    verify::VerifiedInstaller,
};

use crate::{error::Error, os};

/// Extracts the payload of `installer` (read from `file`) into `staging`, an empty directory
/// private to this process.
pub fn extract(
    installer: &VerifiedInstaller,
    file: &File,
    staging: &Path,
    progress: Progress,
) -> Result<PayloadStats, Error> {
    let stats = payload::walk(installer, file, &Staging { root: staging }, progress)?;
    os::set_mode(staging, 0o755).map_err(|e| Error::io("set mode of", staging, e))?;
    Ok(stats)
}

/// The staging directory as a [`Sink`].
struct Staging<'a> {
    root: &'a Path,
}

impl Staging<'_> {
    fn path(&self, e: &Entry) -> PathBuf {
        self.root.join(&e.path)
    }
}

impl Sink for Staging<'_> {
    type Error = Error;
    type File = File;

    fn make_dir(&self, e: &Entry) -> Result<(), Error> {
        let p = self.path(e);
        os::create_dir(&p, 0o700).map_err(|err| Error::io("create directory", &p, err))
    }

    fn symlink(&self, e: &Entry) -> Result<(), Error> {
        let p = self.path(e);
        os::symlink(e.target.as_deref().unwrap_or_default(), &p).map_err(|err| Error::io("create symlink", &p, err))
    }

    fn create_file(&self, e: &Entry) -> Result<File, Error> {
        let p = self.path(e);
        os::create_new_file(&p, 0o600).map_err(|err| Error::io("create", &p, err))
    }

    fn write(&self, file: &mut File, e: &Entry, data: &[u8]) -> Result<(), Error> {
        file.write_all(data).map_err(|err| Error::io("write", self.path(e), err))
    }

    fn close_file(&self, file: File, e: &Entry) -> Result<(), Error> {
        let p = self.path(e);
        os::set_file_mode(&file, e.mode).map_err(|err| Error::io("set mode of", &p, err))
    }

    fn finish_dir(&self, e: &Entry) -> Result<(), Error> {
        let p = self.path(e);
        os::set_mode(&p, e.mode).map_err(|err| Error::io("set mode of", &p, err))
    }
}
