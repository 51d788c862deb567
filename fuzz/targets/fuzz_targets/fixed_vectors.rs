//! Fuzz target `fixed_vectors`: see `hsnn_fuzz_harness::fixed_vectors`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| hsnn_fuzz_harness::fixed_vectors(data));
