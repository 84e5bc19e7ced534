//! What replication asks of a log: batches stamped with the leader epoch, a follower's log
//! built from the leader's bytes, a high watermark bounded by the replication floor, and the
//! epoch cache that finds where two logs diverged.

mod common;

use brook_log::epoch::{UNDEFINED, UNDEFINED_OFFSET};
use brook_log::{Durability, LogConfig, LogError, ReadBound};
use common::*;

fn config() -> LogConfig {
    LogConfig { flush_on_ack: false, ..small_config() }
}

/// A leader's batches carry its epoch; a follower appends the leader's bytes unchanged and
/// ends up byte-identical, with the same epoch cache.
#[test]
fn follower_copies_the_leader() {
    let leader = SimLog::new(config()).open();
    leader.set_leader_epoch(3).unwrap();
    for tag in 0..4 {
        leader.append(tagged_batch(NOW, 2, tag, 30), Durability::Async).expect("append");
    }
    leader.set_leader_epoch(5).unwrap();
    leader.append(tagged_batch(NOW, 1, 9, 30), Durability::Async).expect("append");
    let batches = read_all(&leader, 0, ReadBound::LogEnd);
    assert!(batches.iter().take(4).all(|(h, _)| h.partition_leader_epoch == 3));
    assert_eq!(batches[4].0.partition_leader_epoch, 5);

    let follower = SimLog::new(config()).open();
    let bytes: Vec<u8> = batches.iter().flat_map(|(_, b)| b.clone()).collect();
    assert_eq!(follower.append_replica(&bytes).expect("replica append"), 9);
    assert_eq!(read_all(&follower, 0, ReadBound::LogEnd), batches);
    assert_eq!(follower.end_offset_for_epoch(3), (3, 8));
    assert_eq!(follower.end_offset_for_epoch(4), (3, 8));
    assert_eq!(follower.end_offset_for_epoch(5), (5, 9));
    assert_eq!(follower.end_offset_for_epoch(2), (2, 0), "an older epoch ends where the first starts");
    assert_eq!(SimLog::new(config()).open().end_offset_for_epoch(2), (UNDEFINED, UNDEFINED_OFFSET));

    // A new leader notes its epoch at once, so a follower holding an older epoch that the
    // leader never had learns to truncate it away.
    let empty_leader = SimLog::new(config()).open();
    empty_leader.set_leader_epoch(8).unwrap();
    assert_eq!(empty_leader.end_offset_for_epoch(5), (5, 0));
    assert_eq!(empty_leader.latest_epoch(), 8);
    // Demoted before writing in it, the epoch goes at the next truncation, even one to the end.
    empty_leader.truncate_to(0).unwrap();
    assert_eq!(empty_leader.latest_epoch(), UNDEFINED);

    // A batch that does not continue the log is refused, and nothing is written.
    let err = follower.append_replica(&batches[0].1).expect_err("offset 0 again");
    assert!(matches!(err, LogError::ReplicaOffsetMismatch { expected: 9, found: 0 }), "{err}");
    assert_eq!(follower.log_end_offset(), 9);
}

/// The high watermark stays within the replication floor; readers see nothing above it, and
/// an offset between it and the log end reads as empty (not out of range), as in Kafka.
#[test]
fn floor_bounds_the_high_watermark() {
    let log = SimLog::new(config()).open();
    log.start_replication();
    for tag in 0..3 {
        log.append(tagged_batch(NOW, 2, tag, 30), Durability::Async).expect("append");
    }
    assert_eq!(log.high_watermark(), 0, "nothing replicated yet");
    assert!(log.read(0, 1 << 20, ReadBound::HighWatermark).expect("read").is_empty());
    assert!(log.read(4, 1 << 20, ReadBound::HighWatermark).expect("read between HW and end").is_empty());
    assert!(log.read(7, 1 << 20, ReadBound::HighWatermark).is_err(), "past the end");
    assert_eq!(log.set_replication_floor(4), 4);
    assert_eq!(read_all(&log, 0, ReadBound::HighWatermark).len(), 2);
    assert_eq!(log.set_replication_floor(2), 4, "never backwards");
    assert_eq!(log.set_replication_floor(i64::MAX), 6, "at most the log end");
}

/// Under `flush.on.ack` the floor and the sync both bound it; after a restart a replicated log
/// starts from the high watermark its checkpoint saved, not from everything it holds.
#[test]
fn restart_exposes_only_the_saved_high_watermark() {
    let t = SimLog::new(small_config());
    let log = t.open();
    log.start_replication();
    for tag in 0..3 {
        log.append(tagged_batch(NOW, 2, tag, 30), Durability::Sync).expect("append");
    }
    assert_eq!(log.set_replication_floor(2), 0, "not synced yet");
    log.sync().expect("sync");
    assert_eq!(log.high_watermark(), 2);
    log.close().expect("close");
    drop(log);
    let log = t.open();
    assert_eq!(log.high_watermark(), 6, "a log that is not replicated exposes what it holds");
    log.start_replication();
    assert_eq!(log.high_watermark(), 2, "a replica exposes what was committed");
}

/// Truncation forgets the epochs that started in the cut part, also across a restart.
#[test]
fn truncation_forgets_epochs() {
    let t = SimLog::new(config());
    let log = t.open();
    log.append(tagged_batch(NOW, 2, 0, 30), Durability::Async).expect("append");
    log.set_leader_epoch(7).unwrap();
    log.append(tagged_batch(NOW, 2, 1, 30), Durability::Async).expect("append");
    assert_eq!(log.latest_epoch(), 7);
    log.sync().expect("sync");
    log.truncate_to(2).expect("truncate");
    assert_eq!((log.latest_epoch(), log.log_end_offset()), (0, 2));
    drop(log);
    let log = t.open();
    assert_eq!(log.end_offset_for_epoch(7), (0, 2));
    log.truncate_fully_and_start_at(10).expect("start over");
    assert_eq!(log.latest_epoch(), UNDEFINED);
}
