//! A partition's producer state: what guards appends from idempotent producers, and which
//! transactions are open or were aborted.
//!
//! For each producer id the partition remembers the epoch and the last five batches (Kafka's
//! `max.in.flight.requests.per.connection` ceiling for idempotence): a retried batch that
//! matches one of them is acknowledged with its original offsets and not appended again; a
//! sequence gap is refused with OUT_OF_ORDER_SEQUENCE_NUMBER.
//!
//! A producer's first transactional batch opens its transaction at that offset; the
//! transaction marker (a control batch the coordinator writes) closes it. The first offset of
//! the oldest open transaction bounds the last stable offset, which `read_committed` consumers
//! read up to; an aborted transaction's range is kept so that they can skip its records.
//! Everything is rebuilt when the partition opens: from its newest snapshot
//! (`producer_snapshot`) and the batch headers after it.

use std::collections::{BTreeMap, HashMap, VecDeque};

use brook_log::batch::BatchHeader;
use kafka_protocol::error::ResponseError;

/// Batches remembered per producer for duplicate detection, as in Kafka.
const PRODUCER_BATCHES_KEPT: usize = 5;

/// The `producer_id` of a batch from a non-idempotent producer.
pub const NO_PRODUCER_ID: i64 = -1;

#[derive(Debug, Default)]
pub struct Producers {
    pub(crate) entries: HashMap<i64, ProducerEntry>,
    /// Open transactions: first offset → producer id.
    pub(crate) open: BTreeMap<i64, i64>,
    /// Aborted transactions in marker order, for `read_committed` fetches.
    pub(crate) aborted: Vec<AbortedTxn>,
}

#[derive(Debug, Default)]
pub(crate) struct ProducerEntry {
    pub(crate) epoch: i16,
    pub(crate) batches: VecDeque<BatchMeta>,
    /// The first offset of this producer's open transaction.
    pub(crate) txn_first_offset: Option<i64>,
    /// The newest timestamp of its last batch (or marker).
    pub(crate) last_timestamp: i64,
    /// Markers seen for this producer since the partition opened: a write verified with the
    /// coordinator may open a transaction only if none came in between (Kafka's
    /// verification guard).
    pub(crate) markers: u64,
}

/// A producer as DescribeProducers shows it (`kafka-transactions describe-producers`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActiveProducer {
    pub producer_id: i64,
    pub epoch: i16,
    /// -1 when only a marker is known.
    pub last_sequence: i32,
    pub last_timestamp: i64,
    /// -1 outside a transaction.
    pub txn_start_offset: i64,
}

#[derive(Debug, Clone, Copy)]
pub struct BatchMeta {
    pub(crate) first_sequence: i32,
    pub(crate) last_sequence: i32,
    pub base_offset: i64,
    pub last_offset: i64,
}

/// An aborted transaction's records lie in `first_offset..=last_offset` (the marker's offset).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AbortedTxn {
    pub producer_id: i64,
    pub first_offset: i64,
    pub last_offset: i64,
}

impl AbortedTxn {
    /// Whether `producer_id`'s record at `offset` belongs to this aborted transaction.
    pub fn covers(&self, producer_id: i64, offset: i64) -> bool {
        self.producer_id == producer_id && (self.first_offset..=self.last_offset).contains(&offset)
    }
}

/// Why a producer's batch is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Refused {
    pub code: ResponseError,
    pub reason: &'static str,
}

impl Producers {
    /// Notes a batch that is in the log at `base_offset` (appended here, copied from a leader,
    /// or read back at start-up); `marker` says whether a transaction marker commits.
    pub fn note(&mut self, header: &BatchHeader, base_offset: i64, marker: Option<bool>) {
        if header.producer_id < 0 {
            return;
        }
        let entry = self.entries.entry(header.producer_id).or_default();
        if header.producer_epoch != entry.epoch {
            entry.batches.clear();
            entry.epoch = header.producer_epoch;
        }
        entry.last_timestamp = header.max_timestamp;
        if header.is_control() {
            entry.markers += 1;
            // A marker ends the producer's transaction, if one is open.
            if let Some(first_offset) = entry.txn_first_offset.take() {
                self.open.remove(&first_offset);
                if marker == Some(false) {
                    let last_offset = base_offset + i64::from(header.last_offset_delta);
                    self.aborted.push(AbortedTxn { producer_id: header.producer_id, first_offset, last_offset });
                }
            }
            return;
        }
        if header.is_transactional() && entry.txn_first_offset.is_none() {
            entry.txn_first_offset = Some(base_offset);
            self.open.insert(base_offset, header.producer_id);
        }
        // A coordinator's transactional offset commit has no sequence to remember.
        if header.base_sequence >= 0 {
            remember(entry, header, base_offset);
        }
    }

    /// Kafka's sequence rules for a producer's data batch: `Ok(Some(meta))` for a duplicate
    /// of a recent batch, `Ok(None)` to append.
    pub fn check(&self, header: &BatchHeader) -> Result<Option<BatchMeta>, Refused> {
        let fail = |code, reason| Err(Refused { code, reason });
        let Some(entry) = self.entries.get(&header.producer_id) else {
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
        let Some(last) = entry.batches.back() else {
            // Known only from a marker (its epoch), or a new epoch: start at 0.
            return if header.base_sequence == 0 {
                Ok(None)
            } else {
                fail(ResponseError::OutOfOrderSequenceNumber, "a new epoch must start at sequence 0")
            };
        };
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

    /// Whether a transactional batch of this producer and epoch would open a transaction here,
    /// and so needs the coordinator's word first: `None` when its transaction is open here
    /// already, else the guard to check when appending ([`Producers::check_guard`]).
    pub fn txn_guard(&self, producer_id: i64, epoch: i16) -> Option<u64> {
        match self.entries.get(&producer_id) {
            Some(e) if e.epoch == epoch && e.txn_first_offset.is_some() => None,
            Some(e) => Some(e.markers),
            None => Some(0),
        }
    }

    /// Refuses a transactional batch that would open a transaction when a marker for its
    /// producer arrived since `guard` was taken: the coordinator's word is stale (the
    /// transaction it verified has ended).
    pub fn check_guard(&self, header: &BatchHeader, guard: u64) -> Result<(), Refused> {
        match self.entries.get(&header.producer_id) {
            Some(e) if e.txn_first_offset.is_none() && e.markers != guard => Err(Refused {
                code: ResponseError::InvalidTxnState,
                reason: "the transaction ended while the write was verified",
            }),
            _ => Ok(()),
        }
    }

    /// A marker or a coordinator's write may not carry an epoch older than the producer's
    /// (a newer producer or coordinator fenced it).
    pub fn check_epoch(&self, producer_id: i64, epoch: i16) -> Result<(), Refused> {
        match self.entries.get(&producer_id) {
            Some(entry) if epoch < entry.epoch => Err(Refused {
                code: ResponseError::InvalidProducerEpoch,
                reason: "epoch is older than the partition has seen",
            }),
            _ => Ok(()),
        }
    }

    /// The last stable offset: the first offset of the oldest open transaction, or `high`
    /// (the high watermark) if that is lower.
    pub fn last_stable_offset(&self, high: i64) -> i64 {
        self.open.keys().next().map_or(high, |first| (*first).min(high))
    }

    /// How many transactions are open in this partition.
    pub fn open_transactions(&self) -> usize {
        self.open.len()
    }

    /// Every producer this partition knows, by producer id.
    pub fn active(&self) -> Vec<ActiveProducer> {
        let mut all: Vec<ActiveProducer> = self
            .entries
            .iter()
            .map(|(id, e)| ActiveProducer {
                producer_id: *id,
                epoch: e.epoch,
                last_sequence: e.batches.back().map_or(-1, |b| b.last_sequence),
                last_timestamp: e.last_timestamp,
                txn_start_offset: e.txn_first_offset.unwrap_or(-1),
            })
            .collect();
        all.sort_by_key(|p| p.producer_id);
        all
    }

    /// Whether `producer_id`'s record at `offset` belongs to a transaction it aborted.
    pub fn is_aborted(&self, producer_id: i64, offset: i64) -> bool {
        self.aborted.iter().any(|t| t.covers(producer_id, offset))
    }

    /// The aborted transactions with records in `from..to`, oldest first; forgets those that
    /// ended before `log_start` (their records are gone).
    pub fn aborted_between(&mut self, from: i64, to: i64, log_start: i64) -> Vec<AbortedTxn> {
        let gone = self.aborted.iter().take_while(|t| t.last_offset < log_start).count();
        self.aborted.drain(..gone);
        self.aborted.iter().filter(|t| t.last_offset >= from && t.first_offset < to).copied().collect()
    }
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

#[cfg(test)]
mod tests {
    use brook_log::batch::build::{self, Record};
    use brook_log::batch::{Producer, end_txn_marker};

    use super::*;

    const PID: i64 = 7;

    fn data(producer: Producer, count: usize) -> BatchHeader {
        let records: Vec<Record> =
            (0..count).map(|_| Record { timestamp_delta: 0, key: None, value: Some(vec![0]) }).collect();
        BatchHeader::parse(&build::from_producer(0, &records, producer)).unwrap()
    }

    fn marker(producers: &mut Producers, at: i64, pid: i64, epoch: i16, commit: bool) {
        let bytes = end_txn_marker(pid, epoch, commit, 0, 0);
        producers.note(&BatchHeader::parse(&bytes).unwrap(), at, brook_log::batch::marker_commits(&bytes));
    }

    #[test]
    fn open_transactions_hold_the_last_stable_offset_and_aborts_are_remembered() {
        let mut p = Producers::default();
        assert_eq!(p.last_stable_offset(10), 10);
        // Producer 7 writes offsets 0-2 and 5-6 in a transaction, producer 8 offsets 3-4.
        p.note(&data(Producer::transactional(PID, 0, 0), 3), 0, None);
        p.note(&data(Producer::transactional(8, 0, 0), 2), 3, None);
        p.note(&data(Producer::transactional(PID, 0, 3), 2), 5, None);
        assert_eq!(p.last_stable_offset(7), 0);
        // 7 aborts at 7; 8 is still open from 3.
        marker(&mut p, 7, PID, 0, false);
        assert_eq!(p.last_stable_offset(8), 3);
        marker(&mut p, 8, 8, 0, true);
        assert_eq!(p.last_stable_offset(9), 9);
        let aborted = AbortedTxn { producer_id: PID, first_offset: 0, last_offset: 7 };
        assert_eq!(p.aborted_between(0, 9, 0), vec![aborted]);
        assert_eq!(p.aborted_between(7, 9, 0), vec![aborted]);
        assert_eq!(p.aborted_between(8, 9, 0), vec![]);
        // The next transaction of 7 opens at its first batch.
        p.note(&data(Producer::transactional(PID, 0, 5), 1), 9, None);
        assert_eq!(p.last_stable_offset(10), 9);
        // Once retention removed the aborted records, the range is forgotten.
        assert_eq!(p.aborted_between(0, 10, 8), vec![]);
        assert!(p.aborted.is_empty());
    }

    #[test]
    fn a_marker_with_a_newer_epoch_fences_the_producers_older_batches() {
        let mut p = Producers::default();
        p.note(&data(Producer::transactional(PID, 0, 0), 1), 0, None);
        // The coordinator aborted under epoch 1 (a new producer took the transactional id).
        marker(&mut p, 1, PID, 1, false);
        let old = p.check(&data(Producer::transactional(PID, 0, 1), 1));
        assert_eq!(old.unwrap_err().code, ResponseError::InvalidProducerEpoch);
        assert_eq!(p.check_epoch(PID, 0).unwrap_err().code, ResponseError::InvalidProducerEpoch);
        assert!(p.check(&data(Producer::transactional(PID, 1, 0), 1)).unwrap().is_none());
        let gap = p.check(&data(Producer::transactional(PID, 1, 3), 1));
        assert_eq!(gap.unwrap_err().code, ResponseError::OutOfOrderSequenceNumber);
    }

    #[test]
    fn a_retried_batch_is_recognised_as_a_duplicate() {
        let mut p = Producers::default();
        let idempotent = Producer { id: PID, epoch: 0, base_sequence: 0, attributes: 0 };
        let first = data(idempotent, 2);
        assert!(p.check(&first).unwrap().is_none());
        p.note(&first, 10, None);
        let dup = p.check(&first).unwrap().expect("a duplicate");
        assert_eq!((dup.base_offset, dup.last_offset), (10, 11));
        assert_eq!(p.last_stable_offset(12), 12, "idempotent batches open no transaction");
    }

    #[test]
    fn a_marker_while_a_write_is_verified_refuses_it() {
        let mut p = Producers::default();
        let first = data(Producer::transactional(PID, 0, 0), 1);
        let guard = p.txn_guard(PID, 0).expect("a first write needs the coordinator's word");
        p.check_guard(&first, guard).expect("nothing came in between");
        p.note(&first, 0, None);
        assert_eq!(p.txn_guard(PID, 0), None, "the transaction is open here: nothing to ask");
        // The next transaction: verified, but its predecessor's marker lands before the append.
        marker(&mut p, 1, PID, 0, true);
        let guard = p.txn_guard(PID, 0).expect("needs the coordinator's word");
        let next = data(Producer::transactional(PID, 0, 1), 1);
        p.check_guard(&next, guard).expect("no marker since the guard");
        marker(&mut p, 2, PID, 0, false);
        assert_eq!(p.check_guard(&next, guard).unwrap_err().code, ResponseError::InvalidTxnState);
    }
}
