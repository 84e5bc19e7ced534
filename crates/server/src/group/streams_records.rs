//! A streams group's (KIP-1071) state as Kafka 4.4's `__consumer_offsets` records: the group
//! epoch (StreamsGroupMetadata), its topology (StreamsGroupTopology), each member
//! (StreamsGroupMemberMetadata), the target assignment (StreamsGroupTargetAssignment Metadata
//! and Member) and each member's current assignment (StreamsGroupCurrentMemberAssignment).
//! Values are version 0 in Kafka's flexible encoding; Brook writes no tagged fields (the
//! metadata hash is 0: Brook compares the topics themselves). A new coordinator rebuilds the
//! group from them, so members keep their epochs and tasks across a coordinator change.

use std::collections::{BTreeMap, BTreeSet};

use brook_streams::group::{Member, MemberState};
use brook_streams::topology::CopartitionGroup;
use brook_streams::{StreamsGroup, Subtopology, TaskSet, Tasks, TopicInfo, Topology};
use bytes::{BufMut, BytesMut};

use super::consumer_records::{Reader, put_array, put_opt_str, put_str, put_tags, read, value};
use super::records::{BadRecord, Key};

/// The group as its records, by key; with `only`, the group's own records and that member's.
pub(super) fn group_records(group: &str, g: &StreamsGroup, only: Option<&str>) -> BTreeMap<Key, Vec<u8>> {
    let wanted = |member: &str| only.is_none_or(|m| m == member);
    let id = || group.to_string();
    let mut out = BTreeMap::new();
    out.insert(
        Key::StreamsGroup { group: id() },
        value(|b| {
            b.put_i32(g.epoch);
            b.put_i64(0);
        }),
    );
    if let Some(t) = &g.topology {
        out.insert(Key::StreamsTopology { group: id() }, value(|b| put_topology(b, t)));
    }
    out.insert(Key::StreamsTargetEpoch { group: id() }, value(|b| b.put_i32(g.assignment_epoch)));
    for m in g.members.values().filter(|m| wanted(&m.id)) {
        let member = || m.id.clone();
        out.insert(Key::StreamsMember { group: id(), member: member() }, value(|b| put_member(b, m)));
        out.insert(
            Key::StreamsAssignment { group: id(), member: member() },
            value(|b| {
                b.put_i32(m.epoch);
                b.put_i32(m.previous_epoch);
                b.put_i8(state_code(m.state));
                for set in [&m.assigned.active, &m.assigned.standby, &m.assigned.warmup, &m.pending_revocation] {
                    put_tasks(b, set);
                }
                put_tasks(b, &TaskSet::new()); // standby tasks pending revocation: none in Brook
                put_tasks(b, &TaskSet::new()); // warm-up tasks pending revocation
            }),
        );
    }
    for (member, target) in g.target.iter().filter(|(m, _)| wanted(m)) {
        out.insert(
            Key::StreamsTarget { group: id(), member: member.clone() },
            value(|b| {
                for set in [&target.active, &target.standby, &target.warmup] {
                    put_tasks(b, set);
                }
            }),
        );
    }
    out
}

/// Rebuilds a group from its records; `None` when they hold none (it was deleted).
pub(super) fn restore(records: &BTreeMap<Key, Vec<u8>>) -> Result<Option<StreamsGroup>, BadRecord> {
    let Some((_, metadata)) = records.iter().find(|(k, _)| matches!(k, Key::StreamsGroup { .. })) else {
        return Ok(None);
    };
    let mut g = StreamsGroup { epoch: read(metadata, |r| r.i32())?, ..StreamsGroup::default() };
    read(metadata, |r| {
        r.i32()?;
        r.bytes(8).map(|_| ())
    })?;
    for (key, bytes) in records {
        match key {
            Key::StreamsTopology { .. } => g.topology = Some(read(bytes, read_topology)?),
            Key::StreamsTargetEpoch { .. } => g.assignment_epoch = read(bytes, |r| r.i32())?,
            Key::StreamsMember { member, .. } => {
                g.members.insert(member.clone(), read(bytes, |r| read_member(r, member))?);
            }
            Key::StreamsTarget { member, .. } => {
                let target = read(bytes, |r| Ok(Tasks { active: tasks(r)?, standby: tasks(r)?, warmup: tasks(r)? }))?;
                g.target.insert(member.clone(), target);
            }
            _ => {}
        }
    }
    for (key, bytes) in records {
        let Key::StreamsAssignment { member, .. } = key else { continue };
        let Some(m) = g.members.get_mut(member) else { continue };
        read(bytes, |r| {
            m.epoch = r.i32()?;
            m.previous_epoch = r.i32()?;
            m.state = match r.i8()? {
                0 => MemberState::Stable,
                1 => MemberState::UnrevokedTasks,
                2 => MemberState::UnreleasedTasks,
                _ => return Err(BadRecord("unknown streams member state")),
            };
            m.assigned = Tasks { active: tasks(r)?, standby: tasks(r)?, warmup: tasks(r)? };
            m.pending_revocation = tasks(r)?;
            tasks(r)?;
            tasks(r)?;
            Ok(())
        })?;
    }
    g.target.retain(|member, _| g.members.contains_key(member));
    Ok(Some(g))
}

/// Kafka's `MemberState` values (4 is UNKNOWN, never written).
fn state_code(state: MemberState) -> i8 {
    match state {
        MemberState::Stable => 0,
        MemberState::UnrevokedTasks => 1,
        MemberState::UnreleasedTasks => 2,
    }
}

fn put_tasks(b: &mut BytesMut, set: &TaskSet) {
    put_array(b, set, |b, (subtopology, partitions)| {
        put_str(b, subtopology);
        put_array(b, partitions, |b, p| b.put_i32(*p));
        put_tags(b);
    });
}

fn tasks(r: &mut Reader<'_>) -> Result<TaskSet, BadRecord> {
    let sets = r.array(|r| {
        let subtopology = r.str()?;
        let partitions: BTreeSet<i32> = r.array(|r| r.i32())?.into_iter().collect();
        r.tags()?;
        Ok((subtopology, partitions))
    })?;
    Ok(sets.into_iter().collect())
}

fn put_pairs(b: &mut BytesMut, pairs: &[(String, String)]) {
    put_array(b, pairs, |b, (k, v)| {
        put_str(b, k);
        put_str(b, v);
        put_tags(b);
    });
}

fn pairs(r: &mut Reader<'_>) -> Result<Vec<(String, String)>, BadRecord> {
    r.array(|r| {
        let pair = (r.str()?, r.str()?);
        r.tags()?;
        Ok(pair)
    })
}

fn put_member(b: &mut BytesMut, m: &Member) {
    put_opt_str(b, m.instance_id.as_deref());
    put_opt_str(b, m.rack_id.as_deref());
    put_str(b, &m.client_id);
    put_str(b, &m.client_host);
    b.put_i32(m.rebalance_timeout_ms);
    b.put_i32(m.topology_epoch);
    put_str(b, &m.process_id);
    // A nullable struct: -1 for null, else 1 and the struct.
    match &m.user_endpoint {
        None => b.put_i8(-1),
        Some((host, port)) => {
            b.put_i8(1);
            put_str(b, host);
            b.put_u16(*port);
            put_tags(b);
        }
    }
    put_pairs(b, &m.client_tags);
}

fn read_member(r: &mut Reader<'_>, id: &str) -> Result<Member, BadRecord> {
    let mut m = Member::new(id);
    m.instance_id = r.opt_str()?;
    m.rack_id = r.opt_str()?;
    m.client_id = r.str()?;
    m.client_host = r.str()?;
    m.rebalance_timeout_ms = r.i32()?;
    m.topology_epoch = r.i32()?;
    m.process_id = r.str()?;
    m.user_endpoint = match r.i8()? {
        -1 => None,
        _ => {
            let host = r.str()?;
            let port = r.i16()? as u16;
            r.tags()?;
            Some((host, port))
        }
    };
    m.client_tags = pairs(r)?;
    Ok(m)
}

fn put_topic_infos(b: &mut BytesMut, topics: &[TopicInfo]) {
    put_array(b, topics, |b, t| {
        put_str(b, &t.name);
        b.put_i32(t.partitions);
        b.put_i16(t.replication_factor);
        put_pairs(b, &t.configs);
        put_tags(b);
    });
}

fn topic_infos(r: &mut Reader<'_>) -> Result<Vec<TopicInfo>, BadRecord> {
    r.array(|r| {
        let t = TopicInfo { name: r.str()?, partitions: r.i32()?, replication_factor: r.i16()?, configs: pairs(r)? };
        r.tags()?;
        Ok(t)
    })
}

fn put_strs(b: &mut BytesMut, items: &[String]) {
    put_array(b, items, |b, s| put_str(b, s));
}

fn put_indexes(b: &mut BytesMut, items: &[i16]) {
    put_array(b, items, |b, i| b.put_i16(*i));
}

fn put_topology(b: &mut BytesMut, t: &Topology) {
    b.put_i32(t.epoch);
    put_array(b, &t.subtopologies, |b, s| {
        put_str(b, &s.id);
        put_strs(b, &s.source_topics);
        put_strs(b, &s.source_regexes);
        put_topic_infos(b, &s.changelogs);
        put_strs(b, &s.repartition_sinks);
        put_topic_infos(b, &s.repartition_sources);
        put_array(b, &s.copartition_groups, |b, g| {
            put_indexes(b, &g.source_topics);
            put_indexes(b, &g.source_regexes);
            put_indexes(b, &g.repartition_sources);
            put_tags(b);
        });
        put_tags(b);
    });
}

fn read_topology(r: &mut Reader<'_>) -> Result<Topology, BadRecord> {
    let epoch = r.i32()?;
    let subtopologies = r.array(|r| {
        let s = Subtopology {
            id: r.str()?,
            source_topics: r.array(|r| r.str())?,
            source_regexes: r.array(|r| r.str())?,
            changelogs: topic_infos(r)?,
            repartition_sinks: r.array(|r| r.str())?,
            repartition_sources: topic_infos(r)?,
            copartition_groups: r.array(|r| {
                let g = CopartitionGroup {
                    source_topics: r.array(|r| r.i16())?,
                    source_regexes: r.array(|r| r.i16())?,
                    repartition_sources: r.array(|r| r.i16())?,
                };
                r.tags()?;
                Ok(g)
            })?,
        };
        r.tags()?;
        Ok(s)
    })?;
    Ok(Topology { epoch, subtopologies })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn group() -> StreamsGroup {
        let topology = Topology {
            epoch: 2,
            subtopologies: vec![Subtopology {
                id: "0".into(),
                source_topics: vec!["in".into(), "in2".into()],
                source_regexes: vec!["x.*".into()],
                changelogs: vec![TopicInfo {
                    name: "app-changelog".into(),
                    configs: vec![("cleanup.policy".into(), "compact".into())],
                    ..Default::default()
                }],
                repartition_sinks: vec!["app-repartition".into()],
                repartition_sources: vec![TopicInfo {
                    name: "app-repartition".into(),
                    partitions: 4,
                    replication_factor: 3,
                    configs: vec![],
                }],
                copartition_groups: vec![CopartitionGroup {
                    source_topics: vec![0, 1],
                    source_regexes: vec![],
                    repartition_sources: vec![0],
                }],
            }],
        };
        let mut g = StreamsGroup { epoch: 5, assignment_epoch: 4, topology: Some(topology), ..StreamsGroup::default() };
        let mut m = Member::new("m1");
        m.instance_id = Some("i".into());
        m.client_id = "c".into();
        m.client_host = "/127.0.0.1".into();
        m.process_id = "p".into();
        m.user_endpoint = Some(("localhost".into(), 65_000));
        m.client_tags = vec![("zone".into(), "a".into())];
        m.topology_epoch = 2;
        m.rebalance_timeout_ms = 30_000;
        m.epoch = 4;
        m.previous_epoch = 3;
        m.state = MemberState::UnrevokedTasks;
        m.assigned.active = TaskSet::from([("0".into(), [0, 1].into())]);
        m.assigned.standby = TaskSet::from([("0".into(), [3].into())]);
        m.pending_revocation = TaskSet::from([("0".into(), [2].into())]);
        g.members.insert("m1".into(), m);
        g.target
            .insert("m1".into(), Tasks { active: TaskSet::from([("0".into(), [0, 1].into())]), ..Tasks::default() });
        g
    }

    #[test]
    fn round_trips() {
        let g = group();
        let records = group_records("g", &g, None);
        assert_eq!(records.len(), 6);
        assert_eq!(group_records("g", &g, Some("m2")).len(), 3, "the group's own records only");
        let restored = restore(&records).expect("reads").expect("a group");
        assert_eq!(group_records("g", &restored, None), records);
        assert_eq!(restored.members["m1"].user_endpoint, Some(("localhost".to_string(), 65_000)));
        for (key, bytes) in &records {
            for cut in 0..bytes.len() {
                let mut damaged = records.clone();
                damaged.insert(key.clone(), bytes[..cut].to_vec());
                assert!(restore(&damaged).is_err(), "{key:?} cut at {cut}");
            }
        }
    }
}
