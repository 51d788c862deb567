//! Fuzz target `devices`: see `hsnn_fuzz_harness::devices`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| hsnn_fuzz_harness::devices(data));
