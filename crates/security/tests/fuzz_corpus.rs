//! Replays the committed SASL fuzz corpus (`fuzz/corpus/sasl_exchange`): every input the
//! fuzzer kept, and every crash it found, runs through the mechanisms without a panic.

use std::path::PathBuf;

#[test]
fn sasl_exchange_corpus() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/corpus/sasl_exchange");
    let mut count = 0;
    for entry in std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
        let data = std::fs::read(entry.expect("corpus entry").path()).expect("corpus file");
        brook_security::sasl::fuzz_exchange(&data);
        count += 1;
    }
    assert!(count > 0, "the sasl_exchange corpus is empty");
}
