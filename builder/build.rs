//! Embeds the release stubs `cargo xtask dist` prepared, for [`stubs`](src/stubs.rs).
//!
//! `GO_OFFLINE_EMBED_STUBS` names a directory with `stubs.tsv` (one line per stub: triple,
//! length, sha256, version, commit, file name of its zstd-compressed bytes, tab-separated) and
//! those files. Without it (every development build) the builder embeds nothing and takes its
//! stubs from the checkout's `target/stubs/`.

use std::{env, fs, path::PathBuf};

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-env-changed=GO_OFFLINE_EMBED_STUBS");
    let out = PathBuf::from(env::var_os("OUT_DIR").expect("cargo sets OUT_DIR")).join("embedded_stubs.rs");
    let mut code =
        String::from("/// The stubs embedded by `cargo xtask dist`.\npub static EMBEDDED: &[EmbeddedStub] = &[\n");
    if let Some(dir) = env::var_os("GO_OFFLINE_EMBED_STUBS").filter(|d| !d.is_empty()) {
        let dir = PathBuf::from(dir);
        let index = dir.join("stubs.tsv");
        println!("cargo:rerun-if-changed={}", index.display());
        let text = fs::read_to_string(&index)
            .unwrap_or_else(|e| panic!("GO_OFFLINE_EMBED_STUBS: cannot read {}: {e}", index.display()));
        for line in text.lines().filter(|l| !l.trim().is_empty()) {
            let fields: Vec<&str> = line.split('\t').collect();
            let [triple, len, sha256, version, commit, file] = fields[..] else {
                panic!("{}: expected 6 tab-separated fields, got '{line}'", index.display());
            };
            let len: u64 = len.parse().unwrap_or_else(|_| panic!("{}: bad length in '{line}'", index.display()));
            let path = dir.join(file);
            println!("cargo:rerun-if-changed={}", path.display());
            let path = path.to_str().unwrap_or_else(|| panic!("{} is not UTF-8", path.display()));
            code.push_str(&format!(
                "    EmbeddedStub {{ triple: {triple:?}, len: {len}, sha256: {sha256:?}, version: {version:?}, commit: {commit:?}, compressed: include_bytes!({path:?}) }},\n"
            ));
        }
    }
    code.push_str("];\n");
    fs::write(&out, code).unwrap_or_else(|e| panic!("cannot write {}: {e}", out.display()));
}
