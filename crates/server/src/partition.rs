//! One hosted partition: its log, and the producer state (`producers`) that guards appends
//! and tracks transactions.

use std::sync::Mutex;
use std::sync::atomic::AtomicUsize;

use brook_log::batch;
use brook_log::{Appended, Durability, Log, LogError};
use bytes::Bytes;
use kafka_protocol::error::ResponseError;
use uuid::Uuid;

use crate::producer_snapshot;
use crate::producers::{AbortedTxn, NO_PRODUCER_ID, Producers};
use crate::stats::PartitionStats;
use brook_replication::role::Role;
use tracing::warn;

pub struct Partition {
    pub topic: String,
    pub topic_id: Uuid,
    pub index: i32,
    pub log: Log,
    pub stats: PartitionStats,
    producers: Mutex<Producers>,
    /// This replica's part in the partition's replication (see `replica`).
    pub(crate) role: Mutex<Role>,
    /// The leadership and ISR size, for acks=all producers waiting on the high watermark.
    pub(crate) view: tokio::sync::watch::Sender<View>,
    /// The topic's `min.insync.replicas`.
    pub(crate) min_insync: AtomicUsize,
}

/// Why a produce to this partition failed.
#[derive(Debug, thiserror::Error)]
pub enum ProduceError {
    #[error(transparent)]
    Log(#[from] LogError),
    #[error("producer {producer_id}: {reason}")]
    Producer { producer_id: i64, code: ResponseError, reason: &'static str },
    #[error("this broker does not lead the partition")]
    NotLeader,
}

/// What waiting producers watch: the leader epoch while this replica leads (`None` while it
/// follows), and the ISR's size.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct View {
    pub leader_epoch: Option<i32>,
    pub isr_size: usize,
}

impl ProduceError {
    pub fn code(&self) -> i16 {
        match self {
            ProduceError::Log(e) => e.kafka_error_code(),
            ProduceError::Producer { code, .. } => code.code(),
            ProduceError::NotLeader => ResponseError::NotLeaderOrFollower.code(),
        }
    }
}

impl Partition {
    /// Wraps an opened log, rebuilding producer state from its batch headers.
    pub fn new(topic: String, topic_id: Uuid, index: i32, log: Log) -> Result<Partition, LogError> {
        let producers = producers_from(&log)?;
        Ok(Partition {
            topic,
            topic_id,
            index,
            log,
            stats: PartitionStats::default(),
            producers: Mutex::new(producers),
            role: Mutex::new(Role::Unreplicated),
            view: tokio::sync::watch::Sender::new(View { leader_epoch: None, isr_size: 1 }),
            min_insync: AtomicUsize::new(1),
        })
    }

    /// Notes the producer batches among `batches` (a follower copied them from its leader),
    /// so that this replica checks sequences as the leader did if it comes to lead.
    pub(crate) fn remember_batches(&self, batches: &[u8]) {
        let mut producers = self.producers.lock().expect("producer state lock");
        for (header, bytes) in batch::whole_batches(batches) {
            producers.note(&header, header.base_offset, batch::marker_commits(bytes));
        }
    }

    /// Rebuilds the producer state from the log (after a truncation).
    pub(crate) fn reload_producers(&self) -> Result<(), LogError> {
        let producers = producers_from(&self.log)?;
        *self.producers.lock().expect("producer state lock") = producers;
        Ok(())
    }

    /// Appends one producer batch after the idempotence checks, if this replica leads; returns
    /// the leader epoch it was appended in, which acks=all waits in (`wait_committed`). A
    /// duplicate of a recent batch returns that batch's original offsets without appending.
    /// `guard`: the transaction guard taken before the coordinator was asked (`txn_guard`).
    pub fn append(
        &self,
        batch: Bytes,
        durability: Durability,
        guard: Option<u64>,
    ) -> Result<(Appended, i32), ProduceError> {
        // Held across the append, so the role cannot change under it.
        let role = self.role.lock().expect("role lock");
        let epoch = role.append_epoch(&self.log).ok_or(ProduceError::NotLeader)?;
        let (appended, snapshot) = self.append_as_leader(batch, durability, guard)?;
        drop(role);
        self.write_snapshot(snapshot);
        Ok((appended, epoch))
    }

    /// See [`Producers::txn_guard`].
    pub fn txn_guard(&self, producer_id: i64, epoch: i16) -> Option<u64> {
        self.producers.lock().expect("producer state lock").txn_guard(producer_id, epoch)
    }

    fn append_as_leader(
        &self,
        batch: Bytes,
        durability: Durability,
        guard: Option<u64>,
    ) -> Result<(Appended, Option<Snapshot>), ProduceError> {
        let header = batch::BatchHeader::parse(&batch).ok_or(LogError::CorruptMessage { reason: "short batch" })?;
        if header.producer_id == NO_PRODUCER_ID {
            let appended = self.log.append(batch, durability)?;
            let snapshot = appended.rolled.then(|| self.snapshot(&self.producers.lock().expect("producer state lock")));
            return Ok((appended, snapshot));
        }
        // Held across the append, so the check and the write are one step for this producer.
        let mut producers = self.producers.lock().expect("producer state lock");
        let refused = |r: crate::producers::Refused| ProduceError::Producer {
            producer_id: header.producer_id,
            code: r.code,
            reason: r.reason,
        };
        if let Some(guard) = guard.filter(|_| header.is_transactional()) {
            producers.check_guard(&header, guard).map_err(refused)?;
        }
        if let Some(duplicate) = producers.check(&header).map_err(refused)? {
            let appended = Appended {
                base_offset: duplicate.base_offset,
                last_offset: duplicate.last_offset,
                log_append_time_ms: -1,
                log_start_offset: self.log.log_start_offset(),
                rolled: false,
            };
            return Ok((appended, None));
        }
        let appended = self.log.append(batch, durability)?;
        producers.note(&header, appended.base_offset, None);
        let snapshot = appended.rolled.then(|| self.snapshot(&producers));
        Ok((appended, snapshot))
    }

    /// The producer state as a snapshot at the log's end, taken under the producer-state lock
    /// (so no producer batch is appended and not yet noted); written by `write_snapshot`
    /// after the locks are released. Taken when a segment rolls and at a clean shutdown, as
    /// Kafka does.
    fn snapshot(&self, producers: &Producers) -> Snapshot {
        Snapshot {
            offset: self.log.log_end_offset(),
            truncations: self.log.truncations(),
            contents: producer_snapshot::encode(producers),
        }
    }

    fn write_snapshot(&self, snapshot: Option<Snapshot>) {
        self.save_snapshot(snapshot, true);
    }

    fn save_snapshot(&self, snapshot: Option<Snapshot>, sync_now: bool) {
        let Some(s) = snapshot else { return };
        if let Err(e) = self.log.write_snapshot(s.offset, s.truncations, &s.contents, sync_now) {
            // Only the next start-up's speed depends on it: it reads more of the log.
            warn!(topic = self.topic, partition = self.index, error = %e, "writing a producer snapshot failed");
        }
    }

    /// Snapshots the producer state and syncs and checkpoints the log, so that the next open
    /// reads nothing (a clean shutdown).
    pub fn close(&self) -> Result<(), LogError> {
        let snapshot = self.snapshot(&self.producers.lock().expect("producer state lock"));
        self.write_snapshot(Some(snapshot));
        self.log.close()
    }

    /// `close` for one of many partitions closing at once: what it writes is made durable by
    /// one `Storage::sync_all` after all of them (`Log::close_unsynced`).
    pub fn close_unsynced(&self) -> Result<(), LogError> {
        let snapshot = {
            let producers = self.producers.lock().expect("producer state lock");
            // An empty log with no producer state has nothing a snapshot would save reading.
            let empty = producers.entries.is_empty() && self.log.log_end_offset() == self.log.log_start_offset();
            (!empty).then(|| self.snapshot(&producers))
        };
        self.save_snapshot(snapshot, false);
        self.log.close_unsynced()
    }

    /// Appends a coordinator's own batch (to its internal topic), if this replica leads: no
    /// sequence checks (a transactional offset commit carries the producer's id and epoch but
    /// no sequence, as Kafka's), but no epoch older than the partition has seen, and a
    /// transactional batch opens the producer's transaction.
    pub fn append_internal(&self, batch: Bytes, durability: Durability) -> Result<(Appended, i32), ProduceError> {
        self.append_unsequenced(batch, durability, None)
    }

    /// Appends a transaction marker for `producer_id` (the coordinator's decision), if this
    /// replica leads; returns its offset and the leader epoch it was appended in.
    pub fn append_marker(&self, marker: Bytes, durability: Durability) -> Result<(Appended, i32), ProduceError> {
        let commits = batch::marker_commits(&marker);
        self.append_unsequenced(marker, durability, commits)
    }

    /// A coordinator's append (its own batch, or a marker that `commits`): the epoch check
    /// without the sequence checks, under the role and producer-state locks.
    fn append_unsequenced(
        &self,
        batch: Bytes,
        durability: Durability,
        commits: Option<bool>,
    ) -> Result<(Appended, i32), ProduceError> {
        let role = self.role.lock().expect("role lock");
        let epoch = role.append_epoch(&self.log).ok_or(ProduceError::NotLeader)?;
        let header = batch::BatchHeader::parse(&batch).ok_or(LogError::CorruptMessage { reason: "short batch" })?;
        let mut producers = self.producers.lock().expect("producer state lock");
        producers.check_epoch(header.producer_id, header.producer_epoch).map_err(|r| ProduceError::Producer {
            producer_id: header.producer_id,
            code: r.code,
            reason: r.reason,
        })?;
        let appended = self.log.append(batch, durability)?;
        producers.note(&header, appended.base_offset, commits);
        let snapshot = appended.rolled.then(|| self.snapshot(&producers));
        drop(producers);
        drop(role);
        self.write_snapshot(snapshot);
        Ok((appended, epoch))
    }

    /// One compaction pass over the log, below the last stable offset and without the
    /// batches of aborted transactions.
    pub fn compact(
        &self,
        codec: &dyn brook_log::compact::RecordCodec,
    ) -> Result<brook_log::compact::CompactStats, LogError> {
        let aborted = |producer_id: i64, offset: i64| {
            self.producers.lock().expect("producer state lock").is_aborted(producer_id, offset)
        };
        let txns = brook_log::compact::Transactions { stable_end: self.last_stable_offset(), aborted: &aborted };
        self.log.compact(codec, &txns)
    }

    /// How many transactions have data in this partition and no marker yet.
    pub fn open_transactions(&self) -> usize {
        self.producers.lock().expect("producer state lock").open_transactions()
    }

    /// The producers this partition knows (DescribeProducers).
    pub fn active_producers(&self) -> Vec<crate::producers::ActiveProducer> {
        self.producers.lock().expect("producer state lock").active()
    }

    /// The last stable offset: `read_committed` consumers read below it.
    pub fn last_stable_offset(&self) -> i64 {
        let high = self.log.high_watermark();
        self.producers.lock().expect("producer state lock").last_stable_offset(high)
    }

    /// The aborted transactions with records in `from..to`, for a `read_committed` fetch.
    pub fn aborted_between(&self, from: i64, to: i64) -> Vec<AbortedTxn> {
        let log_start = self.log.log_start_offset();
        self.producers.lock().expect("producer state lock").aborted_between(from, to, log_start)
    }
}

/// A producer-state snapshot to write (see `Partition::snapshot`).
struct Snapshot {
    offset: i64,
    truncations: u64,
    contents: Vec<u8>,
}

/// The producer state of `log`: its newest snapshot, then the batch headers after it (all of
/// them without a usable snapshot).
fn producers_from(log: &Log) -> Result<Producers, LogError> {
    let snapshot = match log.latest_snapshot() {
        Ok(Some((offset, bytes))) => match producer_snapshot::decode(&bytes) {
            Some(producers) => Some((producers, offset)),
            None => {
                warn!(dir = %log.dir().display(), offset, "a producer snapshot is damaged; reading the whole log");
                None
            }
        },
        Ok(None) => None,
        Err(e) => {
            warn!(dir = %log.dir().display(), error = %e, "reading a producer snapshot failed; reading the whole log");
            None
        }
    };
    let (mut producers, from) = snapshot.unwrap_or((Producers::default(), i64::MIN));
    log.scan_batch_headers(from, |header, marker| producers.note(header, header.base_offset, marker))?;
    Ok(producers)
}

#[cfg(test)]
mod tests {
    use std::path::Path;
    use std::sync::Arc;

    use brook_log::batch::build::{self, Record};
    use brook_log::batch::{Producer, end_txn_marker, whole_batches};
    use brook_log::storage::OsStorage;
    use brook_log::{LogConfig, LogEnv, ReadBound, SystemClock};

    use super::*;

    fn open(dir: &Path) -> Partition {
        open_with(dir, LogConfig { flush_on_ack: false, ..LogConfig::default() })
    }

    fn open_with(dir: &Path, config: LogConfig) -> Partition {
        let env = LogEnv::new(Arc::new(OsStorage::default()), Arc::new(SystemClock), None);
        let log = Log::open(dir, config, env).expect("open");
        Partition::new("t".into(), Uuid::nil(), 0, log).expect("partition")
    }

    fn keyed(key: &str, value: &str) -> Vec<Record> {
        vec![Record { timestamp_delta: 0, key: Some(key.as_bytes().to_vec()), value: Some(value.as_bytes().to_vec()) }]
    }

    /// Compaction drops aborted transactions' batches (an aborted write never replaces the
    /// committed value of its key) and leaves alone everything from an open transaction on.
    #[test]
    fn compaction_drops_aborted_writes_and_stops_at_open_transactions() {
        let dir = tempfile::tempdir().expect("temp dir");
        let config = LogConfig {
            segment_bytes: 200,
            flush_on_ack: false,
            cleanup_compact: true,
            cleanup_delete: false,
            ..LogConfig::default()
        };
        let partition = open_with(dir.path(), config);
        let append = |batch| partition.append(batch, Durability::Async, None).expect("append");
        let marker = |pid, commit| partition.append_marker(end_txn_marker(pid, 0, commit, 0, 0), Durability::Async);
        append(build::from_producer(0, &keyed("k", "committed"), Producer::transactional(1, 0, 0)));
        marker(1, true).expect("marker");
        append(build::from_producer(0, &keyed("k", "aborted"), Producer::transactional(2, 0, 0)));
        marker(2, false).expect("marker");
        append(build::from_producer(0, &keyed("j", "open"), Producer::transactional(3, 0, 0)));
        append(build::batch(0, &keyed("j", "after the open one")));
        append(build::batch(0, &keyed("filler", &"x".repeat(300))));
        // The values of the data batches, in log order.
        let values = |p: &Partition| {
            let (mut offset, mut values) = (0, Vec::new());
            while offset < p.log.log_end_offset() {
                let read = p.log.read(offset, 1 << 20, ReadBound::LogEnd).expect("read");
                for (header, bytes) in whole_batches(&read) {
                    offset = header.next_offset();
                    if !header.is_control() {
                        let records = crate::records::decode_all(bytes).expect("decode");
                        values.extend(records.into_iter().map(|r| String::from_utf8(r.value.expect("value").to_vec())));
                    }
                }
            }
            values.into_iter().map(|v| v.expect("utf-8")).collect::<Vec<_>>()
        };
        let stats = partition.compact(&crate::records::KafkaRecords).expect("compact");
        assert_eq!(stats.records_removed, 1, "only the aborted write: {stats:?}");
        assert_eq!(values(&partition)[..3], ["committed", "open", "after the open one"]);
        // The open transaction aborts: compaction may now go past it, and drops it too.
        marker(3, false).expect("marker");
        append(build::batch(0, &keyed("filler", &"y".repeat(300))));
        partition.compact(&crate::records::KafkaRecords).expect("compact");
        assert_eq!(values(&partition)[..2], ["committed", "after the open one"]);
    }

    fn record() -> Vec<Record> {
        vec![Record { timestamp_delta: 0, key: None, value: Some(b"v".to_vec()) }]
    }

    #[test]
    fn a_reopened_partition_knows_its_open_and_aborted_transactions() {
        let dir = tempfile::tempdir().expect("temp dir");
        let partition = open(dir.path());
        let append = |batch| partition.append(batch, Durability::Async, None).expect("append");
        // Producer 1 writes offset 0 in a transaction aborted at 1; producer 2 opens one at 2;
        // offset 3 is outside any transaction.
        append(build::from_producer(0, &record(), Producer::transactional(1, 0, 0)));
        partition.append_marker(end_txn_marker(1, 0, false, 0, 0), Durability::Async).expect("marker");
        append(build::from_producer(0, &record(), Producer::transactional(2, 0, 0)));
        append(build::batch(0, &record()));
        let check = |p: &Partition| {
            assert_eq!(p.log.high_watermark(), 4);
            assert_eq!(p.last_stable_offset(), 2);
            let aborted = AbortedTxn { producer_id: 1, first_offset: 0, last_offset: 1 };
            assert_eq!(p.aborted_between(0, 2), vec![aborted]);
            let read = p.log.read(0, 1 << 20, ReadBound::Below(p.last_stable_offset())).expect("read");
            let offsets: Vec<i64> = whole_batches(&read).map(|(h, _)| h.base_offset).collect();
            assert_eq!(offsets, vec![0, 1], "read_committed stops at the open transaction");
        };
        check(&partition);
        // A marker under an older epoch than the producer's is refused.
        partition.append_marker(end_txn_marker(2, 1, true, 0, 0), Durability::Async).expect("marker");
        let stale = partition.append_marker(end_txn_marker(2, 0, true, 0, 0), Durability::Async);
        assert!(matches!(stale, Err(ProduceError::Producer { code: ResponseError::InvalidProducerEpoch, .. })));
        assert_eq!(partition.last_stable_offset(), 5);
        partition.log.close().expect("close");
        drop(partition);
        let reopened = open(dir.path());
        assert_eq!(reopened.last_stable_offset(), 5);
        assert_eq!(reopened.aborted_between(0, 5).len(), 1);
    }

    fn snapshots(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(dir)
            .expect("list")
            .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
            .filter(|n| n.ends_with(".snapshot"))
            .collect();
        names.sort();
        names
    }

    /// Snapshots are taken as segments roll (the newest two kept) and at a clean shutdown; a
    /// reopened partition starts from the newest and knows what the whole log would tell it:
    /// each producer's last five batches (a retried one is still a duplicate), its open
    /// transaction and the aborted ones. A truncation removes the snapshots above its end.
    #[test]
    fn a_partition_reopens_from_its_producer_snapshot() {
        let dir = tempfile::tempdir().expect("temp dir");
        let config = LogConfig { segment_bytes: 400, flush_on_ack: false, ..LogConfig::default() };
        let partition = open_with(dir.path(), config.clone());
        let append = |p: &Partition, batch| p.append(batch, Durability::Async, None).expect("append");
        let idempotent = |sequence| Producer { id: 7, epoch: 0, base_sequence: sequence, attributes: 0 };
        for sequence in 0..8 {
            append(&partition, build::from_producer(0, &record(), idempotent(sequence)));
        }
        append(&partition, build::from_producer(0, &record(), Producer::transactional(9, 0, 0)));
        partition.append_marker(end_txn_marker(9, 0, false, 0, 0), Durability::Async).expect("marker");
        append(&partition, build::from_producer(0, &record(), Producer::transactional(8, 0, 0)));
        let rolled = snapshots(dir.path());
        assert!((1..=2).contains(&rolled.len()), "taken at rolls, two kept: {rolled:?}");
        let state = |p: &Partition| (p.active_producers(), p.last_stable_offset(), p.aborted_between(0, 100));
        let before = state(&partition);
        partition.close().expect("close");
        assert_eq!(snapshots(dir.path()).last().map(String::as_str), Some("00000000000000000011.snapshot"));
        drop(partition);

        let reopened = open_with(dir.path(), config.clone());
        assert_eq!(state(&reopened), before);
        assert_eq!(before.1, 10, "the open transaction at 10 bounds the stable offset");
        // The fourth batch from the end is still recognised when retried.
        let retried = append(&reopened, build::from_producer(0, &record(), idempotent(4)));
        assert_eq!(retried.0.base_offset, 4);
        let next = append(&reopened, build::from_producer(0, &record(), idempotent(8)));
        assert_eq!(next.0.base_offset, 11);
        // A follower's truncation below the snapshots removes them; its state is read again.
        reopened.log.truncate_to(3).expect("truncate");
        assert!(snapshots(dir.path()).iter().all(|n| n.as_str() <= "00000000000000000003.snapshot"));
        reopened.reload_producers().expect("reload");
        assert_eq!(reopened.last_stable_offset(), 3);
        assert_eq!(reopened.active_producers().len(), 1, "only producer 7 wrote below 3");
    }
}
