//! Group commit: one background thread that fdatasyncs logs on request. Appends that ask for
//! durability wake it at once; others give it up to `log.flush.max.delay.ms`. While it syncs,
//! new appends pile up and the next round covers them all with one sync per file, so many
//! concurrent durable writers share each fdatasync.
//!
//! The thread runs off the async worker threads: an fdatasync can take milliseconds and must
//! never block a tokio worker.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::Instant;

use brook_metrics::Histogram;

/// At most this many fdatasyncs in flight at once.
const PARALLEL_SYNCS: usize = 8;

/// Something the flusher can sync.
pub(crate) trait Flush: Send + Sync {
    /// Syncs whatever is unsynced now; errors are the log's to record.
    fn flush(self: Arc<Self>);
    /// Set while the log is in the flusher's queue, so that appends queue it once.
    fn queued(&self) -> &AtomicBool;
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
            // Several logs' fdatasyncs go to the disk together (a device flushes them at once
            // far faster than one after another), on a few short-lived threads.
            if logs.len() == 1 {
                logs[0].clone().flush();
            } else {
                let per_thread = logs.len().div_ceil(PARALLEL_SYNCS);
                std::thread::scope(|scope| {
                    for chunk in logs.chunks(per_thread) {
                        scope.spawn(move || chunk.iter().for_each(|log| (*log).clone().flush()));
                    }
                });
            }
        }
    }
}
