//! Group commit: one background thread that fdatasyncs logs on request. Appends that ask for
//! durability wake it at once; others give it up to `log.flush.max.delay.ms`. While it syncs,
//! new appends pile up and the next round covers them all with one sync per file, so many
//! concurrent durable writers share each fdatasync. A round of many logs (a produce request
//! touching thousands of partitions) is covered instead by one syncfs per file system: each
//! log notes what it had written, the file system is synced, and each marks that durable.
//!
//! The thread runs off the async worker threads: an fdatasync can take milliseconds and must
//! never block a tokio worker.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::Instant;

use brook_metrics::Histogram;

use crate::log::Written;
use crate::storage::Storage;

/// At most this many fdatasyncs in flight at once.
const PARALLEL_SYNCS: usize = 8;
/// From this many logs in one round, one syncfs per file system replaces their fdatasyncs.
/// (ext4 here, 10,000 files each 1 KiB behind: their fdatasyncs one after another 0.9 s, one
/// syncfs 0.1-0.3 s.)
const SHARED_SYNC_LOGS: usize = 64;

/// Something the flusher can sync.
pub(crate) trait Flush: Send + Sync {
    /// Syncs whatever is unsynced now; errors are the log's to record.
    fn flush(self: Arc<Self>);
    /// Set while the log is in the flusher's queue, so that appends queue it once.
    fn queued(&self) -> &AtomicBool;
    /// What it has written and not synced, noted before a sync of its file system begins;
    /// `None` when there is nothing (or it is offline: `flush` reports that).
    fn written(&self) -> Option<Written>;
    /// The storage and a directory on the file system that holds it.
    fn sync_root(&self) -> (&Arc<dyn Storage>, PathBuf);
    /// After a sync of its file system that began once `written` was noted: that is durable.
    fn synced_up_to(self: Arc<Self>, written: Written);
}

/// The group-commit thread. Dropping it syncs what is queued and stops the thread.
pub struct Flusher {
    queue: Arc<FlushQueue>,
    thread: Option<JoinHandle<()>>,
    /// How long each fdatasync of the logs it serves took (filled by `OsStorage`).
    sync_latency: Arc<Histogram>,
}

pub(crate) struct FlushQueue {
    state: Mutex<QueueState>,
    wake: Condvar,
}

#[derive(Default)]
struct QueueState {
    pending: Vec<(Arc<dyn Flush>, Instant)>,
    shutdown: bool,
}

impl Flusher {
    pub fn start() -> Flusher {
        let queue = Arc::new(FlushQueue { state: Mutex::new(QueueState::default()), wake: Condvar::new() });
        let worker = queue.clone();
        let thread = std::thread::Builder::new()
            .name("brook-flusher".into())
            .spawn(move || worker.run())
            .expect("spawning the flusher thread");
        Flusher { queue, thread: Some(thread), sync_latency: Arc::default() }
    }

    pub fn sync_latency(&self) -> Arc<Histogram> {
        self.sync_latency.clone()
    }

    pub(crate) fn queue(&self) -> Arc<FlushQueue> {
        self.queue.clone()
    }
}

impl Drop for Flusher {
    fn drop(&mut self) {
        self.queue.state.lock().expect("flush queue lock").shutdown = true;
        self.queue.wake.notify_all();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl FlushQueue {
    /// Asks for `log` to be synced by `deadline`.
    pub(crate) fn request(&self, log: Arc<dyn Flush>, deadline: Instant, urgent: bool) {
        let already = log.queued().swap(true, Ordering::AcqRel);
        if already && !urgent {
            return;
        }
        let mut state = self.state.lock().expect("flush queue lock");
        if state.shutdown {
            drop(state);
            log.queued().store(false, Ordering::Release);
            log.flush();
            return;
        }
        state.pending.push((log, deadline));
        drop(state);
        self.wake.notify_one();
    }

    fn run(&self) {
        loop {
            let batch = {
                let mut state = self.state.lock().expect("flush queue lock");
                loop {
                    let earliest = state.pending.iter().map(|(_, deadline)| *deadline).min();
                    match earliest {
                        None if state.shutdown => return,
                        None => state = self.wake.wait(state).expect("flush queue lock"),
                        Some(deadline) => {
                            let now = Instant::now();
                            if deadline <= now || state.shutdown {
                                break;
                            }
                            state = self.wake.wait_timeout(state, deadline - now).expect("flush queue lock").0;
                        }
                    }
                }
                std::mem::take(&mut state.pending)
            };
            let mut logs: Vec<&Arc<dyn Flush>> = Vec::with_capacity(batch.len());
            for (log, _) in &batch {
                if !logs.iter().any(|seen| Arc::ptr_eq(seen, log)) {
                    logs.push(log);
                }
            }
            // Cleared first: an append that lands during the sync queues the log again.
            for log in &logs {
                log.queued().store(false, Ordering::Release);
            }
            if logs.len() >= SHARED_SYNC_LOGS {
                sync_file_systems(&logs);
            } else {
                sync_each(&logs);
            }
        }
    }
}

/// Several logs' fdatasyncs go to the disk together (a device flushes them at once far faster
/// than one after another), on a few short-lived threads.
fn sync_each(logs: &[&Arc<dyn Flush>]) {
    match logs {
        [] => return,
        [log] => return (*log).clone().flush(),
        _ => {}
    }
    let per_thread = logs.len().div_ceil(PARALLEL_SYNCS);
    std::thread::scope(|scope| {
        for chunk in logs.chunks(per_thread) {
            scope.spawn(move || chunk.iter().for_each(|log| (*log).clone().flush()));
        }
    });
}

/// One syncfs per file system the logs live on instead of a sync per log. A log on a file
/// system whose sync failed syncs its own files, which reports the error where it belongs.
fn sync_file_systems(logs: &[&Arc<dyn Flush>]) {
    let noted: Vec<_> = logs.iter().map(|log| (*log, log.sync_root(), log.written())).collect();
    let mut roots: Vec<(PathBuf, std::io::Result<()>)> = Vec::new();
    for (_, (storage, root), _) in noted.iter().filter(|(_, _, written)| written.is_some()) {
        if !roots.iter().any(|(synced, _)| synced == root) {
            roots.push((root.clone(), storage.sync_all(root)));
        }
    }
    let mut fallback = Vec::new();
    for (log, (_, root), written) in noted {
        match written.filter(|_| roots.iter().any(|(synced, r)| *synced == root && r.is_ok())) {
            Some(written) => log.clone().synced_up_to(written),
            None => fallback.push(log),
        }
    }
    sync_each(&fallback);
}
