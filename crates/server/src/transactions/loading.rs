//! Which `__transaction_state` partitions this broker coordinates: as for groups, the leader
//! of a transactional id's partition is its coordinator. Elected, a broker reads the
//! partition's ids back (COORDINATOR_LOAD_IN_PROGRESS meanwhile) and then finishes the
//! transactions it finds prepared; resigned, it drops them.

use std::sync::Arc;

use brook_log::LogError;
use brook_transactions::records::{decode_key, decode_value};
use brook_transactions::{Entry, TxnState};
use tracing::{info, warn};

use super::{TRANSACTION_STATE_TOPIC, TransactionCoordinator};
use crate::broker::Broker;
use crate::internal_topic::partition_of;

impl TransactionCoordinator {
    /// This broker leads exactly the `__transaction_state` partitions `led` (partition,
    /// leader epoch, log start and end): it resigns the others, and returns those to load, as
    /// (partition, leader epoch, log end). An empty partition serves at once.
    pub fn coordinate(&self, led: &[(i32, i32, i64, i64)]) -> Vec<(i32, i32, i64)> {
        let partitions = self.config.state_log_partitions;
        let mut state = self.lock();
        let resigned: Vec<i32> = state.owned.keys().copied().filter(|p| !led.iter().any(|(l, ..)| l == p)).collect();
        for partition in resigned {
            state.owned.remove(&partition);
            state.ids.retain(|id, _| partition_of(id, partitions) != partition);
            info!(
                partition,
                "no longer coordinating the transactional ids of this {TRANSACTION_STATE_TOPIC} partition"
            );
        }
        let mut loads = Vec::new();
        for &(partition, epoch, start, end) in led {
            if state.owned.get(&partition).is_some_and(|(e, _)| *e == epoch) {
                continue;
            }
            // Ids kept from an earlier epoch are dropped: another coordinator may have written.
            state.ids.retain(|id, _| partition_of(id, partitions) != partition);
            state.owned.insert(partition, (epoch, start >= end));
            if start < end {
                loads.push((partition, epoch, end));
            }
        }
        loads
    }

    /// Reads `partition` below `end` back into memory (unless another election came
    /// meanwhile), then serves its ids. Returns the ids whose transactions were prepared and
    /// must be completed.
    pub fn load(&self, broker: &Broker, partition: i32, leader_epoch: i32, end: i64) -> Result<Vec<String>, LogError> {
        if broker.partition(TRANSACTION_STATE_TOPIC, partition).is_none() {
            return Ok(Vec::new());
        }
        if self.lock().owned.get(&partition) != Some(&(leader_epoch, false)) {
            return Ok(Vec::new());
        }
        let mut loaded = std::collections::HashMap::new();
        broker.replay_internal(TRANSACTION_STATE_TOPIC, partition, end, |key, value, offset| {
            let Some(id) = key.and_then(|k| decode_key(k).ok()) else {
                warn!(offset, "skipping an unreadable {TRANSACTION_STATE_TOPIC} key");
                return;
            };
            match value.map(decode_value) {
                Some(Ok(txn)) => {
                    loaded.insert(id, txn);
                }
                Some(Err(e)) => warn!(offset, error = %e, "skipping a transaction record"),
                None => {
                    loaded.remove(&id);
                }
            }
        })?;
        let mut state = self.lock();
        if state.owned.get(&partition) != Some(&(leader_epoch, false)) {
            return Ok(Vec::new());
        }
        let prepared: Vec<String> = loaded
            .iter()
            .filter(|(_, t)| matches!(t.state, TxnState::PrepareCommit | TxnState::PrepareAbort))
            .map(|(id, _)| id.clone())
            .collect();
        let count = loaded.len();
        state.ids.extend(loaded.into_iter().map(|(id, txn)| (id, Entry::loaded(txn))));
        state.owned.insert(partition, (leader_epoch, true));
        drop(state);
        self.loads_done.send_modify(|n| *n += 1);
        if count > 0 {
            info!(
                partition,
                leader_epoch,
                ids = count,
                "loaded the transactional ids of a {TRANSACTION_STATE_TOPIC} partition"
            );
        }
        Ok(prepared)
    }

    /// After a load: completes the transactions it found prepared.
    pub fn resume(&self, broker: &Arc<Broker>, partition: i32, leader_epoch: i32, prepared: Vec<String>) {
        for id in prepared {
            drop(self.spawn_completion(broker, id, partition, leader_epoch));
        }
    }

    /// Waits until every partition this broker was elected for has its ids loaded.
    pub async fn wait_loaded(&self) {
        let mut done = self.loads_done.subscribe();
        while self.lock().owned.values().any(|(_, loaded)| !loaded) {
            if done.changed().await.is_err() {
                return;
            }
        }
    }
}
