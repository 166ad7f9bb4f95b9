//! Fuzz target: see `netunnel_fuzz::response_head`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| netunnel_fuzz::response_head(data));
