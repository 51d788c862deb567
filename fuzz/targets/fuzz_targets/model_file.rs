//! Fuzz target `model_file`: see `hsnn_fuzz_harness::model_file`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| hsnn_fuzz_harness::model_file(data));
