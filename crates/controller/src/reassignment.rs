//! Moving a partition's replicas (AlterPartitionReassignments), as KRaft's controller does.
//!
//! A reassignment to `target` first widens the replica list to the target followed by the
//! replicas being removed, and names those being added and removed. The added replicas fetch
//! from the leader like any follower and join the ISR once caught up (AlterPartition). When
//! every added replica is in the ISR, the reassignment completes: the replicas become the
//! target, the ISR keeps only target replicas, and a leader that is being removed hands over
//! to the first target replica in sync. So the partition never has fewer in-sync copies than
//! before, and nothing acknowledged is lost. Cancelling goes back to the original replicas.

use kafka_protocol::error::ResponseError;
use tracing::info;
use uuid::Uuid;

use crate::ApiError;
use crate::image::{MetadataImage, NO_LEADER, PartitionMeta};
use crate::records::MetadataRecord;

/// Starts (`Some(target)`) or cancels (`None`) the reassignment of one partition.
pub fn alter(
    image: &MetadataImage,
    topic_id: Uuid,
    partition: i32,
    target: Option<Vec<i32>>,
) -> Result<Vec<MetadataRecord>, ApiError> {
    let p = image
        .topic_by_id(&topic_id)
        .and_then(|t| t.partition(partition))
        .ok_or_else(|| ApiError::new(ResponseError::UnknownTopicOrPartition, "No such partition."))?;
    // What the partition had before any reassignment in progress.
    let original: Vec<i32> = p.replicas.iter().copied().filter(|id| !p.adding.contains(id)).collect();
    let Some(target) = target else {
        if !p.reassigning() {
            return Err(ApiError::new(
                ResponseError::NoReassignmentInProgress,
                format!("No ongoing reassignment for partition {partition}."),
            ));
        }
        info!(%topic_id, partition, replicas = ?original, "cancelling a reassignment");
        return Ok(vec![settle(image, topic_id, partition, p, original)]);
    };
    check_target(image, &target)?;
    let adding: Vec<i32> = target.iter().copied().filter(|id| !original.contains(id)).collect();
    let removing: Vec<i32> = original.iter().copied().filter(|id| !target.contains(id)).collect();
    if adding.is_empty() && removing.is_empty() && target == original && !p.reassigning() {
        return Ok(Vec::new());
    }
    let mut replicas = target.clone();
    replicas.extend(removing.iter().copied());
    info!(%topic_id, partition, ?target, ?adding, ?removing, "starting a reassignment");
    let started = MetadataRecord::PartitionReassigned {
        topic_id,
        partition,
        replicas,
        isr: p.isr.iter().copied().filter(|id| original.contains(id)).collect(),
        leader: p.leader,
        adding,
        removing,
    };
    // Nothing to copy (a reorder or a shrink): it may complete at once.
    let mut after = image.clone();
    after.apply(after.applied_index, &started);
    let moved = after.topic_by_id(&topic_id).and_then(|t| t.partition(partition)).expect("just updated");
    let completed = completion(&after, topic_id, partition, moved);
    Ok(std::iter::once(started).chain(completed).collect())
}

/// Kafka's checks of a target replica list.
fn check_target(image: &MetadataImage, target: &[i32]) -> Result<(), ApiError> {
    let invalid = |message: String| Err(ApiError::new(ResponseError::InvalidReplicaAssignment, message));
    if target.is_empty() {
        return invalid("The replica list must not be empty.".into());
    }
    let mut unique = target.to_vec();
    unique.sort_unstable();
    unique.dedup();
    if unique.len() != target.len() {
        return invalid(format!("The replica list {target:?} contains duplicates."));
    }
    if let Some(missing) = target.iter().find(|id| !image.brokers.contains_key(id)) {
        return invalid(format!("The proposed assignment contains broker {missing}, which is not registered."));
    }
    Ok(())
}

/// The record that completes a partition's reassignment, if every added replica is in sync
/// and some target replica is.
pub fn completion(image: &MetadataImage, topic_id: Uuid, partition: i32, p: &PartitionMeta) -> Option<MetadataRecord> {
    if !p.reassigning() || !p.adding.iter().all(|id| p.isr.contains(id)) {
        return None;
    }
    let target: Vec<i32> = p.replicas.iter().copied().filter(|id| !p.removing.contains(id)).collect();
    if !p.isr.iter().any(|id| target.contains(id)) {
        return None;
    }
    info!(%topic_id, partition, replicas = ?target, "reassignment complete");
    Some(settle(image, topic_id, partition, p, target))
}

/// The partition on `replicas` alone, with no reassignment: the ISR keeps only those, and the
/// leader stays if it is one of them, else the first of them in sync and eligible leads.
fn settle(
    image: &MetadataImage,
    topic_id: Uuid,
    partition: i32,
    p: &PartitionMeta,
    replicas: Vec<i32>,
) -> MetadataRecord {
    let mut isr: Vec<i32> = p.isr.iter().copied().filter(|id| replicas.contains(id)).collect();
    if isr.is_empty() {
        // Never an empty ISR: the partition then waits, offline, for one that was in sync.
        isr = p.isr.clone();
    }
    let leader = match replicas.contains(&p.leader) {
        true => p.leader,
        false => replicas.iter().copied().find(|id| isr.contains(id) && image.eligible(*id)).unwrap_or(NO_LEADER),
    };
    MetadataRecord::PartitionReassigned {
        topic_id,
        partition,
        replicas,
        isr,
        leader,
        adding: Vec::new(),
        removing: Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decisions::alter_partition;
    use crate::decisions::tests::three_brokers;
    use crate::requests::IsrChange;

    fn partition(image: &MetadataImage, topic_id: Uuid, index: i32) -> PartitionMeta {
        image.topic_by_id(&topic_id).and_then(|t| t.partition(index)).cloned().expect("partition")
    }

    /// A fourth broker registers (still fenced).
    fn register_broker_4(image: &mut MetadataImage) {
        let registered = MetadataRecord::BrokerRegistered {
            node_id: 4,
            incarnation_id: Uuid::new_v4(),
            endpoints: vec![],
            rack: None,
        };
        image.apply(5, &registered);
    }

    fn apply(image: &mut MetadataImage, records: &[MetadataRecord]) {
        let index = image.applied_index + 1;
        records.iter().for_each(|r| image.apply(index, r));
    }

    /// Partition 0 on [1, 2, 3] moves to [2, 3, 4]: 4 is added and 1 removed, the leader (1)
    /// keeps leading until 4 is in sync; then the partition is on [2, 3, 4], led by 2.
    #[test]
    fn a_replica_is_added_caught_up_then_the_old_one_leaves() {
        let (mut image, topic_id) = three_brokers();
        register_broker_4(&mut image);
        image.apply(5, &MetadataRecord::BrokerUnfenced { node_id: 4, broker_epoch: 5 });
        let records = alter(&image, topic_id, 0, Some(vec![2, 3, 4])).expect("started");
        assert_eq!(records.len(), 1, "4 has nothing yet: {records:?}");
        apply(&mut image, &records);
        let p = partition(&image, topic_id, 0);
        assert_eq!((p.replicas.clone(), p.adding.clone(), p.removing.clone()), (vec![2, 3, 4, 1], vec![4], vec![1]));
        assert_eq!((p.leader, p.isr.clone()), (1, vec![1, 2, 3]));
        assert!(completion(&image, topic_id, 0, &p).is_none(), "4 is not in sync yet");

        // The leader puts 4 in the ISR once it caught up.
        let change = IsrChange {
            topic_id,
            partition: 0,
            leader: 1,
            broker_epoch: 1,
            leader_epoch: p.leader_epoch,
            partition_epoch: p.partition_epoch,
            isr: vec![1, 2, 3, 4],
        };
        let expanded = alter_partition(&image, change).expect("expanded");
        assert_eq!(expanded.len(), 2, "the expansion completes the reassignment: {expanded:?}");
        apply(&mut image, &expanded);
        let p = partition(&image, topic_id, 0);
        assert_eq!((p.replicas, p.isr, p.leader), (vec![2, 3, 4], vec![2, 3, 4], 2));
        assert!(p.adding.is_empty() && p.removing.is_empty());
    }

    /// A cancel returns to the original replicas; cancelling when nothing moves is refused; a
    /// target naming an unknown broker is refused; a reorder completes at once.
    #[test]
    fn cancels_refusals_and_reorders() {
        let (mut image, topic_id) = three_brokers();
        register_broker_4(&mut image);
        let refused = alter(&image, topic_id, 0, None).expect_err("nothing to cancel");
        assert_eq!(refused.code, ResponseError::NoReassignmentInProgress);
        let refused = alter(&image, topic_id, 0, Some(vec![1, 9])).expect_err("no broker 9");
        assert_eq!(refused.code, ResponseError::InvalidReplicaAssignment);
        let refused = alter(&image, topic_id, 0, Some(vec![1, 1])).expect_err("duplicates");
        assert_eq!(refused.code, ResponseError::InvalidReplicaAssignment);

        let started = alter(&image, topic_id, 0, Some(vec![1, 2, 4])).expect("started");
        apply(&mut image, &started);
        let cancelled = alter(&image, topic_id, 0, None).expect("cancelled");
        apply(&mut image, &cancelled);
        let p = partition(&image, topic_id, 0);
        assert_eq!((p.replicas, p.isr, p.leader), (vec![1, 2, 3], vec![1, 2, 3], 1));
        assert!(!partition(&image, topic_id, 0).reassigning());

        let records = alter(&image, topic_id, 0, Some(vec![3, 2, 1])).expect("reordered");
        assert_eq!(records.len(), 1, "nothing to copy: done at once: {records:?}");
        apply(&mut image, &records);
        let p = partition(&image, topic_id, 0);
        assert_eq!((p.replicas, p.leader), (vec![3, 2, 1], 1), "the leader stays; the preferred one changes");
    }
}
