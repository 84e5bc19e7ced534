//! The transaction coordinator, wired to the broker: `brook_transactions` decides, this module
//! keeps the transactional ids of the `__transaction_state` partitions this broker leads,
//! writes each decision there before answering, and completes prepared transactions by
//! writing their markers.
//!
//! - `loading`: which `__transaction_state` partitions this broker coordinates (those it
//!   leads), reading their ids back when it is elected;
//! - `markers`: writing a transaction's markers to its partitions' leaders, here or remote;
//! - `verification`: what a partition leader asks the coordinator (here or remote) before a
//!   transactional write opens a transaction in its partition (KIP-890).
//!
//! The ids live under one mutex held only for in-memory decisions; writes happen after it is
//! released, and a decision is applied (or undone) once its write is known.

mod loading;
pub mod markers;
pub mod verification;

use std::collections::hash_map::Entry as MapEntry;
use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use brook_log::batch::{self, Record};
use brook_transactions::records::{encode_key, encode_value};
use brook_transactions::transaction::{TopicPartition, epoch_exhausted};
use brook_transactions::{Entry, Init, Transaction, TxnState};
use kafka_protocol::error::ResponseError;
use tokio::sync::watch;
use tracing::{info, warn};

use crate::broker::Broker;
use crate::internal_topic::{InternalTopic, partition_of};

/// The internal topic that holds the transactional ids' states.
pub const TRANSACTION_STATE_TOPIC: &str = "__transaction_state";

/// Kafka's `transaction.*` broker settings.
#[derive(Debug, Clone)]
pub struct TxnConfig {
    pub state_log_partitions: i32,
    pub state_log_replication_factor: i16,
    pub state_log_min_isr: i16,
    pub state_log_segment_bytes: i32,
    /// `transaction.max.timeout.ms`: the longest `transaction.timeout.ms` a producer may ask.
    pub max_timeout_ms: i32,
    /// `transaction.abort.timed.out.transaction.cleanup.interval.ms`.
    pub abort_timed_out_interval_ms: u64,
    /// `transactional.id.expiration.ms`: an id idle this long is forgotten (a tombstone).
    pub id_expiration_ms: i64,
    /// `transaction.remove.expired.transaction.cleanup.interval.ms`.
    pub remove_expired_interval_ms: u64,
}

impl Default for TxnConfig {
    fn default() -> TxnConfig {
        TxnConfig {
            state_log_partitions: 50,
            state_log_replication_factor: 3,
            state_log_min_isr: 2,
            state_log_segment_bytes: 100 * 1024 * 1024,
            max_timeout_ms: 900_000,
            abort_timed_out_interval_ms: 10_000,
            id_expiration_ms: 7 * 24 * 60 * 60 * 1000,
            remove_expired_interval_ms: 3_600_000,
        }
    }
}

impl TxnConfig {
    pub fn state_topic(&self) -> InternalTopic {
        InternalTopic {
            name: TRANSACTION_STATE_TOPIC,
            partitions: self.state_log_partitions,
            replication_factor: self.state_log_replication_factor,
            segment_bytes: self.state_log_segment_bytes,
            min_insync_replicas: Some(self.state_log_min_isr),
        }
    }
}

/// How long a write to `__transaction_state` may wait for the in-sync replicas.
const WRITE_TIMEOUT: Duration = Duration::from_secs(5);

/// How long EndTxn waits for its markers before answering anyway (the markers are then
/// written behind the answer, as Kafka always does).
const COMPLETION_WAIT: Duration = Duration::from_secs(5);

pub struct TransactionCoordinator {
    config: TxnConfig,
    state: Mutex<State>,
    /// Counts finished loads of `__transaction_state` partitions.
    loads_done: watch::Sender<u64>,
}

#[derive(Default)]
struct State {
    ids: HashMap<String, Entry>,
    /// The partitions this broker coordinates: the leader epoch it leads each in (Kafka's
    /// coordinator epoch, written into markers), and whether their ids are loaded.
    owned: HashMap<i32, (i32, bool)>,
}

/// What a request is answered with when its decision needs no more than the coordinator.
type Answer<T> = Result<T, ResponseError>;

impl TransactionCoordinator {
    pub fn new(config: TxnConfig) -> TransactionCoordinator {
        TransactionCoordinator { config, state: Mutex::new(State::default()), loads_done: watch::Sender::new(0) }
    }

    pub fn config(&self) -> &TxnConfig {
        &self.config
    }

    /// The `__transaction_state` partition of a transactional id (Kafka's placement).
    pub fn partition_for(&self, transactional_id: &str) -> i32 {
        partition_of(transactional_id, self.config.state_log_partitions)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().expect("transaction coordinator lock")
    }

    /// The coordinator epoch of `partition` while this broker coordinates it with its ids
    /// loaded.
    fn coordinator_epoch(&self, partition: i32) -> Answer<i32> {
        match self.lock().owned.get(&partition) {
            Some((epoch, true)) => Ok(*epoch),
            Some((_, false)) => Err(ResponseError::CoordinatorLoadInProgress),
            None => Err(ResponseError::NotCoordinator),
        }
    }

    /// InitProducerId with a transactional id: the producer id and epoch to use, after the
    /// new state is in the log. An ongoing transaction is aborted first (the answer is then
    /// CONCURRENT_TRANSACTIONS, and the producer retries).
    pub async fn init_producer_id(
        &self,
        broker: &Arc<Broker>,
        id: &str,
        timeout_ms: i32,
        expected: Option<(i64, i16)>,
    ) -> Answer<(i64, i16)> {
        if timeout_ms <= 0 || timeout_ms > self.config.max_timeout_ms {
            return Err(ResponseError::InvalidTransactionTimeout);
        }
        let partition = self.partition_for(id);
        let coordinator_epoch = self.coordinator_epoch(partition)?;
        // A producer id is needed for a new id, or for one whose epoch is exhausted.
        let exhausted = |e: &Entry| epoch_exhausted(e.txn.producer_epoch);
        let needs_id = self.lock().ids.get(id).is_none_or(exhausted);
        let fresh_id = if needs_id { Some(broker.next_producer_id().await.map_err(|e| e.code)?) } else { None };
        let now_ms = broker.clock.now_ms();
        let decision = {
            let mut state = self.lock();
            if state.owned.get(&partition) != Some(&(coordinator_epoch, true)) {
                return Err(ResponseError::NotCoordinator);
            }
            let entry = match (state.ids.entry(id.to_string()), fresh_id) {
                (MapEntry::Occupied(e), _) => e.into_mut(),
                (MapEntry::Vacant(v), Some(pid)) => v.insert(Entry::new(pid, timeout_ms, now_ms)),
                // Changed while the id was allocated: the producer retries.
                (MapEntry::Vacant(_), None) => return Err(ResponseError::ConcurrentTransactions),
            };
            match fresh_id {
                Some(pid) => entry.init_producer_id(timeout_ms, expected, now_ms, || pid)?,
                None if exhausted(entry) => return Err(ResponseError::ConcurrentTransactions),
                None => entry.init_producer_id(timeout_ms, expected, now_ms, || unreachable!("not exhausted"))?,
            }
        };
        match decision {
            Init::Ready(next) => {
                self.write(broker, id, partition, coordinator_epoch, &next).await?;
                Ok((next.producer_id, next.producer_epoch))
            }
            Init::AbortFirst(next) => {
                self.write(broker, id, partition, coordinator_epoch, &next).await?;
                self.spawn_completion(broker, id.to_string(), partition, coordinator_epoch);
                Err(ResponseError::ConcurrentTransactions)
            }
        }
    }

    /// AddPartitionsToTxn, and AddOffsetsToTxn (the group's `__consumer_offsets` partition);
    /// `client_version` [`TV2`] when a partition leader adds them for a version 2 producer.
    pub async fn add_partitions(
        &self,
        broker: &Arc<Broker>,
        id: &str,
        producer_id: i64,
        epoch: i16,
        partitions: BTreeSet<TopicPartition>,
        client_version: i16,
    ) -> Answer<()> {
        let (partition, coordinator_epoch, next) = self.decide(broker, id, |entry, now_ms| {
            entry.add_partitions(producer_id, epoch, partitions, client_version, now_ms)
        })?;
        match next {
            Some(next) => self.write(broker, id, partition, coordinator_epoch, &next).await,
            None => Ok(()),
        }
    }

    /// A decision on a known id this broker coordinates: its partition, the coordinator
    /// epoch, and what `decide` proposed (`None`: nothing to write).
    fn decide(
        &self,
        broker: &Broker,
        id: &str,
        decide: impl FnOnce(&mut Entry, i64) -> Answer<Option<Transaction>>,
    ) -> Answer<(i32, i32, Option<Transaction>)> {
        let partition = self.partition_for(id);
        let coordinator_epoch = self.coordinator_epoch(partition)?;
        let now_ms = broker.clock.now_ms();
        let mut state = self.lock();
        let entry = state.ids.get_mut(id).ok_or(ResponseError::InvalidProducerIdMapping)?;
        Ok((partition, coordinator_epoch, decide(entry, now_ms)?))
    }

    /// EndTxn: once the PrepareCommit (or PrepareAbort) is in the log the producer is
    /// answered, and the markers are written behind it. `v2`: a transactions version 2
    /// producer (EndTxn v5), answered with the producer id and epoch it goes on with.
    pub async fn end(
        &self,
        broker: &Arc<Broker>,
        id: &str,
        producer_id: i64,
        epoch: i16,
        commit: bool,
        v2: bool,
    ) -> Answer<(i64, i16)> {
        // A version 2 end bumps the epoch; one that runs out moves to a new producer id.
        let exhausted = v2 && self.lock().ids.get(id).is_some_and(|e| epoch_exhausted(e.txn.producer_epoch));
        let fresh_id = if exhausted { Some(broker.next_producer_id().await.map_err(|e| e.code)?) } else { None };
        let (partition, coordinator_epoch, next) = self.decide(broker, id, |entry, now_ms| {
            if v2 {
                entry.end_v2(producer_id, epoch, commit, fresh_id, now_ms)
            } else {
                entry.end(producer_id, epoch, commit, now_ms)
            }
        })?;
        let Some(next) = next else {
            // A retry of an end that is complete: the ids the producer goes on with.
            return Ok(self.lock().ids.get(id).map_or((producer_id, epoch), |e| e.txn.next_ids()));
        };
        self.write(broker, id, partition, coordinator_epoch, &next).await?;
        let completion = self.spawn_completion(broker, id.to_string(), partition, coordinator_epoch);
        // Kafka answers once the prepared state is written; Brook also waits (a while) for
        // the markers, so that the producer's next transaction does not meet this one still
        // completing (CONCURRENT_TRANSACTIONS, and a client's retry backoff) and what it
        // committed is readable by read_committed consumers when the commit returns.
        let _ = tokio::time::timeout(COMPLETION_WAIT, completion).await;
        Ok(next.next_ids())
    }

    /// DescribeTransactions: the id's state as last written.
    pub fn describe(&self, id: &str) -> Answer<Transaction> {
        self.coordinator_epoch(self.partition_for(id))?;
        self.lock().ids.get(id).map(|e| e.txn.clone()).ok_or(ResponseError::TransactionalIdNotFound)
    }

    /// ListTransactions: every id this broker coordinates, with its state as last written;
    /// COORDINATOR_LOAD_IN_PROGRESS while any of its partitions is loading.
    pub fn list(&self) -> Answer<Vec<(String, Transaction)>> {
        let state = self.lock();
        if state.owned.values().any(|(_, loaded)| !loaded) {
            return Err(ResponseError::CoordinatorLoadInProgress);
        }
        Ok(state.ids.iter().map(|(id, e)| (id.clone(), e.txn.clone())).collect())
    }

    /// Writes `next` (the entry's pending transition) to `__transaction_state`, then applies
    /// it, or undoes it if the write failed; NOT_COORDINATOR if this broker stopped
    /// coordinating the id meanwhile.
    async fn write(
        &self,
        broker: &Arc<Broker>,
        id: &str,
        partition: i32,
        coordinator_epoch: i32,
        next: &Transaction,
    ) -> Answer<()> {
        // An expired id's Dead state is written as a tombstone, which compaction removes.
        let value = (next.state != TxnState::Dead).then(|| encode_value(next).to_vec());
        let record = Record { timestamp_delta: 0, key: Some(encode_key(id).to_vec()), value };
        let batch = batch::build::batch(broker.clock.now_ms(), &[record]);
        let written = broker.append_internal(TRANSACTION_STATE_TOPIC, partition, batch, WRITE_TIMEOUT).await;
        let mut state = self.lock();
        if state.owned.get(&partition) != Some(&(coordinator_epoch, true)) {
            return Err(ResponseError::NotCoordinator);
        }
        let Some(entry) = state.ids.get_mut(id) else { return Err(ResponseError::NotCoordinator) };
        match written {
            Ok(_) => {
                entry.written();
                if entry.txn.state == TxnState::Dead {
                    state.ids.remove(id);
                }
                Ok(())
            }
            Err(e) => {
                warn!(transactional_id = id, error = %e.message, "writing a transaction's state failed");
                entry.not_written();
                Err(e.code)
            }
        }
    }

    /// Writes the markers of `id`'s prepared transaction, then its completion, in the
    /// background: retried until done or until this broker stops coordinating the id.
    fn spawn_completion(
        &self,
        broker: &Arc<Broker>,
        id: String,
        partition: i32,
        coordinator_epoch: i32,
    ) -> tokio::task::JoinHandle<()> {
        let broker = broker.clone();
        tokio::spawn(async move {
            let coordinator = &broker.transactions;
            let mut backoff = Duration::from_millis(20);
            loop {
                let prepared = {
                    let state = coordinator.lock();
                    if state.owned.get(&partition) != Some(&(coordinator_epoch, true)) {
                        return;
                    }
                    match state.ids.get(&id) {
                        Some(e) if matches!(e.txn.state, TxnState::PrepareCommit | TxnState::PrepareAbort) => {
                            e.txn.clone()
                        }
                        _ => return,
                    }
                };
                let commit = prepared.state == TxnState::PrepareCommit;
                match markers::write_all(&broker, &prepared, commit, coordinator_epoch).await {
                    Ok(()) => {
                        let next = coordinator.lock().ids.get_mut(&id).and_then(|e| e.complete(broker.clock.now_ms()));
                        let Some(next) = next else { return };
                        if coordinator.write(&broker, &id, partition, coordinator_epoch, &next).await.is_ok() {
                            return;
                        }
                    }
                    Err(e) => warn!(transactional_id = id, error = %e, "writing transaction markers failed; retrying"),
                }
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(1));
            }
        })
    }

    /// Aborts the transactions open longer than their timeout, every
    /// `transaction.abort.timed.out.transaction.cleanup.interval.ms`, and forgets ids idle for
    /// `transactional.id.expiration.ms`, every
    /// `transaction.remove.expired.transaction.cleanup.interval.ms`, until `stop` changes.
    pub async fn run_timeouts(broker: Arc<Broker>, mut stop: watch::Receiver<bool>) {
        let coordinator = &broker.transactions;
        let config = &coordinator.config;
        let period = Duration::from_millis(config.abort_timed_out_interval_ms.max(10));
        let expiry_period = Duration::from_millis(config.remove_expired_interval_ms.max(10));
        let mut next_expiry = tokio::time::Instant::now() + expiry_period;
        loop {
            tokio::select! {
                _ = tokio::time::sleep(period.min(next_expiry.saturating_duration_since(tokio::time::Instant::now()))) => {}
                _ = stop.changed() => return,
            }
            let now_ms = broker.clock.now_ms();
            let expire = tokio::time::Instant::now() >= next_expiry;
            if expire {
                next_expiry = tokio::time::Instant::now() + expiry_period;
            }
            let decided = coordinator.decide_all(|entry| {
                entry
                    .abort_if_timed_out(now_ms)
                    .or_else(|| if expire { entry.expire(now_ms, config.id_expiration_ms) } else { None })
            });
            for (id, partition, coordinator_epoch, next) in decided {
                let aborting = next.state == TxnState::PrepareAbort;
                if aborting {
                    info!(transactional_id = id, "aborting a transaction past its timeout");
                } else {
                    info!(
                        transactional_id = id,
                        "forgetting a transactional id idle past transactional.id.expiration.ms"
                    );
                }
                if coordinator.write(&broker, &id, partition, coordinator_epoch, &next).await.is_ok() && aborting {
                    drop(coordinator.spawn_completion(&broker, id, partition, coordinator_epoch));
                }
            }
        }
    }

    /// Applies `decide` to every id whose partition this broker coordinates with its ids
    /// loaded: the transitions it proposed, to write, with each id's partition and epoch.
    fn decide_all(
        &self,
        mut decide: impl FnMut(&mut Entry) -> Option<Transaction>,
    ) -> Vec<(String, i32, i32, Transaction)> {
        let mut state = self.lock();
        let State { ids, owned } = &mut *state;
        ids.iter_mut()
            .filter_map(|(id, entry)| {
                let partition = partition_of(id, self.config.state_log_partitions);
                let (epoch, _) = owned.get(&partition).filter(|(_, loaded)| *loaded)?;
                Some((id.clone(), partition, *epoch, decide(entry)?))
            })
            .collect()
    }
}
