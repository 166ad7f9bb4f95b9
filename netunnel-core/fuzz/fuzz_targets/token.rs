//! Fuzz target: see `netunnel_fuzz::token`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| netunnel_fuzz::token(data));
