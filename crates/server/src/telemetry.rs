//! Client metrics (KIP-714) on this broker: the subscriptions are the metadata image's
//! CLIENT_METRICS resources, each client instance's schedule is `brook_telemetry`'s, and what
//! clients push is decompressed, decoded and kept as the latest value of each series (sums
//! pushed as deltas are added up), for `/metrics` to export. A client silent for three push
//! intervals (at least a minute) is forgotten with its series.

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;

use brook_telemetry::clients::Push;
use brook_telemetry::otlp::{self, Kind};
use brook_telemetry::{ClientInfo, Clients, Refusal, Subscribed, Subscription};
use bytes::Bytes;
use kafka_protocol::compression::{Decompressor, Gzip, Lz4, Snappy, Zstd};
use kafka_protocol::error::ResponseError;
use tracing::warn;
use uuid::Uuid;

/// One series' latest value.
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    pub value: f64,
    /// A sum (a Prometheus counter) rather than a gauge.
    pub counter: bool,
}

/// A series' labels: (name, value), the client instance id first.
pub type Labels = Vec<(String, String)>;
/// A metric's name and labels.
pub type SeriesKey = (String, Labels);

pub struct Telemetry {
    state: Mutex<State>,
    /// `telemetry.max.bytes`: the largest push taken.
    max_bytes: usize,
}

#[derive(Default)]
struct State {
    clients: Clients,
    /// The subscriptions' configs as last parsed, and what they parsed to.
    seen: BTreeMap<String, BTreeMap<String, String>>,
    subscriptions: Vec<Subscription>,
    /// Each client instance's series.
    series: HashMap<Uuid, BTreeMap<SeriesKey, Series>>,
}

impl State {
    /// Takes the image's subscriptions, if they changed.
    fn refresh(&mut self, configs: &BTreeMap<String, BTreeMap<String, String>>) {
        if &self.seen == configs {
            return;
        }
        self.seen = configs.clone();
        self.subscriptions = configs
            .iter()
            .filter_map(|(name, c)| {
                Subscription::parse(name, c).map_err(|e| warn!(subscription = name, error = ?e, "ignored")).ok()
            })
            .collect();
        self.clients.subscriptions_changed();
    }

    fn expire(&mut self, now_ms: i64) {
        self.clients.expire(now_ms);
        let clients = &self.clients;
        self.series.retain(|id, _| clients.knows(*id));
    }
}

impl Telemetry {
    pub fn new(max_bytes: usize) -> Telemetry {
        Telemetry { state: Mutex::default(), max_bytes }
    }

    /// GetTelemetrySubscriptions.
    pub fn get(
        &self,
        requested: Uuid,
        client: &ClientInfo,
        configs: &BTreeMap<String, BTreeMap<String, String>>,
        now_ms: i64,
    ) -> Result<Subscribed, (ResponseError, String)> {
        let mut state = self.state.lock().expect("telemetry lock");
        state.refresh(configs);
        state.expire(now_ms);
        let State { clients, subscriptions, .. } = &mut *state;
        clients.get(requested, client, subscriptions, now_ms).map_err(refused)
    }

    /// PushTelemetry: checked, then its metrics kept (INVALID_RECORD if they cannot be read).
    pub fn push(
        &self,
        id: Uuid,
        push: Push,
        metrics: &Bytes,
        client: &ClientInfo,
        configs: &BTreeMap<String, BTreeMap<String, String>>,
        now_ms: i64,
    ) -> Result<(), (ResponseError, String)> {
        let mut state = self.state.lock().expect("telemetry lock");
        state.refresh(configs);
        let State { clients, subscriptions, .. } = &mut *state;
        clients.push(id, push, self.max_bytes, client, subscriptions, now_ms).map_err(refused)?;
        if metrics.is_empty() {
            return Ok(());
        }
        let samples = decompress(push.compression, metrics)
            .and_then(|plain| otlp::decode(&plain).map_err(|e| e.0.to_string()))
            .map_err(|e| (ResponseError::InvalidRecord, format!("the pushed metrics could not be read: {e}")))?;
        let series = state.series.entry(id).or_default();
        for sample in samples {
            // The id as Kafka's clients print it (`clientInstanceId()`).
            let mut labels = vec![("client_instance_id".to_string(), brook_controller::cluster_id_from(id))];
            labels.extend(sample.labels);
            let entry = series.entry((sample.name, labels)).or_insert(Series { value: 0.0, counter: false });
            match sample.kind {
                Kind::Sum { delta: true } => *entry = Series { value: entry.value + sample.value, counter: true },
                Kind::Sum { delta: false } => *entry = Series { value: sample.value, counter: true },
                Kind::Gauge => *entry = Series { value: sample.value, counter: false },
            }
        }
        Ok(())
    }

    /// Every series of the clients heard from lately, by metric name.
    pub fn series(&self, now_ms: i64) -> BTreeMap<String, Vec<(Labels, Series)>> {
        let mut state = self.state.lock().expect("telemetry lock");
        state.expire(now_ms);
        let mut by_name: BTreeMap<String, Vec<_>> = BTreeMap::new();
        for ((name, labels), series) in state.series.values().flatten() {
            by_name.entry(name.clone()).or_default().push((labels.clone(), series.clone()));
        }
        by_name
    }
}

fn refused(refusal: Refusal) -> (ResponseError, String) {
    match refusal {
        Refusal::InvalidRequest(m) => (ResponseError::InvalidRequest, m),
        Refusal::Throttled(m) => (ResponseError::ThrottlingQuotaExceeded, m),
        Refusal::UnknownSubscriptionId(m) => (ResponseError::UnknownSubscriptionId, m),
        Refusal::UnsupportedCompressionType(m) => (ResponseError::UnsupportedCompressionType, m),
        Refusal::TelemetryTooLarge(m) => (ResponseError::TelemetryTooLarge, m),
    }
}

/// A push's metrics, decompressed with Kafka's record codecs (the clients frame them alike).
fn decompress(compression: i8, bytes: &Bytes) -> Result<Bytes, String> {
    fn all<D: Decompressor<Bytes>>(bytes: &Bytes) -> Result<Bytes, String> {
        let mut input = bytes.clone();
        D::decompress(&mut input, |plain| Ok(plain.copy_to_bytes(plain.remaining()))).map_err(|e| e.to_string())
    }
    use bytes::Buf as _;
    match compression {
        0 => Ok(bytes.clone()),
        1 => all::<Gzip>(bytes),
        2 => all::<Snappy>(bytes),
        3 => all::<Lz4>(bytes),
        4 => all::<Zstd>(bytes),
        other => Err(format!("compression type {other}")),
    }
}
