//! Fuzz target: [`arus_fuzz::ws_frames`].
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| arus_fuzz::ws_frames(data));
