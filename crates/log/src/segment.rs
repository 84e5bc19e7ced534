//! One segment: `<base offset, 20 digits>.log` holding RecordBatch v2 bytes exactly as on the
//! wire, with its sparse offset and time indexes (`index`) in files beside it. The active
//! segment's indexes are also in memory; once a sealed segment's are saved they live only in
//! their files (`IndexFiles`), so memory does not grow with the log.

use std::io;
use std::ops::ControlFlow;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::batch::{self, BatchHeader, Scan, ScanEnd};
use crate::error::{IoContext, LogError};
use crate::index::{self, OFFSET_ENTRY_BYTES, OffsetIndex, TIME_ENTRY_BYTES, TimeIndex};
use crate::storage::{Storage, StorageFile, read_vec};

pub(crate) const LOG_SUFFIX: &str = "log";
pub(crate) const OFFSET_INDEX_SUFFIX: &str = "index";
pub(crate) const TIME_INDEX_SUFFIX: &str = "timeindex";

/// The file name of a segment file: the base offset in 20 digits, as Kafka names them.
pub(crate) fn file_name(base_offset: i64, suffix: &str) -> String {
    format!("{base_offset:020}.{suffix}")
}

/// Parses `<20 digits>.log` back into a base offset.
pub(crate) fn parse_log_file_name(name: &str) -> Option<i64> {
    let digits = name.strip_suffix(".log")?;
    if digits.len() != 20 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

pub(crate) struct Segment {
    pub(crate) base_offset: i64,
    pub(crate) path: PathBuf,
    pub(crate) file: Arc<dyn StorageFile>,
    /// Bytes of whole batches in the file.
    pub(crate) size: u64,
    /// The offset after the last batch (the base offset while empty).
    pub(crate) next_offset: i64,
    /// The largest batch timestamp, -1 while empty (Kafka's "no timestamp").
    pub(crate) max_timestamp: i64,
    offset_of_max_timestamp: i64,
    /// The first batch's max timestamp: `segment.ms` counts from it, as in Kafka.
    pub(crate) rolling_timestamp: Option<i64>,
    /// In memory unless `on_disk`: then empty, and the saved files are searched instead.
    offset_index: OffsetIndex,
    time_index: TimeIndex,
    on_disk: Option<IndexFiles>,
    bytes_since_index_entry: u64,
    /// How many entries of each index are already in the files.
    saved_offset_entries: usize,
    saved_time_entries: usize,
    /// The index files hold entries past the saved ones that are no longer valid.
    trim_due: bool,
}

impl Segment {
    /// Creates an empty segment, replacing any leftover files of the same name.
    pub(crate) fn create(storage: &dyn Storage, dir: &Path, base_offset: i64) -> Result<Segment, LogError> {
        let path = dir.join(file_name(base_offset, LOG_SUFFIX));
        let file = storage.open(&path, true).ctx("create segment", &path)?;
        file.set_len(0).ctx("create segment", &path)?;
        for suffix in [OFFSET_INDEX_SUFFIX, TIME_INDEX_SUFFIX] {
            let index_path = path.with_extension(suffix);
            if storage.exists(&index_path) {
                storage.remove_file(&index_path).ctx("remove stale index", &index_path)?;
            }
        }
        storage.sync_dir(dir).ctx("sync directory", dir)?;
        Ok(Segment::empty(base_offset, path, file, 0))
    }

    /// Opens an existing segment file without reading it; the caller fills in the rest.
    pub(crate) fn open(storage: &dyn Storage, dir: &Path, base_offset: i64) -> Result<Segment, LogError> {
        let path = dir.join(file_name(base_offset, LOG_SUFFIX));
        let (file, size) = storage.open_existing(&path).ctx("open segment", &path)?;
        Ok(Segment::empty(base_offset, path, file, size))
    }

    fn empty(base_offset: i64, path: PathBuf, file: Arc<dyn StorageFile>, size: u64) -> Segment {
        Segment {
            base_offset,
            path,
            file,
            size,
            next_offset: base_offset,
            max_timestamp: -1,
            offset_of_max_timestamp: base_offset,
            rolling_timestamp: None,
            offset_index: OffsetIndex::default(),
            time_index: TimeIndex::default(),
            on_disk: None,
            bytes_since_index_entry: 0,
            saved_offset_entries: 0,
            saved_time_entries: 0,
            trim_due: false,
        }
    }

    /// The offset relative to this segment's base, as the indexes store it.
    pub(crate) fn relative(&self, offset: i64) -> u32 {
        u32::try_from(offset - self.base_offset).expect("offset within the segment's range")
    }

    /// Appends one batch (its parts written back to back) whose header is `header`.
    pub(crate) fn append(
        &mut self,
        header: &BatchHeader,
        parts: &[&[u8]],
        index_interval_bytes: u64,
    ) -> Result<(), LogError> {
        self.file.append(parts).ctx("append", &self.path)?;
        let position = self.size;
        self.size += header.size_bytes() as u64;
        self.track(position, header, index_interval_bytes);
        Ok(())
    }

    /// Updates offsets, timestamps and indexes for a batch now at `position`, indexing it if
    /// `index_interval_bytes` passed since the last entry.
    pub(crate) fn track(&mut self, position: u64, header: &BatchHeader, index_interval_bytes: u64) {
        assert!(header.base_offset >= self.next_offset, "batches must not go back in offsets");
        if header.max_timestamp > self.max_timestamp {
            self.max_timestamp = header.max_timestamp;
            self.offset_of_max_timestamp = header.base_offset;
        }
        self.rolling_timestamp.get_or_insert(header.max_timestamp);
        if self.bytes_since_index_entry >= index_interval_bytes {
            let position = u32::try_from(position).expect("segments stay under 4 GiB");
            self.offset_index.append(self.relative(header.base_offset), position);
            self.time_index.maybe_append(self.max_timestamp, self.relative(self.offset_of_max_timestamp));
            self.bytes_since_index_entry = 0;
        }
        self.bytes_since_index_entry += header.size_bytes() as u64;
        self.next_offset = header.next_offset();
    }

    /// Restores what the time index knows after loading it from a file.
    pub(crate) fn adopt_indexes(&mut self, offset_index: OffsetIndex, time_index: TimeIndex) {
        if let Some(timestamp) = time_index.max_timestamp() {
            self.max_timestamp = timestamp;
        }
        self.saved_offset_entries = offset_index.len();
        self.saved_time_entries = time_index.len();
        self.offset_index = offset_index;
        self.time_index = time_index;
        // The next entry may come as soon as one interval has passed.
        self.bytes_since_index_entry = 0;
    }

    /// Where a read of `offset` (within this segment) may start, from the offset index.
    pub(crate) fn start_for_offset(&self, offset: i64) -> Start {
        let relative = self.relative(offset);
        match &self.on_disk {
            None => Start::At(self.offset_index.lookup(relative)),
            Some(files) => Start::Search(files.clone(), Target::Offset(relative)),
        }
    }

    /// Where a search for the first batch at or after `timestamp` may start.
    pub(crate) fn start_for_timestamp(&self, timestamp: i64) -> Start {
        match &self.on_disk {
            None => Start::At(self.offset_index.lookup(self.time_index.lookup(timestamp))),
            Some(files) => Start::Search(files.clone(), Target::Timestamp(timestamp)),
        }
    }

    /// Entries of this segment's indexes held in memory.
    pub(crate) fn resident_index_entries(&self) -> usize {
        self.offset_index.len() + self.time_index.len()
    }

    /// Leaves the indexes in their files only, once both are saved whole; `files` are the
    /// opened saved files (either may be missing while its index is empty).
    pub(crate) fn keep_indexes_on_disk(
        &mut self,
        offsets: Option<Arc<dyn StorageFile>>,
        times: Option<Arc<dyn StorageFile>>,
    ) {
        let (offset_entries, time_entries) = self.index_counts();
        let saved = self.saved_offset_entries == offset_entries && self.saved_time_entries == time_entries;
        let present = (offset_entries == 0 || offsets.is_some()) && (time_entries == 0 || times.is_some());
        if self.on_disk.is_some() || !saved || !present {
            return;
        }
        self.on_disk = Some(IndexFiles { offsets, offset_entries, times, time_entries });
        self.offset_index = OffsetIndex::default();
        self.time_index = TimeIndex::default();
    }

    /// Opens this sealed segment's saved index files and leaves its indexes in them only.
    pub(crate) fn unload_indexes(&mut self, storage: &dyn Storage) {
        if self.on_disk.is_some() {
            return;
        }
        let open = |suffix: &str| storage.open(&self.path.with_extension(suffix), false).ok();
        let (offsets, times) = (open(OFFSET_INDEX_SUFFIX), open(TIME_INDEX_SUFFIX));
        self.keep_indexes_on_disk(offsets, times);
    }

    /// Brings the indexes back into memory (the segment is about to be rescanned or cut);
    /// files that no longer decode leave them empty, for the rescan to rebuild.
    fn load_resident(&mut self) {
        let Some(files) = self.on_disk.take() else { return };
        let read = |file: &Option<Arc<dyn StorageFile>>, entries: usize, bytes: usize| -> Option<Vec<u8>> {
            match file {
                Some(file) => read_vec(&**file, 0, entries * bytes).ok().filter(|b| b.len() == entries * bytes),
                None => Some(Vec::new()),
            }
        };
        let offsets = read(&files.offsets, files.offset_entries, OFFSET_ENTRY_BYTES)
            .and_then(|b| OffsetIndex::decode(&b, self.size.max(1)));
        let times = read(&files.times, files.time_entries, TIME_ENTRY_BYTES)
            .and_then(|b| TimeIndex::decode(&b, u64::from(u32::MAX)));
        let (offsets, times) = match (offsets, times) {
            (Some(offsets), Some(times)) => (offsets, times),
            _ => (OffsetIndex::default(), TimeIndex::default()),
        };
        self.saved_offset_entries = offsets.len();
        self.saved_time_entries = times.len();
        self.offset_index = offsets;
        self.time_index = times;
    }

    /// Makes the time index hold the segment's largest timestamp, so a saved index alone tells
    /// retention how old the segment is.
    pub(crate) fn seal_time_index(&mut self) {
        if self.max_timestamp >= 0 {
            let relative = self.relative(self.offset_of_max_timestamp);
            self.time_index.maybe_append(self.max_timestamp, relative);
        }
    }

    /// Re-derives offsets, timestamps and index entries from the file: batches before
    /// `trusted_end` are walked by header (they were synced and checkpointed), and with
    /// `recover` the bytes after it are checked batch by batch (shape, CRC, offsets continuing)
    /// up to `file_end`. The walk starts at the last index entry before `trusted_end`, so its
    /// cost is the unverified tail, not the segment. Returns where the valid bytes end.
    pub(crate) fn rescan(
        &mut self,
        trusted_end: u64,
        file_end: u64,
        recover: bool,
        index_interval_bytes: u64,
    ) -> Result<ScanEnd, LogError> {
        self.load_resident();
        let before = (self.offset_index.clone(), self.time_index.clone());
        let end = self.rederive(trusted_end, file_end, recover, index_interval_bytes)?;
        // The rescan re-adds entries the files already hold: those need no saving again (a
        // clean restart and shutdown would otherwise rewrite every partition's indexes). Files
        // holding entries the rescan dropped are cut at the next save.
        self.seal_time_index();
        let saved = (
            self.saved_offset_entries.min(self.offset_index.common_prefix(&before.0)),
            self.saved_time_entries.min(self.time_index.common_prefix(&before.1)),
        );
        self.trim_due |= saved != (self.saved_offset_entries, self.saved_time_entries);
        (self.saved_offset_entries, self.saved_time_entries) = saved;
        Ok(end)
    }

    fn rederive(
        &mut self,
        trusted_end: u64,
        file_end: u64,
        recover: bool,
        index_interval_bytes: u64,
    ) -> Result<ScanEnd, LogError> {
        let trusted_end = trusted_end.min(file_end);
        self.offset_index.truncate_to_position(u32::try_from(trusted_end).unwrap_or(u32::MAX));
        let (start, start_offset) = match self.offset_index.last() {
            Some((relative, position)) => (u64::from(position), self.base_offset + i64::from(relative)),
            None => (0, self.base_offset),
        };
        // The entry at `start` and everything after it is re-added by the walk.
        self.offset_index.truncate_to_position(u32::try_from(start).unwrap_or(u32::MAX));
        self.time_index.truncate_to_offset(self.relative(start_offset));
        self.max_timestamp = self.time_index.max_timestamp().unwrap_or(-1);
        self.offset_of_max_timestamp = self.base_offset;
        self.next_offset = start_offset;
        self.size = start;
        self.bytes_since_index_entry = if start == 0 { 0 } else { index_interval_bytes };
        if start == 0 {
            self.rolling_timestamp = None;
        }
        let end = self.walk(start, trusted_end, Scan::Trusted, index_interval_bytes)?;
        if end.invalid.is_some() || !recover {
            return Ok(end);
        }
        let mode = Scan::Recover { next_offset: self.next_offset };
        self.walk(trusted_end, file_end, mode, index_interval_bytes)
    }

    /// Tracks every batch that `batch::scan` accepts in `[from, to)`.
    fn walk(&mut self, from: u64, to: u64, mode: Scan, index_interval_bytes: u64) -> Result<ScanEnd, LogError> {
        let file = self.file.clone();
        let path = self.path.clone();
        batch::scan(&*file, from, to, mode, |position, header| {
            self.track(position, header, index_interval_bytes);
            self.size = position + header.size_bytes() as u64;
            ControlFlow::Continue(())
        })
        .ctx("scan segment", &path)
    }

    /// Cuts the file back to `position` bytes, a batch boundary, and re-derives the tail.
    pub(crate) fn truncate(&mut self, position: u64, index_interval_bytes: u64) -> Result<(), LogError> {
        self.file.set_len(position).ctx("truncate", &self.path)?;
        self.file.sync_data().ctx("truncate", &self.path)?;
        self.rescan(position, position, false, index_interval_bytes)?;
        Ok(())
    }

    /// The index bytes not yet saved, for `save_indexes`: (path, keep length, bytes to add).
    pub(crate) fn unsaved_indexes(&self) -> [(PathBuf, u64, Vec<u8>); 2] {
        if self.on_disk.is_some() {
            let (offsets, times) = self.index_counts();
            return [
                (self.path.with_extension(OFFSET_INDEX_SUFFIX), (offsets * OFFSET_ENTRY_BYTES) as u64, Vec::new()),
                (self.path.with_extension(TIME_INDEX_SUFFIX), (times * TIME_ENTRY_BYTES) as u64, Vec::new()),
            ];
        }
        [
            (
                self.path.with_extension(OFFSET_INDEX_SUFFIX),
                (self.saved_offset_entries * OFFSET_ENTRY_BYTES) as u64,
                self.offset_index.encode_from(self.saved_offset_entries),
            ),
            (
                self.path.with_extension(TIME_INDEX_SUFFIX),
                (self.saved_time_entries * TIME_ENTRY_BYTES) as u64,
                self.time_index.encode_from(self.saved_time_entries),
            ),
        ]
    }

    /// Records that the first `offset_entries` / `time_entries` entries are in the files.
    /// Whether `unsaved_indexes` has anything to write or cut.
    pub(crate) fn index_save_due(&self) -> bool {
        let (offsets, times) = self.index_counts();
        self.on_disk.is_none()
            && (self.trim_due || self.saved_offset_entries < offsets || self.saved_time_entries < times)
    }

    pub(crate) fn mark_saved(&mut self, offset_entries: usize, time_entries: usize) {
        if self.on_disk.is_some() {
            return;
        }
        self.trim_due = false;
        self.saved_offset_entries = offset_entries.min(self.offset_index.len());
        self.saved_time_entries = time_entries.min(self.time_index.len());
    }

    pub(crate) fn index_counts(&self) -> (usize, usize) {
        match &self.on_disk {
            Some(files) => (files.offset_entries, files.time_entries),
            None => (self.offset_index.len(), self.time_index.len()),
        }
    }

    /// Removes the segment's files.
    pub(crate) fn delete(&self, storage: &dyn Storage) -> Result<(), LogError> {
        storage.remove_file(&self.path).ctx("delete segment", &self.path)?;
        for suffix in [OFFSET_INDEX_SUFFIX, TIME_INDEX_SUFFIX] {
            let path = self.path.with_extension(suffix);
            if storage.exists(&path) {
                storage.remove_file(&path).ctx("delete index", &path)?;
            }
        }
        Ok(())
    }
}

/// A sealed segment's saved index files and how many entries each holds.
#[derive(Clone)]
pub(crate) struct IndexFiles {
    offsets: Option<Arc<dyn StorageFile>>,
    offset_entries: usize,
    times: Option<Arc<dyn StorageFile>>,
    time_entries: usize,
}

/// What an index lookup is for.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Target {
    /// The last indexed batch at or before this relative offset.
    Offset(u32),
    /// The last indexed batch before the first with a timestamp at or after this one.
    Timestamp(i64),
}

/// Where a read in a segment starts: known from memory, or to be searched in the index files
/// (outside the log's lock, since it reads).
pub(crate) enum Start {
    At(u32),
    Search(IndexFiles, Target),
}

impl Start {
    /// The byte position to start at.
    pub(crate) fn resolve(self) -> io::Result<u64> {
        let (files, target) = match self {
            Start::At(position) => return Ok(u64::from(position)),
            Start::Search(files, target) => (files, target),
        };
        let relative = match target {
            Target::Offset(relative) => relative,
            Target::Timestamp(timestamp) => match &files.times {
                Some(times) => index::lookup_time_in_file(&**times, files.time_entries, timestamp)?,
                None => 0,
            },
        };
        let position = match &files.offsets {
            Some(offsets) => index::lookup_offset_in_file(&**offsets, files.offset_entries, relative)?,
            None => 0,
        };
        Ok(u64::from(position))
    }
}

/// Writes index bytes: keeps the first `keep` bytes of the file at `path` and appends `add`,
/// then syncs it (unless `sync_now` is false: a later `Storage::sync_all` will). Indexes are
/// rebuilt from the log when damaged, so no atomic rename is needed.
pub(crate) fn save_index(
    storage: &dyn Storage,
    path: &Path,
    keep: u64,
    add: &[u8],
    sync_now: bool,
) -> Result<(), LogError> {
    if keep == 0 && add.is_empty() && !storage.exists(path) {
        return Ok(()); // An empty index needs no file: creating one costs an inode.
    }
    let file = storage.open(path, true).ctx("save index", path)?;
    if file.size().ctx("save index", path)? != keep {
        file.set_len(keep).ctx("save index", path)?;
    }
    if !add.is_empty() {
        file.append(&[add]).ctx("save index", path)?;
    }
    if sync_now { file.sync_data().ctx("save index", path) } else { Ok(()) }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Segment file names are Kafka's: 20-digit zero-padded base offsets.
    #[test]
    fn file_names_round_trip() {
        assert_eq!(file_name(42, LOG_SUFFIX), "00000000000000000042.log");
        assert_eq!(parse_log_file_name("00000000000000000042.log"), Some(42));
        assert_eq!(parse_log_file_name("42.log"), None);
        assert_eq!(parse_log_file_name("00000000000000000042.index"), None);
        assert_eq!(parse_log_file_name("0000000000000000004x.log"), None);
    }
}
