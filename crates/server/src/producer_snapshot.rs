//! A partition's producer state as a `.snapshot` file: Kafka's producer snapshot (version 1),
//! then a section of Brook's own, so that a partition opens from the newest snapshot and reads
//! only the batches after it.
//!
//! Kafka's part, big-endian: version i16 (1), CRC-32C u32 of what follows it, then the
//! producer entries: count i32, each producer_id i64, epoch i16, last_sequence i32,
//! last_offset i64, offset_delta i32, timestamp i64, coordinator_epoch i32,
//! current_txn_first_offset i64. Kafka keeps one batch per producer there; Brook keeps five
//! (so that a retried batch is still recognised after a restart), and the aborted
//! transactions' ranges, which Kafka keeps in per-segment `.txnindex` files. Those follow in
//! Brook's section: magic `BRKPS1`, the earlier batches (count i32, each producer_id i64,
//! first_sequence i32, last_sequence i32, base_offset i64, last_offset i64, oldest first), the
//! aborted transactions (count i32, each producer_id i64, first_offset i64, last_offset i64),
//! and its CRC-32C u32. Kafka's reader stops before Brook's section.

use bytes::{Buf, BufMut};

use crate::producers::{AbortedTxn, BatchMeta, ProducerEntry, Producers};

const VERSION: i16 = 1;
const MAGIC: &[u8; 6] = b"BRKPS1";

pub(crate) fn encode(producers: &Producers) -> Vec<u8> {
    let mut entries = Vec::new();
    let mut earlier = Vec::new();
    let mut ids: Vec<(&i64, &ProducerEntry)> = producers.entries.iter().collect();
    ids.sort_by_key(|(id, _)| **id);
    entries.put_i32(ids.len() as i32);
    for (id, e) in &ids {
        let last = e.batches.back();
        entries.put_i64(**id);
        entries.put_i16(e.epoch);
        entries.put_i32(last.map_or(-1, |b| b.last_sequence));
        entries.put_i64(last.map_or(-1, |b| b.last_offset));
        entries.put_i32(last.map_or(0, |b| (b.last_offset - b.base_offset) as i32));
        entries.put_i64(e.last_timestamp);
        entries.put_i32(-1);
        entries.put_i64(e.txn_first_offset.unwrap_or(-1));
        for b in e.batches.iter().take(e.batches.len().saturating_sub(1)) {
            earlier.push((**id, *b));
        }
    }
    let mut out = Vec::with_capacity(6 + entries.len() + 64);
    out.put_i16(VERSION);
    out.put_u32(crc32c::crc32c(&entries));
    out.extend_from_slice(&entries);
    let mut own = MAGIC.to_vec();
    own.put_i32(earlier.len() as i32);
    for (id, b) in earlier {
        own.put_i64(id);
        own.put_i32(b.first_sequence);
        own.put_i32(b.last_sequence);
        own.put_i64(b.base_offset);
        own.put_i64(b.last_offset);
    }
    own.put_i32(producers.aborted.len() as i32);
    for t in &producers.aborted {
        own.put_i64(t.producer_id);
        own.put_i64(t.first_offset);
        own.put_i64(t.last_offset);
    }
    let crc = crc32c::crc32c(&own);
    own.put_u32(crc);
    out.extend_from_slice(&own);
    out
}

/// `None` for anything but a whole, intact snapshot of this layout (the caller then reads the
/// log from its start).
pub(crate) fn decode(bytes: &[u8]) -> Option<Producers> {
    let mut r = bytes;
    if r.remaining() < 10 || r.get_i16() != VERSION {
        return None;
    }
    let crc = r.get_u32();
    let count = usize::try_from(r.get_i32()).ok()?;
    const ENTRY: usize = 46;
    let entries_len = 4 + count.checked_mul(ENTRY)?;
    if bytes.len() < 6 + entries_len || crc32c::crc32c(&bytes[6..6 + entries_len]) != crc {
        return None;
    }
    let mut producers = Producers::default();
    for _ in 0..count {
        let id = r.get_i64();
        let epoch = r.get_i16();
        let last_sequence = r.get_i32();
        let last_offset = r.get_i64();
        let offset_delta = r.get_i32();
        let last_timestamp = r.get_i64();
        let _coordinator_epoch = r.get_i32();
        let txn_first_offset = Some(r.get_i64()).filter(|o| *o >= 0);
        let mut entry = ProducerEntry { epoch, last_timestamp, txn_first_offset, ..ProducerEntry::default() };
        if last_sequence >= 0 {
            entry.batches.push_back(BatchMeta {
                first_sequence: last_sequence.wrapping_sub(offset_delta),
                last_sequence,
                base_offset: last_offset - i64::from(offset_delta),
                last_offset,
            });
        }
        if let Some(first) = txn_first_offset {
            producers.open.insert(first, id);
        }
        producers.entries.insert(id, entry);
    }
    let own = r;
    if own.len() < MAGIC.len() + 12 || &own[..MAGIC.len()] != MAGIC {
        return None;
    }
    let (body, crc) = own.split_at(own.len() - 4);
    if crc32c::crc32c(body) != u32::from_be_bytes(crc.try_into().ok()?) {
        return None;
    }
    let mut r = &body[MAGIC.len()..];
    let earlier = usize::try_from(r.get_i32()).ok()?;
    if r.remaining() < earlier.checked_mul(32)? + 4 {
        return None;
    }
    // Oldest first, each before its producer's last batch.
    let mut before: Vec<(i64, BatchMeta)> = Vec::with_capacity(earlier);
    for _ in 0..earlier {
        let id = r.get_i64();
        let b = BatchMeta {
            first_sequence: r.get_i32(),
            last_sequence: r.get_i32(),
            base_offset: r.get_i64(),
            last_offset: r.get_i64(),
        };
        before.push((id, b));
    }
    for (id, b) in before.into_iter().rev() {
        producers.entries.get_mut(&id)?.batches.push_front(b);
    }
    let aborted = usize::try_from(r.get_i32()).ok()?;
    if r.remaining() != aborted.checked_mul(24)? {
        return None;
    }
    for _ in 0..aborted {
        let (producer_id, first_offset, last_offset) = (r.get_i64(), r.get_i64(), r.get_i64());
        producers.aborted.push(AbortedTxn { producer_id, first_offset, last_offset });
    }
    Some(producers)
}

#[cfg(test)]
mod tests {
    use brook_log::batch::build::{self, Record};
    use brook_log::batch::{BatchHeader, Producer, end_txn_marker, marker_commits};

    use super::*;

    fn note(p: &mut Producers, at: i64, producer: Producer, records: usize) {
        let records: Vec<Record> =
            (0..records).map(|_| Record { timestamp_delta: 0, key: None, value: Some(vec![0]) }).collect();
        p.note(&BatchHeader::parse(&build::from_producer(0, &records, producer)).unwrap(), at, None);
    }

    fn state(p: &Producers) -> String {
        format!("{:?} {:?} {:?}", p.active(), p.open, p.aborted)
    }

    #[test]
    fn a_snapshot_reads_back_as_the_state_it_was_taken_from() {
        let mut p = Producers::default();
        for i in 0..7 {
            note(&mut p, i * 2, Producer { id: 5, epoch: 1, base_sequence: (i * 2) as i32, attributes: 0 }, 2);
        }
        note(&mut p, 14, Producer::transactional(6, 0, 0), 1);
        let marker = end_txn_marker(6, 0, false, 0, 0);
        p.note(&BatchHeader::parse(&marker).unwrap(), 15, marker_commits(&marker));
        note(&mut p, 16, Producer::transactional(8, 3, 0), 3);
        let bytes = encode(&p);
        // Kafka's part: version 1, the CRC of the entries, three entries of 46 bytes.
        assert_eq!(&bytes[..2], &[0, 1]);
        assert_eq!(u32::from_be_bytes(bytes[2..6].try_into().unwrap()), crc32c::crc32c(&bytes[6..6 + 4 + 3 * 46]));
        assert_eq!(&bytes[6 + 4 + 3 * 46..][..6], MAGIC);
        let back = decode(&bytes).expect("decodes");
        assert_eq!(state(&back), state(&p));
        // Every remembered batch of producer 5 is still a duplicate.
        for i in 2..7 {
            let records = vec![Record { timestamp_delta: 0, key: None, value: Some(vec![0]) }; 2];
            let retry =
                build::from_producer(0, &records, Producer { id: 5, epoch: 1, base_sequence: i * 2, attributes: 0 });
            let seen = back.check(&BatchHeader::parse(&retry).unwrap()).unwrap().expect("a duplicate");
            assert_eq!(seen.base_offset, i64::from(i) * 2);
        }
    }

    #[test]
    fn a_damaged_snapshot_is_refused_not_misread() {
        let mut p = Producers::default();
        note(&mut p, 0, Producer::transactional(6, 0, 0), 1);
        let bytes = encode(&p);
        for len in 0..bytes.len() {
            assert!(decode(&bytes[..len]).is_none(), "truncated at {len}");
        }
        for at in 0..bytes.len() {
            let mut flipped = bytes.clone();
            flipped[at] ^= 0x10;
            assert!(decode(&flipped).is_none(), "byte {at} flipped");
        }
    }
}
