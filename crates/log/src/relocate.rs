//! Moving a log to another directory while it is written and read (AlterReplicaLogDirs), as
//! Kafka does: a copy, the "future" log, is built in `<dest>/<name>.<id>-future` from the
//! log's batches as a replica would build it (offsets and epochs kept); once it has caught
//! up, the log is locked, the last batches copied, and the copy takes the log's place. The
//! `Log` handle, its watches and its offsets stay; its directory and files change.
//!
//! A copy a stop interrupted is carried on at the next start when it still matches the log.
//!
//! A crash at any point loses nothing: the copy is synced before the old directory is
//! renamed `<name>.<id>-delete`, and only then is the copy renamed `<name>`. A crash between
//! the two renames leaves a `-future` directory and no live one; the layer that knows the
//! partitions finishes the move at the next start (see [`Leftover`]).

use std::path::{Path, PathBuf};

use crate::batch::whole_batches;
use crate::error::{IoContext, LogError};
use crate::log::{Log, ReadBound};
use crate::snapshot;

const FUTURE_SUFFIX: &str = "-future";
const DELETE_SUFFIX: &str = "-delete";
/// How much of the tail one locked read copies.
const TAIL_READ_BYTES: usize = 1 << 20;

/// A directory a move left in a log dir.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Leftover {
    /// A copy of the log `name`, made under `id`.
    Future { name: String, id: String },
    /// The old directory of a log that moved: to be removed.
    Delete,
}

impl Leftover {
    /// What the directory entry `entry` is, if a move left it.
    pub fn parse(entry: &str) -> Option<Leftover> {
        if let Some(rest) = entry.strip_suffix(FUTURE_SUFFIX) {
            let (name, id) = rest.rsplit_once('.')?;
            return Some(Leftover::Future { name: name.to_string(), id: id.to_string() });
        }
        let (_, id) = entry.strip_suffix(DELETE_SUFFIX)?.rsplit_once('.')?;
        (!id.is_empty()).then_some(Leftover::Delete)
    }
}

/// The directory a copy of the log `name` made under `id` is built in, in the log dir `parent`.
pub fn future_dir(parent: &Path, name: &str, id: &str) -> PathBuf {
    parent.join(format!("{name}.{id}{FUTURE_SUFFIX}"))
}

/// What one step of a copy did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// Copied this many bytes.
    Copied(usize),
    /// Nothing is left to copy: time to `try_finish`.
    CaughtUp,
}

/// What one read's batches did to the copy.
enum Copied {
    /// This many bytes.
    Some(usize),
    Nothing,
    /// A batch also holds offsets the copy has (compaction rewrote it meanwhile).
    Rewritten,
}

/// A copy of `source` being built in another log dir.
pub struct LogCopy {
    source: Log,
    future: Log,
    /// The source's truncations when the copy last started over: a truncation since may
    /// have removed batches the copy holds.
    truncations: u64,
    id: String,
}

impl LogCopy {
    /// Starts a copy of `source` in the log dir `parent`, under `id`. A copy an earlier run
    /// left there under the same id is carried on when it still matches the log (see
    /// `continues_source`), as Kafka resumes a future log; otherwise it starts over.
    pub fn start(source: &Log, parent: &Path, id: &str) -> Result<LogCopy, LogError> {
        let source_dir = source.dir();
        let name = source_dir.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        let dir = future_dir(parent, &name, id);
        let env = source.shared.env.clone();
        env.storage.create_dir_all(&dir).ctx("create the future log directory", &dir)?;
        let future = Log::open(&dir, source.config(), env)?;
        let mut copy =
            LogCopy { source: source.clone(), future, truncations: source.truncations(), id: id.to_string() };
        if copy.continues_source()? {
            let from = copy.future.log_end_offset();
            tracing::info!(dir = %copy.future.dir().display(), from, "carrying on a log copy an earlier run left");
        } else {
            copy.start_over()?;
        }
        Ok(copy)
    }

    /// Whether the copy holds a prefix of the log's batches: its last batch is byte for byte
    /// the log's batch at those offsets. A stop can leave a copy with a tail the log itself
    /// lost (a power cut kept the copy's unsynced writes but not the log's), or a log
    /// truncated and written again since; older batches were copied from the same log and
    /// checked as they came.
    fn continues_source(&self) -> Result<bool, LogError> {
        let end = self.future.log_end_offset();
        if end <= self.future.log_start_offset() || end > self.source.log_end_offset() {
            return Ok(false);
        }
        let last_batch = |log: &Log| match log.read(end - 1, 1, ReadBound::LogEnd) {
            Ok(bytes) => Ok(whole_batches(&bytes).next().map(|(_, batch)| batch.to_vec())),
            Err(LogError::OffsetOutOfRange { .. }) => Ok(None),
            Err(e) => Err(e),
        };
        let ours = last_batch(&self.future)?;
        Ok(ours.is_some() && ours == last_batch(&self.source)?)
    }

    /// The copy, as far as it goes.
    pub fn future(&self) -> &Log {
        &self.future
    }

    fn start_over(&mut self) -> Result<(), LogError> {
        self.truncations = self.source.truncations();
        self.future.truncate_fully_and_start_at(self.source.log_start_offset())
    }

    /// Copies up to about `max_bytes` more (the first batch whole, however large).
    pub fn step(&mut self, max_bytes: usize) -> Result<Step, LogError> {
        if self.source.truncations() != self.truncations
            || self.source.log_start_offset() > self.future.log_end_offset()
        {
            self.start_over()?;
        }
        let from = self.future.log_end_offset();
        let bytes = match self.source.read(from, max_bytes, ReadBound::LogEnd) {
            Ok(bytes) => bytes,
            // Retention or a truncation moved the log past the copy's end meanwhile.
            Err(LogError::OffsetOutOfRange { .. }) => {
                self.start_over()?;
                return Ok(Step::Copied(0));
            }
            Err(e) => return Err(e),
        };
        match self.append(&bytes, from)? {
            Copied::Some(bytes) => Ok(Step::Copied(bytes)),
            Copied::Nothing if from >= self.source.log_end_offset() => Ok(Step::CaughtUp),
            Copied::Nothing => Ok(Step::Copied(0)),
            Copied::Rewritten => {
                self.start_over()?;
                Ok(Step::Copied(0))
            }
        }
    }

    /// Appends the whole batches of `bytes` that hold offsets at or past `from`.
    fn append(&self, bytes: &[u8], from: i64) -> Result<Copied, LogError> {
        let mut start = None;
        let mut end = 0;
        let mut offset = 0;
        for (header, batch) in whole_batches(bytes) {
            let at = offset;
            offset += batch.len();
            if header.last_offset() < from {
                continue;
            }
            if header.base_offset < from {
                return Ok(Copied::Rewritten);
            }
            start.get_or_insert(at);
            end = offset;
        }
        let Some(start) = start else { return Ok(Copied::Nothing) };
        self.future.append_replica(&bytes[start..end])?;
        Ok(Copied::Some(end - start))
    }

    /// Locks the log, copies what the copy still lacks, and puts the copy in the log's place;
    /// `false` (and nothing changed) if the log was truncated meanwhile and the copy must go
    /// on. Until it returns, the log takes no writes.
    pub fn try_finish(&mut self) -> Result<bool, LogError> {
        let source = self.source.clone();
        let maintenance = source.shared.maintenance.lock().expect("maintenance lock");
        let mut state = source.lock_state();
        if state.offline {
            return Err(source.offline_error());
        }
        let caught_up = loop {
            let from = self.future.log_end_offset();
            if source.truncations() != self.truncations || from < state.log_start_offset() {
                break false;
            }
            if from >= state.log_end_offset() {
                break true;
            }
            let bytes = source.read_in(from, TAIL_READ_BYTES, ReadBound::LogEnd, || &*state)?;
            match self.append(&bytes, from)? {
                Copied::Some(_) => {}
                Copied::Nothing => break self.future.log_end_offset() >= state.log_end_offset(),
                Copied::Rewritten => break false,
            }
        };
        if !caught_up || self.future.log_end_offset() != state.log_end_offset() {
            drop(state);
            drop(maintenance);
            self.start_over()?;
            return Ok(false);
        }
        let storage = &*source.shared.env.storage;
        let (source_dir, future_dir) = (source.dir(), self.future.dir());
        // The copy gets the log's epochs as they are (one noted on leading and not yet
        // written is kept) and its producer snapshots, and is synced whole.
        if self.future.log_start_offset() < state.log_start_offset() {
            self.future.delete_records(state.log_start_offset())?;
        }
        self.future.close()?;
        state.save_epochs(storage, &future_dir).ctx("save the leader epoch cache", &future_dir)?;
        for offset in snapshot::list(storage, &source_dir)? {
            let path = snapshot::path(&source_dir, offset);
            let contents = storage.read(&path).ctx("read producer snapshot", &path)?;
            snapshot::write(storage, &future_dir, offset, &contents, true)?;
        }
        let name = source_dir.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        let (source_parent, future_parent) = (parent(&source_dir), parent(&future_dir));
        let doomed = source_parent.join(format!("{name}.{}{DELETE_SUFFIX}", self.id));
        storage.rename(&source_dir, &doomed).ctx("rename the moved log's directory", &source_dir)?;
        storage.sync_dir(&source_parent).ctx("sync directory", &source_parent)?;
        let live = future_parent.join(&name);
        let installed = storage
            .rename(&future_dir, &live)
            .ctx("install the moved log", &future_dir)
            .and_then(|()| storage.sync_dir(&future_parent).ctx("sync directory", &future_parent))
            .and_then(|()| Log::open_state(&live, state.config.clone(), &source.shared.env));
        let (files, _, dirty) = match installed {
            Ok(opened) => opened,
            Err(e) => return Err(source.go_offline(state, e)),
        };
        state.move_to(files);
        source.shared.set_dir(live);
        // Syncs noted against the old files must not count for the new ones.
        source.note_truncation();
        let (watermark, progress) = (state.watermark(), state.progress());
        drop(state);
        source.forget_listed_snapshots();
        source.publish(watermark);
        source.shared.progress.send_replace(progress);
        if dirty {
            source.write_checkpoint(&maintenance)?;
        }
        drop(maintenance);
        if let Err(e) = storage.remove_dir_all(&doomed) {
            tracing::warn!(dir = %doomed.display(), error = %e, "could not remove a moved log's old directory");
        }
        Ok(true)
    }

    /// Gives the copy up and removes its directory.
    pub fn abandon(self) -> Result<(), LogError> {
        let dir = self.future.dir();
        drop(self.future);
        self.source.shared.env.storage.remove_dir_all(&dir).ctx("remove the future log", &dir)
    }
}

fn parent(dir: &Path) -> PathBuf {
    dir.parent().map_or_else(|| PathBuf::from("."), Path::to_path_buf)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn leftovers_are_recognized_by_name() {
        assert_eq!(
            Leftover::parse("my.topic-3.abc123-future"),
            Some(Leftover::Future { name: "my.topic-3".into(), id: "abc123".into() })
        );
        assert_eq!(Leftover::parse("orders-0.abc-delete"), Some(Leftover::Delete));
        assert_eq!(Leftover::parse("orders-0"), None);
        assert_eq!(Leftover::parse("orders-delete"), None);
        assert_eq!(future_dir(Path::new("/d"), "t-0", "x"), Path::new("/d/t-0.x-future"));
    }
}
