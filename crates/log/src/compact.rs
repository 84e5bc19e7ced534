//! Log compaction (`cleanup.policy=compact`): keep the latest record of every key.
//!
//! One pass maps every key in the inactive segments (never the active one, never above the high
//! watermark or an open transaction) to its latest offset, then rewrites each segment without
//! the records a later one supersedes, without tombstones older than `delete.retention.ms`, and
//! without aborted transactions' batches (which never count as a key's latest, as in Kafka's
//! cleaner: an aborted write must not outlive the committed value it would have replaced). A rewritten segment keeps
//! its base offset, so offsets never move; a batch that lost records is re-encoded, one that lost
//! none is copied byte for byte.
//!
//! Reading keys inside a batch means decompressing it, and the codecs belong to the protocol
//! layer: the caller passes a `RecordCodec`. The heavy part runs without the maintenance lock;
//! only the swap of a segment file takes it. Before a pass the log is checkpointed at its end,
//! so every segment a pass rewrites lies before the recovery point and is never rescanned as a
//! tail (whose offsets must be contiguous) after a crash.

use std::collections::{HashMap, HashSet};
use std::ops::ControlFlow;
use std::path::PathBuf;
use std::sync::Arc;

use bytes::Bytes;
use tracing::info;

use crate::batch::{self, Scan};
use crate::error::{IoContext, LogError};
use crate::log::Log;
use crate::segment::{self, Segment};
use crate::storage::{StorageFile, read_vec};

/// The suffix of a segment being rewritten; leftovers are removed when a log opens.
pub(crate) const CLEANED_SUFFIX: &str = "cleaned";

/// One record as compaction sees it.
#[derive(Debug, Clone)]
pub struct KeyedRecord {
    pub offset: i64,
    pub key: Option<Bytes>,
    /// A record with a null value: deletes its key once `delete.retention.ms` has passed.
    pub tombstone: bool,
    pub timestamp: i64,
}

/// Decodes and re-encodes the records of a batch (possibly compressed).
pub trait RecordCodec: Send + Sync {
    fn records(&self, batch: &[u8]) -> Result<Vec<KeyedRecord>, String>;
    /// The batch with only the records whose offsets `keep` accepts, in the batch's own codec and
    /// with its producer id, epoch and sequences; `None` if none is kept.
    fn retain(&self, batch: &[u8], keep: &dyn Fn(i64) -> bool) -> Result<Option<Bytes>, String>;
}

/// What compaction must know of the partition's transactions, which the layer above tracks.
pub struct Transactions<'a> {
    /// The last stable offset: nothing from the first open transaction on is compacted.
    pub stable_end: i64,
    /// Whether the transactional batch of this producer id at this offset was aborted.
    pub aborted: &'a dyn Fn(i64, i64) -> bool,
}

impl Transactions<'_> {
    /// A log without transactions.
    pub const NONE: Transactions<'static> = Transactions { stable_end: i64::MAX, aborted: &|_, _| false };

    fn drops(&self, batch: &[u8]) -> bool {
        batch::BatchHeader::parse(batch)
            .is_some_and(|h| h.is_transactional() && !h.is_control() && (self.aborted)(h.producer_id, h.base_offset))
    }
}

/// What one pass did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct CompactStats {
    pub segments_rewritten: usize,
    pub records_removed: usize,
    pub bytes_before: u64,
    pub bytes_after: u64,
}

/// A segment as the pass found it.
struct Candidate {
    base: i64,
    file: Arc<dyn StorageFile>,
    size: u64,
    path: PathBuf,
}

impl Log {
    /// The share of the log's bytes written since the last compaction pass: Kafka's dirty
    /// ratio, compared with `min.cleanable.dirty.ratio`.
    pub fn dirty_ratio(&self) -> f64 {
        let state = self.lock_state();
        let total: u64 = state.segments.values().map(|s| s.size).sum();
        if total == 0 {
            return 0.0;
        }
        let dirty: u64 = state.segments.values().filter(|s| s.next_offset > state.cleaned_offset).map(|s| s.size).sum();
        dirty as f64 / total as f64
    }

    /// Runs one compaction pass over the inactive segments.
    pub fn compact(&self, codec: &dyn RecordCodec, txns: &Transactions<'_>) -> Result<CompactStats, LogError> {
        let now_ms = self.shared.env.clock.now_ms();
        self.checkpoint_at_end()?;
        let (candidates, delete_retention_ms, end) = {
            let state = self.lock_state();
            let limit = state.active().base_offset.min(state.high_watermark).min(txns.stable_end);
            let bases: Vec<i64> = state.segments.keys().copied().collect();
            let candidates: Vec<Candidate> = bases
                .windows(2)
                .filter(|pair| pair[1] <= limit)
                .map(|pair| {
                    let s = &state.segments[&pair[0]];
                    Candidate { base: s.base_offset, file: s.file.clone(), size: s.size, path: s.path.clone() }
                })
                .collect();
            let end = candidates.last().map(|c| state.segments.range(c.base + 1..).next().map_or(c.base, |(b, _)| *b));
            (candidates, state.config.delete_retention_ms, end)
        };
        let Some(end) = end else { return Ok(CompactStats::default()) };
        let latest = self.latest_offsets(&candidates, codec, txns)?;
        let mut stats = CompactStats::default();
        for candidate in &candidates {
            stats.bytes_before += candidate.size;
            let horizon = now_ms.saturating_sub(delete_retention_ms);
            let keep = |r: &KeyedRecord| match &r.key {
                None => true,
                Some(key) => latest.get(key) == Some(&r.offset) && !(r.tombstone && r.timestamp < horizon),
            };
            match self.rewrite(candidate, codec, txns, &keep)? {
                None => stats.bytes_after += candidate.size,
                Some((size, removed)) => {
                    stats.bytes_after += size;
                    stats.records_removed += removed;
                    stats.segments_rewritten += 1;
                }
            }
        }
        self.lock_state().cleaned_offset = end;
        if stats.segments_rewritten > 0 {
            info!(
                dir = %self.dir().display(),
                segments = stats.segments_rewritten,
                records_removed = stats.records_removed,
                bytes_before = stats.bytes_before,
                bytes_after = stats.bytes_after,
                "compacted"
            );
        }
        Ok(stats)
    }

    /// Every key's latest offset in the candidate segments.
    fn latest_offsets(
        &self,
        candidates: &[Candidate],
        codec: &dyn RecordCodec,
        txns: &Transactions<'_>,
    ) -> Result<HashMap<Bytes, i64>, LogError> {
        let mut latest = HashMap::new();
        for c in candidates {
            for_each_batch(c, |batch| {
                if is_marker(batch) || txns.drops(batch) {
                    return Ok(());
                }
                for r in codec.records(batch).map_err(|reason| corrupt(&c.path, reason))? {
                    if let Some(key) = r.key {
                        latest.insert(key, r.offset);
                    }
                }
                Ok(())
            })?;
        }
        Ok(latest)
    }

    /// Writes the segment without the records `keep` refuses and swaps it in. `None` if nothing
    /// was removed; else the new size and the records removed.
    fn rewrite(
        &self,
        c: &Candidate,
        codec: &dyn RecordCodec,
        txns: &Transactions<'_>,
        keep: &dyn Fn(&KeyedRecord) -> bool,
    ) -> Result<Option<(u64, usize)>, LogError> {
        let storage = &*self.shared.env.storage;
        let cleaned_path = c.path.with_extension(CLEANED_SUFFIX);
        let out = storage.open(&cleaned_path, true).ctx("create cleaned segment", &cleaned_path)?;
        out.set_len(0).ctx("create cleaned segment", &cleaned_path)?;
        let mut removed = 0;
        let mut size = 0u64;
        for_each_batch(c, |batch| {
            if is_marker(batch) {
                out.append(&[batch]).ctx("write cleaned segment", &cleaned_path)?;
                size += batch.len() as u64;
                return Ok(());
            }
            if txns.drops(batch) {
                removed += batch::BatchHeader::parse(batch).map_or(0, |h| h.records_count.max(0) as usize);
                return Ok(());
            }
            let records = codec.records(batch).map_err(|reason| corrupt(&c.path, reason))?;
            let kept: HashSet<i64> = records.iter().filter(|r| keep(r)).map(|r| r.offset).collect();
            removed += records.len() - kept.len();
            let rebuilt = if kept.len() == records.len() {
                Some(Bytes::copy_from_slice(batch))
            } else {
                codec.retain(batch, &|offset| kept.contains(&offset)).map_err(|reason| corrupt(&c.path, reason))?
            };
            if let Some(bytes) = rebuilt {
                out.append(&[&bytes]).ctx("write cleaned segment", &cleaned_path)?;
                size += bytes.len() as u64;
            }
            Ok(())
        })?;
        if removed == 0 {
            drop(out);
            storage.remove_file(&cleaned_path).ctx("remove cleaned segment", &cleaned_path)?;
            return Ok(None);
        }
        out.sync_data().ctx("sync cleaned segment", &cleaned_path)?;
        drop(out);
        self.swap_in(c, &cleaned_path)?;
        Ok(Some((size, removed)))
    }

    /// Replaces a segment's file with its cleaned copy, unless retention or truncation removed
    /// the segment meanwhile. The old indexes go first: a crash in between leaves a segment
    /// without indexes, which the next open rebuilds, never indexes that point into the wrong file.
    fn swap_in(&self, c: &Candidate, cleaned_path: &std::path::Path) -> Result<(), LogError> {
        let storage = &*self.shared.env.storage;
        let guard = self.shared.maintenance.lock().expect("maintenance lock");
        let still_there = self.lock_state().segments.get(&c.base).is_some_and(|s| Arc::ptr_eq(&s.file, &c.file));
        if !still_there {
            storage.remove_file(cleaned_path).ctx("remove cleaned segment", cleaned_path)?;
            return Ok(());
        }
        for suffix in [segment::OFFSET_INDEX_SUFFIX, segment::TIME_INDEX_SUFFIX] {
            let index = c.path.with_extension(suffix);
            if storage.exists(&index) {
                storage.remove_file(&index).ctx("remove index", &index)?;
            }
        }
        storage.rename(cleaned_path, &c.path).ctx("install cleaned segment", &c.path)?;
        let dir = self.dir();
        storage.sync_dir(&dir).ctx("sync directory", &dir)?;
        let mut seg = Segment::open(storage, &dir, c.base)?;
        let interval = u64::from(self.lock_state().config.index_interval_bytes);
        let size = seg.size;
        seg.rescan(size, size, false, interval)?;
        seg.seal_time_index();
        for (path, keep, add) in seg.unsaved_indexes() {
            segment::save_index(storage, &path, keep, &add, true)?;
        }
        let counts = seg.index_counts();
        seg.mark_saved(counts.0, counts.1);
        seg.unload_indexes(storage);
        let mut state = self.lock_state();
        seg.next_offset = state.segments.range(c.base + 1..).next().map_or(seg.next_offset, |(b, _)| *b);
        state.segments.insert(c.base, seg);
        drop(state);
        drop(guard);
        Ok(())
    }
}

/// Calls `f` with each whole batch of the candidate segment, in order.
fn for_each_batch(c: &Candidate, mut f: impl FnMut(&[u8]) -> Result<(), LogError>) -> Result<(), LogError> {
    let mut spans = Vec::new();
    batch::scan(&*c.file, 0, c.size, Scan::Trusted, |position, header| {
        spans.push((position, header.size_bytes()));
        ControlFlow::Continue(())
    })
    .ctx("scan segment", &c.path)?;
    for (position, len) in spans {
        let bytes = read_vec(&*c.file, position, len).ctx("read segment", &c.path)?;
        f(&bytes)?;
    }
    Ok(())
}

/// Control batches (transaction markers) are not keyed data: compaction keeps them, since
/// the producer state rebuilt at start-up needs them to close each transaction.
fn is_marker(batch: &[u8]) -> bool {
    crate::batch::BatchHeader::parse(batch).is_some_and(|h| h.is_control())
}

fn corrupt(path: &std::path::Path, reason: String) -> LogError {
    LogError::Storage {
        op: "compact",
        path: path.to_path_buf(),
        source: std::io::Error::new(std::io::ErrorKind::InvalidData, reason),
    }
}
