//! Fuzz target `experiment`: see `hsnn_fuzz_harness::experiment`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| hsnn_fuzz_harness::experiment(data));
