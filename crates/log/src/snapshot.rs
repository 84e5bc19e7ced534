//! Producer-state snapshots: `{offset:020}.snapshot` files beside the segments (Kafka's names),
//! each holding what the server made of every batch below `offset` (the bytes are the
//! server's: Kafka's producer snapshot format). An opening partition then reads the batch
//! headers from the newest snapshot on instead of the whole log.
//!
//! A snapshot is trusted only at or below the log's end: a truncation removes those above the
//! new end, and those a crash left above the recovered end are removed when read. A snapshot
//! whose state was taken before a truncation is not written (the truncation count moved).

use std::path::{Path, PathBuf};

use crate::error::{IoContext, LogError};
use crate::storage::{Storage, write_atomically, write_in_place};

pub(crate) const SUFFIX: &str = "snapshot";
/// Snapshots kept: the newest and the one before it.
const KEPT: usize = 2;

pub(crate) fn path(dir: &Path, offset: i64) -> PathBuf {
    dir.join(format!("{offset:020}.{SUFFIX}"))
}

pub(crate) fn parse(name: &str) -> Option<i64> {
    let digits = name.strip_suffix(&format!(".{SUFFIX}"))?;
    (digits.len() == 20).then(|| digits.parse().ok()).flatten()
}

/// The snapshots' offsets, oldest first.
pub(crate) fn list(storage: &dyn Storage, dir: &Path) -> Result<Vec<i64>, LogError> {
    let mut offsets: Vec<i64> =
        storage.list_dir(dir).ctx("list log directory", dir)?.iter().filter_map(|n| parse(n)).collect();
    offsets.sort_unstable();
    Ok(offsets)
}

/// Removes the snapshots above `end` (all of them for `None`).
pub(crate) fn remove_above(storage: &dyn Storage, dir: &Path, end: Option<i64>) -> Result<(), LogError> {
    for offset in list(storage, dir)?.into_iter().filter(|o| end.is_none_or(|end| *o > end)) {
        let path = path(dir, offset);
        storage.remove_file(&path).ctx("remove producer snapshot", &path)?;
    }
    Ok(())
}

/// Writes a snapshot at `offset` (durably, unless `sync_now` is false: then a later
/// `Storage::sync_all` makes it so) and removes all but the newest [`KEPT`].
pub(crate) fn write(
    storage: &dyn Storage,
    dir: &Path,
    offset: i64,
    contents: &[u8],
    sync_now: bool,
) -> Result<(), LogError> {
    let path = path(dir, offset);
    if sync_now {
        write_atomically(storage, &path, contents).ctx("write producer snapshot", &path)?;
    } else {
        // The oldest snapshot's file is renamed and rewritten, so no inode is created.
        if let Some(&oldest) = list(storage, dir)?.first().filter(|o| **o != offset) {
            let from = self::path(dir, oldest);
            storage.rename(&from, &path).ctx("reuse producer snapshot file", &from)?;
        }
        write_in_place(storage, &path, contents).ctx("write producer snapshot", &path)?;
    }
    let offsets = list(storage, dir)?;
    for old in &offsets[..offsets.len().saturating_sub(KEPT)] {
        let path = self::path(dir, *old);
        storage.remove_file(&path).ctx("remove producer snapshot", &path)?;
    }
    Ok(())
}

/// The newest snapshot at or below `end` of those at `offsets` (ascending, as `list` gives
/// them), read whole; those above `end` are removed.
pub(crate) fn latest(
    storage: &dyn Storage,
    dir: &Path,
    offsets: Vec<i64>,
    end: i64,
) -> Result<Option<(i64, Vec<u8>)>, LogError> {
    for &above in offsets.iter().filter(|o| **o > end) {
        let path = path(dir, above);
        storage.remove_file(&path).ctx("remove producer snapshot", &path)?;
    }
    let Some(&offset) = offsets.iter().rfind(|o| **o <= end) else { return Ok(None) };
    let path = path(dir, offset);
    let contents = storage.read(&path).ctx("read producer snapshot", &path)?;
    Ok(Some((offset, contents)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_kafkas() {
        assert_eq!(path(Path::new("d"), 42), Path::new("d/00000000000000000042.snapshot"));
        assert_eq!(parse("00000000000000000042.snapshot"), Some(42));
        assert_eq!(parse("00000000000000000042.log"), None);
        assert_eq!(parse("42.snapshot"), None);
    }
}
