//! Brook's end-to-end tests: real `brook` processes driven by real Kafka clients, Kafka's own
//! tools and the fault harness, one module per area. They are one test binary so that the
//! clients' and harness's code is compiled and linked once; a module's tests are
//! `cargo test -p brook --test suite <module>::`.

mod common;

mod acls;
mod cli;
mod client_metrics;
mod cluster;
mod compaction;
mod console;
mod delegation_tokens;
mod differential;
mod durability;
mod failover;
mod faults;
mod features;
mod group_configs;
mod groups;
mod kafka_tools;
mod log_dirs;
mod protocol;
mod quotas;
mod rdkafka;
mod replication;
mod scale;
mod security;
mod share;
mod share_offsets;
mod streams_groups;
mod transactions;
mod upgrade;
