//! Fuzz target `fixed_model`: see `hsnn_fuzz_harness::fixed_model`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| hsnn_fuzz_harness::fixed_model(data));
