//! The message browser and the produce form's endpoint.
//!
//! Browsing reads a partition's log through the same path a Fetch does (whole batches up to
//! the high watermark), decodes the records, and keeps those that match the filters. Scans are
//! bounded so that a filter that matches nothing on a large topic answers promptly.

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::time::Duration;

use axum::Extension;
use axum::body::Body;
use axum::extract::{Path, Query, State};
use brook_log::batch::{BatchHeader, whole_batches};
use brook_log::{Durability, ReadBound, TimestampLookup};
use brook_security::acl::Operation;
use brook_server::authorization::Access;
use brook_server::broker::Broker;
use brook_server::broker::TopicMeta;
use brook_server::handlers::produce::append_batch;
use brook_server::partition::Partition;
use brook_server::records::decode_all;
use bytes::{Bytes, BytesMut};
use kafka_protocol::protocol::StrBytes;
use kafka_protocol::records::{Compression, Record, RecordBatchEncoder, RecordEncodeOptions, TimestampType};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::AppState;
use crate::http::{ApiResult, HttpError, ok_json, parse_body, query_param, read_body};
use crate::topics::{find, is_internal};

/// Messages a browse returns when `limit` is not given, and at most.
const DEFAULT_LIMIT: usize = 50;
const MAX_LIMIT: usize = 1_000;
/// Records examined per partition before a filtered browse gives up looking.
const MAX_SCANNED_PER_PARTITION: usize = 100_000;
/// Bytes read from the log per step.
const READ_BYTES: usize = 1 << 20;
/// A key or value longer than this is cut in the answer (the browser is for looking).
const MAX_SHOWN_BYTES: usize = 64 * 1024;
/// How long the produce form waits for its record to be durable before answering 500.
const PRODUCE_TIMEOUT: Duration = Duration::from_secs(30);

/// Where in each partition a browse starts.
enum Start {
    Offset(i64),
    Timestamp(i64),
    /// The newest `limit` (matching) messages.
    Newest,
}

struct Filters {
    key: Option<String>,
    value: Option<String>,
}

impl Filters {
    fn matches(&self, record: &Record) -> bool {
        let contains = |data: &Option<Bytes>, needle: &Option<String>| match needle {
            None => true,
            Some(needle) => {
                data.as_ref().is_some_and(|d| String::from_utf8_lossy(d).to_lowercase().contains(needle.as_str()))
            }
        };
        contains(&record.key, &self.key) && contains(&record.value, &self.value)
    }

    fn any(&self) -> bool {
        self.key.is_some() || self.value.is_some()
    }
}

pub(crate) async fn browse(
    State(state): State<AppState>,
    Extension(access): Extension<Access>,
    Path(name): Path<String>,
    Query(query): Query<HashMap<String, String>>,
) -> ApiResult {
    let topic = find(&state.broker, &access, Operation::Read, &name)?;
    let partition: Option<i32> = query_param(&query, "partition")?;
    let offset: Option<i64> = query_param(&query, "offset")?;
    let timestamp: Option<i64> = query_param(&query, "timestamp")?;
    let newest: Option<usize> = query_param(&query, "newest")?;
    let limit = newest.or(query_param(&query, "limit")?).unwrap_or(DEFAULT_LIMIT);
    if limit == 0 || limit > MAX_LIMIT {
        return Err(HttpError::bad_request(format!("limit must be between 1 and {MAX_LIMIT}")));
    }
    let start = match (offset, timestamp, newest) {
        (Some(o), None, None) if o >= 0 => Start::Offset(o),
        (Some(_), None, None) => return Err(HttpError::bad_request("offset must not be negative")),
        (None, Some(t), None) => Start::Timestamp(t),
        (None, None, _) => Start::Newest,
        _ => return Err(HttpError::bad_request("give at most one of offset, timestamp and newest")),
    };
    let lower = |name: &str| query.get(name).map(|s| s.to_lowercase()).filter(|s| !s.is_empty());
    let filters = Filters { key: lower("key"), value: lower("value") };
    let partitions = match partition {
        Some(p) => vec![find_partition(&state.broker, &topic, p)?],
        None => (0..topic.partitions).filter_map(|i| state.broker.partition(&topic.name, i)).collect(),
    };
    let newest_mode = matches!(start, Start::Newest);
    let (mut found, scanned) = tokio::task::spawn_blocking(move || {
        let mut found = Vec::new();
        let mut scanned = 0;
        for p in &partitions {
            let (records, n) = scan(p, &start, &filters, limit)?;
            scanned += n;
            found.extend(records.into_iter().map(|r| (p.index, r)));
        }
        Ok::<_, HttpError>((found, scanned))
    })
    .await
    .map_err(|e| HttpError::internal(e.to_string()))??;
    // Across partitions, by time: the first `limit` from a starting point, the last `limit` newest.
    found.sort_by_key(|(p, r)| (r.timestamp, *p, r.offset));
    if found.len() > limit {
        if newest_mode {
            found.drain(..found.len() - limit);
        } else {
            found.truncate(limit);
        }
    }
    let messages: Vec<Value> = found.iter().map(|(p, r)| message_json(*p, r)).collect();
    Ok(ok_json(json!({ "topic": topic.name, "messages": messages, "scanned": scanned })))
}

/// Reads one partition from its start point: up to `limit` matching records, and how many
/// were examined.
fn scan(
    partition: &Partition,
    start: &Start,
    filters: &Filters,
    limit: usize,
) -> Result<(Vec<Record>, usize), HttpError> {
    let log = &partition.log;
    let (log_start, end) = (log.log_start_offset(), log.high_watermark());
    let (mut offset, min_timestamp) = match start {
        Start::Offset(o) => (*o.max(&log_start), i64::MIN),
        Start::Timestamp(t) => match log.offset_for_timestamp(*t).map_err(|e| HttpError::internal(e.to_string()))? {
            None => return Ok((Vec::new(), 0)),
            Some(TimestampLookup::Found { offset, .. }) => (offset, *t),
            Some(TimestampLookup::InCompressedBatch(batch)) => {
                let base = BatchHeader::parse(&batch).map_or(log_start, |h| h.base_offset);
                (base, *t)
            }
        },
        Start::Newest if filters.any() => ((end - MAX_SCANNED_PER_PARTITION as i64).max(log_start), i64::MIN),
        Start::Newest => ((end - limit as i64).max(log_start), i64::MIN),
    };
    let keep_last = matches!(start, Start::Newest);
    let mut found = Vec::new();
    let mut scanned = 0;
    while offset < end && scanned < MAX_SCANNED_PER_PARTITION && (keep_last || found.len() < limit) {
        let bytes =
            log.read(offset, READ_BYTES, ReadBound::HighWatermark).map_err(|e| HttpError::internal(e.to_string()))?;
        let before = offset;
        for (header, batch) in whole_batches(&bytes) {
            if !header.is_control() {
                let records = decode_all(batch).map_err(HttpError::internal)?;
                for record in records.into_iter().filter(|r| r.offset >= offset) {
                    scanned += 1;
                    if record.timestamp >= min_timestamp && filters.matches(&record) {
                        found.push(record);
                    }
                }
            }
            offset = offset.max(header.next_offset());
        }
        if offset == before {
            break; // nothing readable below the high watermark (an empty read)
        }
        if keep_last && found.len() > limit {
            found.drain(..found.len() - limit);
        }
    }
    if !keep_last {
        found.truncate(limit);
    }
    Ok((found, scanned))
}

fn message_json(partition: i32, r: &Record) -> Value {
    let headers: Vec<Value> =
        r.headers.iter().map(|(k, v)| json!({ "key": k.as_str(), "value": v.as_ref().map(|v| display(v)) })).collect();
    json!({
        "partition": partition,
        "offset": r.offset,
        "timestamp": r.timestamp,
        "timestamp_type": if r.timestamp_type == TimestampType::LogAppend { "LogAppendTime" } else { "CreateTime" },
        "key": r.key.as_ref().map(|k| display(k)),
        "value": r.value.as_ref().map(|v| display(v)),
        "headers": headers,
    })
}

/// How the console shows bytes: JSON pretty-printed, UTF-8 text, or hex for anything else.
fn display(data: &[u8]) -> Value {
    let truncated = data.len() > MAX_SHOWN_BYTES;
    let shown = &data[..data.len().min(MAX_SHOWN_BYTES)];
    let (format, text) = match std::str::from_utf8(data) {
        Ok(text) => match serde_json::from_str::<Value>(text) {
            Ok(parsed) if !truncated && (parsed.is_object() || parsed.is_array()) => {
                ("json", serde_json::to_string_pretty(&parsed).unwrap_or_else(|_| text.to_string()))
            }
            _ => ("text", String::from_utf8_lossy(shown).into_owned()),
        },
        Err(_) => ("binary", shown.iter().map(|b| format!("{b:02x}")).collect::<Vec<_>>().join(" ")),
    };
    json!({ "format": format, "text": text, "size": data.len(), "truncated": truncated })
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ProduceMessage {
    #[serde(default)]
    key: Option<String>,
    #[serde(default)]
    value: Option<String>,
    #[serde(default)]
    headers: Vec<Header>,
    #[serde(default)]
    partition: Option<i32>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Header {
    key: String,
    #[serde(default)]
    value: Option<String>,
}

pub(crate) async fn produce(
    State(state): State<AppState>,
    Extension(access): Extension<Access>,
    Path(name): Path<String>,
    body: Body,
) -> ApiResult {
    let request: ProduceMessage = parse_body(&read_body(body).await?)?;
    let topic = find(&state.broker, &access, Operation::Write, &name)?;
    if is_internal(&topic.name) {
        return Err(HttpError::bad_request(format!("Topic '{name}' is internal: only the broker writes to it.")));
    }
    if request.headers.iter().any(|h| h.key.is_empty()) {
        return Err(HttpError::bad_request("a header needs a key"));
    }
    let index = match (request.partition, &request.key) {
        (Some(p), _) => p,
        // Kafka's default partitioner: murmur2 of the key, so the console agrees with the
        // Java client and the console producer on where a key goes.
        (None, Some(key)) => (to_positive(murmur2(key.as_bytes())) % topic.partitions as u32) as i32,
        (None, None) => (state.next_partition.fetch_add(1, Ordering::Relaxed) % topic.partitions as u32) as i32,
    };
    let partition = find_partition(&state.broker, &topic, index)?;
    let timestamp = state.broker.clock.now_ms();
    let record = Record {
        transactional: false,
        control: false,
        delete_horizon: false,
        partition_leader_epoch: -1,
        producer_id: -1,
        producer_epoch: -1,
        timestamp_type: TimestampType::Creation,
        offset: 0,
        sequence: -1,
        timestamp,
        key: request.key.map(Bytes::from),
        value: request.value.map(Bytes::from),
        headers: request
            .headers
            .into_iter()
            .map(|h| (StrBytes::from_string(h.key), h.value.map(Bytes::from)))
            .collect(),
    };
    let mut batch = BytesMut::new();
    let options = RecordEncodeOptions { version: 2, compression: Compression::None };
    RecordBatchEncoder::encode(&mut batch, [&record], &options).map_err(|e| HttpError::internal(e.to_string()))?;
    let (appended, leader_epoch) = append_batch(&partition, &topic, batch.freeze(), Durability::Sync)?;
    let committed = partition.wait_committed(appended.last_offset + 1, leader_epoch);
    match tokio::time::timeout(PRODUCE_TIMEOUT, committed).await {
        Ok(Ok(())) => {}
        Ok(Err(code)) => return Err(HttpError::internal(format!("the message was not committed: {code:?}"))),
        Err(_) => return Err(HttpError::internal("the message was not acknowledged in time")),
    }
    let timestamp = if appended.log_append_time_ms >= 0 { appended.log_append_time_ms } else { timestamp };
    Ok(ok_json(json!({
        "topic": topic.name,
        "partition": index,
        "offset": appended.base_offset,
        "timestamp": timestamp,
    })))
}

fn find_partition(broker: &Broker, topic: &TopicMeta, index: i32) -> Result<std::sync::Arc<Partition>, HttpError> {
    broker.partition(&topic.name, index).ok_or_else(|| {
        HttpError::bad_request(format!(
            "Partition {index} does not exist: topic '{}' has partitions 0 to {}.",
            topic.name,
            topic.partitions - 1
        ))
    })
}

/// Kafka's `Utils.murmur2` (seed 0x9747b28c), which its default partitioner hashes keys with.
fn murmur2(data: &[u8]) -> i32 {
    const M: u32 = 0x5bd1_e995;
    const R: u32 = 24;
    let mut h: u32 = 0x9747_b28c ^ data.len() as u32;
    let mut chunks = data.chunks_exact(4);
    for chunk in &mut chunks {
        let mut k = u32::from_le_bytes([chunk[0], chunk[1], chunk[2], chunk[3]]);
        k = k.wrapping_mul(M);
        k ^= k >> R;
        k = k.wrapping_mul(M);
        h = h.wrapping_mul(M);
        h ^= k;
    }
    let tail = chunks.remainder();
    if tail.len() >= 3 {
        h ^= u32::from(tail[2]) << 16;
    }
    if tail.len() >= 2 {
        h ^= u32::from(tail[1]) << 8;
    }
    if let Some(&first) = tail.first() {
        h ^= u32::from(first);
        h = h.wrapping_mul(M);
    }
    h ^= h >> 13;
    h = h.wrapping_mul(M);
    h ^= h >> 15;
    h as i32
}

/// Kafka's `Utils.toPositive`: clears the sign bit.
fn to_positive(n: i32) -> u32 {
    (n & 0x7fff_ffff) as u32
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn murmur2_matches_kafka() {
        // Values from Kafka's UtilsTest.testMurmur2.
        let cases: [(&[u8], i32); 3] =
            [(b"21", -973932308), (b"foobar", -790332482), (b"a-little-bit-long-string", -985981536)];
        for (data, expected) in cases {
            assert_eq!(murmur2(data), expected, "{}", String::from_utf8_lossy(data));
        }
    }

    #[test]
    fn display_picks_json_text_or_hex() {
        assert_eq!(display(br#"{"a":1}"#)["format"], "json");
        assert_eq!(display(br#"{"a":1}"#)["text"], "{\n  \"a\": 1\n}");
        assert_eq!(display(b"hello")["format"], "text");
        assert_eq!(display(b"42")["format"], "text");
        assert_eq!(display(&[0xff, 0x00, 0x10])["text"], "ff 00 10");
        assert_eq!(display(&[0xff, 0x00, 0x10])["format"], "binary");
    }
}
