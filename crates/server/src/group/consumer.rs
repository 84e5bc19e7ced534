//! The consumer group protocol (KIP-848): ConsumerGroupHeartbeat with server-side assignment.
//!
//! The group has an epoch, bumped whenever membership, subscriptions or the subscribed topics'
//! partitions change; a target assignment computed for that epoch; and each member reconciles
//! towards its target as Kafka's `CurrentAssignmentBuilder` does: it first gives up the
//! partitions it must (staying at its epoch until its heartbeat shows them released), then
//! moves to the target epoch and receives the partitions no other member still holds.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use kafka_protocol::error::ResponseError;
use tracing::info;
use uuid::Uuid;

use super::assignor::{self, Assignment, MemberSpec};
use super::classic::{Group, GroupState};
use super::records::Key;
use super::{Action, GroupCoordinator, Guard, TimerKey};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MemberState {
    Stable,
    UnrevokedPartitions,
    UnreleasedPartitions,
}

pub struct ConsumerMember {
    pub id: String,
    pub instance_id: Option<String>,
    pub rack_id: Option<String>,
    pub client_id: String,
    pub client_host: String,
    pub epoch: i32,
    pub previous_epoch: i32,
    pub state: MemberState,
    pub rebalance_timeout_ms: i32,
    pub subscribed: Vec<String>,
    /// KIP-848's server-side subscription: topics whose whole name matches (RE2 syntax).
    pub subscribed_regex: Option<String>,
    pub server_assignor: Option<String>,
    pub assigned: Assignment,
    pub pending_revocation: Assignment,
}

#[derive(Default)]
pub struct ConsumerGroup {
    pub epoch: i32,
    pub assignment_epoch: i32,
    pub members: BTreeMap<String, ConsumerMember>,
    pub target: HashMap<String, Assignment>,
    /// Subscribed topics as the target was computed: name -> (id, partitions).
    pub topics: BTreeMap<String, (Uuid, i32)>,
    /// Each member regex's matching topics, as of topic catalog version `matched_at`.
    pub(super) matches: BTreeMap<String, Vec<String>>,
    pub(super) matched_at: Option<u64>,
    /// The group's records as `__consumer_offsets` holds them (`consumer_records`): written
    /// or being written, or loaded.
    pub persisted: BTreeMap<Key, Vec<u8>>,
}

impl ConsumerGroup {
    /// The state name Kafka's ListGroups and ConsumerGroupDescribe use.
    pub fn state_name(&self) -> &'static str {
        if self.members.is_empty() {
            "Empty"
        } else if self.epoch != self.assignment_epoch {
            "Assigning"
        } else if self.members.values().any(|m| m.epoch != self.assignment_epoch || m.state != MemberState::Stable) {
            "Reconciling"
        } else {
            "Stable"
        }
    }

    /// The assignor the members ask for (the most common choice), else `uniform`.
    fn assignor(&self) -> &'static str {
        let mut votes: BTreeMap<&str, usize> = BTreeMap::new();
        for m in self.members.values() {
            if let Some(a) = m.server_assignor.as_deref() {
                *votes.entry(a).or_default() += 1;
            }
        }
        let best = votes.iter().max_by_key(|(_, n)| **n).map(|(a, _)| *a);
        assignor::ASSIGNORS.into_iter().find(|a| Some(*a) == best).unwrap_or(assignor::UNIFORM)
    }

    /// Whether another member still holds (or has yet to revoke) a partition.
    fn held_by_other(&self, member: &str, topic: Uuid, partition: i32) -> bool {
        self.members.values().filter(|m| m.id != member).any(|m| {
            [&m.assigned, &m.pending_revocation].iter().any(|a| a.get(&topic).is_some_and(|ps| ps.contains(&partition)))
        })
    }

    /// A member's topics: those it names and those its regex matches.
    fn topics_of(&self, m: &ConsumerMember) -> Vec<String> {
        let matched = m.subscribed_regex.as_ref().and_then(|r| self.matches.get(r)).into_iter().flatten();
        let all: BTreeSet<&String> = m.subscribed.iter().chain(matched).collect();
        all.into_iter().cloned().collect()
    }

    /// Resolves the members' regexes against the topic catalog, again only when it changed.
    fn match_regexes(&mut self, catalog: &Topics<'_>) {
        if self.matched_at != Some(catalog.version) {
            self.matches.clear();
            self.matched_at = Some(catalog.version);
        }
        let missing: BTreeSet<&String> = self
            .members
            .values()
            .filter_map(|m| m.subscribed_regex.as_ref())
            .filter(|r| !self.matches.contains_key(*r))
            .collect();
        if missing.is_empty() {
            return;
        }
        let names = (catalog.names)();
        let resolved: Vec<(String, Vec<String>)> = missing
            .into_iter()
            .map(|r| {
                let matched = whole_match(r).map(|re| names.iter().filter(|n| re.is_match(n)).cloned().collect());
                (r.clone(), matched.unwrap_or_default())
            })
            .collect();
        self.matches.extend(resolved);
    }

    fn compute_target(&mut self) {
        let topics: Vec<Vec<String>> = self.members.values().map(|m| self.topics_of(m)).collect();
        let specs: Vec<MemberSpec<'_>> = self
            .members
            .values()
            .zip(&topics)
            .map(|(m, topics)| MemberSpec { id: &m.id, topics, current: self.target.get(&m.id) })
            .collect();
        let assignments = assignor::assign(self.assignor(), &specs, &self.topics);
        let ids: Vec<String> = specs.iter().map(|s| s.id.to_string()).collect();
        self.target = ids.into_iter().zip(assignments).collect();
        self.assignment_epoch = self.epoch;
    }

    /// One step of reconciliation for `member_id` (Kafka's `CurrentAssignmentBuilder`).
    fn reconcile(&mut self, member_id: &str, owned: Option<&Assignment>) {
        let target_epoch = self.assignment_epoch;
        let target = self.target.get(member_id).cloned().unwrap_or_default();
        let member = &self.members[member_id];
        let owns_any = |pending: &Assignment| {
            owned.is_none_or(|o| o.iter().any(|(t, ps)| pending.get(t).is_some_and(|p| !p.is_disjoint(ps))))
        };
        let next_epoch = match member.state {
            MemberState::Stable if member.epoch == target_epoch => return,
            MemberState::Stable | MemberState::UnreleasedPartitions => member.epoch,
            MemberState::UnrevokedPartitions => {
                if owns_any(&member.pending_revocation) {
                    return;
                }
                member.epoch + 1
            }
        };
        let current = member.assigned.clone();
        let mut assigned = Assignment::new();
        let mut revoke = Assignment::new();
        let mut unreleased = false;
        let mut to_assign: Vec<(Uuid, i32)> = Vec::new();
        let topics: BTreeSet<Uuid> = target.keys().chain(current.keys()).copied().collect();
        for t in topics {
            let want = target.get(&t).cloned().unwrap_or_default();
            let have = current.get(&t).cloned().unwrap_or_default();
            let keep: BTreeSet<i32> = have.intersection(&want).copied().collect();
            let gone: BTreeSet<i32> = have.difference(&keep).copied().collect();
            for &p in want.difference(&keep) {
                if self.held_by_other(member_id, t, p) {
                    unreleased = true;
                } else {
                    to_assign.push((t, p));
                }
            }
            if !keep.is_empty() {
                assigned.insert(t, keep);
            }
            if !gone.is_empty() {
                revoke.insert(t, gone);
            }
        }
        let member = self.members.get_mut(member_id).expect("reconciling a member");
        if !revoke.is_empty() && owns_any(&revoke) {
            member.state = MemberState::UnrevokedPartitions;
            member.set_epoch(next_epoch);
            member.assigned = assigned;
            member.pending_revocation = revoke;
            return;
        }
        for (t, p) in to_assign {
            assigned.entry(t).or_default().insert(p);
        }
        member.state = if unreleased { MemberState::UnreleasedPartitions } else { MemberState::Stable };
        member.set_epoch(target_epoch);
        member.assigned = assigned;
        member.pending_revocation = Assignment::new();
    }
}

impl ConsumerMember {
    /// A member that just joined: epoch 0, nothing assigned.
    pub fn new(id: String, rebalance_timeout_ms: i32) -> ConsumerMember {
        ConsumerMember {
            id,
            instance_id: None,
            rack_id: None,
            client_id: String::new(),
            client_host: String::new(),
            epoch: 0,
            previous_epoch: -1,
            state: MemberState::Stable,
            rebalance_timeout_ms,
            subscribed: Vec::new(),
            subscribed_regex: None,
            server_assignor: None,
            assigned: Assignment::new(),
            pending_revocation: Assignment::new(),
        }
    }

    fn set_epoch(&mut self, epoch: i32) {
        if epoch != self.epoch {
            self.previous_epoch = self.epoch;
            self.epoch = epoch;
        }
    }
}

/// A ConsumerGroupHeartbeat, version-independent (`None`: unchanged since the last one).
pub struct HeartbeatRequest {
    pub group_id: String,
    pub member_id: String,
    pub member_epoch: i32,
    pub instance_id: Option<String>,
    pub rack_id: Option<String>,
    pub rebalance_timeout_ms: i32,
    pub subscribed_topics: Option<Vec<String>>,
    /// `Some("")` clears it.
    pub subscribed_regex: Option<String>,
    pub server_assignor: Option<String>,
    pub owned: Option<Assignment>,
    pub client_id: String,
    pub client_host: String,
    /// The group's `consumer.session.timeout.ms` and `consumer.heartbeat.interval.ms`.
    pub session_timeout_ms: i32,
    pub heartbeat_interval_ms: i32,
}

pub struct HeartbeatOutcome {
    pub member_id: String,
    pub member_epoch: i32,
    pub heartbeat_interval_ms: i32,
    /// Sent when it changed, or on a full request (a join, or one carrying every field).
    pub assignment: Option<Assignment>,
}

/// A consumer group as ConsumerGroupDescribe shows it.
pub struct ConsumerDescription {
    pub state: &'static str,
    pub epoch: i32,
    pub assignment_epoch: i32,
    pub assignor: &'static str,
    pub members: Vec<DescribedConsumer>,
}

pub struct DescribedConsumer {
    pub member_id: String,
    pub instance_id: Option<String>,
    pub rack_id: Option<String>,
    pub epoch: i32,
    pub client_id: String,
    pub client_host: String,
    pub subscribed: Vec<String>,
    pub subscribed_regex: Option<String>,
    pub assigned: Assignment,
    pub target: Assignment,
}

/// The topics a heartbeat sees: one by name (id, partitions), every name, and a version that
/// changes whenever they may have.
pub struct Topics<'a> {
    pub resolve: &'a dyn Fn(&str) -> Option<(Uuid, i32)>,
    pub names: &'a dyn Fn() -> Vec<String>,
    pub version: u64,
}

/// A subscription regex that must match a whole topic name, as Kafka's `Matcher.matches`.
fn whole_match(regex: &str) -> Result<regex_lite::Regex, regex_lite::Error> {
    regex_lite::Regex::new(&format!("^(?:{regex})$"))
}

/// The epoch of a member leaving the group.
const LEAVE_EPOCH: i32 = -1;
const LEAVE_STATIC_EPOCH: i32 = -2;

impl GroupCoordinator {
    /// Handles one ConsumerGroupHeartbeat.
    pub fn consumer_heartbeat(
        &self,
        now_ms: i64,
        request: HeartbeatRequest,
        topics: &Topics<'_>,
    ) -> Result<HeartbeatOutcome, (ResponseError, String)> {
        self.lock(now_ms).consumer_heartbeat(request, topics)
    }
}

impl GroupCoordinator {
    /// ConsumerGroupDescribe: GROUP_ID_NOT_FOUND for unknown and classic groups, as in Kafka.
    pub fn consumer_describe(&self, group_id: &str) -> Result<ConsumerDescription, (ResponseError, String)> {
        let state = self.state.lock().expect("group coordinator lock");
        let not_found = || (ResponseError::GroupIdNotFound, format!("Group {group_id} not found."));
        let group = state.groups.get(group_id).ok_or_else(not_found)?;
        let Some(c) = &group.consumer else {
            return Err((ResponseError::GroupIdNotFound, format!("Group {group_id} is not a consumer group.")));
        };
        Ok(ConsumerDescription {
            state: c.state_name(),
            epoch: c.epoch,
            assignment_epoch: c.assignment_epoch,
            assignor: c.assignor(),
            members: c
                .members
                .values()
                .map(|m| DescribedConsumer {
                    member_id: m.id.clone(),
                    instance_id: m.instance_id.clone(),
                    rack_id: m.rack_id.clone(),
                    epoch: m.epoch,
                    client_id: m.client_id.clone(),
                    client_host: m.client_host.clone(),
                    subscribed: m.subscribed.clone(),
                    subscribed_regex: m.subscribed_regex.clone(),
                    assigned: m.assigned.clone(),
                    target: c.target.get(&m.id).cloned().unwrap_or_default(),
                })
                .collect(),
        })
    }
}

fn invalid(message: &str) -> (ResponseError, String) {
    (ResponseError::InvalidRequest, message.to_string())
}

impl Guard<'_> {
    fn consumer_heartbeat(
        &mut self,
        request: HeartbeatRequest,
        topics: &Topics<'_>,
    ) -> Result<HeartbeatOutcome, (ResponseError, String)> {
        let config = self.state.config.clone();
        if request.group_id.is_empty() {
            return Err(invalid("GroupId can't be empty."));
        }
        match request.member_epoch {
            0 => {
                if request.rebalance_timeout_ms == -1 {
                    return Err(invalid("RebalanceTimeoutMs must be provided in first request."));
                }
                if request.owned.as_ref().is_none_or(|o| !o.is_empty()) {
                    return Err(invalid("TopicPartitions must be empty when (re-)joining."));
                }
                // Empty names or an empty regex join without topics, as in Kafka.
                if request.subscribed_topics.is_none() && request.subscribed_regex.is_none() {
                    return Err(invalid(
                        "Either SubscribedTopicNames or SubscribedTopicRegex must be non-null when (re-)joining.",
                    ));
                }
            }
            e if e > 0 || e == LEAVE_EPOCH || e == LEAVE_STATIC_EPOCH => {
                if request.member_id.is_empty() {
                    return Err(invalid("MemberId can't be empty."));
                }
            }
            _ => return Err(invalid("MemberEpoch is invalid.")),
        }
        if let Some(regex) = request.subscribed_regex.as_deref().filter(|r| !r.is_empty())
            && let Err(e) = whole_match(regex)
        {
            let message = format!("SubscribedTopicRegex `{regex}` is not a valid regular expression: {e}.");
            return Err((ResponseError::InvalidRegularExpression, message));
        }
        if let Some(a) = &request.server_assignor {
            if !assignor::ASSIGNORS.contains(&a.as_str()) {
                let message = format!("ServerAssignor {a} is not supported. Supported assignors: uniform, range.");
                return Err((ResponseError::UnsupportedAssignor, message));
            }
        }
        let now_ms = self.state.now_ms;
        let group_id = request.group_id.clone();
        let joining = request.member_epoch == 0;
        let full = joining
            || (request.rebalance_timeout_ms != -1 && request.subscribed_topics.is_some() && request.owned.is_some());
        let group = match self.state.groups.get_mut(&group_id) {
            Some(g) => g,
            None if joining => {
                self.state.groups.entry(group_id.clone()).or_insert_with(|| Group::new(&group_id, now_ms))
            }
            None => return Err((ResponseError::UnknownMemberId, "Unknown group.".into())),
        };
        if group.consumer.is_none() {
            if group.streams.is_some() || !group.members.is_empty() || group.state != GroupState::Empty {
                return Err((ResponseError::GroupIdNotFound, format!("Group {group_id} is not a consumer group.")));
            }
            // An empty classic group (offsets only) becomes a consumer group, keeping its offsets.
            group.consumer = Some(ConsumerGroup::default());
        }
        let cg = group.consumer.as_mut().expect("set above");
        // Epochs unchanged by this heartbeat: only this member's records can have changed.
        let epochs_before = (cg.epoch, cg.assignment_epoch);
        let member_id =
            if request.member_id.is_empty() { Uuid::new_v4().to_string() } else { request.member_id.clone() };

        if request.member_epoch < 0 {
            if cg.members.remove(&member_id).is_some() {
                cg.target.remove(&member_id);
                cg.epoch += 1;
                info!(group = group_id, member = member_id, epoch = cg.epoch, "consumer left");
            }
            self.cancel(&TimerKey::Heartbeat(group_id.clone(), member_id.clone()));
            self.cancel(&TimerKey::Revocation(group_id.clone(), member_id.clone()));
            self.write_consumer_group(&group_id, None);
            return Ok(HeartbeatOutcome {
                member_id,
                member_epoch: request.member_epoch,
                heartbeat_interval_ms: request.heartbeat_interval_ms,
                assignment: None,
            });
        }
        let previous_assigned = match cg.members.get(&member_id) {
            Some(m) => {
                if request.member_epoch > m.epoch {
                    return Err((
                        ResponseError::FencedMemberEpoch,
                        "The member epoch is ahead of the coordinator's.".into(),
                    ));
                }
                let subset = request
                    .owned
                    .as_ref()
                    .is_none_or(|o| o.iter().all(|(t, ps)| m.assigned.get(t).is_some_and(|a| ps.is_subset(a))));
                if request.member_epoch < m.epoch && (request.member_epoch != m.previous_epoch || !subset) && !joining {
                    return Err((ResponseError::FencedMemberEpoch, "The member epoch is stale.".into()));
                }
                Some(m.assigned.clone())
            }
            None if joining => {
                if cg.members.len() >= config.max_size {
                    return Err((ResponseError::GroupMaxSizeReached, "The consumer group is full.".into()));
                }
                None
            }
            None => return Err((ResponseError::UnknownMemberId, format!("Member {member_id} is not in the group."))),
        };
        let member = cg
            .members
            .entry(member_id.clone())
            .or_insert_with(|| ConsumerMember::new(member_id.clone(), request.rebalance_timeout_ms));
        let mut bump = previous_assigned.is_none();
        if joining && previous_assigned.is_some() {
            // A member rejoining with epoch 0 starts over with nothing.
            member.epoch = 0;
            member.assigned.clear();
            member.pending_revocation.clear();
            member.state = MemberState::Stable;
            bump = true;
        }
        member.client_id = request.client_id;
        member.client_host = request.client_host;
        if request.instance_id.is_some() {
            member.instance_id = request.instance_id;
        }
        if request.rack_id.is_some() {
            member.rack_id = request.rack_id;
        }
        if request.rebalance_timeout_ms != -1 {
            member.rebalance_timeout_ms = request.rebalance_timeout_ms;
        }
        if let Some(mut topics) = request.subscribed_topics {
            topics.sort();
            topics.dedup();
            bump |= topics != member.subscribed;
            member.subscribed = topics;
        }
        if let Some(regex) = request.subscribed_regex {
            let regex = Some(regex).filter(|r| !r.is_empty());
            bump |= regex != member.subscribed_regex;
            member.subscribed_regex = regex;
        }
        if let Some(a) = request.server_assignor {
            bump |= member.server_assignor.as_deref() != Some(a.as_str());
            member.server_assignor = Some(a);
        }
        // The subscribed topics as they are now: a new topic or partition is a new epoch.
        cg.match_regexes(topics);
        let names: BTreeSet<String> = cg.members.values().flat_map(|m| cg.topics_of(m)).collect();
        let metadata: BTreeMap<String, (Uuid, i32)> =
            names.into_iter().filter_map(|n| (topics.resolve)(&n).map(|t| (n, t))).collect();
        if metadata != cg.topics {
            cg.topics = metadata;
            bump = true;
        }
        if bump {
            cg.epoch += 1;
            info!(group = group_id, member = member_id, epoch = cg.epoch, "consumer group epoch bumped");
        }
        if cg.epoch > cg.assignment_epoch {
            cg.compute_target();
        }
        cg.reconcile(&member_id, request.owned.as_ref());
        let member = &cg.members[&member_id];
        let assignment = if full || previous_assigned.as_ref() != Some(&member.assigned) {
            Some(member.assigned.clone())
        } else {
            None
        };
        let outcome = HeartbeatOutcome {
            member_id: member_id.clone(),
            member_epoch: member.epoch,
            heartbeat_interval_ms: request.heartbeat_interval_ms,
            assignment,
        };
        let revoking = member.state == MemberState::UnrevokedPartitions;
        let rebalance_timeout = member.rebalance_timeout_ms;
        let epoch = member.epoch;
        let only_this_member = epochs_before == (cg.epoch, cg.assignment_epoch);
        self.schedule(
            TimerKey::Heartbeat(group_id.clone(), member_id.clone()),
            i64::from(request.session_timeout_ms),
            Action::ExpireConsumer,
        );
        let revocation = TimerKey::Revocation(group_id.clone(), member_id.clone());
        if revoking {
            if !self.state.timers.contains_key(&revocation) {
                self.schedule(revocation, i64::from(rebalance_timeout), Action::ExpireRevocation { epoch });
            }
        } else {
            self.cancel(&revocation);
        }
        self.write_consumer_group(&group_id, only_this_member.then_some(member_id.as_str()));
        Ok(outcome)
    }

    /// A consumer member missed its session timeout or did not revoke in time: it is removed
    /// and the others rebalance.
    pub(super) fn remove_consumer_member(&mut self, group_id: &str, member_id: &str, why: &str) {
        let Some(cg) = self.state.groups.get_mut(group_id).and_then(|g| g.consumer.as_mut()) else { return };
        if cg.members.remove(member_id).is_some() {
            cg.target.remove(member_id);
            cg.epoch += 1;
            info!(group = group_id, member = member_id, epoch = cg.epoch, why, "consumer removed");
        }
        self.cancel(&TimerKey::Heartbeat(group_id.to_string(), member_id.to_string()));
        self.cancel(&TimerKey::Revocation(group_id.to_string(), member_id.to_string()));
        self.write_consumer_group(group_id, None);
    }

    pub(super) fn expire_revocation(&mut self, group_id: &str, member_id: &str, epoch: i32) {
        let stuck = self
            .state
            .groups
            .get(group_id)
            .and_then(|g| g.consumer.as_ref())
            .and_then(|cg| cg.members.get(member_id))
            .is_some_and(|m| m.state == MemberState::UnrevokedPartitions && m.epoch == epoch);
        if stuck {
            self.remove_consumer_member(group_id, member_id, "partitions not revoked within the rebalance timeout");
        }
    }
}
