//! A history checker in the style of Jepsen's Kafka workload. Producers send unique values
//! and record what was acknowledged where; readers record what they polled, in order. The
//! checker reports, each with its evidence:
//!
//! - lost write: an acknowledged value missing from the final read of the whole log;
//! - inconsistent offset: two values read (or acknowledged) at one offset;
//! - wrong offset: a value read at another offset than it was acknowledged at;
//! - duplicate: one value at two offsets (producers are idempotent);
//! - phantom: a value read that was never sent (G1a-style: no client wrote it);
//! - non-monotonic poll: within one reader's session, a partition's offsets not increasing;
//! - and for a consumer group, whose members commit as they go: a poll below an offset the
//!   group had already committed (the offsets went backwards), and an acknowledged value the
//!   group never polled although it caught up with the end of the log.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

/// A (partition, offset).
pub type Place = (i32, i64);

#[derive(Debug, Default, Clone)]
pub struct History {
    /// Every value a producer handed to its client.
    pub sent: BTreeSet<u64>,
    /// Values whose produce was acknowledged, where. The offset is negative when the client
    /// acknowledged without one: librdkafka reports -1001 for a retried batch the broker
    /// answered as already written (seen with Kafka 4.4), so only the partition is known.
    pub acked: BTreeMap<u64, Place>,
    /// Values whose produce failed (indefinitely: a timeout may still have written them).
    pub failed: BTreeSet<u64>,
    /// Each reader session's polls in order: (partition, offset, value).
    pub reads: Vec<Vec<(i32, i64, u64)>>,
    /// The final read of every partition from its start to its end after the faults healed.
    pub final_read: BTreeMap<Place, u64>,
    /// What the consumer group's members did, in the order it happened.
    pub group: Vec<GroupEvent>,
    /// Whether the group's commits reached the end of every partition after the faults.
    pub group_caught_up: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GroupEvent {
    /// A member polled `value` at a place.
    Poll { member: usize, at: Place, value: u64 },
    /// The group committed `at.1` (the next offset to read) for partition `at.0`.
    Committed { at: Place },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Anomaly {
    Lost { value: u64, acked_at: Place },
    InconsistentOffset { at: Place, values: BTreeSet<u64> },
    WrongOffset { value: u64, acked_at: Place, read_at: Place },
    Duplicate { value: u64, at: BTreeSet<Place> },
    Phantom { value: u64, at: Place },
    NonMonotonic { reader: usize, partition: i32, after: i64, got: i64 },
    BelowCommitted { member: usize, partition: i32, committed: i64, got: i64 },
    GroupMissed { value: u64, acked_at: Place },
    GroupStalled,
}

impl fmt::Display for Anomaly {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Anomaly::Lost { value, acked_at } => write!(f, "lost: {value} acknowledged at {acked_at:?}, not read"),
            Anomaly::InconsistentOffset { at, values } => write!(f, "inconsistent offset {at:?}: {values:?}"),
            Anomaly::WrongOffset { value, acked_at, read_at } => {
                write!(f, "wrong offset: {value} acknowledged at {acked_at:?}, read at {read_at:?}")
            }
            Anomaly::Duplicate { value, at } => write!(f, "duplicate: {value} at {at:?}"),
            Anomaly::Phantom { value, at } => write!(f, "phantom: {value} read at {at:?}, never sent"),
            Anomaly::NonMonotonic { reader, partition, after, got } => {
                write!(f, "non-monotonic poll: reader {reader} partition {partition}: {got} after {after}")
            }
            Anomaly::BelowCommitted { member, partition, committed, got } => write!(
                f,
                "offsets went backwards: group member {member} polled partition {partition} at {got} after the group \
                 committed {committed}"
            ),
            Anomaly::GroupMissed { value, acked_at } => {
                write!(f, "group missed: {value} acknowledged at {acked_at:?}, never polled by the group")
            }
            Anomaly::GroupStalled => write!(f, "the group did not commit up to the end of the log after the faults"),
        }
    }
}

/// Every anomaly in `h`; empty for a correct history.
pub fn check(h: &History) -> Vec<Anomaly> {
    let mut out = Vec::new();
    // Every observation of a value at a place: acknowledgements, polls, the final read.
    let mut at_place: BTreeMap<Place, BTreeSet<u64>> = BTreeMap::new();
    let mut places_of: BTreeMap<u64, BTreeSet<Place>> = BTreeMap::new();
    let mut observe = |place: Place, value: u64| {
        at_place.entry(place).or_default().insert(value);
        places_of.entry(value).or_default().insert(place);
    };
    for (value, place) in h.acked.iter().filter(|(_, place)| place.1 >= 0) {
        observe(*place, *value);
    }
    for (reader, polls) in h.reads.iter().enumerate() {
        let mut last: BTreeMap<i32, i64> = BTreeMap::new();
        for &(partition, offset, value) in polls {
            observe((partition, offset), value);
            if let Some(&after) = last.get(&partition)
                && offset <= after
            {
                out.push(Anomaly::NonMonotonic { reader, partition, after, got: offset });
            }
            last.insert(partition, offset);
        }
    }
    let mut committed: BTreeMap<i32, i64> = BTreeMap::new();
    let mut group_polled = BTreeSet::new();
    for event in &h.group {
        match *event {
            GroupEvent::Committed { at: (partition, offset) } => {
                let highest = committed.entry(partition).or_insert(offset);
                *highest = (*highest).max(offset);
            }
            GroupEvent::Poll { member, at, value } => {
                observe(at, value);
                group_polled.insert(value);
                if let Some(&high) = committed.get(&at.0)
                    && at.1 < high
                {
                    out.push(Anomaly::BelowCommitted { member, partition: at.0, committed: high, got: at.1 });
                }
            }
        }
    }
    if !h.group.is_empty() {
        if !h.group_caught_up {
            out.push(Anomaly::GroupStalled);
        } else {
            let missed = h.acked.iter().filter(|(v, _)| !group_polled.contains(*v));
            out.extend(missed.map(|(v, at)| Anomaly::GroupMissed { value: *v, acked_at: *at }));
        }
    }
    for (place, value) in &h.final_read {
        observe(*place, *value);
    }
    for (at, values) in at_place {
        if values.len() > 1 {
            out.push(Anomaly::InconsistentOffset { at, values: values.clone() });
        }
        for value in values {
            if !h.sent.contains(&value) {
                out.push(Anomaly::Phantom { value, at });
            }
        }
    }
    for (value, at) in places_of {
        if at.len() > 1 {
            out.push(Anomaly::Duplicate { value, at });
        }
    }
    let final_places: BTreeMap<u64, Place> = h.final_read.iter().map(|(p, v)| (*v, *p)).collect();
    for (value, acked_at) in &h.acked {
        match final_places.get(value) {
            None => out.push(Anomaly::Lost { value: *value, acked_at: *acked_at }),
            Some(read_at) if read_at != acked_at && (acked_at.1 >= 0 || read_at.0 != acked_at.0) => {
                out.push(Anomaly::WrongOffset { value: *value, acked_at: *acked_at, read_at: *read_at })
            }
            Some(_) => {}
        }
    }
    out.sort_by_key(|a| format!("{a}"));
    out.dedup();
    out
}
