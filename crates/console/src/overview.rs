//! The overview: the cluster's brokers (live, fenced or shutting down, and what they lead),
//! partitions under-replicated or offline, totals over this broker's copies, and traffic rates.

use axum::Extension;
use axum::extract::State;
use brook_server::authorization::Access;
use serde_json::json;

use crate::AppState;
use crate::groups;
use crate::http::{ApiResult, ok_json};
use crate::topics::{offline, totals, under_replicated, visible};

/// Totals count the topics and groups the user may describe.
pub(crate) async fn overview(State(state): State<AppState>, Extension(access): Extension<Access>) -> ApiResult {
    let broker = &state.broker;
    let metadata = broker.metadata();
    let topics = visible(broker, &access);
    let (mut partitions, mut messages, mut size_bytes) = (0, 0, 0);
    for topic in &topics {
        let t = totals(broker, topic);
        partitions += topic.partitions;
        messages += t.messages;
        size_bytes += t.size_bytes;
    }
    let rates = state.history.rates();
    let config = &broker.config;
    let controller = broker.active_controller();
    // Every registered broker, live or not, with the partitions it leads.
    let listener = &config.inter_broker_listener;
    let brokers: Vec<_> = metadata
        .brokers
        .values()
        .map(|b| {
            let endpoint = b.endpoint(listener);
            let status = match (b.fenced, b.shutting_down) {
                (true, _) => "fenced",
                (false, true) => "shutting down",
                (false, false) => "live",
            };
            let leads: usize =
                topics.iter().map(|t| t.assignments.iter().filter(|p| p.leader == b.node_id).count()).sum();
            json!({
                "node_id": b.node_id,
                "host": endpoint.map(|e| e.host.clone()),
                "port": endpoint.map(|e| e.port),
                "rack": b.rack,
                "status": status,
                "leads": leads,
                "controller": Some(b.node_id) == controller,
            })
        })
        .collect();
    let all_partitions = || topics.iter().flat_map(|t| t.assignments.iter());
    let under_replicated = all_partitions().filter(|p| under_replicated(p)).count();
    let offline = all_partitions().filter(|p| offline(p)).count();
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
        "topics": topics.len(),
        "partitions": partitions,
        "under_replicated_partitions": under_replicated,
        "offline_partitions": offline,
        "messages": messages,
        "size_bytes": size_bytes,
        "connections": broker.stats.connections_open(),
        "consumer_groups": groups::visible(broker, &access).len(),
        "rates": {
            "produce_records_per_sec": rates.records_in,
            "produce_bytes_per_sec": rates.bytes_in,
            "fetch_records_per_sec": rates.records_out,
            "fetch_bytes_per_sec": rates.bytes_out,
        },
        "sample_interval_ms": config.console.sample_interval_ms,
    })))
}
