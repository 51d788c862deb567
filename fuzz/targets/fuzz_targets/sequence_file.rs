//! Fuzz target `sequence_file`: see `hsnn_fuzz_harness::sequence_file`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| hsnn_fuzz_harness::sequence_file(data));
