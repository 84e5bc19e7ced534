//! Replays the committed request-decoding fuzz corpus (`fuzz/corpus/request_decode`), which
//! starts from real client connections and holds every crash the fuzzer found.

use std::path::PathBuf;

/// Every input frames and decodes without a panic or an abort.
#[test]
fn request_decode_corpus() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/corpus/request_decode");
    let mut count = 0;
    for entry in std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
        let data = std::fs::read(entry.expect("corpus entry").path()).expect("corpus file");
        brook_server::codec::fuzz_one(&data);
        count += 1;
    }
    assert!(count > 0, "the request_decode corpus is empty");
}

/// The TLS boundary corpus (`fuzz/corpus/tls_boundary`): client bytes through the broker's TLS
/// configuration into request decoding, and client certificates into principal mapping.
#[test]
fn tls_boundary_corpus() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fuzz");
    let read = |name: &str| std::fs::read_to_string(root.join("tls").join(name)).expect("fuzz TLS fixture");
    let fixture = brook_server::tls_fuzz::Fixture::new(&read("broker.key"), &read("broker.pem"), &read("ca.pem"));
    let dir = root.join("corpus/tls_boundary");
    let mut count = 0;
    for entry in std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
        let path = entry.expect("corpus entry").path();
        let frames = fixture.run(&std::fs::read(&path).expect("corpus file"));
        // The seed of real requests goes through a completed handshake to the decoder.
        if path.ends_with("requests-after-handshake") {
            assert_eq!(frames, 3, "requests sent after the handshake reach the decoder");
        }
        count += 1;
    }
    assert!(count > 0, "the tls_boundary corpus is empty");
}
