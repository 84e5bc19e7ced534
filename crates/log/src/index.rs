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
//! Both are derived data: a missing or damaged file is rebuilt by scanning the segment.

/// Bytes per offset index entry.
pub const OFFSET_ENTRY_BYTES: usize = 8;
/// Bytes per time index entry.
pub const TIME_ENTRY_BYTES: usize = 12;

/// `(relative_offset, position)` pairs, both strictly increasing.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct OffsetIndex {
    entries: Vec<(u32, u32)>,
}

impl OffsetIndex {
    pub fn append(&mut self, relative_offset: u32, position: u32) {
        if let Some(&(last_offset, last_position)) = self.entries.last() {
            assert!(relative_offset > last_offset, "offset index must grow");
            assert!(position > last_position, "offset index positions must grow");
        }
        self.entries.push((relative_offset, position));
    }

    /// The position of the last indexed batch starting at or before `relative_offset`, or 0.
    pub fn lookup(&self, relative_offset: u32) -> u32 {
        let i = self.entries.partition_point(|&(o, _)| o <= relative_offset);
        if i == 0 { 0 } else { self.entries[i - 1].1 }
    }

    /// The last entry, if any.
    pub fn last(&self) -> Option<(u32, u32)> {
        self.entries.last().copied()
    }

    /// Drops entries for batches at or after `position`.
    pub fn truncate_to_position(&mut self, position: u32) {
        let keep = self.entries.partition_point(|&(_, p)| p < position);
        self.entries.truncate(keep);
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Encodes the entries from `from` on.
    pub fn encode_from(&self, from: usize) -> Vec<u8> {
        let mut out = Vec::with_capacity((self.entries.len() - from) * OFFSET_ENTRY_BYTES);
        for &(offset, position) in &self.entries[from..] {
            out.extend_from_slice(&offset.to_be_bytes());
            out.extend_from_slice(&position.to_be_bytes());
        }
        out
    }

    /// Decodes a saved index, refusing one that cannot describe a segment of `segment_bytes`.
    pub fn decode(bytes: &[u8], segment_bytes: u64) -> Option<OffsetIndex> {
        if bytes.len() % OFFSET_ENTRY_BYTES != 0 {
            return None;
        }
        let mut index = OffsetIndex::default();
        for entry in bytes.chunks_exact(OFFSET_ENTRY_BYTES) {
            let offset = u32::from_be_bytes(entry[..4].try_into().expect("4 bytes"));
            let position = u32::from_be_bytes(entry[4..].try_into().expect("4 bytes"));
            let grows = index.entries.last().is_none_or(|&(o, p)| offset > o && position > p);
            if !grows || u64::from(position) >= segment_bytes {
                return None;
            }
            index.entries.push((offset, position));
        }
        Some(index)
    }
}

/// `(timestamp, relative_offset)` pairs, both strictly increasing.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct TimeIndex {
    entries: Vec<(i64, u32)>,
}

impl TimeIndex {
    /// Records that `timestamp` is the largest so far, first carried by the batch at
    /// `relative_offset`; a no-op unless it grew.
    pub fn maybe_append(&mut self, timestamp: i64, relative_offset: u32) {
        match self.entries.last() {
            Some(&(last_ts, last_offset)) if timestamp <= last_ts || relative_offset <= last_offset => {}
            _ => self.entries.push((timestamp, relative_offset)),
        }
    }

    /// The relative offset of the last indexed batch whose largest-so-far timestamp is below
    /// `timestamp`: a search for the first batch at or after `timestamp` may start there.
    pub fn lookup(&self, timestamp: i64) -> u32 {
        let i = self.entries.partition_point(|&(t, _)| t < timestamp);
        if i == 0 { 0 } else { self.entries[i - 1].1 }
    }

    /// The largest timestamp indexed, if any.
    pub fn max_timestamp(&self) -> Option<i64> {
        self.entries.last().map(|&(t, _)| t)
    }

    /// Drops entries for batches at or after `relative_offset`.
    pub fn truncate_to_offset(&mut self, relative_offset: u32) {
        let keep = self.entries.partition_point(|&(_, o)| o < relative_offset);
        self.entries.truncate(keep);
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    pub fn encode_from(&self, from: usize) -> Vec<u8> {
        let mut out = Vec::with_capacity((self.entries.len() - from) * TIME_ENTRY_BYTES);
        for &(timestamp, offset) in &self.entries[from..] {
            out.extend_from_slice(&timestamp.to_be_bytes());
            out.extend_from_slice(&offset.to_be_bytes());
        }
        out
    }

    /// Decodes a saved index, refusing one with offsets at or past `offset_count`.
    pub fn decode(bytes: &[u8], offset_count: u64) -> Option<TimeIndex> {
        if bytes.len() % TIME_ENTRY_BYTES != 0 {
            return None;
        }
        let mut index = TimeIndex::default();
        for entry in bytes.chunks_exact(TIME_ENTRY_BYTES) {
            let timestamp = i64::from_be_bytes(entry[..8].try_into().expect("8 bytes"));
            let offset = u32::from_be_bytes(entry[8..].try_into().expect("4 bytes"));
            let grows = index.entries.last().is_none_or(|&(t, o)| timestamp > t && offset > o);
            if !grows || u64::from(offset) >= offset_count {
                return None;
            }
            index.entries.push((timestamp, offset));
        }
        Some(index)
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
