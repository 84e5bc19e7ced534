//! ApiVersions: the APIs and version ranges Brook serves. Only APIs with a handler are listed,
//! so a client never negotiates something Brook would drop (one exception, Kafka's: Produce).

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::ApiKey;
use std::collections::BTreeMap;

use brook_controller::features::FEATURES;
use kafka_protocol::messages::api_versions_response::{ApiVersion, FinalizedFeatureKey, SupportedFeatureKey};
use kafka_protocol::messages::{ApiVersionsRequest, ApiVersionsResponse};
use kafka_protocol::protocol::StrBytes;

/// (API, lowest version, highest version). The lowest versions are Kafka 4.0's.
pub const SUPPORTED: &[(ApiKey, i16, i16)] = &[
    (ApiKey::Produce, 3, 13),
    // Fetch v18 adds a follower's high watermark (KIP-1166), a hint to answer it sooner; Brook's
    // followers fetch at v15, and others' hints are not used.
    (ApiKey::Fetch, 4, 18),
    (ApiKey::ListOffsets, 1, 11),
    (ApiKey::Metadata, 0, 13),
    (ApiKey::DescribeTopicPartitions, 0, 0),
    (ApiKey::ApiVersions, 0, 5),
    (ApiKey::CreateTopics, 2, 7),
    (ApiKey::DeleteTopics, 1, 6),
    (ApiKey::InitProducerId, 0, 5),
    // AddPartitionsToTxn v4+ is the brokers' batched form (KIP-890); EndTxn v5 and
    // TxnOffsetCommit v5 are transactions version 2; TxnOffsetCommit v6 names topics by id.
    (ApiKey::AddPartitionsToTxn, 0, 5),
    (ApiKey::AddOffsetsToTxn, 0, 4),
    (ApiKey::EndTxn, 0, 5),
    (ApiKey::TxnOffsetCommit, 0, 6),
    (ApiKey::WriteTxnMarkers, 1, 1),
    // ListTransactions v2 filters by a transactional id pattern (KIP-1152).
    (ApiKey::DescribeTransactions, 0, 0),
    (ApiKey::ListTransactions, 0, 2),
    (ApiKey::DescribeProducers, 0, 0),
    (ApiKey::DescribeConfigs, 1, 4),
    (ApiKey::ListConfigResources, 0, 1),
    (ApiKey::AlterConfigs, 0, 2),
    (ApiKey::IncrementalAlterConfigs, 0, 1),
    (ApiKey::CreatePartitions, 0, 3),
    (ApiKey::DeleteRecords, 0, 2),
    (ApiKey::UpdateFeatures, 0, 2),
    (ApiKey::DescribeCluster, 0, 2),
    (ApiKey::UnregisterBroker, 0, 0),
    (ApiKey::UnregisterController, 0, 0),
    (ApiKey::DescribeQuorum, 0, 2),
    // A static quorum: changes are refused as Kafka refuses them at kraft.version 0.
    (ApiKey::AddRaftVoter, 0, 1),
    (ApiKey::RemoveRaftVoter, 0, 0),
    (ApiKey::ElectLeaders, 0, 2),
    (ApiKey::AlterPartitionReassignments, 0, 1),
    (ApiKey::ListPartitionReassignments, 0, 0),
    (ApiKey::DescribeLogDirs, 1, 5),
    (ApiKey::AlterReplicaLogDirs, 1, 2),
    // Client metrics (KIP-714), exported on /metrics.
    (ApiKey::GetTelemetrySubscriptions, 0, 0),
    (ApiKey::PushTelemetry, 0, 0),
    (ApiKey::OffsetForLeaderEpoch, 2, 4),
    (ApiKey::FindCoordinator, 0, 6),
    (ApiKey::JoinGroup, 0, 9),
    (ApiKey::SyncGroup, 0, 5),
    (ApiKey::Heartbeat, 0, 4),
    (ApiKey::LeaveGroup, 0, 5),
    (ApiKey::OffsetCommit, 2, 10),
    (ApiKey::OffsetFetch, 1, 10),
    (ApiKey::DescribeGroups, 0, 6),
    (ApiKey::ListGroups, 0, 5),
    (ApiKey::DeleteGroups, 0, 3),
    (ApiKey::OffsetDelete, 0, 0),
    (ApiKey::ConsumerGroupHeartbeat, 0, 1),
    (ApiKey::ConsumerGroupDescribe, 0, 1),
    // Streams groups (KIP-1071); v1 adds the topology description (KIP-1331).
    (ApiKey::StreamsGroupHeartbeat, 0, 1),
    (ApiKey::StreamsGroupDescribe, 0, 1),
    (ApiKey::StreamsGroupTopologyDescriptionUpdate, 0, 0),
    // Share groups (KIP-932): v1 is the first released version (v0 was Kafka 4.0's early access);
    // ShareFetch and ShareAcknowledge v2 add renewing a lock (KIP-1222).
    (ApiKey::ShareGroupHeartbeat, 1, 1),
    (ApiKey::ShareGroupDescribe, 1, 1),
    (ApiKey::ShareFetch, 1, 2),
    (ApiKey::ShareAcknowledge, 1, 2),
    // The share coordinator's state APIs, between brokers (CLUSTER_ACTION).
    (ApiKey::ReadShareGroupState, 0, 0),
    (ApiKey::WriteShareGroupState, 0, 1),
    (ApiKey::ReadShareGroupStateSummary, 0, 1),
    (ApiKey::InitializeShareGroupState, 0, 0),
    (ApiKey::DeleteShareGroupState, 0, 0),
    // Share group offsets, on the group coordinator (v1 adds the lag).
    (ApiKey::DescribeShareGroupOffsets, 0, 1),
    (ApiKey::AlterShareGroupOffsets, 0, 0),
    (ApiKey::DeleteShareGroupOffsets, 0, 0),
    (ApiKey::DescribeUserScramCredentials, 0, 0),
    (ApiKey::AlterUserScramCredentials, 0, 0),
    // Delegation tokens (KIP-48); Kafka 4 dropped v0.
    (ApiKey::CreateDelegationToken, 1, 3),
    (ApiKey::RenewDelegationToken, 1, 2),
    (ApiKey::ExpireDelegationToken, 1, 2),
    (ApiKey::DescribeDelegationToken, 1, 3),
    (ApiKey::CreateAcls, 1, 3),
    (ApiKey::DescribeAcls, 1, 3),
    (ApiKey::DeleteAcls, 1, 3),
    (ApiKey::DescribeClientQuotas, 0, 1),
    (ApiKey::AlterClientQuotas, 0, 1),
    // Served on SASL listeners (`authentication`); refused as on Kafka's PLAINTEXT listeners
    // elsewhere (see `sasl`).
    (ApiKey::SaslHandshake, 0, 1),
    (ApiKey::SaslAuthenticate, 0, 2),
];

pub fn supports(api_key: ApiKey, version: i16) -> bool {
    SUPPORTED.iter().any(|&(key, min, max)| key == api_key && (min..=max).contains(&version))
}

/// Who answers: the cluster's id and this broker's node id.
pub struct Identity<'a> {
    pub cluster_id: &'a str,
    pub node_id: i32,
}

/// `features`: the finalized levels, and their epoch (Kafka's is the metadata offset they
/// were read at; clients keep the features of the highest epoch they have seen). Clients read
/// `transaction.version` to choose transactions version 2 (KIP-890 part 2).
pub fn handle(
    request: &ApiVersionsRequest,
    version: i16,
    features: (&BTreeMap<&'static str, i16>, i64),
    me: Identity,
) -> ApiVersionsResponse {
    // v3+ names the client; Kafka refuses a name or version outside its pattern, listing nothing.
    if version >= 3 && !(valid_name(&request.client_software_name) && valid_name(&request.client_software_version)) {
        return ApiVersionsResponse::default().with_error_code(ResponseError::InvalidRequest.code());
    }
    if let Some(error) = wrong_broker(request, me) {
        return ApiVersionsResponse::default().with_error_code(error.code());
    }
    let (levels, epoch) = features;
    response(0)
        .with_supported_features(
            FEATURES
                .iter()
                .map(|f| {
                    SupportedFeatureKey::default()
                        .with_name(StrBytes::from_static_str(f.name))
                        .with_min_version(f.min)
                        .with_max_version(f.max)
                })
                .collect(),
        )
        .with_finalized_features_epoch(epoch)
        // A feature at level 0 is off: not finalized, as Kafka lists them.
        .with_finalized_features(
            levels
                .iter()
                .filter(|(_, level)| **level > 0)
                .map(|(name, level)| {
                    FinalizedFeatureKey::default()
                        .with_name(StrBytes::from_static_str(name))
                        .with_min_version_level(*level)
                        .with_max_version_level(*level)
                })
                .collect(),
        )
}

/// KIP-1242 (v5): a client names the cluster and node it means to reach, both or neither
/// (else INVALID_REQUEST, as Kafka 4.4). Reaching another one (an address now used by another
/// broker or cluster) answers REBOOTSTRAP_REQUIRED, so the client finds the cluster anew.
fn wrong_broker(request: &ApiVersionsRequest, me: Identity) -> Option<ResponseError> {
    match (&request.cluster_id, request.node_id) {
        (None, -1) => None,
        (Some(_), -1) | (None, _) => Some(ResponseError::InvalidRequest),
        (Some(cluster), node) => {
            (cluster.as_str() != me.cluster_id || node != me.node_id).then_some(ResponseError::RebootstrapRequired)
        }
    }
}

/// Kafka's pattern for client software names and versions: `[a-zA-Z0-9](?:[a-zA-Z0-9\-.]*[a-zA-Z0-9])?`.
fn valid_name(s: &str) -> bool {
    let edge = |c: Option<char>| c.is_some_and(|c| c.is_ascii_alphanumeric());
    edge(s.chars().next())
        && edge(s.chars().last())
        && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.')
}

/// The answer to an ApiVersions request at a version Brook does not know: the error and the
/// ranges, encoded at version 0 so that any client can read it (as Kafka does).
pub fn unsupported() -> ApiVersionsResponse {
    response(ResponseError::UnsupportedVersion.code())
}

/// The lowest Produce version advertised. As Kafka 4 (KAFKA-18659), Produce v0-v2 are listed
/// but not served (the connection is closed): librdkafka before 2.10 turns off gzip, snappy
/// and lz4 compression, silently, against a broker whose Produce versions start at 3, and
/// every client picks the highest version both sides have anyway.
const ADVERTISED_PRODUCE_MIN: i16 = 0;

fn response(error_code: i16) -> ApiVersionsResponse {
    let api_keys = SUPPORTED
        .iter()
        .map(|&(key, min, max)| {
            let min = if key == ApiKey::Produce { ADVERTISED_PRODUCE_MIN } else { min };
            ApiVersion::default().with_api_key(key as i16).with_min_version(min).with_max_version(max)
        })
        .collect();
    ApiVersionsResponse::default().with_error_code(error_code).with_api_keys(api_keys)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every advertised range lies within what the protocol crate can encode.
    #[test]
    fn ranges_are_encodable() {
        for &(key, min, max) in SUPPORTED {
            let valid = key.valid_versions();
            assert!(min <= max, "{key:?}");
            assert!(valid.min <= min && max <= valid.max, "{key:?} {min}..{max} outside {valid:?}");
        }
    }

    /// Client software names and versions as Kafka's pattern takes them.
    #[test]
    fn client_software_names() {
        for ok in ["librdkafka", "2.12.1", "apache-kafka-java", "1.0-SNAPSHOT", "x", "a.b-c"] {
            assert!(valid_name(ok), "{ok}");
        }
        for bad in ["", "-x", "x-", "a b", ".x", "x.", "é"] {
            assert!(!valid_name(bad), "{bad}");
        }
    }
}
