//! The simulated network: links between endpoints that deliver in order (as TCP does), with a
//! base latency, slow links, and cut links that drop what is sent over them.

use std::collections::{BTreeMap, BTreeSet};

use brook_log::sim::Rng;

/// An endpoint: 0 the controller, 1.. the brokers, `CLIENT` the producer and consumer.
pub(crate) type Endpoint = i32;
pub(crate) const CONTROLLER: Endpoint = 0;
pub(crate) const CLIENT: Endpoint = 1000;

#[derive(Default)]
pub(crate) struct Network {
    /// Directed links that drop everything (`from`, `to`).
    cut: BTreeSet<(Endpoint, Endpoint)>,
    /// Directed links with extra delay: (delay, jitter) in ms.
    slow: BTreeMap<(Endpoint, Endpoint), (i64, i64)>,
    /// The latest delivery time per directed link, so that a link never reorders.
    last: BTreeMap<(Endpoint, Endpoint), i64>,
}

impl Network {
    /// When a message sent now from `from` to `to` arrives, or `None` if the link drops it.
    pub(crate) fn delivery(&mut self, from: Endpoint, to: Endpoint, now: i64, rng: &mut Rng) -> Option<i64> {
        if self.cut.contains(&(from, to)) {
            return None;
        }
        let (delay, jitter) = self.slow.get(&(from, to)).copied().unwrap_or((0, 0));
        let base = 1 + rng.below(2) as i64 + delay + rng.below(jitter as u64 + 1) as i64;
        let at = (now + base).max(self.last.get(&(from, to)).copied().unwrap_or(0));
        self.last.insert((from, to), at);
        Some(at)
    }

    /// Drops everything from `from` to `to` until healed.
    pub(crate) fn cut(&mut self, from: Endpoint, to: Endpoint) {
        self.cut.insert((from, to));
    }

    /// Delays everything between `a` and `b`, both ways.
    pub(crate) fn slow(&mut self, a: Endpoint, b: Endpoint, delay: i64, jitter: i64) {
        self.slow.insert((a, b), (delay, jitter));
        self.slow.insert((b, a), (delay, jitter));
    }

    pub(crate) fn heal(&mut self) {
        self.cut.clear();
        self.slow.clear();
    }
}
