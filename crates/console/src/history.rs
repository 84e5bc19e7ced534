//! Samples taken every `console.sample.interval.ms`: the broker's traffic totals (for the
//! overview's rates) and each consumer group's total lag (for its chart). Kept for
//! `HISTORY_MS` and at most `MAX_SAMPLES` samples per series.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;

use brook_server::broker::Broker;

use crate::groups;

const HISTORY_MS: i64 = 30 * 60 * 1000;
const MAX_SAMPLES: usize = 720;

#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Traffic {
    pub(crate) at_ms: i64,
    pub(crate) records_in: u64,
    pub(crate) bytes_in: u64,
    pub(crate) records_out: u64,
    pub(crate) bytes_out: u64,
}

/// Per-second rates between two samples.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub(crate) struct Rates {
    pub(crate) records_in: f64,
    pub(crate) bytes_in: f64,
    pub(crate) records_out: f64,
    pub(crate) bytes_out: f64,
}

#[derive(Default)]
pub(crate) struct History {
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    traffic: VecDeque<Traffic>,
    lag: HashMap<String, VecDeque<(i64, i64)>>,
}

fn push<T>(series: &mut VecDeque<T>, sample: T, at_ms: impl Fn(&T) -> i64, now_ms: i64) {
    series.push_back(sample);
    while series.len() > MAX_SAMPLES || series.front().is_some_and(|s| at_ms(s) < now_ms - HISTORY_MS) {
        series.pop_front();
    }
}

impl History {
    /// Takes one sample of everything.
    pub(crate) fn sample(&self, broker: &Broker) {
        let now_ms = broker.clock.now_ms();
        let mut traffic = Traffic { at_ms: now_ms, ..Traffic::default() };
        for p in broker.partitions() {
            traffic.records_in += p.stats.records_in.get();
            traffic.bytes_in += p.stats.bytes_in.get();
            traffic.records_out += p.stats.records_out.get();
            traffic.bytes_out += p.stats.bytes_out.get();
        }
        let lags: Vec<(String, i64)> = groups::all(broker)
            .into_iter()
            .map(|g| {
                let lag = groups::total_lag(&groups::lag(broker, &g));
                (g.id, lag)
            })
            .collect();
        let mut inner = self.inner.lock().expect("history lock");
        push(&mut inner.traffic, traffic, |t| t.at_ms, now_ms);
        let live: std::collections::HashSet<&String> = lags.iter().map(|(id, _)| id).collect();
        inner.lag.retain(|id, _| live.contains(id));
        for (id, lag) in lags {
            push(inner.lag.entry(id).or_default(), (now_ms, lag), |s| s.0, now_ms);
        }
    }

    /// Rates over the last sampling interval (zero until two samples exist).
    pub(crate) fn rates(&self) -> Rates {
        let inner = self.inner.lock().expect("history lock");
        let n = inner.traffic.len();
        if n < 2 {
            return Rates::default();
        }
        let (a, b) = (inner.traffic[n - 2], inner.traffic[n - 1]);
        let seconds = (b.at_ms - a.at_ms).max(1) as f64 / 1000.0;
        let rate = |x: u64, y: u64| y.saturating_sub(x) as f64 / seconds;
        Rates {
            records_in: rate(a.records_in, b.records_in),
            bytes_in: rate(a.bytes_in, b.bytes_in),
            records_out: rate(a.records_out, b.records_out),
            bytes_out: rate(a.bytes_out, b.bytes_out),
        }
    }

    /// A group's (time in ms, total lag) samples, oldest first.
    pub(crate) fn lag(&self, group: &str) -> Vec<(i64, i64)> {
        let inner = self.inner.lock().expect("history lock");
        inner.lag.get(group).map(|s| s.iter().copied().collect()).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn series_keep_the_window_and_the_cap() {
        let mut series = VecDeque::new();
        for i in 0..(MAX_SAMPLES as i64 + 10) {
            push(&mut series, (i, i), |s| s.0, i);
        }
        assert_eq!(series.len(), MAX_SAMPLES);
        assert_eq!(series.front().unwrap().0, 10);
        push(&mut series, (HISTORY_MS + 500, 0), |s| s.0, HISTORY_MS + 500);
        assert!(series.iter().all(|s| s.0 >= 500), "samples older than the window are dropped");
    }
}
