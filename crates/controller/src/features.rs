//! The cluster's finalized features (KIP-584), as Kafka 4.4 names them: what ApiVersions lists
//! and UpdateFeatures (`kafka-features upgrade|downgrade|disable`) changes. A new cluster has
//! each at its default; a level set since is kept in the metadata.
//!
//! - `transaction.version` 2: transactions version 2 (KIP-890 part 2), which clients choose by it;
//! - `group.version` 1: the consumer group protocol (KIP-848), ConsumerGroupHeartbeat;
//! - `share.version` 1 or 2: share groups (KIP-932), ShareGroupHeartbeat;
//! - `streams.version` 1: streams groups (KIP-1071), StreamsGroupHeartbeat.
//!
//! Kafka's metadata.version, kraft.version and eligible.leader.replicas.version are not
//! Brook's to set: they are not listed.

use std::collections::BTreeMap;

use kafka_protocol::error::ResponseError;

use crate::ApiError;

/// A feature this cluster supports: its levels and a new cluster's.
pub struct Feature {
    pub name: &'static str,
    pub min: i16,
    pub max: i16,
    pub default: i16,
}

pub const TRANSACTION_VERSION: &str = "transaction.version";
pub const GROUP_VERSION: &str = "group.version";
pub const SHARE_VERSION: &str = "share.version";
pub const STREAMS_VERSION: &str = "streams.version";

pub const FEATURES: &[Feature] = &[
    Feature { name: GROUP_VERSION, min: 0, max: 1, default: 1 },
    Feature { name: SHARE_VERSION, min: 0, max: 2, default: 2 },
    Feature { name: STREAMS_VERSION, min: 0, max: 1, default: 1 },
    Feature { name: TRANSACTION_VERSION, min: 0, max: 2, default: 2 },
];

/// UpdateFeatures' kinds of change (v1+; v0's allow-downgrade is a safe downgrade).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum UpgradeType {
    Upgrade,
    SafeDowngrade,
    UnsafeDowngrade,
}

impl UpgradeType {
    pub fn from_wire(t: i8) -> Option<UpgradeType> {
        match t {
            1 => Some(UpgradeType::Upgrade),
            2 => Some(UpgradeType::SafeDowngrade),
            3 => Some(UpgradeType::UnsafeDowngrade),
            _ => None,
        }
    }
}

/// Each feature's finalized level: the metadata's, else a new cluster's.
pub fn finalized(set: &BTreeMap<String, i16>) -> BTreeMap<&'static str, i16> {
    FEATURES.iter().map(|f| (f.name, set.get(f.name).copied().unwrap_or(f.default))).collect()
}

/// One feature's finalized level.
pub fn level(set: &BTreeMap<String, i16>, name: &str) -> i16 {
    FEATURES.iter().find(|f| f.name == name).map_or(0, |f| set.get(name).copied().unwrap_or(f.default))
}

/// Checks UpdateFeatures' changes against the levels now (`node` is the controller, as Kafka's
/// messages name it): the new levels, or the first refusal (all or nothing, as in Kafka).
pub fn check(
    set: &BTreeMap<String, i16>,
    node: i32,
    updates: &[(String, i16, UpgradeType)],
) -> Result<Vec<(String, i16)>, ApiError> {
    let mut levels = Vec::with_capacity(updates.len());
    for (name, wanted, kind) in updates {
        let wanted = (*wanted).max(0);
        let invalid = |why: String| {
            ApiError::new(
                ResponseError::InvalidUpdateVersion,
                format!(
                    "The update failed for all features since the following feature had an error: Invalid update version {wanted} for feature {name}. {why}"
                ),
            )
        };
        let Some(feature) = FEATURES.iter().find(|f| f.name == name) else {
            return Err(invalid(format!("Local controller {node} does not support this feature.")));
        };
        if wanted < feature.min || wanted > feature.max {
            return Err(invalid(format!(
                "Local controller {node} only supports versions {}-{}",
                feature.min, feature.max
            )));
        }
        let now = level(set, name);
        if wanted < now && *kind == UpgradeType::Upgrade {
            return Err(invalid(
                "Can't downgrade the version of this feature without setting the upgrade type to either safe or unsafe downgrade."
                    .into(),
            ));
        }
        if wanted > now && *kind != UpgradeType::Upgrade {
            return Err(invalid("Can't downgrade to a newer version.".into()));
        }
        levels.push((name.clone(), wanted));
    }
    Ok(levels)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn updates_are_checked_as_kafka_checks_them() {
        let set = BTreeMap::new();
        assert_eq!(level(&set, SHARE_VERSION), 2);
        let down = check(&set, 1, &[("share.version".into(), 0, UpgradeType::SafeDowngrade)]).unwrap();
        assert_eq!(down, vec![("share.version".to_string(), 0)]);
        let e = check(&set, 1, &[("share.version".into(), 0, UpgradeType::Upgrade)]).unwrap_err();
        assert!(e.message.contains("without setting the upgrade type"), "{}", e.message);
        let e = check(&set, 1, &[("transaction.version".into(), 9, UpgradeType::Upgrade)]).unwrap_err();
        assert!(e.message.ends_with("Local controller 1 only supports versions 0-2"), "{}", e.message);
        let e = check(&set, 3, &[("nosuch.version".into(), 1, UpgradeType::Upgrade)]).unwrap_err();
        assert!(e.message.ends_with("Local controller 3 does not support this feature."), "{}", e.message);
        assert_eq!(e.code, ResponseError::InvalidUpdateVersion);
    }
}
