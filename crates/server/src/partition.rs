//! One hosted partition: its log and the idempotent-producer state that guards appends.
//!
//! For each producer id the partition remembers the epoch and the last five batches (Kafka's
//! `max.in.flight.requests.per.connection` ceiling for idempotence): a retried batch that
//! matches one of them is acknowledged with its original offsets and not appended again; a
//! sequence gap is refused with OUT_OF_ORDER_SEQUENCE_NUMBER. The state is rebuilt from the
//! batch headers in the log when the partition opens, so retries across a restart stay exact.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::sync::atomic::AtomicUsize;

use brook_log::batch::{self, BatchHeader};
use brook_log::{Appended, Durability, Log, LogError};
use bytes::Bytes;
use kafka_protocol::error::ResponseError;
use uuid::Uuid;

use crate::stats::PartitionStats;
use brook_replication::role::Role;

/// Batches remembered per producer for duplicate detection, as in Kafka.
const PRODUCER_BATCHES_KEPT: usize = 5;

/// The `producer_id` of a batch from a non-idempotent producer.
const NO_PRODUCER_ID: i64 = -1;

pub struct Partition {
    pub topic: String,
    pub topic_id: Uuid,
    pub index: i32,
    pub log: Log,
    pub stats: PartitionStats,
    producers: Mutex<HashMap<i64, ProducerEntry>>,
    /// This replica's part in the partition's replication (see `replica`).
    pub(crate) role: Mutex<Role>,
    /// The leadership and ISR size, for acks=all producers waiting on the high watermark.
    pub(crate) view: tokio::sync::watch::Sender<View>,
    /// The topic's `min.insync.replicas`.
    pub(crate) min_insync: AtomicUsize,
}

#[derive(Debug, Default)]
struct ProducerEntry {
    epoch: i16,
    batches: VecDeque<BatchMeta>,
}

#[derive(Debug, Clone, Copy)]
struct BatchMeta {
    first_sequence: i32,
    last_sequence: i32,
    base_offset: i64,
    last_offset: i64,
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
        for (header, _) in batch::whole_batches(batches) {
            note_batch(&mut producers, &header);
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
    pub fn append(&self, batch: Bytes, durability: Durability) -> Result<(Appended, i32), ProduceError> {
        // Held across the append, so the role cannot change under it.
        let role = self.role.lock().expect("role lock");
        let epoch = role.append_epoch(&self.log).ok_or(ProduceError::NotLeader)?;
        self.append_as_leader(batch, durability).map(|a| (a, epoch))
    }

    fn append_as_leader(&self, batch: Bytes, durability: Durability) -> Result<Appended, ProduceError> {
        let header = batch::BatchHeader::parse(&batch).ok_or(LogError::CorruptMessage { reason: "short batch" })?;
        if header.producer_id == NO_PRODUCER_ID {
            return Ok(self.log.append(batch, durability)?);
        }
        // Held across the append, so the check and the write are one step for this producer.
        let mut producers = self.producers.lock().expect("producer state lock");
        let entry = producers.entry(header.producer_id).or_default();
        if let Some(duplicate) = check_sequence(entry, &header)? {
            return Ok(Appended {
                base_offset: duplicate.base_offset,
                last_offset: duplicate.last_offset,
                log_append_time_ms: -1,
                log_start_offset: self.log.log_start_offset(),
            });
        }
        let appended = self.log.append(batch, durability)?;
        if header.producer_epoch != entry.epoch {
            entry.batches.clear();
            entry.epoch = header.producer_epoch;
        }
        remember(entry, &header, appended.base_offset);
        Ok(appended)
    }
}

/// The producer state the batches in `log` leave.
fn producers_from(log: &Log) -> Result<HashMap<i64, ProducerEntry>, LogError> {
    let mut producers = HashMap::new();
    log.scan_batch_headers(|header| note_batch(&mut producers, header))?;
    Ok(producers)
}

fn note_batch(producers: &mut HashMap<i64, ProducerEntry>, header: &BatchHeader) {
    if header.producer_id >= 0 {
        let entry = producers.entry(header.producer_id).or_default();
        if header.producer_epoch != entry.epoch {
            entry.batches.clear();
            entry.epoch = header.producer_epoch;
        }
        remember(entry, header, header.base_offset);
    }
}

/// Kafka's sequence rules: `Ok(Some(meta))` for a duplicate, `Ok(None)` to append.
fn check_sequence(entry: &ProducerEntry, header: &BatchHeader) -> Result<Option<BatchMeta>, ProduceError> {
    let fail = |code, reason| Err(ProduceError::Producer { producer_id: header.producer_id, code, reason });
    let Some(last) = entry.batches.back() else {
        // A producer this partition has not seen must start at sequence 0.
        return if header.base_sequence == 0 {
            Ok(None)
        } else {
            fail(ResponseError::OutOfOrderSequenceNumber, "an unknown producer must start at sequence 0")
        };
    };
    if header.producer_epoch < entry.epoch {
        return fail(ResponseError::InvalidProducerEpoch, "epoch is older than the partition has seen");
    }
    if header.producer_epoch > entry.epoch {
        return if header.base_sequence == 0 {
            Ok(None)
        } else {
            fail(ResponseError::OutOfOrderSequenceNumber, "a new epoch must start at sequence 0")
        };
    }
    let last_sequence = header.base_sequence.wrapping_add(header.last_offset_delta);
    if let Some(seen) =
        entry.batches.iter().find(|b| b.first_sequence == header.base_sequence && b.last_sequence == last_sequence)
    {
        return Ok(Some(*seen));
    }
    let expected = if last.last_sequence == i32::MAX { 0 } else { last.last_sequence + 1 };
    if header.base_sequence != expected {
        return fail(ResponseError::OutOfOrderSequenceNumber, "sequence does not follow the last one");
    }
    Ok(None)
}

fn remember(entry: &mut ProducerEntry, header: &BatchHeader, base_offset: i64) {
    if entry.batches.len() == PRODUCER_BATCHES_KEPT {
        entry.batches.pop_front();
    }
    entry.batches.push_back(BatchMeta {
        first_sequence: header.base_sequence,
        last_sequence: header.base_sequence.wrapping_add(header.last_offset_delta),
        base_offset,
        last_offset: base_offset + i64::from(header.last_offset_delta),
    });
}
