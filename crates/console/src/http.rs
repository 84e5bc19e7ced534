//! The API's HTTP conventions: errors as a 4xx/5xx status with a JSON body
//! `{"error": "...", "kafka_error": "..."}`, and the body and query parsing that produces them.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use brook_security::acl::{Operation, ResourceType};
use brook_server::authorization::Access;
use brook_server::broker::{ApiError, Broker};
use kafka_protocol::error::ResponseError;
use serde::de::DeserializeOwned;
use serde_json::json;

#[derive(Debug)]
pub(crate) struct HttpError {
    status: StatusCode,
    message: String,
    /// The Kafka error the broker answered, when there was one.
    kafka_error: Option<ResponseError>,
}

impl HttpError {
    pub(crate) fn new(status: StatusCode, message: impl Into<String>) -> HttpError {
        HttpError { status, message: message.into(), kafka_error: None }
    }

    pub(crate) fn bad_request(message: impl Into<String>) -> HttpError {
        HttpError::new(StatusCode::BAD_REQUEST, message)
    }

    pub(crate) fn not_found(message: impl Into<String>) -> HttpError {
        HttpError::new(StatusCode::NOT_FOUND, message)
    }

    pub(crate) fn internal(message: impl Into<String>) -> HttpError {
        HttpError::new(StatusCode::INTERNAL_SERVER_ERROR, message)
    }
}

/// Refuses (403, with Kafka's error for the resource's type) what the user's ACLs do not
/// allow; the denial is audited as a Kafka request's is.
pub(crate) fn require(
    access: &Access,
    broker: &Broker,
    operation: Operation,
    resource_type: ResourceType,
    name: &str,
) -> Result<(), HttpError> {
    if access.allows(broker, operation, resource_type, name) {
        return Ok(());
    }
    Err(forbidden(
        resource_type,
        format!("Not authorized to {} {} '{name}'.", operation.name(), resource_type.name().to_lowercase()),
    ))
}

/// A 403 with Kafka's authorization error for the resource's type.
pub(crate) fn forbidden(resource_type: ResourceType, message: String) -> HttpError {
    let code = match resource_type {
        ResourceType::Topic => ResponseError::TopicAuthorizationFailed,
        ResourceType::Group => ResponseError::GroupAuthorizationFailed,
        _ => ResponseError::ClusterAuthorizationFailed,
    };
    HttpError { status: StatusCode::FORBIDDEN, message, kafka_error: Some(code) }
}

impl From<ApiError> for HttpError {
    fn from(e: ApiError) -> HttpError {
        use ResponseError::*;
        let status = match e.code {
            TopicAlreadyExists => StatusCode::CONFLICT,
            UnknownTopicOrPartition | UnknownTopicId | GroupIdNotFound => StatusCode::NOT_FOUND,
            TopicAuthorizationFailed | GroupAuthorizationFailed | ClusterAuthorizationFailed => StatusCode::FORBIDDEN,
            RecordListTooLarge | MessageTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            KafkaStorageError | UnknownServerError | NotEnoughReplicas | RequestTimedOut => {
                StatusCode::INTERNAL_SERVER_ERROR
            }
            _ => StatusCode::BAD_REQUEST,
        };
        HttpError { status, message: e.message, kafka_error: Some(e.code) }
    }
}

impl IntoResponse for HttpError {
    fn into_response(self) -> Response {
        let mut body = json!({ "error": self.message });
        if let Some(code) = self.kafka_error {
            body["kafka_error"] = json!(kafka_error_name(code));
        }
        (self.status, [("content-type", "application/json")], body.to_string()).into_response()
    }
}

/// Kafka's own spelling of an error, e.g. `TOPIC_ALREADY_EXISTS`.
pub(crate) fn kafka_error_name(code: ResponseError) -> String {
    let camel = format!("{code:?}");
    let mut out = String::with_capacity(camel.len() + 8);
    for (i, c) in camel.chars().enumerate() {
        if c.is_ascii_uppercase() && i > 0 {
            out.push('_');
        }
        out.push(c.to_ascii_uppercase());
    }
    out
}

/// The largest request body the API reads (a produced message with its JSON quoting).
const MAX_BODY_BYTES: usize = 16 << 20;

/// Reads a request body, answering 413 (with a JSON body) past `MAX_BODY_BYTES`.
pub(crate) async fn read_body(body: axum::body::Body) -> Result<bytes::Bytes, HttpError> {
    axum::body::to_bytes(body, MAX_BODY_BYTES).await.map_err(|_| {
        HttpError::new(StatusCode::PAYLOAD_TOO_LARGE, format!("the request body is larger than {MAX_BODY_BYTES} bytes"))
    })
}

/// Parses a JSON request body into `T`, answering 400 with serde's reason when it does not fit.
pub(crate) fn parse_body<T: DeserializeOwned>(body: &[u8]) -> Result<T, HttpError> {
    if body.is_empty() {
        return Err(HttpError::bad_request("the request needs a JSON body"));
    }
    serde_json::from_slice(body).map_err(|e| HttpError::bad_request(format!("invalid JSON body: {e}")))
}

/// An optional query parameter parsed as `T`; a value that does not parse is a 400.
pub(crate) fn query_param<T: std::str::FromStr>(
    query: &std::collections::HashMap<String, String>,
    name: &str,
) -> Result<Option<T>, HttpError> {
    match query.get(name).map(|v| v.trim()).filter(|v| !v.is_empty()) {
        None => Ok(None),
        Some(v) => v.parse().map(Some).map_err(|_| HttpError::bad_request(format!("invalid {name}: {v:?}"))),
    }
}

/// A 200 answer with a JSON body.
pub(crate) fn ok_json(value: serde_json::Value) -> Response {
    ([("content-type", "application/json")], value.to_string()).into_response()
}

pub(crate) type ApiResult = Result<Response, HttpError>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kafka_names_are_upper_snake_case() {
        assert_eq!(kafka_error_name(ResponseError::TopicAlreadyExists), "TOPIC_ALREADY_EXISTS");
        assert_eq!(kafka_error_name(ResponseError::InvalidReplicationFactor), "INVALID_REPLICATION_FACTOR");
    }
}
