//! Fuzz target: see `netunnel_fuzz::control_document`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| netunnel_fuzz::control_document(data));
