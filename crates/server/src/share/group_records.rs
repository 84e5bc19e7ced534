//! Share groups in `__consumer_offsets`, in Kafka 4.4's formats, so a group and the partitions
//! it has state for outlive a restart or a coordinator move (members join again, as in
//! Kafka after a session timeout). ShareGroupMetadataValue (key type 11): the group epoch and
//! a metadata hash (Brook writes 0). ShareGroupStatePartitionMetadataValue (key type 15): the
//! topics with initialized share-partitions, by id, name and partitions (Brook's
//! initializing and deleting lists are empty: it initializes and deletes in one step).

use std::collections::{BTreeMap, BTreeSet};

use bytes::{Buf, BufMut, BytesMut};
use uuid::Uuid;

use super::Shares;
use super::groups::ShareGroup;
use crate::broker::{ApiError, Broker};
use crate::group::records::Key;

fn put_uvarint(buf: &mut BytesMut, mut n: u64) {
    while n >= 0x80 {
        buf.put_u8((n as u8) | 0x80);
        n >>= 7;
    }
    buf.put_u8(n as u8);
}

fn get_uvarint(buf: &mut &[u8]) -> Option<u64> {
    let mut n = 0u64;
    for shift in (0..64).step_by(7) {
        if !buf.has_remaining() {
            return None;
        }
        let b = buf.get_u8();
        n |= u64::from(b & 0x7f) << shift;
        if b & 0x80 == 0 {
            return Some(n);
        }
    }
    None
}

/// A compact array's or string's length (its varint is the length plus one; 0 is null).
fn get_len(buf: &mut &[u8]) -> Option<usize> {
    let n = usize::try_from(get_uvarint(buf)?.checked_sub(1)?).ok()?;
    (n <= buf.remaining()).then_some(n)
}

fn skip_tags(buf: &mut &[u8]) -> Option<()> {
    for _ in 0..get_uvarint(buf)? {
        let _tag = get_uvarint(buf)?;
        let size = usize::try_from(get_uvarint(buf)?).ok()?;
        if size > buf.remaining() {
            return None;
        }
        buf.advance(size);
    }
    Some(())
}

pub(super) fn encode_metadata(epoch: i32) -> Vec<u8> {
    let mut buf = BytesMut::new();
    buf.put_i16(0);
    buf.put_i32(epoch);
    buf.put_i64(0);
    put_uvarint(&mut buf, 0);
    buf.to_vec()
}

fn decode_metadata(mut buf: &[u8]) -> Option<i32> {
    (buf.remaining() >= 14 && buf.get_i16() == 0).then(|| buf.get_i32())
}

/// The initialized topics: id -> (name, partitions).
type Topics = BTreeMap<Uuid, (String, Vec<i32>)>;

pub(super) fn encode_partitions(topics: &Topics, now_ms: i64) -> Vec<u8> {
    let mut buf = BytesMut::new();
    buf.put_i16(0);
    put_uvarint(&mut buf, 1); // no initializing topics
    put_uvarint(&mut buf, topics.len() as u64 + 1);
    for (id, (name, partitions)) in topics {
        buf.put_slice(id.as_bytes());
        put_uvarint(&mut buf, name.len() as u64 + 1);
        buf.put_slice(name.as_bytes());
        put_uvarint(&mut buf, partitions.len() as u64 + 1);
        for p in partitions {
            buf.put_i32(*p);
        }
        buf.put_i64(now_ms);
        put_uvarint(&mut buf, 0);
    }
    put_uvarint(&mut buf, 1); // no deleting topics
    put_uvarint(&mut buf, 0);
    buf.to_vec()
}

/// The initialized topics' partitions (Kafka's initializing ones count too: their state may
/// exist).
fn decode_partitions(mut buf: &[u8]) -> Option<BTreeSet<(Uuid, i32)>> {
    let buf = &mut buf;
    if buf.remaining() < 2 || buf.get_i16() != 0 {
        return None;
    }
    let mut out = BTreeSet::new();
    for _list in 0..2 {
        for _ in 0..get_len(buf)? {
            if buf.remaining() < 16 {
                return None;
            }
            let id = Uuid::from_slice(&buf[..16]).ok()?;
            buf.advance(16);
            let name_len = get_len(buf)?;
            buf.advance(name_len);
            for _ in 0..get_len(buf)? {
                if buf.remaining() < 4 {
                    return None;
                }
                out.insert((id, buf.get_i32()));
            }
            if buf.remaining() < 8 {
                return None;
            }
            buf.advance(8);
            skip_tags(buf)?;
        }
    }
    Some(out)
}

impl Shares {
    /// Restores the share groups a `__consumer_offsets` load read: each with no member, its
    /// epoch and the partitions it has state for.
    pub fn restore_groups(&self, records: Vec<(Key, Vec<u8>)>) {
        let mut inner = self.lock();
        for (key, value) in records {
            match key {
                Key::ShareGroup { group } => match decode_metadata(&value) {
                    Some(epoch) => {
                        let g = inner.groups.entry(group).or_insert_with(ShareGroup::new);
                        g.restored(epoch, None);
                    }
                    None => tracing::warn!(group, "skipping an unreadable share group record"),
                },
                Key::ShareStatePartitions { group } => match decode_partitions(&value) {
                    Some(known) => {
                        let g = inner.groups.entry(group).or_insert_with(ShareGroup::new);
                        g.restored(0, Some(known));
                    }
                    None => tracing::warn!(group, "skipping an unreadable share group partitions record"),
                },
                _ => {}
            }
        }
    }

    /// Writes a share group's records if they changed since last written (the group is new,
    /// or knows other partitions).
    pub async fn persist_group(&self, broker: &Broker, group_id: &str) -> Result<(), ApiError> {
        let writes = {
            let inner = self.lock();
            let Some(group) = inner.groups.get(group_id) else { return Ok(()) };
            let Some(known) = group.unwritten() else { return Ok(()) };
            let mut topics: Topics = BTreeMap::new();
            for &(id, p) in &known {
                let Some(name) = broker.topic_by_id(&id).map(|t| t.name) else { continue };
                topics.entry(id).or_insert_with(|| (name, Vec::new())).1.push(p);
            }
            let group = group_id.to_string();
            let partitions = encode_partitions(&topics, broker.clock.now_ms());
            let metadata =
                (Key::ShareGroup { group: group.clone() }, Some(encode_metadata(group_id_epoch(&inner, group_id))));
            (vec![metadata, (Key::ShareStatePartitions { group }, Some(partitions))], known)
        };
        let (records, known) = writes;
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

fn group_id_epoch(inner: &super::Inner, group_id: &str) -> i32 {
    inner.groups.get(group_id).map_or(0, |g| g.epoch())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_round_trip() {
        assert_eq!(decode_metadata(&encode_metadata(7)), Some(7));
        let topics: Topics = BTreeMap::from([
            (Uuid::from_u128(1), ("a".into(), vec![0, 2])),
            (Uuid::from_u128(2), ("b".into(), vec![1])),
        ]);
        let decoded = decode_partitions(&encode_partitions(&topics, 5)).unwrap();
        let expected: BTreeSet<(Uuid, i32)> =
            [(Uuid::from_u128(1), 0), (Uuid::from_u128(1), 2), (Uuid::from_u128(2), 1)].into();
        assert_eq!(decoded, expected);
        assert_eq!(decode_partitions(&[0, 0, 5]), None, "truncated");
    }
}
