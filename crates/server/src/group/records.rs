//! The records of `__consumer_offsets`, in Kafka's own formats (OffsetCommitKey/Value and
//! GroupMetadataKey/Value from Kafka's group-coordinator message specs), so that the topic
//! reads the same as a Kafka broker's. Keys start with a version: 0 and 1 are offset keys,
//! 2 a classic group key, 3 to 8 a consumer group's (KIP-848) records, whose values are in
//! `consumer_records`. A record without a value is a tombstone.

use bytes::{Buf, BufMut, Bytes, BytesMut};

/// Ordered by record type, so that a consumer group's records are written (and replayed)
/// group first, then members, then assignments.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Key {
    Offset {
        group: String,
        topic: String,
        partition: i32,
    },
    Group {
        group: String,
    },
    /// ConsumerGroupMetadataKey (3): the group epoch.
    ConsumerGroup {
        group: String,
    },
    /// ConsumerGroupPartitionMetadataKey (4): the subscribed topics' metadata.
    ConsumerTopics {
        group: String,
    },
    /// ConsumerGroupMemberMetadataKey (5).
    ConsumerMember {
        group: String,
        member: String,
    },
    /// ConsumerGroupTargetAssignmentMetadataKey (6): the assignment epoch.
    ConsumerTargetEpoch {
        group: String,
    },
    /// ConsumerGroupTargetAssignmentMemberKey (7).
    ConsumerTarget {
        group: String,
        member: String,
    },
    /// ConsumerGroupCurrentMemberAssignmentKey (8).
    ConsumerAssignment {
        group: String,
        member: String,
    },
    /// ShareGroupMetadataKey (11): a share group and its epoch.
    ShareGroup {
        group: String,
    },
    /// ShareGroupStatePartitionMetadataKey (15): the partitions a share group has state for.
    ShareStatePartitions {
        group: String,
    },
    /// StreamsGroupMetadataKey (17): a streams group's epoch.
    StreamsGroup {
        group: String,
    },
    /// StreamsGroupMemberMetadataKey (19).
    StreamsMember {
        group: String,
        member: String,
    },
    /// StreamsGroupTargetAssignmentMetadataKey (20): the assignment epoch.
    StreamsTargetEpoch {
        group: String,
    },
    /// StreamsGroupTargetAssignmentMemberKey (21).
    StreamsTarget {
        group: String,
        member: String,
    },
    /// StreamsGroupCurrentMemberAssignmentKey (22).
    StreamsAssignment {
        group: String,
        member: String,
    },
    /// StreamsGroupTopologyKey (23).
    StreamsTopology {
        group: String,
    },
}

/// A committed offset (OffsetCommitValue, written at version 3).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OffsetValue {
    pub offset: i64,
    pub leader_epoch: i32,
    pub metadata: String,
    pub commit_timestamp: i64,
}

/// A classic group's state after a rebalance (GroupMetadataValue, written at version 3).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupValue {
    pub protocol_type: String,
    pub generation: i32,
    pub protocol: Option<String>,
    pub leader: Option<String>,
    pub current_state_timestamp: i64,
    pub members: Vec<MemberValue>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberValue {
    pub member_id: String,
    pub group_instance_id: Option<String>,
    pub client_id: String,
    pub client_host: String,
    pub rebalance_timeout: i32,
    pub session_timeout: i32,
    pub subscription: Bytes,
    pub assignment: Bytes,
}

/// Why a stored record could not be read.
#[derive(Debug, thiserror::Error)]
#[error("unreadable __consumer_offsets record: {0}")]
pub struct BadRecord(pub(super) &'static str);

impl Key {
    pub fn group(&self) -> &str {
        match self {
            Key::Offset { group, .. }
            | Key::Group { group }
            | Key::ConsumerGroup { group }
            | Key::ConsumerTopics { group }
            | Key::ConsumerMember { group, .. }
            | Key::ConsumerTargetEpoch { group }
            | Key::ConsumerTarget { group, .. }
            | Key::ConsumerAssignment { group, .. }
            | Key::ShareGroup { group }
            | Key::ShareStatePartitions { group }
            | Key::StreamsGroup { group }
            | Key::StreamsMember { group, .. }
            | Key::StreamsTargetEpoch { group }
            | Key::StreamsTarget { group, .. }
            | Key::StreamsAssignment { group, .. }
            | Key::StreamsTopology { group } => group,
        }
    }

    pub fn encode(&self) -> Vec<u8> {
        let mut buf = BytesMut::new();
        match self {
            Key::Offset { group, topic, partition } => {
                buf.put_i16(1);
                put_str(&mut buf, group);
                put_str(&mut buf, topic);
                buf.put_i32(*partition);
            }
            Key::Group { group } => {
                buf.put_i16(2);
                put_str(&mut buf, group);
            }
            Key::ConsumerGroup { group }
            | Key::ConsumerTopics { group }
            | Key::ConsumerTargetEpoch { group }
            | Key::ShareGroup { group }
            | Key::ShareStatePartitions { group }
            | Key::StreamsGroup { group }
            | Key::StreamsTargetEpoch { group }
            | Key::StreamsTopology { group } => {
                buf.put_i16(self.record_type());
                put_str(&mut buf, group);
            }
            Key::ConsumerMember { group, member }
            | Key::ConsumerTarget { group, member }
            | Key::ConsumerAssignment { group, member }
            | Key::StreamsMember { group, member }
            | Key::StreamsTarget { group, member }
            | Key::StreamsAssignment { group, member } => {
                buf.put_i16(self.record_type());
                put_str(&mut buf, group);
                put_str(&mut buf, member);
            }
        }
        buf.to_vec()
    }

    pub fn decode(mut buf: &[u8]) -> Result<Key, BadRecord> {
        match get_i16(&mut buf)? {
            0 | 1 => {
                Ok(Key::Offset { group: get_str(&mut buf)?, topic: get_str(&mut buf)?, partition: get_i32(&mut buf)? })
            }
            2 => Ok(Key::Group { group: get_str(&mut buf)? }),
            3 => Ok(Key::ConsumerGroup { group: get_str(&mut buf)? }),
            4 => Ok(Key::ConsumerTopics { group: get_str(&mut buf)? }),
            5 => Ok(Key::ConsumerMember { group: get_str(&mut buf)?, member: get_str(&mut buf)? }),
            6 => Ok(Key::ConsumerTargetEpoch { group: get_str(&mut buf)? }),
            7 => Ok(Key::ConsumerTarget { group: get_str(&mut buf)?, member: get_str(&mut buf)? }),
            8 => Ok(Key::ConsumerAssignment { group: get_str(&mut buf)?, member: get_str(&mut buf)? }),
            11 => Ok(Key::ShareGroup { group: get_str(&mut buf)? }),
            15 => Ok(Key::ShareStatePartitions { group: get_str(&mut buf)? }),
            17 => Ok(Key::StreamsGroup { group: get_str(&mut buf)? }),
            19 => Ok(Key::StreamsMember { group: get_str(&mut buf)?, member: get_str(&mut buf)? }),
            20 => Ok(Key::StreamsTargetEpoch { group: get_str(&mut buf)? }),
            21 => Ok(Key::StreamsTarget { group: get_str(&mut buf)?, member: get_str(&mut buf)? }),
            22 => Ok(Key::StreamsAssignment { group: get_str(&mut buf)?, member: get_str(&mut buf)? }),
            23 => Ok(Key::StreamsTopology { group: get_str(&mut buf)? }),
            _ => Err(BadRecord("unknown key version")),
        }
    }
}

impl Key {
    /// The key's version, which is its record type.
    fn record_type(&self) -> i16 {
        match self {
            Key::Offset { .. } => 1,
            Key::Group { .. } => 2,
            Key::ConsumerGroup { .. } => 3,
            Key::ConsumerTopics { .. } => 4,
            Key::ConsumerMember { .. } => 5,
            Key::ConsumerTargetEpoch { .. } => 6,
            Key::ConsumerTarget { .. } => 7,
            Key::ConsumerAssignment { .. } => 8,
            Key::ShareGroup { .. } => 11,
            Key::ShareStatePartitions { .. } => 15,
            Key::StreamsGroup { .. } => 17,
            Key::StreamsMember { .. } => 19,
            Key::StreamsTargetEpoch { .. } => 20,
            Key::StreamsTarget { .. } => 21,
            Key::StreamsAssignment { .. } => 22,
            Key::StreamsTopology { .. } => 23,
        }
    }

    /// Whether the record is a streams group's (`streams_records`).
    pub fn is_streams(&self) -> bool {
        matches!(
            self,
            Key::StreamsGroup { .. }
                | Key::StreamsMember { .. }
                | Key::StreamsTargetEpoch { .. }
                | Key::StreamsTarget { .. }
                | Key::StreamsAssignment { .. }
                | Key::StreamsTopology { .. }
        )
    }

    /// Whether the record is a share group's (kept by `crate::share`).
    pub fn is_share(&self) -> bool {
        matches!(self, Key::ShareGroup { .. } | Key::ShareStatePartitions { .. })
    }

    /// The member a consumer or streams group's member record is about.
    pub fn member(&self) -> Option<&str> {
        match self {
            Key::ConsumerMember { member, .. }
            | Key::ConsumerTarget { member, .. }
            | Key::ConsumerAssignment { member, .. }
            | Key::StreamsMember { member, .. }
            | Key::StreamsTarget { member, .. }
            | Key::StreamsAssignment { member, .. } => Some(member),
            _ => None,
        }
    }
}

impl OffsetValue {
    pub fn encode(&self) -> Vec<u8> {
        let mut buf = BytesMut::new();
        buf.put_i16(3);
        buf.put_i64(self.offset);
        buf.put_i32(self.leader_epoch);
        put_str(&mut buf, &self.metadata);
        buf.put_i64(self.commit_timestamp);
        buf.to_vec()
    }

    pub fn decode(mut buf: &[u8]) -> Result<OffsetValue, BadRecord> {
        let version = get_i16(&mut buf)?;
        if !(0..=3).contains(&version) {
            return Err(BadRecord("unknown offset value version"));
        }
        let offset = get_i64(&mut buf)?;
        let leader_epoch = if version >= 3 { get_i32(&mut buf)? } else { -1 };
        let metadata = get_str(&mut buf)?;
        let commit_timestamp = get_i64(&mut buf)?;
        Ok(OffsetValue { offset, leader_epoch, metadata, commit_timestamp })
    }
}

impl GroupValue {
    pub fn encode(&self) -> Vec<u8> {
        let mut buf = BytesMut::new();
        buf.put_i16(3);
        put_str(&mut buf, &self.protocol_type);
        buf.put_i32(self.generation);
        put_opt_str(&mut buf, self.protocol.as_deref());
        put_opt_str(&mut buf, self.leader.as_deref());
        buf.put_i64(self.current_state_timestamp);
        buf.put_i32(self.members.len() as i32);
        for m in &self.members {
            put_str(&mut buf, &m.member_id);
            put_opt_str(&mut buf, m.group_instance_id.as_deref());
            put_str(&mut buf, &m.client_id);
            put_str(&mut buf, &m.client_host);
            buf.put_i32(m.rebalance_timeout);
            buf.put_i32(m.session_timeout);
            put_bytes(&mut buf, &m.subscription);
            put_bytes(&mut buf, &m.assignment);
        }
        buf.to_vec()
    }

    pub fn decode(mut buf: &[u8]) -> Result<GroupValue, BadRecord> {
        let version = get_i16(&mut buf)?;
        if !(0..=3).contains(&version) {
            return Err(BadRecord("unknown group value version"));
        }
        let protocol_type = get_str(&mut buf)?;
        let generation = get_i32(&mut buf)?;
        let protocol = get_opt_str(&mut buf)?;
        let leader = get_opt_str(&mut buf)?;
        let current_state_timestamp = if version >= 2 { get_i64(&mut buf)? } else { -1 };
        let count = get_i32(&mut buf)?;
        // Each member takes at least 20 bytes: a count beyond that is corrupt, not a reason to allocate.
        if count < 0 || count as usize > buf.len() / 20 {
            return Err(BadRecord("bad member count"));
        }
        let mut members = Vec::with_capacity(count as usize);
        for _ in 0..count {
            let member_id = get_str(&mut buf)?;
            let group_instance_id = if version >= 3 { get_opt_str(&mut buf)? } else { None };
            let client_id = get_str(&mut buf)?;
            let client_host = get_str(&mut buf)?;
            let rebalance_timeout = if version >= 1 { get_i32(&mut buf)? } else { -1 };
            let session_timeout = get_i32(&mut buf)?;
            let subscription = get_bytes(&mut buf)?;
            let assignment = get_bytes(&mut buf)?;
            members.push(MemberValue {
                member_id,
                group_instance_id,
                client_id,
                client_host,
                rebalance_timeout,
                session_timeout,
                subscription,
                assignment,
            });
        }
        Ok(GroupValue { protocol_type, generation, protocol, leader, current_state_timestamp, members })
    }
}

fn put_str(buf: &mut BytesMut, s: &str) {
    buf.put_i16(s.len() as i16);
    buf.put_slice(s.as_bytes());
}

fn put_opt_str(buf: &mut BytesMut, s: Option<&str>) {
    match s {
        Some(s) => put_str(buf, s),
        None => buf.put_i16(-1),
    }
}

fn put_bytes(buf: &mut BytesMut, b: &[u8]) {
    buf.put_i32(b.len() as i32);
    buf.put_slice(b);
}

fn get_i16(buf: &mut &[u8]) -> Result<i16, BadRecord> {
    if buf.remaining() < 2 {
        return Err(BadRecord("truncated"));
    }
    Ok(buf.get_i16())
}

fn get_i32(buf: &mut &[u8]) -> Result<i32, BadRecord> {
    if buf.remaining() < 4 {
        return Err(BadRecord("truncated"));
    }
    Ok(buf.get_i32())
}

fn get_i64(buf: &mut &[u8]) -> Result<i64, BadRecord> {
    if buf.remaining() < 8 {
        return Err(BadRecord("truncated"));
    }
    Ok(buf.get_i64())
}

fn get_opt_str(buf: &mut &[u8]) -> Result<Option<String>, BadRecord> {
    let len = get_i16(buf)?;
    if len < 0 {
        return Ok(None);
    }
    let bytes = take(buf, len as usize)?;
    String::from_utf8(bytes.to_vec()).map(Some).map_err(|_| BadRecord("string is not UTF-8"))
}

fn get_str(buf: &mut &[u8]) -> Result<String, BadRecord> {
    get_opt_str(buf)?.ok_or(BadRecord("null string"))
}

fn get_bytes(buf: &mut &[u8]) -> Result<Bytes, BadRecord> {
    let len = get_i32(buf)?;
    if len < 0 {
        return Ok(Bytes::new());
    }
    Ok(Bytes::copy_from_slice(take(buf, len as usize)?))
}

pub(super) fn take<'a>(buf: &mut &'a [u8], len: usize) -> Result<&'a [u8], BadRecord> {
    if buf.len() < len {
        return Err(BadRecord("truncated"));
    }
    let (head, rest) = buf.split_at(len);
    *buf = rest;
    Ok(head)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every record type reads back as written; truncations are errors, never panics.
    #[test]
    fn round_trips() {
        let (group, member) = ("g".to_string(), "m".to_string());
        let keys = [
            Key::Offset { group: group.clone(), topic: "orders".into(), partition: 7 },
            Key::Group { group: group.clone() },
            Key::ConsumerGroup { group: group.clone() },
            Key::ConsumerTopics { group: group.clone() },
            Key::ConsumerMember { group: group.clone(), member: member.clone() },
            Key::ConsumerTargetEpoch { group: group.clone() },
            Key::ConsumerTarget { group: group.clone(), member: member.clone() },
            Key::ConsumerAssignment { group, member },
        ];
        for key in keys {
            let bytes = key.encode();
            assert_eq!(Key::decode(&bytes).expect("decodes"), key);
            for cut in 0..bytes.len() {
                assert!(Key::decode(&bytes[..cut]).is_err());
            }
        }
        let offset = OffsetValue { offset: 42, leader_epoch: 3, metadata: "m".into(), commit_timestamp: 1000 };
        assert_eq!(OffsetValue::decode(&offset.encode()).expect("decodes"), offset);
        let group = GroupValue {
            protocol_type: "consumer".into(),
            generation: 5,
            protocol: Some("range".into()),
            leader: Some("m1".into()),
            current_state_timestamp: 99,
            members: vec![MemberValue {
                member_id: "m1".into(),
                group_instance_id: None,
                client_id: "c".into(),
                client_host: "/127.0.0.1".into(),
                rebalance_timeout: 300_000,
                session_timeout: 45_000,
                subscription: Bytes::from_static(b"sub"),
                assignment: Bytes::from_static(b"assign"),
            }],
        };
        let bytes = group.encode();
        assert_eq!(GroupValue::decode(&bytes).expect("decodes"), group);
        for cut in 0..bytes.len() {
            assert!(GroupValue::decode(&bytes[..cut]).is_err());
        }
    }

    /// The byte layout is Kafka's: a version-1 offset key for ("g", "t", 0).
    #[test]
    fn kafka_layout() {
        let key = Key::Offset { group: "g".into(), topic: "t".into(), partition: 0 };
        assert_eq!(key.encode(), [0, 1, 0, 1, b'g', 0, 1, b't', 0, 0, 0, 0]);
    }
}
