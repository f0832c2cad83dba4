//! Delta installers on the machine: the base proven on disk, the new tree staged from the base's
//! files and the payload's whole files and patches, then checked whole.
//!
//! A delta (see [`format::delta`]) names its base by the digest of its entry list. [`prove_base`]
//! takes the base's receipt (its entry list as signed when it was installed), compares that
//! list's digest with the signed one, then checks every entry on disk against it (type, mode,
//! size, sha256 of every file, link targets, nothing extra): the bytes the patches read are the
//! bytes the delta was made from. The new tree's entry list is rebuilt from the base's and the
//! delta, and checked against the signed digest of the full tree.
//!
//! [`stage`] writes the new tree into the staging directory only: directories and symlinks from
//! the rebuilt list, unchanged files copied from the base tree (`copy_file_range`, which file
//! systems with reflinks turn into shared extents; never a hard link, so the two trees stay
//! independent), whole files from the payload, and patched files decoded against the base's file
//! of the same path. Then every entry of the new tree is checked against the full list before
//! anything is switched. The base tree is only read.
//!
//! **Invariant: a delta is applied only onto a base whose every file matches the signed base
//! digest, and the tree it makes matches the signed full tree, file by file, before it is
//! placed.**

use std::{
    collections::BTreeMap,
    fs::File,
    io::{self, Write},
    path::{Path, PathBuf},
};

use format::{
    delta::{self, Delta, PatchCodec, RebuildError},
    manifest::{Entry, EntryType, MAX_WINDOW_LOG},
    payload::{self, PayloadStats, Progress, Sink},
    verify::VerifiedInstaller,
};
use sha2::{Digest, Sha256};

use crate::{
    error::{BaseProblem, Error},
    os,
    prefix::{self, Prefix},
    receipt, tree,
};

/// The base a delta applies onto, proven intact, and the tree it makes.
#[derive(Debug, Clone)]
pub struct Planned {
    /// The base's tree name (`go-1.27.2`) and where it is.
    pub base_tree: String,
    pub base_dir: PathBuf,
    /// Id of the base's receipt.
    pub base_receipt_id: String,
    /// Every entry of the new tree, as its full installer's manifest lists it.
    pub files: Vec<Entry>,
}

/// The refusal of a delta that cannot be applied here, naming the full installer.
pub fn no_base(installer: &VerifiedInstaller, problem: BaseProblem) -> Error {
    let m = installer.manifest();
    Error::NoBase {
        installer: installer.path().display().to_string(),
        base: m.delta.as_ref().map(|d| d.base.go_version.clone()).unwrap_or_default(),
        go_version: m.go_version.clone(),
        problem: Box::new(problem),
        full: delta::full_installer_name(&m.go_version, &m.goos, &m.goarch),
    }
}

/// Finds the delta's base in `prefix` and proves it: its receipt lists the signed base, and every
/// entry on disk matches that list. Returns the new tree's entries. Reads only.
pub fn prove_base(prefix: &Prefix, installer: &VerifiedInstaller, d: &Delta) -> Result<Planned, Error> {
    let m = installer.manifest();
    let base = &d.base.go_version;
    let name = prefix::tree_name(base);
    let refuse = |problem: String| no_base(installer, BaseProblem::Other(problem));
    if !prefix.has_tree(&name)? {
        return Err(refuse(format!(
            "{base} is not installed in '{}' (installed: {})",
            prefix.path().display(),
            receipt::installed_list(prefix.path())
        )));
    }
    let dir = prefix.tree_path(&name);
    let Some(r) = receipt::read_receipt(prefix.path(), &name)? else {
        return Err(refuse(format!(
            "the {base} tree at '{}' has no receipt (it was not installed by this installer), so its files cannot be proven",
            dir.display()
        )));
    };
    let listed = delta::tree_digest(&r.files);
    if listed != d.base.files_sha256 || (r.goos.as_str(), r.goarch.as_str()) != (m.goos.as_str(), m.goarch.as_str()) {
        return Err(refuse(format!(
            "the {base} installed at '{}' is another build of {base} ({} {}/{}, its entry list has sha256 {listed}; the delta needs {}: other go.env settings, or adopted rather than installed)",
            dir.display(),
            r.go_version,
            r.goos,
            r.goarch,
            d.base.files_sha256
        )));
    }
    // The bytes the patches will read: every file hashed, every mode and link compared.
    let differences = tree::diff_tree(&dir, &name, &r.files)?;
    if let Some(first) = differences.first() {
        return Err(no_base(
            installer,
            BaseProblem::Changed {
                base: base.clone(),
                dir,
                count: differences.len(),
                first_path: first.path.clone(),
                first_flags: first.flags.clone(),
            },
        ));
    }
    let files = delta::rebuild(&r.files, d, &m.goos).map_err(|e| match e {
        RebuildError::OtherBase { .. } => refuse(e.to_string()),
        RebuildError::Inconsistent(_) => Error::Format(format::Error::PayloadMismatch(e.to_string())),
    })?;
    Ok(Planned { base_tree: name, base_dir: dir, base_receipt_id: r.id, files })
}

/// Writes the new tree into `staging` (an empty directory private to this process) from the
/// base and the payload, then checks it whole against the rebuilt entry list.
pub fn stage(
    installer: &VerifiedInstaller,
    file: &File,
    planned: &Planned,
    staging: &Path,
    progress: Progress,
) -> Result<PayloadStats, Error> {
    let Some(d) = &installer.manifest().delta else {
        return Err(Error::Format(format::Error::PayloadMismatch("not a delta installer".into())));
    };
    for e in &planned.files {
        let to = staging.join(&e.path);
        match e.kind {
            EntryType::Dir => os::create_dir(&to, 0o700).map_err(|err| Error::io("create directory", &to, err))?,
            EntryType::Symlink => os::symlink(e.target.as_deref().unwrap_or_default(), &to)
                .map_err(|err| Error::io("create symlink", &to, err))?,
            EntryType::File if d.carries(&e.path) => {}
            EntryType::File => copy_from_base(&planned.base_dir.join(&e.path), &to, e.mode)?,
        }
    }
    let sink = DeltaSink { staging, base: &planned.base_dir, patches: d.patches() };
    let stats = payload::walk(installer, file, &sink, progress)?;
    for e in planned.files.iter().rev().filter(|e| e.kind == EntryType::Dir) {
        let p = staging.join(&e.path);
        os::set_mode(&p, e.mode).map_err(|err| Error::io("set mode of", &p, err))?;
    }
    os::set_mode(staging, 0o755).map_err(|err| Error::io("set mode of", staging, err))?;
    // The whole new tree against the signed full list: copies included.
    let tree = prefix::tree_name(&installer.manifest().go_version);
    let differences = tree::diff_tree(staging, &tree, &planned.files)?;
    if let Some(first) = differences.first() {
        return Err(Error::Format(format::Error::PayloadMismatch(format!(
            "the tree made from the delta and {} differs from the signed tree in {} entries (first: {} {})",
            planned.base_tree,
            differences.len(),
            first.path,
            first.flags
        ))));
    }
    Ok(stats)
}

/// Copies one unchanged file of the base into staging, with the new tree's mode.
fn copy_from_base(from: &Path, to: &Path, mode: u32) -> Result<(), Error> {
    let mut src = File::open(from).map_err(|e| Error::io("read", from, e))?;
    let mut dst = os::create_new_file(to, 0o600).map_err(|e| Error::io("create", to, e))?;
    io::copy(&mut src, &mut dst).map_err(|e| Error::io("copy into", to, e))?;
    os::set_file_mode(&dst, mode).map_err(|e| Error::io("set mode of", to, e))?;
    os::flush_extracted(&dst).map_err(|e| Error::io("flush", to, e))
}

/// The payload walk's sink for a delta: whole files are written as they come; a patch is kept
/// (its own digest checked by the walk) and decoded when it closes.
struct DeltaSink<'a> {
    staging: &'a Path,
    base: &'a Path,
    patches: BTreeMap<&'a str, (PatchCodec, &'a Entry)>,
}

/// A file of the payload being read.
enum Open {
    Whole(File),
    Patch(Vec<u8>),
}

impl Sink for DeltaSink<'_> {
    type Error = Error;
    type File = Open;

    fn make_dir(&self, e: &Entry) -> Result<(), Error> {
        // A delta's payload lists files only; its directories were made from the full list.
        Err(Error::Format(format::Error::PayloadMismatch(format!("'{}': a delta carries no directory", e.path))))
    }

    fn symlink(&self, e: &Entry) -> Result<(), Error> {
        Err(Error::Format(format::Error::PayloadMismatch(format!("'{}': a delta carries no symlink", e.path))))
    }

    fn create_file(&self, e: &Entry) -> Result<Open, Error> {
        if self.patches.contains_key(e.path.as_str()) {
            let size = e.size.unwrap_or(0).min(1 << MAX_WINDOW_LOG) as usize;
            return Ok(Open::Patch(Vec::with_capacity(size)));
        }
        let p = self.staging.join(&e.path);
        os::create_new_file(&p, 0o600).map(Open::Whole).map_err(|err| Error::io("create", &p, err))
    }

    fn write(&self, file: &mut Open, e: &Entry, data: &[u8]) -> Result<(), Error> {
        match file {
            Open::Whole(f) => f.write_all(data).map_err(|err| Error::io("write", self.staging.join(&e.path), err)),
            Open::Patch(bytes) => {
                bytes.extend_from_slice(data);
                Ok(())
            }
        }
    }

    fn close_file(&self, file: Open, e: &Entry) -> Result<(), Error> {
        let p = self.staging.join(&e.path);
        let f = match file {
            Open::Whole(f) => f,
            Open::Patch(patch) => {
                let Some(&(codec, target)) = self.patches.get(e.path.as_str()) else {
                    return Err(Error::Format(format::Error::PayloadMismatch(format!("'{}' is no patch", e.path))));
                };
                self.decode(&patch, codec, target, &p)?
            }
        };
        let mode = self.patches.get(e.path.as_str()).map_or(e.mode, |(_, t)| t.mode);
        os::set_file_mode(&f, mode).map_err(|err| Error::io("set mode of", &p, err))?;
        os::flush_extracted(&f).map_err(|err| Error::io("flush", &p, err))
    }

    fn finish_dir(&self, _: &Entry) -> Result<(), Error> {
        Ok(())
    }
}

impl DeltaSink<'_> {
    /// Decodes `patch` against the base's file of the target's path into a new file at `to`,
    /// and checks its size and sha256 against the signed entry.
    fn decode(&self, patch: &[u8], codec: PatchCodec, target: &Entry, to: &Path) -> Result<File, Error> {
        let window_log = codec.window_log;
        let from = self.base.join(&target.path);
        let wrong = |what: String| {
            Error::Format(format::Error::PayloadMismatch(format!("the patch of '{}' {what}", target.path)))
        };
        let len = std::fs::metadata(&from).map_err(|e| Error::io("inspect", &from, e))?.len();
        if len > 1 << window_log.min(MAX_WINDOW_LOG) {
            return Err(wrong(format!("reads a base file of {len} bytes, larger than its window of 2^{window_log}")));
        }
        let reference = std::fs::read(&from).map_err(|e| Error::io("read", &from, e))?;
        let size = target.size.unwrap_or(0);
        let file = os::create_new_file(to, 0o600).map_err(|e| Error::io("create", to, e))?;
        let mut out = Hashing { file, sha: Sha256::new(), len: 0 };
        delta::apply_patch(&reference, patch, codec, size, &mut out)
            .map_err(|e| wrong(format!("does not decode against the base's file: {e}")))?;
        let Hashing { file, sha, len } = out;
        let found = hex::encode(sha.finalize());
        if len != size || Some(&found) != target.sha256.as_ref() {
            return Err(wrong(format!(
                "decodes to {len} bytes of sha256 {found}, not the signed {size} bytes of sha256 {}",
                target.sha256.as_deref().unwrap_or("-")
            )));
        }
        Ok(file)
    }
}

/// A file being written, with the sha256 and length of what went in.
struct Hashing {
    file: File,
    sha: Sha256,
    len: u64,
}

impl Write for Hashing {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.file.write(buf)?;
        self.sha.update(&buf[..n]);
        self.len += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.file.flush()
    }
}
