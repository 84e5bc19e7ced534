//! `GET /metrics`: the broker's figures in Prometheus' text format.

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use brook_metrics::{Exposition, Kind};
use brook_server::broker::Broker;

use crate::AppState;
use crate::groups;

pub(crate) async fn metrics(State(state): State<AppState>, headers: HeaderMap) -> Response {
    if let Some(token) = &state.broker.config.console.metrics_token {
        let given =
            headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()).and_then(|v| v.strip_prefix("Bearer "));
        if !given.is_some_and(|g| brook_security::constant_time_eq(g.trim().as_bytes(), token.0.as_bytes())) {
            let challenge = [(header::WWW_AUTHENTICATE, "Bearer realm=\"brook metrics\"")];
            return (
                StatusCode::UNAUTHORIZED,
                challenge,
                "a bearer token is required (console.metrics.bearer.token)\n",
            )
                .into_response();
        }
    }
    let page = render(&state.broker);
    ([("content-type", "text/plain; version=0.0.4; charset=utf-8")], page).into_response()
}

fn render(broker: &Broker) -> String {
    let mut page = Exposition::default();
    let node = broker.config.node_id.to_string();
    let cluster = broker.cluster_id();
    page.family("brook_broker_info", Kind::Gauge, "This broker: node id, cluster id and version.");
    page.sample(
        "brook_broker_info",
        &[("node_id", &node), ("cluster_id", &cluster), ("version", env!("CARGO_PKG_VERSION"))],
        1.0,
    );

    page.family("brook_brokers", Kind::Gauge, "Live (registered, unfenced) brokers in the cluster.");
    page.sample("brook_brokers", &[], broker.live_brokers().len() as f64);
    if let Some(q) = broker.quorum_status() {
        page.family(
            "brook_quorum_leader",
            Kind::Gauge,
            "The metadata quorum's leader (the active controller); -1 if none.",
        );
        page.sample("brook_quorum_leader", &[], q.leader.map_or(-1.0, |l| l as f64));
        page.family("brook_quorum_term", Kind::Gauge, "The metadata quorum's term (KRaft's leader epoch).");
        page.sample("brook_quorum_term", &[], q.term as f64);
        page.family("brook_quorum_applied_index", Kind::Gauge, "Metadata log entries applied on this node.");
        page.sample("brook_quorum_applied_index", &[], q.applied_end as f64);
        page.family(
            "brook_quorum_voter_lag",
            Kind::Gauge,
            "Entries each voter is behind the leader (on the leader only).",
        );
        for v in q.voters.iter().filter(|v| v.log_end >= 0) {
            let id = v.node_id.to_string();
            page.sample("brook_quorum_voter_lag", &[("voter", &id)], (q.log_end as i64 - v.log_end) as f64);
        }
    }

    let mut partitions = broker.partitions();
    partitions.sort_by(|a, b| (&a.topic, a.index).cmp(&(&b.topic, b.index)));
    let topics = broker.metadata().topics().count();
    page.family("brook_topics", Kind::Gauge, "Topics hosted, internal ones included.");
    page.sample("brook_topics", &[], topics as f64);
    page.family("brook_partitions", Kind::Gauge, "Partitions hosted.");
    page.sample("brook_partitions", &[], partitions.len() as f64);

    type Figure = fn(&brook_server::partition::Partition) -> f64;
    let per_partition: [(&str, Kind, &str, Figure); 8] = [
        ("brook_partition_records_in_total", Kind::Counter, "Records appended by producers.", |p| {
            p.stats.records_in.get() as f64
        }),
        ("brook_partition_bytes_in_total", Kind::Counter, "Bytes of record batches appended by producers.", |p| {
            p.stats.bytes_in.get() as f64
        }),
        ("brook_partition_records_out_total", Kind::Counter, "Records sent to fetchers (consumers).", |p| {
            p.stats.records_out.get() as f64
        }),
        ("brook_partition_bytes_out_total", Kind::Counter, "Bytes of record batches sent to fetchers.", |p| {
            p.stats.bytes_out.get() as f64
        }),
        ("brook_log_size_bytes", Kind::Gauge, "Bytes of the partition's log segments on disk.", |p| {
            p.log.size_bytes() as f64
        }),
        ("brook_log_segments", Kind::Gauge, "Segments in the partition's log.", |p| p.log.segment_count() as f64),
        ("brook_log_start_offset", Kind::Gauge, "The partition's first offset.", |p| p.log.log_start_offset() as f64),
        ("brook_log_end_offset", Kind::Gauge, "The partition's high watermark.", |p| p.log.high_watermark() as f64),
    ];
    for (name, kind, help, figure) in per_partition {
        page.family(name, kind, help);
        for p in &partitions {
            let index = p.index.to_string();
            page.sample(name, &[("topic", &p.topic), ("partition", &index)], figure(p));
        }
    }

    let name = "brook_request_duration_seconds";
    page.family(name, Kind::Histogram, "Time from a request's arrival to its response, per Kafka API.");
    for (api, histogram) in broker.stats.requests() {
        page.histogram(name, &[("api", &format!("{api:?}"))], &histogram.snapshot());
    }
    page.family("brook_fsync_duration_seconds", Kind::Histogram, "Time each fdatasync of a log file took.");
    page.histogram("brook_fsync_duration_seconds", &[], &broker.sync_latency().snapshot());

    page.family("brook_connections", Kind::Gauge, "Client connections open now.");
    page.sample("brook_connections", &[], broker.stats.connections_open() as f64);
    page.family("brook_connections_accepted_total", Kind::Counter, "Client connections accepted.");
    page.sample("brook_connections_accepted_total", &[], broker.stats.connections_accepted.get() as f64);

    let views = groups::all(broker);
    let mut by_state = std::collections::BTreeMap::<(&str, &str), usize>::new();
    for g in &views {
        *by_state.entry((g.kind, g.state.as_str())).or_default() += 1;
    }
    page.family("brook_consumer_groups", Kind::Gauge, "Consumer groups, by protocol and state.");
    for ((kind, state), count) in by_state {
        page.sample("brook_consumer_groups", &[("type", kind), ("state", state)], count as f64);
    }
    page.family("brook_consumer_group_members", Kind::Gauge, "Members of each consumer group.");
    for g in &views {
        page.sample("brook_consumer_group_members", &[("group", &g.id)], g.members.len() as f64);
    }
    page.family("brook_consumer_group_lag", Kind::Gauge, "Records between a group's committed offset and the end.");
    for g in &views {
        for row in groups::lag(broker, g) {
            if let Some(lag) = row.lag {
                let partition = row.partition.to_string();
                page.sample(
                    "brook_consumer_group_lag",
                    &[("group", &g.id), ("topic", &row.topic), ("partition", &partition)],
                    lag as f64,
                );
            }
        }
    }
    client_metrics(broker, &mut page);
    page.finish()
}

/// What clients pushed (KIP-714), each metric under its OpenTelemetry name made a Prometheus
/// one (`org.apache.kafka.producer.record.queue.time.avg` ->
/// `org_apache_kafka_producer_record_queue_time_avg`), labelled with the client instance id and
/// the client's attributes.
fn client_metrics(broker: &Broker, page: &mut Exposition) {
    for (name, series) in broker.telemetry.series(broker.clock.now_ms()) {
        let name = prometheus_name(&name);
        let kind = if series.iter().all(|(_, s)| s.counter) { Kind::Counter } else { Kind::Gauge };
        page.family(&name, kind, "Pushed by Kafka clients (client metrics, KIP-714).");
        for (labels, s) in &series {
            let labels: Vec<(String, &str)> = labels.iter().map(|(k, v)| (prometheus_name(k), v.as_str())).collect();
            let labels: Vec<(&str, &str)> = labels.iter().map(|(k, v)| (k.as_str(), *v)).collect();
            page.sample(&name, &labels, s.value);
        }
    }
}

/// Letters, digits and `_` (and not a digit first), as Prometheus names are.
fn prometheus_name(name: &str) -> String {
    let mut out: String = name.chars().map(|c| if c.is_ascii_alphanumeric() { c } else { '_' }).collect();
    if out.starts_with(|c: char| c.is_ascii_digit()) {
        out.insert(0, '_');
    }
    out
}
