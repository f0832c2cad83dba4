//! Records the target triple this crate is compiled for (the stub's own), for
//! [`platform::BUILD_TARGET`](src/platform.rs).

fn main() {
    let target = std::env::var("TARGET").expect("cargo sets TARGET");
    println!("cargo:rustc-env=GO_OFFLINE_BUILD_TARGET={target}");
    println!("cargo:rerun-if-changed=build.rs");
}
