//! Raft's log in a brook-log partition log: entry `i` is the batch at offset `i`, one entry per
//! batch, its record's value the bincode of the openraft entry. An append is reported flushed
//! only once the log's group commit has fdatasync'd it (the log runs with `flush.on.ack`, so
//! its high watermark is the synced offset).
//!
//! Beside the segments, `quorum-state.json` holds what Raft must keep besides entries: the vote,
//! the last committed and the last purged log id. It is replaced atomically on every change;
//! votes and purges are rare, commits follow metadata changes, which are few.

use std::fmt::Debug;
use std::io;
use std::ops::{Bound, RangeBounds};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use brook_log::batch::{self, Record};
use brook_log::storage::{Storage, read_vec, write_atomically};
use brook_log::{Clock, Durability, Log, LogConfig, LogEnv, LogError, ReadBound};
use openraft::storage::{LogFlushed, RaftLogStorage};
use openraft::{LogId, LogState, OptionalSend, RaftLogReader, StorageError, StorageIOError, Vote};
use serde::{Deserialize, Serialize};

use crate::{Entry, NodeId, TypeConfig};

/// The file beside the segments that holds the vote and the commit and purge points.
pub(crate) const STATE_FILE: &str = "quorum-state.json";
/// The largest entry (a metadata command) accepted: a topic of 100,000 partitions with its
/// replica lists fits with room to spare.
const ENTRY_BYTES_MAX: u32 = 64 << 20;
/// Segments roll at this size so that purged entries leave the disk soon after a snapshot.
const SEGMENT_BYTES: u32 = 16 << 20;
/// How much one read of the log asks for.
const READ_BYTES: usize = 1 << 20;

/// What Raft keeps besides its entries.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Persisted {
    pub(crate) vote: Option<Vote<NodeId>>,
    pub(crate) committed: Option<LogId<NodeId>>,
    pub(crate) purged: Option<LogId<NodeId>>,
}

/// The log store; clones (the readers replication tasks use) share it.
#[derive(Clone)]
pub(crate) struct LogStore {
    inner: Arc<Inner>,
}

struct Inner {
    log: Log,
    storage: Arc<dyn Storage>,
    clock: Arc<dyn Clock>,
    state_path: PathBuf,
    persisted: Mutex<Persisted>,
    /// The id of the last entry, or the last purged one when the log is empty.
    last: Mutex<Option<LogId<NodeId>>>,
}

impl LogStore {
    /// Opens the log in `dir`, repairing what a crash between a purge's two steps left.
    pub(crate) fn open(dir: &Path, env: LogEnv) -> Result<LogStore, LogError> {
        let config = LogConfig {
            retention_ms: -1,
            retention_bytes: -1,
            segment_bytes: SEGMENT_BYTES,
            max_message_bytes: ENTRY_BYTES_MAX,
            message_timestamp_after_max_ms: i64::MAX,
            flush_on_ack: true,
            ..LogConfig::default()
        };
        let (storage, clock) = (env.storage.clone(), env.clock.clone());
        let log = Log::open(dir, config, env)?;
        let state_path = dir.join(STATE_FILE);
        let persisted = read_persisted(&*storage, &state_path)?;
        if let Some(purged) = persisted.purged {
            let start = purged.index as i64 + 1;
            if log.log_end_offset() < start {
                log.truncate_fully_and_start_at(start)?;
            } else if log.log_start_offset() < start {
                log.delete_records(start)?;
            }
        }
        let store = LogStore {
            inner: Arc::new(Inner {
                log,
                storage,
                clock,
                state_path,
                persisted: Mutex::new(persisted.clone()),
                last: Mutex::new(None),
            }),
        };
        let last = store.last_entry_id().map_err(|e| LogError::Storage {
            op: "read the last quorum entry",
            path: dir.to_path_buf(),
            source: io::Error::other(e),
        })?;
        *store.inner.last.lock().expect("last lock") = last.or(persisted.purged);
        Ok(store)
    }

    /// Syncs the log and leaves a checkpoint at its end.
    pub(crate) fn close(&self) -> Result<(), LogError> {
        self.inner.log.close()
    }

    pub(crate) fn persisted(&self) -> Persisted {
        self.inner.persisted.lock().expect("persisted lock").clone()
    }

    fn last_entry_id(&self) -> Result<Option<LogId<NodeId>>, String> {
        let log = &self.inner.log;
        let end = log.log_end_offset();
        if end == log.log_start_offset() {
            return Ok(None);
        }
        let entries = self.read_entries(end as u64 - 1, end as u64)?;
        Ok(entries.last().map(|e| e.log_id))
    }

    /// The first index the log still holds (everything before is in the snapshot).
    pub(crate) fn start_index(&self) -> u64 {
        self.inner.log.log_start_offset() as u64
    }

    /// Entries with indexes in `[start, end)` that the log holds.
    pub(crate) fn read_entries(&self, start: u64, end: u64) -> Result<Vec<Entry>, String> {
        let log = &self.inner.log;
        let end = end.min(log.log_end_offset() as u64);
        let mut offset = start.max(log.log_start_offset() as u64);
        let mut out = Vec::new();
        while offset < end {
            let bytes = log.read(offset as i64, READ_BYTES, ReadBound::LogEnd).map_err(|e| e.to_string())?;
            if bytes.is_empty() {
                break;
            }
            for (header, raw) in batch::whole_batches(&bytes) {
                let records = batch::decode_records(raw).ok_or("an unreadable quorum log batch")?;
                for record in records {
                    let value = record.value.ok_or("a quorum log record without a value")?;
                    let entry: Entry = bincode::deserialize(&value).map_err(|e| e.to_string())?;
                    if (start..end).contains(&entry.log_id.index) {
                        out.push(entry);
                    }
                }
                offset = header.next_offset() as u64;
            }
        }
        Ok(out)
    }

    fn save(&self, change: impl FnOnce(&mut Persisted)) -> Result<(), io::Error> {
        let mut persisted = self.inner.persisted.lock().expect("persisted lock");
        let mut next = persisted.clone();
        change(&mut next);
        let bytes = serde_json::to_vec(&next).expect("quorum state serializes");
        write_atomically(&*self.inner.storage, &self.inner.state_path, &bytes)?;
        *persisted = next;
        Ok(())
    }
}

fn read_persisted(storage: &dyn Storage, path: &Path) -> Result<Persisted, LogError> {
    if !storage.exists(path) {
        return Ok(Persisted::default());
    }
    let ctx = |source: io::Error| LogError::Storage { op: "read quorum state", path: path.to_path_buf(), source };
    let file = storage.open(path, false).map_err(ctx)?;
    let bytes = read_vec(&*file, 0, file.size().map_err(ctx)? as usize).map_err(ctx)?;
    // Written atomically, so a file that does not parse was damaged: refuse to guess a vote.
    serde_json::from_slice(&bytes).map_err(|e| ctx(io::Error::other(e)))
}

fn read_error(e: impl ToString) -> StorageError<NodeId> {
    StorageIOError::read_logs(openraft::AnyError::error(e.to_string())).into()
}

fn write_error(e: impl ToString) -> StorageError<NodeId> {
    StorageIOError::write_logs(openraft::AnyError::error(e.to_string())).into()
}

impl RaftLogReader<TypeConfig> for LogStore {
    async fn try_get_log_entries<RB: RangeBounds<u64> + Clone + Debug + OptionalSend>(
        &mut self,
        range: RB,
    ) -> Result<Vec<Entry>, StorageError<NodeId>> {
        let start = match range.start_bound() {
            Bound::Included(&i) => i,
            Bound::Excluded(&i) => i + 1,
            Bound::Unbounded => 0,
        };
        let end = match range.end_bound() {
            Bound::Included(&i) => i + 1,
            Bound::Excluded(&i) => i,
            Bound::Unbounded => u64::MAX,
        };
        self.read_entries(start, end).map_err(read_error)
    }
}

impl RaftLogStorage<TypeConfig> for LogStore {
    type LogReader = LogStore;

    async fn get_log_state(&mut self) -> Result<LogState<TypeConfig>, StorageError<NodeId>> {
        let last_purged_log_id = self.persisted().purged;
        let last_log_id = *self.inner.last.lock().expect("last lock");
        Ok(LogState { last_purged_log_id, last_log_id })
    }

    async fn get_log_reader(&mut self) -> LogStore {
        self.clone()
    }

    async fn save_vote(&mut self, vote: &Vote<NodeId>) -> Result<(), StorageError<NodeId>> {
        self.save(|p| p.vote = Some(*vote)).map_err(|e| StorageIOError::write_vote(&e).into())
    }

    async fn read_vote(&mut self) -> Result<Option<Vote<NodeId>>, StorageError<NodeId>> {
        Ok(self.persisted().vote)
    }

    async fn save_committed(&mut self, committed: Option<LogId<NodeId>>) -> Result<(), StorageError<NodeId>> {
        if self.persisted().committed == committed {
            return Ok(());
        }
        self.save(|p| p.committed = committed).map_err(write_error)
    }

    /// The saved commit point, if this log still holds that entry (after a power cut the
    /// log may end before it; then Raft learns the commit point from the leader again).
    async fn read_committed(&mut self) -> Result<Option<LogId<NodeId>>, StorageError<NodeId>> {
        let persisted = self.persisted();
        let Some(committed) = persisted.committed else { return Ok(None) };
        if persisted.purged.is_some_and(|p| p.index >= committed.index) {
            return Ok(Some(committed));
        }
        let found = self.read_entries(committed.index, committed.index + 1).map_err(read_error)?;
        Ok(found.first().filter(|e| e.log_id == committed).map(|e| e.log_id))
    }

    async fn append<I>(&mut self, entries: I, callback: LogFlushed<TypeConfig>) -> Result<(), StorageError<NodeId>>
    where
        I: IntoIterator<Item = Entry> + OptionalSend,
        I::IntoIter: OptionalSend,
    {
        let log = &self.inner.log;
        let mut last_offset = None;
        for entry in entries {
            let index = entry.log_id.index as i64;
            let end = log.log_end_offset();
            if index != end {
                // Only an empty log may start anywhere (after a snapshot was installed).
                if log.log_start_offset() != end {
                    return Err(write_error(format!("entry {index} does not follow the log's end {end}")));
                }
                log.truncate_fully_and_start_at(index).map_err(write_error)?;
            }
            let value = bincode::serialize(&entry).map_err(write_error)?;
            let record = Record { timestamp_delta: 0, key: None, value: Some(value) };
            let now_ms = self.inner.clock.now_ms();
            let appended = log.append(batch::build::batch(now_ms, &[record]), Durability::Sync).map_err(write_error)?;
            assert_eq!(appended.base_offset, index, "a quorum entry's offset is its index");
            *self.inner.last.lock().expect("last lock") = Some(entry.log_id);
            last_offset = Some(appended.last_offset);
        }
        match last_offset {
            None => callback.log_io_completed(Ok(())),
            Some(offset) => {
                let log = log.clone();
                tokio::spawn(async move {
                    let synced = log.wait_for_high_watermark(offset + 1).await.map_err(io::Error::other);
                    callback.log_io_completed(synced);
                });
            }
        }
        Ok(())
    }

    async fn truncate(&mut self, log_id: LogId<NodeId>) -> Result<(), StorageError<NodeId>> {
        self.inner.log.truncate_to(log_id.index as i64).map_err(write_error)?;
        let last = self.last_entry_id().map_err(read_error)?;
        *self.inner.last.lock().expect("last lock") = last.or(self.persisted().purged);
        Ok(())
    }

    async fn purge(&mut self, log_id: LogId<NodeId>) -> Result<(), StorageError<NodeId>> {
        // The purge point is saved first: opening repairs a log whose start did not move yet.
        self.save(|p| p.purged = Some(log_id)).map_err(write_error)?;
        let log = &self.inner.log;
        let start = log_id.index as i64 + 1;
        if log.log_end_offset() < start {
            log.truncate_fully_and_start_at(start).map_err(write_error)?;
        } else {
            if log.high_watermark() < start {
                log.sync().map_err(write_error)?;
            }
            log.delete_records(start).map_err(write_error)?;
            log.enforce_retention().map_err(write_error)?;
        }
        let mut last = self.inner.last.lock().expect("last lock");
        if last.is_none_or(|l| l.index < log_id.index) {
            *last = Some(log_id);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use brook_log::{Flusher, LogEnv};
    use openraft::testing::{StoreBuilder, Suite};

    use super::*;
    use crate::StateMachine;
    use crate::state_machine::{AppliedBytes, StateMachineStore};

    /// A state machine that keeps nothing: the suite checks the log and the applied points.
    struct Nothing;

    impl StateMachine for Nothing {
        fn apply(&self, _index: u64, _command: &[u8]) {}
        fn snapshot(&self) -> Vec<u8> {
            Vec::new()
        }
        fn restore(&self, _snapshot: &[u8]) -> Result<(), String> {
            Ok(())
        }
    }

    struct OnDisk;

    impl StoreBuilder<TypeConfig, LogStore, StateMachineStore, (tempfile::TempDir, Flusher)> for OnDisk {
        async fn build(
            &self,
        ) -> Result<((tempfile::TempDir, Flusher), LogStore, StateMachineStore), StorageError<NodeId>> {
            let tmp = tempfile::tempdir().expect("temp dir");
            let flusher = Flusher::start();
            let env = LogEnv::os(&flusher);
            let log = LogStore::open(tmp.path(), env.clone()).map_err(write_error)?;
            let applied_bytes = Arc::new(AppliedBytes::new(1 << 20, 1000));
            let sm = StateMachineStore::open(tmp.path(), env.storage, Arc::new(Nothing), applied_bytes)
                .map_err(write_error)?;
            Ok(((tmp, flusher), log, sm))
        }
    }

    /// openraft's own conformance suite for log stores and state machines passes on ours.
    #[test]
    fn openraft_storage_suite() {
        Suite::test_all(OnDisk).expect("openraft's storage suite");
    }
}
