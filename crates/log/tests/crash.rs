//! Crash recovery on real files: the last batch of a segment, written after the last
//! checkpoint, is cut at every byte boundary and has every byte flipped; recovery must keep
//! exactly the intact prefix. Also: arbitrary bytes in a segment never panic the open.

mod common;

use std::path::Path;

use brook_log::batch::{BATCH_HEADER_LEN, BatchHeader};
use brook_log::{Durability, Flusher, Log, LogConfig, LogEnv, ReadBound};
use bytes::Bytes;
use common::*;
use proptest::prelude::*;

const SEGMENT: &str = "00000000000000000000.log";

/// Writes `before` batches and a clean checkpoint, then one more batch that is synced but
/// not checkpointed, as a crash would leave it. Returns the sent batches.
fn crashed_log(dir: &Path, before: u8) -> Vec<Bytes> {
    let flusher = Flusher::start();
    let log = Log::open(dir, LogConfig::default(), LogEnv::os(&flusher)).expect("open");
    let mut sent = Vec::new();
    for i in 0..before {
        sent.push(tagged_batch(NOW, 2, i, 40));
        log.append(sent[sent.len() - 1].clone(), Durability::Async).expect("append");
    }
    log.close().expect("close");
    sent.push(tagged_batch(NOW, 3, 200, 40));
    log.append(sent[sent.len() - 1].clone(), Durability::Sync).expect("append");
    log.sync().expect("sync");
    sent
}

/// Opens the log and returns the batches it holds.
fn recovered(dir: &Path) -> Vec<(BatchHeader, Vec<u8>)> {
    let flusher = Flusher::start();
    let log = Log::open(dir, LogConfig::default(), LogEnv::os(&flusher)).expect("open");
    assert_eq!(log.high_watermark(), log.log_end_offset(), "recovered data is synced and visible");
    read_all(&log, 0, ReadBound::HighWatermark)
}

fn assert_prefix(got: &[(BatchHeader, Vec<u8>)], sent: &[Bytes], what: &str) {
    assert_eq!(got.len(), sent.len(), "{what}: wrong number of batches recovered");
    for ((_, stored), sent) in got.iter().zip(sent) {
        assert!(same_batch(stored, sent), "{what}: a kept batch changed");
    }
}

/// Cutting the file anywhere inside the last batch drops exactly that batch; cutting at its
/// end keeps everything. Appending afterwards continues from the recovered end.
#[test]
fn cut_at_every_byte_of_the_last_batch() {
    let dir = tempfile::tempdir().expect("tempdir");
    let sent = crashed_log(dir.path(), 5);
    let path = dir.path().join(SEGMENT);
    let whole = std::fs::read(&path).expect("segment");
    let last_len = sent[sent.len() - 1].len();
    let last_start = whole.len() - last_len;
    for cut in last_start..=whole.len() {
        std::fs::write(&path, &whole[..cut]).expect("cut");
        let got = recovered(dir.path());
        let keep = if cut == whole.len() { sent.len() } else { sent.len() - 1 };
        assert_prefix(&got, &sent[..keep], &format!("cut at {cut}"));
        assert_eq!(
            std::fs::metadata(&path).expect("stat").len() as usize,
            if keep == sent.len() { cut } else { last_start }
        );
    }
    let flusher = Flusher::start();
    let log = Log::open(dir.path(), LogConfig::default(), LogEnv::os(&flusher)).expect("open");
    let appended = log.append(tagged_batch(NOW, 1, 9, 1), Durability::Sync).expect("append");
    assert_eq!(appended.base_offset, 13, "5 batches of 2 and one of 3 precede it");
}

/// Flipping any bit of the last batch that its CRC, length, magic or offsets cover makes
/// recovery drop that batch and keep the rest. (The partition leader epoch, bytes 12..16, is
/// outside the CRC in Kafka's format and cannot be checked.)
#[test]
fn flip_every_byte_of_the_last_batch() {
    let dir = tempfile::tempdir().expect("tempdir");
    let sent = crashed_log(dir.path(), 3);
    let path = dir.path().join(SEGMENT);
    let whole = std::fs::read(&path).expect("segment");
    let last_start = whole.len() - sent[sent.len() - 1].len();
    for at in last_start..whole.len() {
        if (last_start + 12..last_start + 16).contains(&at) {
            continue;
        }
        for bit in [0x01u8, 0x80] {
            let mut damaged = whole.clone();
            damaged[at] ^= bit;
            std::fs::write(&path, &damaged).expect("damage");
            let got = recovered(dir.path());
            assert_prefix(&got, &sent[..sent.len() - 1], &format!("flip {bit:#x} at byte {}", at - last_start));
        }
        std::fs::write(&path, &whole).expect("restore");
    }
}

/// A crash that leaves a torn tail in one segment and a newer segment after it (written in
/// the same unsynced window) keeps the intact prefix and drops the newer segment.
#[test]
fn torn_segment_followed_by_newer_segment() {
    let t = SimLog::new(LogConfig { segment_bytes: 400, ..LogConfig::default() });
    let log = t.open();
    log.append(tagged_batch(NOW, 1, 0, 60), Durability::Sync).expect("append");
    log.sync().expect("sync");
    for i in 1..8u8 {
        log.append(tagged_batch(NOW, 1, i, 60), Durability::Async).expect("append");
    }
    assert!(log.segment_count() >= 3);
    drop(log); // kill -9 before any of the later batches was synced
    let first = Path::new(DIR).join(SEGMENT);
    let mut data = t.sim.contents(&first).expect("segment");
    let in_first = split_batches(&data).len() as i64;
    let len = data.len();
    data.truncate(len - 10); // the page cache lost the end of the first segment only
    t.sim.set_contents(&first, data);
    let log = t.open();
    assert_eq!(log.segment_count(), 1, "segments after a torn one cannot continue the log");
    assert_eq!(log.log_end_offset(), in_first - 1, "the intact batches stay, the torn one goes");
    assert!(log.log_end_offset() >= 1, "the durable batch stays");
    assert_eq!(read_all(&log, 0, ReadBound::HighWatermark).len() as i64, in_first - 1);
}

/// An empty or missing checkpoint means "recover everything": still no data loss.
#[test]
fn missing_checkpoint_recovers_the_whole_log() {
    let t = SimLog::new(LogConfig { segment_bytes: 500, ..LogConfig::default() });
    let log = t.open();
    for i in 0..12u8 {
        log.append(tagged_batch(NOW, 2, i, 30), Durability::Async).expect("append");
    }
    log.close().expect("close");
    drop(log);
    t.sim.set_contents(&Path::new(DIR).join("partition.checkpoint"), b"garbage".to_vec());
    let log = t.open();
    assert_eq!(log.log_end_offset(), 24);
    assert_eq!(read_all(&log, 0, ReadBound::HighWatermark).len(), 12);
}

proptest! {
    /// Whatever bytes a segment holds, opening it neither panics nor keeps a batch that
    /// fails validation.
    #[test]
    fn arbitrary_segment_bytes_never_panic(prefix in proptest::collection::vec(any::<u8>(), 0..300), valid_first in any::<bool>()) {
        let t = SimLog::new(LogConfig::default());
        let mut data = Vec::new();
        if valid_first {
            data.extend_from_slice(&tagged_batch(NOW, 1, 1, 10));
        }
        data.extend_from_slice(&prefix);
        t.sim.set_contents(&Path::new(DIR).join(SEGMENT), data);
        let log = t.open();
        for (_, bytes) in read_all(&log, 0, ReadBound::HighWatermark) {
            prop_assert!(brook_log::batch::validate(&bytes, u32::MAX).is_ok());
        }
        prop_assert!(log.log_end_offset() >= i64::from(valid_first));
    }

    /// Validation of arbitrary bytes as a produced batch never panics.
    #[test]
    fn arbitrary_batches_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
        let mut bytes = bytes;
        if bytes.len() >= BATCH_HEADER_LEN && bytes[0] & 1 == 0 {
            bytes[16] = 2; // often pass the magic check to reach the CRC
        }
        let _ = brook_log::batch::validate(&bytes, 1 << 20);
    }
}
