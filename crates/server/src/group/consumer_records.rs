//! A consumer group's (KIP-848) state as Kafka's `__consumer_offsets` records: the group
//! epoch (ConsumerGroupMetadata), the subscribed topics' metadata (ConsumerGroupPartitionMetadata),
//! each member (ConsumerGroupMemberMetadata), the target assignment (ConsumerGroupTargetAssignment
//! Metadata and Member) and each member's current assignment (ConsumerGroupCurrentMemberAssignment).
//! Values are version 0 in Kafka's flexible encoding (compact strings and arrays, tagged
//! fields). The coordinator writes the difference between these records and what the log
//! already holds, and a new coordinator rebuilds the group from them, so members keep their
//! epochs and assignments across a coordinator change.

use std::collections::BTreeMap;

use bytes::{Buf, BufMut, BytesMut};
use uuid::Uuid;

use super::Write;
use super::assignor::Assignment;
use super::consumer::{ConsumerGroup, ConsumerMember, MemberState};
use super::records::{BadRecord, Key, take};

/// Tombstones for every record a consumer group had: it was deleted, or went back to the
/// classic protocol.
pub(super) fn tombstones(group: ConsumerGroup) -> Vec<Write> {
    group.persisted.into_keys().map(|k| (k, None)).collect()
}

impl ConsumerGroup {
    /// The group as its records, by key; with `only`, the group's own records and that
    /// member's.
    pub fn records(&self, group: &str, only: Option<&str>) -> BTreeMap<Key, Vec<u8>> {
        let wanted = |member: &str| only.is_none_or(|m| m == member);
        let g = || group.to_string();
        let mut records = BTreeMap::new();
        records.insert(Key::ConsumerGroup { group: g() }, value(|b| b.put_i32(self.epoch)));
        records.insert(
            Key::ConsumerTopics { group: g() },
            value(|b| {
                put_array(b, &self.topics, |b, (name, (id, partitions))| {
                    b.put_slice(id.as_bytes());
                    put_str(b, name);
                    b.put_i32(*partitions);
                    put_len(b, 0); // per-partition racks: Brook's assignors do not use them
                    put_tags(b);
                })
            }),
        );
        records.insert(Key::ConsumerTargetEpoch { group: g() }, value(|b| b.put_i32(self.assignment_epoch)));
        for m in self.members.values().filter(|m| wanted(&m.id)) {
            let member = || m.id.clone();
            records.insert(
                Key::ConsumerMember { group: g(), member: member() },
                value(|b| {
                    put_opt_str(b, m.instance_id.as_deref());
                    put_opt_str(b, m.rack_id.as_deref());
                    put_str(b, &m.client_id);
                    put_str(b, &m.client_host);
                    put_array(b, &m.subscribed, |b, topic| put_str(b, topic));
                    put_opt_str(b, m.subscribed_regex.as_deref());
                    b.put_i32(m.rebalance_timeout_ms);
                    put_opt_str(b, m.server_assignor.as_deref());
                }),
            );
            records.insert(
                Key::ConsumerAssignment { group: g(), member: member() },
                value(|b| {
                    b.put_i32(m.epoch);
                    b.put_i32(m.previous_epoch);
                    b.put_i8(state_code(m.state));
                    put_assignment(b, &m.assigned);
                    put_assignment(b, &m.pending_revocation);
                }),
            );
        }
        for (member, target) in self.target.iter().filter(|(m, _)| wanted(m)) {
            records.insert(
                Key::ConsumerTarget { group: g(), member: member.clone() },
                value(|b| put_assignment(b, target)),
            );
        }
        records
    }

    /// Rebuilds a group from its records as the log holds them; `None` when they hold no
    /// group (its metadata was deleted). A member needs its metadata record; what else is
    /// missing takes the value a new member has.
    pub fn restore(records: &BTreeMap<Key, Vec<u8>>) -> Result<Option<ConsumerGroup>, BadRecord> {
        let Some(epoch) = records.iter().find(|(k, _)| matches!(k, Key::ConsumerGroup { .. })) else {
            return Ok(None);
        };
        let mut group = ConsumerGroup { epoch: read(epoch.1, |r| r.i32())?, ..ConsumerGroup::default() };
        for (key, bytes) in records {
            match key {
                Key::ConsumerTopics { .. } => {
                    group.topics = read(bytes, |r| {
                        r.array(|r| {
                            let id = r.uuid()?;
                            let name = r.str()?;
                            let partitions = r.i32()?;
                            r.array(|r| {
                                r.i32()?;
                                r.array(|r| r.str())?;
                                r.tags()
                            })?;
                            r.tags()?;
                            Ok((name, (id, partitions)))
                        })
                        .map(|topics| topics.into_iter().collect())
                    })?;
                }
                Key::ConsumerTargetEpoch { .. } => group.assignment_epoch = read(bytes, |r| r.i32())?,
                Key::ConsumerMember { member, .. } => {
                    let m = read(bytes, |r| {
                        let mut m = ConsumerMember::new(member.clone(), -1);
                        m.instance_id = r.opt_str()?;
                        m.rack_id = r.opt_str()?;
                        m.client_id = r.str()?;
                        m.client_host = r.str()?;
                        m.subscribed = r.array(|r| r.str())?;
                        m.subscribed_regex = r.opt_str()?;
                        m.rebalance_timeout_ms = r.i32()?;
                        m.server_assignor = r.opt_str()?;
                        Ok(m)
                    })?;
                    group.members.insert(member.clone(), m);
                }
                Key::ConsumerTarget { member, .. } => {
                    group.target.insert(member.clone(), read(bytes, |r| r.assignment())?);
                }
                _ => {}
            }
        }
        for (key, bytes) in records {
            let Key::ConsumerAssignment { member, .. } = key else { continue };
            let Some(m) = group.members.get_mut(member) else { continue };
            read(bytes, |r| {
                m.epoch = r.i32()?;
                m.previous_epoch = r.i32()?;
                m.state = match r.i8()? {
                    0 => MemberState::Stable,
                    1 => MemberState::UnrevokedPartitions,
                    2 => MemberState::UnreleasedPartitions,
                    _ => return Err(BadRecord("unknown member state")),
                };
                m.assigned = r.assignment()?;
                m.pending_revocation = r.assignment()?;
                Ok(())
            })?;
        }
        group.target.retain(|member, _| group.members.contains_key(member));
        Ok(Some(group))
    }
}

fn state_code(state: MemberState) -> i8 {
    match state {
        MemberState::Stable => 0,
        MemberState::UnrevokedPartitions => 1,
        MemberState::UnreleasedPartitions => 2,
    }
}

/// A version-0 value: the fields `fields` writes, then the (empty) tagged fields.
pub(super) fn value(fields: impl FnOnce(&mut BytesMut)) -> Vec<u8> {
    let mut buf = BytesMut::new();
    buf.put_i16(0);
    fields(&mut buf);
    put_tags(&mut buf);
    buf.to_vec()
}

fn put_uvarint(buf: &mut BytesMut, mut n: u64) {
    while n >= 0x80 {
        buf.put_u8((n as u8) | 0x80);
        n >>= 7;
    }
    buf.put_u8(n as u8);
}

/// A compact array or string length (stored plus one; zero is null).
pub(super) fn put_len(buf: &mut BytesMut, len: usize) {
    put_uvarint(buf, len as u64 + 1);
}

pub(super) fn put_tags(buf: &mut BytesMut) {
    put_uvarint(buf, 0);
}

pub(super) fn put_str(buf: &mut BytesMut, s: &str) {
    put_len(buf, s.len());
    buf.put_slice(s.as_bytes());
}

pub(super) fn put_opt_str(buf: &mut BytesMut, s: Option<&str>) {
    match s {
        Some(s) => put_str(buf, s),
        None => put_uvarint(buf, 0),
    }
}

pub(super) fn put_array<'a, T: 'a>(
    buf: &mut BytesMut,
    items: impl IntoIterator<Item = T, IntoIter: ExactSizeIterator>,
    mut each: impl FnMut(&mut BytesMut, T),
) {
    let items = items.into_iter();
    put_len(buf, items.len());
    items.for_each(|item| each(buf, item));
}

/// `[]TopicPartitions`: topic id, partitions, tagged fields.
fn put_assignment(buf: &mut BytesMut, assignment: &Assignment) {
    put_array(buf, assignment, |b, (topic, partitions)| {
        b.put_slice(topic.as_bytes());
        put_array(b, partitions, |b, p| b.put_i32(*p));
        put_tags(b);
    });
}

/// Reads a version-0 value with `fields`, then its tagged fields.
pub(super) fn read<T>(
    bytes: &[u8],
    fields: impl FnOnce(&mut Reader<'_>) -> Result<T, BadRecord>,
) -> Result<T, BadRecord> {
    let mut r = Reader(bytes);
    if r.i16()? != 0 {
        return Err(BadRecord("unknown consumer group value version"));
    }
    let value = fields(&mut r)?;
    r.tags()?;
    Ok(value)
}

pub(super) struct Reader<'a>(&'a [u8]);

impl Reader<'_> {
    pub(super) fn bytes(&mut self, len: usize) -> Result<&[u8], BadRecord> {
        take(&mut self.0, len)
    }

    pub(super) fn i8(&mut self) -> Result<i8, BadRecord> {
        Ok(self.bytes(1)?.get_i8())
    }

    pub(super) fn i16(&mut self) -> Result<i16, BadRecord> {
        Ok(self.bytes(2)?.get_i16())
    }

    pub(super) fn i32(&mut self) -> Result<i32, BadRecord> {
        Ok(self.bytes(4)?.get_i32())
    }

    pub(super) fn uuid(&mut self) -> Result<Uuid, BadRecord> {
        Ok(Uuid::from_slice(self.bytes(16)?).expect("16 bytes"))
    }

    fn uvarint(&mut self) -> Result<u64, BadRecord> {
        let mut n = 0u64;
        for shift in (0..64).step_by(7) {
            let byte = self.bytes(1)?[0];
            n |= u64::from(byte & 0x7f) << shift;
            if byte & 0x80 == 0 {
                return Ok(n);
            }
        }
        Err(BadRecord("varint too long"))
    }

    /// A compact length: `None` for null.
    fn len(&mut self) -> Result<Option<usize>, BadRecord> {
        let n = self.uvarint()?;
        let len = usize::try_from(n).map_err(|_| BadRecord("length too large"))?;
        // Every element or byte takes at least one byte: a longer length is corrupt.
        if len > self.0.len() + 1 {
            return Err(BadRecord("length beyond the record"));
        }
        Ok(len.checked_sub(1))
    }

    pub(super) fn opt_str(&mut self) -> Result<Option<String>, BadRecord> {
        let Some(len) = self.len()? else { return Ok(None) };
        let bytes = self.bytes(len)?;
        String::from_utf8(bytes.to_vec()).map(Some).map_err(|_| BadRecord("string is not UTF-8"))
    }

    pub(super) fn str(&mut self) -> Result<String, BadRecord> {
        self.opt_str()?.ok_or(BadRecord("null string"))
    }

    pub(super) fn array<T>(
        &mut self,
        mut each: impl FnMut(&mut Self) -> Result<T, BadRecord>,
    ) -> Result<Vec<T>, BadRecord> {
        let len = self.len()?.ok_or(BadRecord("null array"))?;
        (0..len).map(|_| each(self)).collect()
    }

    /// Skips tagged fields: those Brook does not write (a Kafka broker's MetadataHash or
    /// ClassicMemberMetadata) are read past.
    pub(super) fn tags(&mut self) -> Result<(), BadRecord> {
        for _ in 0..self.uvarint()? {
            self.uvarint()?;
            let size = self.uvarint()?;
            self.bytes(usize::try_from(size).map_err(|_| BadRecord("tag too large"))?)?;
        }
        Ok(())
    }

    fn assignment(&mut self) -> Result<Assignment, BadRecord> {
        let topics = self.array(|r| {
            let topic = r.uuid()?;
            let partitions = r.array(|r| r.i32())?;
            r.tags()?;
            Ok((topic, partitions.into_iter().collect()))
        })?;
        Ok(topics.into_iter().collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn group() -> ConsumerGroup {
        let topic = Uuid::from_u128(7);
        let mut group = ConsumerGroup { epoch: 5, assignment_epoch: 4, ..ConsumerGroup::default() };
        group.topics.insert("orders".into(), (topic, 3));
        let mut m = ConsumerMember::new("m1".into(), 30_000);
        m.instance_id = Some("i".into());
        m.client_id = "c".into();
        m.client_host = "/127.0.0.1".into();
        m.subscribed = vec!["orders".into()];
        m.subscribed_regex = Some("order.*".into());
        m.server_assignor = Some("range".into());
        m.epoch = 4;
        m.previous_epoch = 3;
        m.state = MemberState::UnrevokedPartitions;
        m.assigned = Assignment::from([(topic, [0, 1].into())]);
        m.pending_revocation = Assignment::from([(topic, [2].into())]);
        group.members.insert("m1".into(), m);
        group.target.insert("m1".into(), Assignment::from([(topic, [0, 1].into())]));
        group
    }

    /// A group reads back from its records as it was; truncated values are errors, never
    /// panics; without the metadata record there is no group.
    #[test]
    fn round_trips() {
        let group = group();
        let records = group.records("g", None);
        assert_eq!(records.len(), 6);
        assert_eq!(group.records("g", Some("m1")), records, "m1 is the only member");
        assert_eq!(group.records("g", Some("m2")).len(), 3, "the group's own records only");
        let restored = ConsumerGroup::restore(&records).expect("reads").expect("a group");
        assert_eq!(restored.records("g", None), records);
        assert_eq!(restored.members["m1"].subscribed_regex.as_deref(), Some("order.*"));
        for (key, bytes) in &records {
            for cut in 0..bytes.len() {
                let mut damaged = records.clone();
                damaged.insert(key.clone(), bytes[..cut].to_vec());
                assert!(ConsumerGroup::restore(&damaged).is_err(), "{key:?} cut at {cut}");
            }
        }
        let mut deleted = records;
        deleted.remove(&Key::ConsumerGroup { group: "g".into() });
        assert!(ConsumerGroup::restore(&deleted).expect("reads").is_none());
    }

    /// The layout is Kafka's: ConsumerGroupMetadataValue v0 with epoch 5 and no tagged fields,
    /// and a target assignment as a compact array of (uuid, compact int32 array, tags).
    #[test]
    fn kafka_layout() {
        let records = group().records("g", None);
        assert_eq!(records[&Key::ConsumerGroup { group: "g".into() }], [0, 0, 0, 0, 0, 5, 0]);
        let target = &records[&Key::ConsumerTarget { group: "g".into(), member: "m1".into() }];
        let mut expected = vec![0, 0, 2];
        expected.extend(Uuid::from_u128(7).as_bytes());
        expected.extend([3, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0]);
        assert_eq!(target, &expected);
    }
}
