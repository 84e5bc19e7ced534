//! Share groups (KIP-932) wired to the broker. The rules live in `brook-share`; this module
//! keeps the broker's share state and does the I/O:
//!
//! - `groups`: membership (ShareGroupHeartbeat, ShareGroupDescribe), on the group's
//!   coordinator (the leader of its `__consumer_offsets` partition, as for consumer groups);
//! - `sessions`: share sessions, which say what a member's ShareFetch covers;
//! - `partitions`: the share-partitions of the partitions this broker leads, initialized from
//!   the persisted state and written back, batched, before an acknowledgement is answered;
//! - `state`: the share coordinator: the `__share_group_state` partitions this broker leads,
//!   loaded at election, holding each share-partition's latest snapshot;
//! - `persister`: the coordinator's Read/WriteShareGroupState, reached in-process or over the
//!   inter-broker listener;
//! - `admin`: its state summaries, initializations and deletions, for share group offsets;
//! - `group_records`: share groups kept in `__consumer_offsets`, as Kafka keeps them.
//!
//! Everything is under one mutex held only for in-memory work; writes happen after it is
//! released, under an async write lock that lets one append carry every pending change.

mod admin;
mod group_records;
mod groups;
mod partitions;
mod persister;
mod sessions;
mod state;

use std::collections::{BTreeSet, HashMap};
use std::sync::{Mutex, MutexGuard};

use brook_share::records::{Key, Snapshot};
use tokio::sync::watch;

use crate::internal_topic::InternalTopic;

pub use admin::{ShareOffset, Summary};
pub use groups::{DescribedShareGroup, DescribedShareMember, HeartbeatOutcome, ShareHeartbeat};
pub use partitions::{AckOutcome, FetchedShare};
pub use sessions::SessionRequest;

/// The share coordinator's internal topic.
pub const SHARE_STATE_TOPIC: &str = "__share_group_state";

/// Kafka's share group settings (`group.share.*` and `share.coordinator.*` keys).
#[derive(Debug, Clone)]
pub struct ShareConfig {
    pub record_lock_duration_ms: i64,
    pub delivery_count_limit: i16,
    pub partition_max_record_locks: usize,
    pub session_timeout_ms: i32,
    pub heartbeat_interval_ms: i32,
    pub max_size: usize,
    pub state_topic_partitions: i32,
    pub state_topic_replication_factor: i16,
    pub state_topic_min_isr: i16,
    pub state_topic_segment_bytes: i32,
    /// How long a state write waits for the in-sync replicas.
    pub write_timeout_ms: u64,
}

impl Default for ShareConfig {
    fn default() -> ShareConfig {
        ShareConfig {
            record_lock_duration_ms: 30_000,
            delivery_count_limit: 5,
            partition_max_record_locks: 2000,
            session_timeout_ms: 45_000,
            heartbeat_interval_ms: 5_000,
            max_size: 200,
            state_topic_partitions: 50,
            state_topic_replication_factor: 3,
            state_topic_min_isr: 2,
            state_topic_segment_bytes: 100 * 1024 * 1024,
            write_timeout_ms: 5_000,
        }
    }
}

impl ShareConfig {
    pub fn state_topic(&self) -> InternalTopic {
        InternalTopic {
            name: SHARE_STATE_TOPIC,
            partitions: self.state_topic_partitions,
            replication_factor: self.state_topic_replication_factor,
            segment_bytes: self.state_topic_segment_bytes,
            min_insync_replicas: Some(self.state_topic_min_isr),
        }
    }

    /// The `__share_group_state` partition of a share-partition: the Java hash of
    /// "group:topicId:partition", as Kafka's share coordinator places it.
    pub fn state_partition(&self, key: &Key) -> i32 {
        let coordinator_key = format!("{}:{}:{}", key.group, key.topic_id, key.partition);
        crate::internal_topic::partition_of(&coordinator_key, self.state_topic_partitions)
    }
}

pub struct Shares {
    config: ShareConfig,
    inner: Mutex<Inner>,
    /// Counts acknowledgements and releases (records or record locks available again): a
    /// waiting ShareFetch wakes on it.
    released: watch::Sender<u64>,
    /// Held while state is appended, so snapshots land in the order they were taken.
    write: tokio::sync::Mutex<()>,
    /// Counts finished loads of `__share_group_state` partitions.
    loads_done: watch::Sender<u64>,
    /// Connections to other brokers' share coordinators, kept between requests.
    connections: tokio::sync::Mutex<HashMap<String, brook_replication::client::Connection>>,
}

#[derive(Default)]
struct Inner {
    groups: HashMap<String, groups::ShareGroup>,
    held: HashMap<Key, partitions::Held>,
    sessions: sessions::Sessions,
    /// The share coordinator's snapshots, for the state partitions this broker leads.
    persisted: HashMap<Key, Snapshot>,
    /// Those partitions: the leader epoch and whether their snapshots are loaded.
    owned: HashMap<i32, (i32, bool)>,
    /// Share-partitions whose state changed since it was last written.
    dirty: BTreeSet<Key>,
    /// Counts changes; `written` is the last one durably written.
    changes: u64,
    written: u64,
}

impl Shares {
    pub fn new(config: ShareConfig) -> Shares {
        Shares {
            config,
            inner: Mutex::new(Inner::default()),
            released: watch::Sender::new(0),
            write: tokio::sync::Mutex::new(()),
            loads_done: watch::Sender::new(0),
            connections: tokio::sync::Mutex::new(HashMap::new()),
        }
    }

    pub fn config(&self) -> &ShareConfig {
        &self.config
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().expect("share state lock")
    }
}
