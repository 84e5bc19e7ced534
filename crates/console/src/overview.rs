//! The overview: the broker, totals over its topics, and traffic rates.

use axum::extract::State;
use serde_json::json;

use crate::AppState;
use crate::http::{ApiResult, ok_json};
use crate::topics::totals;

pub(crate) async fn overview(State(state): State<AppState>) -> ApiResult {
    let broker = &state.broker;
    let metadata = broker.metadata();
    let (mut partitions, mut messages, mut size_bytes) = (0, 0, 0);
    for topic in metadata.topics() {
        let t = totals(broker, topic);
        partitions += topic.partitions;
        messages += t.messages;
        size_bytes += t.size_bytes;
    }
    let rates = state.history.rates();
    let config = &broker.config;
    let live = broker.live_brokers();
    let controller = broker.active_controller();
    let brokers: Vec<_> = live
        .iter()
        .map(|b| json!({"node_id": b.node_id, "host": b.host, "port": b.port, "rack": b.rack, "controller": Some(b.node_id) == controller}))
        .collect();
    let quorum = broker.quorum_status().map(|q| {
        json!({
            "leader": q.leader,
            "term": q.term,
            "applied_index": q.applied_end,
            "voters": q.voters.iter().map(|v| json!({
                "node_id": v.node_id,
                "log_end": v.log_end,
                "lag": (v.log_end >= 0).then(|| q.log_end as i64 - v.log_end),
            })).collect::<Vec<_>>(),
        })
    });
    Ok(ok_json(json!({
        "cluster_id": broker.cluster_id(),
        "version": env!("CARGO_PKG_VERSION"),
        "node_id": config.node_id,
        "brokers": brokers,
        "controller": controller,
        "quorum": quorum,
        "topics": metadata.topics().count(),
        "partitions": partitions,
        "messages": messages,
        "size_bytes": size_bytes,
        "connections": broker.stats.connections_open(),
        "consumer_groups": broker.groups.list().len(),
        "rates": {
            "produce_records_per_sec": rates.records_in,
            "produce_bytes_per_sec": rates.bytes_in,
            "fetch_records_per_sec": rates.records_out,
            "fetch_bytes_per_sec": rates.bytes_out,
        },
        "sample_interval_ms": config.console.sample_interval_ms,
    })))
}
