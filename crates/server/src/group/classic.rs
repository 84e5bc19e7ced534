//! A classic consumer group (JoinGroup/SyncGroup protocol): its members, state and generation,
//! with the transitions Kafka's `ClassicGroup` makes. No I/O and no timers here: the
//! coordinator drives this state and owns the clock.

use std::collections::{HashMap, HashSet};

use bytes::Bytes;
use kafka_protocol::error::ResponseError;
use tokio::sync::oneshot;

use super::consumer::ConsumerGroup;
use super::records::{GroupValue, MemberValue, OffsetValue};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GroupState {
    Empty,
    PreparingRebalance,
    CompletingRebalance,
    Stable,
    Dead,
}

impl GroupState {
    /// The name Kafka's DescribeGroups and ListGroups use.
    pub fn name(self) -> &'static str {
        match self {
            GroupState::Empty => "Empty",
            GroupState::PreparingRebalance => "PreparingRebalance",
            GroupState::CompletingRebalance => "CompletingRebalance",
            GroupState::Stable => "Stable",
            GroupState::Dead => "Dead",
        }
    }
}

/// What a JoinGroup request gets back.
#[derive(Debug, Clone, Default)]
pub struct JoinOutcome {
    pub error: Option<ResponseError>,
    pub generation: i32,
    pub protocol_type: Option<String>,
    pub protocol_name: Option<String>,
    pub leader: String,
    pub member_id: String,
    pub skip_assignment: bool,
    /// For the leader: every member with its metadata for the chosen protocol.
    pub members: Vec<(String, Option<String>, Bytes)>,
}

impl JoinOutcome {
    pub fn error(error: ResponseError, member_id: &str) -> JoinOutcome {
        JoinOutcome { error: Some(error), generation: -1, member_id: member_id.to_string(), ..JoinOutcome::default() }
    }
}

/// What a SyncGroup request gets back.
#[derive(Debug, Clone, Default)]
pub struct SyncOutcome {
    pub error: Option<ResponseError>,
    pub protocol_type: Option<String>,
    pub protocol_name: Option<String>,
    pub assignment: Bytes,
}

impl SyncOutcome {
    pub fn error(error: ResponseError) -> SyncOutcome {
        SyncOutcome { error: Some(error), ..SyncOutcome::default() }
    }
}

pub struct Member {
    pub id: String,
    pub instance_id: Option<String>,
    pub client_id: String,
    pub client_host: String,
    pub rebalance_timeout_ms: i32,
    pub session_timeout_ms: i32,
    pub protocol_type: String,
    /// (name, metadata) in the member's order of preference.
    pub protocols: Vec<(String, Bytes)>,
    pub assignment: Bytes,
    /// Parked JoinGroups: a client that gave up on one may send another; all get the answer
    /// (Kafka reads a connection's next request only after answering the last).
    pub join_waiters: Vec<oneshot::Sender<JoinOutcome>>,
    /// Parked SyncGroups: a client that gave up on one may send another; both get the answer.
    pub sync_waiters: Vec<oneshot::Sender<SyncOutcome>>,
    /// Joined but has not had a JoinGroup answer yet: may expire while it waits.
    pub is_new: bool,
    /// Join order: the first member to join leads, and the leader lists members in this order.
    pub seq: u64,
}

impl Member {
    pub fn metadata(&self, protocol: &str) -> Bytes {
        self.protocols.iter().find(|(name, _)| name == protocol).map(|(_, m)| m.clone()).unwrap_or_default()
    }

    pub fn matches(&self, protocols: &[(String, Bytes)]) -> bool {
        self.protocols == protocols
    }

    /// Whether a missed heartbeat deadline is excused: members parked in a JoinGroup or
    /// SyncGroup cannot heartbeat (unless they are new, whose join has its own timeout).
    pub fn has_satisfied_heartbeat(&self) -> bool {
        !self.is_new && (!self.join_waiters.is_empty() || !self.sync_waiters.is_empty())
    }
}

/// A committed offset and where its record sits in `__consumer_offsets`.
#[derive(Debug, Clone)]
pub struct Committed {
    pub value: OffsetValue,
    pub log_offset: i64,
}

pub struct Group {
    pub id: String,
    pub state: GroupState,
    pub previous_state: GroupState,
    pub state_timestamp: i64,
    pub protocol_type: Option<String>,
    pub protocol: Option<String>,
    pub generation: i32,
    pub leader: Option<String>,
    pub members: HashMap<String, Member>,
    /// Members given an id by MEMBER_ID_REQUIRED that have not joined with it yet.
    pub pending_members: HashSet<String>,
    /// Members that have a JoinGroup answer for this generation but have not sent SyncGroup.
    pub pending_sync: HashSet<String>,
    /// A member joined during the initial rebalance delay: the delay is extended.
    pub new_member_added: bool,
    pub offsets: HashMap<(String, i32), Committed>,
    /// Offsets committed in producers' open transactions (TxnOffsetCommit), per producer id:
    /// applied to `offsets` by the transaction's commit marker, dropped by its abort marker.
    pub pending_txn: HashMap<i64, HashMap<(String, i32), Committed>>,
    /// Set while the group uses the consumer protocol (KIP-848); the classic fields then stay empty.
    pub consumer: Option<ConsumerGroup>,
    /// Set while the group is a streams group (KIP-1071).
    pub streams: Option<brook_streams::StreamsGroup>,
    /// The streams group's records as `__consumer_offsets` holds them (`streams_records`):
    /// written or being written, or loaded.
    pub streams_persisted: std::collections::BTreeMap<super::records::Key, Vec<u8>>,
    next_seq: u64,
}

impl Group {
    pub fn new(id: &str, now_ms: i64) -> Group {
        Group {
            id: id.to_string(),
            state: GroupState::Empty,
            previous_state: GroupState::Empty,
            state_timestamp: now_ms,
            protocol_type: None,
            protocol: None,
            generation: 0,
            leader: None,
            members: HashMap::new(),
            pending_members: HashSet::new(),
            pending_sync: HashSet::new(),
            new_member_added: false,
            offsets: HashMap::new(),
            pending_txn: HashMap::new(),
            consumer: None,
            streams: None,
            streams_persisted: Default::default(),
            next_seq: 0,
        }
    }

    /// Whether any member (of either protocol) is in the group.
    pub fn has_members(&self) -> bool {
        !self.members.is_empty()
            || self.consumer.as_ref().is_some_and(|c| !c.members.is_empty())
            || self.streams.as_ref().is_some_and(|s| !s.members.is_empty())
    }

    /// The state name and group type ListGroups shows.
    pub fn state_and_type(&self) -> (&'static str, &'static str) {
        match (&self.consumer, &self.streams) {
            (Some(c), _) => (c.state_name(), "consumer"),
            (_, Some(s)) => (s.state_name(), "streams"),
            _ => (self.state.name(), "classic"),
        }
    }

    pub fn transition(&mut self, state: GroupState, now_ms: i64) {
        self.previous_state = self.state;
        self.state = state;
        self.state_timestamp = now_ms;
    }

    pub fn is_leader(&self, member_id: &str) -> bool {
        self.leader.as_deref() == Some(member_id)
    }

    pub fn add(&mut self, mut member: Member) {
        if self.members.is_empty() {
            self.protocol_type = Some(member.protocol_type.clone());
        }
        if self.leader.is_none() {
            self.leader = Some(member.id.clone());
        }
        member.seq = self.next_seq;
        self.next_seq += 1;
        self.members.insert(member.id.clone(), member);
    }

    pub fn remove(&mut self, member_id: &str) -> Option<Member> {
        self.pending_members.remove(member_id);
        self.pending_sync.remove(member_id);
        let member = self.members.remove(member_id)?;
        if self.is_leader(member_id) {
            self.leader = self.members_in_order().first().map(|m| m.id.clone());
        }
        Some(member)
    }

    /// Members in join order.
    pub fn members_in_order(&self) -> Vec<&Member> {
        let mut members: Vec<&Member> = self.members.values().collect();
        members.sort_by_key(|m| m.seq);
        members
    }

    pub fn static_member(&self, instance_id: &str) -> Option<&str> {
        self.members.values().find(|m| m.instance_id.as_deref() == Some(instance_id)).map(|m| m.id.as_str())
    }

    /// Kafka's `validateMember`: a static member must be the one its instance id maps to.
    pub fn validate_member(&self, member_id: &str, instance_id: Option<&str>) -> Result<(), ResponseError> {
        if let Some(instance_id) = instance_id {
            match self.static_member(instance_id) {
                None => return Err(ResponseError::UnknownMemberId),
                Some(existing) if existing != member_id => return Err(ResponseError::FencedInstanceId),
                Some(_) => {}
            }
        }
        if !self.members.contains_key(member_id) {
            return Err(ResponseError::UnknownMemberId);
        }
        Ok(())
    }

    pub fn awaiting_join(&self) -> usize {
        self.members.values().filter(|m| !m.join_waiters.is_empty()).count()
    }

    pub fn has_all_members_joined(&self) -> bool {
        self.members.len() == self.awaiting_join() && self.pending_members.is_empty()
    }

    /// PreparingRebalance may follow Empty, CompletingRebalance and Stable.
    pub fn can_rebalance(&self) -> bool {
        matches!(self.state, GroupState::Empty | GroupState::CompletingRebalance | GroupState::Stable)
    }

    pub fn rebalance_timeout_ms(&self) -> i32 {
        self.members.values().map(|m| m.rebalance_timeout_ms).max().unwrap_or(0)
    }

    /// Whether a member with this protocol type and these protocols may join.
    pub fn supports_protocols(&self, protocol_type: &str, protocols: &[(String, Bytes)]) -> bool {
        if self.state == GroupState::Empty {
            return !protocol_type.is_empty() && !protocols.is_empty();
        }
        self.protocol_type.as_deref() == Some(protocol_type)
            && protocols
                .iter()
                .any(|(name, _)| self.members.values().all(|m| m.protocols.iter().any(|(n, _)| n == name)))
    }

    /// The protocol every member supports that most members prefer (Kafka's vote).
    fn select_protocol(&self) -> Option<String> {
        let members = self.members_in_order();
        let first = members.first()?;
        let candidates: Vec<&String> = first
            .protocols
            .iter()
            .map(|(name, _)| name)
            .filter(|name| members.iter().all(|m| m.protocols.iter().any(|(n, _)| n == *name)))
            .collect();
        let mut votes: Vec<(&String, usize)> = candidates.iter().map(|c| (*c, 0)).collect();
        for m in &members {
            if let Some((name, _)) = m.protocols.iter().find(|(n, _)| candidates.contains(&n)) {
                if let Some(v) = votes.iter_mut().find(|(c, _)| *c == name) {
                    v.1 += 1;
                }
            }
        }
        // The first candidate (in the first member's preference order) wins ties.
        let best = votes.iter().map(|(_, v)| *v).max()?;
        votes.iter().find(|(_, v)| *v == best).map(|(name, _)| (*name).clone())
    }

    /// Starts the next generation: CompletingRebalance with a chosen protocol, or Empty.
    pub fn init_next_generation(&mut self, now_ms: i64) {
        self.generation += 1;
        if self.members.is_empty() {
            self.protocol = None;
            self.transition(GroupState::Empty, now_ms);
        } else {
            self.protocol = self.select_protocol();
            self.transition(GroupState::CompletingRebalance, now_ms);
        }
        self.pending_sync.clear();
    }

    /// Kafka's `maybeElectNewJoinedLeader`: if the leader did not rejoin, a member that did
    /// leads. False when nobody rejoined.
    pub fn elect_joined_leader(&mut self) -> bool {
        let Some(leader) = self.leader.clone() else { return false };
        if self.members.get(&leader).is_some_and(|m| !m.join_waiters.is_empty()) {
            return true;
        }
        match self.members_in_order().into_iter().find(|m| !m.join_waiters.is_empty()) {
            Some(m) => {
                self.leader = Some(m.id.clone());
                true
            }
            None => false,
        }
    }

    /// The join answer for `member_id` in the current generation.
    pub fn join_outcome(&self, member_id: &str, with_members: bool) -> JoinOutcome {
        let protocol = self.protocol.clone().unwrap_or_default();
        let members = if with_members {
            self.members_in_order()
                .iter()
                .map(|m| (m.id.clone(), m.instance_id.clone(), m.metadata(&protocol)))
                .collect()
        } else {
            Vec::new()
        };
        JoinOutcome {
            error: None,
            generation: self.generation,
            protocol_type: self.protocol_type.clone(),
            protocol_name: self.protocol.clone(),
            leader: self.leader.clone().unwrap_or_default(),
            member_id: member_id.to_string(),
            skip_assignment: false,
            members,
        }
    }

    /// Answers every parked SyncGroup: with each member's assignment, or with `error`.
    pub fn propagate_assignment(&mut self, error: Option<ResponseError>) {
        let (protocol_type, protocol_name) = match error {
            None => (self.protocol_type.clone(), self.protocol.clone()),
            Some(_) => (None, None),
        };
        for member in self.members.values_mut() {
            for waiter in member.sync_waiters.drain(..) {
                let _ = waiter.send(SyncOutcome {
                    error,
                    protocol_type: protocol_type.clone(),
                    protocol_name: protocol_name.clone(),
                    assignment: member.assignment.clone(),
                });
            }
        }
    }

    /// The topics members subscribe to, read from the consumer protocol's subscription
    /// metadata (version, then an array of topic names); empty for other protocol types.
    pub fn is_subscribed_to(&self, topic: &str) -> bool {
        if let Some(c) = &self.consumer {
            return c.members.values().any(|m| m.subscribed.iter().any(|t| t == topic));
        }
        if let Some(s) = &self.streams {
            return !s.members.is_empty() && s.topics.as_ref().is_some_and(|t| t.contains_key(topic));
        }
        if self.protocol_type.as_deref() != Some("consumer") {
            return false;
        }
        let Some(protocol) = &self.protocol else { return false };
        self.members.values().any(|m| subscription_topics(&m.metadata(protocol)).iter().any(|t| t == topic))
    }

    /// The GroupMetadata record for the current state.
    pub fn to_record(&self) -> GroupValue {
        GroupValue {
            protocol_type: self.protocol_type.clone().unwrap_or_default(),
            generation: self.generation,
            protocol: self.protocol.clone(),
            leader: self.leader.clone(),
            current_state_timestamp: self.state_timestamp,
            members: self
                .members_in_order()
                .iter()
                .map(|m| MemberValue {
                    member_id: m.id.clone(),
                    group_instance_id: m.instance_id.clone(),
                    client_id: m.client_id.clone(),
                    client_host: m.client_host.clone(),
                    rebalance_timeout: m.rebalance_timeout_ms,
                    session_timeout: m.session_timeout_ms,
                    subscription: self.protocol.as_deref().map(|p| m.metadata(p)).unwrap_or_default(),
                    assignment: m.assignment.clone(),
                })
                .collect(),
        }
    }

    /// Restores the state a GroupMetadata record describes (at start-up).
    pub fn restore(&mut self, value: GroupValue) {
        self.protocol_type = Some(value.protocol_type.clone()).filter(|t| !t.is_empty());
        self.generation = value.generation;
        self.protocol = value.protocol.clone();
        self.leader = value.leader;
        self.state_timestamp = value.current_state_timestamp;
        self.members.clear();
        for m in value.members {
            let member = Member {
                id: m.member_id,
                instance_id: m.group_instance_id,
                client_id: m.client_id,
                client_host: m.client_host,
                rebalance_timeout_ms: m.rebalance_timeout,
                session_timeout_ms: m.session_timeout,
                protocol_type: value.protocol_type.clone(),
                protocols: vec![(value.protocol.clone().unwrap_or_default(), m.subscription)],
                assignment: m.assignment,
                join_waiters: Vec::new(),
                sync_waiters: Vec::new(),
                is_new: false,
                seq: self.next_seq,
            };
            self.next_seq += 1;
            self.members.insert(member.id.clone(), member);
        }
        self.state = if self.members.is_empty() { GroupState::Empty } else { GroupState::Stable };
    }
}

/// Topic names from a ConsumerProtocolSubscription (any version: the topics come first).
fn subscription_topics(metadata: &[u8]) -> Vec<String> {
    let mut topics = Vec::new();
    let Some(count) = metadata.get(2..6) else { return topics };
    let count = i32::from_be_bytes(count.try_into().expect("4 bytes"));
    let mut at = 6;
    for _ in 0..count.max(0) {
        let Some(len) = metadata.get(at..at + 2) else { break };
        let len = i16::from_be_bytes(len.try_into().expect("2 bytes")).max(0) as usize;
        let Some(name) = metadata.get(at + 2..at + 2 + len) else { break };
        topics.push(String::from_utf8_lossy(name).into_owned());
        at += 2 + len;
    }
    topics
}

#[cfg(test)]
mod tests {
    use super::*;

    fn member(id: &str, protocols: &[&str]) -> Member {
        Member {
            id: id.into(),
            instance_id: None,
            client_id: "c".into(),
            client_host: "/127.0.0.1".into(),
            rebalance_timeout_ms: 1000,
            session_timeout_ms: 1000,
            protocol_type: "consumer".into(),
            protocols: protocols.iter().map(|p| (p.to_string(), Bytes::new())).collect(),
            assignment: Bytes::new(),
            join_waiters: Vec::new(),
            sync_waiters: Vec::new(),
            is_new: true,
            seq: 0,
        }
    }

    /// The chosen protocol is one all members support, by vote; the first member leads.
    #[test]
    fn protocol_vote_and_leader() {
        let mut group = Group::new("g", 0);
        group.add(member("a", &["cooperative-sticky", "range"]));
        group.add(member("b", &["range", "cooperative-sticky"]));
        group.add(member("c", &["range"]));
        group.init_next_generation(1);
        assert_eq!(group.protocol.as_deref(), Some("range"));
        assert_eq!(group.leader.as_deref(), Some("a"));
        assert_eq!(group.state, GroupState::CompletingRebalance);
        assert!(!group.supports_protocols("consumer", &[("roundrobin".into(), Bytes::new())]));
        group.remove("a");
        assert_eq!(group.leader.as_deref(), Some("b"));
    }

    /// Subscriptions are read from the consumer protocol's metadata.
    #[test]
    fn subscriptions() {
        let mut meta = vec![0, 1, 0, 0, 0, 2];
        for t in ["orders", "users"] {
            meta.extend_from_slice(&(t.len() as i16).to_be_bytes());
            meta.extend_from_slice(t.as_bytes());
        }
        assert_eq!(subscription_topics(&meta), ["orders", "users"]);
        assert!(subscription_topics(&meta[..9]).is_empty());
    }
}
