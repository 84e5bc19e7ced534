//! Brook's Kafka-compatible command-line tools, built on librdkafka (the `rdkafka` crate) so that
//! they use Brook exactly as users' clients do, and work against any Kafka cluster.
//!
//! - `args`: Kafka-style command lines; `client`: shared client settings; `native`: the one
//!   wrapper over librdkafka's C admin API, for what the crate's safe API lacks.
//! - `topics` (kafka-topics), `console_producer` (kafka-console-producer),
//!   `console_consumer` (kafka-console-consumer), `consumer_groups` (kafka-consumer-groups),
//!   `share_groups` (kafka-share-groups), `streams_groups` (kafka-streams-groups),
//!   `configs` (kafka-configs), `perf` (kafka-producer-perf-test, kafka-consumer-perf-test),
//!   `reassign_partitions` (kafka-reassign-partitions), `log_dirs` (kafka-log-dirs), `client_metrics` (kafka-client-metrics),
//!   `delegation_tokens` (kafka-delegation-tokens), `leader_election`
//!   (kafka-leader-election), `metadata_quorum` (kafka-metadata-quorum), `transactions`
//!   (kafka-transactions), `acls` (kafka-acls).
//! - `wire`: Kafka's own frames, for the requests librdkafka has no API for; `coordinator`:
//!   listing, finding and deleting groups with them.

pub mod acls;
pub mod args;
pub mod client;
pub mod client_metrics;
mod client_quotas;
pub mod configs;
pub mod console_consumer;
pub mod console_producer;
pub mod consumer_groups;
mod coordinator;
mod dates;
pub mod delegation_tokens;
pub mod leader_election;
pub mod log_dirs;
pub mod metadata_quorum;
mod native;
pub mod perf;
pub mod reassign_partitions;
mod scram_users;
mod security;
pub mod share_groups;
pub mod streams_groups;
pub mod topics;
pub mod transactions;
mod wire;

use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use args::{Opt, Parsed};

/// Why a tool stopped: a bad command line (printed with the usage, exit 1 as Kafka's tools) or
/// a failure (one line, exit 1).
#[derive(Debug)]
pub struct ToolError {
    pub message: String,
    pub usage: bool,
}

impl ToolError {
    pub fn usage(message: impl Into<String>) -> ToolError {
        ToolError { message: message.into(), usage: true }
    }

    pub fn failed(message: impl Into<String>) -> ToolError {
        ToolError { message: message.into(), usage: false }
    }
}

impl From<args::UsageError> for ToolError {
    fn from(e: args::UsageError) -> ToolError {
        ToolError::usage(e.0)
    }
}

/// The tools: subcommand name, Kafka's script name, purpose, options.
pub const TOOLS: &[(&str, &str, &str, &[Opt])] = &[
    ("topics", "kafka-topics", topics::PURPOSE, topics::OPTS),
    ("console-producer", "kafka-console-producer", console_producer::PURPOSE, console_producer::OPTS),
    ("console-consumer", "kafka-console-consumer", console_consumer::PURPOSE, console_consumer::OPTS),
    ("consumer-groups", "kafka-consumer-groups", consumer_groups::PURPOSE, consumer_groups::OPTS),
    ("share-groups", "kafka-share-groups", share_groups::PURPOSE, share_groups::OPTS),
    ("streams-groups", "kafka-streams-groups", streams_groups::PURPOSE, streams_groups::OPTS),
    ("configs", "kafka-configs", configs::PURPOSE, configs::OPTS),
    ("reassign-partitions", "kafka-reassign-partitions", reassign_partitions::PURPOSE, reassign_partitions::OPTS),
    ("leader-election", "kafka-leader-election", leader_election::PURPOSE, leader_election::OPTS),
    ("log-dirs", "kafka-log-dirs", log_dirs::PURPOSE, log_dirs::OPTS),
    ("client-metrics", "kafka-client-metrics", client_metrics::PURPOSE, client_metrics::OPTS),
    ("delegation-tokens", "kafka-delegation-tokens", delegation_tokens::PURPOSE, delegation_tokens::OPTS),
    ("metadata-quorum", "kafka-metadata-quorum", metadata_quorum::PURPOSE, metadata_quorum::OPTS),
    ("transactions", "kafka-transactions", transactions::PURPOSE, transactions::OPTS),
    ("acls", "kafka-acls", acls::PURPOSE, acls::OPTS),
    ("perf-produce", "kafka-producer-perf-test", perf::PRODUCE_PURPOSE, perf::PRODUCE_OPTS),
    ("perf-consume", "kafka-consumer-perf-test", perf::CONSUME_PURPOSE, perf::CONSUME_OPTS),
];

/// The subcommand a program name stands for: `kafka-topics`, `kafka-topics.sh` -> `topics`.
pub fn tool_for_program(program: &str) -> Option<&'static str> {
    let name = program.strip_suffix(".sh").unwrap_or(program);
    TOOLS.iter().find(|(_, kafka, ..)| *kafka == name).map(|(tool, ..)| *tool)
}

/// Runs `tool` with its arguments; returns the process exit code. `interrupted` is set on
/// Ctrl-C (the console consumer then stops, commits and exits cleanly).
pub fn run(tool: &str, args: &[String], interrupted: Arc<AtomicBool>) -> i32 {
    let Some(&(name, kafka, purpose, opts)) = TOOLS.iter().find(|(t, ..)| *t == tool) else {
        eprintln!("unknown tool: {tool}");
        return 2;
    };
    if args.iter().any(|a| a == "--help" || a == "-h") {
        println!("{}", args::usage(&format!("brook {name} (or {kafka})"), purpose, opts));
        return 0;
    }
    // Kafka's metadata-quorum and transactions tools take a command among their options.
    let split = match name {
        "metadata-quorum" => metadata_quorum::strip_command(args).map(|args| (String::new(), args)),
        "transactions" => transactions::split_command(args),
        _ => Ok((String::new(), args.to_vec())),
    };
    let (command, args) = match split {
        Ok(split) => split,
        Err(e) => {
            eprintln!("{}\n{}", e.message, args::usage(&format!("brook {name}"), purpose, opts));
            return 1;
        }
    };
    let result = Parsed::parse(&args, opts).map_err(ToolError::from).and_then(|parsed| match name {
        "topics" => topics::run(&parsed),
        "console-producer" => console_producer::run(&parsed),
        "consumer-groups" => consumer_groups::run(&parsed),
        "share-groups" => share_groups::run(&parsed),
        "streams-groups" => streams_groups::run(&parsed),
        "configs" => configs::run(&parsed),
        "reassign-partitions" => reassign_partitions::run(&parsed),
        "leader-election" => leader_election::run(&parsed),
        "log-dirs" => log_dirs::run(&parsed),
        "client-metrics" => client_metrics::run(&parsed),
        "delegation-tokens" => delegation_tokens::run(&parsed),
        "metadata-quorum" => metadata_quorum::run(&parsed),
        "transactions" => transactions::run(&parsed, &command),
        "acls" => acls::run(&parsed),
        "perf-produce" => perf::produce(&parsed),
        "perf-consume" => perf::consume(&parsed),
        _ => console_consumer::run(&parsed, interrupted),
    });
    match result {
        Ok(()) => 0,
        Err(e) if e.usage => {
            eprintln!("{}\n{}", e.message, args::usage(&format!("brook {name}"), purpose, opts));
            1
        }
        Err(e) => {
            // kafka-topics' and kafka-client-metrics' own wording, which scripts may look for.
            let prefix = match name {
                "topics" => "Error while executing topic command : ",
                "client-metrics" => "Error while executing client metrics command : ",
                _ => "Error: ",
            };
            eprintln!("{prefix}{}", e.message);
            1
        }
    }
}
