//! Output files: where a command may write ([`check_output`]) and how it writes (whole, or not at
//! all: a temporary file beside the output, synced, then renamed into place).
//!
//! **Invariant: no command writes over one of its inputs.** Every command that writes calls
//! [`check_output`] first, for every file it will write. This module knows paths and errors, and
//! nothing of what is written.

use std::{fs, io::Write, os::unix::fs::PermissionsExt, path::Path};

use crate::error::BuildError;

/// The identity of the file `path` names, through symlinks: device and inode.
fn file_id(path: &Path) -> Option<(u64, u64)> {
    use std::os::unix::fs::MetadataExt;
    fs::metadata(path).ok().map(|m| (m.dev(), m.ino()))
}

/// Refuses to write `output` where that would destroy something: when it is one of `inputs`
/// (the same file by device and inode, so through a symlink or a hard link too) or lies inside an
/// input directory (a GOROOT, a module cache), always; when anything else is there, unless
/// `force`. Every command that writes a file calls it before it writes (the file itself is then
/// written beside and renamed into place). Inputs that do not exist are skipped.
pub fn check_output(output: &Path, inputs: &[&Path], force: bool) -> Result<(), BuildError> {
    let protected: Vec<(&Path, (u64, u64))> = inputs.iter().filter_map(|p| file_id(p).map(|id| (*p, id))).collect();
    let input_with = |id: (u64, u64)| protected.iter().find(|(_, i)| *i == id).map(|(p, _)| p.to_path_buf());
    if let Some(input) = file_id(output).and_then(input_with) {
        return Err(BuildError::OutputIsInput { output: output.into(), input, relation: "is" });
    }
    let dir = output.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
    if let Ok(dir) = fs::canonicalize(dir) {
        if let Some(input) = dir.ancestors().filter_map(file_id).find_map(input_with) {
            return Err(BuildError::OutputIsInput { output: output.into(), input, relation: "is inside" });
        }
    }
    // A symlink to a directory counts as one (renaming onto it would replace the link), and so
    // does a name that ends with a slash, which can only name a directory.
    if fs::metadata(output).is_ok_and(|m| m.is_dir()) || output.as_os_str().as_encoded_bytes().ends_with(b"/") {
        return Err(BuildError::OutputIsDirectory(output.into()));
    }
    match fs::symlink_metadata(output) {
        Ok(_) if !force => Err(BuildError::OutputExists(output.into())),
        _ => Ok(()),
    }
}

/// Writes the installer atomically (temp file beside it, then rename), mode 0755.
pub(crate) fn write_output(output: &Path, parts: &[&[u8]]) -> Result<(), BuildError> {
    write_parts(output, parts, 0o755)
}

/// Writes `bytes` to `path` atomically with `mode`.
pub(crate) fn write_file(path: &Path, bytes: &[u8], mode: u32) -> Result<(), BuildError> {
    write_parts(path, &[bytes], mode)
}

/// Writes `parts` one after the other to `output` atomically with `mode`.
fn write_parts(output: &Path, parts: &[&[u8]], mode: u32) -> Result<(), BuildError> {
    let dir = output.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let mut tmp = tempfile::Builder::new()
        .prefix(".go-offline-installer.")
        .tempfile_in(dir)
        .map_err(|e| BuildError::io("create a file in", dir, e))?;
    for part in parts {
        tmp.write_all(part).map_err(|e| BuildError::io("write", output, e))?;
    }
    tmp.as_file().set_permissions(fs::Permissions::from_mode(mode)).map_err(|e| BuildError::io("chmod", output, e))?;
    tmp.as_file().sync_all().map_err(|e| BuildError::io("sync", output, e))?;
    tmp.persist(output).map_err(|e| BuildError::io("write", output, e.error))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use super::*;
    use crate::exit;

    /// Every way an output can be an input is refused, with or without force; an existing
    /// output needs force; a new one is fine.
    #[test]
    fn outputs_that_are_inputs_or_exist() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let (key, tarball, goroot, other) = (d.join("org.key"), d.join("go.tar.gz"), d.join("goroot"), d.join("other"));
        fs::write(&key, "key").unwrap();
        fs::write(&tarball, "tarball").unwrap();
        fs::write(&other, "someone's").unwrap();
        fs::create_dir_all(goroot.join("bin")).unwrap();
        std::os::unix::fs::symlink(&key, d.join("key-link")).unwrap();
        fs::create_dir(d.join("elsewhere")).unwrap();
        std::os::unix::fs::symlink(d.join("elsewhere"), d.join("dir-link")).unwrap();
        fs::hard_link(&tarball, d.join("tarball-link")).unwrap();
        let inputs: &[&Path] = &[&key, &tarball, &goroot, &d.join("missing-input")];
        // (output, force, refused as)
        let cases: &[(PathBuf, bool, Option<&str>)] = &[
            (key.clone(), false, Some("it is '")),
            (key.clone(), true, Some("it is '")),
            (d.join("key-link"), true, Some("it is '")),
            (d.join("tarball-link"), true, Some("it is '")),
            (d.join("./go.tar.gz"), true, Some("it is '")),
            (goroot.join("bin/go-offline-installer"), true, Some("it is inside '")),
            (goroot.clone(), true, Some("it is '")),
            (other.clone(), false, Some("refusing to overwrite the existing file")),
            (other.clone(), true, None),
            (d.to_path_buf(), true, Some("it is a directory")),
            (d.join("dir-link"), true, Some("it is a directory")),
            (d.join("new-dir/"), true, Some("it is a directory: name a file (for example")),
            (d.join("new"), false, None),
        ];
        for (output, force, refused) in cases {
            let got = check_output(output, inputs, *force);
            match (got, refused) {
                (Ok(()), None) => {}
                (Err(e), Some(said)) => {
                    assert_eq!(e.exit_code(), exit::BAD_INPUT, "{output:?}");
                    assert!(e.to_string().contains(said), "{output:?} {force}: {e}");
                }
                (got, _) => panic!("{output:?} (force {force}): {got:?}, want {refused:?}"),
            }
        }
        assert_eq!(fs::read(&key).unwrap(), b"key");
    }
}
