//! Fuzz target: [`arus_fuzz::handshake`].
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| arus_fuzz::handshake(data));
