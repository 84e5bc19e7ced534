//! Choosing partition leaders, as Kafka's controller does: a clean leader is a live ISR member
//! (in replica order); with `unclean.leader.election.enable` (the broker's, which a topic's
//! own config overrides) a partition with no live ISR member may be led by any live replica,
//! losing what only the ISR had. Preferred-leader elections (ElectLeaders, and the controller's
//! own rebalance under `auto.leader.rebalance.enable`) give a partition back to its first
//! replica when that one is live and in sync.

use kafka_protocol::error::ResponseError;
use tracing::{info, warn};
use uuid::Uuid;

use crate::ApiError;
use crate::image::{MetadataImage, NO_LEADER, PartitionMeta, TopicMeta};
use crate::records::MetadataRecord;

/// The cluster's election settings, from the controller's configuration.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ElectionPolicy {
    /// `unclean.leader.election.enable` (Kafka: false).
    pub unclean: bool,
    /// `leader.imbalance.per.broker.percentage` (Kafka: 10): the controller's rebalance moves
    /// leadership back to preferred replicas on a broker leading fewer than this share short
    /// of its preferred partitions.
    pub imbalance_percentage: u32,
}

impl Default for ElectionPolicy {
    fn default() -> ElectionPolicy {
        ElectionPolicy { unclean: false, imbalance_percentage: 10 }
    }
}

impl ElectionPolicy {
    /// Whether `topic` may elect an out-of-sync replica: its config, else the cluster-wide
    /// dynamic one, else the controller's.
    pub fn unclean_for(&self, image: &MetadataImage, topic: &TopicMeta) -> bool {
        const KEY: &str = "unclean.leader.election.enable";
        let cluster = || image.broker_configs.get("").and_then(|c| c.get(KEY));
        topic.configs.get(KEY).or_else(cluster).map_or(self.unclean, |v| v.trim().eq_ignore_ascii_case("true"))
    }
}

/// What ElectLeaders asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ElectionType {
    Preferred,
    Unclean,
}

fn live(image: &MetadataImage, id: i32) -> bool {
    image.eligible(id)
}

/// An out-of-sync replica to lead `p`, if `allowed` and no ISR member is live: the first live
/// replica; the ISR becomes that replica alone.
pub(crate) fn unclean_leader(image: &MetadataImage, p: &PartitionMeta, allowed: bool, except: i32) -> Option<i32> {
    if !allowed || p.isr.iter().any(|id| *id != except && live(image, *id)) {
        return None;
    }
    p.replicas.iter().copied().find(|id| *id != except && live(image, *id))
}

/// ElectLeaders for `partitions` (topic id, index): the records to commit, and each
/// partition's outcome, in order, with Kafka's error codes. An operator's unclean election
/// needs no `unclean.leader.election.enable`, as in Kafka.
pub fn elect_leaders(
    image: &MetadataImage,
    election: ElectionType,
    partitions: &[(Uuid, i32)],
) -> (Vec<MetadataRecord>, Vec<Result<(), ApiError>>) {
    let mut records = Vec::new();
    let outcomes = partitions
        .iter()
        .map(|&(topic_id, index)| {
            let topic = image.topic_by_id(&topic_id);
            let Some(p) = topic.and_then(|t| t.partition(index)) else {
                return Err(ApiError::new(ResponseError::UnknownTopicOrPartition, "No such partition."));
            };
            let (leader, isr) = match election {
                ElectionType::Preferred => preferred(image, p)?,
                ElectionType::Unclean => {
                    if p.leader != NO_LEADER {
                        return Err(ApiError::new(ResponseError::ElectionNotNeeded, "The partition has a leader."));
                    }
                    let clean = p.replicas.iter().copied().find(|id| p.isr.contains(id) && live(image, *id));
                    match clean.or_else(|| unclean_leader(image, p, true, NO_LEADER)) {
                        Some(id) if p.isr.contains(&id) => (id, p.isr.clone()),
                        Some(id) => {
                            warn!(%topic_id, partition = index, leader = id, "unclean leader election");
                            (id, vec![id])
                        }
                        None => {
                            return Err(ApiError::new(
                                ResponseError::EligibleLeadersNotAvailable,
                                "No live replica can lead the partition.",
                            ));
                        }
                    }
                }
            };
            records.push(MetadataRecord::PartitionChanged { topic_id, partition: index, leader, isr });
            Ok(())
        })
        .collect();
    (records, outcomes)
}

/// The preferred replica as leader, if it is not already, and is live and in sync.
fn preferred(image: &MetadataImage, p: &PartitionMeta) -> Result<(i32, Vec<i32>), ApiError> {
    let first = p.replicas.first().copied().unwrap_or(NO_LEADER);
    if p.leader == first {
        return Err(ApiError::new(ResponseError::ElectionNotNeeded, "The preferred replica leads already."));
    }
    if !p.isr.contains(&first) || !live(image, first) {
        return Err(ApiError::new(
            ResponseError::PreferredLeaderNotAvailable,
            format!("The preferred replica {first} is not live and in sync."),
        ));
    }
    Ok((first, p.isr.clone()))
}

/// Kafka's automatic rebalance: for each broker whose share of preferred partitions it does
/// not lead is above the policy's percentage, preferred elections where they can succeed.
pub fn rebalance(image: &MetadataImage, policy: &ElectionPolicy) -> Vec<MetadataRecord> {
    let mut records = Vec::new();
    for broker in image.live_brokers().map(|b| b.node_id) {
        let mut preferred_here = Vec::new();
        let mut total = 0usize;
        for topic in image.topics() {
            for (index, p) in topic.assignments.iter().enumerate() {
                if p.replicas.first() == Some(&broker) {
                    total += 1;
                    if p.leader != broker {
                        preferred_here.push((topic.id, index as i32, p));
                    }
                }
            }
        }
        if total == 0 || preferred_here.len() * 100 <= total * policy.imbalance_percentage as usize {
            continue;
        }
        for (topic_id, partition, p) in preferred_here {
            if let Ok((leader, isr)) = preferred(image, p) {
                info!(%topic_id, partition, leader, "moving leadership back to the preferred replica");
                records.push(MetadataRecord::PartitionChanged { topic_id, partition, leader, isr });
            }
        }
    }
    records
}

/// After `topic`'s configs change: its leaderless partitions that may now elect unclean do.
pub fn unclean_after_config_change(
    image: &MetadataImage,
    policy: &ElectionPolicy,
    topic: &TopicMeta,
) -> Vec<MetadataRecord> {
    let allowed = policy.unclean_for(image, topic);
    topic
        .assignments
        .iter()
        .enumerate()
        .filter(|(_, p)| p.leader == NO_LEADER)
        .filter_map(|(index, p)| {
            let leader = unclean_leader(image, p, allowed, NO_LEADER)?;
            warn!(topic = topic.name, partition = index, leader, "unclean leader election");
            Some(MetadataRecord::PartitionChanged {
                topic_id: topic.id,
                partition: index as i32,
                leader,
                isr: vec![leader],
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::decisions::tests::three_brokers;
    use crate::decisions::{fence_expired, heartbeat};

    fn leader_and_isr(image: &MetadataImage, topic_id: Uuid, p: i32) -> (i32, Vec<i32>) {
        let meta = image.topic_by_id(&topic_id).and_then(|t| t.partition(p)).expect("partition").clone();
        (meta.leader, meta.isr)
    }

    fn apply(image: &mut MetadataImage, records: &[MetadataRecord]) {
        let index = image.applied_index + 1;
        records.iter().for_each(|r| image.apply(index, r));
    }

    fn code(outcome: &Result<(), ApiError>) -> Option<ResponseError> {
        outcome.as_ref().err().map(|e| e.code)
    }

    /// Broker 1 fenced and back: partition 0 (preferred 1) is led by 2; a preferred election
    /// gives it back, and the others need none. While 1 is out of the ISR it is refused.
    #[test]
    fn preferred_elections() {
        let (mut image, topic) = three_brokers();
        let fenced = fence_expired(&image, &ElectionPolicy::default(), &[(1, 1)]);
        apply(&mut image, &fenced);
        assert_eq!(leader_and_isr(&image, topic, 0), (2, vec![2, 3]));
        let all = [(topic, 0), (topic, 1), (topic, 2)];
        let (records, outcomes) = elect_leaders(&image, ElectionType::Preferred, &all);
        assert!(records.is_empty());
        assert_eq!(code(&outcomes[0]), Some(ResponseError::PreferredLeaderNotAvailable));
        assert_eq!(code(&outcomes[1]), Some(ResponseError::ElectionNotNeeded));
        // 1 back in the ISR (as a leader's AlterPartition would have it).
        apply(&mut image, &[MetadataRecord::BrokerUnfenced { node_id: 1, broker_epoch: 1 }]);
        let rejoined =
            MetadataRecord::PartitionChanged { topic_id: topic, partition: 0, leader: 2, isr: vec![1, 2, 3] };
        apply(&mut image, &[rejoined]);
        let tolerant = ElectionPolicy { imbalance_percentage: 100, ..Default::default() };
        assert_eq!(rebalance(&image, &tolerant), vec![], "an imbalance within the percentage stays");
        let (records, outcomes) = elect_leaders(&image, ElectionType::Preferred, &all);
        assert_eq!(code(&outcomes[0]), None);
        assert_eq!(records, rebalance(&image, &ElectionPolicy::default()), "1 leads none of its one preferred");
        apply(&mut image, &records);
        assert_eq!(leader_and_isr(&image, topic, 0), (1, vec![1, 2, 3]));
        let unknown = elect_leaders(&image, ElectionType::Preferred, &[(Uuid::nil(), 0)]).1;
        assert_eq!(code(&unknown[0]), Some(ResponseError::UnknownTopicOrPartition));
    }

    /// Partition 0's whole ISR fenced: it stays leaderless unless unclean elections are
    /// allowed, by the policy (at unfencing), by the topic's config, or by ElectLeaders.
    #[test]
    fn unclean_elections() {
        let (mut image, topic) = three_brokers();
        let policy = ElectionPolicy::default();
        let fenced = fence_expired(&image, &policy, &[(2, 2), (3, 3)]);
        apply(&mut image, &fenced);
        let fenced = fence_expired(&image, &policy, &[(1, 1)]);
        apply(&mut image, &fenced);
        assert_eq!(leader_and_isr(&image, topic, 0), (-1, vec![1]));
        let broker = |image: &MetadataImage, id: i32| image.brokers[&id].clone();
        let back = heartbeat(&image, &policy, &broker(&image, 2), 10, false);
        assert!(!back.iter().any(|r| matches!(r, MetadataRecord::PartitionChanged { partition: 0, .. })));
        let unclean = ElectionPolicy { unclean: true, ..policy };
        let back = heartbeat(&image, &unclean, &broker(&image, 2), 10, false);
        assert!(back.contains(&MetadataRecord::PartitionChanged {
            topic_id: topic,
            partition: 0,
            leader: 2,
            isr: vec![2]
        }));
        let unfenced = heartbeat(&image, &policy, &broker(&image, 2), 10, false);
        apply(&mut image, &unfenced);
        let outcome = elect_leaders(&image, ElectionType::Unclean, &[(topic, 0)]);
        let elected = MetadataRecord::PartitionChanged { topic_id: topic, partition: 0, leader: 2, isr: vec![2] };
        assert_eq!(outcome.0, vec![elected.clone()]);
        let mut led = image.clone();
        apply(&mut led, &outcome.0);
        let again = elect_leaders(&led, ElectionType::Unclean, &[(topic, 0)]).1;
        assert_eq!(code(&again[0]), Some(ResponseError::ElectionNotNeeded), "partition 0 is led");
        let mut configured = image.topic_by_id(&topic).expect("topic").clone();
        assert!(
            unclean_after_config_change(&image, &policy, &configured)
                .iter()
                .all(|r| !matches!(r, MetadataRecord::PartitionChanged { partition: 0, .. }))
        );
        let elected = MetadataRecord::PartitionChanged { topic_id: topic, partition: 0, leader: 2, isr: vec![2] };
        // A cluster-wide dynamic config allows it, and a topic's own config wins over that.
        let mut cluster = image.clone();
        let unclean = BTreeMap::from([("unclean.leader.election.enable".to_string(), "true".to_string())]);
        let record = MetadataRecord::BrokerConfigsChanged { resource: String::new(), configs: unclean };
        cluster.apply(cluster.applied_index + 1, &record);
        assert!(unclean_after_config_change(&cluster, &policy, &configured).contains(&elected));
        configured.configs.insert("unclean.leader.election.enable".into(), "false".into());
        assert!(unclean_after_config_change(&cluster, &policy, &configured).is_empty());
        configured.configs.insert("unclean.leader.election.enable".into(), "true".into());
        assert!(unclean_after_config_change(&image, &policy, &configured).contains(&elected));
    }
}
