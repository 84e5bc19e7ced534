//! The share coordinator: the `__share_group_state` partitions this broker leads. Elected, it
//! reads a partition back (the latest snapshot of each share-partition, with Kafka's update
//! records applied over it); meanwhile share-partitions placed there answer
//! COORDINATOR_LOAD_IN_PROGRESS. Resigned, it drops them.

use std::collections::HashMap;

use brook_log::LogError;
use brook_share::records::{Key, Snapshot, Value, decode_key, decode_value, key_type};
use brook_share::{DeliveryState, StateBatch};
use tracing::{info, warn};

use super::{SHARE_STATE_TOPIC, Shares};
use crate::broker::Broker;

impl Shares {
    /// This broker leads exactly the state partitions `led` (partition, leader epoch, log
    /// start and end): it resigns the others and returns those to load, as (partition, leader
    /// epoch, log end). An empty partition serves at once.
    pub fn coordinate(&self, led: &[(i32, i32, i64, i64)]) -> Vec<(i32, i32, i64)> {
        let config = self.config.clone();
        let mut inner = self.lock();
        inner.owned.retain(|p, _| led.iter().any(|(l, ..)| l == p));
        let owned: Vec<i32> = inner.owned.keys().copied().collect();
        inner.persisted.retain(|k, _| owned.contains(&config.state_partition(k)));
        let mut loads = Vec::new();
        for &(partition, epoch, start, end) in led {
            if inner.owned.get(&partition).is_some_and(|(e, _)| *e == epoch) {
                continue;
            }
            // Snapshots kept from an earlier epoch are dropped: another coordinator may have written.
            inner.persisted.retain(|k, _| config.state_partition(k) != partition);
            // Share-partitions initialized from them are read again.
            inner.held.retain(|k, _| config.state_partition(k) != partition);
            inner.owned.insert(partition, (epoch, start >= end));
            if start < end {
                loads.push((partition, epoch, end));
            }
        }
        loads
    }

    /// Reads `partition` below `end` back (unless another election came meanwhile). Returns
    /// how many share-partitions it holds.
    pub fn load(&self, broker: &Broker, partition: i32, leader_epoch: i32, end: i64) -> Result<usize, LogError> {
        if self.lock().owned.get(&partition) != Some(&(leader_epoch, false)) {
            return Ok(0);
        }
        let mut loaded: HashMap<Key, Snapshot> = HashMap::new();
        broker.replay_internal(SHARE_STATE_TOPIC, partition, end, |key, value, offset| {
            let Some(key_bytes) = key else { return };
            let (Ok(key), Ok(kind)) = (decode_key(key_bytes), key_type(key_bytes)) else {
                warn!(offset, "skipping an unreadable {SHARE_STATE_TOPIC} key");
                return;
            };
            match value.map(|v| decode_value(kind, v)) {
                None => {
                    loaded.remove(&key);
                }
                Some(Ok(Value::Snapshot(s))) => {
                    loaded.insert(key, s);
                }
                Some(Ok(Value::Update { start_offset, batches })) => {
                    if let Some(s) = loaded.get_mut(&key) {
                        merge(s, start_offset, batches);
                    }
                }
                Some(Err(e)) => warn!(offset, error = %e, "skipping a {SHARE_STATE_TOPIC} record"),
            }
        })?;
        let mut inner = self.lock();
        if inner.owned.get(&partition) != Some(&(leader_epoch, false)) {
            return Ok(0);
        }
        let count = loaded.len();
        inner.persisted.extend(loaded);
        inner.owned.insert(partition, (leader_epoch, true));
        drop(inner);
        self.loads_done.send_modify(|n| *n += 1);
        if count > 0 {
            info!(partition, leader_epoch, count, "loaded the share-partitions of a {SHARE_STATE_TOPIC} partition");
        }
        Ok(count)
    }
}

/// Kafka's ShareUpdate and WriteShareGroupState: batches that override the snapshot's for
/// their offsets, and perhaps a new start offset (below which nothing is kept).
pub(super) fn merge(snapshot: &mut Snapshot, start_offset: i64, batches: Vec<StateBatch>) {
    if start_offset >= 0 {
        snapshot.start_offset = start_offset;
    }
    let mut states: std::collections::BTreeMap<i64, (DeliveryState, i16)> = std::collections::BTreeMap::new();
    // Offsets are expanded within the batches, which Kafka bounds by its record locks (a
    // damaged one spanning more is skipped).
    for b in snapshot.batches.iter().chain(&batches).filter(|b| b.last - b.first < 1 << 20) {
        for offset in b.first.max(snapshot.start_offset)..=b.last {
            states.insert(offset, (b.state, b.delivery_count));
        }
    }
    let mut merged: Vec<StateBatch> = Vec::new();
    for (offset, (state, delivery_count)) in states {
        match merged.last_mut() {
            Some(b) if b.last + 1 == offset && b.state == state && b.delivery_count == delivery_count => {
                b.last = offset
            }
            _ => merged.push(StateBatch { first: offset, last: offset, state, delivery_count }),
        }
    }
    snapshot.batches = merged;
}
