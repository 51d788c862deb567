//! Fuzz target `idx_images`: see `hsnn_fuzz_harness::idx_images`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| hsnn_fuzz_harness::idx_images(data));
