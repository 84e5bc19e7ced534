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
