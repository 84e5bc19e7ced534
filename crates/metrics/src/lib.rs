//! Lock-free counters and latency histograms that hot paths update with one atomic add, and
//! the Prometheus text exposition format (version 0.0.4) they are scraped in.
//!
//! This crate sits below every other Brook crate so that the storage engine can time its
//! fdatasyncs and the server its requests with the same types the `/metrics` page renders.

use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// A monotonically increasing count.
#[derive(Debug, Default)]
pub struct Counter(AtomicU64);

impl Counter {
    pub fn add(&self, n: u64) {
        self.0.fetch_add(n, Ordering::Relaxed);
    }

    pub fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

/// Upper bounds (seconds) of the latency buckets: 50 µs to 10 s, roughly 1-2.5-5 steps, which
/// covers a page-cache read and a slow disk's fdatasync alike.
pub const LATENCY_BUCKETS: [f64; 17] =
    [0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0];

/// A latency histogram with Prometheus' cumulative-bucket semantics at scrape time. Each
/// observation lands in one (non-cumulative) slot; the last slot is `+Inf`.
#[derive(Debug, Default)]
pub struct Histogram {
    slots: [AtomicU64; LATENCY_BUCKETS.len() + 1],
    sum_nanos: AtomicU64,
}

/// A histogram read at one moment.
#[derive(Debug, Clone, PartialEq)]
pub struct HistogramSnapshot {
    /// Cumulative counts, one per `LATENCY_BUCKETS` bound, then `+Inf` (= the count).
    pub cumulative: Vec<u64>,
    pub sum_seconds: f64,
}

impl HistogramSnapshot {
    pub fn count(&self) -> u64 {
        self.cumulative.last().copied().unwrap_or(0)
    }
}

impl Histogram {
    pub fn observe(&self, elapsed: Duration) {
        let seconds = elapsed.as_secs_f64();
        let slot = LATENCY_BUCKETS.iter().position(|&bound| seconds <= bound).unwrap_or(LATENCY_BUCKETS.len());
        self.slots[slot].fetch_add(1, Ordering::Relaxed);
        let nanos = u64::try_from(elapsed.as_nanos()).unwrap_or(u64::MAX);
        self.sum_nanos.fetch_add(nanos, Ordering::Relaxed);
    }

    pub fn snapshot(&self) -> HistogramSnapshot {
        let mut running = 0;
        let cumulative = self
            .slots
            .iter()
            .map(|slot| {
                running += slot.load(Ordering::Relaxed);
                running
            })
            .collect();
        HistogramSnapshot { cumulative, sum_seconds: self.sum_nanos.load(Ordering::Relaxed) as f64 / 1e9 }
    }
}

/// A Prometheus text page under construction. Families must be written whole, one after
/// another: `family` then its samples.
#[derive(Debug, Default)]
pub struct Exposition {
    text: String,
}

/// The kind a family declares in its `# TYPE` line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Counter,
    Gauge,
    Histogram,
}

impl Exposition {
    /// Starts a family: its `# HELP` and `# TYPE` lines.
    pub fn family(&mut self, name: &str, kind: Kind, help: &str) {
        let kind = match kind {
            Kind::Counter => "counter",
            Kind::Gauge => "gauge",
            Kind::Histogram => "histogram",
        };
        let help = help.replace('\\', "\\\\").replace('\n', "\\n");
        let _ = writeln!(self.text, "# HELP {name} {help}\n# TYPE {name} {kind}");
    }

    /// One sample line: `name{labels} value`.
    pub fn sample(&mut self, name: &str, labels: &[(&str, &str)], value: f64) {
        self.text.push_str(name);
        write_labels(&mut self.text, labels, None);
        let _ = writeln!(self.text, " {}", format_value(value));
    }

    /// A histogram's `_bucket`, `_sum` and `_count` lines.
    pub fn histogram(&mut self, name: &str, labels: &[(&str, &str)], histogram: &HistogramSnapshot) {
        let bucket = format!("{name}_bucket");
        for (i, count) in histogram.cumulative.iter().enumerate() {
            let le = LATENCY_BUCKETS.get(i).map_or_else(|| "+Inf".to_string(), |b| format_value(*b));
            self.text.push_str(&bucket);
            write_labels(&mut self.text, labels, Some(&le));
            let _ = writeln!(self.text, " {count}");
        }
        self.sample(&format!("{name}_sum"), labels, histogram.sum_seconds);
        self.sample(&format!("{name}_count"), labels, histogram.count() as f64);
    }

    pub fn finish(self) -> String {
        self.text
    }
}

fn write_labels(out: &mut String, labels: &[(&str, &str)], le: Option<&str>) {
    if labels.is_empty() && le.is_none() {
        return;
    }
    out.push('{');
    let mut first = true;
    for (name, value) in labels.iter().copied().chain(le.map(|le| ("le", le))) {
        if !first {
            out.push(',');
        }
        first = false;
        out.push_str(name);
        out.push_str("=\"");
        for c in value.chars() {
            match c {
                '\\' => out.push_str("\\\\"),
                '"' => out.push_str("\\\""),
                '\n' => out.push_str("\\n"),
                c => out.push(c),
            }
        }
        out.push('"');
    }
    out.push('}');
}

/// Integers without a fraction, everything else as Rust prints it (which Prometheus parses).
fn format_value(value: f64) -> String {
    if value.is_finite() && value.fract() == 0.0 && value.abs() < 1e15 {
        format!("{}", value as i64)
    } else if value.is_nan() {
        "NaN".into()
    } else if value.is_infinite() {
        if value > 0.0 { "+Inf".into() } else { "-Inf".into() }
    } else {
        format!("{value}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histogram_buckets_are_cumulative_and_bounded() {
        let h = Histogram::default();
        h.observe(Duration::from_micros(40)); // <= 50 µs
        h.observe(Duration::from_micros(50)); // exactly on a bound: that bucket
        h.observe(Duration::from_millis(3)); // <= 5 ms
        h.observe(Duration::from_secs(60)); // +Inf only
        let s = h.snapshot();
        assert_eq!(s.cumulative[0], 2);
        assert_eq!(s.cumulative[LATENCY_BUCKETS.iter().position(|&b| b == 0.0025).unwrap()], 2);
        assert_eq!(s.cumulative[LATENCY_BUCKETS.iter().position(|&b| b == 0.005).unwrap()], 3);
        assert_eq!(s.cumulative[LATENCY_BUCKETS.len() - 1], 3);
        assert_eq!(s.count(), 4);
        assert!((s.sum_seconds - 60.00309).abs() < 1e-9, "{}", s.sum_seconds);
    }

    #[test]
    fn exposition_escapes_labels_and_writes_histograms() {
        let mut page = Exposition::default();
        page.family("brook_x_total", Kind::Counter, "An example.");
        page.sample("brook_x_total", &[("topic", "a\"b\\c")], 3.0);
        let h = Histogram::default();
        h.observe(Duration::from_millis(1));
        page.family("brook_t_seconds", Kind::Histogram, "Latency.");
        page.histogram("brook_t_seconds", &[("api", "Produce")], &h.snapshot());
        let text = page.finish();
        assert!(text.contains("# TYPE brook_x_total counter\n"));
        assert!(text.contains("brook_x_total{topic=\"a\\\"b\\\\c\"} 3\n"), "{text}");
        assert!(text.contains("brook_t_seconds_bucket{api=\"Produce\",le=\"0.0005\"} 0\n"), "{text}");
        assert!(text.contains("brook_t_seconds_bucket{api=\"Produce\",le=\"0.001\"} 1\n"), "{text}");
        assert!(text.contains("brook_t_seconds_bucket{api=\"Produce\",le=\"+Inf\"} 1\n"), "{text}");
        assert!(text.contains("brook_t_seconds_count{api=\"Produce\"} 1\n"), "{text}");
        assert!(text.contains("brook_t_seconds_sum{api=\"Produce\"} 0.001\n"), "{text}");
    }
}
