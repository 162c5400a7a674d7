//! Fuzz target: [`arus_fuzz::ocpp_messages`].
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| arus_fuzz::ocpp_messages(data));
