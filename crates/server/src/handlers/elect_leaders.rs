//! ElectLeaders (`kafka-leader-election`): preferred or unclean leader elections, decided by
//! the active controller, with Kafka's outcome per partition. Asked for every partition, the
//! answer leaves out those that needed no election, as Kafka's does.

use std::collections::BTreeMap;
use std::sync::Arc;

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::elect_leaders_response::{PartitionResult, ReplicaElectionResult};
use kafka_protocol::messages::{ElectLeadersRequest, ElectLeadersResponse, TopicName};
use uuid::Uuid;

use super::text;
use crate::broker::Broker;

const PREFERRED: i8 = 0;
const UNCLEAN: i8 = 1;

pub(super) async fn handle(broker: &Arc<Broker>, request: ElectLeadersRequest, version: i16) -> ElectLeadersResponse {
    // Version 0 has no election type: preferred.
    let unclean = match if version >= 1 { request.election_type } else { PREFERRED } {
        PREFERRED => false,
        UNCLEAN => true,
        _ => return ElectLeadersResponse::default().with_error_code(ResponseError::InvalidRequest.code()),
    };
    // Requested partitions of unknown topics are answered here; the rest go to the controller.
    let mut results: BTreeMap<String, Vec<PartitionResult>> = BTreeMap::new();
    let asked = request.topic_partitions.map(|topics| {
        let mut known = Vec::new();
        for t in topics {
            match broker.topic(&t.topic) {
                Some(meta) => known.extend(t.partitions.iter().map(|p| (meta.id, *p))),
                None => results.entry(t.topic.to_string()).or_default().extend(t.partitions.iter().map(|p| {
                    PartitionResult::default()
                        .with_partition_id(*p)
                        .with_error_code(ResponseError::UnknownTopicOrPartition.code())
                        .with_error_message(Some(text("This server does not host this topic-partition.")))
                })),
            }
        }
        known
    });
    let all = asked.is_none();
    let outcomes = match broker.elect_leaders(unclean, asked).await {
        Ok(outcomes) => outcomes,
        Err(e) => return ElectLeadersResponse::default().with_error_code(e.code.code()),
    };
    let names: BTreeMap<Uuid, String> = broker.metadata().topics().map(|t| (t.id, t.name.clone())).collect();
    for (topic, index, error) in outcomes {
        if all && error.as_ref().is_some_and(|e| e.code == ResponseError::ElectionNotNeeded) {
            continue;
        }
        let result = PartitionResult::default().with_partition_id(index);
        let result = match error {
            None => result,
            Some(e) => result.with_error_code(e.code.code()).with_error_message(Some(text(e.message))),
        };
        results.entry(names.get(&topic).cloned().unwrap_or_default()).or_default().push(result);
    }
    let results = results
        .into_iter()
        .map(|(topic, partitions)| {
            ReplicaElectionResult::default().with_topic(TopicName(text(topic))).with_partition_result(partitions)
        })
        .collect();
    ElectLeadersResponse::default().with_replica_election_results(results)
}
