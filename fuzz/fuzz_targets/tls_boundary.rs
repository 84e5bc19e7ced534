//! Client bytes on a TLS listener, before and after the handshake, and client certificates:
//! through the broker's TLS configuration into framing, decoding and principal mapping, never
//! a panic.
#![no_main]

use std::sync::OnceLock;

use brook_server::tls_fuzz::Fixture;

static FIXTURE: OnceLock<Fixture> = OnceLock::new();

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let fixture = FIXTURE.get_or_init(|| {
        Fixture::new(include_str!("../tls/broker.key"), include_str!("../tls/broker.pem"), include_str!("../tls/ca.pem"))
    });
    let _ = fixture.run(data);
});
