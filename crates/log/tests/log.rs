//! Behaviour of one partition log through its public API, on the simulated disk and on real
//! files.

mod common;

use std::path::{Path, PathBuf};

use brook_log::batch::{BatchHeader, build};
use brook_log::{Durability, Flusher, Log, LogConfig, LogEnv, LogError, ReadBound, TimestampLookup, TimestampType};
use common::*;

/// Offsets are assigned in order, batches are stored byte for byte apart from the base
/// offset, and readers see them only once synced.
#[test]
fn append_assigns_offsets_and_hides_unsynced_data() {
    let t = SimLog::new(small_config());
    let log = t.open();
    let sent: Vec<_> = (0..5).map(|i| tagged_batch(1_000 + i, 3, i as u8, 20)).collect();
    for (i, batch) in sent.iter().enumerate() {
        let appended = log.append(batch.clone(), Durability::Async).expect("append");
        assert_eq!(appended.base_offset, 3 * i as i64);
        assert_eq!(appended.last_offset, 3 * i as i64 + 2);
        assert_eq!(appended.log_append_time_ms, -1);
    }
    assert_eq!(log.log_end_offset(), 15);
    assert_eq!(log.high_watermark(), 0, "nothing synced yet");
    assert!(log.read(0, 1 << 20, ReadBound::HighWatermark).expect("read").is_empty());
    assert_eq!(read_all(&log, 0, ReadBound::LogEnd).len(), 5, "followers read past the high watermark");
    log.sync().expect("sync");
    assert_eq!(log.high_watermark(), 15);
    let stored = read_all(&log, 0, ReadBound::HighWatermark);
    for (i, ((header, bytes), batch)) in stored.iter().zip(&sent).enumerate() {
        assert_eq!(header.base_offset, 3 * i as i64);
        assert!(same_batch(bytes, batch), "batch {i} changed beyond its base offset");
    }
}

/// Kafka's behaviour on request: with `flush.on.ack=false` readers see data once written.
#[test]
fn flush_on_ack_off_exposes_on_write() {
    let t = SimLog::new(LogConfig { flush_on_ack: false, ..small_config() });
    let log = t.open();
    log.append(tagged_batch(0, 2, 1, 10), Durability::Sync).expect("append");
    assert_eq!(log.high_watermark(), 2);
    assert_eq!(read_all(&log, 0, ReadBound::HighWatermark).len(), 1);
}

/// Reads start at the batch holding the offset, stay within `max_bytes` in whole batches,
/// but always return the first batch whole.
#[test]
fn reads_follow_kafka_semantics() {
    let t = SimLog::new(LogConfig { segment_bytes: 1 << 20, ..small_config() });
    let log = t.open();
    let batch = tagged_batch(0, 4, 7, 50);
    let size = batch.len();
    for _ in 0..10 {
        log.append(batch.clone(), Durability::Async).expect("append");
    }
    log.sync().expect("sync");
    let mid = split_batches(&log.read(6, 1 << 20, ReadBound::HighWatermark).expect("read"));
    assert_eq!(mid[0].0.base_offset, 4, "a read from mid-batch starts at the batch holding it");
    assert_eq!(mid.len(), 9);
    let limited = log.read(0, 2 * size + size / 2, ReadBound::HighWatermark).expect("read");
    assert_eq!(split_batches(&limited).len(), 2, "only whole batches within max_bytes");
    let tiny = log.read(8, 1, ReadBound::HighWatermark).expect("read");
    assert_eq!(split_batches(&tiny).len(), 1, "the first batch comes whole past max_bytes");
    assert!(log.read(40, 100, ReadBound::HighWatermark).expect("read at the end").is_empty());
    let err = log.read(41, 100, ReadBound::HighWatermark).expect_err("past the end");
    assert!(matches!(err, LogError::OffsetOutOfRange { offset: 41, upper_bound: 40, .. }));
    assert_eq!(err.kafka_error_code(), 1);
}

/// Segments roll by size into Kafka-named files, and reads walk across them.
#[test]
fn segments_roll_by_size_with_kafka_file_names() {
    let dir = tempfile::tempdir().expect("tempdir");
    let flusher = Flusher::start();
    let log = Log::open(dir.path(), small_config(), LogEnv::os(&flusher)).expect("open");
    let mut last = 0;
    for i in 0..30u8 {
        last = log.append(tagged_batch(0, 2, i, 40), Durability::Async).expect("append").last_offset;
    }
    log.close().expect("close");
    assert!(log.segment_count() > 3, "1000-byte segments must have rolled");
    let mut names: Vec<String> = std::fs::read_dir(dir.path())
        .expect("ls")
        .map(|e| e.expect("entry").file_name().into_string().expect("utf8"))
        .collect();
    names.sort();
    assert!(names.contains(&"00000000000000000000.log".to_string()), "{names:?}");
    assert!(names.iter().filter(|n| n.ends_with(".log")).all(|n| n.len() == 24), "{names:?}");
    assert!(names.iter().any(|n| n.ends_with(".index")));
    assert!(names.iter().any(|n| n.ends_with(".timeindex")));
    let all = read_all(&log, 0, ReadBound::HighWatermark);
    assert_eq!(all.len(), 30);
    assert_eq!(all.last().expect("batches").0.last_offset(), last);
}

/// `segment.ms` rolls a segment once its first batch is old enough (by batch timestamps, as
/// Kafka counts it).
#[test]
fn segments_roll_by_age() {
    let t = SimLog::new(LogConfig { segment_ms: 60_000, segment_bytes: 1 << 20, ..small_config() });
    let log = t.open();
    log.append(tagged_batch(1_000, 1, 1, 10), Durability::Async).expect("append");
    log.append(tagged_batch(30_000, 1, 2, 10), Durability::Async).expect("append");
    assert_eq!(log.segment_count(), 1);
    log.append(tagged_batch(61_000, 1, 3, 10), Durability::Async).expect("append");
    assert_eq!(log.segment_count(), 2);
}

/// Bad batches are refused with Kafka's codes and leave the log untouched.
#[test]
fn bad_batches_are_refused_without_damage() {
    let t = SimLog::new(LogConfig { max_message_bytes: 500, ..small_config() });
    let log = t.open();
    log.append(tagged_batch(0, 1, 1, 10), Durability::Async).expect("append");
    let mut corrupt = tagged_batch(0, 1, 2, 10).to_vec();
    let last = corrupt.len() - 1;
    corrupt[last] ^= 0xff;
    let err = log.append(corrupt.into(), Durability::Async).expect_err("corrupt");
    assert_eq!(err.kafka_error_code(), 2);
    let err = log.append(tagged_batch(0, 1, 3, 600), Durability::Async).expect_err("too large");
    assert_eq!(err.kafka_error_code(), 10);
    let err = log.append(bytes::Bytes::from_static(b"short"), Durability::Async).expect_err("garbage");
    assert_eq!(err.kafka_error_code(), 2);
    assert_eq!(log.log_end_offset(), 1);
    log.sync().expect("sync");
    assert_eq!(read_all(&log, 0, ReadBound::HighWatermark).len(), 1);
}

/// LogAppendTime topics carry the broker's clock in each batch, with a valid CRC.
#[test]
fn log_append_time_stamps_batches() {
    let t = SimLog::new(LogConfig { message_timestamp_type: TimestampType::LogAppendTime, ..small_config() });
    let log = t.open();
    let now = NOW;
    let appended = log.append(tagged_batch(5, 2, 1, 10), Durability::Async).expect("append");
    assert_eq!(appended.log_append_time_ms, now);
    log.sync().expect("sync");
    let stored = read_all(&log, 0, ReadBound::HighWatermark);
    let (header, bytes) = &stored[0];
    assert!(header.is_log_append_time());
    assert_eq!(header.max_timestamp, now);
    brook_log::batch::validate(bytes, 1 << 20).expect("stored batch has a valid CRC");
}

/// Lookup by timestamp finds the first record at or after the target, across segments.
#[test]
fn offset_for_timestamp() {
    let t = SimLog::new(small_config());
    let log = t.open();
    for i in 0..20 {
        // Records at 1000*i + 0, +1, +2.
        log.append(tagged_batch(1_000 * i, 3, i as u8, 30), Durability::Async).expect("append");
    }
    log.sync().expect("sync");
    assert!(log.segment_count() > 2);
    let found = |ts| match log.offset_for_timestamp(ts).expect("lookup") {
        Some(TimestampLookup::Found { offset, timestamp }) => Some((offset, timestamp)),
        other => panic!("unexpected {other:?}"),
    };
    assert_eq!(found(0), Some((0, 0)));
    assert_eq!(found(5_001), Some((16, 5_001)));
    assert_eq!(found(5_003), Some((18, 6_000)));
    assert_eq!(found(19_002), Some((59, 19_002)));
    assert_eq!(log.offset_for_timestamp(19_003).expect("lookup"), None);
}

/// Truncation removes the batch holding the offset and everything after, across segments,
/// and the log continues from there after a reopen.
#[test]
fn truncate_to_offset() {
    let t = SimLog::new(small_config());
    let log = t.open();
    for i in 0..20u8 {
        log.append(tagged_batch(0, 2, i, 30), Durability::Async).expect("append");
    }
    log.sync().expect("sync");
    log.truncate_to(15).expect("truncate");
    assert_eq!(log.log_end_offset(), 14, "the batch holding 15 starts at 14");
    assert_eq!(log.high_watermark(), 14);
    let appended = log.append(tagged_batch(0, 1, 99, 5), Durability::Async).expect("append");
    assert_eq!(appended.base_offset, 14);
    log.sync().expect("sync");
    let reopened = t.open();
    let all = read_all(&reopened, 0, ReadBound::HighWatermark);
    assert_eq!(all.len(), 8);
    assert_eq!(all.last().expect("batches").0.base_offset, 14);
    assert!(matches!(log.truncate_to(-1), Err(LogError::OffsetOutOfRange { .. })));
}

/// Truncating fully empties the log and restarts it at any offset, above or below its old end;
/// the new start survives a power cut and appends continue from it.
#[test]
fn truncate_fully_and_start_at() {
    let t = SimLog::new(small_config());
    let log = t.open();
    for i in 0..20u8 {
        log.append(tagged_batch(0, 2, i, 30), Durability::Async).expect("append");
    }
    log.sync().expect("sync");
    assert!(log.segment_count() > 1);
    log.truncate_fully_and_start_at(1_000).expect("reset");
    assert_eq!((log.log_start_offset(), log.high_watermark(), log.log_end_offset()), (1_000, 1_000, 1_000));
    assert_eq!(log.segment_count(), 1);
    assert!(read_all(&log, 1_000, ReadBound::LogEnd).is_empty());
    t.sim.power_cut(7);
    let reopened = t.open();
    assert_eq!((reopened.log_start_offset(), reopened.log_end_offset()), (1_000, 1_000));
    let appended = reopened.append(tagged_batch(0, 3, 1, 5), Durability::Async).expect("append");
    assert_eq!(appended.base_offset, 1_000);
    reopened.truncate_fully_and_start_at(5).expect("reset below");
    assert_eq!((reopened.log_start_offset(), reopened.log_end_offset()), (5, 5));
    assert!(matches!(reopened.read(4, 100, ReadBound::LogEnd), Err(LogError::OffsetOutOfRange { .. })));
}

/// DeleteRecords moves the log start durably, deletes whole segments below it, and refuses
/// offsets past the high watermark.
#[test]
fn delete_records_moves_log_start() {
    let t = SimLog::new(small_config());
    let log = t.open();
    for i in 0..30u8 {
        log.append(tagged_batch(NOW, 2, i, 30), Durability::Async).expect("append");
    }
    log.sync().expect("sync");
    let segments = log.segment_count();
    assert_eq!(log.delete_records(41).expect("delete"), 41);
    assert_eq!(log.log_start_offset(), 41);
    assert_eq!(log.segment_count(), segments, "segments go at the next retention pass");
    assert!(log.enforce_retention().expect("retention") > 0);
    assert!(log.segment_count() < segments);
    assert!(matches!(log.read(39, 100, ReadBound::HighWatermark), Err(LogError::OffsetOutOfRange { .. })));
    let first = split_batches(&log.read(41, 100, ReadBound::HighWatermark).expect("read"));
    assert_eq!(first[0].0.base_offset, 40);
    assert!(matches!(log.delete_records(61), Err(LogError::OffsetOutOfRange { .. })));
    drop(log);
    t.sim.power_cut(7);
    assert_eq!(t.open().log_start_offset(), 41, "the log start survives a power cut");
}

/// Retention deletes old or excess inactive segments, never the active one.
#[test]
fn retention_by_time_and_size() {
    let config = LogConfig { retention_ms: 10_000, ..small_config() };
    let t = SimLog::new(config.clone());
    let log = t.open();
    let now = NOW;
    for i in 0..20i64 {
        log.append(tagged_batch(now + i * 1_000, 2, i as u8, 30), Durability::Async).expect("append");
    }
    log.sync().expect("sync");
    let before = log.segment_count();
    assert_eq!(log.enforce_retention().expect("retention"), 0, "nothing is older than 10 s yet");
    t.clock.advance(25_000); // now = start + 25 s: batches before start + 15 s have expired
    let deleted = log.enforce_retention().expect("retention");
    assert!(deleted > 0 && deleted < before, "deleted {deleted} of {before}");
    let start = log.log_start_offset();
    let first = split_batches(&log.read(start, 100, ReadBound::HighWatermark).expect("read"));
    assert!(first[0].0.max_timestamp >= now + 10_000, "kept a segment holding data newer than 15 s");
    t.clock.advance(1_000_000);
    log.enforce_retention().expect("retention");
    assert_eq!(log.segment_count(), 1, "the active segment stays");
    let start = log.log_start_offset();
    let first = split_batches(&log.read(start, 100, ReadBound::HighWatermark).expect("read"));
    assert_eq!(first[0].0.base_offset, start, "the log starts at the active segment's base");

    let t = SimLog::new(LogConfig { retention_bytes: 2_500, ..small_config() });
    let log = t.open();
    for i in 0..40u8 {
        log.append(tagged_batch(NOW, 2, i, 30), Durability::Async).expect("append");
    }
    log.sync().expect("sync");
    log.enforce_retention().expect("retention");
    assert!(log.size_bytes() <= 2_500 + 1_000, "size {} stays within retention.bytes + a segment", log.size_bytes());
    assert!(log.size_bytes() >= 2_500 - 1_000);
}

/// A clean shutdown lets the next open trust the files without scanning them; after a crash
/// the tail since the last checkpoint is verified and a damaged batch there is cut off.
#[test]
fn clean_shutdown_skips_the_scan_crash_does_not() {
    let t = SimLog::new(LogConfig { segment_bytes: 1 << 20, ..small_config() });
    let log = t.open();
    for i in 0..10u8 {
        log.append(tagged_batch(0, 1, i, 30), Durability::Async).expect("append");
    }
    log.close().expect("close");
    drop(log);
    let segment = Path::new(DIR).join("00000000000000000000.log");
    let mut data = t.sim.contents(&segment).expect("segment");
    let last = data.len() - 1;
    data[last] ^= 1; // damage the last batch's payload
    t.sim.set_contents(&segment, data.clone());
    assert_eq!(t.open().log_end_offset(), 10, "a clean open trusts what it synced and checkpointed");

    let t = SimLog::new(LogConfig { segment_bytes: 1 << 20, ..small_config() });
    let log = t.open();
    for i in 0..10u8 {
        log.append(tagged_batch(0, 1, i, 30), Durability::Async).expect("append");
    }
    log.sync().expect("sync");
    drop(log); // a crash: no checkpoint at the end
    t.sim.set_contents(&segment, data);
    let log = t.open();
    assert_eq!(log.log_end_offset(), 9, "recovery cuts the corrupt last batch");
    assert_eq!(log.high_watermark(), 9);
}

/// Deleted or damaged index files are rebuilt, and lookups still land correctly.
#[test]
fn missing_and_damaged_indexes_are_rebuilt() {
    let t = SimLog::new(small_config());
    let log = t.open();
    for i in 0..30u8 {
        log.append(tagged_batch(1_000 * i64::from(i), 2, i, 30), Durability::Async).expect("append");
    }
    log.close().expect("close");
    drop(log);
    let first_index = Path::new(DIR).join("00000000000000000000.index");
    let time_index = Path::new(DIR).join("00000000000000000000.timeindex");
    assert!(!t.sim.contents(&first_index).expect("index saved").is_empty());
    let mut damaged = t.sim.contents(&first_index).expect("index");
    damaged.truncate(damaged.len() - 3);
    t.sim.set_contents(&first_index, damaged);
    t.sim.set_contents(&time_index, vec![0xff; 12]);
    let log = t.open();
    for offset in 0..60 {
        let batches = split_batches(&log.read(offset, 1, ReadBound::HighWatermark).expect("read"));
        assert!(batches[0].0.base_offset <= offset && offset <= batches[0].0.last_offset());
    }
    assert_eq!(
        log.offset_for_timestamp(3_000).expect("lookup"),
        Some(TimestampLookup::Found { offset: 6, timestamp: 3_000 })
    );
    assert_eq!(t.sim.contents(&first_index).expect("index").len() % 8, 0, "the index file was rewritten");
}

/// A failing disk takes the log offline with KAFKA_STORAGE_ERROR; waiters are released.
#[test]
fn storage_errors_take_the_log_offline() {
    let t = SimLog::new(small_config());
    let log = t.open();
    let appended = log.append(tagged_batch(0, 1, 1, 10), Durability::Sync).expect("append");
    t.sim.set_failing(true);
    let err = log.sync().expect_err("sync must fail");
    assert_eq!(err.kafka_error_code(), 56);
    let waited = pollster::block_on(log.wait_for_high_watermark(appended.last_offset + 1));
    assert_eq!(waited.expect_err("offline").kafka_error_code(), 56);
    let err = log.append(tagged_batch(0, 1, 2, 10), Durability::Async).expect_err("offline");
    assert_eq!(err.kafka_error_code(), 56);
    t.sim.set_failing(false);
    let reopened = t.open();
    assert!(reopened.append(tagged_batch(0, 1, 3, 10), Durability::Async).is_ok(), "reopening brings it back");
}

/// Group commit: concurrent durable writers all get their data synced, sharing fdatasyncs.
#[test]
fn group_commit_shares_syncs() {
    let t = SimLog::new(LogConfig { segment_bytes: 1 << 30, ..LogConfig::default() });
    let flusher = Flusher::start();
    let env = LogEnv::new(t.sim.clone(), t.clock.clone(), Some(&flusher));
    let log = Log::open(Path::new(DIR), t.config.clone(), env).expect("open");
    let syncs_before = t.sim.sync_count();
    let writers = 8;
    let per_writer = 200;
    std::thread::scope(|scope| {
        for w in 0..writers {
            let log = log.clone();
            scope.spawn(move || {
                for _ in 0..per_writer {
                    let appended = log.append(tagged_batch(0, 1, w, 1_000), Durability::Sync).expect("append");
                    pollster::block_on(log.wait_for_high_watermark(appended.last_offset + 1)).expect("durable");
                    assert!(log.high_watermark() > appended.last_offset);
                }
            });
        }
    });
    let syncs = t.sim.sync_count() - syncs_before;
    let appends = u64::from(writers) * per_writer;
    assert_eq!(log.high_watermark(), appends as i64);
    assert!(syncs < appends, "{syncs} syncs for {appends} durable appends: no group commit");
    drop(flusher);
}

/// A round of many logs is covered by syncing their file system once, not by a sync per log,
/// and what it made visible survives a power cut.
#[test]
fn group_commit_of_many_logs_syncs_their_file_system() {
    let t = SimLog::new(LogConfig { flush_max_delay_ms: 200, ..small_config() });
    let flusher = Flusher::start();
    let env = LogEnv::new(t.sim.clone(), t.clock.clone(), Some(&flusher));
    let dir = |i: usize| PathBuf::from(format!("/data/many-{i}"));
    let logs: Vec<Log> = (0..300).map(|i| Log::open(&dir(i), t.config.clone(), env.clone()).expect("open")).collect();
    let append_to_all = |tag: u8| {
        let ends: Vec<i64> = logs
            .iter()
            .map(|log| log.append(tagged_batch(NOW, 2, tag, 10), Durability::Async).expect("append").last_offset + 1)
            .collect();
        for (log, end) in logs.iter().zip(ends) {
            pollster::block_on(log.wait_for_high_watermark(end)).expect("synced");
        }
    };
    // The first batch of each log also saves its leader epoch, with a sync of its own.
    append_to_all(1);
    let before = t.sim.sync_count();
    append_to_all(2);
    let syncs = t.sim.sync_count() - before;
    assert!(syncs < logs.len() as u64 / 2, "{syncs} syncs for {} logs: no shared sync", logs.len());
    drop(logs);
    drop(flusher);
    t.sim.power_cut(11);
    for i in 0..300 {
        let log = Log::open(&dir(i), t.config.clone(), t.env()).expect("reopen");
        assert_eq!(read_all(&log, 0, ReadBound::LogEnd).len(), 2, "log {i} lost an acknowledged batch");
    }
}

/// A batch larger than a read's `max_bytes` still comes back whole.
#[test]
fn large_first_batch_and_built_batches_are_consistent() {
    let t = SimLog::new(LogConfig { segment_bytes: 1 << 20, max_message_bytes: 1 << 20, ..small_config() });
    let log = t.open();
    let big = build::simple(0, 10, 10_000);
    log.append(big.clone(), Durability::Async).expect("append");
    log.sync().expect("sync");
    let read = log.read(3, 100, ReadBound::HighWatermark).expect("read");
    assert!(same_batch(&read, &big));
    assert_eq!(BatchHeader::parse(&read).expect("header").records_count, 10);
}

/// Without a durable append, the group commit still syncs within `log.flush.max.delay.ms`,
/// and only then do readers see the data.
#[test]
fn group_commit_syncs_buffered_appends_soon() {
    let t = SimLog::new(LogConfig { flush_max_delay_ms: 20, ..small_config() });
    let flusher = Flusher::start();
    let log = Log::open(Path::new(DIR), t.config.clone(), LogEnv::new(t.sim.clone(), t.clock.clone(), Some(&flusher)))
        .expect("open");
    let appended = log.append(tagged_batch(NOW, 2, 1, 10), Durability::Async).expect("append");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    pollster::block_on(log.wait_for_high_watermark(appended.last_offset + 1)).expect("synced");
    assert!(std::time::Instant::now() < deadline);
    assert_eq!(read_all(&log, 0, ReadBound::HighWatermark).len(), 1);
}

/// Kafka's `flush.messages` keeps its meaning: with Kafka's page-cache behaviour and a very
/// long group-commit delay, a sync is forced once that many records are unsynced, not before.
#[test]
fn flush_messages_forces_a_sync() {
    let config = LogConfig { flush_on_ack: false, flush_max_delay_ms: 3_600_000, flush_messages: 5, ..small_config() };
    let t = SimLog::new(config);
    let flusher = Flusher::start();
    let log = Log::open(Path::new(DIR), t.config.clone(), LogEnv::new(t.sim.clone(), t.clock.clone(), Some(&flusher)))
        .expect("open");
    log.append(tagged_batch(NOW, 2, 1, 10), Durability::Async).expect("append");
    // Counted after the first append, whose new leader epoch saved the epoch cache.
    let before = t.sim.sync_count();
    log.append(tagged_batch(NOW, 2, 2, 10), Durability::Async).expect("append");
    assert_eq!(log.high_watermark(), 4, "exposed on write without flush.on.ack");
    // An absence cannot be awaited: give a wrong sync a moment to happen.
    std::thread::sleep(std::time::Duration::from_millis(50));
    assert_eq!(t.sim.sync_count(), before, "4 records are below flush.messages: no sync yet");
    log.append(tagged_batch(NOW, 2, 3, 10), Durability::Async).expect("append");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while t.sim.sync_count() == before {
        assert!(std::time::Instant::now() < deadline, "flush.messages did not force a sync");
        std::thread::yield_now();
    }
}

/// CreateTime batches outside `message.timestamp.before/after.max.ms` get INVALID_TIMESTAMP and
/// are not appended; LogAppendTime topics ignore producer timestamps.
#[test]
fn timestamps_out_of_range_are_refused() {
    let config = LogConfig { message_timestamp_before_max_ms: 60_000, ..small_config() };
    let t = SimLog::new(config);
    let log = t.open();
    let hour = 3_600_000;
    let err = log.append(tagged_batch(NOW + hour + 1, 1, 1, 1), Durability::Async).expect_err("too far ahead");
    assert_eq!(err.kafka_error_code(), 32);
    let err = log.append(tagged_batch(NOW - 60_001, 1, 1, 1), Durability::Async).expect_err("too old");
    assert_eq!(err.kafka_error_code(), 32);
    assert_eq!(log.log_end_offset(), 0);
    log.append(tagged_batch(NOW + hour, 1, 1, 1), Durability::Async).expect("at the bound");
    let t = SimLog::new(LogConfig { message_timestamp_type: TimestampType::LogAppendTime, ..small_config() });
    t.open().append(tagged_batch(NOW + 10 * hour, 1, 1, 1), Durability::Async).expect("log-append time");
}

/// Only the active segment's indexes stay in memory: once sealed segments' indexes are saved,
/// lookups search their files, so memory does not grow with the log. Reads at any offset,
/// timestamp lookups, a reopen and a truncation into a sealed segment all still find the
/// right batches.
#[test]
fn sealed_segments_indexes_stay_on_disk() {
    let t = SimLog::new(LogConfig { segment_bytes: 2_000, index_interval_bytes: 100, ..small_config() });
    let log = t.open();
    for i in 0..400u32 {
        log.append(tagged_batch(NOW + i64::from(i) * 10, 2, (i % 250) as u8, 30), Durability::Async).expect("append");
        if i % 50 == 49 {
            log.sync().expect("sync");
        }
    }
    log.sync().expect("sync");
    log.close().expect("checkpoint");
    let segments = log.segment_count();
    assert!(segments > 20, "{segments} segments");
    let per_segment = 2_000 / 100 * 2;
    assert!(log.resident_index_entries() <= per_segment, "{} entries in memory", log.resident_index_entries());
    let check = |log: &Log| {
        for offset in (0..800).step_by(7) {
            let read = split_batches(&log.read(offset, 1, ReadBound::HighWatermark).expect("read"));
            let first = &read[0].0;
            assert!(first.base_offset <= offset && offset <= first.last_offset(), "offset {offset}: {first:?}");
            let timestamp = NOW + offset / 2 * 10;
            match log.offset_for_timestamp(timestamp).expect("lookup") {
                Some(TimestampLookup::Found { offset: found, timestamp: at }) => {
                    assert_eq!((found, at), (offset / 2 * 2, timestamp), "timestamp {timestamp}")
                }
                other => panic!("timestamp {timestamp}: {other:?}"),
            }
        }
    };
    check(&log);
    let reopened = t.open();
    assert!(reopened.resident_index_entries() <= per_segment, "after reopening");
    check(&reopened);
    // Cut into the middle of an early segment: it becomes the active one and takes appends.
    reopened.truncate_to(101).expect("truncate");
    assert_eq!(reopened.log_end_offset(), 100);
    let appended = reopened.append(tagged_batch(NOW, 2, 9, 30), Durability::Async).expect("append");
    assert_eq!(appended.base_offset, 100);
    reopened.sync().expect("sync");
    let read = split_batches(&reopened.read(99, 1 << 20, ReadBound::HighWatermark).expect("read"));
    assert_eq!(read.iter().map(|(h, _)| h.base_offset).collect::<Vec<_>>(), [98, 100]);
}

/// A shutdown of many logs writes their checkpoints and indexes without syncing each
/// (`close_unsynced`) and then syncs the file system once. A power cut before that sync may
/// tear or empty those files at any point: every log still reopens with all its synced data,
/// readable; after the sync, a reopen trusts the checkpoint and scans nothing.
#[test]
fn unsynced_close_survives_a_power_cut_before_the_sync() {
    for seed in 0..40 {
        let t = SimLog::new(LogConfig { segment_bytes: 600, ..small_config() });
        let log = t.open();
        for i in 0..20u8 {
            log.append(tagged_batch(NOW, 2, i, 30), Durability::Async).expect("append");
        }
        log.sync().expect("sync");
        log.close().expect("close");
        // More data and a second close, so the checkpoint and indexes change on the cut.
        let log = t.open();
        for i in 20..30u8 {
            log.append(tagged_batch(NOW, 2, i, 30), Durability::Async).expect("append");
        }
        log.close_unsynced().expect("close");
        drop(log);
        t.sim.power_cut(seed);
        let log = t.open();
        assert_eq!(log.log_end_offset(), 60, "seed {seed}: synced data kept");
        assert_eq!(read_all(&log, 0, ReadBound::HighWatermark).len(), 30, "seed {seed}");
        for offset in (0..60).step_by(7) {
            let read = split_batches(&log.read(offset, 1, ReadBound::HighWatermark).expect("read"));
            assert!(read[0].0.base_offset <= offset && offset <= read[0].0.last_offset(), "seed {seed} @{offset}");
        }
    }
    let t = SimLog::new(LogConfig { segment_bytes: 600, ..small_config() });
    let log = t.open();
    for i in 0..30u8 {
        log.append(tagged_batch(NOW, 2, i, 30), Durability::Async).expect("append");
    }
    log.close_unsynced().expect("close");
    use brook_log::storage::Storage;
    t.sim.sync_all(Path::new(DIR)).expect("sync all");
    drop(log);
    t.sim.power_cut(7);
    let segments: Vec<_> =
        t.sim.list_dir(Path::new(DIR)).expect("list").into_iter().filter(|n| n.ends_with(".log")).collect();
    let last = Path::new(DIR).join(segments.iter().max().expect("segments"));
    let mut data = t.sim.contents(&last).expect("segment");
    let end = data.len() - 1;
    data[end] ^= 1;
    t.sim.set_contents(&last, data);
    assert_eq!(t.open().log_end_offset(), 60, "after the sync the checkpoint is trusted: nothing rescanned");
}
