//! Fuzz target: see `netunnel_fuzz::rest_body`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| netunnel_fuzz::rest_body(data));
