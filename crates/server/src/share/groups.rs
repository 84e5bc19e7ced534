//! Share group membership: ShareGroupHeartbeat and ShareGroupDescribe. A share group has an
//! epoch, bumped when members, subscriptions or the subscribed topics' partitions change, and
//! an assignment computed for it by the share assignor. Members take their assignment at once
//! (a partition may be shared, so nothing has to be revoked first); a member that stops
//! heartbeating for the session timeout is removed.

use std::collections::{BTreeMap, BTreeSet};

use brook_share::assignor::{self, Subscriber};
use kafka_protocol::error::ResponseError;
use tracing::info;
use uuid::Uuid;

use super::Shares;

const LEAVE_EPOCH: i32 = -1;

/// One ShareGroupHeartbeat.
pub struct ShareHeartbeat {
    pub group_id: String,
    pub member_id: String,
    pub member_epoch: i32,
    pub rack_id: Option<String>,
    pub subscribed: Option<Vec<String>>,
    pub client_id: String,
    pub client_host: String,
    /// The group's `share.session.timeout.ms` and `share.heartbeat.interval.ms`.
    pub session_timeout_ms: i32,
    pub heartbeat_interval_ms: i32,
}

pub struct HeartbeatOutcome {
    pub member_id: String,
    pub member_epoch: i32,
    pub heartbeat_interval_ms: i32,
    /// Sent when the member's assignment is not what it was last told.
    pub assignment: Option<BTreeMap<Uuid, Vec<i32>>>,
}

pub(super) struct ShareGroup {
    epoch: i32,
    assignment_epoch: i32,
    members: BTreeMap<String, ShareMember>,
    /// The subscribed topics the assignment was computed for: name -> (id, partitions).
    topics: BTreeMap<String, (Uuid, i32)>,
    assignment: assignor::Assignment,
    /// Every partition the group was ever assigned or given an offset for, until its offsets
    /// are deleted: what DescribeShareGroupOffsets shows when it names no topics.
    known: BTreeSet<(Uuid, i32)>,
    /// What `__consumer_offsets` has of `known`; None until the group's records are written.
    written: Option<BTreeSet<(Uuid, i32)>>,
}

struct ShareMember {
    epoch: i32,
    rack_id: Option<String>,
    client_id: String,
    client_host: String,
    subscribed: Vec<String>,
    deadline_ms: i64,
    /// The assignment last sent to it.
    sent: Option<BTreeMap<Uuid, Vec<i32>>>,
}

pub struct DescribedShareGroup {
    pub state: &'static str,
    pub epoch: i32,
    pub assignment_epoch: i32,
    pub members: Vec<DescribedShareMember>,
}

pub struct DescribedShareMember {
    pub member_id: String,
    pub rack_id: Option<String>,
    pub epoch: i32,
    pub client_id: String,
    pub client_host: String,
    pub subscribed: Vec<String>,
    pub assignment: BTreeMap<Uuid, Vec<i32>>,
}

fn invalid(message: &str) -> (ResponseError, String) {
    (ResponseError::InvalidRequest, message.to_string())
}

impl ShareGroup {
    pub(super) fn new() -> ShareGroup {
        ShareGroup {
            epoch: 0,
            assignment_epoch: 0,
            members: BTreeMap::new(),
            topics: BTreeMap::new(),
            assignment: BTreeMap::new(),
            known: BTreeSet::new(),
            written: None,
        }
    }

    pub(super) fn epoch(&self) -> i32 {
        self.epoch
    }

    /// Restored from `__consumer_offsets`: its epoch (the next one is past it), and the
    /// partitions it has state for, if that record was read.
    pub(super) fn restored(&mut self, epoch: i32, known: Option<BTreeSet<(Uuid, i32)>>) {
        self.epoch = self.epoch.max(epoch);
        self.assignment_epoch = self.epoch;
        if let Some(known) = known {
            self.known.extend(known);
        }
        self.written = Some(self.known.clone());
    }

    /// `known` when `__consumer_offsets` does not have it yet.
    pub(super) fn unwritten(&self) -> Option<BTreeSet<(Uuid, i32)>> {
        (self.written.as_ref() != Some(&self.known)).then(|| self.known.clone())
    }

    pub(super) fn written(&mut self, known: BTreeSet<(Uuid, i32)>) {
        self.written = Some(known);
    }

    fn state(&self) -> &'static str {
        if self.members.is_empty() { "Empty" } else { "Stable" }
    }

    /// Removes members whose session ran out; returns them.
    fn expire(&mut self, now_ms: i64) -> Vec<String> {
        let gone: Vec<String> =
            self.members.iter().filter(|(_, m)| m.deadline_ms <= now_ms).map(|(id, _)| id.clone()).collect();
        for id in &gone {
            self.members.remove(id);
        }
        gone
    }

    /// Ends a heartbeat: the epoch moves once if members or subscriptions (`changed`) or the
    /// subscribed topics' partitions changed, and the assignment is computed for it.
    fn reassign(&mut self, changed: bool, resolve: &dyn Fn(&str) -> Option<(Uuid, i32)>) {
        let names: BTreeSet<&String> = self.members.values().flat_map(|m| &m.subscribed).collect();
        let topics: BTreeMap<String, (Uuid, i32)> =
            names.into_iter().filter_map(|n| resolve(n).map(|t| (n.clone(), t))).collect();
        let moved = topics != self.topics;
        self.topics = topics;
        if !(changed || moved) {
            return;
        }
        self.epoch += 1;
        let subscriptions: Vec<(String, BTreeSet<Uuid>)> = self
            .members
            .iter()
            .map(|(id, m)| (id.clone(), m.subscribed.iter().filter_map(|n| self.topics.get(n).map(|t| t.0)).collect()))
            .collect();
        let subscribers: Vec<Subscriber> =
            subscriptions.iter().map(|(id, topics)| Subscriber { member: id, topics }).collect();
        let partitions: BTreeMap<Uuid, i32> = self.topics.values().copied().collect();
        self.known.extend(partitions.iter().flat_map(|(&id, &n)| (0..n).map(move |p| (id, p))));
        self.assignment = assignor::assign(&subscribers, &partitions);
        self.assignment_epoch = self.epoch;
    }
}

impl Shares {
    /// Handles one ShareGroupHeartbeat. `resolve` finds a topic's id and partition count;
    /// `taken` says whether the id belongs to a consumer or classic group.
    pub fn heartbeat(
        &self,
        now_ms: i64,
        request: ShareHeartbeat,
        resolve: &dyn Fn(&str) -> Option<(Uuid, i32)>,
        taken: bool,
    ) -> Result<HeartbeatOutcome, (ResponseError, String)> {
        if request.group_id.is_empty() {
            return Err(invalid("GroupId can't be empty."));
        }
        if request.member_id.is_empty() {
            // Kafka's refusal carries no message here.
            return Err((ResponseError::InvalidRequest, String::new()));
        }
        match request.member_epoch {
            0 if request.subscribed.as_ref().is_none_or(|s| s.is_empty()) => {
                return Err(invalid("SubscribedTopicNames must be set in first request."));
            }
            e if e < LEAVE_EPOCH => return Err(invalid("MemberEpoch is invalid.")),
            _ => {}
        }
        if taken {
            return Err((ResponseError::GroupIdNotFound, format!("Group {} is not a share group.", request.group_id)));
        }
        let config = &self.config;
        let mut inner = self.lock();
        let inner = &mut *inner;
        let group_id = request.group_id.clone();
        let group = match inner.groups.get_mut(&group_id) {
            Some(g) => g,
            None if request.member_epoch == 0 => inner.groups.entry(group_id.clone()).or_insert_with(ShareGroup::new),
            // Kafka answers NOT_COORDINATOR here, as its groups outlive a coordinator change.
            // Brook keeps share group membership in memory, so after a restart or a move this
            // is a member of a group the coordinator lost: it is told to join again.
            None => {
                return Err((ResponseError::UnknownMemberId, format!("Group {group_id} not found.")));
            }
        };
        let mut changed = false;
        for gone in group.expire(now_ms) {
            info!(group = group_id, member = gone, "share group member's session timed out");
            inner.sessions.remove_member(&group_id, &gone);
            changed = true;
        }
        let member_id = request.member_id;
        if request.member_epoch == LEAVE_EPOCH {
            if group.members.remove(&member_id).is_some() {
                changed = true;
                info!(group = group_id, member = member_id, "share group member left");
            }
            group.reassign(changed, resolve);
            return Ok(HeartbeatOutcome {
                member_id,
                member_epoch: LEAVE_EPOCH,
                heartbeat_interval_ms: 0,
                assignment: None,
            });
        }
        match group.members.get(&member_id) {
            None if request.member_epoch != 0 => {
                return Err((
                    ResponseError::UnknownMemberId,
                    format!("Member {member_id} is not a member of group {group_id}."),
                ));
            }
            Some(m) if request.member_epoch != 0 && request.member_epoch != m.epoch => {
                let relation = if request.member_epoch > m.epoch { "greater" } else { "smaller" };
                return Err((
                    ResponseError::FencedMemberEpoch,
                    format!(
                        "The share group member has a {relation} member epoch ({}) than the one known by the group coordinator ({}). The member must abandon all its partitions and rejoin.",
                        request.member_epoch, m.epoch
                    ),
                ));
            }
            None if group.members.len() >= config.max_size => {
                return Err((
                    ResponseError::GroupMaxSizeReached,
                    format!("The share group has reached its maximum capacity of {} members.", config.max_size),
                ));
            }
            None => {
                group.members.insert(
                    member_id.clone(),
                    ShareMember {
                        epoch: 0,
                        rack_id: None,
                        client_id: String::new(),
                        client_host: String::new(),
                        subscribed: Vec::new(),
                        deadline_ms: 0,
                        sent: None,
                    },
                );
                changed = true;
                info!(group = group_id, member = member_id, "share group member joined");
            }
            Some(_) => {}
        }
        let member = group.members.get_mut(&member_id).expect("present");
        member.deadline_ms = now_ms.saturating_add(i64::from(request.session_timeout_ms));
        member.client_id = request.client_id;
        member.client_host = request.client_host;
        if request.rack_id.is_some() {
            member.rack_id = request.rack_id;
        }
        if request.member_epoch == 0 {
            // A (re)join is told its assignment even if it was sent before.
            member.sent = None;
        }
        if let Some(mut topics) = request.subscribed {
            topics.sort();
            topics.dedup();
            if topics != member.subscribed {
                member.subscribed = topics;
                changed = true;
            }
        }
        group.reassign(changed, resolve);
        let epoch = group.assignment_epoch;
        let assigned = group.assignment.get(&member_id).cloned().unwrap_or_default();
        let member = group.members.get_mut(&member_id).expect("present");
        member.epoch = epoch;
        let assignment = (member.sent.as_ref() != Some(&assigned)).then(|| {
            member.sent = Some(assigned.clone());
            assigned
        });
        Ok(HeartbeatOutcome {
            member_id,
            member_epoch: epoch,
            heartbeat_interval_ms: request.heartbeat_interval_ms,
            assignment,
        })
    }

    /// A share group as ShareGroupDescribe shows it, or None if there is none by that id.
    pub fn describe(&self, now_ms: i64, group_id: &str) -> Option<DescribedShareGroup> {
        let mut inner = self.lock();
        let group = inner.expired(group_id, now_ms)?;
        Some(DescribedShareGroup {
            state: group.state(),
            epoch: group.epoch,
            assignment_epoch: group.assignment_epoch,
            members: group
                .members
                .iter()
                .map(|(id, m)| DescribedShareMember {
                    member_id: id.clone(),
                    rack_id: m.rack_id.clone(),
                    epoch: m.epoch,
                    client_id: m.client_id.clone(),
                    client_host: m.client_host.clone(),
                    subscribed: m.subscribed.clone(),
                    assignment: group.assignment.get(id).cloned().unwrap_or_default(),
                })
                .collect(),
        })
    }

    /// Whether a share group by this id exists.
    pub fn has_group(&self, group_id: &str) -> bool {
        self.lock().groups.contains_key(group_id)
    }

    /// The partitions a share group knows (see `ShareGroup::known`), None if there is no group.
    pub fn known_partitions(&self, group_id: &str) -> Option<Vec<(Uuid, i32)>> {
        self.lock().groups.get(group_id).map(|g| g.known.iter().copied().collect())
    }

    /// Before a change to a share group's offsets or its deletion: Kafka's refusal if the
    /// group has members, or if it does not exist and `create` (AlterShareGroupOffsets makes
    /// the group) is false.
    pub fn check_no_members(&self, now_ms: i64, group_id: &str, create: bool) -> Result<(), (ResponseError, String)> {
        let mut inner = self.lock();
        if create && !inner.groups.contains_key(group_id) {
            inner.groups.insert(group_id.to_string(), ShareGroup::new());
        }
        match inner.expired(group_id, now_ms) {
            None => Err((ResponseError::GroupIdNotFound, format!("Group {group_id} not found."))),
            Some(g) if !g.members.is_empty() => Err((ResponseError::NonEmptyGroup, "The group is not empty.".into())),
            Some(_) => Ok(()),
        }
    }

    /// Records partitions given offsets (`true`) or whose offsets were deleted.
    pub fn note_partitions(&self, group_id: &str, partitions: &[(Uuid, i32)], known: bool) {
        if let Some(group) = self.lock().groups.get_mut(group_id) {
            for p in partitions {
                match known {
                    true => group.known.insert(*p),
                    false => group.known.remove(p),
                };
            }
        }
    }

    /// Forgets a share group (DeleteGroups, once its state is deleted).
    pub fn remove_group(&self, group_id: &str) {
        self.lock().groups.remove(group_id);
    }

    /// Every share group: (id, state), for ListGroups.
    pub fn list(&self) -> Vec<(String, &'static str)> {
        self.lock().groups.iter().map(|(id, g)| (id.clone(), g.state())).collect()
    }
}

impl super::Inner {
    /// The group, with members whose session ran out removed.
    fn expired(&mut self, group_id: &str, now_ms: i64) -> Option<&mut ShareGroup> {
        let group = self.groups.get_mut(group_id)?;
        let gone = group.expire(now_ms);
        for member in &gone {
            self.sessions.remove_member(group_id, member);
        }
        if !gone.is_empty() {
            // Topics are looked up again at the next heartbeat.
            let topics = group.topics.clone();
            group.reassign(true, &|name| topics.get(name).copied());
        }
        Some(group)
    }
}
