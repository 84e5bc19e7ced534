//! Share groups in `__consumer_offsets` (the values' formats are `crate::group::share_records`),
//! so a group and the partitions it has state for outlive a restart or a coordinator move
//! (members join again, as in Kafka after a session timeout).

use std::collections::BTreeMap;

use super::Shares;
use super::groups::ShareGroup;
use crate::broker::{ApiError, Broker};
use crate::group::records::Key;
use crate::group::share_records::{decode_metadata, decode_partitions, encode_metadata, encode_partitions};

impl Shares {
    /// Restores the share groups a `__consumer_offsets` load read: each with no member, its
    /// epoch and the partitions it has state for.
    pub fn restore_groups(&self, records: Vec<(Key, Vec<u8>)>) {
        let mut inner = self.lock();
        for (key, value) in records {
            match key {
                Key::ShareGroup { group } => match decode_metadata(&value) {
                    Ok(epoch) => {
                        let g = inner.groups.entry(group).or_insert_with(ShareGroup::new);
                        g.restored(epoch, None);
                    }
                    Err(e) => tracing::warn!(group, error = %e, "skipping an unreadable share group record"),
                },
                Key::ShareStatePartitions { group } => match decode_partitions(&value) {
                    Ok(known) => {
                        let g = inner.groups.entry(group).or_insert_with(ShareGroup::new);
                        g.restored(0, Some(known));
                    }
                    Err(e) => tracing::warn!(group, error = %e, "skipping an unreadable share group partitions record"),
                },
                _ => {}
            }
        }
    }

    /// Writes a share group's records if they changed since last written (the group is new,
    /// or knows other partitions).
    pub async fn persist_group(&self, broker: &Broker, group_id: &str) -> Result<(), ApiError> {
        let (records, known) = {
            let inner = self.lock();
            let Some(group) = inner.groups.get(group_id) else { return Ok(()) };
            let Some(known) = group.unwritten() else { return Ok(()) };
            let mut topics: BTreeMap<uuid::Uuid, (String, Vec<i32>)> = BTreeMap::new();
            for &(id, p) in &known {
                let Some(name) = broker.topic_by_id(&id).map(|t| t.name) else { continue };
                topics.entry(id).or_insert_with(|| (name, Vec::new())).1.push(p);
            }
            let group_key = group_id.to_string();
            let records = vec![
                (Key::ShareGroup { group: group_key.clone() }, Some(encode_metadata(group.epoch()))),
                (
                    Key::ShareStatePartitions { group: group_key },
                    Some(encode_partitions(&topics, broker.clock.now_ms())),
                ),
            ];
            (records, known)
        };
        broker.groups.write_records(broker, records).await?;
        if let Some(group) = self.lock().groups.get_mut(group_id) {
            group.written(known);
        }
        Ok(())
    }

    /// Tombstones for a deleted share group's records.
    pub async fn forget_group_records(&self, broker: &Broker, group_id: &str) -> Result<(), ApiError> {
        let group = group_id.to_string();
        let tombstones =
            vec![(Key::ShareGroup { group: group.clone() }, None), (Key::ShareStatePartitions { group }, None)];
        broker.groups.write_records(broker, tombstones).await
    }
}
