//! Brook's broker: the Kafka protocol over TCP on top of `brook-log`, with the metadata from
//! `brook-controller` (through the `brook-quorum` voter every node runs).
//!
//! - `server`: the accept loop, background tasks (retention) and clean shutdown.
//! - `connection`: one client connection; TLS, then frames in, responses out in request order.
//! - `session`: who a connection's client is, and through which listener it came;
//!   `authentication`: SASL on a connection.
//! - `codec`: frames to typed requests and responses back (pure, no I/O).
//! - `handlers`: one module per Kafka API, and `dispatch`.
//! - `broker`: the broker's state: its metadata image, its partitions, its registration.
//! - `group`: the group coordinator: consumer groups and their committed offsets.
//! - `internal_topic`: the coordinators' internal topics: creation, durable appends, placement.
//! - `transactions`: the transaction coordinator, wired to `__transaction_state` and markers.
//! - `share`: share groups (KIP-932): membership, share sessions, share-partitions and the
//!   share coordinator's `__share_group_state`.
//! - `meta_properties`: Kafka's `meta.properties`: which node and cluster a log directory is.
//! - `partition`: a hosted partition: its log and its role; `producers`: its producer state
//!   (idempotence checks, open and aborted transactions, the last stable offset).
//! - `read_replica`: which replica a consumer reads from (KIP-392's rack-aware selector).
//! - `records`: record-level work on batches (recompression, compaction's decoding).
//! - `stats`: request, connection and per-partition traffic figures for `/metrics`.
//! - `config`: `server.properties` with Kafka's keys; `topic_config`: topic-level configs.

pub mod authentication;
pub mod authorization;
pub mod broker;
pub mod codec;
pub mod config;
mod connection;
pub mod fetch_session;
pub mod group;
pub mod group_config;
pub mod handlers;
pub mod internal_topic;
pub mod meta_properties;
pub mod partition;
mod producer_snapshot;
pub mod producers;
pub mod read_replica;
pub mod records;
pub mod replica;
pub mod server;
pub mod session;
pub mod share;
pub mod stats;
pub mod telemetry;
pub mod throttle;
pub mod tls_fuzz;
pub mod topic_config;
pub mod transactions;

pub use crate::config::BrokerConfig;
pub use crate::server::Server;
