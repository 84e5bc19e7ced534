//! A partition log: segments in one directory, appended under one lock, read concurrently.
//!
//! Offsets, in order (asserted on every change):
//! `log_start_offset <= high_watermark <= log_end_offset` and `synced <= log_end_offset`.
//! With `flush.on.ack` (the default) the high watermark is the synced offset: readers and
//! acks=all producers only ever see data that survives a power cut. Without it the high
//! watermark is the log end offset, as in a one-broker Kafka. A replicated log's high
//! watermark is further bounded by the replication floor (what every in-sync replica holds),
//! which the replication layer sets; it never moves backwards except by truncation.
//!
//! Every batch carries the leader epoch that wrote it (the header field outside the CRC), and
//! the log keeps the epoch cache (`epoch`) that replicas compare after a leader change.
//!
//! Locks: `state` (a std mutex, never held across I/O that can block for long, nor across an
//! `.await`) guards the segment map and offsets; `maintenance` serializes the operations that
//! sync, checkpoint, truncate or delete, so those never race each other.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, RwLock};
use std::time::{Duration, Instant};

use bytes::Bytes;
use tokio::sync::watch;
use tracing::error;

use crate::batch::{self, BatchHeader};
use crate::checkpoint::{self, Checkpoint};
use crate::clock::{Clock, SystemClock};
use crate::config::{LogConfig, TimestampType};
use crate::epoch::EpochCache;
use crate::error::{IoContext, LogError};
use crate::flush::{Flush, FlushQueue, Flusher};
use crate::recovery;
use crate::segment::{self, Segment, Start};
use crate::snapshot;
use crate::storage::{OsStorage, Storage, StorageFile, read_vec, write_atomically, write_in_place};

/// What a log runs on: its file system, its clock and (optionally) the group-commit thread.
/// Without a flusher, nothing is synced until `Log::sync` is called.
#[derive(Clone)]
pub struct LogEnv {
    pub storage: Arc<dyn Storage>,
    pub clock: Arc<dyn Clock>,
    flush_queue: Option<Arc<FlushQueue>>,
}

impl LogEnv {
    pub fn new(storage: Arc<dyn Storage>, clock: Arc<dyn Clock>, flusher: Option<&Flusher>) -> LogEnv {
        LogEnv { storage, clock, flush_queue: flusher.map(Flusher::queue) }
    }

    /// The real disk and clock, synced by `flusher`, with each fdatasync timed into the
    /// flusher's histogram.
    pub fn os(flusher: &Flusher) -> LogEnv {
        LogEnv::os_with(flusher, OsStorage::default())
    }

    /// As `os`, on `storage` (say, with a chosen ceiling of open files).
    pub fn os_with(flusher: &Flusher, storage: OsStorage) -> LogEnv {
        let storage = storage.timed(flusher.sync_latency());
        LogEnv::new(Arc::new(storage), Arc::new(SystemClock), Some(flusher))
    }
}

/// Whether an append's caller will wait for it to be durable (acks=all).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Durability {
    /// Wake the group commit now.
    Sync,
    /// Let the group commit take up to `log.flush.max.delay.ms`.
    Async,
}

/// Where reads stop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReadBound {
    /// Consumers: only what the high watermark covers.
    HighWatermark,
    /// Replication followers: everything written.
    LogEnd,
    /// `read_committed` consumers: below this offset (the last stable offset), and never past
    /// the high watermark.
    Below(i64),
}

/// The result of an append.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Appended {
    pub base_offset: i64,
    pub last_offset: i64,
    /// The broker time written into the batch on LogAppendTime topics, else -1 (as Kafka's
    /// produce response says).
    pub log_append_time_ms: i64,
    pub log_start_offset: i64,
    /// The batch began a new segment (the moment Kafka takes a producer snapshot).
    pub rolled: bool,
}

/// How far the log is written and synced, published on every change (replication's view:
/// followers' fetches wait for the end to move, a follower waits for its appends' sync).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Progress {
    pub log_end_offset: i64,
    pub synced: i64,
}

/// What readers may see, published on every change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Watermark {
    pub high_watermark: i64,
    /// The log hit a storage error and takes no more writes until reopened.
    pub offline: bool,
}

/// The answer to a lookup by timestamp (ListOffsets).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TimestampLookup {
    /// The first record with a timestamp at or after the target.
    Found { offset: i64, timestamp: i64 },
    /// The first batch holding such a record is compressed: the caller decompresses it and
    /// picks the record (`batch::first_record_at_or_after` on the decompressed batch).
    InCompressedBatch(Bytes),
}

/// What a log had written when a sync of its whole file system began (`Flush::written`).
pub(crate) struct Written {
    end: Point,
    truncations: u64,
}

/// A place in the log: an offset and where it lies on disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Point {
    pub(crate) offset: i64,
    segment: i64,
    position: u64,
}

/// A handle on one partition's log; clones share it.
#[derive(Clone)]
pub struct Log {
    pub(crate) shared: Arc<LogShared>,
}

pub(crate) struct LogShared {
    /// Changes only when the log moves to another log dir (`relocate`).
    dir: RwLock<PathBuf>,
    pub(crate) env: LogEnv,
    state: Mutex<LogState>,
    pub(crate) maintenance: Mutex<()>,
    watermark: watch::Sender<Watermark>,
    pub(crate) progress: watch::Sender<Progress>,
    queued: AtomicBool,
    /// Truncations so far: a producer snapshot whose state predates one is not written.
    truncations: AtomicU64,
    /// The snapshot offsets the directory listing at open found, until the first
    /// `latest_snapshot` or a change to the snapshots: saves listing every directory twice.
    snapshots_at_open: Mutex<Option<Vec<i64>>>,
}

pub(crate) struct LogState {
    pub(crate) config: LogConfig,
    pub(crate) segments: BTreeMap<i64, Segment>,
    log_start_offset: i64,
    /// Everything before it has been fdatasync'd.
    synced: Point,
    /// Always at a batch boundary: the offsets it comes from (synced points, replicas' log
    /// ends, a leader's high watermark) are.
    pub(crate) high_watermark: i64,
    /// Replication's bound on the high watermark; `None` for a log that is not replicated.
    replication_floor: Option<i64>,
    /// The high watermark the last checkpoint saved, where a replicated log starts from.
    checkpointed_high_watermark: i64,
    /// The epoch stamped on appended batches (the partition's current leader epoch).
    leader_epoch: i32,
    epochs: EpochCache,
    /// The epoch cache holds an entry not yet in its file (one noted on becoming leader).
    epochs_unsaved: bool,
    /// Files written since the last sync.
    unsynced_files: Vec<Arc<dyn StorageFile>>,
    unsynced_records: u64,
    oldest_unsynced_ms: Option<i64>,
    last_checkpoint_ms: i64,
    /// What the checkpoint file holds now, if known: an unchanged log is not checkpointed again.
    saved_checkpoint: Option<Checkpoint>,
    /// A segment rolled: save its indexes and a checkpoint at the next sync.
    checkpoint_due: bool,
    pub(crate) offline: bool,
    /// Offsets below this were covered by the last compaction pass (0 after opening).
    pub(crate) cleaned_offset: i64,
}

impl LogState {
    pub(crate) fn active(&self) -> &Segment {
        self.segments.values().next_back().expect("a log always has a segment")
    }

    fn active_mut(&mut self) -> &mut Segment {
        self.segments.values_mut().next_back().expect("a log always has a segment")
    }

    pub(crate) fn log_start_offset(&self) -> i64 {
        self.log_start_offset
    }

    pub(crate) fn log_end_offset(&self) -> i64 {
        self.active().next_offset
    }

    fn end_point(&self) -> Point {
        let active = self.active();
        Point { offset: active.next_offset, segment: active.base_offset, position: active.size }
    }

    /// Moves the high watermark up to what is durable here (or written, without
    /// `flush.on.ack`) and within the replication floor.
    fn advance_high_watermark(&mut self) {
        let local = if self.config.flush_on_ack { self.synced.offset } else { self.log_end_offset() };
        let target = local.min(self.replication_floor.unwrap_or(i64::MAX));
        if target > self.high_watermark {
            self.high_watermark = target;
            self.check_invariants();
        }
    }

    pub(crate) fn progress(&self) -> Progress {
        Progress { log_end_offset: self.log_end_offset(), synced: self.synced.offset }
    }

    fn check_invariants(&self) {
        let end = self.log_end_offset();
        assert!(self.log_start_offset <= self.high_watermark, "log start passed the high watermark");
        assert!(self.high_watermark <= end, "high watermark passed the log end");
        assert!(self.synced.offset <= end, "synced offset passed the log end");
    }

    /// Takes `files`, this log read back from another directory (`relocate`), as this
    /// log's state, keeping the offsets, epochs and replication bounds held here.
    pub(crate) fn move_to(&mut self, mut files: LogState) {
        files.log_start_offset = self.log_start_offset;
        files.high_watermark = self.high_watermark;
        files.replication_floor = self.replication_floor;
        files.checkpointed_high_watermark = self.checkpointed_high_watermark;
        files.leader_epoch = self.leader_epoch;
        files.epochs = self.epochs.clone();
        files.epochs_unsaved = self.epochs_unsaved;
        files.advance_high_watermark();
        files.check_invariants();
        *self = files;
    }

    pub(crate) fn watermark(&self) -> Watermark {
        Watermark { high_watermark: self.high_watermark, offline: self.offline }
    }

    pub(crate) fn save_epochs(&mut self, storage: &dyn Storage, dir: &Path) -> std::io::Result<()> {
        self.epochs.save(storage, dir)?;
        self.epochs_unsaved = false;
        Ok(())
    }

    fn upper_offset(&self, bound: ReadBound) -> i64 {
        match bound {
            ReadBound::HighWatermark => self.high_watermark,
            ReadBound::LogEnd => self.log_end_offset(),
            ReadBound::Below(offset) => offset.min(self.high_watermark),
        }
    }
}

impl Log {
    /// Opens (or creates) the log in `dir`, recovering it if it was not shut down cleanly.
    pub fn open(dir: &Path, config: LogConfig, env: LogEnv) -> Result<Log, LogError> {
        let (state, snapshots, dirty) = Log::open_state(dir, config, &env)?;
        let (watermark, _) = watch::channel(state.watermark());
        let (progress, _) = watch::channel(state.progress());
        let log = Log {
            shared: Arc::new(LogShared {
                dir: RwLock::new(dir.to_path_buf()),
                env,
                state: Mutex::new(state),
                maintenance: Mutex::new(()),
                watermark,
                progress,
                queued: AtomicBool::new(false),
                truncations: AtomicU64::new(0),
                snapshots_at_open: Mutex::new(Some(snapshots)),
            }),
        };
        if dirty {
            let guard = log.shared.maintenance.lock().expect("maintenance lock");
            log.write_checkpoint(&guard)?;
        }
        Ok(log)
    }

    /// Loads the log in `dir`: its state, the producer snapshots' offsets found, and whether
    /// a checkpoint is due (it was not shut down cleanly).
    pub(crate) fn open_state(
        dir: &Path,
        config: LogConfig,
        env: &LogEnv,
    ) -> Result<(LogState, Vec<i64>, bool), LogError> {
        let config = clamp(config);
        let loaded = recovery::load(dir, &config, &*env.storage)?;
        let end = {
            let active = loaded.segments.values().next_back().expect("a log always has a segment");
            Point { offset: active.next_offset, segment: active.base_offset, position: active.size }
        };
        let now = env.clock.now_ms();
        let epochs = load_epochs(dir, env, &loaded.segments, end.offset)?;
        let state = LogState {
            config,
            segments: loaded.segments,
            log_start_offset: loaded.log_start_offset,
            synced: end,
            high_watermark: end.offset,
            replication_floor: None,
            checkpointed_high_watermark: loaded.high_watermark,
            leader_epoch: epochs.latest().unwrap_or(0),
            epochs,
            epochs_unsaved: false,
            unsynced_files: Vec::new(),
            unsynced_records: 0,
            oldest_unsynced_ms: None,
            last_checkpoint_ms: now,
            saved_checkpoint: loaded.checkpoint,
            checkpoint_due: loaded.dirty,
            offline: false,
            cleaned_offset: 0,
        };
        state.check_invariants();
        Ok((state, loaded.snapshots, loaded.dirty))
    }

    /// The log's directory, `<log dir>/<topic>-<partition>`.
    pub fn dir(&self) -> PathBuf {
        self.shared.dir()
    }

    /// Appends one record batch as a producer sent it. The batch is validated from its header
    /// and CRC, given the next offsets by rewriting its base offset, and written as is (on
    /// LogAppendTime topics, also stamped with the broker's time). Returns once written; the
    /// high watermark covers it once synced (see `wait_for_high_watermark`).
    pub fn append(&self, batch: Bytes, durability: Durability) -> Result<Appended, LogError> {
        let now_ms = self.shared.env.clock.now_ms();
        let mut state = self.lock_state();
        if state.offline {
            return Err(self.offline_error());
        }
        let header = batch::validate(&batch, state.config.max_message_bytes)?;
        let (batch, header, log_append_time_ms) = match state.config.message_timestamp_type {
            TimestampType::CreateTime => {
                check_timestamps(&header, now_ms, &state.config)?;
                (batch, header, -1)
            }
            TimestampType::LogAppendTime => {
                let stamped = batch::with_log_append_time(&batch, now_ms);
                let header = BatchHeader::parse(&stamped).expect("stamped batch keeps its header");
                (stamped, header, now_ms)
            }
        };
        let end = state.log_end_offset();
        let rolled = self.maybe_roll(&mut state, &header, end)?;
        let base_offset = state.log_end_offset();
        let epoch = state.leader_epoch;
        self.assign_epoch(&mut state, epoch, base_offset)?;
        let header = BatchHeader { base_offset, partition_leader_epoch: epoch, ..header };
        let interval = u64::from(state.config.index_interval_bytes);
        let (base_offset_bytes, epoch_bytes) = (base_offset.to_be_bytes(), epoch.to_be_bytes());
        let parts: [&[u8]; 4] = [&base_offset_bytes, &batch[8..12], &epoch_bytes, &batch[16..]];
        self.write_batch(&mut state, &header, &parts, interval)?;
        let appended = Appended {
            base_offset,
            last_offset: header.last_offset(),
            log_append_time_ms,
            log_start_offset: state.log_start_offset,
            rolled,
        };
        self.after_write(state, header.records_count, now_ms, durability == Durability::Sync);
        Ok(appended)
    }

    /// Appends batches a follower fetched from its leader, as they are: offsets and leader
    /// epochs already assigned, CRCs checked. Each must start at or after this log's end. Returns the
    /// new log end offset. The group commit is woken at once under `flush.on.ack`, since the
    /// leader's high watermark waits for this replica's sync.
    pub fn append_replica(&self, batches: &[u8]) -> Result<i64, LogError> {
        let now_ms = self.shared.env.clock.now_ms();
        let mut state = self.lock_state();
        if state.offline {
            return Err(self.offline_error());
        }
        let mut records = 0;
        let mut rest = batches;
        while !rest.is_empty() {
            let size = BatchHeader::parse(rest).map_or(usize::MAX, |h| h.size_bytes());
            if size > rest.len() {
                return Err(LogError::CorruptMessage { reason: "a replicated batch is cut short" });
            }
            let header = batch::validate(&rest[..size], u32::MAX)?;
            // Offsets only go up; a gap is what compaction left in the leader's log.
            let end = state.log_end_offset();
            if header.base_offset < end {
                return Err(LogError::ReplicaOffsetMismatch { expected: end, found: header.base_offset });
            }
            self.maybe_roll(&mut state, &header, header.base_offset)?;
            self.assign_epoch(&mut state, header.partition_leader_epoch, header.base_offset)?;
            let interval = u64::from(state.config.index_interval_bytes);
            self.write_batch(&mut state, &header, &[&rest[..size]], interval)?;
            records += header.records_count;
            rest = &rest[size..];
        }
        let end = state.log_end_offset();
        let urgent = state.config.flush_on_ack;
        self.after_write(state, records, now_ms, urgent);
        Ok(end)
    }

    /// Writes one batch to the active segment, noting its file for the next sync.
    fn write_batch(
        &self,
        state: &mut MutexGuard<'_, LogState>,
        header: &BatchHeader,
        parts: &[&[u8]],
        interval: u64,
    ) -> Result<(), LogError> {
        let active = state.active_mut();
        let file = active.file.clone();
        if let Err(e) = active.append(header, parts, interval) {
            return Err(self.mark_offline(state, e));
        }
        if !state.unsynced_files.last().is_some_and(|f| Arc::ptr_eq(f, &file)) {
            state.unsynced_files.push(file);
        }
        Ok(())
    }

    /// After batches were written: counts them toward the flush policy, moves the high
    /// watermark if nothing waits for a sync, publishes, and asks the group commit for a sync
    /// (at once if `urgent`, or if `flush.messages` / `flush.ms` say so).
    fn after_write(&self, mut state: MutexGuard<'_, LogState>, records: i32, now_ms: i64, urgent: bool) {
        state.unsynced_records += records.max(0) as u64;
        let oldest = *state.oldest_unsynced_ms.get_or_insert(now_ms);
        let urgent = urgent
            || state.unsynced_records >= state.config.flush_messages
            || now_ms.saturating_sub(oldest) >= state.config.flush_ms;
        let delay = Duration::from_millis(if urgent { 0 } else { state.config.flush_max_delay_ms });
        state.advance_high_watermark();
        let (watermark, progress) = (state.watermark(), state.progress());
        drop(state);
        self.publish(watermark);
        self.shared.progress.send_replace(progress);
        if let Some(queue) = &self.shared.env.flush_queue {
            queue.request(self.shared.clone(), Instant::now() + delay, urgent);
        }
    }

    /// Notes that `epoch` starts at `offset` if it is new to the log, saving the cache before
    /// the batch is written.
    fn assign_epoch(&self, state: &mut MutexGuard<'_, LogState>, epoch: i32, offset: i64) -> Result<(), LogError> {
        if !state.epochs.assign(epoch, offset) && !state.epochs_unsaved {
            return Ok(());
        }
        if let Err(e) = state.save_epochs(&*self.shared.env.storage, &self.dir()) {
            let e = LogError::Storage { op: "save the leader epoch cache", path: self.dir(), source: e };
            return Err(self.mark_offline(state, e));
        }
        Ok(())
    }

    /// Starts a new segment before `incoming`, to be written at offset `base`, if the active
    /// one is full, old, or cannot index the incoming offsets; whether it did.
    fn maybe_roll(
        &self,
        state: &mut MutexGuard<'_, LogState>,
        incoming: &BatchHeader,
        base: i64,
    ) -> Result<bool, LogError> {
        let config = &state.config;
        let active = state.active();
        if active.size == 0 {
            return Ok(false);
        }
        let full = active.size + incoming.size_bytes() as u64 > u64::from(config.segment_bytes);
        let old = active.rolling_timestamp.is_some_and(|t| incoming.max_timestamp - t >= config.segment_ms);
        let last_offset = base + i64::from(incoming.last_offset_delta);
        let offsets_overflow = last_offset - active.base_offset > i64::from(i32::MAX);
        if !(full || old || offsets_overflow) {
            return Ok(false);
        }
        let segment_base = active.next_offset;
        state.active_mut().seal_time_index();
        let segment = match Segment::create(&*self.shared.env.storage, &self.dir(), segment_base) {
            Ok(segment) => segment,
            Err(e) => return Err(self.mark_offline(state, e)),
        };
        state.segments.insert(segment_base, segment);
        state.checkpoint_due = true;
        Ok(true)
    }

    /// Reads whole batches from the one containing `offset`, up to `max_bytes` (but always the
    /// first batch whole, however large, so a consumer can make progress), from one segment.
    /// A read may start mid-batch, as in Kafka: the client skips the offsets before its own.
    /// Reading at the bound returns nothing; outside `[log_start_offset, bound]` is an error.
    pub fn read(&self, offset: i64, max_bytes: usize, bound: ReadBound) -> Result<Bytes, LogError> {
        match self.read_once(offset, max_bytes, bound) {
            // Retention or compaction replaced the segment after it was looked up, and its
            // file was closed meanwhile (`handles`): the log as it is now answers.
            Err(e) if e.is_file_gone() => self.read_once(offset, max_bytes, bound),
            other => other,
        }
    }

    fn read_once(&self, offset: i64, max_bytes: usize, bound: ReadBound) -> Result<Bytes, LogError> {
        self.read_in(offset, max_bytes, bound, || self.lock_state())
    }

    /// `read` on the state `state` gives: the lock taken per segment, or a state the caller
    /// holds locked throughout (`relocate`).
    pub(crate) fn read_in<S: std::ops::Deref<Target = LogState>>(
        &self,
        offset: i64,
        max_bytes: usize,
        bound: ReadBound,
        state: impl Fn() -> S,
    ) -> Result<Bytes, LogError> {
        let mut from = offset;
        loop {
            let (file, path, start, limit, segment_end, upper) = {
                let state = state();
                // Offsets up to the log end are valid; readers see nothing past their bound
                // (a consumer between the high watermark and the end gets an empty answer, as
                // from Kafka).
                let end = state.log_end_offset();
                if from < state.log_start_offset || from > end {
                    return Err(LogError::OffsetOutOfRange {
                        offset,
                        log_start_offset: state.log_start_offset,
                        upper_bound: end,
                    });
                }
                let upper = state.upper_offset(bound);
                if from >= upper {
                    return Ok(Bytes::new());
                }
                let (_, seg) = state.segments.range(..=from).next_back().expect("offset within the log");
                (seg.file.clone(), seg.path.clone(), seg.start_for_offset(from), seg.size, seg.next_offset, upper)
            };
            let start = start.resolve().ctx("read index", &path)?;
            let window = max_bytes.saturating_add(LOCATE_SLACK_BYTES);
            let target = from;
            let found = find_batch(&*file, start, limit, window, |h| h.last_offset() >= target).ctx("read", &path)?;
            let Some((position, first, buf)) = found else {
                // The offset lies past this segment's last batch: continue in the next.
                if segment_end <= from {
                    return Ok(Bytes::new());
                }
                from = segment_end;
                continue;
            };
            if first.base_offset >= upper {
                return Ok(Bytes::new());
            }
            let read = read_batches(&*file, position, first, buf, limit, max_bytes).ctx("read", &path)?;
            return Ok(below(read, upper));
        }
    }

    /// The largest batch timestamp among the segments holding data below the high watermark;
    /// `None` while there is none (ListOffsets' max-timestamp spec, KIP-734).
    pub fn max_timestamp(&self) -> Option<i64> {
        let state = self.lock_state();
        let hw = state.high_watermark;
        state.segments.values().filter(|s| s.base_offset < hw).map(|s| s.max_timestamp).max().filter(|t| *t >= 0)
    }

    /// The first record at or after `timestamp_ms` below the high watermark (ListOffsets).
    pub fn offset_for_timestamp(&self, timestamp_ms: i64) -> Result<Option<TimestampLookup>, LogError> {
        let (file, path, start, limit, hw) = {
            let state = self.lock_state();
            let hw = state.high_watermark;
            let found = state.segments.values().find(|s| s.base_offset < hw && s.max_timestamp >= timestamp_ms);
            let Some(seg) = found else { return Ok(None) };
            (seg.file.clone(), seg.path.clone(), seg.start_for_timestamp(timestamp_ms), seg.size, hw)
        };
        let start = start.resolve().ctx("read index", &path)?;
        let found = find_batch(&*file, start, limit, LOCATE_SLACK_BYTES, |h| {
            h.max_timestamp >= timestamp_ms || h.base_offset >= hw
        })
        .ctx("timestamp lookup", &path)?;
        let Some((position, header, _)) = found.filter(|(_, h, _)| h.base_offset < hw) else { return Ok(None) };
        let bytes = read_vec(&*file, position, header.size_bytes()).ctx("timestamp lookup", &path)?;
        Ok(match batch::first_record_at_or_after(&bytes, timestamp_ms) {
            Some(Some((offset, timestamp))) => Some(TimestampLookup::Found { offset, timestamp }),
            Some(None) => Some(TimestampLookup::Found { offset: header.base_offset, timestamp: header.max_timestamp }),
            None => Some(TimestampLookup::InCompressedBatch(Bytes::from(bytes))),
        })
    }

    /// Walks the header of every batch in the log, oldest first, with, for a transaction
    /// marker, whether it commits (producer state rebuild).
    pub fn scan_batch_headers(
        &self,
        from: i64,
        mut visit: impl FnMut(&BatchHeader, Option<bool>),
    ) -> Result<(), LogError> {
        // Each segment that holds offsets from `from` on, and where in it to start: the first
        // one at its index's entry for `from`, batches ending before `from` skipped.
        let segments: Vec<_> = {
            let state = self.lock_state();
            if from >= state.end_point().offset {
                // Nothing from there on (a snapshot at the end): no segment to read.
                return Ok(());
            }
            let first = state.segments.range(..=from).next_back().map_or(i64::MIN, |(base, _)| *base);
            state
                .segments
                .range(first..)
                .map(|(_, s)| {
                    let start = if s.base_offset <= from { s.start_for_offset(from) } else { Start::At(0) };
                    (s.file.clone(), s.path.clone(), start, s.size)
                })
                .collect()
        };
        for (file, path, start, size) in segments {
            let start = start.resolve().ctx("read index", &path)?;
            let mut failed = None;
            batch::scan(&*file, start, size, batch::Scan::Trusted, |position, header| {
                if header.last_offset() < from {
                    return std::ops::ControlFlow::Continue(());
                }
                let mut marker = None;
                if header.is_control() {
                    // Markers are one small record: read each on its own.
                    match read_vec(&*file, position, header.size_bytes()) {
                        Ok(bytes) => marker = batch::marker_commits(&bytes),
                        Err(e) => {
                            failed = Some(e);
                            return std::ops::ControlFlow::Break(());
                        }
                    }
                }
                visit(header, marker);
                std::ops::ControlFlow::Continue(())
            })
            .ctx("scan batch headers", &path)?;
            if let Some(e) = failed {
                return Err(e).ctx("scan batch headers", &path);
            }
        }
        Ok(())
    }

    /// Counts a change that invalidates what was noted of the log's files: a producer
    /// snapshot or a sync noted before it does not count after.
    pub(crate) fn note_truncation(&self) {
        self.shared.truncations.fetch_add(1, Ordering::SeqCst);
    }

    /// The truncations so far, to pass to [`Log::write_snapshot`] with a state taken now.
    pub fn truncations(&self) -> u64 {
        self.shared.truncations.load(Ordering::SeqCst)
    }

    /// Writes a producer-state snapshot covering the batches below `offset`, whose state was
    /// taken when the log had seen `truncations` truncations; not written if it has seen more
    /// since (the state may describe batches that are gone) or if `offset` is past the end.
    /// Keeps the newest two.
    pub fn write_snapshot(
        &self,
        offset: i64,
        truncations: u64,
        contents: &[u8],
        sync_now: bool,
    ) -> Result<(), LogError> {
        let _guard = self.shared.maintenance.lock().expect("maintenance lock");
        self.forget_listed_snapshots();
        if self.truncations() != truncations || offset > self.log_end_offset() {
            return Ok(());
        }
        // The state below an offset is the same whenever it is taken (a truncation below it
        // removes the snapshot), so one already there need not be written again.
        if self.shared.env.storage.exists(&snapshot::path(&self.dir(), offset)) {
            return Ok(());
        }
        snapshot::write(&*self.shared.env.storage, &self.dir(), offset, contents, sync_now)
    }

    /// The newest producer-state snapshot at or below the log's end: its offset and contents.
    pub fn latest_snapshot(&self) -> Result<Option<(i64, Vec<u8>)>, LogError> {
        let _guard = self.shared.maintenance.lock().expect("maintenance lock");
        let storage = &*self.shared.env.storage;
        let listed = match self.shared.snapshots_at_open.lock().expect("snapshot list lock").take() {
            Some(listed) => listed,
            None => snapshot::list(storage, &self.dir())?,
        };
        snapshot::latest(storage, &self.dir(), listed, self.log_end_offset())
    }

    pub(crate) fn forget_listed_snapshots(&self) {
        self.shared.snapshots_at_open.lock().expect("snapshot list lock").take();
    }

    pub fn log_start_offset(&self) -> i64 {
        self.lock_state().log_start_offset
    }

    pub fn high_watermark(&self) -> i64 {
        self.lock_state().high_watermark
    }

    /// Everything before it has been fdatasync'd.
    pub fn synced_offset(&self) -> i64 {
        self.lock_state().synced.offset
    }

    /// Starts bounding the high watermark by replication, lowered to the last one saved: after
    /// a restart, a replica must not expose what it wrote but the others may not have.
    pub fn start_replication(&self) {
        let mut state = self.lock_state();
        if state.replication_floor.is_none() {
            state.high_watermark = state.high_watermark.min(state.checkpointed_high_watermark);
            state.replication_floor = Some(state.high_watermark);
            state.check_invariants();
            let watermark = state.watermark();
            drop(state);
            self.shared.watermark.send_replace(watermark);
        }
    }

    /// Sets replication's bound on the high watermark (a leader: the smallest offset every
    /// in-sync replica holds; a follower: its leader's high watermark), and moves the high
    /// watermark up to it where the local log allows. Returns the high watermark.
    pub fn set_replication_floor(&self, floor: i64) -> i64 {
        let mut state = self.lock_state();
        state.replication_floor = Some(floor);
        state.advance_high_watermark();
        let (watermark, hw) = (state.watermark(), state.high_watermark);
        drop(state);
        self.publish(watermark);
        hw
    }

    /// Stamps `epoch` on the batches appended from now on (this replica leads in `epoch`), and
    /// notes in the epoch cache that `epoch` starts at the log end, as Kafka's `makeLeader`
    /// does: a follower then learns where its older epochs end even before anything is
    /// written in this one.
    ///
    /// The entry is saved with the first batch written in `epoch` (or the next truncation),
    /// not now: a broker that restarts leads all its partitions in new epochs at once, and an
    /// epoch holding no batch answers OffsetForLeaderEpoch as its predecessor would.
    pub fn set_leader_epoch(&self, epoch: i32) -> Result<(), LogError> {
        let mut state = self.lock_state();
        state.leader_epoch = epoch;
        let end = state.log_end_offset();
        if state.epochs.assign(epoch, end) {
            state.epochs_unsaved = true;
        }
        Ok(())
    }

    /// The newest leader epoch that wrote to this log, or -1.
    pub fn latest_epoch(&self) -> i32 {
        self.lock_state().epochs.latest().unwrap_or(crate::epoch::UNDEFINED)
    }

    /// Kafka's OffsetForLeaderEpoch answer: the largest epoch at or below `epoch` this log has
    /// and the offset where the log moved past it; (-1, -1) if none.
    pub fn end_offset_for_epoch(&self, epoch: i32) -> (i32, i64) {
        let state = self.lock_state();
        state.epochs.end_offset_for(epoch, state.log_end_offset())
    }

    /// How far the log is written and synced.
    pub fn progress(&self) -> Progress {
        self.lock_state().progress()
    }

    /// Changes of the log end and synced offsets.
    pub fn subscribe_progress(&self) -> watch::Receiver<Progress> {
        self.shared.progress.subscribe()
    }

    pub fn log_end_offset(&self) -> i64 {
        self.lock_state().log_end_offset()
    }

    /// Bytes of all segments.
    pub fn size_bytes(&self) -> u64 {
        self.lock_state().segments.values().map(|s| s.size).sum()
    }

    /// Index entries held in memory across the segments (the active segment's, and sealed
    /// ones' not yet saved).
    pub fn resident_index_entries(&self) -> usize {
        self.lock_state().segments.values().map(Segment::resident_index_entries).sum()
    }

    pub fn segment_count(&self) -> usize {
        self.lock_state().segments.len()
    }

    /// The time by the log's clock (the broker's, or a simulation's).
    pub fn now_ms(&self) -> i64 {
        self.shared.env.clock.now_ms()
    }

    pub fn config(&self) -> LogConfig {
        self.lock_state().config.clone()
    }

    /// Applies changed topic configs; they take effect from the next append or retention pass.
    pub fn set_config(&self, config: LogConfig) {
        self.lock_state().config = clamp(config);
    }

    /// Changes of the high watermark, for fetch long-polls and acks=all waiters.
    pub fn subscribe(&self) -> watch::Receiver<Watermark> {
        self.shared.watermark.subscribe()
    }

    /// Waits until the high watermark reaches `offset` (acks=all: the offset after the batch).
    pub async fn wait_for_high_watermark(&self, offset: i64) -> Result<(), LogError> {
        let mut rx = self.subscribe();
        let seen = *rx.wait_for(|w| w.offline || w.high_watermark >= offset).await.expect("the log owns the sender");
        if seen.offline && seen.high_watermark < offset {
            return Err(self.offline_error());
        }
        Ok(())
    }

    /// The group commit: fdatasyncs every file written since the last sync, then advances the
    /// synced offset (and, with `flush.on.ack`, the high watermark) over what was written
    /// before the sync began. Saves a checkpoint when one is due.
    pub fn sync(&self) -> Result<(), LogError> {
        let guard = self.shared.maintenance.lock().expect("maintenance lock");
        if self.sync_written(&guard)? {
            self.write_checkpoint(&guard)?;
        }
        Ok(())
    }

    /// Syncs what was written and moves the synced offset; whether a checkpoint is due.
    fn sync_written(&self, _maintenance: &MutexGuard<'_, ()>) -> Result<bool, LogError> {
        let (files, target) = {
            let mut state = self.lock_state();
            if state.offline {
                return Err(self.offline_error());
            }
            state.unsynced_records = 0;
            state.oldest_unsynced_ms = None;
            (std::mem::take(&mut state.unsynced_files), state.end_point())
        };
        for file in &files {
            if let Err(e) = file.sync_data() {
                let e = LogError::Storage { op: "fdatasync", path: self.dir(), source: e };
                return Err(self.go_offline(self.lock_state(), e));
            }
        }
        Ok(self.mark_synced(target))
    }

    /// Moves the synced offset up to `target`, which is durable; whether a checkpoint is due.
    fn mark_synced(&self, target: Point) -> bool {
        let (watermark, checkpoint_due) = {
            let mut state = self.lock_state();
            if target.offset > state.synced.offset {
                state.synced = target;
                state.advance_high_watermark();
            }
            let now = self.shared.env.clock.now_ms();
            let due = state.checkpoint_due
                || now.saturating_sub(state.last_checkpoint_ms) >= state.config.recovery_checkpoint_interval_ms;
            (state.watermark(), due)
        };
        self.publish(watermark);
        // Read first: the state lock is never held while a watch is written, since watchers'
        // predicates may read the log.
        let progress = self.lock_state().progress();
        self.shared.progress.send_replace(progress);
        checkpoint_due
    }

    /// Syncs and saves a checkpoint at the current end of the log (compaction needs every
    /// inactive segment behind the recovery point).
    pub(crate) fn checkpoint_at_end(&self) -> Result<(), LogError> {
        self.sync()?;
        let guard = self.shared.maintenance.lock().expect("maintenance lock");
        self.write_checkpoint(&guard)
    }

    /// Syncs everything and leaves a checkpoint at the end of the log, so that the next open
    /// scans nothing. The log stays usable.
    pub fn close(&self) -> Result<(), LogError> {
        let guard = self.shared.maintenance.lock().expect("maintenance lock");
        self.sync_written(&guard)?;
        self.write_checkpoint(&guard)
    }

    /// `close` for one of many logs closing at once: the data is synced, but the checkpoint
    /// and indexes are only written; the caller makes them durable with one
    /// `Storage::sync_all` afterwards. A crash in between leaves a checkpoint the next open
    /// finds stale or damaged, and it recovers as after any crash.
    pub fn close_unsynced(&self) -> Result<(), LogError> {
        let guard = self.shared.maintenance.lock().expect("maintenance lock");
        self.sync_written(&guard)?;
        self.save_checkpoint(&guard, false)
    }

    /// Removes every batch holding an offset at or after `offset` (replication's truncation to a
    /// leader's log); the log end offset becomes the base offset of the first batch removed.
    pub fn truncate_to(&self, offset: i64) -> Result<(), LogError> {
        let guard = self.shared.maintenance.lock().expect("maintenance lock");
        let mut state = self.lock_state();
        if offset < state.log_start_offset {
            return Err(LogError::OffsetOutOfRange {
                offset,
                log_start_offset: state.log_start_offset,
                upper_bound: state.log_end_offset(),
            });
        }
        if offset >= state.log_end_offset() {
            // Nothing to cut, but an epoch this replica noted on leading and never wrote in
            // ends here too (Kafka's `truncateTo` does the same).
            let end = state.log_end_offset();
            if state.epochs.truncate_from_end(end) {
                state
                    .save_epochs(&*self.shared.env.storage, &self.dir())
                    .ctx("save the leader epoch cache", &self.dir())?;
            }
            return Ok(());
        }
        let (&base, seg) = state.segments.range(..=offset).next_back().expect("offset within the log");
        let start = seg.start_for_offset(offset).resolve().ctx("truncate", &seg.path)?;
        let found = find_batch(&*seg.file, start, seg.size, LOCATE_SLACK_BYTES, |h| h.last_offset() >= offset)
            .ctx("truncate", &seg.path)?;
        let position = found.map_or(seg.size, |(position, _, _)| position);
        let doomed: Vec<i64> = state.segments.range(base + 1..).map(|(&b, _)| b).collect();
        for b in doomed {
            let seg = state.segments.remove(&b).expect("listed above");
            seg.delete(&*self.shared.env.storage)?;
        }
        let interval = u64::from(state.config.index_interval_bytes);
        let seg = state.segments.get_mut(&base).expect("found above");
        if let Err(e) = seg.truncate(position, interval) {
            return Err(self.go_offline(state, e));
        }
        let end = state.end_point();
        // A cut below the log start (mid-batch) moves the start down to the new end, as Kafka.
        state.log_start_offset = state.log_start_offset.min(end.offset);
        if state.synced.offset > end.offset {
            state.synced = end;
        }
        state.high_watermark = state.high_watermark.min(end.offset);
        state.check_invariants();
        let (watermark, progress) = (state.watermark(), state.progress());
        if state.epochs.truncate_from_end(end.offset) {
            state
                .save_epochs(&*self.shared.env.storage, &self.dir())
                .ctx("save the leader epoch cache", &self.dir())?;
        }
        drop(state);
        self.shared.truncations.fetch_add(1, Ordering::SeqCst);
        self.forget_listed_snapshots();
        snapshot::remove_above(&*self.shared.env.storage, &self.dir(), Some(end.offset))?;
        self.shared.watermark.send_replace(watermark);
        self.shared.progress.send_replace(progress);
        self.shared.env.storage.sync_dir(&self.dir()).ctx("sync directory", &self.dir())?;
        self.write_checkpoint(&guard)
    }

    /// Empties the log and starts it again at `offset` (Kafka's `truncateFullyAndStartAt`): for a
    /// replica whose log ends before the leader's starts, and a Raft log that installed a
    /// snapshot past its end. Old segments go first, so a crash midway leaves an empty or a
    /// shorter log, never one with a gap.
    pub fn truncate_fully_and_start_at(&self, offset: i64) -> Result<(), LogError> {
        let guard = self.shared.maintenance.lock().expect("maintenance lock");
        let storage = &*self.shared.env.storage;
        let mut state = self.lock_state();
        if state.offline {
            return Err(self.offline_error());
        }
        let old = std::mem::take(&mut state.segments);
        for seg in old.values() {
            if let Err(e) = seg.delete(storage) {
                state.segments = old;
                return Err(self.go_offline(state, e));
            }
        }
        let seg = match Segment::create(storage, &self.dir(), offset) {
            Ok(seg) => seg,
            Err(e) => {
                state.segments = old;
                return Err(self.go_offline(state, e));
            }
        };
        state.segments.insert(offset, seg);
        let end = state.end_point();
        state.log_start_offset = offset;
        state.synced = end;
        state.high_watermark = offset;
        state.cleaned_offset = offset;
        state.unsynced_files.clear();
        state.check_invariants();
        state.epochs.clear();
        state.save_epochs(storage, &self.dir()).ctx("save the leader epoch cache", &self.dir())?;
        let (watermark, progress) = (state.watermark(), state.progress());
        drop(state);
        self.shared.truncations.fetch_add(1, Ordering::SeqCst);
        self.forget_listed_snapshots();
        snapshot::remove_above(storage, &self.dir(), None)?;
        self.shared.watermark.send_replace(watermark);
        self.shared.progress.send_replace(progress);
        self.write_checkpoint(&guard)
    }

    /// DeleteRecords: moves the log start offset up to `offset` (at most the high watermark),
    /// durably. Segments wholly below it go at the next retention pass, as in Kafka. Returns
    /// the new log start.
    pub fn delete_records(&self, offset: i64) -> Result<i64, LogError> {
        let guard = self.shared.maintenance.lock().expect("maintenance lock");
        {
            let mut state = self.lock_state();
            let hw = state.high_watermark;
            if offset < 0 || offset > hw {
                return Err(LogError::OffsetOutOfRange {
                    offset,
                    log_start_offset: state.log_start_offset,
                    upper_bound: hw,
                });
            }
            if offset <= state.log_start_offset {
                return Ok(state.log_start_offset);
            }
            state.log_start_offset = offset;
            state.check_invariants();
        }
        self.write_checkpoint(&guard)?;
        Ok(self.log_start_offset())
    }

    /// Deletes inactive segments past `retention.ms` (by their newest timestamp) or beyond
    /// `retention.bytes` (oldest first), and those wholly below the log start offset. Never the
    /// active segment, and never data above the high watermark. Returns how many went.
    pub fn enforce_retention(&self) -> Result<usize, LogError> {
        let guard = self.shared.maintenance.lock().expect("maintenance lock");
        let deleted = self.remove_expired_segments(&guard)?;
        if deleted > 0 {
            self.write_checkpoint(&guard)?;
        }
        Ok(deleted)
    }

    fn remove_expired_segments(&self, _maintenance: &MutexGuard<'_, ()>) -> Result<usize, LogError> {
        let now = self.shared.env.clock.now_ms();
        let doomed: Vec<Segment> = {
            let mut state = self.lock_state();
            let config = state.config.clone();
            let mut total: i64 = state.segments.values().map(|s| s.size as i64).sum();
            let bases: Vec<i64> = state.segments.keys().copied().collect();
            let mut doomed = Vec::new();
            for pair in bases.windows(2) {
                let (base, next_base) = (pair[0], pair[1]);
                let seg = &state.segments[&base];
                let below_start = next_base <= state.log_start_offset;
                let by_time =
                    config.cleanup_delete && config.retention_ms >= 0 && now - seg.max_timestamp > config.retention_ms;
                let by_size = config.cleanup_delete
                    && config.retention_bytes >= 0
                    && total - seg.size as i64 >= config.retention_bytes;
                let below_hw = next_base <= state.high_watermark;
                if !(below_hw && (below_start || by_time || by_size)) {
                    break;
                }
                total -= seg.size as i64;
                doomed.push(state.segments.remove(&base).expect("listed above"));
            }
            let first = *state.segments.keys().next().expect("the active segment stays");
            state.log_start_offset = state.log_start_offset.max(first);
            state.check_invariants();
            doomed
        };
        for seg in &doomed {
            seg.delete(&*self.shared.env.storage)?;
        }
        if !doomed.is_empty() {
            self.shared.env.storage.sync_dir(&self.dir()).ctx("sync directory", &self.dir())?;
        }
        Ok(doomed.len())
    }

    /// Saves every segment's unsaved index entries (synced), then the checkpoint: log start
    /// offset and the synced point as the recovery point. Index first, so that whatever the
    /// checkpoint trusts has its index on disk.
    pub(crate) fn write_checkpoint(&self, maintenance: &MutexGuard<'_, ()>) -> Result<(), LogError> {
        self.save_checkpoint(maintenance, true)
    }

    /// Saves the unsaved index entries and the checkpoint, synced unless `sync_now` is false.
    fn save_checkpoint(&self, _maintenance: &MutexGuard<'_, ()>, sync_now: bool) -> Result<(), LogError> {
        let storage = &*self.shared.env.storage;
        let (work, checkpoint) = {
            let mut state = self.lock_state();
            state.active_mut().seal_time_index();
            let work: Vec<_> = state
                .segments
                .values()
                .filter(|s| s.index_save_due())
                .map(|s| (s.base_offset, s.index_counts(), s.unsaved_indexes()))
                .collect();
            let synced = state.synced;
            let checkpoint = Checkpoint {
                log_start_offset: state.log_start_offset,
                recovery_offset: synced.offset,
                recovery_segment: synced.segment,
                recovery_position: synced.position,
                high_watermark: state.high_watermark,
            };
            if work.is_empty() && state.saved_checkpoint == Some(checkpoint) {
                // A clean shutdown of an idle log, say: the file already says all this.
                state.checkpoint_due = false;
                return Ok(());
            }
            (work, checkpoint)
        };
        for (_, _, files) in &work {
            for (path, keep, add) in files {
                segment::save_index(storage, path, *keep, add, sync_now)?;
            }
        }
        let path = self.dir().join(checkpoint::FILE_NAME);
        match sync_now {
            true => write_atomically(storage, &path, &checkpoint.encode()),
            false => write_in_place(storage, &path, &checkpoint.encode()),
        }
        .ctx("write checkpoint", &path)?;
        let mut state = self.lock_state();
        for (base, (offset_entries, time_entries), _) in work {
            if let Some(seg) = state.segments.get_mut(&base) {
                seg.mark_saved(offset_entries, time_entries);
            }
        }
        // Sealed segments' indexes, now saved, are searched in their files from here on.
        let active = state.active().base_offset;
        for seg in state.segments.range_mut(..active).map(|(_, seg)| seg) {
            seg.unload_indexes(storage);
        }
        state.checkpoint_due = false;
        state.last_checkpoint_ms = self.shared.env.clock.now_ms();
        state.saved_checkpoint = Some(checkpoint);
        Ok(())
    }

    pub(crate) fn lock_state(&self) -> MutexGuard<'_, LogState> {
        self.shared.state.lock().expect("log state lock")
    }

    /// Publishes a high watermark; concurrent publishers never move it backwards.
    pub(crate) fn publish(&self, watermark: Watermark) {
        self.shared.watermark.send_if_modified(|current| {
            let advance = watermark.high_watermark > current.high_watermark || watermark.offline != current.offline;
            if advance {
                *current = watermark;
            }
            advance
        });
    }

    fn mark_offline(&self, state: &mut LogState, e: LogError) -> LogError {
        error!(dir = %self.dir().display(), error = %e, "log going offline");
        state.offline = true;
        let watermark = state.watermark();
        self.shared.watermark.send_replace(watermark);
        e
    }

    pub(crate) fn go_offline(&self, mut state: MutexGuard<'_, LogState>, e: LogError) -> LogError {
        self.mark_offline(&mut state, e)
    }

    pub(crate) fn offline_error(&self) -> LogError {
        LogError::Offline { path: self.dir() }
    }
}

impl LogShared {
    pub(crate) fn dir(&self) -> PathBuf {
        self.dir.read().expect("log dir lock").clone()
    }

    pub(crate) fn set_dir(&self, dir: PathBuf) {
        *self.dir.write().expect("log dir lock") = dir;
    }
}

impl Flush for LogShared {
    fn flush(self: Arc<Self>) {
        let log = Log { shared: self };
        if let Err(e) = log.sync() {
            error!(dir = %log.dir().display(), error = %e, "group commit failed");
        }
    }

    fn written(&self) -> Option<Written> {
        let state = self.state.lock().expect("log state lock");
        if state.offline || state.unsynced_files.is_empty() {
            return None;
        }
        Some(Written { end: state.end_point(), truncations: self.truncations.load(Ordering::SeqCst) })
    }

    fn sync_root(&self) -> (&Arc<dyn Storage>, PathBuf) {
        let dir = self.dir();
        let root = dir.parent().map(Path::to_path_buf).unwrap_or_else(|| dir.clone());
        (&self.env.storage, root)
    }

    fn synced_up_to(self: Arc<Self>, written: Written) {
        let log = Log { shared: self };
        let guard = log.shared.maintenance.lock().expect("maintenance lock");
        {
            let mut state = log.lock_state();
            // A truncation since may have cut below what was noted (and appends refilled it).
            if state.offline || log.truncations() != written.truncations {
                return;
            }
            // Files written to since stay noted: the next sync covers what came after.
            if state.end_point() == written.end {
                state.unsynced_files.clear();
                state.unsynced_records = 0;
                state.oldest_unsynced_ms = None;
            }
        }
        if log.mark_synced(written.end)
            && let Err(e) = log.write_checkpoint(&guard)
        {
            error!(dir = %log.dir().display(), error = %e, "checkpoint after a shared sync failed");
        }
    }

    fn queued(&self) -> &AtomicBool {
        &self.queued
    }
}

/// Bytes read beyond `max_bytes` when locating a batch: the index lands within about one
/// `index.interval.bytes` (4 KiB by default) before it, so one read usually covers both.
const LOCATE_SLACK_BYTES: usize = 16 * 1024;

/// Walks batch headers from `start` (a batch boundary) up to `limit` for the first batch
/// matching `wanted`. Returns its position, header and the bytes read from there on (at least
/// the header, maybe more), or `None` if no batch before `limit` matches.
fn find_batch(
    file: &dyn StorageFile,
    start: u64,
    limit: u64,
    window: usize,
    wanted: impl Fn(&BatchHeader) -> bool,
) -> std::io::Result<Option<(u64, BatchHeader, Bytes)>> {
    let mut position = start;
    let mut buf = Bytes::new();
    let mut buf_start = start;
    while position < limit {
        let at = (position - buf_start) as usize;
        let header = match BatchHeader::parse(buf.get(at..).unwrap_or_default()) {
            Some(header) => header,
            None => {
                let len = window.max(batch::BATCH_HEADER_LEN).min((limit - position) as usize);
                buf = Bytes::from(read_vec(file, position, len)?);
                buf_start = position;
                match BatchHeader::parse(&buf) {
                    Some(header) => header,
                    None => return Ok(None),
                }
            }
        };
        let size = header.size_bytes() as u64;
        if size < batch::BATCH_HEADER_LEN as u64 {
            return Ok(None); // Not a batch: the file changed under us.
        }
        if wanted(&header) {
            return Ok(Some((position, header, buf.slice((position - buf_start) as usize..))));
        }
        position += size;
    }
    Ok(None)
}

/// Returns the whole batches from `position` (where `first` starts) that fit in `max_bytes`
/// and below `limit`, the first one always. `buf` holds bytes already read from `position`.
fn read_batches(
    file: &dyn StorageFile,
    position: u64,
    first: BatchHeader,
    buf: Bytes,
    limit: u64,
    max_bytes: usize,
) -> std::io::Result<Bytes> {
    let available = (limit - position) as usize;
    let want = max_bytes.min(available).max(first.size_bytes().min(available));
    let buf = if buf.len() >= want { buf } else { Bytes::from(read_vec(file, position, want)?) };
    let mut end = 0;
    while let Some(header) = BatchHeader::parse(&buf[end..]) {
        let size = header.size_bytes();
        if size < batch::BATCH_HEADER_LEN || end + size > buf.len() || (end > 0 && end + size > max_bytes) {
            break;
        }
        end += size;
    }
    Ok(buf.slice(..end))
}

/// The whole batches of `read` that lie below `upper`.
fn below(read: Bytes, upper: i64) -> Bytes {
    let end: usize =
        batch::whole_batches(&read).take_while(|(h, _)| h.last_offset() < upper).map(|(_, b)| b.len()).sum();
    if end == read.len() { read } else { read.slice(..end) }
}

/// The leader epoch cache of a log being opened: the saved one without the epochs past the
/// end, or (a log from before epochs were kept, or a damaged file) rebuilt from the batches.
fn load_epochs(dir: &Path, env: &LogEnv, segments: &BTreeMap<i64, Segment>, end: i64) -> Result<EpochCache, LogError> {
    let storage = &*env.storage;
    if let Some(mut cache) = EpochCache::load(storage, dir).ctx("read the leader epoch cache", dir)? {
        if cache.truncate_from_end(end) {
            cache.save(storage, dir).ctx("save the leader epoch cache", dir)?;
        }
        return Ok(cache);
    }
    let mut cache = EpochCache::default();
    for seg in segments.values() {
        batch::scan(&*seg.file, 0, seg.size, batch::Scan::Trusted, |_, header| {
            cache.assign(header.partition_leader_epoch, header.base_offset);
            std::ops::ControlFlow::Continue(())
        })
        .ctx("scan batch headers", &seg.path)?;
    }
    if cache.latest().is_some() {
        cache.save(storage, dir).ctx("save the leader epoch cache", dir)?;
    }
    Ok(cache)
}

/// Kafka's timestamp bounds for CreateTime batches, judged from the header: the first record's
/// timestamp against `before`, the newest against `after`. (The broker checks each record
/// before it appends, to name the ones at fault; this keeps the log's own guarantee.)
fn check_timestamps(header: &BatchHeader, now_ms: i64, config: &LogConfig) -> Result<(), LogError> {
    let earliest = now_ms.saturating_sub(config.message_timestamp_before_max_ms);
    let latest = now_ms.saturating_add(config.message_timestamp_after_max_ms);
    for timestamp in [header.base_timestamp, header.max_timestamp] {
        if timestamp >= 0 && (timestamp < earliest || timestamp > latest) {
            return Err(LogError::InvalidTimestamp { timestamp, earliest, latest });
        }
    }
    Ok(())
}

/// Keeps settings within what the on-disk format can hold: positions are `u32`, and Kafka
/// caps `segment.bytes` at `i32::MAX`.
fn clamp(mut config: LogConfig) -> LogConfig {
    config.segment_bytes = config.segment_bytes.clamp(batch::BATCH_HEADER_LEN as u32, i32::MAX as u32);
    config
}
