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
    let stats = payload::walk(installer, file, &Staging { root: Some(staging) }, progress)?;
    os::set_mode(staging, 0o755).map_err(|e| Error::io("set mode of", staging, e))?;
    Ok(stats)
}

/// Every check of [`extract`], writing nothing (`--check`). The same as
/// [`payload::check_payload`]; this one shares the installer's copy of the walk, so the stub
/// carries one.
pub fn check(installer: &VerifiedInstaller, file: &File, progress: Progress) -> Result<PayloadStats, Error> {
    payload::walk(installer, file, &Staging { root: None }, progress)
}

/// The staging directory as a [`Sink`]; `None` writes nothing.
struct Staging<'a> {
    root: Option<&'a Path>,
}

impl Staging<'_> {
    fn path(&self, e: &Entry) -> Option<PathBuf> {
        self.root.map(|r| r.join(&e.path))
    }
}

impl Sink for Staging<'_> {
    type Error = Error;
    type File = Option<File>;

    fn make_dir(&self, e: &Entry) -> Result<(), Error> {
        let Some(p) = self.path(e) else { return Ok(()) };
        os::create_dir(&p, 0o700).map_err(|err| Error::io("create directory", &p, err))
    }

    fn symlink(&self, e: &Entry) -> Result<(), Error> {
        let Some(p) = self.path(e) else { return Ok(()) };
        os::symlink(e.target.as_deref().unwrap_or_default(), &p).map_err(|err| Error::io("create symlink", &p, err))
    }

    fn create_file(&self, e: &Entry) -> Result<Option<File>, Error> {
        let Some(p) = self.path(e) else { return Ok(None) };
        os::create_new_file(&p, 0o600).map(Some).map_err(|err| Error::io("create", &p, err))
    }

    fn write(&self, file: &mut Option<File>, e: &Entry, data: &[u8]) -> Result<(), Error> {
        let Some(f) = file else { return Ok(()) };
        f.write_all(data).map_err(|err| Error::io("write", self.path(e).unwrap_or_default(), err))
    }

    fn close_file(&self, file: Option<File>, e: &Entry) -> Result<(), Error> {
        let (Some(f), Some(p)) = (file, self.path(e)) else { return Ok(()) };
        os::set_file_mode(&f, e.mode).map_err(|err| Error::io("set mode of", &p, err))?;
        os::flush_extracted(&f).map_err(|err| Error::io("flush", &p, err))
    }

    fn finish_dir(&self, e: &Entry) -> Result<(), Error> {
        let Some(p) = self.path(e) else { return Ok(()) };
        os::set_mode(&p, e.mode).map_err(|err| Error::io("set mode of", &p, err))
    }
}
