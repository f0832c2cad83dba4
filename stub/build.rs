//! Copies the public keys named by `GO_OFFLINE_STUB_TRUST_KEYS` (a `:`-separated list of SPKI
//! PEM files, set by `cargo xtask stubs --trust-key`) into `$OUT_DIR/trusted-keys`, which the stub
//! embeds (src/main.rs, `EMBEDDED_KEYS`), and gives the stub its target triple for its identity
//! (`GO_OFFLINE_STUB_TARGET`, src/main.rs, `STUB_IDENTITY`).

use std::{env, fs, path::PathBuf};

fn main() {
    println!("cargo:rerun-if-env-changed=GO_OFFLINE_STUB_TRUST_KEYS");
    println!("cargo:rerun-if-changed=build.rs");
    // The target triple, for the stub identity (src/main.rs, `STUB_IDENTITY`).
    let target = env::var("TARGET").expect("cargo sets TARGET");
    println!("cargo:rustc-env=GO_OFFLINE_STUB_TARGET={target}");

    let out_dir = PathBuf::from(env::var("OUT_DIR").expect("cargo sets OUT_DIR"));
    let keys_dir = out_dir.join("trusted-keys");
    let _ = fs::remove_dir_all(&keys_dir);
    fs::create_dir_all(&keys_dir).expect("create trusted-keys dir");
    // include_dir needs at least one file to be happy about the directory.
    fs::write(keys_dir.join("README"), "public keys compiled into this stub\n").expect("write README");

    let Ok(list) = env::var("GO_OFFLINE_STUB_TRUST_KEYS") else { return };
    for (i, path) in list.split(':').filter(|p| !p.is_empty()).enumerate() {
        println!("cargo:rerun-if-changed={path}");
        let pem = fs::read_to_string(path).unwrap_or_else(|e| panic!("cannot read trust key '{path}': {e}"));
        assert!(pem.contains("-----BEGIN PUBLIC KEY-----"), "trust key '{path}' is not an SPKI PEM public key");
        let name = PathBuf::from(path);
        let stem = name.file_stem().and_then(|s| s.to_str()).unwrap_or("key");
        fs::write(keys_dir.join(format!("{i:02}-{stem}.pub")), pem).expect("write trust key");
    }
}
