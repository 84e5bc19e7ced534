//! One streams group's members and epochs (Kafka's `StreamsGroup` and the streams
//! `CurrentAssignmentBuilder`): the group epoch moves whenever members, the topology or its
//! topics change; the target assignment is computed for that epoch; and each member
//! reconciles towards its target, first giving up the active tasks it must (staying at its
//! epoch until a heartbeat shows them gone), then taking the target epoch and the active tasks
//! no other member still runs.

use std::collections::{BTreeMap, BTreeSet};

use crate::assignor::{self, MemberSpec, Standbys, TaskSet, Tasks};
use crate::topology::{self, Configured, TopicInfo, TopicPartitions, Topology, status};

/// The epoch of a member leaving the group, and of a static member leaving for now.
pub const LEAVE_EPOCH: i32 = -1;
pub const LEAVE_STATIC_EPOCH: i32 = -2;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MemberState {
    Stable,
    UnrevokedTasks,
    UnreleasedTasks,
}

#[derive(Debug, Clone)]
pub struct Member {
    pub id: String,
    pub instance_id: Option<String>,
    pub rack_id: Option<String>,
    pub client_id: String,
    pub client_host: String,
    pub process_id: String,
    pub user_endpoint: Option<(String, u16)>,
    pub client_tags: Vec<(String, String)>,
    pub topology_epoch: i32,
    pub rebalance_timeout_ms: i32,
    pub epoch: i32,
    pub previous_epoch: i32,
    pub state: MemberState,
    pub assigned: Tasks,
    /// Active tasks the member must stop before it moves on.
    pub pending_revocation: TaskSet,
    /// (subtopology, partition, offset) as the member last reported them.
    pub task_offsets: Vec<(String, i32, i64)>,
    pub task_end_offsets: Vec<(String, i32, i64)>,
}

impl Member {
    pub fn new(id: &str) -> Member {
        Member {
            id: id.to_string(),
            instance_id: None,
            rack_id: None,
            client_id: String::new(),
            client_host: String::new(),
            process_id: String::new(),
            user_endpoint: None,
            client_tags: Vec::new(),
            topology_epoch: 0,
            rebalance_timeout_ms: 0,
            epoch: 0,
            previous_epoch: -1,
            state: MemberState::Stable,
            assigned: Tasks::default(),
            pending_revocation: TaskSet::new(),
            task_offsets: Vec::new(),
            task_end_offsets: Vec::new(),
        }
    }

    fn set_epoch(&mut self, epoch: i32) {
        if epoch != self.epoch {
            self.previous_epoch = self.epoch;
            self.epoch = epoch;
        }
    }
}

#[derive(Debug, Clone, Default)]
pub struct StreamsGroup {
    pub epoch: i32,
    pub assignment_epoch: i32,
    pub topology: Option<Topology>,
    /// The topology against the topics it mentions, as of `topics`.
    pub configured: Configured,
    /// The topics the topology involves as last configured (`None`: not yet).
    pub topics: Option<TopicPartitions>,
    pub members: BTreeMap<String, Member>,
    pub target: BTreeMap<String, Tasks>,
    /// Moves whenever any member's tasks change, so that members refresh their view of who
    /// serves which partitions (Interactive Queries).
    pub endpoint_epoch: i32,
    /// A member asked for the whole application to shut down.
    pub shutdown_requested: bool,
    /// The standby replicas the group's settings asked for when its epoch last moved (a
    /// change is a new epoch, as in Kafka).
    pub standby_replicas: i32,
    /// A new group is first assigned at this time (`streams.initial.rebalance.delay.ms` after
    /// its first member joined), so that members starting together share the first assignment.
    pub assign_after_ms: Option<i64>,
}

/// The group settings and the time a heartbeat is handled with.
pub struct Settings {
    pub now_ms: i64,
    pub max_size: usize,
    pub standby_replicas: i32,
    pub initial_delay_ms: i64,
}

/// A StreamsGroupHeartbeat, version-independent (`None`: unchanged since the last one).
#[derive(Debug, Default)]
pub struct Heartbeat {
    pub member_id: String,
    pub member_epoch: i32,
    pub endpoint_epoch: i32,
    pub instance_id: Option<String>,
    pub rack_id: Option<String>,
    pub rebalance_timeout_ms: i32,
    pub topology: Option<Topology>,
    pub active: Option<TaskSet>,
    pub standby: Option<TaskSet>,
    pub warmup: Option<TaskSet>,
    pub process_id: Option<String>,
    pub user_endpoint: Option<(String, u16)>,
    pub client_tags: Option<Vec<(String, String)>>,
    pub task_offsets: Option<Vec<(String, i32, i64)>>,
    pub task_end_offsets: Option<Vec<(String, i32, i64)>>,
    pub shutdown_application: bool,
    pub client_id: String,
    pub client_host: String,
}

/// Why a heartbeat is refused, as Kafka's error codes name it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    InvalidRequest,
    UnknownMemberId,
    FencedMemberEpoch,
    GroupMaxSizeReached,
    InvalidTopology,
    InvalidTopologyEpoch,
}

pub type Refused = (Refusal, String);

/// A partition map for Interactive Queries: one entry per member with an endpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EndpointPartitions {
    pub endpoint: (String, u16),
    pub active: BTreeMap<String, Vec<i32>>,
    pub standby: BTreeMap<String, Vec<i32>>,
}

#[derive(Debug)]
pub struct Outcome {
    pub member_epoch: i32,
    /// Sent when it changed, or on a join.
    pub tasks: Option<Tasks>,
    pub statuses: Vec<(i8, String)>,
    pub endpoint_epoch: i32,
    pub endpoints: Option<Vec<EndpointPartitions>>,
    /// Internal topics the broker should create.
    pub to_create: Vec<TopicInfo>,
    /// Whether the group epoch or target moved (every member's state may have changed).
    pub group_changed: bool,
    /// The member is revoking tasks: it must finish within its rebalance timeout.
    pub revoking: bool,
}

/// The topics as the broker knows them now.
pub struct Catalog<'a> {
    pub partitions: &'a dyn Fn(&str) -> Option<i32>,
    pub names: &'a dyn Fn() -> Vec<String>,
}

fn invalid(message: &str) -> Refused {
    (Refusal::InvalidRequest, message.to_string())
}

/// Kafka's checks of a heartbeat that need no group.
pub fn validate(h: &Heartbeat) -> Result<(), Refused> {
    if h.member_id.is_empty() {
        return Err(invalid("MemberId can't be empty."));
    }
    if h.instance_id.as_deref() == Some("") {
        return Err(invalid("InstanceId can't be empty."));
    }
    if h.rack_id.as_deref() == Some("") {
        return Err(invalid("RackId can't be empty."));
    }
    let owned = [("ActiveTasks", &h.active), ("StandbyTasks", &h.standby), ("WarmupTasks", &h.warmup)];
    if owned.iter().any(|(_, t)| t.is_some()) && owned.iter().any(|(_, t)| t.is_none()) {
        return Err(invalid("If one task-type is non-null, all must be non-null."));
    }
    match h.member_epoch {
        0 => {
            if h.rebalance_timeout_ms == -1 {
                return Err(invalid("RebalanceTimeoutMs must be provided in first request."));
            }
            for (name, tasks) in owned {
                if tasks.as_ref().is_none_or(|t| !t.is_empty()) {
                    return Err(invalid(&format!("{name} must be empty when (re-)joining.")));
                }
            }
            let Some(t) = &h.topology else { return Err(invalid("Topology must be non-null when (re-)joining.")) };
            topology::validate(t).map_err(|e| (Refusal::InvalidTopology, e.0))?;
            if t.epoch < 0 {
                return Err((Refusal::InvalidTopologyEpoch, "Topology epoch must be non-negative.".into()));
            }
        }
        LEAVE_STATIC_EPOCH if h.instance_id.is_none() => return Err(invalid("InstanceId can't be null.")),
        e if e < LEAVE_STATIC_EPOCH => {
            return Err(invalid(&format!("MemberEpoch is {e}, but must be greater than or equal to -2.")));
        }
        _ => {}
    }
    Ok(())
}

fn fenced(how: &str, received: i32, current: i32) -> Refused {
    let message = format!(
        "The streams group member has a {how} member epoch ({received}) than the one known by the group \
         coordinator ({current}). The member must abandon all its partitions and rejoin."
    );
    (Refusal::FencedMemberEpoch, message)
}

fn holds_any(owned: Option<&TaskSet>, pending: &TaskSet) -> bool {
    owned.is_none_or(|o| o.iter().any(|(s, ps)| pending.get(s).is_some_and(|p| !p.is_disjoint(ps))))
}

fn subset(small: &TaskSet, big: &TaskSet) -> bool {
    small.iter().all(|(s, ps)| ps.is_empty() || big.get(s).is_some_and(|b| ps.is_subset(b)))
}

fn split(have: &TaskSet, want: &TaskSet) -> (TaskSet, TaskSet) {
    let mut keep = TaskSet::new();
    let mut gone = TaskSet::new();
    for (s, ps) in have {
        let w = want.get(s);
        let (k, g): (BTreeSet<i32>, BTreeSet<i32>) = ps.iter().partition(|p| w.is_some_and(|w| w.contains(p)));
        if !k.is_empty() {
            keep.insert(s.clone(), k);
        }
        if !g.is_empty() {
            gone.insert(s.clone(), g);
        }
    }
    (keep, gone)
}

impl StreamsGroup {
    /// The state name ListGroups and StreamsGroupDescribe use.
    pub fn state_name(&self) -> &'static str {
        if self.members.is_empty() {
            "Empty"
        } else if self.topology.is_none() || !self.configured.ready() {
            "NotReady"
        } else if self.epoch != self.assignment_epoch {
            "Assigning"
        } else if self.members.values().any(|m| m.epoch != self.assignment_epoch || m.state != MemberState::Stable) {
            "Reconciling"
        } else {
            "Stable"
        }
    }

    /// Handles one heartbeat (validated with `validate`) of a member of this group.
    pub fn heartbeat(&mut self, h: Heartbeat, catalog: &Catalog<'_>, settings: &Settings) -> Result<Outcome, Refused> {
        let (max_size, standby_replicas) = (settings.max_size, settings.standby_replicas);
        let before = (self.epoch, self.assignment_epoch);
        if self.epoch == 0 && settings.initial_delay_ms > 0 && self.assign_after_ms.is_none() {
            // A new group: its first members' assignment waits for the others to join.
            self.assign_after_ms = Some(settings.now_ms + settings.initial_delay_ms);
        }
        let id = h.member_id.clone();
        if h.member_epoch < 0 {
            self.remove_member(&id);
            return Ok(Outcome {
                member_epoch: h.member_epoch,
                tasks: None,
                statuses: Vec::new(),
                endpoint_epoch: self.endpoint_epoch,
                endpoints: None,
                to_create: Vec::new(),
                group_changed: true,
                revoking: false,
            });
        }
        let joining = h.member_epoch == 0;
        let previous = match self.members.get(&id) {
            Some(m) => {
                if h.member_epoch > m.epoch {
                    return Err(fenced("greater", h.member_epoch, m.epoch));
                }
                let owned_ok = [
                    (&h.active, &m.assigned.active),
                    (&h.standby, &m.assigned.standby),
                    (&h.warmup, &m.assigned.warmup),
                ]
                .iter()
                .all(|(owned, assigned)| owned.as_ref().is_none_or(|o| subset(o, assigned)));
                if !joining && h.member_epoch < m.epoch && (h.member_epoch != m.previous_epoch || !owned_ok) {
                    return Err(fenced("smaller", h.member_epoch, m.epoch));
                }
                Some(m.assigned.clone())
            }
            None if joining => {
                if self.members.len() >= max_size {
                    return Err((
                        Refusal::GroupMaxSizeReached,
                        format!("The streams group has reached its maximum size of {max_size}."),
                    ));
                }
                None
            }
            None => return Err((Refusal::UnknownMemberId, format!("Member {id} is not a member of the group."))),
        };
        let mut bump = previous.is_none();
        let alone = self.members.keys().all(|m| *m == id);
        let member = self.members.entry(id.clone()).or_insert_with(|| Member::new(&id));
        if joining && previous.is_some() {
            // A member joining again starts over with nothing.
            member.epoch = 0;
            member.assigned = Tasks::default();
            member.pending_revocation.clear();
            member.state = MemberState::Stable;
            bump = true;
        }
        member.client_id = h.client_id;
        member.client_host = h.client_host;
        if h.rebalance_timeout_ms != -1 {
            member.rebalance_timeout_ms = h.rebalance_timeout_ms;
        }
        let mut set = |changed: bool| bump |= changed;
        if let Some(v) = h.instance_id {
            set(member.instance_id.as_ref() != Some(&v));
            member.instance_id = Some(v);
        }
        if let Some(v) = h.rack_id {
            set(member.rack_id.as_ref() != Some(&v));
            member.rack_id = Some(v);
        }
        if let Some(v) = h.process_id {
            set(member.process_id != v);
            member.process_id = v;
        }
        if let Some(v) = h.user_endpoint {
            set(member.user_endpoint.as_ref() != Some(&v));
            member.user_endpoint = Some(v);
        }
        if let Some(v) = h.client_tags {
            set(member.client_tags != v);
            member.client_tags = v;
        }
        if let Some(v) = h.task_offsets {
            member.task_offsets = v;
        }
        if let Some(v) = h.task_end_offsets {
            member.task_end_offsets = v;
        }
        if let Some(t) = h.topology {
            member.topology_epoch = t.epoch;
            let replace = match &self.topology {
                None => true,
                Some(current) => alone && *current != t || t.epoch > current.epoch,
            };
            if replace {
                self.topology = Some(t);
                self.topics = None;
                bump = true;
            }
        }
        if h.shutdown_application {
            self.shutdown_requested = true;
        }
        bump |= self.refresh_topics(catalog);
        if standby_replicas != self.standby_replicas {
            self.standby_replicas = standby_replicas;
            bump = true;
        }
        if bump {
            self.epoch += 1;
        }
        let delayed = match self.assign_after_ms {
            Some(at) if settings.now_ms < at => true,
            Some(_) => {
                // The delay is over: a new epoch, so that members reconciled to the empty
                // target move on to the first real one.
                self.assign_after_ms = None;
                self.epoch += 1;
                false
            }
            None => false,
        };
        let target_epoch = if delayed {
            // Members take an empty target meanwhile, as in Kafka.
            self.assignment_epoch.max(1)
        } else {
            if self.epoch > self.assignment_epoch {
                self.compute_target();
            }
            self.assignment_epoch
        };
        self.reconcile(&id, h.active.as_ref(), target_epoch, delayed);
        let member = &self.members[&id];
        let tasks = (joining || previous.as_ref() != Some(&member.assigned)).then(|| member.assigned.clone());
        let mut statuses = Vec::new();
        if delayed {
            statuses.push((
                status::ASSIGNMENT_DELAYED,
                "Assignment delayed due to the configured initial rebalance delay.".to_string(),
            ));
        }
        let group_topology_epoch = self.topology.as_ref().map_or(0, |t| t.epoch);
        if member.topology_epoch < group_topology_epoch {
            statuses.push((
                status::STALE_TOPOLOGY,
                format!(
                    "The member's topology epoch {} is behind the group's topology epoch {group_topology_epoch}.",
                    member.topology_epoch
                ),
            ));
        }
        if let Some(p) = &self.configured.problem {
            statuses.push(p.clone());
        }
        if self.shutdown_requested {
            statuses.push((status::SHUTDOWN_APPLICATION, "A KafkaStreams instance encountered a fatal error and requested a shutdown for the entire application.".into()));
        }
        let endpoints = (h.endpoint_epoch < self.endpoint_epoch).then(|| self.endpoints());
        Ok(Outcome {
            member_epoch: member.epoch,
            tasks,
            statuses,
            endpoint_epoch: self.endpoint_epoch,
            endpoints,
            to_create: self.configured.to_create.clone(),
            group_changed: before != (self.epoch, self.assignment_epoch),
            revoking: member.state == MemberState::UnrevokedTasks,
        })
    }

    /// Removes a member (it left, or missed its session or rebalance timeout).
    pub fn remove_member(&mut self, id: &str) -> bool {
        let removed = self.members.remove(id).is_some();
        if removed {
            self.target.remove(id);
            self.epoch += 1;
            self.endpoint_epoch += 1;
        }
        if self.members.is_empty() {
            self.shutdown_requested = false;
        }
        removed
    }

    /// Re-reads the topics the topology involves; true if they changed (a new epoch).
    fn refresh_topics(&mut self, catalog: &Catalog<'_>) -> bool {
        let Some(t) = &self.topology else { return false };
        let regexes = t.subtopologies.iter().any(|s| !s.source_regexes.is_empty());
        let names = if regexes { (catalog.names)() } else { Vec::new() };
        let now: TopicPartitions = topology::topics_of(t, &names)
            .into_iter()
            .filter_map(|n| (catalog.partitions)(&n).map(|p| (n, p)))
            .collect();
        if self.topics.as_ref() == Some(&now) {
            return false;
        }
        self.configured = topology::configure(t, &now, &names);
        self.topics = Some(now);
        true
    }

    fn compute_target(&mut self) {
        let specs: Vec<MemberSpec<'_>> = self
            .members
            .values()
            .map(|m| MemberSpec { id: &m.id, process_id: &m.process_id, previous: self.target.get(&m.id) })
            .collect();
        let tasks = if self.configured.ready() { self.configured.tasks.clone() } else { BTreeMap::new() };
        let stateful: BTreeSet<String> = self
            .topology
            .iter()
            .flat_map(|t| &t.subtopologies)
            .filter(|s| !s.changelogs.is_empty())
            .map(|s| s.id.clone())
            .collect();
        let assigned =
            assignor::assign(&specs, &tasks, &Standbys { replicas: self.standby_replicas, stateful: &stateful });
        let ids: Vec<String> = specs.iter().map(|s| s.id.to_string()).collect();
        self.target = ids.into_iter().zip(assigned).collect();
        self.assignment_epoch = self.epoch;
    }

    /// Whether another member still runs (or has yet to stop) an active task.
    fn active_elsewhere(&self, member: &str, sub: &str, p: i32) -> bool {
        self.members.values().filter(|m| m.id != member).any(|m| {
            [&m.assigned.active, &m.pending_revocation].iter().any(|a| a.get(sub).is_some_and(|ps| ps.contains(&p)))
        })
    }

    /// One step of a member's reconciliation towards its target.
    /// With `empty_target`, towards no tasks at `target_epoch` (the initial delay).
    fn reconcile(&mut self, id: &str, owned_active: Option<&TaskSet>, target_epoch: i32, empty_target: bool) {
        let target = if empty_target { Tasks::default() } else { self.target.get(id).cloned().unwrap_or_default() };
        let member = &self.members[id];
        let next_epoch = match member.state {
            MemberState::Stable if member.epoch == target_epoch => return,
            MemberState::Stable | MemberState::UnreleasedTasks => member.epoch,
            MemberState::UnrevokedTasks => {
                if holds_any(owned_active, &member.pending_revocation) {
                    return;
                }
                member.epoch + 1
            }
        };
        let (keep, revoke) = split(&member.assigned.active, &target.active);
        let mut active = keep;
        let mut unreleased = false;
        for (sub, ps) in &target.active {
            for &p in ps {
                if active.get(sub).is_some_and(|k| k.contains(&p)) {
                    continue;
                }
                if self.active_elsewhere(id, sub, p) {
                    unreleased = true;
                } else {
                    active.entry(sub.clone()).or_default().insert(p);
                }
            }
        }
        let before = self.members[id].assigned.clone();
        let member = self.members.get_mut(id).expect("reconciling a member");
        if !revoke.is_empty() && holds_any(owned_active, &revoke) {
            member.state = MemberState::UnrevokedTasks;
            member.set_epoch(next_epoch);
            let (kept, _) = split(&member.assigned.active, &target.active);
            member.assigned.active = kept;
            member.pending_revocation = revoke;
        } else {
            member.state = if unreleased { MemberState::UnreleasedTasks } else { MemberState::Stable };
            member.set_epoch(target_epoch);
            member.assigned = Tasks { active, standby: target.standby, warmup: target.warmup };
            member.pending_revocation.clear();
        }
        if member.assigned != before {
            self.endpoint_epoch += 1;
        }
    }

    /// Who serves which partitions, for members with an endpoint.
    fn endpoints(&self) -> Vec<EndpointPartitions> {
        let partitions = |set: &TaskSet| {
            let mut out: BTreeMap<String, BTreeSet<i32>> = BTreeMap::new();
            for (sub, ps) in set {
                for topic in self.configured.inputs.get(sub).into_iter().flatten() {
                    out.entry(topic.clone()).or_default().extend(ps);
                }
            }
            out.into_iter().map(|(t, ps)| (t, ps.into_iter().collect())).collect()
        };
        self.members
            .values()
            .filter_map(|m| {
                let endpoint = m.user_endpoint.clone()?;
                let mut standby = m.assigned.standby.clone();
                for (s, ps) in &m.assigned.warmup {
                    standby.entry(s.clone()).or_default().extend(ps);
                }
                Some(EndpointPartitions {
                    endpoint,
                    active: partitions(&m.assigned.active),
                    standby: partitions(&standby),
                })
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::topology::Subtopology;

    fn topology() -> Topology {
        Topology {
            epoch: 0,
            subtopologies: vec![Subtopology { id: "0".into(), source_topics: vec!["in".into()], ..Default::default() }],
        }
    }

    fn join(id: &str) -> Heartbeat {
        Heartbeat {
            member_id: id.into(),
            rebalance_timeout_ms: 1000,
            topology: Some(topology()),
            active: Some(TaskSet::new()),
            standby: Some(TaskSet::new()),
            warmup: Some(TaskSet::new()),
            process_id: Some(format!("process-{id}")),
            ..Heartbeat::default()
        }
    }

    fn beat(id: &str, epoch: i32, active: TaskSet) -> Heartbeat {
        Heartbeat {
            member_id: id.into(),
            member_epoch: epoch,
            rebalance_timeout_ms: -1,
            active: Some(active),
            ..Heartbeat::default()
        }
    }

    fn now(now_ms: i64) -> Settings {
        Settings { now_ms, max_size: 10, standby_replicas: 0, initial_delay_ms: 0 }
    }

    fn count(t: &TaskSet) -> usize {
        t.values().map(BTreeSet::len).sum()
    }

    #[test]
    fn a_second_member_gets_tasks_only_once_the_first_revoked_them() {
        let partitions = |t: &str| (t == "in").then_some(4);
        let names = Vec::new;
        let catalog = Catalog { partitions: &partitions, names: &names };
        let mut g = StreamsGroup::default();
        let a = g.heartbeat(join("a"), &catalog, &now(0)).unwrap();
        let a_tasks = a.tasks.unwrap().active;
        assert_eq!(count(&a_tasks), 4);
        assert_eq!(g.state_name(), "Stable");
        let b = g.heartbeat(join("b"), &catalog, &now(0)).unwrap();
        assert_eq!(b.tasks.map(|t| count(&t.active)), Some(0), "a still runs them");
        assert_eq!(g.state_name(), "Reconciling");
        // a is told to give up two; until it says it did, b waits.
        let a = g.heartbeat(beat("a", a.member_epoch, a_tasks.clone()), &catalog, &now(0)).unwrap();
        let kept = a.tasks.unwrap().active;
        assert_eq!(count(&kept), 2);
        assert!(a.revoking);
        let b2 = g.heartbeat(beat("b", b.member_epoch, TaskSet::new()), &catalog, &now(0)).unwrap();
        assert!(b2.tasks.is_none_or(|t| t.active.is_empty()));
        let a = g.heartbeat(beat("a", a.member_epoch, kept.clone()), &catalog, &now(0)).unwrap();
        assert!(!a.revoking);
        let b3 = g.heartbeat(beat("b", b2.member_epoch, TaskSet::new()), &catalog, &now(0)).unwrap();
        let taken = b3.tasks.unwrap().active;
        assert_eq!(count(&taken), 2);
        assert!(kept["0"].is_disjoint(&taken["0"]));
        assert_eq!(g.state_name(), "Stable");
        // A stale epoch with tasks it no longer has is fenced.
        let stale = g.heartbeat(beat("a", 1, a_tasks), &catalog, &now(0));
        assert_eq!(stale.unwrap_err().0, Refusal::FencedMemberEpoch);
        assert!(g.remove_member("b"));
        let a = g.heartbeat(beat("a", a.member_epoch, kept), &catalog, &now(0)).unwrap();
        assert_eq!(a.tasks.map(|t| count(&t.active)), Some(4));
    }

    #[test]
    fn missing_topics_leave_the_group_not_ready() {
        let partitions = |_: &str| None;
        let names = Vec::new;
        let catalog = Catalog { partitions: &partitions, names: &names };
        let mut g = StreamsGroup::default();
        let out = g.heartbeat(join("a"), &catalog, &now(0)).unwrap();
        assert_eq!(out.statuses[0].0, status::MISSING_SOURCE_TOPICS);
        assert_eq!(g.state_name(), "NotReady");
        let mut bad = join("b");
        bad.standby = None;
        assert_eq!(validate(&bad).unwrap_err().0, Refusal::InvalidRequest);
    }

    #[test]
    fn a_new_group_waits_out_the_initial_delay() {
        let partitions = |t: &str| (t == "in").then_some(4);
        let names = Vec::new;
        let catalog = Catalog { partitions: &partitions, names: &names };
        let at = |now_ms| Settings { initial_delay_ms: 3000, ..now(now_ms) };
        let mut g = StreamsGroup::default();
        let a = g.heartbeat(join("a"), &catalog, &at(0)).unwrap();
        assert_eq!(
            a.statuses,
            vec![(
                status::ASSIGNMENT_DELAYED,
                "Assignment delayed due to the configured initial rebalance delay.".to_string()
            )]
        );
        assert_eq!(a.tasks.map(|t| count(&t.active)), Some(0));
        let b = g.heartbeat(join("b"), &catalog, &at(1000)).unwrap();
        assert_eq!(b.statuses.len(), 1);
        // Once the delay is over, both share the first assignment: nothing to revoke.
        let a = g.heartbeat(beat("a", a.member_epoch, TaskSet::new()), &catalog, &at(3000)).unwrap();
        let b = g.heartbeat(beat("b", b.member_epoch, TaskSet::new()), &catalog, &at(3100)).unwrap();
        assert!(a.statuses.is_empty() && b.statuses.is_empty());
        assert_eq!((a.tasks.map(|t| count(&t.active)), b.tasks.map(|t| count(&t.active))), (Some(2), Some(2)));
        assert_eq!(g.state_name(), "Stable");
    }
}
