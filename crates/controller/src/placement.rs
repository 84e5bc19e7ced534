//! Replica placement for new partitions, as Kafka's rack-unaware and rack-aware assignment
//! does it: brokers ordered so that racks alternate, each partition's first replica one broker
//! further than the last's from a random start, followers after it with a shift that changes
//! every full round, so leaders and followers both spread evenly.

use kafka_protocol::error::ResponseError;

use crate::ApiError;

/// A broker that can take replicas: its id and rack.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Candidate {
    pub node_id: i32,
    pub rack: Option<String>,
}

/// Replica lists for partitions `first..first + count`, `replication_factor` each. `start` and
/// `shift` are the random draws (the caller draws them, so placement itself is repeatable).
pub fn place(
    candidates: &[Candidate],
    first: i32,
    count: i32,
    replication_factor: i16,
    start: usize,
    shift: usize,
) -> Result<Vec<Vec<i32>>, ApiError> {
    let rf = usize::try_from(replication_factor).unwrap_or(0);
    if rf == 0 || rf > candidates.len() {
        return Err(ApiError::new(
            ResponseError::InvalidReplicationFactor,
            format!(
                "Unable to replicate the partition {replication_factor} time(s): The target replication factor of \
                 {replication_factor} cannot be reached because only {} broker(s) are registered.",
                candidates.len()
            ),
        ));
    }
    let brokers = rack_alternating(candidates);
    let rack_of = |id: i32| candidates.iter().find(|c| c.node_id == id).and_then(|c| c.rack.as_deref());
    let racks: std::collections::BTreeSet<Option<&str>> = candidates.iter().map(|c| c.rack.as_deref()).collect();
    let n = brokers.len();
    let mut out = Vec::with_capacity(usize::try_from(count).unwrap_or(0));
    for p in first..first + count {
        let p = usize::try_from(p).unwrap_or(0);
        let shift = shift + p / n;
        let leader = brokers[(start + p) % n];
        // The other brokers in the order this partition tries them.
        let others: Vec<i32> = (0..n - 1).map(|k| brokers[((start + p) % n + 1 + (shift + k) % (n - 1)) % n]).collect();
        let mut replicas = vec![leader];
        let mut used_racks = std::collections::BTreeSet::from([rack_of(leader)]);
        while replicas.len() < rf {
            let free = |b: &&i32| !replicas.contains(*b);
            let next = *others
                .iter()
                .filter(free)
                .find(|b| !used_racks.contains(&rack_of(**b)))
                .or_else(|| others.iter().find(free))
                .expect("enough brokers were checked above");
            replicas.push(next);
            used_racks.insert(rack_of(next));
            if used_racks.len() == racks.len() {
                used_racks.clear();
            }
        }
        out.push(replicas);
    }
    Ok(out)
}

/// Broker ids ordered by id within each rack, then taken one rack at a time in turn (Kafka's
/// `getRackAlternatedBrokerList`); without racks, simply by id.
fn rack_alternating(candidates: &[Candidate]) -> Vec<i32> {
    let mut by_rack: std::collections::BTreeMap<&str, Vec<i32>> = std::collections::BTreeMap::new();
    for c in candidates {
        by_rack.entry(c.rack.as_deref().unwrap_or("")).or_default().push(c.node_id);
    }
    by_rack.values_mut().for_each(|ids| ids.sort_unstable());
    let mut out = Vec::with_capacity(candidates.len());
    for round in 0.. {
        let before = out.len();
        out.extend(by_rack.values().filter_map(|ids| ids.get(round)));
        if out.len() == before {
            break;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn brokers(racks: &[Option<&str>]) -> Vec<Candidate> {
        racks
            .iter()
            .enumerate()
            .map(|(i, r)| Candidate { node_id: i as i32 + 1, rack: r.map(str::to_string) })
            .collect()
    }

    /// Six partitions on three brokers: two leaders each; replicas distinct within a partition.
    #[test]
    fn spreads_leaders_and_replicas() {
        let placed = place(&brokers(&[None, None, None]), 0, 6, 3, 1, 0).expect("place");
        for id in 1..=3 {
            assert_eq!(placed.iter().filter(|r| r[0] == id).count(), 2, "{placed:?}");
        }
        for replicas in &placed {
            let mut unique = replicas.clone();
            unique.sort_unstable();
            unique.dedup();
            assert_eq!(unique.len(), 3, "{replicas:?}");
        }
        let rf1 = place(&brokers(&[None, None, None]), 0, 3, 1, 0, 0).expect("place");
        assert_eq!(rf1, vec![vec![1], vec![2], vec![3]]);
    }

    /// With racks, each partition's replicas land in different racks while racks allow.
    #[test]
    fn rack_aware() {
        let candidates = brokers(&[Some("a"), Some("a"), Some("b"), Some("b")]);
        let rack_of = |id: i32| candidates[(id - 1) as usize].rack.clone();
        for start in 0..4 {
            for replicas in place(&candidates, 0, 8, 2, start, 0).expect("place") {
                assert_ne!(rack_of(replicas[0]), rack_of(replicas[1]), "{replicas:?}");
            }
        }
    }

    /// More replicas than brokers is Kafka's INVALID_REPLICATION_FACTOR, with its message.
    #[test]
    fn too_few_brokers() {
        let err = place(&brokers(&[None]), 0, 1, 3, 0, 0).expect_err("too few");
        assert_eq!(err.code, ResponseError::InvalidReplicationFactor);
        assert!(err.message.contains("only 1 broker(s) are registered"), "{}", err.message);
    }
}
