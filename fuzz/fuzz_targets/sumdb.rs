#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| stub_fuzz::checks::sumdb(data));
