//! Any client messages through the broker's SASL mechanisms (PLAIN, SCRAM): never a panic.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| brook_security::sasl::fuzz_exchange(data));
