//! The controller's decisions about brokers and partition leadership, as plain functions of
//! the metadata image: the active controller proposes what they return, and the deterministic
//! simulation runs the same code.
//!
//! As KRaft's: a heartbeat from a broker that has applied the metadata up to its registration
//! unfences it; a broker silent for a session is fenced, leaves every ISR it was in (never
//! emptying one) and the partitions it led get another leader (`elections`). A broker that
//! asks to shut down (controlled shutdown) loses its leaderships and ISR places the same way
//! but stays in the broker list, so clients still reach it while they move; it is fenced
//! once it leads nothing.
//! Partition leaders change their ISR through AlterPartition, which the partition epoch
//! serialises.

use kafka_protocol::error::ResponseError;
use tracing::{info, warn};
use uuid::Uuid;

use crate::ApiError;
use crate::elections::{ElectionPolicy, unclean_leader};
use crate::image::{BrokerRegistration, MetadataImage, NO_LEADER};
use crate::reassignment;
use crate::records::{Endpoint, MetadataRecord};
use crate::requests::IsrChange;

/// A heartbeat from `broker` (registered in the epoch it names), which has applied the
/// metadata up to `applied_index`.
pub fn heartbeat(
    image: &MetadataImage,
    policy: &ElectionPolicy,
    broker: &BrokerRegistration,
    applied_index: u64,
    want_shutdown: bool,
) -> Vec<MetadataRecord> {
    let (node_id, broker_epoch) = (broker.node_id, broker.epoch);
    let mut records = Vec::new();
    if want_shutdown && !broker.fenced && !broker.shutting_down {
        info!(node_id, "a broker is shutting down: moving its leaderships");
        records.push(MetadataRecord::BrokerShuttingDown { node_id, broker_epoch });
        records.extend(leaders_lost(image, policy, node_id));
    } else if want_shutdown && broker.shutting_down && !image.leads_any(node_id) {
        info!(node_id, "fencing a broker that is shutting down and leads nothing");
        records.push(MetadataRecord::BrokerFenced { node_id, broker_epoch });
    } else if !want_shutdown && broker.fenced && applied_index >= broker_epoch as u64 {
        info!(node_id, "unfencing broker");
        records.push(MetadataRecord::BrokerUnfenced { node_id, broker_epoch });
        records.extend(leaders_regained(image, policy, node_id));
    }
    records
}

/// A broker's registration: a broker that registers again while unfenced restarted without
/// being noticed, so it also loses what it led and its ISR places, which it may no longer hold.
pub fn register(
    image: &MetadataImage,
    policy: &ElectionPolicy,
    node_id: i32,
    incarnation_id: Uuid,
    endpoints: Vec<Endpoint>,
    rack: Option<String>,
) -> Vec<MetadataRecord> {
    let mut records = vec![MetadataRecord::BrokerRegistered { node_id, incarnation_id, endpoints, rack }];
    if image.brokers.get(&node_id).is_some_and(|b| !b.fenced) {
        records.extend(leaders_lost(image, policy, node_id));
    }
    records
}

/// An ISR change from a partition's leader, if Kafka's checks pass; a reassignment waiting
/// for it (its added replicas now in sync) completes with it.
pub fn alter_partition(image: &MetadataImage, change: IsrChange) -> Result<Vec<MetadataRecord>, ApiError> {
    check_alter_partition(image, &change)?;
    let IsrChange { topic_id, partition, leader, isr, .. } = change;
    let changed = MetadataRecord::PartitionChanged { topic_id, partition, leader, isr };
    let reassigning =
        image.topic_by_id(&topic_id).and_then(|t| t.partition(partition)).is_some_and(|p| p.reassigning());
    if !reassigning {
        return Ok(vec![changed]);
    }
    let mut after = image.clone();
    after.apply(after.applied_index, &changed);
    let p = after.topic_by_id(&topic_id).and_then(|t| t.partition(partition)).expect("just changed");
    let completed = reassignment::completion(&after, topic_id, partition, p);
    Ok(std::iter::once(changed).chain(completed).collect())
}

/// Kafka's checks of an AlterPartition from a partition's leader: it is the registered,
/// current leader, its view of the partition is current (the partition epoch serialises ISR
/// changes), and the new ISR holds the leader and only live replicas.
fn check_alter_partition(image: &MetadataImage, change: &IsrChange) -> Result<(), ApiError> {
    let IsrChange { topic_id, partition, leader, broker_epoch, leader_epoch, partition_epoch, ref isr } = *change;
    let fail = |code, message: String| Err(ApiError::new(code, message));
    let registered = image.brokers.get(&leader).filter(|b| b.epoch == broker_epoch);
    if registered.is_none() {
        return fail(
            ResponseError::StaleBrokerEpoch,
            format!("Broker {leader} has another epoch than {broker_epoch}."),
        );
    }
    let Some(current) = image.topic_by_id(&topic_id).and_then(|t| t.partition(partition)) else {
        return fail(ResponseError::UnknownTopicOrPartition, format!("No partition {partition} of topic {topic_id}."));
    };
    if current.leader != leader || current.leader_epoch != leader_epoch {
        return fail(
            ResponseError::FencedLeaderEpoch,
            format!(
                "Broker {leader} in epoch {leader_epoch} does not lead the partition (epoch {}).",
                current.leader_epoch
            ),
        );
    }
    if current.partition_epoch != partition_epoch {
        return fail(
            ResponseError::InvalidUpdateVersion,
            format!("Partition epoch {partition_epoch} is not the current {}.", current.partition_epoch),
        );
    }
    if !isr.contains(&leader) {
        return fail(ResponseError::InvalidRequest, "The ISR must contain the leader.".into());
    }
    if let Some(bad) = isr.iter().find(|id| !current.replicas.contains(id) || !image.eligible(**id)) {
        return fail(
            ResponseError::IneligibleReplica,
            format!("Replica {bad} is not a live replica of the partition."),
        );
    }
    Ok(())
}

/// UnregisterBroker, as KRaft's: a registered broker is fenced first (leaving its ISRs and
/// leaderships, as when its session runs out), then its registration is removed. A broker
/// still running registers again at its next heartbeat.
pub fn unregister(
    image: &MetadataImage,
    policy: &ElectionPolicy,
    node_id: i32,
) -> Result<Vec<MetadataRecord>, ApiError> {
    let Some(broker) = image.brokers.get(&node_id) else {
        let message = format!("Broker ID {node_id} is not currently registered");
        return Err(ApiError::new(ResponseError::BrokerIdNotRegistered, message));
    };
    let mut records = fence_expired(image, policy, &[(node_id, broker.epoch)]);
    info!(node_id, "unregistering a broker");
    records.push(MetadataRecord::BrokerUnregistered { node_id });
    Ok(records)
}

/// Fences the brokers whose sessions ran out or whose process is gone, `(node id, broker
/// epoch)`, if still registered in that epoch. Each fencing sees the ones before it, so brokers expiring together are not
/// handed each other's leaderships.
pub fn fence_expired(image: &MetadataImage, policy: &ElectionPolicy, expired: &[(i32, i64)]) -> Vec<MetadataRecord> {
    let mut working = image.clone();
    let mut records = Vec::new();
    for &(node_id, broker_epoch) in expired {
        if working.brokers.get(&node_id).is_some_and(|b| !b.fenced && b.epoch == broker_epoch) {
            let mut fenced = vec![MetadataRecord::BrokerFenced { node_id, broker_epoch }];
            fenced.extend(leaders_lost(&working, policy, node_id));
            fenced.iter().for_each(|r| working.apply(working.applied_index, r));
            records.extend(fenced);
        }
    }
    records
}

/// `node_id` leaves every ISR it is in, and the partitions it led move to another live ISR
/// member (in replica order); failing that, where the policy allows unclean elections, to a
/// live out-of-sync replica; else to no leader. The ISR never becomes empty (the last member
/// stays, as in KRaft, so it can lead again when it returns).
pub fn leaders_lost(image: &MetadataImage, policy: &ElectionPolicy, node_id: i32) -> Vec<MetadataRecord> {
    let live = |id: &i32| *id != node_id && image.eligible(*id);
    let mut out = Vec::new();
    for topic in image.topics() {
        let touched =
            topic.assignments.iter().enumerate().filter(|(_, p)| p.leader == node_id || p.isr.contains(&node_id));
        for (i, p) in touched {
            let mut isr: Vec<i32> = p.isr.iter().copied().filter(|id| *id != node_id).collect();
            if isr.is_empty() {
                isr = vec![node_id];
            }
            let mut leader = p.leader;
            if p.leader == node_id {
                leader = p.replicas.iter().copied().find(|id| isr.contains(id) && live(id)).unwrap_or(NO_LEADER);
                if leader == NO_LEADER
                    && let Some(unclean) = unclean_leader(image, p, policy.unclean_for(image, topic), node_id)
                {
                    warn!(topic = topic.name, partition = i, leader = unclean, "unclean leader election");
                    (leader, isr) = (unclean, vec![unclean]);
                }
            }
            out.push(MetadataRecord::PartitionChanged { topic_id: topic.id, partition: i as i32, leader, isr });
        }
    }
    out
}

/// Leaderless partitions whose ISR holds `node_id` get it as leader again; where the policy
/// allows unclean elections, so do those it only replicates, if no ISR member is live.
pub fn leaders_regained(image: &MetadataImage, policy: &ElectionPolicy, node_id: i32) -> Vec<MetadataRecord> {
    let live = |id: &i32| image.eligible(*id);
    let mut out = Vec::new();
    for topic in image.topics() {
        let unclean = policy.unclean_for(image, topic);
        for (i, p) in topic.assignments.iter().enumerate().filter(|(_, p)| p.leader == NO_LEADER) {
            let isr = if p.isr.contains(&node_id) {
                p.isr.clone()
            } else if unclean && p.replicas.contains(&node_id) && !p.isr.iter().any(live) {
                warn!(topic = topic.name, partition = i, leader = node_id, "unclean leader election");
                vec![node_id]
            } else {
                continue;
            };
            out.push(MetadataRecord::PartitionChanged {
                topic_id: topic.id,
                partition: i as i32,
                leader: node_id,
                isr,
            });
        }
    }
    out
}

#[cfg(test)]
pub(crate) mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::records::Endpoint;

    /// Three live brokers and one topic whose partition `i` is led by broker `i + 1`, all
    /// three in every ISR.
    pub(crate) fn three_brokers() -> (MetadataImage, Uuid) {
        let mut image = MetadataImage::default();
        for (index, id) in [(1, 1), (2, 2), (3, 3)] {
            let endpoint = Endpoint { name: "PLAINTEXT".into(), host: "h".into(), port: 9092 };
            let rack = None;
            image.apply(
                index,
                &MetadataRecord::BrokerRegistered {
                    node_id: id,
                    incarnation_id: Uuid::new_v4(),
                    endpoints: vec![endpoint],
                    rack,
                },
            );
            image.apply(index, &MetadataRecord::BrokerUnfenced { node_id: id, broker_epoch: index as i64 });
        }
        let topic_id = Uuid::new_v4();
        image.apply(4, &MetadataRecord::TopicCreated { name: "t".into(), id: topic_id, configs: BTreeMap::new() });
        for p in 0..3 {
            let replicas: Vec<i32> = (0..3).map(|k| (p + k) % 3 + 1).collect();
            let leader = replicas[0];
            let record =
                MetadataRecord::PartitionCreated { topic_id, partition: p, isr: replicas.clone(), replicas, leader };
            image.apply(4, &record);
        }
        (image, topic_id)
    }

    /// Two brokers whose sessions run out together: every partition ends up led by the third,
    /// never by a broker fenced in the same tick.
    #[test]
    fn brokers_fenced_together_do_not_inherit_each_others_leaderships() {
        let (mut image, topic_id) = three_brokers();
        let records = fence_expired(&image, &ElectionPolicy::default(), &[(1, 1), (2, 2)]);
        records.iter().for_each(|r| image.apply(5, r));
        let topic = image.topic_by_id(&topic_id).expect("topic");
        for p in 0..3 {
            let meta = topic.partition(p).expect("partition");
            assert_eq!(meta.leader, 3, "partition {p}");
            assert_eq!(meta.isr, vec![3], "partition {p}");
        }
        assert!(image.brokers[&1].fenced && image.brokers[&2].fenced && !image.brokers[&3].fenced);
        assert!(fence_expired(&image, &ElectionPolicy::default(), &[(1, 1)]).is_empty(), "already fenced");
    }

    /// Controlled shutdown: the first heartbeat asking for it moves the broker's leaderships
    /// and ISR places but keeps it listed (unfenced); it may not lead or rejoin an ISR; the
    /// next heartbeat, with nothing left to lead, fences it.
    #[test]
    fn a_shutting_down_broker_hands_over_then_is_fenced() {
        let (mut image, topic_id) = three_brokers();
        let policy = ElectionPolicy::default();
        let records = heartbeat(&image, &policy, &image.brokers[&1].clone(), 10, true);
        records.iter().for_each(|r| image.apply(5, r));
        let one = &image.brokers[&1];
        assert!(!one.fenced && one.shutting_down && !image.eligible(1));
        assert!(image.live_brokers().any(|b| b.node_id == 1), "still listed for clients");
        let topic = image.topic_by_id(&topic_id).expect("topic");
        assert!(topic.assignments.iter().all(|p| p.leader != 1 && !p.isr.contains(&1)), "{topic:?}");
        let p = topic.partition(0).expect("partition 0");
        let rejoin = IsrChange {
            topic_id,
            partition: 0,
            leader: p.leader,
            broker_epoch: image.brokers[&p.leader].epoch,
            leader_epoch: p.leader_epoch,
            partition_epoch: p.partition_epoch,
            isr: vec![1, 2, 3],
        };
        let refused = alter_partition(&image, rejoin).expect_err("a shutting-down broker rejoins no ISR");
        assert_eq!(refused.code, ResponseError::IneligibleReplica);

        let records = heartbeat(&image, &policy, &image.brokers[&1].clone(), 10, true);
        assert_eq!(records, vec![MetadataRecord::BrokerFenced { node_id: 1, broker_epoch: 1 }]);
        records.iter().for_each(|r| image.apply(6, r));
        assert!(image.brokers[&1].fenced);
        assert!(heartbeat(&image, &policy, &image.brokers[&1].clone(), 10, true).is_empty());
    }
}
