//! `brook console-producer` (kafka-console-producer): one record per line of standard input,
//! with Kafka's flags. Keys are partitioned with murmur2 as the Java client does, so a key lands
//! in the same partition as with Kafka's own tools.

use std::io::BufRead;
use std::sync::atomic::{AtomicUsize, Ordering};

use rdkafka::ClientContext;
use rdkafka::message::Message;
use rdkafka::producer::{BaseProducer, BaseRecord, DeliveryResult, Producer, ProducerContext};

use crate::ToolError;
use crate::args::{Opt, Parsed};
use crate::client::{self, TIMEOUT};

pub const PURPOSE: &str = "Read records from standard input, one per line, and publish them to a topic.";

pub const OPTS: &[Opt] = &[
    Opt { name: "bootstrap-server", value: true, help: "the broker(s) to connect to (host:port,...)" },
    Opt { name: "broker-list", value: true, help: "the same, under its old name" },
    Opt { name: "topic", value: true, help: "the topic to produce to" },
    Opt { name: "property", value: true, help: "parse.key=true, key.separator=<sep>, ignore.error=true (repeatable)" },
    Opt { name: "producer-property", value: true, help: "a producer setting key=value (repeatable)" },
    Opt { name: "producer.config", value: true, help: "a properties file of producer settings" },
    Opt { name: "command-config", value: true, help: "the same" },
    Opt { name: "request-required-acks", value: true, help: "acks: 0, 1 or -1/all (default -1)" },
    Opt { name: "compression-codec", value: true, help: "none, gzip, snappy, lz4 or zstd" },
    Opt { name: "sync", value: false, help: "wait for each record's acknowledgement before the next" },
];

/// Prints each failed delivery, as Kafka's console producer does, and counts them.
struct Reporter {
    failed: AtomicUsize,
}

impl ClientContext for Reporter {}

impl ProducerContext for Reporter {
    type DeliveryOpaque = ();

    fn delivery(&self, result: &DeliveryResult<'_>, _: ()) {
        if let Err((e, message)) = result {
            self.failed.fetch_add(1, Ordering::Relaxed);
            let key = message.key().map_or("null".to_string(), |k| String::from_utf8_lossy(k).into_owned());
            let size = message.payload().map_or(0, <[u8]>::len);
            eprintln!(
                "[ERROR] Error when sending message to topic {} with key: {key}, value: {size} bytes with error: {e}",
                message.topic()
            );
        }
    }
}

pub fn run(parsed: &Parsed) -> Result<(), ToolError> {
    let topic = parsed.get("topic").ok_or_else(|| ToolError::usage("Missing required argument \"[topic]\""))?;
    let properties: std::collections::HashMap<String, String> = parsed.pairs("property")?.into_iter().collect();
    let parse_key = properties.get("parse.key").is_some_and(|v| v == "true");
    let separator = properties.get("key.separator").cloned().unwrap_or_else(|| "\t".into());
    let ignore_error = properties.get("ignore.error").is_some_and(|v| v == "true");
    let acks = match parsed.get("request-required-acks").unwrap_or("-1") {
        "all" => "-1".to_string(),
        a @ ("0" | "1" | "-1") => a.to_string(),
        other => return Err(ToolError::usage(format!("--request-required-acks: '{other}' is not 0, 1, -1 or all"))),
    };
    let mut settings = vec![
        ("partitioner".to_string(), "murmur2_random".to_string()),
        ("acks".to_string(), acks),
        ("linger.ms".to_string(), "5".to_string()),
    ];
    if let Some(codec) = parsed.get("compression-codec") {
        settings.push(("compression.type".into(), codec.into()));
    }
    settings.extend(parsed.pairs("producer-property")?);
    let producer: BaseProducer<Reporter> = client::config(parsed, &settings)?
        .create_with_context(Reporter { failed: AtomicUsize::new(0) })
        .map_err(|e| ToolError::failed(format!("cannot create a producer: {e}")))?;
    let stdin = std::io::stdin();
    for (number, line) in stdin.lock().lines().enumerate() {
        let line = line.map_err(|e| ToolError::failed(format!("cannot read standard input: {e}")))?;
        let (key, value) = if parse_key {
            match line.split_once(separator.as_str()) {
                Some((k, v)) => (Some(k.to_string()), v.to_string()),
                None if ignore_error => (None, line.clone()),
                None => {
                    return Err(ToolError::failed(format!(
                        "No key separator found on line number {}: '{line}'",
                        number + 1
                    )));
                }
            }
        } else {
            (None, line.clone())
        };
        send(&producer, topic, key.as_deref(), &value)?;
        if parsed.has("sync") {
            producer.flush(TIMEOUT).map_err(|e| ToolError::failed(e.to_string()))?;
        }
    }
    producer.flush(TIMEOUT).map_err(|e| ToolError::failed(format!("records not acknowledged: {e}")))?;
    match producer.context().failed.load(Ordering::Relaxed) {
        0 => Ok(()),
        n => Err(ToolError::failed(format!("{n} record(s) could not be delivered"))),
    }
}

/// Enqueues one record, waiting for room when the local queue is full.
fn send(producer: &BaseProducer<Reporter>, topic: &str, key: Option<&str>, value: &str) -> Result<(), ToolError> {
    loop {
        let mut record = BaseRecord::to(topic).payload(value);
        if let Some(k) = key {
            record = record.key(k);
        }
        match producer.send(record) {
            Ok(()) => {
                producer.poll(std::time::Duration::ZERO);
                return Ok(());
            }
            Err((rdkafka::error::KafkaError::MessageProduction(rdkafka::types::RDKafkaErrorCode::QueueFull), _)) => {
                producer.poll(std::time::Duration::from_millis(10));
            }
            Err((e, _)) => return Err(ToolError::failed(format!("cannot send: {e}"))),
        }
    }
}
