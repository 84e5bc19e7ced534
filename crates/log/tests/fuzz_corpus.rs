//! Replays the committed fuzz corpora (`fuzz/corpus/`) through the same entry points the
//! fuzzers drive, so every input they found interesting, and every crash they found, stays a
//! test.

use std::path::PathBuf;

fn corpus(target: &str) -> Vec<(PathBuf, Vec<u8>)> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/corpus").join(target);
    let mut inputs: Vec<(PathBuf, Vec<u8>)> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| {
            let path = entry.expect("corpus entry").path();
            let data = std::fs::read(&path).expect("corpus file");
            (path, data)
        })
        .collect();
    inputs.sort();
    assert!(!inputs.is_empty(), "the {target} corpus is empty");
    inputs
}

/// Every batch-validation corpus input runs without a panic.
#[test]
fn batch_validate_corpus() {
    for (_, data) in corpus("batch_validate") {
        brook_log::batch::fuzz_one(&data);
    }
}

/// Every recovery corpus input opens and reads back only valid batches.
#[test]
fn recovery_scan_corpus() {
    for (_, data) in corpus("recovery_scan") {
        brook_log::sim::fuzz_recovery(&data);
    }
}
