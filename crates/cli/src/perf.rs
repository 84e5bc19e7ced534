//! `brook perf produce` (kafka-producer-perf-test) and `brook perf consume`
//! (kafka-consumer-perf-test): load generators that print Kafka's progress and summary lines.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use rdkafka::ClientContext;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Message;
use rdkafka::producer::{BaseProducer, BaseRecord, DeliveryResult, Producer, ProducerContext};

use crate::ToolError;
use crate::args::{Opt, Parsed};
use crate::client::{self, TIMEOUT};

pub const PRODUCE_PURPOSE: &str = "Produce a load and report throughput and latency percentiles.";
pub const CONSUME_PURPOSE: &str = "Consume a topic as fast as possible and report throughput.";

pub const PRODUCE_OPTS: &[Opt] = &[
    Opt { name: "bootstrap-server", value: true, help: "the broker(s) (or bootstrap.servers in --producer-props)" },
    Opt { name: "topic", value: true, help: "the topic to produce to" },
    Opt { name: "num-records", value: true, help: "how many records" },
    Opt { name: "record-size", value: true, help: "bytes per record" },
    Opt { name: "throughput", value: true, help: "records/s to aim for; -1 for as fast as possible" },
    Opt { name: "producer-props", value: true, help: "producer settings key=value (repeatable)" },
    Opt { name: "producer.config", value: true, help: "a properties file of producer settings" },
    Opt { name: "command-config", value: true, help: "the same" },
];

pub const CONSUME_OPTS: &[Opt] = &[
    Opt { name: "bootstrap-server", value: true, help: "the broker(s) to connect to" },
    Opt { name: "topic", value: true, help: "the topic to consume" },
    Opt { name: "messages", value: true, help: "how many records to consume" },
    Opt { name: "num-records", value: true, help: "the same (Kafka 4's name)" },
    Opt { name: "group", value: true, help: "the consumer group (default perf-consumer-<pid>)" },
    Opt { name: "timeout", value: true, help: "give up after this many ms without a record (default 10000)" },
    Opt { name: "consumer.config", value: true, help: "a properties file of consumer settings" },
    Opt { name: "command-config", value: true, help: "the same" },
];

/// Send times and send-to-acknowledgement latencies, one slot per record (indexed by the
/// record's number, its delivery opaque), so that the hot path neither allocates nor locks.
struct Latencies {
    start: Instant,
    /// Microseconds from `start` to each record's send.
    sent: Vec<AtomicU64>,
    /// Microseconds from send to acknowledgement; u64::MAX while unacknowledged.
    acked: Vec<AtomicU64>,
    failed: AtomicUsize,
}

impl ClientContext for Latencies {}

impl ProducerContext for Latencies {
    type DeliveryOpaque = usize;

    fn delivery(&self, result: &DeliveryResult<'_>, index: usize) {
        match result {
            Ok(_) => {
                let now = self.start.elapsed().as_micros() as u64;
                let sent = self.sent[index].load(Ordering::Relaxed);
                self.acked[index].store(now.saturating_sub(sent), Ordering::Relaxed);
            }
            Err(_) => {
                self.failed.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
}

impl Latencies {
    fn new(count: usize) -> Latencies {
        Latencies {
            start: Instant::now(),
            sent: (0..count).map(|_| AtomicU64::new(0)).collect(),
            acked: (0..count).map(|_| AtomicU64::new(u64::MAX)).collect(),
            failed: AtomicUsize::new(0),
        }
    }

    /// Latencies of the acknowledged records among `range`.
    fn latencies(&self, range: std::ops::Range<usize>) -> Vec<Duration> {
        self.acked[range]
            .iter()
            .map(|a| a.load(Ordering::Relaxed))
            .filter(|&us| us != u64::MAX)
            .map(Duration::from_micros)
            .collect()
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

pub fn produce(parsed: &Parsed) -> Result<(), ToolError> {
    let topic = parsed.get("topic").ok_or_else(|| ToolError::usage("Missing required argument \"[topic]\""))?;
    let count: usize =
        parsed.number("num-records")?.ok_or_else(|| ToolError::usage("Missing required argument \"[num-records]\""))?;
    let size: usize =
        parsed.number("record-size")?.ok_or_else(|| ToolError::usage("Missing required argument \"[record-size]\""))?;
    let throughput: f64 =
        parsed.number("throughput")?.ok_or_else(|| ToolError::usage("Missing required argument \"[throughput]\""))?;
    let mut settings = parsed.pairs("producer-props")?;
    // Kafka's tool takes bootstrap.servers among the producer props.
    let bootstrap = settings.iter().find(|(k, _)| k == "bootstrap.servers").map(|(_, v)| v.clone());
    settings.retain(|(k, _)| k != "bootstrap.servers");
    let mut config = match (parsed.get("bootstrap-server"), bootstrap) {
        (Some(_), _) => client::config(parsed, &settings)?,
        (None, Some(b)) => {
            let mut c = rdkafka::config::ClientConfig::new();
            c.set("bootstrap.servers", b);
            for (k, v) in &settings {
                c.set(k, v);
            }
            c
        }
        (None, None) => {
            return Err(ToolError::usage("Missing --bootstrap-server (or bootstrap.servers in --producer-props)"));
        }
    };
    config.set("partitioner", "murmur2_random");
    let producer: BaseProducer<Latencies> = config
        .create_with_context(Latencies::new(count))
        .map_err(|e| ToolError::failed(format!("cannot create a producer: {e}")))?;
    let payload = vec![b'x'; size];
    let start = Instant::now();
    let mut window = (Instant::now(), 0usize);
    for i in 0..count {
        if throughput > 0.0 {
            let due = start + Duration::from_secs_f64(i as f64 / throughput);
            while Instant::now() < due {
                producer.poll(due.saturating_duration_since(Instant::now()).min(Duration::from_millis(1)));
            }
        }
        loop {
            let context = producer.context();
            context.sent[i].store(context.start.elapsed().as_micros() as u64, Ordering::Relaxed);
            match producer.send(BaseRecord::<(), [u8], usize>::with_opaque_to(topic, i).payload(&payload)) {
                Ok(()) => break,
                Err((
                    rdkafka::error::KafkaError::MessageProduction(rdkafka::types::RDKafkaErrorCode::QueueFull),
                    _,
                )) => {
                    producer.poll(Duration::from_millis(1));
                }
                Err((e, _)) => return Err(ToolError::failed(format!("cannot send: {e}"))),
            }
        }
        // Serving delivery callbacks every record would cost more than producing it.
        if i % 1024 == 0 {
            producer.poll(Duration::ZERO);
            if window.0.elapsed() >= Duration::from_secs(5) {
                report_window(&producer, &mut window, i, size);
            }
        }
    }
    producer.flush(TIMEOUT).map_err(|e| ToolError::failed(format!("records not acknowledged: {e}")))?;
    let elapsed = start.elapsed();
    let mut latencies = producer.context().latencies(0..count);
    latencies.sort();
    let failed = producer.context().failed.load(Ordering::Relaxed);
    let sent = latencies.len();
    let rate = sent as f64 / elapsed.as_secs_f64();
    let pct = |p: f64| latencies.get(((sent as f64 * p) as usize).min(sent.saturating_sub(1))).copied().map_or(0.0, ms);
    let avg = if sent == 0 { 0.0 } else { latencies.iter().map(|d| ms(*d)).sum::<f64>() / sent as f64 };
    println!(
        "{sent} records sent, {rate:.1} records/sec ({:.2} MB/sec), {avg:.2} ms avg latency, {:.2} ms max latency, \
         {:.1} ms 50th, {:.1} ms 95th, {:.1} ms 99th, {:.1} ms 99.9th.",
        rate * size as f64 / (1024.0 * 1024.0),
        latencies.last().copied().map_or(0.0, ms),
        pct(0.5),
        pct(0.95),
        pct(0.99),
        pct(0.999),
    );
    if failed > 0 {
        return Err(ToolError::failed(format!("{failed} record(s) could not be delivered")));
    }
    Ok(())
}

/// A progress line for the records sent since the last one, as Kafka's tool prints every five
/// seconds (those not acknowledged yet count in a later line's latencies only).
fn report_window(producer: &BaseProducer<Latencies>, window: &mut (Instant, usize), sent: usize, size: usize) {
    let fresh = producer.context().latencies(window.1..sent);
    let seconds = window.0.elapsed().as_secs_f64();
    let sum: Duration = fresh.iter().sum();
    let max = fresh.iter().max().copied().unwrap_or_default();
    let n = sent - window.1;
    let rate = n as f64 / seconds;
    println!(
        "{n} records sent, {rate:.1} records/sec ({:.2} MB/sec), {:.1} ms avg latency, {:.1} ms max latency.",
        rate * size as f64 / (1024.0 * 1024.0),
        if fresh.is_empty() { 0.0 } else { ms(sum) / fresh.len() as f64 },
        ms(max)
    );
    *window = (Instant::now(), sent);
}

pub fn consume(parsed: &Parsed) -> Result<(), ToolError> {
    let topic = parsed.get("topic").ok_or_else(|| ToolError::usage("Missing required argument \"[topic]\""))?;
    let count: usize = parsed
        .number("messages")?
        .or(parsed.number("num-records")?)
        .ok_or_else(|| ToolError::usage("Missing required argument \"[messages]\""))?;
    let idle = Duration::from_millis(parsed.number("timeout")?.unwrap_or(10_000));
    let group = parsed.get("group").map_or_else(|| format!("perf-consumer-{}", std::process::id()), str::to_string);
    let settings = [
        ("group.id".to_string(), group),
        ("auto.offset.reset".to_string(), "earliest".to_string()),
        ("enable.auto.commit".to_string(), "false".to_string()),
    ];
    let mut config = client::config(parsed, &settings)?;
    // librdkafka stops fetching a partition once 100,000 records wait in its queue and backs off
    // (`fetch.queue.backoff.ms`); a broker that answers faster than this loop drains records
    // then stalls the measurement in 100 ms steps. rdkafka_performance raises the bar the same
    // way. A consumer.config file may set its own.
    if config.get("queued.min.messages").is_none() {
        config.set("queued.min.messages", "1000000");
    }
    let consumer: BaseConsumer =
        config.create().map_err(|e| ToolError::failed(format!("cannot create a consumer: {e}")))?;
    consumer.subscribe(&[topic]).map_err(|e| ToolError::failed(e.to_string()))?;
    let start = Instant::now();
    let mut first: Option<Instant> = None;
    let (mut records, mut bytes) = (0usize, 0usize);
    let mut last = Instant::now();
    while records < count {
        match consumer.poll(Duration::from_millis(100)) {
            Some(Ok(m)) => {
                first.get_or_insert_with(Instant::now);
                records += 1;
                bytes += m.payload().map_or(0, <[u8]>::len) + m.key().map_or(0, <[u8]>::len);
                last = Instant::now();
            }
            Some(Err(e)) => return Err(ToolError::failed(e.to_string())),
            None if last.elapsed() >= idle => break,
            None => {}
        }
    }
    let end = Instant::now();
    let total = end.duration_since(start).as_secs_f64();
    let fetching = first.map_or(0.0, |f| end.duration_since(f).as_secs_f64());
    let mb = bytes as f64 / (1024.0 * 1024.0);
    let per = |x: f64, secs: f64| if secs > 0.0 { x / secs } else { 0.0 };
    let wall = |t: Instant| {
        let ago = Instant::now().duration_since(t);
        let since_epoch = std::time::SystemTime::now()
            .checked_sub(ago)
            .and_then(|s| s.duration_since(std::time::UNIX_EPOCH).ok())
            .map_or(0, |d| d.as_millis() as i64);
        format_datetime(since_epoch)
    };
    println!(
        "start.time, end.time, data.consumed.in.MB, MB.sec, data.consumed.in.nMsg, nMsg.sec, rebalance.time.ms, \
         fetch.time.ms, fetch.MB.sec, fetch.nMsg.sec"
    );
    println!(
        "{}, {}, {mb:.4}, {:.4}, {records}, {:.4}, {:.0}, {:.0}, {:.4}, {:.4}",
        wall(start),
        wall(end),
        per(mb, total),
        per(records as f64, total),
        (total - fetching) * 1000.0,
        fetching * 1000.0,
        per(mb, fetching),
        per(records as f64, fetching),
    );
    if records < count {
        return Err(ToolError::failed(format!("only {records} of {count} records arrived before the timeout")));
    }
    Ok(())
}

/// `yyyy-MM-dd HH:mm:ss:SSS` (UTC), the form of Kafka's consumer perf test.
fn format_datetime(ms: i64) -> String {
    let c = crate::dates::civil(ms);
    format!("{:04}-{:02}-{:02} {:02}:{:02}:{:02}:{:03}", c.year, c.month, c.day, c.hour, c.minute, c.second, c.milli)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn datetimes() {
        assert_eq!(format_datetime(0), "1970-01-01 00:00:00:000");
        assert_eq!(format_datetime(1_795_654_923_456), "2026-11-26 01:02:03:456");
        assert_eq!(format_datetime(951_868_800_000), "2000-03-01 00:00:00:000");
    }
}
