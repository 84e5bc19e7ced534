//! A deterministic simulation of a Brook cluster: brokers replicating partitions, a
//! controller deciding leaders and ISRs, a producer and a consumer, all in one thread under a
//! simulated clock, network and disk, with faults on a seeded schedule. One seed is one exact
//! interleaving: a failing seed fails the same way every time.
//!
//! It runs Brook's own code where the decisions are made: the partition logs (`brook-log`, on
//! its simulated disk that loses unsynced writes at a power cut), the replica roles, the high
//! watermark rule and the follower's truncation (`brook-replication`), and the controller's
//! elections, fencing and ISR checks (`brook-controller::decisions`). What it models instead
//! of running: the wire (messages are values, not Kafka frames), and the metadata quorum,
//! which is one ordered log here (openraft orders it in a real cluster; the process-level
//! fault test covers that).
//!
//! - `net`: links that keep order, delay, and drop when cut.
//! - `broker`: a broker process: registration, heartbeats, metadata, roles, fetchers,
//!   produce and read handling, its disk's sync cycle.
//! - `controller`: the active controller: the metadata log, broker sessions, decisions.
//! - `client`: the workload: a producer of unique values and a consumer that reads everything.
//! - `checker`: what the history and the final logs must satisfy.
//! - `world`: the event loop, the fault schedule and a run's report.

mod broker;
mod checker;
mod client;
mod controller;
mod net;
mod world;

pub use world::{Config, Report, run};
