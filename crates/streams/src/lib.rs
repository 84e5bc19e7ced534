//! Streams groups (KIP-1071: Kafka Streams' rebalance protocol on the broker), as a library
//! the server wires to the protocol:
//!
//! - `topology`: the application's subtopologies checked against the topics, and the
//!   internal (repartition and changelog) topics it needs, with their partition counts;
//! - `assignor`: which members run which tasks, active and standby;
//! - `group`: one group's members and epochs, and each member's reconciliation.
//!
//! Nothing here does I/O or reads a clock: the server keeps the timers and creates topics.

pub mod assignor;
pub mod group;
pub mod topology;

pub use assignor::{TaskSet, Tasks};
pub use group::{Catalog, Heartbeat, Outcome, Refusal, StreamsGroup};
pub use topology::{Subtopology, TopicInfo, Topology};
