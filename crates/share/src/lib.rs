//! Share groups (KIP-932, "queues for Kafka"), as a library the server wires to the protocol:
//!
//! - `partition`: one share-partition's records between its start offset and the end of what
//!   was handed out: who holds each, until when, how often it was delivered, and the
//!   transitions acquire, accept, release, reject, renew and lock expiry, with Kafka's errors;
//! - `assignor`: which members fetch which partitions (several members may share one);
//! - `records`: a share-partition's state as `__share_group_state` records, in Kafka's formats.
//!
//! Nothing here does I/O or reads a clock: callers pass the time, write what changed, and
//! answer only once it is written.

pub mod assignor;
pub mod partition;
pub mod records;

pub use partition::{Ack, AckError, Acquired, DeliveryState, Limits, SharePartition, StateBatch};
