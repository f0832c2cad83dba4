//! The fuzz targets' checks, in `checks.rs` so that `stub/tests/fuzz_regressions.rs` replays the
//! committed inputs of `fuzz/regressions/` through the very same code under plain `cargo test`.

pub mod checks;
