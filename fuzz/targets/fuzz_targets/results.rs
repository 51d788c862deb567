//! Fuzz target `results`: see `hsnn_fuzz_harness::results`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| hsnn_fuzz_harness::results(data));
