#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| esdsl_fuzz::store(data));
