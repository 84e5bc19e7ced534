//! Sparse per-segment indexes, kept in memory and saved beside the segment in Kafka's layouts:
//!
//! - `<base>.index`: entries of `(relative_offset: u32, position: u32)`, big-endian, 8 bytes:
//!   the base offset (minus the segment's) of a batch and where that batch starts in the file.
//!   One entry whenever `index.interval.bytes` (Kafka's default 4096) have been appended since
//!   the last, so a lookup lands at most that many bytes before the batch it wants.
//! - `<base>.timeindex`: entries of `(timestamp: i64, relative_offset: u32)`, 12 bytes: the
//!   largest timestamp seen so far and the batch carrying it; added with the offset entries
//!   when the largest timestamp grew, and once more when the segment is closed or checkpointed.
//!
//! In both, each field of an entry is strictly larger than in the entry before. Both are
//! derived data: a missing or damaged file is rebuilt by scanning the segment. Only the active
//! segment's indexes stay in memory; a sealed segment's are searched in their files.

use std::io;

use crate::storage::{StorageFile, read_vec};

/// Bytes per offset index entry.
pub const OFFSET_ENTRY_BYTES: usize = <(u32, u32) as Entry>::BYTES;
/// Bytes per time index entry.
pub const TIME_ENTRY_BYTES: usize = <(i64, u32) as Entry>::BYTES;

/// One fixed-size index entry: two big-endian fields.
trait Entry: Copy {
    const BYTES: usize;
    fn encode(&self, out: &mut Vec<u8>);
    fn decode(bytes: &[u8]) -> Self;
    /// Whether `next` may follow `self`: every field strictly larger.
    fn precedes(&self, next: &Self) -> bool;
}

impl Entry for (u32, u32) {
    const BYTES: usize = 8;
    fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.0.to_be_bytes());
        out.extend_from_slice(&self.1.to_be_bytes());
    }
    fn decode(bytes: &[u8]) -> Self {
        (
            u32::from_be_bytes(bytes[..4].try_into().expect("4 bytes")),
            u32::from_be_bytes(bytes[4..8].try_into().expect("4 bytes")),
        )
    }
    fn precedes(&self, next: &Self) -> bool {
        next.0 > self.0 && next.1 > self.1
    }
}

impl Entry for (i64, u32) {
    const BYTES: usize = 12;
    fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.0.to_be_bytes());
        out.extend_from_slice(&self.1.to_be_bytes());
    }
    fn decode(bytes: &[u8]) -> Self {
        (
            i64::from_be_bytes(bytes[..8].try_into().expect("8 bytes")),
            u32::from_be_bytes(bytes[8..12].try_into().expect("4 bytes")),
        )
    }
    fn precedes(&self, next: &Self) -> bool {
        next.0 > self.0 && next.1 > self.1
    }
}

/// The entries of one index, growing in every field.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
struct Entries<E> {
    entries: Vec<E>,
}

impl<E: Entry> Entries<E> {
    /// Appends `entry` if it grows in every field; returns whether it did.
    fn push_if_growing(&mut self, entry: E) -> bool {
        let grows = self.entries.last().is_none_or(|last| last.precedes(&entry));
        if grows {
            self.entries.push(entry);
        }
        grows
    }

    /// Keeps the leading entries for which `keep` holds.
    fn truncate_while(&mut self, keep: impl Fn(&E) -> bool) {
        let count = self.entries.partition_point(keep);
        self.entries.truncate(count);
    }

    /// The last entry among the leading ones for which `before` holds.
    fn floor(&self, before: impl Fn(&E) -> bool) -> Option<E> {
        let i = self.entries.partition_point(before);
        i.checked_sub(1).map(|i| self.entries[i])
    }

    /// How many leading entries `self` and `other` share.
    fn common_prefix(&self, other: &Entries<E>) -> usize
    where
        E: PartialEq,
    {
        self.entries.iter().zip(&other.entries).take_while(|(a, b)| a == b).count()
    }

    fn encode_from(&self, from: usize) -> Vec<u8> {
        let mut out = Vec::with_capacity((self.entries.len() - from) * E::BYTES);
        for entry in &self.entries[from..] {
            entry.encode(&mut out);
        }
        out
    }

    /// Decodes a saved index; `None` if torn, not growing, or an entry fails `valid`.
    fn decode(bytes: &[u8], valid: impl Fn(&E) -> bool) -> Option<Entries<E>> {
        if bytes.len() % E::BYTES != 0 {
            return None;
        }
        let mut index = Entries { entries: Vec::with_capacity(bytes.len() / E::BYTES) };
        for chunk in bytes.chunks_exact(E::BYTES) {
            let entry = E::decode(chunk);
            if !valid(&entry) || !index.push_if_growing(entry) {
                return None;
            }
        }
        Some(index)
    }
}

/// The last of the first `entries` entries of a saved index file for which `before` holds
/// (they hold for a leading run), by binary search with positional reads: a sealed segment's
/// index is searched in its file rather than kept in memory.
fn floor_in_file<E: Entry>(
    file: &dyn StorageFile,
    entries: usize,
    before: impl Fn(&E) -> bool,
) -> io::Result<Option<E>> {
    let read = |i: usize| -> io::Result<E> {
        let bytes = read_vec(file, (i * E::BYTES) as u64, E::BYTES)?;
        if bytes.len() < E::BYTES {
            return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "index file shorter than its entries"));
        }
        Ok(E::decode(&bytes))
    };
    let (mut low, mut high, mut found) = (0, entries, None);
    while low < high {
        let mid = low + (high - low) / 2;
        let entry = read(mid)?;
        if before(&entry) {
            found = Some(entry);
            low = mid + 1;
        } else {
            high = mid;
        }
    }
    Ok(found)
}

/// `OffsetIndex::lookup` on a saved offset index of `entries` entries.
pub(crate) fn lookup_offset_in_file(file: &dyn StorageFile, entries: usize, relative_offset: u32) -> io::Result<u32> {
    let found = floor_in_file::<(u32, u32)>(file, entries, |&(o, _)| o <= relative_offset)?;
    Ok(found.map_or(0, |(_, position)| position))
}

/// `TimeIndex::lookup` on a saved time index of `entries` entries.
pub(crate) fn lookup_time_in_file(file: &dyn StorageFile, entries: usize, timestamp: i64) -> io::Result<u32> {
    let found = floor_in_file::<(i64, u32)>(file, entries, |&(t, _)| t < timestamp)?;
    Ok(found.map_or(0, |(_, offset)| offset))
}

/// The offset index: `(relative_offset, position)`.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct OffsetIndex(Entries<(u32, u32)>);

impl OffsetIndex {
    pub fn append(&mut self, relative_offset: u32, position: u32) {
        assert!(self.0.push_if_growing((relative_offset, position)), "offset index entries must grow");
    }

    /// The position of the last indexed batch starting at or before `relative_offset`, or 0.
    pub fn lookup(&self, relative_offset: u32) -> u32 {
        self.0.floor(|&(o, _)| o <= relative_offset).map_or(0, |(_, position)| position)
    }

    pub fn last(&self) -> Option<(u32, u32)> {
        self.0.entries.last().copied()
    }

    /// Drops entries for batches at or after `position`.
    pub fn truncate_to_position(&mut self, position: u32) {
        self.0.truncate_while(|&(_, p)| p < position);
    }

    pub fn len(&self) -> usize {
        self.0.entries.len()
    }

    /// How many leading entries this index shares with `other`.
    pub fn common_prefix(&self, other: &Self) -> usize {
        self.0.common_prefix(&other.0)
    }

    pub fn is_empty(&self) -> bool {
        self.0.entries.is_empty()
    }

    /// Encodes the entries from `from` on.
    pub fn encode_from(&self, from: usize) -> Vec<u8> {
        self.0.encode_from(from)
    }

    /// Decodes a saved index, refusing one that cannot describe a segment of `segment_bytes`.
    pub fn decode(bytes: &[u8], segment_bytes: u64) -> Option<OffsetIndex> {
        Entries::decode(bytes, |&(_, position)| u64::from(position) < segment_bytes).map(OffsetIndex)
    }
}

/// The time index: `(timestamp, relative_offset)`.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct TimeIndex(Entries<(i64, u32)>);

impl TimeIndex {
    /// Records that `timestamp` is the largest so far, first carried by the batch at
    /// `relative_offset`; a no-op unless it grew.
    pub fn maybe_append(&mut self, timestamp: i64, relative_offset: u32) {
        self.0.push_if_growing((timestamp, relative_offset));
    }

    /// The relative offset of the last indexed batch whose largest-so-far timestamp is below
    /// `timestamp`: a search for the first batch at or after `timestamp` may start there.
    pub fn lookup(&self, timestamp: i64) -> u32 {
        self.0.floor(|&(t, _)| t < timestamp).map_or(0, |(_, offset)| offset)
    }

    /// The largest timestamp indexed, if any.
    pub fn max_timestamp(&self) -> Option<i64> {
        self.0.entries.last().map(|&(t, _)| t)
    }

    /// Drops entries for batches at or after `relative_offset`.
    pub fn truncate_to_offset(&mut self, relative_offset: u32) {
        self.0.truncate_while(|&(_, o)| o < relative_offset);
    }

    pub fn len(&self) -> usize {
        self.0.entries.len()
    }

    /// How many leading entries this index shares with `other`.
    pub fn common_prefix(&self, other: &Self) -> usize {
        self.0.common_prefix(&other.0)
    }

    pub fn is_empty(&self) -> bool {
        self.0.entries.is_empty()
    }

    pub fn encode_from(&self, from: usize) -> Vec<u8> {
        self.0.encode_from(from)
    }

    /// Decodes a saved index, refusing one with offsets at or past `offset_count`.
    pub fn decode(bytes: &[u8], offset_count: u64) -> Option<TimeIndex> {
        Entries::decode(bytes, |&(_, offset)| u64::from(offset) < offset_count).map(TimeIndex)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Lookups return the floor entry; encode and decode round-trip.
    #[test]
    fn offset_index_lookup_and_round_trip() {
        let mut index = OffsetIndex::default();
        index.append(0, 0);
        index.append(10, 4100);
        index.append(25, 8300);
        assert_eq!(index.lookup(0), 0);
        assert_eq!(index.lookup(9), 0);
        assert_eq!(index.lookup(10), 4100);
        assert_eq!(index.lookup(1000), 8300);
        let decoded = OffsetIndex::decode(&index.encode_from(0), 9000).expect("valid");
        assert_eq!(decoded, index);
        assert!(OffsetIndex::decode(&index.encode_from(0), 8000).is_none(), "position past the end");
        assert!(OffsetIndex::decode(&index.encode_from(0)[..7], 9000).is_none(), "torn entry");
        let mut reversed = index.encode_from(1);
        reversed.extend_from_slice(&index.encode_from(0)[..8]);
        assert!(OffsetIndex::decode(&reversed, 9000).is_none(), "not increasing");
        index.truncate_to_position(4100);
        assert_eq!(index.len(), 1);
    }

    /// Searching a saved index file answers as the index in memory does.
    #[test]
    fn lookups_in_files_match_memory() {
        use crate::storage::{OsStorage, Storage};
        let dir = tempfile::tempdir().expect("tempdir");
        let storage = OsStorage::default();
        let (mut offsets, mut times) = (OffsetIndex::default(), TimeIndex::default());
        for i in 0..100u32 {
            offsets.append(i * 3 + 1, i * 4096 + 7);
            times.maybe_append(1000 + i64::from(i) * 10, i * 3 + 1);
        }
        let offset_file = storage.open(&dir.path().join("o"), true).expect("create");
        offset_file.append(&[&offsets.encode_from(0)]).expect("write");
        let time_file = storage.open(&dir.path().join("t"), true).expect("create");
        time_file.append(&[&times.encode_from(0)]).expect("write");
        for relative in 0..320 {
            assert_eq!(lookup_offset_in_file(&*offset_file, 100, relative).expect("read"), offsets.lookup(relative));
        }
        for timestamp in 990..2010 {
            assert_eq!(lookup_time_in_file(&*time_file, 100, timestamp).expect("read"), times.lookup(timestamp));
        }
        assert_eq!(lookup_offset_in_file(&*offset_file, 0, 50).expect("empty"), 0);
    }

    /// The time index keeps only growing timestamps and finds where a search may start.
    #[test]
    fn time_index_lookup() {
        let mut index = TimeIndex::default();
        index.maybe_append(100, 0);
        index.maybe_append(90, 5); // not larger: ignored
        index.maybe_append(200, 10);
        assert_eq!(index.len(), 2);
        assert_eq!(index.lookup(50), 0);
        assert_eq!(index.lookup(150), 0);
        assert_eq!(index.lookup(201), 10);
        assert_eq!(index.max_timestamp(), Some(200));
        assert_eq!(TimeIndex::decode(&index.encode_from(0), 11), Some(index.clone()));
        assert!(TimeIndex::decode(&index.encode_from(0), 10).is_none());
        index.truncate_to_offset(10);
        assert_eq!(index.max_timestamp(), Some(100));
    }
}
