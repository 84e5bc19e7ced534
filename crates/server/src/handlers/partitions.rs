//! CreatePartitions and DeleteRecords; with an authorizer they need ALTER and DELETE on the
//! topic.

use std::sync::Arc;

use brook_security::acl::{Operation, ResourceType};
use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::create_partitions_response::CreatePartitionsTopicResult;
use kafka_protocol::messages::delete_records_response::{DeleteRecordsPartitionResult, DeleteRecordsTopicResult};
use kafka_protocol::messages::{
    CreatePartitionsRequest, CreatePartitionsResponse, DeleteRecordsRequest, DeleteRecordsResponse,
};

use super::error_message;
use crate::authorization::Access;
use crate::broker::{ApiError, Broker};

pub(super) async fn create(
    broker: &Arc<Broker>,
    request: CreatePartitionsRequest,
    access: Access,
) -> CreatePartitionsResponse {
    let mut results = Vec::with_capacity(request.topics.len());
    for topic in request.topics {
        let result = CreatePartitionsTopicResult::default().with_name(topic.name.clone());
        if !access.allows(broker, Operation::Alter, ResourceType::Topic, &topic.name) {
            let e = ApiError::new(ResponseError::TopicAuthorizationFailed, "The topic authorization is failed.");
            results.push(result.with_error_code(e.code.code()).with_error_message(error_message(e)));
            continue;
        }
        let assignment: Vec<Vec<i32>> =
            topic.assignments.iter().flatten().map(|a| a.broker_ids.iter().map(|b| b.0).collect()).collect();
        let outcome = broker.create_partitions(&topic.name.0, topic.count, assignment, request.validate_only).await;
        results.push(match outcome {
            Ok(()) => result,
            Err(e) => result.with_error_code(e.code.code()).with_error_message(error_message(e)),
        });
    }
    CreatePartitionsResponse::default().with_results(results)
}

/// DeleteRecords' "up to the high watermark".
const HIGH_WATERMARK: i64 = -1;

pub(super) fn delete_records(
    broker: &Arc<Broker>,
    request: DeleteRecordsRequest,
    access: &Access,
) -> DeleteRecordsResponse {
    let topics = request
        .topics
        .into_iter()
        .map(|topic| {
            let allowed = access.allows(broker, Operation::Delete, ResourceType::Topic, &topic.name);
            let partitions = topic
                .partitions
                .iter()
                .map(|p| {
                    let result = DeleteRecordsPartitionResult::default().with_partition_index(p.partition_index);
                    let meta = broker.topic(&topic.name.0);
                    let found = super::authorized(meta, allowed, ResponseError::UnknownTopicOrPartition)
                        .and_then(|m| broker.leader_partition(&m, p.partition_index));
                    let partition = match found {
                        Ok(partition) => partition,
                        Err(code) => return result.with_error_code(code.code()).with_low_watermark(-1),
                    };
                    let offset = if p.offset == HIGH_WATERMARK { partition.log.high_watermark() } else { p.offset };
                    match partition.log.delete_records(offset) {
                        Ok(low_watermark) => result.with_low_watermark(low_watermark),
                        Err(e) => result.with_error_code(e.kafka_error_code()).with_low_watermark(-1),
                    }
                })
                .collect();
            DeleteRecordsTopicResult::default().with_name(topic.name).with_partitions(partitions)
        })
        .collect();
    DeleteRecordsResponse::default().with_topics(topics)
}
