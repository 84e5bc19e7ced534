//! Any bytes as a segment file: recovery never panics and keeps only valid batches.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| brook_log::sim::fuzz_recovery(data));
