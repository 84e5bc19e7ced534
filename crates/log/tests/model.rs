//! Property test: random appends, reads, syncs, truncations, DeleteRecords, retention, clean
//! and unclean reopens and power cuts on the simulated disk, checked against a plain `Vec` of
//! batches. The durability promise is checked at every power cut: every append that returned
//! as durable survives, and the high watermark never exceeded what survived.

mod common;

use brook_log::{Durability, LogConfig, ReadBound};
use bytes::Bytes;
use common::*;
use proptest::prelude::*;
use proptest::test_runner::FileFailurePersistence;

#[derive(Debug, Clone)]
enum Op {
    Append {
        records: usize,
        value_len: usize,
        durable: bool,
    },
    Sync,
    Read {
        pick: u16,
        max_bytes: usize,
        follower: bool,
    },
    Truncate {
        pick: u16,
    },
    DeleteRecords {
        pick: u16,
    },
    Retention,
    CloseAndReopen,
    /// kill -9: the process dies, the page cache survives.
    CrashAndReopen,
    /// The machine dies: unsynced writes are lost, the last may be torn.
    PowerCut {
        seed: u64,
    },
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        8 => (1..6usize, 0..300usize, any::<bool>())
            .prop_map(|(records, value_len, durable)| Op::Append { records, value_len, durable }),
        2 => Just(Op::Sync),
        4 => (any::<u16>(), 1..3_000usize, any::<bool>())
            .prop_map(|(pick, max_bytes, follower)| Op::Read { pick, max_bytes, follower }),
        1 => any::<u16>().prop_map(|pick| Op::Truncate { pick }),
        1 => any::<u16>().prop_map(|pick| Op::DeleteRecords { pick }),
        1 => Just(Op::Retention),
        1 => Just(Op::CloseAndReopen),
        1 => Just(Op::CrashAndReopen),
        2 => any::<u64>().prop_map(|seed| Op::PowerCut { seed }),
    ]
}

/// What the log should hold.
#[derive(Default)]
struct Model {
    /// Batches as sent, with the base offset they were given.
    batches: Vec<(i64, Bytes)>,
    log_start_offset: i64,
    /// How many leading batches are known to be durable.
    durable: usize,
}

impl Model {
    fn end(&self) -> i64 {
        self.batches.last().map_or(0, |(base, b)| base + count(b))
    }

    /// The index of the batch holding `offset`.
    fn holding(&self, offset: i64) -> usize {
        self.batches.partition_point(|(base, b)| base + count(b) <= offset)
    }
}

fn count(batch: &[u8]) -> i64 {
    i64::from(brook_log::batch::BatchHeader::parse(batch).expect("header").records_count)
}

fn pick_in(pick: u16, low: i64, high: i64) -> i64 {
    low + (i64::from(pick) * (high - low + 1)) / (i64::from(u16::MAX) + 1)
}

fn run(config: LogConfig, ops: Vec<Op>) -> Result<(), TestCaseError> {
    let t = SimLog::new(config);
    let mut log = t.open();
    let mut model = Model::default();
    let mut tag = 0u8;
    for op in ops {
        match op {
            Op::Append { records, value_len, durable } => {
                tag = tag.wrapping_add(1);
                let batch = tagged_batch(NOW, records, tag, value_len);
                let mode = if durable { Durability::Sync } else { Durability::Async };
                let appended = log.append(batch.clone(), mode).expect("append");
                prop_assert_eq!(appended.base_offset, model.end());
                model.batches.push((appended.base_offset, batch));
                if durable {
                    // Without a flusher, a durable append's wait is the caller's sync.
                    log.sync().expect("sync");
                    model.durable = model.batches.len();
                    prop_assert!(log.high_watermark() > appended.last_offset);
                }
            }
            Op::Sync => {
                log.sync().expect("sync");
                model.durable = model.batches.len();
                prop_assert_eq!(log.high_watermark(), model.end());
            }
            Op::Read { pick, max_bytes, follower } => {
                let bound = if follower { ReadBound::LogEnd } else { ReadBound::HighWatermark };
                let upper = if follower { log.log_end_offset() } else { log.high_watermark() };
                let offset = pick_in(pick, model.log_start_offset, upper);
                let bytes = log.read(offset, max_bytes, bound).expect("read");
                let got = split_batches(&bytes);
                if offset == upper {
                    prop_assert!(got.is_empty());
                    continue;
                }
                prop_assert!(!got.is_empty(), "nothing read at {} below {}", offset, upper);
                prop_assert!(got.len() == 1 || bytes.len() <= max_bytes);
                let first = model.holding(offset);
                for (i, (header, stored)) in got.iter().enumerate() {
                    let (base, sent) = &model.batches[first + i];
                    prop_assert_eq!(header.base_offset, *base);
                    prop_assert!(same_batch(stored, sent), "batch at {} differs", base);
                    prop_assert!(header.last_offset() < upper);
                }
            }
            Op::Truncate { pick } => {
                let offset = pick_in(pick, model.log_start_offset, model.end());
                log.truncate_to(offset).expect("truncate");
                if offset < model.end() {
                    let keep = model.holding(offset);
                    model.batches.truncate(keep);
                    model.durable = model.durable.min(keep);
                    model.log_start_offset = model.log_start_offset.min(model.end());
                }
                prop_assert_eq!(log.log_end_offset(), model.end());
                prop_assert!(log.high_watermark() <= model.end());
            }
            Op::DeleteRecords { pick } => {
                let offset = pick_in(pick, model.log_start_offset, log.high_watermark());
                let start = log.delete_records(offset).expect("delete records");
                prop_assert_eq!(start, offset.max(model.log_start_offset));
                model.log_start_offset = start;
            }
            Op::Retention => {
                log.enforce_retention().expect("retention");
                let start = log.log_start_offset();
                prop_assert!(start >= model.log_start_offset);
                prop_assert!(start <= log.high_watermark());
                model.log_start_offset = start;
            }
            Op::CloseAndReopen => {
                log.close().expect("close");
                drop(log);
                log = t.open();
                model.durable = model.batches.len();
            }
            Op::CrashAndReopen => {
                drop(log);
                log = t.open();
                // Recovery syncs what it found, and the page cache had everything.
                model.durable = model.batches.len();
            }
            Op::PowerCut { seed } => {
                let high_watermark = log.high_watermark();
                drop(log);
                t.sim.power_cut(seed);
                log = t.open();
                let end = log.log_end_offset();
                let kept = model.holding(end);
                prop_assert!(kept >= model.durable, "lost durable data: {} batches kept of {}", kept, model.durable);
                prop_assert!(end >= high_watermark, "readers saw offset {} but only {} survived", high_watermark, end);
                prop_assert!(kept == model.batches.len() || model.batches[kept].0 == end, "cut mid-batch at {}", end);
                model.batches.truncate(kept);
                model.durable = kept;
                prop_assert_eq!(log.log_start_offset(), model.log_start_offset, "log start offset lost");
            }
        }
        prop_assert_eq!(log.log_end_offset(), model.end());
        prop_assert!(log.high_watermark() >= model.log_start_offset);
        prop_assert_eq!(log.log_start_offset(), model.log_start_offset);
    }
    // Finally everything still readable is exactly the model.
    log.sync().expect("sync");
    let stored = read_all(&log, model.log_start_offset, ReadBound::HighWatermark);
    let first = model.holding(model.log_start_offset);
    prop_assert_eq!(stored.len(), model.batches.len() - first);
    for ((header, bytes), (base, sent)) in stored.iter().zip(&model.batches[first..]) {
        prop_assert_eq!(header.base_offset, *base);
        prop_assert!(same_batch(bytes, sent));
    }
    Ok(())
}

fn config() -> impl Strategy<Value = LogConfig> {
    (300..3_000u32, prop_oneof![Just(0u32), 50..2_000u32], any::<bool>(), prop_oneof![Just(-1i64), 1_000..20_000i64])
        .prop_map(|(segment_bytes, index_interval_bytes, checkpoint_often, retention_bytes)| LogConfig {
            segment_bytes,
            index_interval_bytes,
            retention_bytes,
            recovery_checkpoint_interval_ms: if checkpoint_often { 0 } else { i64::MAX },
            ..LogConfig::default()
        })
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 1_000,
        failure_persistence: Some(Box::new(FileFailurePersistence::Direct("tests/model.proptest-regressions"))),
        ..ProptestConfig::default()
    })]

    /// The log matches the model through any sequence of operations, crashes and power cuts.
    #[test]
    fn log_matches_model(config in config(), ops in proptest::collection::vec(op(), 1..80)) {
        run(config, ops)?;
    }
}
