//! Any bytes as a produced batch: validation and record decoding never panic.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| brook_log::batch::fuzz_one(data));
