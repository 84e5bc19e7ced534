//! `brook console-consumer` (kafka-console-consumer): print a topic's records, with Kafka's
//! flags and the output of its default formatter.

use std::io::Write;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::{Message, Timestamp};
use rdkafka::{Offset, TopicPartitionList};

use crate::ToolError;
use crate::args::{Opt, Parsed};
use crate::client;

pub const PURPOSE: &str = "Read records from a topic and print them to standard output.";

pub const OPTS: &[Opt] = &[
    Opt { name: "bootstrap-server", value: true, help: "the broker(s) to connect to (host:port,...)" },
    Opt { name: "topic", value: true, help: "the topic to read" },
    Opt { name: "include", value: true, help: "a regular expression of topics to read" },
    Opt {
        name: "from-beginning",
        value: false,
        help: "start at the earliest record when there is no committed offset",
    },
    Opt { name: "group", value: true, help: "the consumer group (default: a new console-consumer group)" },
    Opt { name: "partition", value: true, help: "read only this partition (no group management)" },
    Opt { name: "offset", value: true, help: "with --partition: earliest, latest, or an offset" },
    Opt { name: "max-messages", value: true, help: "exit after this many records" },
    Opt { name: "timeout-ms", value: true, help: "exit when no record arrives for this long" },
    Opt {
        name: "property",
        value: true,
        help: "print.key, print.timestamp, print.partition, print.offset, print.value, key.separator",
    },
    Opt { name: "consumer-property", value: true, help: "a consumer setting key=value (repeatable)" },
    Opt { name: "consumer.config", value: true, help: "a properties file of consumer settings" },
    Opt { name: "command-config", value: true, help: "the same" },
    Opt { name: "isolation-level", value: true, help: "read_uncommitted (default) or read_committed" },
];

/// Kafka's DefaultMessageFormatter settings.
struct Format {
    key: bool,
    value: bool,
    timestamp: bool,
    partition: bool,
    offset: bool,
    separator: String,
}

pub fn run(parsed: &Parsed, interrupted: Arc<AtomicBool>) -> Result<(), ToolError> {
    let topics: Vec<String> = match (parsed.get("topic"), parsed.get("include")) {
        (Some(t), None) => vec![t.to_string()],
        (None, Some(pattern)) => vec![format!("^{pattern}")],
        _ => return Err(ToolError::usage("Exactly one of --topic or --include is required")),
    };
    let props: std::collections::HashMap<String, String> = parsed.pairs("property")?.into_iter().collect();
    let flag = |k: &str, default: bool| props.get(k).map_or(default, |v| v == "true");
    let format = Format {
        key: flag("print.key", false),
        value: flag("print.value", true),
        timestamp: flag("print.timestamp", false),
        partition: flag("print.partition", false),
        offset: flag("print.offset", false),
        separator: props.get("key.separator").cloned().unwrap_or_else(|| "\t".into()),
    };
    let max: Option<usize> = parsed.number("max-messages")?;
    let idle: Option<u64> = parsed.number("timeout-ms")?;
    let group = parsed.get("group").map_or_else(|| format!("console-consumer-{}", std::process::id()), str::to_string);
    let reset = if parsed.has("from-beginning") { "earliest" } else { "latest" };
    let mut settings = vec![
        ("group.id".to_string(), group),
        ("auto.offset.reset".to_string(), reset.to_string()),
        ("enable.auto.commit".to_string(), "true".to_string()),
        ("isolation.level".to_string(), parsed.get("isolation-level").unwrap_or("read_uncommitted").to_string()),
    ];
    settings.extend(parsed.pairs("consumer-property")?);
    let consumer: BaseConsumer = client::config(parsed, &settings)?
        .create()
        .map_err(|e| ToolError::failed(format!("cannot create a consumer: {e}")))?;
    match parsed.number::<i32>("partition")? {
        Some(partition) => {
            let offset =
                match parsed.get("offset") {
                    None if parsed.has("from-beginning") => Offset::Beginning,
                    None | Some("latest") => Offset::End,
                    Some("earliest") => Offset::Beginning,
                    Some(n) => Offset::Offset(n.parse().map_err(|_| {
                        ToolError::usage(format!("--offset: '{n}' is not earliest, latest or a number"))
                    })?),
                };
            let mut assignment = TopicPartitionList::new();
            assignment
                .add_partition_offset(&topics[0], partition, offset)
                .map_err(|e| ToolError::failed(e.to_string()))?;
            consumer.assign(&assignment).map_err(|e| ToolError::failed(e.to_string()))?;
        }
        None if parsed.has("offset") => return Err(ToolError::usage("--offset needs --partition")),
        None => {
            let refs: Vec<&str> = topics.iter().map(String::as_str).collect();
            consumer.subscribe(&refs).map_err(|e| ToolError::failed(e.to_string()))?;
        }
    }
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    let mut count = 0usize;
    let mut last = Instant::now();
    while !interrupted.load(Ordering::Relaxed) && max.is_none_or(|m| count < m) {
        match consumer.poll(Duration::from_millis(100)) {
            Some(Ok(message)) => {
                write_record(&mut out, &format, &message).map_err(|e| ToolError::failed(e.to_string()))?;
                count += 1;
                last = Instant::now();
            }
            Some(Err(e)) => eprintln!("[WARN] {e}"),
            None => {
                if idle.is_some_and(|ms| last.elapsed() >= Duration::from_millis(ms)) {
                    break;
                }
            }
        }
    }
    out.flush().map_err(|e| ToolError::failed(e.to_string()))?;
    // Commit what was printed before leaving, as Kafka's console consumer does on exit.
    if parsed.get("partition").is_none() {
        let _ = consumer.commit_consumer_state(rdkafka::consumer::CommitMode::Sync);
    }
    eprintln!("Processed a total of {count} messages");
    Ok(())
}

fn write_record(out: &mut impl Write, f: &Format, m: &rdkafka::message::BorrowedMessage<'_>) -> std::io::Result<()> {
    let text = |b: Option<&[u8]>| b.map_or(b"null".to_vec(), <[u8]>::to_vec);
    let mut columns: Vec<Vec<u8>> = Vec::new();
    if f.timestamp {
        columns.push(
            match m.timestamp() {
                Timestamp::CreateTime(t) => format!("CreateTime:{t}"),
                Timestamp::LogAppendTime(t) => format!("LogAppendTime:{t}"),
                Timestamp::NotAvailable => "NO_TIMESTAMP".into(),
            }
            .into_bytes(),
        );
    }
    if f.partition {
        columns.push(format!("Partition:{}", m.partition()).into_bytes());
    }
    if f.offset {
        columns.push(format!("Offset:{}", m.offset()).into_bytes());
    }
    if f.key {
        columns.push(text(m.key()));
    }
    if f.value {
        columns.push(text(m.payload()));
    }
    out.write_all(&columns.join(f.separator.as_bytes()))?;
    out.write_all(b"\n")
}
