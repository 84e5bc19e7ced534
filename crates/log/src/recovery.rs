//! Opening a partition directory: find the segments, trust what the checkpoint says was synced,
//! and scan only what follows it.
//!
//! - Segments before the recovery point's segment load their saved indexes; a missing or
//!   damaged index is rebuilt by walking the segment's batch headers.
//! - From the recovery point on, every batch is checked (shape, CRC-32C, offsets continuing).
//!   The first bad or torn batch ends the log: its segment is cut there and later segments are
//!   deleted, since they were written after it and cannot continue it.
//! - What the scan accepted is fdatasync'd before it is exposed, so no reader ever sees data
//!   that a later power cut could still take back.

use std::collections::{BTreeMap, HashSet};
use std::path::Path;
use std::sync::Arc;

use tracing::{info, warn};

use crate::checkpoint::{self, Checkpoint};
use crate::config::LogConfig;
use crate::error::{IoContext, LogError};
use crate::index::{OffsetIndex, TimeIndex};
use crate::segment::{self, OFFSET_INDEX_SUFFIX, Segment, TIME_INDEX_SUFFIX};
use crate::storage::{Storage, StorageFile, read_vec};

/// What a directory held, made consistent.
pub(crate) struct Loaded {
    pub(crate) segments: BTreeMap<i64, Segment>,
    pub(crate) log_start_offset: i64,
    /// The high watermark the checkpoint saved (at most the end; the end without one).
    pub(crate) high_watermark: i64,
    /// Whether the directory needs a new checkpoint (anything was scanned or repaired).
    pub(crate) dirty: bool,
    /// The checkpoint file as read, if any.
    pub(crate) checkpoint: Option<Checkpoint>,
    /// The producer snapshots' offsets, ascending.
    pub(crate) snapshots: Vec<i64>,
}

pub(crate) fn load(dir: &Path, config: &LogConfig, storage: &dyn Storage) -> Result<Loaded, LogError> {
    let names = match storage.list_dir(dir) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            storage.create_dir_all(dir).ctx("create log directory", dir)?;
            Vec::new()
        }
        listed => listed.ctx("list log directory", dir)?,
    };
    // A compaction pass that crashed before its swap leaves its rewritten copy behind.
    for leftover in names.iter().filter(|n| n.ends_with(&format!(".{}", crate::compact::CLEANED_SUFFIX))) {
        let path = dir.join(leftover);
        storage.remove_file(&path).ctx("remove unfinished compaction output", &path)?;
    }
    let listed: HashSet<&str> = names.iter().map(String::as_str).collect();
    let mut bases: Vec<i64> = names.iter().filter_map(|n| segment::parse_log_file_name(n)).collect();
    bases.sort_unstable();
    let mut snapshots: Vec<i64> = names.iter().filter_map(|n| crate::snapshot::parse(n)).collect();
    snapshots.sort_unstable();
    let checkpoint_path = dir.join(checkpoint::FILE_NAME);
    let checkpoint = read_checkpoint(storage, &checkpoint_path)?;
    let interval = u64::from(config.index_interval_bytes);

    if bases.is_empty() {
        let base = checkpoint.map_or(0, |c| c.log_start_offset.max(0));
        let mut segments = BTreeMap::new();
        segments.insert(base, Segment::create(storage, dir, base)?);
        return Ok(Loaded {
            segments,
            log_start_offset: base,
            high_watermark: base,
            dirty: true,
            checkpoint,
            snapshots,
        });
    }

    // Where verification starts: the checkpoint's point if its segment is still there, else
    // the start of the first segment after it, else (no checkpoint) the very beginning.
    let (recovery_segment, recovery_position) = match checkpoint {
        Some(c) if bases.contains(&c.recovery_segment) => (c.recovery_segment, c.recovery_position),
        Some(c) => (bases.iter().copied().find(|&b| b > c.recovery_segment).unwrap_or(bases[bases.len() - 1]), 0),
        None => (bases[0], 0),
    };

    let mut segments: BTreeMap<i64, Segment> = BTreeMap::new();
    let mut dirty = false;
    for (i, &base) in bases.iter().enumerate() {
        let mut seg = Segment::open(storage, dir, base)?;
        let file_len = seg.size;
        let next_base = bases.get(i + 1).copied();
        let mut verified_tail = false;
        let end = if base < recovery_segment {
            if !load_indexes(storage, &listed, &mut seg, next_base) {
                info!(segment = %seg.path.display(), "rebuilding missing or damaged indexes");
                dirty = true;
                let end = seg.rescan(file_len, file_len, false, interval)?;
                // Its offsets run up to the next segment's base, past its last batch when
                // compaction removed the records at its end (or all of them).
                seg.next_offset = seg.next_offset.max(next_base.expect("a segment before the recovery point"));
                end
            } else {
                seg.next_offset = next_base.expect("a segment before the recovery point has a successor");
                continue_with(&mut segments, seg);
                continue;
            }
        } else {
            let expected = segments.values().next_back().map(|s| s.next_offset);
            if expected.is_some_and(|next| next != base) {
                warn!(segment = %seg.path.display(), "segment does not continue the log: deleting it and those after");
                delete_from(storage, dir, &bases[i..])?;
                dirty = true;
                break;
            }
            let trusted_end = if base == recovery_segment && recovery_position <= file_len {
                load_indexes(storage, &listed, &mut seg, None);
                recovery_position
            } else {
                0
            };
            verified_tail = trusted_end < file_len;
            dirty |= verified_tail;
            seg.rescan(trusted_end, file_len, true, interval)?
        };
        if end.position < file_len || end.invalid.is_some() {
            warn!(
                segment = %seg.path.display(),
                at = end.position,
                reason = end.invalid.unwrap_or("trailing bytes"),
                "truncating a torn or corrupt tail"
            );
            seg.truncate(end.position, interval)?;
            continue_with(&mut segments, seg);
            delete_from(storage, dir, &bases[i + 1..])?;
            dirty = true;
            break;
        }
        if verified_tail {
            // Scanned data may sit only in the page cache of a process that was killed.
            seg.file.sync_data().ctx("sync recovered segment", &seg.path)?;
        }
        continue_with(&mut segments, seg);
    }
    if let Some(active) = segments.values_mut().next_back() {
        load_rolling_timestamp(active)?;
    }
    let first_base = *segments.keys().next().expect("at least one segment");
    let end = segments.values().next_back().expect("at least one segment").next_offset;
    let log_start_offset = checkpoint.map_or(first_base, |c| c.log_start_offset).clamp(first_base, end);
    let high_watermark = checkpoint.map_or(end, |c| c.high_watermark).clamp(log_start_offset, end);
    Ok(Loaded { segments, log_start_offset, high_watermark, dirty, checkpoint, snapshots })
}

fn continue_with(segments: &mut BTreeMap<i64, Segment>, seg: Segment) {
    segments.insert(seg.base_offset, seg);
}

fn read_checkpoint(storage: &dyn Storage, path: &Path) -> Result<Option<Checkpoint>, LogError> {
    let bytes = match storage.read(path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        read => read.ctx("read checkpoint", path)?,
    };
    let checkpoint = Checkpoint::decode(&bytes);
    if checkpoint.is_none() {
        warn!(path = %path.display(), "damaged checkpoint: recovering the whole log");
    }
    Ok(checkpoint)
}

/// Loads a segment's saved indexes; false if either is missing or does not fit the segment.
/// `next_base` bounds the offsets an index may name (unknown for the last segment). A sealed
/// segment's (one with a `next_base`) are checked whole, then left in their files.
/// `listed` holds the names the directory listing found.
fn load_indexes(storage: &dyn Storage, listed: &HashSet<&str>, seg: &mut Segment, next_base: Option<i64>) -> bool {
    let offset_count = next_base.map_or(u64::from(u32::MAX), |next| (next - seg.base_offset) as u64);
    let read = |path: &Path| -> Option<(Arc<dyn StorageFile>, Vec<u8>)> {
        let (file, len) = storage.open_existing(path).ok()?;
        let bytes = read_vec(&*file, 0, usize::try_from(len).ok()?).ok()?;
        Some((file, bytes))
    };
    // An empty index is not saved (a segment of one batch has no offset entry, an emptied one
    // no time entry), so a missing file is an empty index: lookups in a segment whose offset
    // index went missing start at its beginning, and one that lost its time index fails the
    // check below (a sealed segment with timestamps has a time entry).
    let read_or_empty = |suffix: &str| {
        let path = seg.path.with_extension(suffix);
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or_default();
        if !listed.contains(name) {
            return (None, Some(Vec::new()));
        }
        match read(&path) {
            Some((file, bytes)) => (Some(file), Some(bytes)),
            None => (None, None),
        }
    };
    let (offset_file, offset_bytes) = read_or_empty(OFFSET_INDEX_SUFFIX);
    let (time_file, time_bytes) = read_or_empty(TIME_INDEX_SUFFIX);
    let offsets = offset_bytes.and_then(|b| OffsetIndex::decode(&b, seg.size.max(1)));
    let times = time_bytes.and_then(|b| TimeIndex::decode(&b, offset_count));
    match (offsets, times) {
        (Some(offsets), Some(times)) if offsets.last().is_none_or(|(o, _)| u64::from(o) < offset_count) => {
            // A saved time index was sealed with the segment's largest timestamp; an empty one
            // belongs to a segment whose timestamps are all unknown (-1) or that never sealed.
            seg.adopt_indexes(offsets, times);
            let whole = next_base.is_none() || seg.max_timestamp >= 0 || seg.size == 0;
            if whole && next_base.is_some() {
                seg.keep_indexes_on_disk(offset_file, time_file);
            }
            whole
        }
        _ => false,
    }
}

/// `segment.ms` counts from the active segment's first batch, which a reopened log reads back.
fn load_rolling_timestamp(seg: &mut Segment) -> Result<(), LogError> {
    if seg.size > 0 && seg.rolling_timestamp.is_none() {
        let head = read_vec(&*seg.file, 0, crate::batch::BATCH_HEADER_LEN).ctx("read segment head", &seg.path)?;
        seg.rolling_timestamp = crate::batch::BatchHeader::parse(&head).map(|h| h.max_timestamp);
    }
    Ok(())
}

/// Deletes the segments with these base offsets.
fn delete_from(storage: &dyn Storage, dir: &Path, bases: &[i64]) -> Result<(), LogError> {
    for &base in bases {
        Segment::open(storage, dir, base)?.delete(storage)?;
    }
    storage.sync_dir(dir).ctx("sync directory", dir)
}
