//! Partition replication, as Kafka's: each partition has a leader and followers; followers
//! fetch from the leader with Kafka's Fetch API (a replica id, the leader epoch, the epoch of
//! their last batch), the leader tracks how far each has durably copied and which are in sync,
//! and the high watermark is the smallest offset every in-sync replica holds.
//!
//! - `leader`: a leader's view of its followers: progress, the ISR changes to ask the
//!   controller for, and the replication floor that bounds the high watermark.
//! - `role`: a replica's role from the metadata, and what a leader decides about its
//!   followers' fetches and the high watermark.
//! - `follower`: the fetchers that copy partitions from their leaders, truncating where a log
//!   diverged after a leader change.
//! - `session`: the follower's half of a fetch session (KIP-227), so that a fetch names only
//!   the partitions whose position changed.
//! - `client`: a minimal Kafka protocol connection, for the fetchers.
//!
//! The crate knows logs and the Kafka wire format, not the metadata: the server tells it who
//! leads what, and carries ISR changes to the controller.

pub mod bugs;
pub mod client;
pub mod follower;
pub mod leader;
pub mod role;
pub mod session;

pub use follower::{Fetchers, FollowedPartition, Replica};
pub use leader::{Leadership, PartitionState};
