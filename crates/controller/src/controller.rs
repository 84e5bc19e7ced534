//! The active controller: the voter that leads the quorum decides every metadata change. It
//! reads the image only after a read barrier (so it has applied everything committed before),
//! turns a request into records, and proposes them as one command; one admin lock keeps two
//! requests from deciding on the same image.
//!
//! Sessions: a broker silent for `broker.session.timeout.ms` is fenced (`decisions` says
//! what that changes). A new leader gives every broker it has not heard from a whole session
//! from its election, since it cannot know when they last heartbeated the old one. A broker
//! that missed a heartbeat and whose listener refuses connections is fenced at once
//! (`liveness`).

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use brook_quorum::{Catchup, Quorum, QuorumError, QuorumStatus};
use kafka_protocol::error::ResponseError;
use tokio::sync::watch;
use tracing::{info, warn};
use uuid::Uuid;

use crate::elections::{self, ElectionPolicy, ElectionType};
use crate::image::{MetadataImage, NO_LEADER, TopicMeta};
use crate::liveness::Prober;
use crate::placement::{self, Candidate};
use crate::records::{self, MetadataRecord, TokenInfo};
use crate::requests::{
    ControllerReply, ControllerRequest, ControllerResponse, MetadataCatchup, QuorumDescription, TokenChange,
    VoterDescription,
};
use crate::store::MetadataStore;
use crate::{ApiError, cluster_id_from};
use crate::{decisions, reassignment};
use brook_security::token::{Expiry, Lifetimes, Refusal, now_ms};

/// An upper bound on a topic's partitions, against typos that would create millions of
/// directories one CreatePartitions at a time.
pub const MAX_PARTITIONS_PER_TOPIC: i32 = 100_000;
/// Kafka's bound on the partitions one CreateTopics (all its topics) or CreatePartitions (per
/// topic) adds (`MAX_PARTITIONS_PER_BATCH`), refused with POLICY_VIOLATION.
pub const MAX_PARTITIONS_PER_REQUEST: i32 = 10_000;
/// Kafka's bound on the metadata records one request writes (`MAX_RECORDS_PER_USER_OP`): a
/// CreateTopics counts a record per topic, per partition and per config.
pub const MAX_RECORDS_PER_REQUEST: usize = 10_000;
/// How long a metadata fetch with nothing new waits for a change (Kafka's observers wait up to
/// `controller.quorum.fetch.timeout.ms` / 2; a shorter wait bounds shutdown).
const FETCH_WAIT: Duration = Duration::from_millis(500);

#[derive(Debug, Clone)]
pub struct ControllerConfig {
    /// `broker.session.timeout.ms`: a broker silent this long is fenced (Kafka: 9000).
    pub broker_session_timeout_ms: u64,
    /// `broker.heartbeat.interval.ms` (Kafka: 2000): a broker silent for a quarter longer is
    /// probed, when `liveness_probe` (Brook's `broker.liveness.probe.enable`) is on.
    pub broker_heartbeat_interval_ms: u64,
    pub liveness_probe: bool,
    /// `unclean.leader.election.enable` and `leader.imbalance.per.broker.percentage`.
    pub elections: ElectionPolicy,
    /// `auto.leader.rebalance.enable` (Kafka: true) and
    /// `leader.imbalance.check.interval.seconds` (300), in ms.
    pub auto_leader_rebalance: bool,
    pub leader_imbalance_check_interval_ms: u64,
    /// `delegation.token.max.lifetime.ms` and `delegation.token.expiry.time.ms`.
    pub token_lifetimes: Lifetimes,
    /// `delegation.token.expiry.check.interval.ms` (Kafka: 1 hour): how often expired tokens
    /// are removed.
    pub token_expiry_check_interval_ms: u64,
}

impl Default for ControllerConfig {
    fn default() -> ControllerConfig {
        ControllerConfig {
            broker_session_timeout_ms: 9_000,
            broker_heartbeat_interval_ms: 2_000,
            liveness_probe: true,
            elections: ElectionPolicy::default(),
            auto_leader_rebalance: true,
            leader_imbalance_check_interval_ms: 300_000,
            token_lifetimes: Lifetimes::default(),
            token_expiry_check_interval_ms: 3_600_000,
        }
    }
}

/// When each broker was last heard from by this node, and since when it leads `term`.
#[derive(Default)]
struct Sessions {
    term: u64,
    since: Option<Instant>,
    last_heartbeat: HashMap<i32, Instant>,
    /// When the session check last ran: a long gap means this process was paused or starved.
    last_tick: Option<Instant>,
    /// When the automatic leader rebalance last ran.
    last_rebalance: Option<Instant>,
    /// When expired delegation tokens were last swept.
    last_token_sweep: Option<Instant>,
}

pub struct Controller {
    config: ControllerConfig,
    quorum: Arc<Quorum>,
    store: Arc<MetadataStore>,
    admin: tokio::sync::Mutex<()>,
    sessions: Mutex<Sessions>,
    prober: Prober,
}

/// What a decided request answers once its records are committed at some index.
enum Answer {
    Now(ControllerReply),
    /// The broker epoch is the index of the registering command.
    Registered,
    Heartbeat {
        node_id: i32,
    },
}

impl Controller {
    pub fn new(config: ControllerConfig, quorum: Arc<Quorum>, store: Arc<MetadataStore>) -> Controller {
        Controller {
            config,
            quorum,
            store,
            admin: tokio::sync::Mutex::new(()),
            sessions: Mutex::default(),
            prober: Prober::default(),
        }
    }

    pub fn quorum(&self) -> &Arc<Quorum> {
        &self.quorum
    }

    /// Decides `request` if this node is the active controller; NOT_CONTROLLER otherwise.
    pub async fn handle(&self, request: ControllerRequest) -> ControllerResponse {
        if let ControllerRequest::BrokerHeartbeat { node_id, .. } = &request {
            self.heard_from(*node_id);
        }
        if let ControllerRequest::FetchMetadata { after } = request {
            return self.fetch_metadata(after).await;
        }
        if request == ControllerRequest::DescribeQuorum {
            // Progress, not metadata: no barrier, no admin lock.
            let result = if self.quorum.is_leader() {
                Ok(ControllerReply::Quorum(describe_quorum(&self.quorum.status())))
            } else {
                Err(quorum_error(QuorumError::NotLeader { leader: None }).into())
            };
            return ControllerResponse { index: 0, result };
        }
        let decided = async {
            let _admin = self.admin.lock().await;
            self.quorum.barrier().await.map_err(quorum_error)?;
            let (records, answer) = {
                let image = self.store.image();
                self.decide(&image, request)?
            };
            let index = if records.is_empty() { 0 } else { self.propose(&records).await? };
            let reply = match answer {
                Answer::Now(reply) => reply,
                Answer::Registered => ControllerReply::Registered { broker_epoch: index as i64 },
                Answer::Heartbeat { node_id } => {
                    let fenced = self.store.image().brokers.get(&node_id).is_none_or(|b| b.fenced);
                    ControllerReply::Heartbeat { fenced }
                }
            };
            Ok::<_, ApiError>((index, reply))
        };
        match decided.await {
            Ok((index, reply)) => ControllerResponse { index, result: Ok(reply) },
            Err(e) => ControllerResponse { index: 0, result: Err(e.into()) },
        }
    }

    /// What an observer needs after index `after`; when nothing is new, waits up to
    /// `FETCH_WAIT` for a change, so observers follow closely without polling hard. Any voter
    /// can answer: it serves only what is committed.
    async fn fetch_metadata(&self, after: u64) -> ControllerResponse {
        let mut changes = self.store.subscribe();
        let deadline = tokio::time::Instant::now() + FETCH_WAIT;
        loop {
            let catchup = match self.quorum.read_committed(after) {
                Ok(c) => c,
                Err(e) => return ControllerResponse { index: 0, result: Err(quorum_error(e).into()) },
            };
            let nothing_new =
                matches!(&catchup, Catchup::Commands { commands, next } if commands.is_empty() && *next == after);
            if !nothing_new || tokio::time::timeout_at(deadline, changes.changed()).await.is_err() {
                let catchup = match catchup {
                    Catchup::Commands { commands, next } => MetadataCatchup::Commands { commands, next },
                    Catchup::Snapshot { index, data } => MetadataCatchup::Snapshot { index, data },
                };
                return ControllerResponse { index: 0, result: Ok(ControllerReply::Metadata(catchup)) };
            }
        }
    }

    async fn propose(&self, records: &[MetadataRecord]) -> Result<u64, ApiError> {
        self.quorum.propose(records::encode(records)).await.map_err(quorum_error)
    }

    fn heard_from(&self, node_id: i32) {
        self.sessions.lock().expect("sessions lock").last_heartbeat.insert(node_id, Instant::now());
    }

    fn decide(
        &self,
        image: &MetadataImage,
        request: ControllerRequest,
    ) -> Result<(Vec<MetadataRecord>, Answer), ApiError> {
        let done = |records| Ok((records, Answer::Now(ControllerReply::Done)));
        match request {
            ControllerRequest::CreateTopic {
                name,
                partitions,
                replication_factor,
                assignment,
                configs,
                validate_only,
            } => {
                if image.topic(&name).is_some() {
                    return Err(ApiError::new(
                        ResponseError::TopicAlreadyExists,
                        format!("Topic '{name}' already exists."),
                    ));
                }
                let assignment = if assignment.is_empty() {
                    check_partition_count(partitions)?;
                    place(image, 0, partitions, replication_factor)?
                } else {
                    check_assignment(image, 0, &assignment, None)?;
                    assignment
                };
                let id = Uuid::new_v4();
                let reply = ControllerReply::TopicCreated { id, partitions: assignment.len() as i32 };
                if validate_only {
                    return Ok((vec![], Answer::Now(reply)));
                }
                let mut records = vec![MetadataRecord::TopicCreated { name: name.clone(), id, configs }];
                records.extend(partition_records(image, id, 0, assignment));
                info!(topic = name, partitions = records.len() - 1, "creating topic");
                Ok((records, Answer::Now(reply)))
            }
            ControllerRequest::DeleteTopic { id } => {
                if image.topic_by_id(&id).is_none() {
                    return Err(ApiError::new(
                        ResponseError::UnknownTopicId,
                        "This server does not host this topic ID.",
                    ));
                }
                done(vec![MetadataRecord::TopicDeleted { id }])
            }
            ControllerRequest::SetTopicConfigs { name, configs, validate_only } => {
                let topic = image.topic(&name).ok_or_else(|| unknown_topic(&name))?;
                if validate_only {
                    return done(vec![]);
                }
                // Enabling unclean.leader.election.enable elects for leaderless partitions at once.
                let changed = TopicMeta { configs: configs.clone(), ..topic.clone() };
                let mut records = vec![MetadataRecord::TopicConfigsChanged { id: topic.id, configs }];
                records.extend(elections::unclean_after_config_change(image, &self.config.elections, &changed));
                done(records)
            }
            ControllerRequest::UpdateFeatures { updates, validate_only } => {
                let node = i32::try_from(self.quorum.node_id()).unwrap_or(-1);
                let levels = crate::features::check(&image.features, node, &updates)?;
                if validate_only {
                    return done(vec![]);
                }
                info!(?levels, "updating features");
                done(levels.into_iter().map(|(name, level)| MetadataRecord::FeatureLevelSet { name, level }).collect())
            }
            ControllerRequest::SetGroupConfigs { group, configs, validate_only } => {
                if validate_only {
                    return done(vec![]);
                }
                done(vec![MetadataRecord::GroupConfigsChanged { group, configs }])
            }
            ControllerRequest::UnregisterBroker { node_id } => {
                done(decisions::unregister(image, &self.config.elections, node_id)?)
            }
            ControllerRequest::RegisterController { node_id, incarnation_id, endpoints } => {
                let current = image.controllers.get(&node_id);
                if current.is_some_and(|c| c.incarnation_id == incarnation_id && c.endpoints == endpoints) {
                    return done(vec![]);
                }
                info!(node_id, "registering controller");
                done(vec![MetadataRecord::ControllerRegistered { node_id, incarnation_id, endpoints }])
            }
            ControllerRequest::UnregisterController { node_id } => {
                if !image.controllers.contains_key(&node_id) {
                    let message = format!("Controller ID {node_id} is not currently registered.");
                    return Err(ApiError::new(ResponseError::ControllerIdNotRegistered, message));
                }
                if node_id as u64 == self.quorum.node_id() {
                    let message = "Controller cannot unregister itself while it is active.";
                    return Err(ApiError::new(ResponseError::InvalidRequest, message));
                }
                done(vec![MetadataRecord::ControllerUnregistered { node_id }])
            }
            ControllerRequest::SetClientMetricsConfigs { name, configs, validate_only } => {
                if validate_only {
                    return done(vec![]);
                }
                done(vec![MetadataRecord::ClientMetricsConfigsChanged { name, configs }])
            }
            ControllerRequest::SetBrokerConfigs { resource, configs, validate_only } => {
                if validate_only {
                    return done(vec![]);
                }
                let record = MetadataRecord::BrokerConfigsChanged { resource, configs };
                // A cluster-wide unclean.leader.election.enable elects for leaderless
                // partitions at once, as a topic's does.
                let mut next = image.clone();
                next.apply(image.applied_index, &record);
                let mut records = vec![record];
                for topic in next.topics() {
                    records.extend(elections::unclean_after_config_change(&next, &self.config.elections, topic));
                }
                done(records)
            }
            ControllerRequest::SetScramCredentials { changes } => done(
                changes
                    .into_iter()
                    .map(|(name, mechanism, credential)| match credential {
                        Some(credential) => MetadataRecord::ScramCredentialSet { name, mechanism, credential },
                        None => MetadataRecord::ScramCredentialRemoved { name, mechanism },
                    })
                    .collect(),
            ),
            ControllerRequest::CreateDelegationToken { owner, requester, renewers, max_lifetime_ms } => {
                let id = Uuid::new_v4().to_string();
                let lifetimes = &self.config.token_lifetimes;
                let token = lifetimes.create(id, owner, requester, renewers, max_lifetime_ms, now_ms());
                let records = vec![MetadataRecord::DelegationTokenSet { token: token.clone() }];
                Ok((records, Answer::Now(ControllerReply::Token(token))))
            }
            ControllerRequest::ChangeDelegationToken { token_id, by, change } => {
                let token = image.delegation_tokens.get(&token_id).ok_or_else(|| token_refused(Refusal::NotFound))?;
                let (lifetimes, now) = (&self.config.token_lifetimes, now_ms());
                let expiry = match change {
                    TokenChange::Renew { period_ms } => lifetimes.renew(token, &by, period_ms, now).map(Expiry::At),
                    TokenChange::Expire { period_ms } => lifetimes.expire(token, &by, period_ms, now),
                };
                let (record, at) = match expiry.map_err(token_refused)? {
                    Expiry::Removed => (MetadataRecord::DelegationTokenRemoved { token_id }, now),
                    Expiry::At(at) => {
                        let token = TokenInfo { expiry_ms: at, ..token.clone() };
                        (MetadataRecord::DelegationTokenSet { token }, at)
                    }
                };
                Ok((vec![record], Answer::Now(ControllerReply::TokenExpiry(at))))
            }
            ControllerRequest::CreateAcls { acls } => {
                let mut new = std::collections::BTreeSet::new();
                let records = acls
                    .into_iter()
                    .filter(|acl| !image.acls.contains(acl) && new.insert(acl.clone()))
                    .map(|acl| MetadataRecord::AclCreated { id: Uuid::new_v4(), acl })
                    .collect();
                done(records)
            }
            ControllerRequest::AlterClientQuotas { changes } => done(
                changes
                    .into_iter()
                    .map(|(entity, key, value)| MetadataRecord::ClientQuotaChanged { entity, key, value })
                    .collect(),
            ),
            ControllerRequest::DeleteAcls { filters } => {
                let mut removed = std::collections::BTreeSet::new();
                let deleted: Vec<Vec<_>> = filters
                    .iter()
                    .map(|filter| {
                        image
                            .acls
                            .matching(filter)
                            .map(|(id, acl)| {
                                removed.insert(*id);
                                acl.clone()
                            })
                            .collect()
                    })
                    .collect();
                let records = removed.into_iter().map(|id| MetadataRecord::AclRemoved { id }).collect();
                Ok((records, Answer::Now(ControllerReply::AclsDeleted(deleted))))
            }
            ControllerRequest::CreatePartitions { name, count, assignment, validate_only } => {
                // Kafka names nothing more here.
                let topic = image.topic(&name).ok_or(ApiError::new(ResponseError::UnknownTopicOrPartition, ""))?;
                if count <= topic.partitions {
                    let message = if count == topic.partitions {
                        format!("Topic already has {count} partition(s).")
                    } else {
                        format!(
                            "The topic {name} currently has {} partition(s); {count} would not be an increase.",
                            topic.partitions
                        )
                    };
                    return Err(ApiError::new(ResponseError::InvalidPartitions, message));
                }
                let added = count - topic.partitions;
                if added > MAX_PARTITIONS_PER_REQUEST {
                    let message = "Excessively large number of additional partitions per request.";
                    return Err(ApiError::new(ResponseError::PolicyViolation, message));
                }
                if count > MAX_PARTITIONS_PER_TOPIC {
                    let message = format!("Number of partitions must be at most {MAX_PARTITIONS_PER_TOPIC}.");
                    return Err(ApiError::new(ResponseError::InvalidPartitions, message));
                }
                let assignment = if assignment.is_empty() {
                    // The factor the first partition has, or will have once a move in progress ends.
                    let rf = topic.assignments.first().map_or(1, |p| (p.replicas.len() - p.removing.len()) as i16);
                    place(image, topic.partitions, added, rf)?
                } else {
                    if assignment.len() != added as usize {
                        let message = format!(
                            "Attempted to add {added} additional partition(s), but only {} assignment(s) were \
                             specified.",
                            assignment.len()
                        );
                        return Err(ApiError::new(ResponseError::InvalidReplicaAssignment, message));
                    }
                    let width = topic.assignments.first().map(|p| p.replicas.len() - p.removing.len());
                    check_assignment(image, topic.partitions, &assignment, width)?;
                    assignment
                };
                if validate_only {
                    return done(vec![]);
                }
                done(partition_records(image, topic.id, topic.partitions, assignment))
            }
            ControllerRequest::AllocateProducerIds { count } => {
                let start = image.producer_ids_reserved;
                let end = start.saturating_add(count.max(1));
                Ok((
                    vec![MetadataRecord::ProducerIdsReserved { next: end }],
                    Answer::Now(ControllerReply::ProducerIds { start, end }),
                ))
            }
            ControllerRequest::RegisterBroker { node_id, incarnation_id, endpoints, rack, cluster_id } => {
                if let (Some(theirs), Some(ours)) = (&cluster_id, &image.cluster_id)
                    && theirs != ours
                {
                    let message = format!("Expected cluster ID {ours}, but the broker has {theirs}.");
                    return Err(ApiError::new(ResponseError::InconsistentClusterId, message));
                }
                if let Some(existing) = image.brokers.get(&node_id) {
                    // This controller's own node cannot have another live incarnation: this
                    // process holds the node's controller listener and data.
                    let own_node = self.quorum.node_id() == node_id as u64;
                    if !existing.fenced
                        && existing.incarnation_id != incarnation_id
                        && !own_node
                        && self.in_session(node_id)
                    {
                        return Err(ApiError::new(
                            ResponseError::DuplicateBrokerRegistration,
                            format!("Another broker is registered with node.id {node_id}."),
                        ));
                    }
                }
                let mut records =
                    decisions::register(image, &self.config.elections, node_id, incarnation_id, endpoints, rack);
                if image.cluster_id.is_none() {
                    // The first broker to register finds the cluster without an id yet.
                    records.insert(0, MetadataRecord::ClusterCreated { cluster_id: cluster_id_from(Uuid::new_v4()) });
                }
                self.heard_from(node_id);
                info!(node_id, "registering broker");
                Ok((records, Answer::Registered))
            }
            ControllerRequest::AlterPartition(change) => done(decisions::alter_partition(image, change)?),
            ControllerRequest::ElectLeaders { unclean, partitions } => {
                let partitions = partitions.unwrap_or_else(|| {
                    image.topics().flat_map(|t| (0..t.partitions).map(move |i| (t.id, i))).collect()
                });
                let election = if unclean { ElectionType::Unclean } else { ElectionType::Preferred };
                let (records, outcomes) = elections::elect_leaders(image, election, &partitions);
                let outcomes = partitions
                    .iter()
                    .zip(outcomes)
                    .map(|((topic, index), outcome)| (*topic, *index, outcome.err().map(Into::into)))
                    .collect();
                Ok((records, Answer::Now(ControllerReply::Elected(outcomes))))
            }
            ControllerRequest::AlterReassignments { reassignments } => {
                // Each partition sees the ones before it, as one command applies them in order.
                let mut working = image.clone();
                let mut records = Vec::new();
                let mut outcomes = Vec::with_capacity(reassignments.len());
                for (topic_id, index, target) in reassignments {
                    let outcome = reassignment::alter(&working, topic_id, index, target);
                    if let Ok(changes) = &outcome {
                        changes.iter().for_each(|r| working.apply(working.applied_index, r));
                        records.extend(changes.iter().cloned());
                    }
                    outcomes.push((topic_id, index, outcome.err().map(Into::into)));
                }
                Ok((records, Answer::Now(ControllerReply::Reassigned(outcomes))))
            }
            ControllerRequest::DescribeQuorum | ControllerRequest::FetchMetadata { .. } => {
                unreachable!("answered before deciding")
            }
            ControllerRequest::BrokerHeartbeat { node_id, broker_epoch, applied_index, want_shutdown } => {
                let broker = image.brokers.get(&node_id).ok_or_else(|| {
                    ApiError::new(ResponseError::BrokerIdNotRegistered, format!("Broker {node_id} is not registered."))
                })?;
                if broker.epoch != broker_epoch {
                    let message = format!("Broker {node_id} has epoch {}, not {broker_epoch}.", broker.epoch);
                    return Err(ApiError::new(ResponseError::StaleBrokerEpoch, message));
                }
                let records = decisions::heartbeat(image, &self.config.elections, broker, applied_index, want_shutdown);
                Ok((records, Answer::Heartbeat { node_id }))
            }
        }
    }

    fn in_session(&self, node_id: i32) -> bool {
        let timeout = Duration::from_millis(self.config.broker_session_timeout_ms);
        let sessions = self.sessions.lock().expect("sessions lock");
        let seen = sessions.last_heartbeat.get(&node_id).copied().into_iter().chain(sessions.since).max();
        seen.is_some_and(|t| t.elapsed() < timeout)
    }

    /// While this node leads: writes the cluster id if there is none yet, and fences brokers
    /// whose session ran out. Runs until `stop` turns true.
    pub async fn run(self: Arc<Self>, mut stop: watch::Receiver<bool>) {
        // Kafka fences a broker when its session ends; checking every thirtieth of a session
        // (at most every 100 ms) fences within 100 ms of that. A check is a scan of the
        // live brokers, and proposes nothing unless one expired.
        let tick = Duration::from_millis((self.config.broker_session_timeout_ms / 30).clamp(20, 100));
        loop {
            tokio::select! {
                _ = tokio::time::sleep(tick) => {}
                _ = stop.changed() => return,
            }
            if *stop.borrow() {
                return;
            }
            if self.quorum.is_leader()
                && let Err(e) = self.tick().await
            {
                warn!(error = %e.message, "controller housekeeping failed");
            }
        }
    }

    async fn tick(&self) -> Result<(), ApiError> {
        let term = self.quorum.status().term;
        let timeout = Duration::from_millis(self.config.broker_session_timeout_ms);
        let now = Instant::now();
        let expired: Vec<(i32, i64)> = {
            let mut sessions = self.sessions.lock().expect("sessions lock");
            // A controller that did not run for half a session (a SIGSTOP, a stall) cannot
            // tell silent brokers from its own absence: like a new leader, it gives every
            // broker a whole session from now, rather than fencing them all at once.
            let stalled = sessions.last_tick.is_some_and(|t| now.duration_since(t) > timeout / 2);
            sessions.last_tick = Some(now);
            if sessions.term != term || sessions.since.is_none() || stalled {
                // Heartbeats seen before are still true sightings; a broker not seen yet gets
                // a whole session from now.
                sessions.term = term;
                sessions.since = Some(now);
            }
            let since = sessions.since.expect("set above");
            let image = self.store.image();
            let interval = Duration::from_millis(self.config.broker_heartbeat_interval_ms);
            image
                .live_brokers()
                .filter(|b| {
                    let seen = sessions.last_heartbeat.get(&b.node_id).map_or(since, |t| (*t).max(since));
                    if now.duration_since(seen) > timeout {
                        warn!(node_id = b.node_id, "fencing a broker whose session timed out");
                        return true;
                    }
                    let dead = self.config.liveness_probe && self.prober.dead(b, seen, now, interval);
                    if dead {
                        warn!(
                            node_id = b.node_id,
                            "fencing a broker whose heartbeat is late and whose listener refuses connections"
                        );
                    }
                    dead
                })
                .map(|b| (b.node_id, b.epoch))
                .collect()
        };
        let needs_id = self.store.image().cluster_id.is_none();
        let rebalance_due = self.config.auto_leader_rebalance && {
            let mut sessions = self.sessions.lock().expect("sessions lock");
            let interval = Duration::from_millis(self.config.leader_imbalance_check_interval_ms);
            let due = sessions.last_rebalance.is_none_or(|t| now.duration_since(t) >= interval);
            if due {
                sessions.last_rebalance = Some(now);
            }
            // The first check comes one interval after this controller began to lead.
            due && sessions.since.is_some_and(|since| now.duration_since(since) >= interval)
        };
        let sweep_due = {
            let mut sessions = self.sessions.lock().expect("sessions lock");
            let interval = Duration::from_millis(self.config.token_expiry_check_interval_ms);
            let due = sessions.last_token_sweep.is_none_or(|t| now.duration_since(t) >= interval);
            if due {
                sessions.last_token_sweep = Some(now);
            }
            due && self.store.image().delegation_tokens.values().any(|t| t.expired(now_ms()))
        };
        if !needs_id && expired.is_empty() && !rebalance_due && !sweep_due {
            return Ok(());
        }
        let _admin = self.admin.lock().await;
        self.quorum.barrier().await.map_err(quorum_error)?;
        let records: Vec<MetadataRecord> = {
            let image = self.store.image();
            let mut records = Vec::new();
            if image.cluster_id.is_none() {
                records.push(MetadataRecord::ClusterCreated { cluster_id: cluster_id_from(Uuid::new_v4()) });
            }
            records.extend(decisions::fence_expired(&image, &self.config.elections, &expired));
            if rebalance_due && expired.is_empty() {
                records.extend(elections::rebalance(&image, &self.config.elections));
            }
            if sweep_due {
                let now = now_ms();
                for token in image.delegation_tokens.values().filter(|t| t.expired(now)) {
                    info!(token_id = token.token_id, owner = %token.owner, "delegation token expired");
                    records.push(MetadataRecord::DelegationTokenRemoved { token_id: token.token_id.clone() });
                }
            }
            records
        };
        if !records.is_empty() {
            self.propose(&records).await?;
        }
        Ok(())
    }
}

/// The quorum's state in Kafka's DescribeQuorum terms: offsets are log indexes, the epoch is
/// the Raft term, the high watermark is what the leader has applied.
fn describe_quorum(status: &QuorumStatus) -> QuorumDescription {
    let id = |n: u64| i32::try_from(n).unwrap_or(-1);
    QuorumDescription {
        leader_id: status.leader.map_or(-1, id),
        leader_epoch: i32::try_from(status.term).unwrap_or(i32::MAX),
        high_watermark: status.applied_end as i64,
        voters: status
            .voters
            .iter()
            .map(|v| VoterDescription {
                node_id: id(v.node_id),
                log_end_offset: v.log_end,
                last_fetch_timestamp: v.last_fetch_ms,
                last_caught_up_timestamp: v.last_caught_up_ms,
            })
            .collect(),
    }
}

fn quorum_error(e: QuorumError) -> ApiError {
    match e {
        QuorumError::NotLeader { .. } => {
            ApiError::new(ResponseError::NotController, "This node is not the active controller.")
        }
        e => ApiError::new(ResponseError::NotController, format!("The metadata quorum is unavailable: {e}")),
    }
}

fn token_refused(refusal: Refusal) -> ApiError {
    let (code, message) = match refusal {
        Refusal::NotFound => (ResponseError::DelegationTokenNotFound, "Delegation Token is not found on server."),
        Refusal::Expired => (ResponseError::DelegationTokenExpired, "Delegation Token is expired."),
        Refusal::OwnerMismatch => {
            (ResponseError::DelegationTokenOwnerMismatch, "Specified Principal is not valid Owner/Renewer.")
        }
    };
    ApiError::new(code, message)
}

fn unknown_topic(name: &str) -> ApiError {
    ApiError::new(ResponseError::UnknownTopicOrPartition, format!("Topic {name} does not exist."))
}

fn check_partition_count(partitions: i32) -> Result<(), ApiError> {
    if !(1..=MAX_PARTITIONS_PER_TOPIC).contains(&partitions) {
        let message = format!("Number of partitions must be between 1 and {MAX_PARTITIONS_PER_TOPIC}.");
        return Err(ApiError::new(ResponseError::InvalidPartitions, message));
    }
    Ok(())
}

/// Replicas chosen among the live brokers, from a random start.
fn place(image: &MetadataImage, first: i32, count: i32, replication_factor: i16) -> Result<Vec<Vec<i32>>, ApiError> {
    let candidates: Vec<Candidate> =
        image.live_brokers().map(|b| Candidate { node_id: b.node_id, rack: b.rack.clone() }).collect();
    let random = Uuid::new_v4().as_u128();
    let n = candidates.len().max(1);
    placement::place(
        &candidates,
        first,
        count,
        replication_factor,
        (random % n as u128) as usize,
        (random >> 64) as usize % n,
    )
}

/// Kafka's checks of a manual assignment (`--replica-assignment`), in its order and with its
/// messages; every partition has `width` replicas (an existing topic's), or the first's.
fn check_assignment(
    image: &MetadataImage,
    first: i32,
    assignment: &[Vec<i32>],
    mut width: Option<usize>,
) -> Result<(), ApiError> {
    let invalid = |message: String| Err(ApiError::new(ResponseError::InvalidReplicaAssignment, message));
    check_partition_count(first + assignment.len() as i32)?;
    for (i, replicas) in assignment.iter().enumerate() {
        let p = first + i as i32;
        if replicas.is_empty() {
            return invalid("The manual partition assignment includes an empty replica list.".into());
        }
        let mut sorted = replicas.clone();
        sorted.sort_unstable();
        for (j, id) in sorted.iter().enumerate() {
            if !image.brokers.contains_key(id) {
                return invalid(format!(
                    "The manual partition assignment includes broker {id}, but no such broker is registered."
                ));
            }
            if j > 0 && sorted[j - 1] == *id {
                return invalid(format!("The manual partition assignment includes the broker {id} more than once."));
            }
        }
        match width {
            Some(w) if w != replicas.len() => {
                return invalid(format!(
                    "The manual partition assignment includes a partition with {} replica(s), but this is not \
                     consistent with previous partitions, which have {w} replica(s).",
                    replicas.len()
                ));
            }
            _ => width = Some(replicas.len()),
        }
        if replicas.iter().all(|id| image.brokers.get(id).is_none_or(|b| b.fenced)) {
            return invalid(format!(
                "All brokers specified in the manual partition assignment for partition {p} are fenced or in \
                 controlled shutdown."
            ));
        }
    }
    Ok(())
}

/// New partitions `first..`: the ISR is the live replicas, led by the first of them.
fn partition_records(
    image: &MetadataImage,
    topic_id: Uuid,
    first: i32,
    assignment: Vec<Vec<i32>>,
) -> Vec<MetadataRecord> {
    let live = |id: &i32| image.eligible(*id);
    assignment
        .into_iter()
        .enumerate()
        .map(|(i, replicas)| {
            let isr: Vec<i32> = replicas.iter().copied().filter(live).collect();
            let leader = isr.first().copied().unwrap_or(NO_LEADER);
            MetadataRecord::PartitionCreated { topic_id, partition: first + i as i32, replicas, isr, leader }
        })
        .collect()
}

/// Which voters a broker reaches the controller through: `node.id` to `host:port`.
pub type ControllerAddresses = BTreeMap<i32, String>;
