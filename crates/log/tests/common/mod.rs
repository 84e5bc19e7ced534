//! Helpers shared by the log's integration tests.
#![allow(dead_code, unreachable_pub)]

use std::path::Path;
use std::sync::Arc;

use brook_log::batch::{BatchHeader, build};
use brook_log::sim::SimStorage;
use brook_log::storage::Storage;
use brook_log::{Clock, Log, LogConfig, LogEnv, ManualClock, ReadBound};
use bytes::Bytes;

pub const DIR: &str = "/data/topic-0";
/// Where the manual clock starts.
pub const NOW: i64 = 1_700_000_000_000;

/// A log on the simulated disk with a manual clock and no flusher (tests call `sync`).
pub struct SimLog {
    pub sim: Arc<SimStorage>,
    pub clock: Arc<ManualClock>,
    pub config: LogConfig,
}

impl SimLog {
    pub fn new(config: LogConfig) -> SimLog {
        SimLog { sim: SimStorage::new(), clock: Arc::new(ManualClock::new(NOW)), config }
    }

    pub fn env(&self) -> LogEnv {
        let storage: Arc<dyn Storage> = self.sim.clone();
        let clock: Arc<dyn Clock> = self.clock.clone();
        LogEnv::new(storage, clock, None)
    }

    pub fn open(&self) -> Log {
        Log::open(Path::new(DIR), self.config.clone(), self.env()).expect("open log")
    }
}

/// Small segments and a dense index, so a few batches exercise rolling and index lookups.
pub fn small_config() -> LogConfig {
    LogConfig { segment_bytes: 1_000, index_interval_bytes: 100, ..LogConfig::default() }
}

/// A batch of `count` records whose values identify it (`tag`).
pub fn tagged_batch(timestamp: i64, count: usize, tag: u8, value_len: usize) -> Bytes {
    let records: Vec<build::Record> = (0..count)
        .map(|i| build::Record {
            timestamp_delta: i as i64,
            key: Some(vec![tag, i as u8]),
            value: Some(vec![tag; value_len]),
        })
        .collect();
    build::batch(timestamp, &records)
}

/// Splits fetched bytes into batches.
pub fn split_batches(mut bytes: &[u8]) -> Vec<(BatchHeader, Vec<u8>)> {
    let mut out = Vec::new();
    while let Some(header) = BatchHeader::parse(bytes) {
        let size = header.size_bytes();
        out.push((header, bytes[..size].to_vec()));
        bytes = &bytes[size..];
    }
    assert!(bytes.is_empty(), "a read returned a partial batch");
    out
}

/// Reads every batch from `from` to the bound.
pub fn read_all(log: &Log, from: i64, bound: ReadBound) -> Vec<(BatchHeader, Vec<u8>)> {
    let upper = match bound {
        ReadBound::HighWatermark => log.high_watermark(),
        ReadBound::LogEnd => log.log_end_offset(),
        ReadBound::Below(offset) => offset.min(log.high_watermark()),
    };
    let mut out = Vec::new();
    let mut next = from;
    while next < upper {
        let bytes = log.read(next, 1 << 20, bound).expect("read");
        let batches = split_batches(&bytes);
        assert!(!batches.is_empty(), "read at {next} below {upper} returned nothing");
        next = batches.last().expect("non-empty").0.next_offset();
        out.extend(batches);
    }
    out
}

/// Whether a stored batch is the sent one with only its base offset and leader epoch changed.
pub fn same_batch(stored: &[u8], sent: &[u8]) -> bool {
    stored.len() == sent.len() && stored[8..12] == sent[8..12] && stored[16..] == sent[16..]
}
