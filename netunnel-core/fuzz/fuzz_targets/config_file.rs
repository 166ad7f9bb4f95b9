//! Fuzz target: see `netunnel_fuzz::config_file`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| netunnel_fuzz::config_file(data));
