//! A share-partition's state as `__share_group_state` records, in the formats of Kafka 4.4's
//! share coordinator (ShareSnapshotKey and ShareSnapshotValue), so the topic reads as a Kafka
//! broker's does.
//!
//! Key: int16 record type 0, then the group id (int16-length string), the topic id (16 bytes)
//! and the partition (int32). Value: int16 version 0, then snapshot epoch, state epoch and
//! leader epoch (int32), start offset, create and write timestamps (int64), the state batches
//! as a compact array (first and last offset, delivery state int8, delivery count int16, no
//! tagged fields), and an empty tagged-field section. Brook writes a whole snapshot at every
//! change (Kafka writes ShareUpdate deltas between snapshots; its ShareUpdate records, type
//! 1, are read too). A key without a value is a tombstone: the state was deleted.

use anyhow::{Context, Result, bail, ensure};
use bytes::{BufMut, BytesMut};
use uuid::Uuid;

use crate::partition::{DeliveryState, StateBatch};

const SNAPSHOT: i16 = 0;
const UPDATE: i16 = 1;

/// Which share-partition a record is about.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Key {
    pub group: String,
    pub topic_id: Uuid,
    pub partition: i32,
}

/// A share-partition's persisted state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Snapshot {
    pub snapshot_epoch: i32,
    pub state_epoch: i32,
    pub leader_epoch: i32,
    pub start_offset: i64,
    pub create_timestamp: i64,
    pub write_timestamp: i64,
    pub batches: Vec<StateBatch>,
}

impl Snapshot {
    /// How many records at or after the start offset are delivered for good (acknowledged or
    /// archived): with the log end, what tells a share-partition's lag.
    pub fn delivery_complete_count(&self) -> i64 {
        self.batches
            .iter()
            .filter(|b| b.state.done() && b.last >= self.start_offset)
            .map(|b| b.last - b.first.max(self.start_offset) + 1)
            .sum()
    }
}

/// What a record says: a whole snapshot, or (Kafka's) a delta over the last snapshot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    Snapshot(Snapshot),
    /// A start offset of -1 leaves the start where it was.
    Update {
        start_offset: i64,
        batches: Vec<StateBatch>,
    },
}

pub fn encode_key(key: &Key) -> BytesMut {
    let mut buf = BytesMut::new();
    buf.put_i16(SNAPSHOT);
    buf.put_i16(key.group.len() as i16);
    buf.put_slice(key.group.as_bytes());
    buf.put_slice(key.topic_id.as_bytes());
    buf.put_i32(key.partition);
    buf
}

/// The key, whichever record type it is.
pub fn decode_key(bytes: &[u8]) -> Result<Key> {
    let mut r = Reader(bytes);
    let kind = r.i16()?;
    ensure!(kind == SNAPSHOT || kind == UPDATE, "unknown share state key type {kind}");
    let len = r.i16()?;
    ensure!(len >= 0, "null group id");
    let group = String::from_utf8(r.take(len as usize)?.to_vec()).context("group id")?;
    let topic_id = Uuid::from_slice(r.take(16)?).context("topic id")?;
    Ok(Key { group, topic_id, partition: r.i32()? })
}

/// The record type of a key (0 snapshot, 1 update), which decides how its value reads.
pub fn key_type(bytes: &[u8]) -> Result<i16> {
    Reader(bytes).i16()
}

pub fn encode_snapshot(s: &Snapshot) -> BytesMut {
    let mut buf = BytesMut::new();
    buf.put_i16(0);
    buf.put_i32(s.snapshot_epoch);
    buf.put_i32(s.state_epoch);
    buf.put_i32(s.leader_epoch);
    buf.put_i64(s.start_offset);
    buf.put_i64(s.create_timestamp);
    buf.put_i64(s.write_timestamp);
    put_batches(&mut buf, &s.batches);
    buf.put_u8(0);
    buf
}

pub fn decode_value(key_type: i16, bytes: &[u8]) -> Result<Value> {
    let mut r = Reader(bytes);
    let version = r.i16()?;
    ensure!(version == 0, "unknown share state value version {version}");
    match key_type {
        SNAPSHOT => {
            let snapshot_epoch = r.i32()?;
            let state_epoch = r.i32()?;
            let leader_epoch = r.i32()?;
            let start_offset = r.i64()?;
            let create_timestamp = r.i64()?;
            let write_timestamp = r.i64()?;
            let batches = r.batches()?;
            r.tagged_fields()?;
            Ok(Value::Snapshot(Snapshot {
                snapshot_epoch,
                state_epoch,
                leader_epoch,
                start_offset,
                create_timestamp,
                write_timestamp,
                batches,
            }))
        }
        UPDATE => {
            let _snapshot_epoch = r.i32()?;
            let _leader_epoch = r.i32()?;
            let start_offset = r.i64()?;
            let batches = r.batches()?;
            r.tagged_fields()?;
            Ok(Value::Update { start_offset, batches })
        }
        other => bail!("unknown share state key type {other}"),
    }
}

fn put_batches(buf: &mut BytesMut, batches: &[StateBatch]) {
    put_uvarint(buf, batches.len() as u32 + 1);
    for b in batches {
        buf.put_i64(b.first);
        buf.put_i64(b.last);
        buf.put_i8(b.state.id());
        buf.put_i16(b.delivery_count);
        buf.put_u8(0);
    }
}

fn put_uvarint(buf: &mut BytesMut, mut v: u32) {
    while v >= 0x80 {
        buf.put_u8((v as u8) | 0x80);
        v >>= 7;
    }
    buf.put_u8(v as u8);
}

struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8]> {
        ensure!(self.0.len() >= n, "share state record truncated");
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        Ok(head)
    }

    fn i8(&mut self) -> Result<i8> {
        Ok(self.take(1)?[0] as i8)
    }

    fn i16(&mut self) -> Result<i16> {
        Ok(i16::from_be_bytes(self.take(2)?.try_into()?))
    }

    fn i32(&mut self) -> Result<i32> {
        Ok(i32::from_be_bytes(self.take(4)?.try_into()?))
    }

    fn i64(&mut self) -> Result<i64> {
        Ok(i64::from_be_bytes(self.take(8)?.try_into()?))
    }

    fn uvarint(&mut self) -> Result<u32> {
        let mut value = 0u32;
        for shift in (0..35).step_by(7) {
            let byte = self.take(1)?[0];
            value |= u32::from(byte & 0x7f) << shift;
            if byte & 0x80 == 0 {
                return Ok(value);
            }
        }
        bail!("varint too long")
    }

    fn tagged_fields(&mut self) -> Result<()> {
        for _ in 0..self.uvarint()? {
            let _tag = self.uvarint()?;
            let len = self.uvarint()? as usize;
            self.take(len)?;
        }
        Ok(())
    }

    fn batches(&mut self) -> Result<Vec<StateBatch>> {
        let n = self.uvarint()?.checked_sub(1).context("null state batches")? as usize;
        // Each batch takes 20 bytes: a count beyond what is left is damage, not an allocation.
        ensure!(n <= self.0.len() / 20, "state batch count {n} exceeds the record");
        let mut batches = Vec::with_capacity(n);
        for _ in 0..n {
            let first = self.i64()?;
            let last = self.i64()?;
            let id = self.i8()?;
            let state = DeliveryState::from_id(id).with_context(|| format!("unknown delivery state {id}"))?;
            let delivery_count = self.i16()?;
            self.tagged_fields()?;
            ensure!(first <= last, "state batch {first}-{last}");
            batches.push(StateBatch { first, last, state, delivery_count });
        }
        Ok(batches)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snapshots_round_trip() {
        let key = Key { group: "queue".into(), topic_id: Uuid::from_u128(7), partition: 3 };
        let snapshot = Snapshot {
            snapshot_epoch: 2,
            state_epoch: 1,
            leader_epoch: 4,
            start_offset: 10,
            create_timestamp: 1000,
            write_timestamp: 2000,
            batches: vec![
                StateBatch { first: 10, last: 12, state: DeliveryState::Available, delivery_count: 2 },
                StateBatch { first: 13, last: 13, state: DeliveryState::Acknowledged, delivery_count: 1 },
                StateBatch { first: 14, last: 20, state: DeliveryState::Archived, delivery_count: 5 },
            ],
        };
        let k = encode_key(&key);
        assert_eq!(decode_key(&k).unwrap(), key);
        assert_eq!(key_type(&k).unwrap(), 0);
        let v = encode_snapshot(&snapshot);
        assert_eq!(decode_value(0, &v).unwrap(), Value::Snapshot(snapshot.clone()));
        // 13, and 14-20: the available ones are not complete.
        assert_eq!(snapshot.delivery_complete_count(), 8);
        let later = Snapshot { start_offset: 16, ..snapshot };
        assert_eq!(later.delivery_complete_count(), 5);
    }

    #[test]
    fn damaged_records_are_errors() {
        let key = encode_key(&Key { group: "g".into(), topic_id: Uuid::nil(), partition: 0 });
        assert!(decode_key(&key[..key.len() - 1]).is_err());
        let mut value = encode_snapshot(&Snapshot {
            snapshot_epoch: 0,
            state_epoch: 0,
            leader_epoch: 0,
            start_offset: 0,
            create_timestamp: 0,
            write_timestamp: 0,
            batches: vec![],
        });
        // A batch count of two billion in a record of a few bytes.
        value[2 + 36] = 0xff;
        assert!(decode_value(0, &value).is_err());
        assert!(decode_value(0, &value[..10]).is_err());
        assert!(decode_value(5, &value).is_err());
    }
}
