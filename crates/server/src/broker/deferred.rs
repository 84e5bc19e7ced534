//! Partitions a restart opens after it serves. Reading back a partition (its checkpoint, epoch
//! cache, active segment head, time index and producer snapshot) costs about 30 µs, so a
//! broker holding 100,000 would spend seconds before answering anything. Instead, start-up
//! opens only new partitions and the coordinators' internal topics; those whose logs are on
//! disk wait here and open on a background thread, or at once when a request needs one first.
//! A partition takes its role as it opens, before anyone else can see it.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Instant;

use tokio::sync::watch;
use tracing::{info, warn};
use uuid::Uuid;

use super::{Broker, TopicMeta, in_parallel};
use crate::internal_topic::is_internal;
use crate::partition::Partition;
use crate::replica::min_insync;
use crate::topic_config;

type Key = (String, i32);

/// How many partitions the background opener takes at a time; the fetchers learn of the
/// followers among them after each round.
const ROUND: usize = 25_000;

/// A partition found on disk and not opened yet.
struct Waiting {
    topic_id: Uuid,
    /// Set once: the opened partition, or `None` when it was dropped (or failed) instead.
    opened: OnceLock<Option<Arc<Partition>>>,
}

#[derive(Default)]
pub(super) struct Deferred {
    waiting: Mutex<HashMap<Key, Arc<Waiting>>>,
    /// True while partitions wait (set before serving, cleared when the opener is done).
    pending: watch::Sender<bool>,
    /// A partition opened since the fetchers were last given theirs follows a leader.
    fetchers_stale: AtomicBool,
}

impl Deferred {
    pub(super) fn len(&self) -> usize {
        self.lock().len()
    }

    /// Whether `key` waits here, for the topic with `topic_id`.
    pub(super) fn holds(&self, key: &Key, topic_id: Uuid) -> bool {
        self.lock().get(key).is_some_and(|w| w.topic_id == topic_id)
    }

    /// The waiting partitions whose topic is no longer `wanted` here.
    pub(super) fn unwanted(&self, wanted: &HashMap<Key, Uuid>) -> Vec<Key> {
        self.lock().iter().filter(|(key, w)| wanted.get(*key) != Some(&w.topic_id)).map(|(k, _)| k.clone()).collect()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<Key, Arc<Waiting>>> {
        self.waiting.lock().expect("deferred partitions lock")
    }
}

impl Broker {
    /// Moves the partitions of `open` whose logs are already on disk (other than the internal
    /// topics') to wait for the background opener, and returns the rest.
    pub(super) fn defer_existing(&self, open: Vec<(TopicMeta, i32)>) -> Vec<(TopicMeta, i32)> {
        let on_disk: HashSet<String> = self
            .config
            .log_dirs
            .iter()
            .filter_map(|dir| std::fs::read_dir(dir).ok())
            .flat_map(|entries| entries.filter_map(|e| e.ok()?.file_name().into_string().ok()))
            .collect();
        let mut waiting = self.deferred.lock();
        let rest = open
            .into_iter()
            .filter(|(topic, index)| {
                if is_internal(&topic.name) || !on_disk.contains(&format!("{}-{index}", topic.name)) {
                    return true;
                }
                let slot = Waiting { topic_id: topic.id, opened: OnceLock::new() };
                waiting.insert((topic.name.clone(), *index), Arc::new(slot));
                false
            })
            .collect();
        if !waiting.is_empty() {
            self.deferred.pending.send_replace(true);
        }
        rest
    }

    /// The waiting partition `key`, opened now if the background opener has not come to it.
    pub(super) fn open_waiting(&self, key: &Key) -> Option<Arc<Partition>> {
        let slot = self.deferred.lock().get(key).cloned()?;
        self.open_slot(key, &slot)
    }

    fn open_slot(&self, key: &Key, slot: &Waiting) -> Option<Arc<Partition>> {
        slot.opened
            .get_or_init(|| {
                let opened = self.open_with_role(key, slot.topic_id);
                // One that did not open stays listed, for reconciliation to withdraw.
                if opened.is_some() {
                    self.deferred.lock().remove(key);
                }
                opened
            })
            .clone()
    }

    /// Opens a waiting partition with the config and role the image gives it now, and makes it
    /// visible; `None` if its topic is gone (reconciliation then drops it) or it cannot open.
    fn open_with_role(&self, (name, index): &Key, topic_id: Uuid) -> Option<Arc<Partition>> {
        let config = {
            let image = self.image();
            let topic = image.topic(name).filter(|t| t.id == topic_id)?;
            topic_config::apply(&self.topic_defaults_in(&image).log, &topic.configs)
        };
        let partition = match self.open_log(name, topic_id, *index, config) {
            Ok(partition) => Arc::new(partition),
            Err(e) => {
                warn!(topic = name, partition = index, error = %e, "opening a partition failed");
                return None;
            }
        };
        let _one_at_a_time = self.assigning.lock().expect("assigning lock");
        {
            let image = self.image();
            let topic = image.topic(name).filter(|t| t.id == topic_id);
            if let Some((topic, meta)) = topic.and_then(|t| Some((t, t.partition(*index)?))) {
                let min_insync = min_insync(&topic.configs, self.topic_defaults_in(&image).min_insync_replicas);
                if partition.set_role(self.config.node_id, meta, min_insync, self.clock.now_ms()) {
                    self.deferred.fetchers_stale.store(true, Ordering::Release);
                }
            }
        }
        self.partitions.write().expect("partitions lock").insert((name.clone(), *index), partition.clone());
        Some(partition)
    }

    /// Takes the waiting partitions `keys` out for good (their topic is gone), waiting for any
    /// that is opening. Returns those that had opened (they are in the open set now).
    pub(super) fn withdraw_waiting(&self, keys: &[Key]) -> Vec<Key> {
        let mut opened = Vec::new();
        for key in keys {
            let Some(slot) = self.deferred.lock().remove(key) else { continue };
            if slot.opened.get_or_init(|| None).is_some() {
                opened.push(key.clone());
            } else {
                let dir = self.partition_dir(&key.0, key.1).0;
                if let Err(e) = std::fs::remove_dir_all(&dir) {
                    warn!(dir = %dir.display(), error = %e, "could not remove a deleted partition's directory");
                }
            }
        }
        opened
    }

    /// The background opener: opens every waiting partition, a round at a time, and gives the
    /// fetchers the followers among them after each round.
    pub(super) fn open_deferred(&self) {
        let started = Instant::now();
        let mut slots: Vec<(Key, Arc<Waiting>)> =
            self.deferred.lock().iter().map(|(key, slot)| (key.clone(), slot.clone())).collect();
        slots.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        let total = slots.len();
        for round in slots.chunks(ROUND) {
            if *self.stop.borrow() {
                return;
            }
            let image_before = self.image().applied_index;
            in_parallel(round, |(key, slot)| {
                self.open_slot(key, slot);
                Ok(())
            })
            .expect("opening reports its own errors");
            let stale_fetchers = self.deferred.fetchers_stale.swap(false, Ordering::AcqRel);
            if self.image().applied_index != image_before {
                // A topic config that changed while a partition was opening may have been
                // read before the change and applied after it: reconciling again applies
                // what the image says now (and gives the fetchers their partitions).
                if let Err(e) = self.reconcile() {
                    warn!(error = %e, "reconciling after opening partitions failed");
                }
            } else if stale_fetchers {
                self.assign_roles();
            }
        }
        self.deferred.pending.send_replace(false);
        let elapsed_ms = started.elapsed().as_millis() as u64;
        info!(partitions = total, elapsed_ms, "opened the partitions found on disk");
    }

    /// Waits until no partition waits to be opened (for answers that list them all).
    pub async fn all_partitions_open(&self) {
        let mut pending = self.deferred.pending.subscribe();
        let _ = pending.wait_for(|waiting| !waiting).await;
    }
}
