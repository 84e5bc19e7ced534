//! What the broker counts as it serves: requests and their latency per API, connections, and
//! (in `PartitionStats`, held by each partition) records and bytes in and out. The console's
//! `/metrics` page renders these; updating them is one relaxed atomic add.

use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use brook_metrics::{Counter, Histogram};
use kafka_protocol::messages::ApiKey;

/// API keys are small numbers (Kafka's highest is below 100); one slot each.
const API_KEY_SLOTS: usize = 128;

pub struct BrokerStats {
    /// Time from a request's decoding to its response being ready, per API key.
    requests: Vec<Histogram>,
    connections_open: AtomicI64,
    pub connections_accepted: Counter,
}

impl Default for BrokerStats {
    fn default() -> BrokerStats {
        BrokerStats {
            requests: (0..API_KEY_SLOTS).map(|_| Histogram::default()).collect(),
            connections_open: AtomicI64::new(0),
            connections_accepted: Counter::default(),
        }
    }
}

impl BrokerStats {
    pub fn request_served(&self, api: ApiKey, elapsed: Duration) {
        if let Some(histogram) = self.requests.get(api as usize) {
            histogram.observe(elapsed);
        }
    }

    /// Every API that has been called, with its latency histogram.
    pub fn requests(&self) -> impl Iterator<Item = (ApiKey, &Histogram)> {
        self.requests.iter().enumerate().filter_map(|(key, histogram)| {
            let api = ApiKey::try_from(i16::try_from(key).ok()?).ok()?;
            (histogram.snapshot().count() > 0).then_some((api, histogram))
        })
    }

    /// Counts a connection as open until the guard is dropped.
    pub fn connection_opened(&self) -> ConnectionGuard<'_> {
        self.connections_accepted.add(1);
        self.connections_open.fetch_add(1, Ordering::Relaxed);
        ConnectionGuard(self)
    }

    pub fn connections_open(&self) -> i64 {
        self.connections_open.load(Ordering::Relaxed)
    }
}

pub struct ConnectionGuard<'a>(&'a BrokerStats);

impl Drop for ConnectionGuard<'_> {
    fn drop(&mut self) {
        self.0.connections_open.fetch_sub(1, Ordering::Relaxed);
    }
}

/// One partition's traffic since the broker started.
#[derive(Debug, Default)]
pub struct PartitionStats {
    pub records_in: Counter,
    pub bytes_in: Counter,
    pub records_out: Counter,
    pub bytes_out: Counter,
}

/// The records in a run of whole batches (a fetch response's bytes).
pub fn count_records(bytes: &[u8]) -> u64 {
    brook_log::batch::whole_batches(bytes).map(|(header, _)| header.records_count.max(0) as u64).sum()
}
