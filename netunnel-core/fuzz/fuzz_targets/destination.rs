//! Fuzz target: see `netunnel_fuzz::destination`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| netunnel_fuzz::destination(data));
