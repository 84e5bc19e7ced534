//! The leader epoch cache (Kafka's `LeaderEpochFileCache`): for each leader epoch that wrote to
//! the log, the offset of its first batch. Replicas compare it to find where their logs
//! diverged after a leader change (KIP-101, KIP-279), so a follower cuts exactly the batches
//! the new leader does not have, never what was committed.
//!
//! Kept in `leader-epoch-checkpoint` in Kafka's text layout (version `0`, entry count, then one
//! `epoch start_offset` line per entry), replaced atomically whenever it changes. An entry is
//! saved before the first batch of its epoch is written, so the file never misses an epoch
//! the log holds; entries past the log's end (a crash lost their batches) are dropped on open.

use std::path::Path;

use crate::storage::{Storage, write_atomically};

pub(crate) const FILE_NAME: &str = "leader-epoch-checkpoint";
const VERSION: &str = "0";

/// No epoch is known (Kafka's `UNDEFINED_EPOCH` and `UNDEFINED_EPOCH_OFFSET`).
pub const UNDEFINED: i32 = -1;
pub const UNDEFINED_OFFSET: i64 = -1;

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct EpochCache {
    /// (epoch, start offset), both strictly increasing.
    entries: Vec<(i32, i64)>,
}

impl EpochCache {
    pub(crate) fn latest(&self) -> Option<i32> {
        self.entries.last().map(|(e, _)| *e)
    }

    /// Records that `epoch` starts at `offset`; `false` when it changes nothing (the epoch is
    /// not newer than the latest).
    pub(crate) fn assign(&mut self, epoch: i32, offset: i64) -> bool {
        if epoch < 0 || self.latest().is_some_and(|latest| epoch <= latest) {
            return false;
        }
        // An entry whose epoch wrote nothing yet gives way to a newer one at the same offset.
        while self.entries.last().is_some_and(|(_, start)| *start >= offset) {
            self.entries.pop();
        }
        self.entries.push((epoch, offset));
        true
    }

    /// Forgets epochs that start at or after `end` (the log was truncated there).
    pub(crate) fn truncate_from_end(&mut self, end: i64) -> bool {
        let before = self.entries.len();
        self.entries.retain(|(_, start)| *start < end);
        self.entries.len() != before
    }

    /// Forgets everything (the log restarts at a new offset).
    pub(crate) fn clear(&mut self) {
        self.entries.clear();
    }

    /// Kafka's `endOffsetFor`: the largest epoch at or below `epoch` and the offset where the
    /// log moved past it (the next epoch's start, or `log_end` for the latest one). For an
    /// epoch older than every entry, `epoch` itself ends where the first entry starts: a
    /// replica holding only batches of such an epoch keeps none of them past that point.
    /// Undefined only for an empty cache.
    pub(crate) fn end_offset_for(&self, epoch: i32, log_end: i64) -> (i32, i64) {
        match self.entries.iter().rposition(|(e, _)| *e <= epoch) {
            None => self.entries.first().map_or((UNDEFINED, UNDEFINED_OFFSET), |(_, start)| (epoch, *start)),
            Some(i) => {
                let end = self.entries.get(i + 1).map_or(log_end, |(_, start)| *start);
                (self.entries[i].0, end)
            }
        }
    }

    pub(crate) fn encode(&self) -> String {
        let mut out = format!("{VERSION}\n{}\n", self.entries.len());
        for (epoch, start) in &self.entries {
            out.push_str(&format!("{epoch} {start}\n"));
        }
        out
    }

    /// `None` for a file that is not a whole, well-formed checkpoint.
    pub(crate) fn decode(text: &str) -> Option<EpochCache> {
        let mut lines = text.lines();
        if lines.next()? != VERSION {
            return None;
        }
        let count: usize = lines.next()?.parse().ok()?;
        let mut cache = EpochCache::default();
        for _ in 0..count {
            let (epoch, start) = lines.next()?.split_once(' ')?;
            let (epoch, start) = (epoch.parse().ok()?, start.parse().ok()?);
            if !cache.assign(epoch, start) {
                return None;
            }
        }
        Some(cache)
    }

    pub(crate) fn save(&self, storage: &dyn Storage, dir: &Path) -> std::io::Result<()> {
        write_atomically(storage, &dir.join(FILE_NAME), self.encode().as_bytes())
    }

    /// The saved cache, or `None` when there is none or it is damaged.
    pub(crate) fn load(storage: &dyn Storage, dir: &Path) -> std::io::Result<Option<EpochCache>> {
        let path = dir.join(FILE_NAME);
        let bytes = match storage.read(&path) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e),
        };
        Ok(std::str::from_utf8(&bytes).ok().and_then(EpochCache::decode))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cache(entries: &[(i32, i64)]) -> EpochCache {
        let mut c = EpochCache::default();
        for (e, o) in entries {
            assert!(c.assign(*e, *o));
        }
        c
    }

    /// Kafka's end-offset rules: the next epoch's start, the log end for the latest, the
    /// largest epoch below one that never led here.
    #[test]
    fn end_offsets() {
        let c = cache(&[(1, 0), (3, 10), (5, 25)]);
        assert_eq!(c.end_offset_for(0, 40), (0, 0), "older than every entry: ends where the first starts");
        assert_eq!(cache(&[(4, 7)]).end_offset_for(2, 9), (2, 7));
        assert_eq!(cache(&[]).end_offset_for(2, 9), (UNDEFINED, UNDEFINED_OFFSET));
        assert_eq!(c.end_offset_for(1, 40), (1, 10));
        assert_eq!(c.end_offset_for(2, 40), (1, 10));
        assert_eq!(c.end_offset_for(3, 40), (3, 25));
        assert_eq!(c.end_offset_for(5, 40), (5, 40));
        assert_eq!(c.end_offset_for(9, 40), (5, 40));
    }

    /// Older epochs are refused; an epoch that wrote nothing gives way at the same offset;
    /// truncation drops the epochs that started in the cut part.
    #[test]
    fn assign_and_truncate() {
        let mut c = cache(&[(1, 0), (2, 10)]);
        assert!(!c.assign(2, 12));
        assert!(!c.assign(1, 12));
        assert!(c.assign(3, 10));
        assert_eq!(c.entries, vec![(1, 0), (3, 10)]);
        assert!(c.truncate_from_end(10));
        assert_eq!(c.entries, vec![(1, 0)]);
        assert!(!c.truncate_from_end(10));
    }

    /// The file round-trips in Kafka's layout; damage reads as none.
    #[test]
    fn file_layout() {
        let c = cache(&[(0, 0), (4, 100)]);
        assert_eq!(c.encode(), "0\n2\n0 0\n4 100\n");
        assert_eq!(EpochCache::decode(&c.encode()), Some(c));
        for bad in ["", "1\n0\n", "0\n2\n0 0\n", "0\n2\n4 100\n0 0\n", "0\nx\n"] {
            assert_eq!(EpochCache::decode(bad), None, "{bad:?}");
        }
    }
}
