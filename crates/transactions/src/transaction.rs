//! One transactional id as its coordinator sees it, and the coordinator's decisions on it
//! (Kafka's TransactionMetadata and the checks of its TransactionCoordinator). Both
//! transactions versions are served, per transaction: version 1 producers add partitions
//! themselves and keep their epoch across transactions; version 2 producers (KIP-890 part 2)
//! have partitions added by the partition leaders, and every EndTxn bumps the epoch.
//!
//! A decision never changes the state it judges: it returns the next state, which the caller
//! writes to `__transaction_state` and then hands back to [`Entry::written`] (or, when the
//! write fails, [`Entry::not_written`]). While a write is pending, other requests for the id
//! get CONCURRENT_TRANSACTIONS, so transitions are serialised per id as in Kafka.

use std::collections::BTreeSet;

use kafka_protocol::error::ResponseError;

use crate::state::TxnState::{self, *};

/// A topic name and a partition index.
pub type TopicPartition = (String, i32);

/// Kafka's "no producer id" and "no epoch".
pub const NO_PRODUCER_ID: i64 = -1;
pub const NO_EPOCH: i16 = -1;

/// What is stored for a transactional id (the fields of Kafka's TransactionLogValue, plus the
/// epoch before the last bump, which is kept only in memory).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transaction {
    pub producer_id: i64,
    /// The producer id before the last transition (Kafka's PreviousProducerId): after a
    /// rotation, a retried InitProducerId still names it.
    pub previous_producer_id: i64,
    /// Transactions version 2: the producer id the producer goes on with once this
    /// transaction completes, when its epoch ran out at the end (-1 otherwise).
    pub next_producer_id: i64,
    pub producer_epoch: i16,
    /// The epoch before the last bump, so that a retried InitProducerId gets the same answer;
    /// -1 when a new producer took over, which fences any retry of the old one.
    pub last_producer_epoch: i16,
    pub timeout_ms: i32,
    pub state: TxnState,
    pub partitions: BTreeSet<TopicPartition>,
    /// When the first partition was added; -1 outside a transaction.
    pub start_ms: i64,
    pub last_update_ms: i64,
    /// Kafka's ClientTransactionVersion: [`TV2`] for a version 2 producer's transaction, else 0.
    pub client_version: i16,
}

/// Transactions version 2's ClientTransactionVersion.
pub const TV2: i16 = 2;

impl Transaction {
    /// The producer id and epoch a version 2 producer goes on with after this transaction:
    /// the next producer id at epoch 0 when the epoch ran out, else the (bumped) epoch.
    pub fn next_ids(&self) -> (i64, i16) {
        if self.next_producer_id == NO_PRODUCER_ID {
            (self.producer_id, self.producer_epoch)
        } else {
            (self.next_producer_id, 0)
        }
    }
}

/// An epoch this high cannot be bumped for a fence any more: the id gets a new producer id.
pub fn epoch_exhausted(epoch: i16) -> bool {
    epoch >= i16::MAX - 1
}

/// The answer to InitProducerId.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Init {
    /// Write this state (Empty, with a bumped epoch or a new producer id) and answer with its
    /// producer id and epoch.
    Ready(Transaction),
    /// An ongoing transaction is in the way: write this abort (PrepareAbort under a bumped
    /// epoch, which fences the old producer), write its markers, and answer
    /// CONCURRENT_TRANSACTIONS so that the producer retries once the abort is complete.
    AbortFirst(Transaction),
}

/// A transactional id at its coordinator: the state last written, and the state being written.
#[derive(Debug, Clone)]
pub struct Entry {
    pub txn: Transaction,
    pending: Option<Transaction>,
    /// A fence's write failed after its epoch was bumped; the next fence reuses that epoch.
    failed_fence: bool,
}

impl Entry {
    /// A transactional id seen for the first time: a fresh producer id, no epoch yet.
    pub fn new(producer_id: i64, timeout_ms: i32, now_ms: i64) -> Entry {
        Entry::loaded(Transaction {
            producer_id,
            previous_producer_id: NO_PRODUCER_ID,
            next_producer_id: NO_PRODUCER_ID,
            producer_epoch: NO_EPOCH,
            last_producer_epoch: NO_EPOCH,
            timeout_ms,
            state: Empty,
            partitions: BTreeSet::new(),
            start_ms: -1,
            last_update_ms: now_ms,
            client_version: 0,
        })
    }

    /// A transactional id as read back from `__transaction_state`.
    pub fn loaded(txn: Transaction) -> Entry {
        Entry { txn, pending: None, failed_fence: false }
    }

    /// The transition being written, if any.
    pub fn pending(&self) -> Option<&Transaction> {
        self.pending.as_ref()
    }

    /// The pending transition is in the log: it becomes the state.
    pub fn written(&mut self) {
        if let Some(next) = self.pending.take() {
            self.txn = next;
            self.failed_fence = false;
        }
    }

    /// The pending transition could not be written: the state stays as it was, except that a
    /// fence keeps its bumped epoch in memory (as Kafka's): the fenced producer stays fenced,
    /// and the next fence reuses that epoch, which was never given to anyone.
    pub fn not_written(&mut self) {
        if let Some(next) = self.pending.take()
            && next.state == PrepareAbort
            && next.producer_epoch != self.txn.producer_epoch
        {
            self.txn.producer_epoch = next.producer_epoch;
            self.txn.last_producer_epoch = NO_EPOCH;
            self.failed_fence = true;
        }
    }

    fn propose(&mut self, mut next: Transaction, now_ms: i64) -> Transaction {
        debug_assert!(next.state.may_follow(self.txn.state), "{:?} after {:?}", next.state, self.txn.state);
        next.previous_producer_id = self.txn.producer_id;
        next.last_update_ms = now_ms;
        self.pending = Some(next.clone());
        next
    }

    /// InitProducerId with this transactional id. `expected` is the producer id and epoch a
    /// producer recovering from an error sends (KIP-360); `new_producer_id` allocates one when
    /// the epoch is exhausted.
    pub fn init_producer_id(
        &mut self,
        timeout_ms: i32,
        expected: Option<(i64, i16)>,
        now_ms: i64,
        new_producer_id: impl FnOnce() -> i64,
    ) -> Result<Init, ResponseError> {
        let txn = &self.txn;
        if self.pending.is_some() {
            return Err(ResponseError::ConcurrentTransactions);
        }
        // A recovering producer may go on if the id has no epoch yet (just created), names the
        // current producer id, or names the previous one with an exhausted epoch (a retry
        // after a rotation it never heard of).
        let known = |(id, epoch): (i64, i16)| {
            txn.producer_epoch == NO_EPOCH
                || id == txn.producer_id
                || (id == txn.previous_producer_id && epoch_exhausted(epoch))
        };
        if !expected.is_none_or(known) {
            return Err(ResponseError::ProducerFenced);
        }
        match txn.state {
            PrepareCommit | PrepareAbort => Err(ResponseError::ConcurrentTransactions),
            Ongoing => Ok(Init::AbortFirst(self.fence_and_abort(now_ms))),
            Empty | CompleteCommit | CompleteAbort => {
                let fresh = Transaction {
                    timeout_ms,
                    state: Empty,
                    partitions: BTreeSet::new(),
                    start_ms: -1,
                    next_producer_id: NO_PRODUCER_ID,
                    ..txn.clone()
                };
                let next = if epoch_exhausted(txn.producer_epoch)
                    && expected.is_none_or(|(_, epoch)| epoch == txn.producer_epoch)
                {
                    Transaction {
                        producer_id: new_producer_id(),
                        producer_epoch: 0,
                        last_producer_epoch: if expected.is_some() { txn.producer_epoch } else { NO_EPOCH },
                        ..fresh
                    }
                } else {
                    let (epoch, last) = match expected {
                        // A new producer: bump, and forget the last epoch so that the old
                        // producer's retries are fenced.
                        None => (txn.producer_epoch + 1, NO_EPOCH),
                        // The same producer going on after an error.
                        Some((_, e)) if txn.producer_epoch == NO_EPOCH || e == txn.producer_epoch => {
                            (txn.producer_epoch + 1, txn.producer_epoch)
                        }
                        // A retry of a bump that succeeded: the same answer again.
                        Some((_, e)) if e == txn.last_producer_epoch => (txn.producer_epoch, txn.last_producer_epoch),
                        Some(_) => return Err(ResponseError::ProducerFenced),
                    };
                    Transaction { producer_epoch: epoch, last_producer_epoch: last, ..fresh }
                };
                Ok(Init::Ready(self.propose(next, now_ms)))
            }
            Dead | PrepareEpochFence => unreachable!("{:?} is never a written state", txn.state),
        }
    }

    /// Bumps the epoch (fencing the producer that holds it) and aborts the ongoing
    /// transaction: for InitProducerId from a new producer and for a transaction past its
    /// timeout. Kafka writes this as one PrepareAbort record under the bumped epoch.
    fn fence_and_abort(&mut self, now_ms: i64) -> Transaction {
        let epoch = if self.failed_fence || self.txn.producer_epoch == i16::MAX {
            self.txn.producer_epoch
        } else {
            self.txn.producer_epoch + 1
        };
        let next = Transaction {
            producer_epoch: epoch,
            last_producer_epoch: NO_EPOCH,
            state: PrepareAbort,
            ..self.txn.clone()
        };
        self.propose(next, now_ms)
    }

    /// Checks the producer id and epoch a client request carries, and that no write is
    /// pending.
    fn check_producer(&self, producer_id: i64, epoch: i16) -> Result<(), ResponseError> {
        if self.txn.producer_id != producer_id {
            Err(ResponseError::InvalidProducerIdMapping)
        } else if self.txn.producer_epoch != epoch {
            Err(ResponseError::ProducerFenced)
        } else if self.pending.is_some() {
            Err(ResponseError::ConcurrentTransactions)
        } else {
            Ok(())
        }
    }

    /// AddPartitionsToTxn (and AddOffsetsToTxn, which adds the group's `__consumer_offsets`
    /// partition), from a version 1 producer or, for a version 2 producer's first write to a
    /// partition, from its leader (`client_version` [`TV2`]). `None`: the partitions are in
    /// the transaction already, nothing to write.
    pub fn add_partitions(
        &mut self,
        producer_id: i64,
        epoch: i16,
        partitions: impl IntoIterator<Item = TopicPartition>,
        client_version: i16,
        now_ms: i64,
    ) -> Result<Option<Transaction>, ResponseError> {
        let txn = &self.txn;
        let preparing = matches!(txn.state, PrepareCommit | PrepareAbort);
        if preparing && producer_id == txn.next_producer_id && producer_id != NO_PRODUCER_ID {
            // The producer already goes on under its next id while the last one completes.
            return Err(ResponseError::ConcurrentTransactions);
        }
        self.check_producer(producer_id, epoch)?;
        let txn = &self.txn;
        if preparing {
            return Err(ResponseError::ConcurrentTransactions);
        }
        let mut all = txn.partitions.clone();
        let before = all.len();
        all.extend(partitions);
        if txn.state == Ongoing && all.len() == before {
            return Ok(None);
        }
        let start_ms = if txn.state == Ongoing { txn.start_ms } else { now_ms };
        let next = Transaction { state: Ongoing, partitions: all, start_ms, client_version, ..txn.clone() };
        Ok(Some(self.propose(next, now_ms)))
    }

    /// KIP-890's check before a transactional write opens the producer's transaction in
    /// `partition`: the partition must be in the ongoing transaction of this producer id and
    /// epoch. (A pending write does not matter: the partition's leader refuses the write if a
    /// marker lands in between.)
    pub fn verify(&self, producer_id: i64, epoch: i16, partition: &TopicPartition) -> Result<(), ResponseError> {
        let txn = &self.txn;
        if txn.producer_id != producer_id {
            Err(ResponseError::InvalidProducerIdMapping)
        } else if txn.producer_epoch != epoch {
            Err(ResponseError::ProducerFenced)
        } else if matches!(txn.state, PrepareCommit | PrepareAbort) {
            Err(ResponseError::ConcurrentTransactions)
        } else if txn.state != Ongoing || !txn.partitions.contains(partition) {
            Err(ResponseError::InvalidTxnState)
        } else {
            Ok(())
        }
    }

    /// EndTxn from a version 1 producer. `None`: the transaction already ended this way (a
    /// retry), answer success with nothing to write.
    pub fn end(
        &mut self,
        producer_id: i64,
        epoch: i16,
        commit: bool,
        now_ms: i64,
    ) -> Result<Option<Transaction>, ResponseError> {
        self.check_producer(producer_id, epoch)?;
        let txn = &self.txn;
        match (txn.state, commit) {
            (Ongoing, _) => {
                let state = if commit { PrepareCommit } else { PrepareAbort };
                let next = Transaction { state, ..txn.clone() };
                Ok(Some(self.propose(next, now_ms)))
            }
            (CompleteCommit, true) | (CompleteAbort, false) => Ok(None),
            (PrepareCommit, true) | (PrepareAbort, false) => Err(ResponseError::ConcurrentTransactions),
            _ => Err(ResponseError::InvalidTxnState),
        }
    }

    /// EndTxn from a version 2 producer (EndTxn v5): the prepared state bumps the epoch (the
    /// markers carry it, fencing the ended transaction's late writes), or, when the epoch has
    /// run out, names `next_producer_id` (allocated by the caller) for the producer to go on
    /// with. An abort needs no ongoing transaction. A retry is recognised by its epoch being
    /// one below the bumped one. `None`: answer success with nothing to write; the answer's
    /// ids are [`Transaction::next_ids`] of the state.
    pub fn end_v2(
        &mut self,
        producer_id: i64,
        epoch: i16,
        commit: bool,
        next_producer_id: Option<i64>,
        now_ms: i64,
    ) -> Result<Option<Transaction>, ResponseError> {
        let txn = &self.txn;
        if self.pending.is_some() {
            return Err(ResponseError::ConcurrentTransactions);
        }
        let retry_on_overflow =
            txn.previous_producer_id == producer_id && epoch == i16::MAX - 1 && txn.producer_epoch == 0;
        let retry_on_bump = i32::from(txn.producer_epoch) == i32::from(epoch) + 1;
        if txn.producer_id != producer_id && !retry_on_overflow {
            return Err(ResponseError::InvalidProducerIdMapping);
        }
        let valid_epoch = match txn.state {
            Ongoing | Empty => epoch == txn.producer_epoch,
            PrepareCommit | PrepareAbort => retry_on_bump,
            CompleteCommit | CompleteAbort => retry_on_bump || retry_on_overflow || epoch == txn.producer_epoch,
            Dead | PrepareEpochFence => unreachable!("{:?} is never a written state", txn.state),
        };
        if !valid_epoch {
            return Err(ResponseError::ProducerFenced);
        }
        let retry = retry_on_bump || retry_on_overflow;
        let prepare = match (txn.state, commit) {
            (Ongoing, true) => PrepareCommit,
            (Ongoing, false) => PrepareAbort,
            (CompleteCommit, true) | (CompleteAbort, false) if retry => return Ok(None),
            (Empty | CompleteCommit | CompleteAbort, false) if !retry => PrepareAbort,
            (PrepareCommit, true) | (PrepareAbort, false) => return Err(ResponseError::ConcurrentTransactions),
            _ => return Err(ResponseError::InvalidTxnState),
        };
        let partitions = if txn.state == Ongoing { txn.partitions.clone() } else { BTreeSet::new() };
        let next = Transaction {
            producer_epoch: txn.producer_epoch.saturating_add(1),
            last_producer_epoch: txn.producer_epoch,
            next_producer_id: next_producer_id
                .filter(|_| epoch_exhausted(txn.producer_epoch))
                .unwrap_or(NO_PRODUCER_ID),
            state: prepare,
            partitions,
            client_version: TV2,
            ..txn.clone()
        };
        Ok(Some(self.propose(next, now_ms)))
    }

    /// Every marker of a prepared transaction is written: the transaction is complete.
    /// `None` when the state is not a prepared one (or a write is pending).
    pub fn complete(&mut self, now_ms: i64) -> Option<Transaction> {
        let state = match self.txn.state {
            PrepareCommit => CompleteCommit,
            PrepareAbort => CompleteAbort,
            _ => return None,
        };
        if self.pending.is_some() {
            return None;
        }
        let done = Transaction { state, partitions: BTreeSet::new(), ..self.txn.clone() };
        // A version 2 producer whose epoch ran out goes on under its next producer id.
        let next = if done.next_producer_id == NO_PRODUCER_ID {
            done
        } else {
            Transaction {
                producer_id: done.next_producer_id,
                producer_epoch: 0,
                last_producer_epoch: NO_EPOCH,
                next_producer_id: NO_PRODUCER_ID,
                ..done
            }
        };
        Some(self.propose(next, now_ms))
    }

    /// The id has been idle (no transaction, no new producer) for `expiration_ms`
    /// (`transactional.id.expiration.ms`): the Dead state to write, as a tombstone, after
    /// which the id is forgotten. Other requests for it wait (CONCURRENT_TRANSACTIONS) meanwhile.
    pub fn expire(&mut self, now_ms: i64, expiration_ms: i64) -> Option<Transaction> {
        let idle = now_ms.saturating_sub(self.txn.last_update_ms) > expiration_ms;
        (idle && self.txn.state.may_expire() && self.pending.is_none()).then(|| {
            let next = Transaction { state: Dead, ..self.txn.clone() };
            self.propose(next, now_ms)
        })
    }

    /// The transaction has been open longer than its timeout: the abort to write (under a
    /// bumped epoch, so that the producer, if alive, learns it was fenced).
    pub fn abort_if_timed_out(&mut self, now_ms: i64) -> Option<Transaction> {
        let txn = &self.txn;
        let expired = txn.state == Ongoing && now_ms > txn.start_ms.saturating_add(i64::from(txn.timeout_ms));
        (expired && self.pending.is_none()).then(|| self.fence_and_abort(now_ms))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_idle_id_expires_and_requests_wait_for_it() {
        let mut e = initialised();
        assert_eq!(e.expire(1_000, 1_000), None, "not idle long enough");
        let dead = e.expire(10_000, 1_000).expect("expires");
        assert_eq!(dead.state, Dead);
        let waits = e.init_producer_id(60_000, None, 10_001, || unreachable!());
        assert_eq!(waits, Err(ResponseError::ConcurrentTransactions));
        e.not_written();
        assert_eq!(e.txn.state, Empty, "a failed tombstone leaves the id as it was");
        e.add_partitions(PID, e.txn.producer_epoch, [tp("t", 0)], 0, 20_000).expect("add");
        assert_eq!(e.expire(90_000, 1_000), None, "an id with a pending write does not expire");
        e.written();
        assert_eq!(e.expire(90_000, 1_000), None, "nor one in a transaction");
    }

    const PID: i64 = 1000;

    fn tp(topic: &str, partition: i32) -> TopicPartition {
        (topic.to_string(), partition)
    }

    /// Applies a decision as a successful write would.
    fn write(entry: &mut Entry, next: Transaction) -> Transaction {
        assert_eq!(entry.pending(), Some(&next));
        entry.written();
        entry.txn.clone()
    }

    fn initialised() -> Entry {
        let mut e = Entry::new(PID, 60_000, 0);
        let Ok(Init::Ready(next)) = e.init_producer_id(60_000, None, 1, || unreachable!()) else { panic!() };
        write(&mut e, next);
        e
    }

    #[test]
    fn a_new_transactional_id_starts_at_epoch_zero() {
        let e = initialised();
        assert_eq!((e.txn.producer_id, e.txn.producer_epoch, e.txn.state), (PID, 0, Empty));
    }

    #[test]
    fn commit_goes_through_prepare_to_complete_and_clears_the_partitions() {
        let mut e = initialised();
        let next = e.add_partitions(PID, 0, [tp("a", 0), tp("b", 1)], 0, 10).unwrap().unwrap();
        assert_eq!((next.state, next.start_ms), (Ongoing, 10));
        write(&mut e, next);
        // Adding what is there already writes nothing.
        assert_eq!(e.add_partitions(PID, 0, [tp("a", 0)], 0, 11), Ok(None));
        let next = e.add_partitions(PID, 0, [tp("c", 2)], 0, 12).unwrap().unwrap();
        assert_eq!((next.partitions.len(), next.start_ms), (3, 10));
        write(&mut e, next);
        let next = e.end(PID, 0, true, 20).unwrap().unwrap();
        assert_eq!(next.state, PrepareCommit);
        write(&mut e, next);
        // The commit's retry while markers are written, and an abort now, are refused.
        assert_eq!(e.end(PID, 0, true, 21), Err(ResponseError::ConcurrentTransactions));
        assert_eq!(e.end(PID, 0, false, 21), Err(ResponseError::InvalidTxnState));
        assert_eq!(e.add_partitions(PID, 0, [tp("d", 0)], 0, 21), Err(ResponseError::ConcurrentTransactions));
        let done = e.complete(30).unwrap();
        assert_eq!((done.state, done.partitions.len(), done.producer_epoch), (CompleteCommit, 0, 0));
        write(&mut e, done);
        // A retried commit succeeds with nothing to do; the next transaction starts afresh.
        assert_eq!(e.end(PID, 0, true, 31), Ok(None));
        assert_eq!(e.end(PID, 0, false, 31), Err(ResponseError::InvalidTxnState));
        let next = e.add_partitions(PID, 0, [tp("a", 1)], 0, 40).unwrap().unwrap();
        assert_eq!((next.state, next.start_ms, next.partitions.len()), (Ongoing, 40, 1));
    }

    #[test]
    fn requests_with_the_wrong_producer_are_refused_as_kafka_does() {
        let mut e = initialised();
        assert_eq!(e.add_partitions(PID + 1, 0, [tp("a", 0)], 0, 1), Err(ResponseError::InvalidProducerIdMapping));
        assert_eq!(e.add_partitions(PID, 1, [tp("a", 0)], 0, 1), Err(ResponseError::ProducerFenced));
        assert_eq!(e.end(PID, 0, true, 1), Err(ResponseError::InvalidTxnState));
        let next = e.add_partitions(PID, 0, [tp("a", 0)], 0, 1).unwrap().unwrap();
        // A second request while the first is being written.
        assert_eq!(e.end(PID, 0, true, 1), Err(ResponseError::ConcurrentTransactions));
        write(&mut e, next);
    }

    #[test]
    fn a_new_producer_fences_the_old_one_and_aborts_its_transaction() {
        let mut e = initialised();
        let next = e.add_partitions(PID, 0, [tp("a", 0)], 0, 1).unwrap().unwrap();
        write(&mut e, next);
        let Ok(Init::AbortFirst(abort)) = e.init_producer_id(60_000, None, 2, || unreachable!()) else { panic!() };
        assert_eq!((abort.state, abort.producer_epoch, abort.partitions.len()), (PrepareAbort, 1, 1));
        write(&mut e, abort);
        // The old producer is fenced at once; the new one waits for the abort.
        assert_eq!(e.end(PID, 0, true, 3), Err(ResponseError::ProducerFenced));
        assert_eq!(e.init_producer_id(60_000, None, 3, || unreachable!()), Err(ResponseError::ConcurrentTransactions));
        let done = e.complete(4).unwrap();
        write(&mut e, done);
        let Ok(Init::Ready(next)) = e.init_producer_id(60_000, None, 5, || unreachable!()) else { panic!() };
        assert_eq!((next.producer_id, next.producer_epoch, next.state), (PID, 2, Empty));
    }

    #[test]
    fn a_failed_fence_is_retried_under_the_same_epoch() {
        let mut e = initialised();
        let next = e.add_partitions(PID, 0, [tp("a", 0)], 0, 1).unwrap().unwrap();
        write(&mut e, next);
        let Ok(Init::AbortFirst(abort)) = e.init_producer_id(60_000, None, 2, || unreachable!()) else { panic!() };
        assert_eq!(abort.producer_epoch, 1);
        e.not_written();
        assert_eq!((e.txn.state, e.txn.producer_epoch), (Ongoing, 1));
        assert_eq!(e.end(PID, 0, true, 3), Err(ResponseError::ProducerFenced));
        let Ok(Init::AbortFirst(again)) = e.init_producer_id(60_000, None, 3, || unreachable!()) else { panic!() };
        assert_eq!(again.producer_epoch, 1);
    }

    #[test]
    fn a_recovering_producer_bumps_its_epoch_and_a_retry_gets_the_same_answer() {
        let mut e = initialised();
        let Ok(Init::Ready(next)) = e.init_producer_id(60_000, Some((PID, 0)), 1, || unreachable!()) else { panic!() };
        assert_eq!((next.producer_epoch, next.last_producer_epoch), (1, 0));
        write(&mut e, next);
        // The answer was lost; the producer asks again with the epoch it had.
        let Ok(Init::Ready(again)) = e.init_producer_id(60_000, Some((PID, 0)), 2, || unreachable!()) else { panic!() };
        assert_eq!(again.producer_epoch, 1);
        write(&mut e, again);
        // A producer with an older epoch, or another id, is fenced.
        let stale = e.init_producer_id(60_000, Some((PID, 5)), 3, || unreachable!());
        assert_eq!(stale, Err(ResponseError::ProducerFenced));
        let other = e.init_producer_id(60_000, Some((PID + 7, 1)), 3, || unreachable!());
        assert_eq!(other, Err(ResponseError::ProducerFenced));
    }

    #[test]
    fn an_exhausted_epoch_moves_to_a_new_producer_id() {
        let mut e = initialised();
        e.txn.producer_epoch = i16::MAX - 1;
        let exhausted = Some((PID, i16::MAX - 1));
        let Ok(Init::Ready(next)) = e.init_producer_id(60_000, exhausted, 1, || PID + 1) else { panic!() };
        assert_eq!((next.producer_id, next.producer_epoch, next.previous_producer_id), (PID + 1, 0, PID));
        write(&mut e, next);
        // The producer never heard the answer and retries with its old id and epoch: the
        // same answer again.
        let Ok(Init::Ready(retry)) = e.init_producer_id(60_000, exhausted, 2, || unreachable!()) else { panic!() };
        assert_eq!((retry.producer_id, retry.producer_epoch), (PID + 1, 0));
        write(&mut e, retry);
        // A new producer takes over, and the old one's retry is fenced from then on.
        let Ok(Init::Ready(next)) = e.init_producer_id(60_000, None, 3, || unreachable!()) else { panic!() };
        assert_eq!((next.producer_id, next.producer_epoch), (PID + 1, 1));
        write(&mut e, next);
        let stale = e.init_producer_id(60_000, exhausted, 4, || unreachable!());
        assert_eq!(stale, Err(ResponseError::ProducerFenced));
    }

    #[test]
    fn a_transaction_past_its_timeout_is_aborted_under_a_new_epoch() {
        let mut e = initialised();
        assert_eq!(e.abort_if_timed_out(1_000_000), None, "no transaction, nothing to abort");
        let next = e.add_partitions(PID, 0, [tp("a", 0)], 0, 100).unwrap().unwrap();
        write(&mut e, next);
        assert_eq!(e.abort_if_timed_out(60_100), None);
        let abort = e.abort_if_timed_out(60_101).unwrap();
        assert_eq!((abort.state, abort.producer_epoch), (PrepareAbort, 1));
        assert_eq!(e.abort_if_timed_out(60_102), None, "a write is pending");
        write(&mut e, abort);
        assert_eq!(e.end(PID, 0, true, 60_200), Err(ResponseError::ProducerFenced));
        let done = e.complete(60_300).unwrap();
        assert_eq!(done.state, CompleteAbort);
    }

    #[test]
    fn a_version_2_end_bumps_the_epoch_and_a_retry_gets_the_same_answer() {
        let mut e = initialised();
        let next = e.add_partitions(PID, 0, [tp("a", 0)], TV2, 10).unwrap().unwrap();
        assert_eq!(next.client_version, TV2);
        write(&mut e, next);
        let prepared = e.end_v2(PID, 0, true, None, 20).unwrap().unwrap();
        assert_eq!((prepared.state, prepared.producer_epoch, prepared.partitions.len()), (PrepareCommit, 1, 1));
        write(&mut e, prepared);
        assert_eq!(e.txn.next_ids(), (PID, 1));
        // The retry while the markers are written waits; a write under the old epoch is fenced.
        assert_eq!(e.end_v2(PID, 0, true, None, 21), Err(ResponseError::ConcurrentTransactions));
        assert_eq!(e.verify(PID, 0, &tp("a", 0)), Err(ResponseError::ProducerFenced));
        let done = e.complete(30).unwrap();
        write(&mut e, done);
        // Once complete, the retry succeeds with nothing to write; an abort under the old
        // epoch is a mistake; the new epoch starts the next transaction.
        assert_eq!(e.end_v2(PID, 0, true, None, 31), Ok(None));
        assert_eq!(e.end_v2(PID, 0, false, None, 31), Err(ResponseError::InvalidTxnState));
        assert_eq!(e.end_v2(PID, 0, true, None, 31).map(|_| e.txn.next_ids()), Ok((PID, 1)));
        let next = e.add_partitions(PID, 1, [tp("b", 0)], TV2, 40).unwrap().unwrap();
        assert_eq!((next.state, next.producer_epoch), (Ongoing, 1));
    }

    #[test]
    fn a_version_2_abort_needs_no_transaction_and_a_commit_does() {
        let mut e = initialised();
        assert_eq!(e.end_v2(PID, 0, true, None, 1), Err(ResponseError::InvalidTxnState));
        let abort = e.end_v2(PID, 0, false, None, 1).unwrap().unwrap();
        assert_eq!((abort.state, abort.producer_epoch, abort.partitions.len()), (PrepareAbort, 1, 0));
        write(&mut e, abort);
        let done = e.complete(2).unwrap();
        write(&mut e, done);
        assert_eq!((e.txn.state, e.txn.producer_epoch), (CompleteAbort, 1));
        assert_eq!(e.end_v2(PID, 0, false, None, 3), Ok(None), "a retry");
        assert_eq!(e.end_v2(PID, 2, false, None, 3), Err(ResponseError::ProducerFenced));
        assert_eq!(e.end_v2(PID + 1, 1, false, None, 3), Err(ResponseError::InvalidProducerIdMapping));
    }

    #[test]
    fn a_version_2_producer_whose_epoch_runs_out_goes_on_under_the_next_producer_id() {
        let mut e = initialised();
        e.txn.producer_epoch = i16::MAX - 1;
        let next = e.add_partitions(PID, i16::MAX - 1, [tp("a", 0)], TV2, 1).unwrap().unwrap();
        write(&mut e, next);
        let prepared = e.end_v2(PID, i16::MAX - 1, true, Some(PID + 1), 2).unwrap().unwrap();
        assert_eq!((prepared.producer_id, prepared.producer_epoch), (PID, i16::MAX), "markers under the old id");
        assert_eq!(prepared.next_ids(), (PID + 1, 0));
        write(&mut e, prepared);
        // The producer already writes under its next id: it waits for the completion.
        let early = e.add_partitions(PID + 1, 0, [tp("a", 0)], TV2, 3);
        assert_eq!(early, Err(ResponseError::ConcurrentTransactions));
        let done = e.complete(4).unwrap();
        assert_eq!((done.producer_id, done.producer_epoch, done.previous_producer_id), (PID + 1, 0, PID));
        write(&mut e, done);
        assert_eq!(e.end_v2(PID, i16::MAX - 1, true, None, 5), Ok(None), "a retry under the old id");
        assert!(e.add_partitions(PID + 1, 0, [tp("a", 0)], TV2, 6).unwrap().is_some());
    }

    #[test]
    fn verification_wants_the_partition_in_the_producers_ongoing_transaction() {
        let mut e = initialised();
        assert_eq!(e.verify(PID, 0, &tp("a", 0)), Err(ResponseError::InvalidTxnState));
        let next = e.add_partitions(PID, 0, [tp("a", 0)], 0, 1).unwrap().unwrap();
        write(&mut e, next);
        assert_eq!(e.verify(PID, 0, &tp("a", 0)), Ok(()));
        assert_eq!(e.verify(PID, 0, &tp("a", 1)), Err(ResponseError::InvalidTxnState));
        assert_eq!(e.verify(PID + 1, 0, &tp("a", 0)), Err(ResponseError::InvalidProducerIdMapping));
        assert_eq!(e.verify(PID, 1, &tp("a", 0)), Err(ResponseError::ProducerFenced));
    }
}
