//! Fetching from the closest replica (KIP-392): a partition's leader may point a consumer at
//! an in-sync follower in the consumer's rack (`client.rack`), with `replica.selector.class`
//! naming Kafka's `RackAwareReplicaSelector`. The consumer then fetches from that follower,
//! which serves it up to its own high watermark.

/// `replica.selector.class`: which replica a consumer is told to read from.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum ReplicaSelector {
    /// Kafka's default (no selector, or `LeaderSelector`): always the leader.
    #[default]
    Leader,
    /// Kafka's `RackAwareReplicaSelector`.
    RackAware,
}

impl ReplicaSelector {
    const LEADER: &str = "org.apache.kafka.common.replica.LeaderSelector";
    const RACK_AWARE: &str = "org.apache.kafka.common.replica.RackAwareReplicaSelector";

    /// The selector Kafka's class name stands for; Brook has only Kafka's two.
    pub fn from_class(class: &str) -> Result<ReplicaSelector, String> {
        match class.trim() {
            "" | Self::LEADER => Ok(ReplicaSelector::Leader),
            Self::RACK_AWARE => Ok(ReplicaSelector::RackAware),
            other => Err(format!(
                "{other} is not a replica selector Brook has: use {} or {}",
                Self::LEADER,
                Self::RACK_AWARE
            )),
        }
    }

    /// The class name, as DescribeConfigs shows it (empty for the default).
    pub fn class(&self) -> &'static str {
        match self {
            ReplicaSelector::Leader => "",
            ReplicaSelector::RackAware => Self::RACK_AWARE,
        }
    }

    /// The replica a consumer in `client_rack` should read from instead of the leader, if any.
    /// `candidates` are the in-sync followers holding the fetch offset, with their rack and
    /// log end. As Kafka's selector: the leader if it shares the client's rack, else the
    /// follower in that rack furthest ahead (the lowest id on a tie), else the leader.
    pub fn select(
        &self,
        client_rack: &str,
        leader_rack: Option<&str>,
        candidates: &[(i32, Option<&str>, i64)],
    ) -> Option<i32> {
        if *self == ReplicaSelector::Leader || client_rack.is_empty() || leader_rack == Some(client_rack) {
            return None;
        }
        candidates
            .iter()
            .filter(|(_, rack, _)| *rack == Some(client_rack))
            .max_by_key(|(id, _, log_end)| (*log_end, -id))
            .map(|(id, _, _)| *id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rack_aware_selection() {
        let rack = ReplicaSelector::RackAware;
        let followers = [(2, Some("b"), 90), (3, Some("c"), 100), (4, Some("c"), 100), (5, None, 100)];
        assert_eq!(rack.select("c", Some("a"), &followers), Some(3), "in the rack, furthest ahead, lowest id");
        assert_eq!(rack.select("b", Some("a"), &followers), Some(2));
        assert_eq!(rack.select("a", Some("a"), &followers), None, "the leader shares the rack");
        assert_eq!(rack.select("z", Some("a"), &followers), None, "nobody in the rack: the leader");
        assert_eq!(rack.select("", Some("a"), &followers), None, "a client without a rack");
        assert_eq!(ReplicaSelector::Leader.select("c", Some("a"), &followers), None);
    }

    #[test]
    fn kafka_class_names() {
        assert_eq!(ReplicaSelector::from_class(ReplicaSelector::RACK_AWARE), Ok(ReplicaSelector::RackAware));
        assert_eq!(ReplicaSelector::from_class(ReplicaSelector::LEADER), Ok(ReplicaSelector::Leader));
        assert!(ReplicaSelector::from_class("com.example.Mine").unwrap_err().contains("RackAwareReplicaSelector"));
    }
}
