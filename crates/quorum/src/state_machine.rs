//! The bridge between openraft and Brook's `StateMachine`, and the snapshot file.
//!
//! The state machine itself lives in memory; what makes it durable is the snapshot file
//! (`snapshot.bin`: bincode of the snapshot's metadata and the state machine's bytes) plus the
//! log after it, which Raft applies again at start-up up to the saved commit point.

use std::collections::VecDeque;
use std::io::{self, Cursor};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use brook_log::storage::{Storage, read_vec, write_atomically};
use openraft::storage::RaftStateMachine;
use openraft::{
    BasicNode, EntryPayload, LogId, OptionalSend, RaftSnapshotBuilder, Snapshot, SnapshotMeta, StorageError,
    StorageIOError, StoredMembership,
};
use serde::{Deserialize, Serialize};

use crate::{Entry, NodeId, StateMachine, TypeConfig};

/// The snapshot file beside the log's segments.
pub(crate) const SNAPSHOT_FILE: &str = "snapshot.bin";

#[derive(Clone, Serialize, Deserialize)]
pub(crate) struct StoredSnapshot {
    pub(crate) meta: SnapshotMeta<NodeId, BasicNode>,
    pub(crate) data: Vec<u8>,
}

/// The bytes of commands applied since the last snapshot, and the sizes of the latest
/// entries: a snapshot is due by bytes, and the log behind one is kept by bytes, as Kafka's
/// `metadata.log.max.record.bytes.between.snapshots` and `metadata.max.retention.bytes` do.
/// A count of entries alone lets a log of few, huge entries (a change to every one of 100,000
/// partitions is one entry of megabytes) grow without bound.
pub(crate) struct AppliedBytes {
    since_snapshot: AtomicU64,
    snapshot_bytes: u64,
    /// (index, bytes) of the latest entries applied, oldest first, at most `remembered`.
    recent: Mutex<VecDeque<(u64, u64)>>,
    remembered: usize,
    /// Woken when `snapshot_bytes` were applied since the last snapshot.
    pub(crate) due: tokio::sync::Notify,
}

impl AppliedBytes {
    pub(crate) fn new(snapshot_bytes: u64, remembered: usize) -> AppliedBytes {
        AppliedBytes {
            since_snapshot: AtomicU64::new(0),
            snapshot_bytes: snapshot_bytes.max(1),
            recent: Mutex::new(VecDeque::new()),
            remembered: remembered.max(1),
            due: tokio::sync::Notify::new(),
        }
    }

    fn applied(&self, index: u64, bytes: u64) {
        let mut recent = self.recent.lock().expect("recent entries lock");
        if recent.len() == self.remembered {
            recent.pop_front();
        }
        recent.push_back((index, bytes));
        drop(recent);
        let before = self.since_snapshot.fetch_add(bytes, Ordering::SeqCst);
        if before < self.snapshot_bytes && before + bytes >= self.snapshot_bytes {
            self.due.notify_one();
        }
    }

    fn snapshotted(&self) {
        self.since_snapshot.store(0, Ordering::SeqCst);
    }

    /// The last index to purge so that at most `keep_bytes` of the entries up to `snapshot`
    /// stay behind it; `None` while what is remembered fits.
    pub(crate) fn purge_point(&self, snapshot: u64, keep_bytes: u64) -> Option<u64> {
        let recent = self.recent.lock().expect("recent entries lock");
        let mut kept = 0;
        for &(index, bytes) in recent.iter().rev().filter(|(index, _)| *index <= snapshot) {
            kept += bytes;
            if kept > keep_bytes {
                return Some(index);
            }
        }
        None
    }
}

/// The state machine as openraft sees it.
pub(crate) struct StateMachineStore {
    app: Arc<dyn StateMachine>,
    applied_bytes: Arc<AppliedBytes>,
    files: SnapshotFiles,
    applied: Option<LogId<NodeId>>,
    membership: StoredMembership<NodeId, BasicNode>,
    /// Snapshots built by this node, counted to give each an id of its own.
    built: u64,
}

/// Where the snapshot is kept, and the latest one in memory.
#[derive(Clone)]
struct SnapshotFiles {
    storage: Arc<dyn Storage>,
    path: PathBuf,
    current: Arc<Mutex<Option<StoredSnapshot>>>,
}

impl SnapshotFiles {
    fn save(&self, snapshot: StoredSnapshot) -> io::Result<()> {
        let bytes = bincode::serialize(&snapshot).map_err(io::Error::other)?;
        write_atomically(&*self.storage, &self.path, &bytes)?;
        *self.current.lock().expect("snapshot lock") = Some(snapshot);
        Ok(())
    }
}

impl StateMachineStore {
    /// Restores `app` from the snapshot in `dir`, if there is one.
    pub(crate) fn open(
        dir: &Path,
        storage: Arc<dyn Storage>,
        app: Arc<dyn StateMachine>,
        applied_bytes: Arc<AppliedBytes>,
    ) -> io::Result<Self> {
        let path = dir.join(SNAPSHOT_FILE);
        let stored = read_snapshot(&*storage, &path)?;
        let (applied, membership) = match &stored {
            Some(s) => {
                app.restore(&s.data).map_err(io::Error::other)?;
                (s.meta.last_log_id, s.meta.last_membership.clone())
            }
            None => (None, StoredMembership::default()),
        };
        let files = SnapshotFiles { storage, path, current: Arc::new(Mutex::new(stored)) };
        Ok(StateMachineStore { app, applied_bytes, files, applied, membership, built: 0 })
    }
}

impl StateMachineStore {
    /// The latest snapshot, shared with whoever serves it to observers.
    pub(crate) fn snapshot_handle(&self) -> Arc<Mutex<Option<StoredSnapshot>>> {
        self.files.current.clone()
    }
}

fn read_snapshot(storage: &dyn Storage, path: &Path) -> io::Result<Option<StoredSnapshot>> {
    if !storage.exists(path) {
        return Ok(None);
    }
    let file = storage.open(path, false)?;
    let bytes = read_vec(&*file, 0, file.size()? as usize)?;
    bincode::deserialize(&bytes).map(Some).map_err(io::Error::other)
}

fn sm_error(e: impl ToString) -> StorageError<NodeId> {
    StorageIOError::write_state_machine(openraft::AnyError::error(e.to_string())).into()
}

/// Builds a snapshot from state captured when the builder was made, so applies may go on.
pub(crate) struct SnapshotBuilder {
    files: SnapshotFiles,
    meta: SnapshotMeta<NodeId, BasicNode>,
    data: Vec<u8>,
}

impl RaftSnapshotBuilder<TypeConfig> for SnapshotBuilder {
    async fn build_snapshot(&mut self) -> Result<Snapshot<TypeConfig>, StorageError<NodeId>> {
        let stored = StoredSnapshot { meta: self.meta.clone(), data: std::mem::take(&mut self.data) };
        let data = stored.data.clone();
        self.files.save(stored).map_err(|e| StorageIOError::write_snapshot(Some(self.meta.signature()), &e))?;
        Ok(Snapshot { meta: self.meta.clone(), snapshot: Box::new(Cursor::new(data)) })
    }
}

impl RaftStateMachine<TypeConfig> for StateMachineStore {
    type SnapshotBuilder = SnapshotBuilder;

    async fn applied_state(
        &mut self,
    ) -> Result<(Option<LogId<NodeId>>, StoredMembership<NodeId, BasicNode>), StorageError<NodeId>> {
        Ok((self.applied, self.membership.clone()))
    }

    async fn apply<I>(&mut self, entries: I) -> Result<Vec<()>, StorageError<NodeId>>
    where
        I: IntoIterator<Item = Entry> + OptionalSend,
        I::IntoIter: OptionalSend,
    {
        let mut out = Vec::new();
        for entry in entries {
            self.applied = Some(entry.log_id);
            match entry.payload {
                EntryPayload::Blank => {}
                EntryPayload::Normal(command) => {
                    self.app.apply(entry.log_id.index, &command.0);
                    self.applied_bytes.applied(entry.log_id.index, command.0.len() as u64);
                }
                EntryPayload::Membership(m) => self.membership = StoredMembership::new(Some(entry.log_id), m),
            }
            out.push(());
        }
        Ok(out)
    }

    async fn get_snapshot_builder(&mut self) -> SnapshotBuilder {
        self.built += 1;
        let snapshot_id = match self.applied {
            Some(id) => format!("{}-{}-{}", id.leader_id.term, id.index, self.built),
            None => format!("empty-{}", self.built),
        };
        let meta = SnapshotMeta { last_log_id: self.applied, last_membership: self.membership.clone(), snapshot_id };
        self.applied_bytes.snapshotted();
        SnapshotBuilder { files: self.files.clone(), meta, data: self.app.snapshot() }
    }

    async fn begin_receiving_snapshot(&mut self) -> Result<Box<Cursor<Vec<u8>>>, StorageError<NodeId>> {
        Ok(Box::new(Cursor::new(Vec::new())))
    }

    async fn install_snapshot(
        &mut self,
        meta: &SnapshotMeta<NodeId, BasicNode>,
        snapshot: Box<Cursor<Vec<u8>>>,
    ) -> Result<(), StorageError<NodeId>> {
        let data = snapshot.into_inner();
        self.app.restore(&data).map_err(sm_error)?;
        self.applied = meta.last_log_id;
        self.membership = meta.last_membership.clone();
        let stored = StoredSnapshot { meta: meta.clone(), data };
        self.files.save(stored).map_err(|e| StorageIOError::write_snapshot(Some(meta.signature()), &e).into())
    }

    async fn get_current_snapshot(&mut self) -> Result<Option<Snapshot<TypeConfig>>, StorageError<NodeId>> {
        let current = self.files.current.lock().expect("snapshot lock").clone();
        Ok(current.map(|s| Snapshot { meta: s.meta, snapshot: Box::new(Cursor::new(s.data)) }))
    }
}
