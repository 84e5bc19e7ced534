//! DeleteTopics, by name (all versions) or by topic id (v6+); with an authorizer, each needs
//! DELETE on the topic.

use std::sync::Arc;

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::delete_topics_response::DeletableTopicResult;
use kafka_protocol::messages::{DeleteTopicsRequest, DeleteTopicsResponse, TopicName};
use uuid::Uuid;

use brook_security::acl::{Operation, ResourceType};

use super::text;
use crate::authorization::Access;
use crate::broker::Broker;

pub(super) async fn handle(
    broker: &Arc<Broker>,
    request: DeleteTopicsRequest,
    version: i16,
    access: Access,
) -> DeleteTopicsResponse {
    let wanted: Vec<(Option<TopicName>, Uuid)> = if version >= 6 {
        request.topics.into_iter().map(|t| (t.name, t.topic_id)).collect()
    } else {
        request.topic_names.into_iter().map(|n| (Some(n), Uuid::nil())).collect()
    };
    let mut results = Vec::with_capacity(wanted.len());
    for (name, id) in wanted {
        let meta = match &name {
            Some(n) => broker.topic(&n.0),
            None => broker.topic_by_id(&id),
        };
        let result = DeletableTopicResult::default().with_name(name.clone()).with_topic_id(id);
        let named = meta.as_ref().map(|m| m.name.clone()).or_else(|| name.as_ref().map(|n| n.0.to_string()));
        if let Some(named) = named
            && !access.allows(broker, Operation::Delete, ResourceType::Topic, &named)
        {
            results.push(result.with_error_code(ResponseError::TopicAuthorizationFailed.code()));
            continue;
        }
        let Some(meta) = meta else {
            let code =
                if name.is_some() { ResponseError::UnknownTopicOrPartition } else { ResponseError::UnknownTopicId };
            results.push(result.with_error_code(code.code()));
            continue;
        };
        results.push(match broker.delete_topic(meta.id).await {
            Ok(meta) => result.with_name(Some(TopicName(text(meta.name)))).with_topic_id(meta.id),
            Err(e) => result.with_error_code(e.code.code()).with_error_message(Some(text(e.message))),
        });
    }
    DeleteTopicsResponse::default().with_responses(results)
}
