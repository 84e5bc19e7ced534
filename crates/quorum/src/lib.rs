//! Brook's metadata quorum: a Raft group that puts commands (to Brook, batches of metadata
//! records) in one order and applies them to a state machine on every voter, as KRaft's
//! controllers do. The Raft library is openraft; no other crate names its types, so a version
//! bump touches only this one.
//!
//! - `quorum`: `Quorum`, a running voter: propose, read barrier, status, shutdown.
//! - `log_store`: Raft's log in a brook-log partition log, with the vote and commit point.
//! - `state_machine`: the bridge to Brook's `StateMachine`, and the snapshot file.
//! - `transport`: node-to-node RPC over TCP: Raft's messages and the application's own.

mod log_store;
mod quorum;
mod state_machine;
pub mod transport;

use std::io::Cursor;

use serde::{Deserialize, Serialize};

pub use crate::quorum::{Catchup, Quorum, QuorumConfig, QuorumError, QuorumStatus, VoterStatus};
pub use crate::transport::{AppHandler, CallError, Client};

/// A node's id: Kafka's `node.id`.
pub type NodeId = u64;

/// What the quorum orders: opaque bytes, which only the state machine reads.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Command(pub Vec<u8>);

impl std::fmt::Display for Command {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "command of {} bytes", self.0.len())
    }
}

/// The application's state, built by applying committed commands in order. Every voter
/// applies the same commands in the same order, so `apply` must depend on nothing else (no
/// clock, no randomness, no local files).
pub trait StateMachine: Send + Sync + 'static {
    /// Applies the command committed at `index`.
    fn apply(&self, index: u64, command: &[u8]);
    /// The whole state, as `restore` reads it back.
    fn snapshot(&self) -> Vec<u8>;
    /// Replaces the whole state with a snapshot's.
    fn restore(&self, snapshot: &[u8]) -> Result<(), String>;
}

openraft::declare_raft_types!(
    /// openraft's types for Brook's quorum.
    pub(crate) TypeConfig:
        D = Command,
        R = (),
        NodeId = NodeId,
        Node = openraft::BasicNode,
);

pub(crate) type Entry = openraft::Entry<TypeConfig>;
