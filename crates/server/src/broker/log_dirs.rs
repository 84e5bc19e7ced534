//! Moving partitions between this broker's log dirs (AlterReplicaLogDirs, KIP-113), and what a
//! move left on disk when the broker stopped. A move copies the partition's log into the other
//! dir on a blocking thread while producers and followers go on writing it
//! (`brook_log::relocate`); once the copy has caught up, the log is locked for its last
//! batches and the swap. Compaction leaves a moving partition alone, as Kafka pauses its
//! cleaner for one.
//!
//! A copy's directory is `<topic>-<partition>.<topic id><nonce>-future`: at start-up a copy is
//! kept only for the topic it was made for, so a topic deleted and created again under the
//! same name never takes an old copy's data.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use brook_log::relocate::{Leftover, LogCopy, Step};
use brook_log::{Log, LogError};
use kafka_protocol::error::ResponseError;
use tracing::{info, warn};

use super::Broker;
use crate::config::ALTER_LOG_DIRS_RATE;
use crate::partition::Partition;

type Key = (String, i32);

/// How much one step of a copy reads.
const STEP_BYTES: usize = 1 << 20;

/// The moves in progress, by partition.
pub(crate) struct Moves {
    moving: Mutex<HashMap<Key, Arc<Move>>>,
    /// Makes each copy's directory name new, so a cancelled copy being removed never
    /// collides with the next one into the same dir. It starts at random: a copy an earlier
    /// run left may be carried on under its old name.
    nonce: AtomicU32,
}

impl Default for Moves {
    fn default() -> Moves {
        Moves { moving: Mutex::default(), nonce: AtomicU32::new(uuid::Uuid::new_v4().as_u128() as u32) }
    }
}

/// One partition's move to another log dir.
pub(crate) struct Move {
    pub(crate) dest: PathBuf,
    cancelled: AtomicBool,
    /// The copy as far as it goes, once started (DescribeLogDirs lists it as the future replica).
    pub(crate) future: Mutex<Option<Log>>,
}

impl Moves {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<Key, Arc<Move>>> {
        self.moving.lock().expect("moves lock")
    }

    pub(crate) fn is_moving(&self, topic: &str, index: i32) -> bool {
        self.lock().contains_key(&(topic.to_string(), index))
    }

    /// The moves in progress and the copies they have made so far.
    pub(crate) fn futures(&self) -> Vec<(Key, PathBuf, Option<Log>)> {
        self.lock()
            .iter()
            .map(|(key, m)| (key.clone(), m.dest.clone(), m.future.lock().expect("future lock").clone()))
            .collect()
    }
}

impl Broker {
    /// The configured log dir `path` names: Kafka's tools send the absolute path that
    /// DescribeLogDirs reported.
    pub fn log_dir_named(&self, path: &str) -> Option<PathBuf> {
        self.config.log_dirs.iter().find(|d| d.as_os_str() == path || absolute(d) == Path::new(path)).cloned()
    }

    /// Moves a partition's replica here into the log dir `dest` (one of `log_dir_named`'s), as
    /// Kafka's AlterReplicaLogDirs: at once if it is there already (cancelling a move elsewhere),
    /// else in the background. REPLICA_NOT_AVAILABLE if this broker holds no replica of it,
    /// UNKNOWN_TOPIC_OR_PARTITION if it does not exist.
    pub fn alter_replica_log_dir(self: &Arc<Self>, topic: &str, index: i32, dest: &Path) -> Result<(), ResponseError> {
        self.start_move(topic, index, dest, None)
    }

    /// Carries on a move a stop interrupted, with the copy it left under `id`.
    pub(super) fn resume_move(self: &Arc<Self>, topic: &str, index: i32, dest: &Path, id: String) {
        if let Err(e) = self.start_move(topic, index, dest, Some(id)) {
            warn!(topic, partition = index, error = ?e, "could not resume a replica move");
        }
    }

    /// A new move (under a new copy id) or, with `id`, the one a stop interrupted.
    fn start_move(
        self: &Arc<Self>,
        topic: &str,
        index: i32,
        dest: &Path,
        id: Option<String>,
    ) -> Result<(), ResponseError> {
        let Some(partition) = self.partition(topic, index) else {
            let exists = self.topic(topic).is_some_and(|t| t.partition(index).is_some());
            return Err(if exists {
                ResponseError::ReplicaNotAvailable
            } else {
                ResponseError::UnknownTopicOrPartition
            });
        };
        let key = (topic.to_string(), index);
        let mut moving = self.moves.lock();
        if let Some(m) = moving.get(&key) {
            if m.dest == dest {
                return Ok(());
            }
            m.cancelled.store(true, Ordering::SeqCst);
            moving.remove(&key);
        }
        if partition.log.dir().parent() == Some(dest) {
            return Ok(());
        }
        let m =
            Arc::new(Move { dest: dest.to_path_buf(), cancelled: AtomicBool::new(false), future: Mutex::default() });
        moving.insert(key.clone(), m.clone());
        drop(moving);
        info!(topic, partition = index, dest = %dest.display(), "moving a replica to another log dir");
        let broker = self.clone();
        let nonce = self.moves.nonce.fetch_add(1, Ordering::SeqCst);
        let id = id.unwrap_or_else(|| format!("{}{nonce:08x}", partition.topic_id.simple()));
        std::thread::Builder::new()
            .name("brook-move".into())
            .spawn(move || {
                match broker.copy_and_swap(&partition, &m, &id) {
                    Ok(true) => info!(topic = partition.topic, partition = partition.index, "replica moved"),
                    Ok(false) => info!(topic = partition.topic, partition = partition.index, "replica move cancelled"),
                    Err(e) => {
                        warn!(topic = partition.topic, partition = partition.index, error = %e, "replica move failed")
                    }
                }
                let mut moving = broker.moves.lock();
                if moving.get(&key).is_some_and(|current| Arc::ptr_eq(current, &m)) {
                    moving.remove(&key);
                }
            })
            .map_err(|_| ResponseError::UnknownServerError)?;
        Ok(())
    }

    /// Copies the partition's log into the move's dir and swaps it in; `false` if the move
    /// was cancelled or the partition left this broker first (the copy is removed then).
    fn copy_and_swap(&self, partition: &Arc<Partition>, m: &Move, id: &str) -> Result<bool, LogError> {
        let mut copy = LogCopy::start(&partition.log, &m.dest, id)?;
        *m.future.lock().expect("future lock") = Some(copy.future().clone());
        let going = || !m.cancelled.load(Ordering::SeqCst) && self.hosts(partition);
        let result = loop {
            if !going() {
                break Ok(false);
            }
            let rate = self.alter_log_dirs_rate();
            let started = Instant::now();
            match copy.step(STEP_BYTES.min(usize::try_from(rate).unwrap_or(usize::MAX))) {
                Ok(Step::CaughtUp) => {}
                Ok(Step::Copied(bytes)) => {
                    // At most `rate` bytes a second: what was copied takes its share of one.
                    let share = Duration::from_secs_f64(bytes as f64 / rate as f64);
                    std::thread::sleep(share.saturating_sub(started.elapsed()));
                    continue;
                }
                Err(e) => break Err(e),
            }
            // No reconciliation drops the partition (and removes its directory) meanwhile.
            let _reconciling = self.reconciling.lock().expect("reconcile lock");
            if !going() {
                break Ok(false);
            }
            match copy.try_finish() {
                Ok(true) => break Ok(true),
                Ok(false) => continue,
                Err(e) => break Err(e),
            }
        };
        *m.future.lock().expect("future lock") = None;
        if !matches!(result, Ok(true))
            && let Err(e) = copy.abandon()
        {
            warn!(topic = partition.topic, partition = partition.index, error = %e, "could not remove a replica's copy");
        }
        result
    }

    /// `replica.alter.log.dirs.io.max.bytes.per.second`: this broker's dynamic value, the
    /// cluster-wide one, or its configuration's.
    fn alter_log_dirs_rate(&self) -> u64 {
        let image = self.image();
        let own = self.config.node_id.to_string();
        [own.as_str(), ""]
            .into_iter()
            .find_map(|resource| image.broker_configs.get(resource)?.get(ALTER_LOG_DIRS_RATE)?.parse().ok())
            .unwrap_or(self.config.alter_log_dirs_bytes_per_second)
    }

    /// Whether `partition` is the one open here under its name.
    fn hosts(&self, partition: &Arc<Partition>) -> bool {
        let key = (partition.topic.clone(), partition.index);
        self.partitions.read().expect("partitions lock").get(&key).is_some_and(|p| Arc::ptr_eq(p, partition))
    }

    /// Before the partitions open: removes the old directories of moves that finished, puts in
    /// place a copy whose swap a stop interrupted (its log had been renamed away, so it is the
    /// whole log), and removes copies made for another topic. Returns the moves to carry on:
    /// (topic, partition, dest, copy id) of copies whose log is still in place.
    pub(super) fn tidy_log_dirs(&self) -> Vec<(String, i32, PathBuf, String)> {
        let image = self.image();
        let here: HashMap<(String, i32), uuid::Uuid> =
            image.partitions_on(self.config.node_id).map(|(t, index)| ((t.name.clone(), index), t.id)).collect();
        drop(image);
        let mut resume = Vec::new();
        for dir in &self.config.log_dirs {
            let Ok(entries) = std::fs::read_dir(dir) else { continue };
            for entry in entries.filter_map(Result::ok) {
                let name = entry.file_name().to_string_lossy().into_owned();
                let path = entry.path();
                let keep = match Leftover::parse(&name) {
                    None => continue,
                    Some(Leftover::Delete) => None,
                    Some(Leftover::Future { name, id }) => partition_key(&name)
                        .filter(|key| {
                            here.get(key).is_some_and(|topic_id| id.starts_with(&topic_id.simple().to_string()))
                        })
                        .map(|key| (name, key, id)),
                };
                let Some((live_name, (topic, index), id)) = keep else {
                    remove_dir(&path);
                    continue;
                };
                if self.config.log_dirs.iter().any(|d| d.join(&live_name).exists()) {
                    resume.push((topic, index, dir.clone(), id));
                    continue;
                }
                let live = dir.join(&live_name);
                match std::fs::rename(&path, &live).and_then(|()| std::fs::File::open(dir)?.sync_all()) {
                    Ok(()) => info!(dir = %live.display(), "finished a replica move a stop interrupted"),
                    Err(e) => warn!(dir = %path.display(), error = %e, "could not finish an interrupted replica move"),
                }
            }
        }
        resume
    }
}

/// `<topic>-<partition>` as a key.
fn partition_key(name: &str) -> Option<Key> {
    let (topic, index) = name.rsplit_once('-')?;
    Some((topic.to_string(), index.parse().ok()?))
}

fn remove_dir(path: &Path) {
    if let Err(e) = std::fs::remove_dir_all(path) {
        warn!(dir = %path.display(), error = %e, "could not remove what a replica move left");
    }
}

/// `path` made absolute against the working directory, as Kafka reports log dirs.
pub fn absolute(path: &Path) -> PathBuf {
    std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partition_directories_name_their_partition() {
        assert_eq!(partition_key("my-topic-12"), Some(("my-topic".into(), 12)));
        assert_eq!(partition_key("orders"), None);
        assert_eq!(partition_key("orders-x"), None);
    }
}
