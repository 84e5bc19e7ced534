//! Brook's Kafka-compatible command-line tools (topics, console producer and consumer,
//! consumer groups, configs, perf). Not built yet: they land with the CLI issue.
