//! Fuzz target `idx_labels`: see `hsnn_fuzz_harness::idx_labels`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| hsnn_fuzz_harness::idx_labels(data));
