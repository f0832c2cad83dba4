//! Copies the public keys named by `GO_OFFLINE_STUB_TRUST_KEYS` (a `:`-separated list of SPKI
//! PEM files, set by `cargo xtask stubs --trust-key`) into `$OUT_DIR/trusted-keys`, which the stub
//! embeds (src/main.rs, `EMBEDDED_KEYS`), and gives the stub its target triple for its identity
//! (`GO_OFFLINE_STUB_TARGET`, src/main.rs, `STUB_IDENTITY`). When zig links the stub
//! (`GO_OFFLINE_STUB_ZIG_LINKED`, set by `cargo xtask stubs` for the musl targets), it also
//! drops the unwinding tables (`no-unwind-tables.ld`).

use std::{env, fs, path::PathBuf};

fn main() {
    println!("cargo:rerun-if-env-changed=GO_OFFLINE_STUB_TRUST_KEYS");
    println!("cargo:rerun-if-changed=build.rs");
    // The target triple, for the stub identity (src/main.rs, `STUB_IDENTITY`).
    let target = env::var("TARGET").expect("cargo sets TARGET");
    println!("cargo:rustc-env=GO_OFFLINE_STUB_TARGET={target}");
    discard_unwind_tables();

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

/// Hands the linker `no-unwind-tables.ld`, which discards `.eh_frame`, its index
/// `.eh_frame_hdr` and the landing-pad tables `.gcc_except_table`: about 200 KB, an eighth of
/// the x86_64 stub, that nothing in it reads. The stub is built with `panic = "abort"`, so no
/// panic unwinds; but rustc still gives nearly every function a frame description (the
/// precompiled standard library is built to unwind, and code that calls it keeps its landing
/// pads), and `-C force-unwind-tables=no` changes none of that under fat LTO. The one reader
/// left is the panic message's backtrace (`RUST_BACKTRACE`), which in a stripped stub is a list
/// of bare addresses: without the tables it is empty, and the message, the abort and the exit
/// status are as before.
///
/// Only when zig links (`GO_OFFLINE_STUB_ZIG_LINKED=1`, which `cargo xtask stubs` sets for the
/// targets zig links, the musl ones): zig's linker is LLD and links musl's own start files,
/// none of which refers to the tables. Elsewhere they stay: the `crtbegin.o` of rustc's
/// self-contained musl linking registers `.eh_frame` by address, a glibc program may unwind
/// through it (thread cancellation, `backtrace(3)`), and Windows unwinds through tables of its
/// own (`.pdata`), which no program may drop.
fn discard_unwind_tables() {
    println!("cargo:rerun-if-env-changed=GO_OFFLINE_STUB_ZIG_LINKED");
    println!("cargo:rerun-if-changed=no-unwind-tables.ld");
    let zig_linked = env::var_os("GO_OFFLINE_STUB_ZIG_LINKED").is_some_and(|v| v == "1");
    if zig_linked && env::var("CARGO_CFG_TARGET_ENV").is_ok_and(|e| e == "musl") {
        // The linker reads the script from `OUT_DIR`, not from the checkout: cargo reuses this
        // script's output for a checkout at another path sharing the target directory (the
        // tasks' shared one), where a path into the first checkout may no longer exist.
        let out_dir = PathBuf::from(env::var("OUT_DIR").expect("cargo sets OUT_DIR"));
        let script = out_dir.join("no-unwind-tables.ld");
        fs::write(&script, include_str!("no-unwind-tables.ld")).expect("write no-unwind-tables.ld");
        println!("cargo:rustc-link-arg-bins=-Wl,-T,{}", script.display());
    }
}
