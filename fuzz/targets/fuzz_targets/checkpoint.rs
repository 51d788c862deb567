//! Fuzz target `checkpoint`: see `hsnn_fuzz_harness::checkpoint`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| hsnn_fuzz_harness::checkpoint(data));
