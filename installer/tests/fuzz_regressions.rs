//! Replays every committed fuzz input (`fuzz/regressions/<target>/*`: seeds and past findings)
//! through the fuzz targets' own checks, so they run under plain `cargo test`, without cargo-fuzz.

#[path = "../../fuzz/src/checks.rs"]
mod checks;

use std::{fs, panic, path::PathBuf};

fn regressions() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../fuzz/regressions")
}

#[test]
fn replay_regressions() {
    let mut failed = Vec::new();
    let mut count = 0;
    for (target, check) in checks::TARGETS {
        let dir = regressions().join(target);
        let mut files: Vec<PathBuf> = fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
            .map(|e| e.unwrap().path())
            .collect();
        files.sort();
        assert!(!files.is_empty(), "{} holds no input", dir.display());
        for file in files {
            let data = fs::read(&file).unwrap();
            count += 1;
            if panic::catch_unwind(|| check(&data)).is_err() {
                failed.push(format!("{target}/{}", file.file_name().unwrap().to_string_lossy()));
            }
        }
    }
    assert!(failed.is_empty(), "{} of {count} fuzz regression inputs fail: {failed:?}", failed.len());
}

/// The variable that makes [`seeds_are_current`] rewrite the seeds instead of comparing them.
const UPDATE_ENV: &str = "UPDATE_FUZZ_SEEDS";

/// The seeds on disk are the ones the code makes (a changed format must update them). They are
/// made by code (a signed installer cannot be written by hand); rewrite them with
/// `UPDATE_FUZZ_SEEDS=1 cargo test -p installer --test fuzz_regressions seeds_are_current`.
#[test]
fn seeds_are_current() {
    let update = std::env::var_os(UPDATE_ENV).is_some_and(|v| v == "1");
    for (target, name, data) in checks::seeds() {
        let path = regressions().join(target).join(name);
        if update {
            fs::create_dir_all(path.parent().unwrap()).unwrap();
            fs::write(&path, &data).unwrap();
            continue;
        }
        let on_disk = fs::read(&path).unwrap_or_default();
        assert!(on_disk == data, "{} is stale: rerun this test with {UPDATE_ENV}=1", path.display());
    }
}

/// Found with the `tar_entries` harness (fuzz/regressions/tar_entries/uncompressed-len-max): a
/// signed uncompressed length of u64::MAX overflowed `len + 1` in the extractor (a panic with
/// overflow checks, a zero-byte limit without). It is now a plain length mismatch.
#[test]
fn huge_signed_uncompressed_length_is_a_mismatch_not_a_panic() {
    let data = fs::read(regressions().join("tar_entries/seed-small")).unwrap();
    let n = u16::from_le_bytes([data[0], data[1]]) as usize;
    let tar = &data[2 + n..];
    let files = checks::seeds_files();
    let installer = checks::build_installer(files, tar, |m| m.payload.uncompressed_len = u64::MAX).unwrap();
    let (_dir, outcome) = checks::verify_and_extract(&installer);
    match outcome {
        checks::Outcome::Refused(installer::Error::Format(format::Error::PayloadMismatch(m))) => {
            assert!(m.contains("decompresses to"), "{m}")
        }
        checks::Outcome::Refused(e) => panic!("refused for another reason: {e}"),
        checks::Outcome::NotVerified(e) => panic!("did not verify: {e}"),
        checks::Outcome::Extracted => panic!("extracted"),
    }
}

/// The `sumdb` seed gets past the signature, so the fuzzer starts deep in the checks.
#[test]
fn the_sumdb_seed_is_a_whole_database() {
    let data = fs::read(regressions().join("sumdb/seed-three-records")).unwrap();
    let checked = format::sumdb::check(&checks::sumdb_key(), &checks::sumdb_files(&data), &[]).unwrap();
    assert_eq!((checked.tree.size, checked.lookups.len()), (3, 3));
}
