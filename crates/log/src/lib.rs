//! Brook's storage engine: the partition log. It knows Kafka's RecordBatch v2 header and
//! nothing of the network.
//!
//! - `log`: a partition's log: append, read, offsets, sync, truncation, retention.
//! - `compact`: log compaction (keep each key's latest record).
//! - `relocate`: moving a log to another log dir while it serves (AlterReplicaLogDirs).
//! - `recovery`: opening a log directory, trusting the checkpoint and verifying what follows.
//! - `segment`: one `<base offset>.log` file with its indexes.
//! - `index`: the sparse offset and time indexes and their file formats.
//! - `batch`: the RecordBatch v2 header, validation, and the batch scanner.
//! - `checkpoint`: the recovery point, log start offset and high watermark, saved atomically.
//! - `epoch`: the leader epoch cache replicas compare after a leader change.
//! - `flush`: the group-commit thread that fdatasyncs on behalf of many writers.
//! - `storage`: the file I/O traits and the real file system, whose open files `handles`
//!   bounds; `sim`: a simulated disk with
//!   power cuts, for tests; `power_cut`: the real file system with a power cut a test can
//!   trigger in a running broker.
//! - `config`, `clock`, `error`: settings with Kafka's names, time, and the error type.

pub mod batch;
mod checkpoint;
pub mod clock;
pub mod compact;
pub mod config;
pub mod epoch;
pub mod error;
mod flush;
pub mod handles;
pub mod index;
mod log;
pub mod power_cut;
mod recovery;
pub mod relocate;
mod segment;
pub mod sim;
mod snapshot;
pub mod storage;

pub use crate::clock::{Clock, ManualClock, SystemClock};
pub use crate::config::{LogConfig, TimestampType};
pub use crate::error::LogError;
pub use crate::flush::Flusher;
pub use crate::log::{Appended, Durability, Log, LogEnv, Progress, ReadBound, TimestampLookup, Watermark};
