//! Any bytes as a request stream: framing and decoding never panic.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| brook_server::codec::fuzz_one(data));
