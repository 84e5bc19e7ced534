//! Kafka RecordBatch v2 headers: layout, validation and the one scanner that walks batches in
//! a file (used by recovery, index rebuild and reads).
//!
//! The log never decodes records on the append or fetch path. A batch is validated from its
//! 61-byte header and its CRC-32C, which covers everything from `attributes` to the end:
//!
//! ```text
//! offset size field                      offset size field
//!      0    8 base_offset                    27    8 base_timestamp
//!      8    4 batch_length (bytes after it)  35    8 max_timestamp
//!     12    4 partition_leader_epoch         43    8 producer_id
//!     16    1 magic (= 2)                    51    2 producer_epoch
//!     17    4 crc (CRC-32C of 21..end)       53    4 base_sequence
//!     21    2 attributes                     57    4 records_count
//!     23    4 last_offset_delta              61    … records
//! ```

use std::ops::ControlFlow;

use bytes::{Bytes, BytesMut};

use crate::error::LogError;
use crate::storage::{StorageFile, read_vec};

pub const BASE_OFFSET_POS: usize = 0;
pub const BATCH_LENGTH_POS: usize = 8;
pub const MAGIC_POS: usize = 16;
pub const CRC_POS: usize = 17;
pub const ATTRIBUTES_POS: usize = 21;
pub const LAST_OFFSET_DELTA_POS: usize = 23;
pub const BASE_TIMESTAMP_POS: usize = 27;
pub const MAX_TIMESTAMP_POS: usize = 35;
pub const PRODUCER_ID_POS: usize = 43;
pub const PRODUCER_EPOCH_POS: usize = 51;
pub const BASE_SEQUENCE_POS: usize = 53;
pub const RECORDS_COUNT_POS: usize = 57;
/// Bytes before the first record.
pub const BATCH_HEADER_LEN: usize = 61;
/// Bytes before `batch_length`'s count starts: base offset and the length itself.
pub const LOG_OVERHEAD: usize = 12;
const _: () = assert!(RECORDS_COUNT_POS + 4 == BATCH_HEADER_LEN);
const _: () = assert!(BATCH_LENGTH_POS + 4 == LOG_OVERHEAD);

/// The only record format Brook stores (Kafka 0.11+).
pub const MAGIC_V2: i8 = 2;
/// Attribute bits (Kafka's `DefaultRecordBatch`).
const COMPRESSION_MASK: i16 = 0x07;
const TIMESTAMP_TYPE_LOG_APPEND: i16 = 0x08;
const TRANSACTIONAL_FLAG: i16 = 0x10;
const CONTROL_FLAG: i16 = 0x20;

/// A parsed batch header; all fields as on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchHeader {
    pub base_offset: i64,
    pub batch_length: i32,
    pub partition_leader_epoch: i32,
    pub magic: i8,
    pub crc: u32,
    pub attributes: i16,
    pub last_offset_delta: i32,
    pub base_timestamp: i64,
    pub max_timestamp: i64,
    pub producer_id: i64,
    pub producer_epoch: i16,
    pub base_sequence: i32,
    pub records_count: i32,
}

/// The whole batches at the start of `buf` (a read's or a fetch response's bytes), each with
/// its header; stops at the first batch that is cut short or claims less than a header.
pub fn whole_batches(mut buf: &[u8]) -> impl Iterator<Item = (BatchHeader, &[u8])> {
    std::iter::from_fn(move || {
        let header = BatchHeader::parse(buf)?;
        let size = header.size_bytes();
        if size < BATCH_HEADER_LEN || size > buf.len() {
            return None;
        }
        let (batch, rest) = buf.split_at(size);
        buf = rest;
        Some((header, batch))
    })
}

impl BatchHeader {
    /// Parses the first `BATCH_HEADER_LEN` bytes of `buf`; `None` if `buf` is shorter.
    pub fn parse(buf: &[u8]) -> Option<BatchHeader> {
        if buf.len() < BATCH_HEADER_LEN {
            return None;
        }
        Some(BatchHeader {
            base_offset: read_i64(buf, BASE_OFFSET_POS),
            batch_length: read_i32(buf, BATCH_LENGTH_POS),
            partition_leader_epoch: read_i32(buf, 12),
            magic: buf[MAGIC_POS] as i8,
            crc: read_i32(buf, CRC_POS) as u32,
            attributes: read_i16(buf, ATTRIBUTES_POS),
            last_offset_delta: read_i32(buf, LAST_OFFSET_DELTA_POS),
            base_timestamp: read_i64(buf, BASE_TIMESTAMP_POS),
            max_timestamp: read_i64(buf, MAX_TIMESTAMP_POS),
            producer_id: read_i64(buf, PRODUCER_ID_POS),
            producer_epoch: read_i16(buf, PRODUCER_EPOCH_POS),
            base_sequence: read_i32(buf, BASE_SEQUENCE_POS),
            records_count: read_i32(buf, RECORDS_COUNT_POS),
        })
    }

    /// The whole batch's size in bytes, header included; 0 for a negative length.
    pub fn size_bytes(&self) -> usize {
        usize::try_from(self.batch_length).map_or(0, |len| len + LOG_OVERHEAD)
    }

    /// Saturating: headers read back from disk are not trusted not to overflow.
    pub fn last_offset(&self) -> i64 {
        self.base_offset.saturating_add(i64::from(self.last_offset_delta))
    }

    /// The offset after this batch.
    pub fn next_offset(&self) -> i64 {
        self.last_offset().saturating_add(1)
    }

    /// Kafka's compression codec id: 0 none, 1 gzip, 2 snappy, 3 lz4, 4 zstd.
    pub fn compression(&self) -> i16 {
        self.attributes & COMPRESSION_MASK
    }

    pub fn is_log_append_time(&self) -> bool {
        self.attributes & TIMESTAMP_TYPE_LOG_APPEND != 0
    }

    pub fn is_transactional(&self) -> bool {
        self.attributes & TRANSACTIONAL_FLAG != 0
    }

    pub fn is_control(&self) -> bool {
        self.attributes & CONTROL_FLAG != 0
    }

    /// Checks what can be checked without the records: magic, a sane length and record count.
    fn check_shape(&self) -> Result<(), &'static str> {
        if self.magic != MAGIC_V2 {
            return Err("magic is not 2");
        }
        if self.size_bytes() < BATCH_HEADER_LEN {
            return Err("batch length shorter than the header");
        }
        if self.records_count < 1 {
            return Err("batch holds no records");
        }
        if self.last_offset_delta != self.records_count - 1 {
            return Err("last offset delta does not match the record count");
        }
        if self.compression() > 4 {
            return Err("unknown compression codec");
        }
        Ok(())
    }
}

/// CRC-32C over `attributes..end`, as stored in the header's `crc` field.
pub fn compute_crc(batch: &[u8]) -> u32 {
    crc32c::crc32c(&batch[ATTRIBUTES_POS..])
}

/// Validates one whole batch as a producer sent it: a single v2 batch filling `batch` exactly,
/// a matching CRC, at most `max_bytes`. Returns its header.
pub fn validate(batch: &[u8], max_bytes: u32) -> Result<BatchHeader, LogError> {
    let corrupt = |reason| LogError::CorruptMessage { reason };
    let header = BatchHeader::parse(batch).ok_or(corrupt("shorter than a batch header"))?;
    header.check_shape().map_err(corrupt)?;
    if header.size_bytes() != batch.len() {
        return Err(corrupt("batch length does not match the bytes sent"));
    }
    if batch.len() > max_bytes as usize {
        return Err(LogError::RecordTooLarge { size: batch.len(), max: max_bytes });
    }
    if compute_crc(batch) != header.crc {
        return Err(corrupt("CRC-32C mismatch"));
    }
    Ok(header)
}

/// Returns a copy of `batch` stamped with log-append time `now_ms`: the timestamp-type bit set,
/// `max_timestamp` replaced and the CRC recomputed (both are CRC-covered), as Kafka does.
pub fn with_log_append_time(batch: &[u8], now_ms: i64) -> Bytes {
    let mut out = BytesMut::from(batch);
    let attributes = read_i16(&out, ATTRIBUTES_POS) | TIMESTAMP_TYPE_LOG_APPEND;
    out[ATTRIBUTES_POS..ATTRIBUTES_POS + 2].copy_from_slice(&attributes.to_be_bytes());
    out[MAX_TIMESTAMP_POS..MAX_TIMESTAMP_POS + 8].copy_from_slice(&now_ms.to_be_bytes());
    let crc = compute_crc(&out);
    out[CRC_POS..CRC_POS + 4].copy_from_slice(&crc.to_be_bytes());
    out.freeze()
}

/// How far a scan should trust the bytes it walks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scan {
    /// Data that was synced and checkpointed: walk headers, checking only that offsets grow.
    Trusted,
    /// A tail that a crash may have torn: check shape, CRC and that offsets continue from
    /// `next_offset` without a gap (an uncompacted tail never has one).
    Recover { next_offset: i64 },
}

/// Where and why a scan stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ScanEnd {
    /// The position after the last batch accepted.
    pub position: u64,
    /// `None` when the scan reached `end` or the visitor stopped it; else why the bytes at
    /// `position` are not a valid batch.
    pub invalid: Option<&'static str>,
}

/// Bytes read from the file per step of a scan.
const SCAN_CHUNK_BYTES: usize = 1 << 20;

/// Walks the batches of `file` in `[start, end)`, calling `visit(position, header)` for each
/// whole batch that passes the `mode` checks, until the visitor breaks or a batch fails.
pub fn scan(
    file: &dyn StorageFile,
    start: u64,
    end: u64,
    mode: Scan,
    mut visit: impl FnMut(u64, &BatchHeader) -> ControlFlow<()>,
) -> std::io::Result<ScanEnd> {
    let (verify, mut expected_next) = match mode {
        Scan::Recover { next_offset } => (true, next_offset),
        Scan::Trusted => (false, i64::MIN),
    };
    let mut chunk: Vec<u8> = Vec::new();
    let mut chunk_start = start;
    let mut position = start;
    while position < end {
        let at = (position - chunk_start) as usize;
        let header = match BatchHeader::parse(&chunk[at.min(chunk.len())..]) {
            Some(header) => header,
            None => {
                chunk = read_chunk(file, position, end, SCAN_CHUNK_BYTES)?;
                chunk_start = position;
                match BatchHeader::parse(&chunk) {
                    Some(header) => header,
                    None => return Ok(ScanEnd { position, invalid: Some("torn batch header") }),
                }
            }
        };
        let at = (position - chunk_start) as usize;
        if let Err(reason) = header.check_shape() {
            return Ok(ScanEnd { position, invalid: Some(reason) });
        }
        let size = header.size_bytes();
        if position + size as u64 > end {
            return Ok(ScanEnd { position, invalid: Some("torn batch") });
        }
        if header.base_offset < expected_next {
            return Ok(ScanEnd { position, invalid: Some("offsets go back") });
        }
        if verify {
            if header.base_offset != expected_next {
                return Ok(ScanEnd { position, invalid: Some("offsets do not continue") });
            }
            if at + size > chunk.len() {
                chunk = read_chunk(file, position, end, size.max(SCAN_CHUNK_BYTES))?;
                chunk_start = position;
            }
            let at = (position - chunk_start) as usize;
            let Some(bytes) = chunk.get(at..at + size) else {
                // The file ended early (it shrank under us): what is not there is torn.
                return Ok(ScanEnd { position, invalid: Some("torn batch") });
            };
            if compute_crc(bytes) != header.crc {
                return Ok(ScanEnd { position, invalid: Some("CRC-32C mismatch") });
            }
        }
        expected_next = header.next_offset();
        if visit(position, &header).is_break() {
            return Ok(ScanEnd { position, invalid: None });
        }
        position += size as u64;
    }
    Ok(ScanEnd { position, invalid: None })
}

/// Up to `len` bytes from `position`, never past `end`.
fn read_chunk(file: &dyn StorageFile, position: u64, end: u64, len: usize) -> std::io::Result<Vec<u8>> {
    read_vec(file, position, len.min((end - position) as usize))
}

/// Finds, in an uncompressed batch, the offset of the first record whose timestamp is at
/// least `target_ms`. Returns `None` if the batch is compressed (its records must be
/// decompressed first) or malformed, `Some(None)` if no record qualifies.
pub fn first_record_at_or_after(batch: &[u8], target_ms: i64) -> Option<Option<(i64, i64)>> {
    let header = BatchHeader::parse(batch)?;
    if header.compression() != 0 {
        return None;
    }
    if header.is_log_append_time() {
        // Every record carries the batch's log-append time.
        let hit = header.max_timestamp >= target_ms;
        return Some(hit.then_some((header.base_offset, header.max_timestamp)));
    }
    let mut rest = batch.get(BATCH_HEADER_LEN..)?;
    for _ in 0..header.records_count {
        let (length, n) = read_varint(rest)?;
        let record = rest.get(n..n + usize::try_from(length).ok()?)?;
        rest = &rest[n + length as usize..];
        // Record: attributes (int8), timestampDelta (varlong), offsetDelta (varint), ...
        let (timestamp_delta, m) = read_varint(record.get(1..)?)?;
        let (offset_delta, _) = read_varint(record.get(1 + m..)?)?;
        let timestamp = header.base_timestamp.saturating_add(timestamp_delta);
        if timestamp >= target_ms {
            return Some(Some((header.base_offset.saturating_add(offset_delta), timestamp)));
        }
    }
    Some(None)
}

/// One record of a batch (headers aside): what `build` encodes and `decode_records` reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    pub timestamp_delta: i64,
    pub key: Option<Vec<u8>>,
    pub value: Option<Vec<u8>>,
}

/// Decodes the records of an uncompressed batch; `None` if compressed or malformed.
pub fn decode_records(batch: &[u8]) -> Option<Vec<Record>> {
    let header = BatchHeader::parse(batch)?;
    if header.compression() != 0 {
        return None;
    }
    let mut rest = batch.get(BATCH_HEADER_LEN..)?;
    let mut records = Vec::with_capacity(usize::try_from(header.records_count).ok()?.min(4096));
    for _ in 0..header.records_count {
        let (length, n) = read_varint(rest)?;
        let mut record = rest.get(n..n + usize::try_from(length).ok()?)?;
        rest = &rest[n + length as usize..];
        record = record.get(1..)?; // attributes
        let timestamp_delta = take_varint(&mut record)?;
        take_varint(&mut record)?; // offset delta
        let key = take_bytes(&mut record)?;
        let value = take_bytes(&mut record)?;
        records.push(Record { timestamp_delta, key, value });
    }
    Some(records)
}

fn take_varint(buf: &mut &[u8]) -> Option<i64> {
    let (value, n) = read_varint(buf)?;
    *buf = &buf[n..];
    Some(value)
}

fn take_bytes(buf: &mut &[u8]) -> Option<Option<Vec<u8>>> {
    let len = take_varint(buf)?;
    if len < 0 {
        return Some(None);
    }
    let bytes = buf.get(..usize::try_from(len).ok()?)?.to_vec();
    *buf = &buf[bytes.len()..];
    Some(Some(bytes))
}

/// Reads a zig-zag varint (Kafka's varint and varlong share the encoding): (value, bytes used).
fn read_varint(buf: &[u8]) -> Option<(i64, usize)> {
    let mut raw: u64 = 0;
    for (i, byte) in buf.iter().take(10).enumerate() {
        raw |= u64::from(byte & 0x7f) << (7 * i);
        if byte & 0x80 == 0 {
            return Some(((raw >> 1) as i64 ^ -((raw & 1) as i64), i + 1));
        }
    }
    None
}

fn read_i64(buf: &[u8], at: usize) -> i64 {
    i64::from_be_bytes(buf[at..at + 8].try_into().expect("8 bytes"))
}

fn read_i32(buf: &[u8], at: usize) -> i32 {
    i32::from_be_bytes(buf[at..at + 4].try_into().expect("4 bytes"))
}

fn read_i16(buf: &[u8], at: usize) -> i16 {
    i16::from_be_bytes(buf[at..at + 2].try_into().expect("2 bytes"))
}

/// Fuzzing entry point (also replayed over the committed corpus by the test suite): every
/// function that reads a batch from untrusted bytes, on `data`.
pub fn fuzz_one(data: &[u8]) {
    if let Ok(header) = validate(data, u32::MAX) {
        assert_eq!(header.size_bytes(), data.len(), "a valid batch fills its bytes");
        let stamped = with_log_append_time(data, 1);
        assert!(validate(&stamped, u32::MAX).is_ok(), "stamping keeps a batch valid");
    }
    let _ = decode_records(data);
    let _ = first_record_at_or_after(data, 0);
}

/// The producer fields of a batch header, and its transactional and control flags.
#[derive(Debug, Clone, Copy)]
pub struct Producer {
    pub id: i64,
    pub epoch: i16,
    pub base_sequence: i32,
    pub attributes: i16,
}

impl Producer {
    /// A batch from no producer (non-idempotent).
    pub const NONE: Producer = Producer { id: -1, epoch: -1, base_sequence: -1, attributes: 0 };

    /// A batch of a transaction.
    pub fn transactional(id: i64, epoch: i16, base_sequence: i32) -> Producer {
        Producer { id, epoch, base_sequence, attributes: TRANSACTIONAL_FLAG }
    }
}

/// Encodes an uncompressed v2 batch with base offset 0 and a correct CRC.
fn encode(base_timestamp: i64, records: &[Record], producer: Producer) -> Bytes {
    let mut body = Vec::new();
    for (i, record) in records.iter().enumerate() {
        let mut r = vec![0u8]; // attributes
        put_varint(&mut r, record.timestamp_delta);
        put_varint(&mut r, i as i64);
        put_varint_bytes(&mut r, record.key.as_deref());
        put_varint_bytes(&mut r, record.value.as_deref());
        put_varint(&mut r, 0); // no headers
        put_varint(&mut body, r.len() as i64);
        body.extend_from_slice(&r);
    }
    let max_delta = records.iter().map(|r| r.timestamp_delta).max().unwrap_or(0);
    let mut out = Vec::with_capacity(BATCH_HEADER_LEN + body.len());
    out.extend_from_slice(&0i64.to_be_bytes());
    out.extend_from_slice(&((BATCH_HEADER_LEN - LOG_OVERHEAD + body.len()) as i32).to_be_bytes());
    out.extend_from_slice(&(-1i32).to_be_bytes()); // partition leader epoch
    out.push(MAGIC_V2 as u8);
    out.extend_from_slice(&0u32.to_be_bytes()); // crc, filled below
    out.extend_from_slice(&producer.attributes.to_be_bytes());
    out.extend_from_slice(&(records.len() as i32 - 1).to_be_bytes());
    out.extend_from_slice(&base_timestamp.to_be_bytes());
    out.extend_from_slice(&base_timestamp.saturating_add(max_delta).to_be_bytes());
    out.extend_from_slice(&producer.id.to_be_bytes());
    out.extend_from_slice(&producer.epoch.to_be_bytes());
    out.extend_from_slice(&producer.base_sequence.to_be_bytes());
    out.extend_from_slice(&(records.len() as i32).to_be_bytes());
    out.extend_from_slice(&body);
    let crc = compute_crc(&out);
    out[CRC_POS..CRC_POS + 4].copy_from_slice(&crc.to_be_bytes());
    Bytes::from(out)
}

fn put_varint_bytes(out: &mut Vec<u8>, bytes: Option<&[u8]>) {
    match bytes {
        None => put_varint(out, -1),
        Some(b) => {
            put_varint(out, b.len() as i64);
            out.extend_from_slice(b);
        }
    }
}

fn put_varint(out: &mut Vec<u8>, value: i64) {
    let mut raw = ((value << 1) ^ (value >> 63)) as u64;
    while raw >= 0x80 {
        out.push((raw as u8) | 0x80);
        raw >>= 7;
    }
    out.push(raw as u8);
}

/// Kafka's control record types for the end of a transaction.
const MARKER_ABORT: i16 = 0;
const MARKER_COMMIT: i16 = 1;

/// A transaction marker (Kafka's EndTransactionMarker): a control batch of one record whose
/// key is (version 0, ABORT 0 or COMMIT 1) and whose value is (version 0, coordinator epoch).
pub fn end_txn_marker(
    producer_id: i64,
    producer_epoch: i16,
    commit: bool,
    coordinator_epoch: i32,
    timestamp: i64,
) -> Bytes {
    let mut key = 0i16.to_be_bytes().to_vec();
    key.extend_from_slice(&if commit { MARKER_COMMIT } else { MARKER_ABORT }.to_be_bytes());
    let mut value = 0i16.to_be_bytes().to_vec();
    value.extend_from_slice(&coordinator_epoch.to_be_bytes());
    let record = Record { timestamp_delta: 0, key: Some(key), value: Some(value) };
    let producer = Producer {
        id: producer_id,
        epoch: producer_epoch,
        base_sequence: -1,
        attributes: TRANSACTIONAL_FLAG | CONTROL_FLAG,
    };
    encode(timestamp, &[record], producer)
}

/// Whether a transaction marker commits (`Some(true)`) or aborts (`Some(false)`); `None` for
/// any other batch, or a control record of another type.
pub fn marker_commits(batch: &[u8]) -> Option<bool> {
    let header = BatchHeader::parse(batch)?;
    if !header.is_control() || !header.is_transactional() {
        return None;
    }
    let key = decode_records(batch)?.into_iter().next()?.key?;
    match i16::from_be_bytes(key.get(2..4)?.try_into().ok()?) {
        MARKER_COMMIT => Some(true),
        MARKER_ABORT => Some(false),
        _ => None,
    }
}

/// Building batches for tests and benchmarks: uncompressed v2 batches whose records carry the
/// given keys and values, encoded the way Kafka clients encode them.
pub mod build {
    use super::*;

    pub use super::Record;

    /// Encodes an uncompressed batch with base offset 0 and a correct CRC.
    pub fn batch(base_timestamp: i64, records: &[Record]) -> Bytes {
        encode(base_timestamp, records, Producer::NONE)
    }

    /// The same from a producer (idempotent or transactional).
    pub fn from_producer(base_timestamp: i64, records: &[Record], producer: Producer) -> Bytes {
        encode(base_timestamp, records, producer)
    }

    /// A batch of `count` records with `value_len`-byte values, all stamped `timestamp`.
    pub fn simple(timestamp: i64, count: usize, value_len: usize) -> Bytes {
        let records: Vec<Record> = (0..count)
            .map(|i| Record { timestamp_delta: 0, key: None, value: Some(vec![i as u8; value_len]) })
            .collect();
        batch(timestamp, &records)
    }
}

#[cfg(test)]
mod tests {
    use super::build::{Record, batch, simple};
    use super::*;

    /// Whole batches are yielded with their bytes; a batch cut short ends the walk.
    #[test]
    fn whole_batches_stop_at_a_cut_batch() {
        let (a, b) = (simple(1_000, 2, 5), simple(2_000, 3, 5));
        let joined = [&a[..], &b[..], &a[..a.len() - 1]].concat();
        let walked: Vec<(i32, usize)> =
            whole_batches(&joined).map(|(h, bytes)| (h.records_count, bytes.len())).collect();
        assert_eq!(walked, [(2, a.len()), (3, b.len())]);
        assert_eq!(whole_batches(&[]).count(), 0);
    }

    /// A batch built like a client's passes validation and reports its fields.
    #[test]
    fn valid_batch_parses() {
        let b = simple(1_000, 3, 10);
        let h = validate(&b, 1 << 20).expect("valid");
        assert_eq!(h.records_count, 3);
        assert_eq!(h.last_offset_delta, 2);
        assert_eq!(h.max_timestamp, 1_000);
        assert_eq!(h.size_bytes(), b.len());
    }

    /// Every single-bit flip in the CRC-covered region or the CRC itself is caught.
    #[test]
    fn any_flip_in_covered_bytes_is_rejected() {
        let b = simple(1_000, 2, 5);
        for at in CRC_POS..b.len() {
            let mut bad = b.to_vec();
            bad[at] ^= 0x10;
            assert!(validate(&bad, 1 << 20).is_err(), "flip at {at} accepted");
        }
    }

    /// Size, magic, count and length mismatches get their own errors.
    #[test]
    fn shape_errors() {
        let b = simple(0, 1, 100);
        assert!(matches!(validate(&b, 50), Err(LogError::RecordTooLarge { max: 50, .. })));
        assert!(matches!(validate(&b[..40], 1 << 20), Err(LogError::CorruptMessage { .. })));
        let mut bad = b.to_vec();
        bad[MAGIC_POS] = 1;
        assert!(matches!(validate(&bad, 1 << 20), Err(LogError::CorruptMessage { reason: "magic is not 2" })));
        let mut longer = b.to_vec();
        longer.push(0);
        assert!(validate(&longer, 1 << 20).is_err());
    }

    /// Stamping log-append time keeps the batch valid and sets type bit and max timestamp.
    #[test]
    fn log_append_time_recomputes_crc() {
        let b = simple(5, 2, 3);
        let stamped = with_log_append_time(&b, 99);
        let h = validate(&stamped, 1 << 20).expect("still valid");
        assert!(h.is_log_append_time());
        assert_eq!(h.max_timestamp, 99);
        assert_eq!(h.base_timestamp, 5);
    }

    /// The record walk finds the first record at or after a timestamp.
    #[test]
    fn timestamp_search_in_batch() {
        let records: Vec<Record> =
            [0, 10, 20].iter().map(|&d| Record { timestamp_delta: d, key: Some(b"k".to_vec()), value: None }).collect();
        let b = batch(100, &records);
        assert_eq!(first_record_at_or_after(&b, 105), Some(Some((1, 110))));
        assert_eq!(first_record_at_or_after(&b, 50), Some(Some((0, 100))));
        assert_eq!(first_record_at_or_after(&b, 121), Some(None));
    }

    /// Records decode back to what was encoded, keys and nulls included.
    #[test]
    fn records_round_trip() {
        let records = vec![
            Record { timestamp_delta: 0, key: Some(b"k1".to_vec()), value: Some(b"v1".to_vec()) },
            Record { timestamp_delta: 7, key: None, value: None },
        ];
        let b = batch(1, &records);
        assert_eq!(decode_records(&b), Some(records));
        let mut truncated = b.to_vec();
        truncated.truncate(b.len() - 3);
        assert_eq!(decode_records(&truncated), None);
    }

    /// Regression (found by fuzzing): timestamps and offsets near `i64::MAX` in an untrusted
    /// batch saturate instead of overflowing.
    #[test]
    fn extreme_header_values_do_not_overflow() {
        let records = vec![Record { timestamp_delta: 1_000, key: None, value: None }];
        let mut b = batch(i64::MAX - 10, &records).to_vec();
        b[BASE_OFFSET_POS..BASE_OFFSET_POS + 8].copy_from_slice(&i64::MAX.to_be_bytes());
        assert_eq!(first_record_at_or_after(&b, 0), Some(Some((i64::MAX, i64::MAX))));
        let header = BatchHeader::parse(&b).expect("header");
        assert_eq!(header.next_offset(), i64::MAX);
    }

    /// Varints round-trip across the sign and size range.
    #[test]
    fn varint_round_trip() {
        for v in [0i64, 1, -1, 63, -64, 64, 300, -300, i32::MAX as i64, i64::MIN, i64::MAX] {
            let mut out = Vec::new();
            build_put(&mut out, v);
            assert_eq!(read_varint(&out), Some((v, out.len())));
        }
    }

    fn build_put(out: &mut Vec<u8>, v: i64) {
        let rec = build::Record { timestamp_delta: v, key: None, value: None };
        let b = batch(0, &[rec]);
        // timestampDelta sits after the record length varint and the attributes byte.
        let (_, n) = read_varint(&b[BATCH_HEADER_LEN..]).expect("length");
        let (decoded, m) = read_varint(&b[BATCH_HEADER_LEN + n + 1..]).expect("delta");
        assert_eq!(decoded, v);
        out.extend_from_slice(&b[BATCH_HEADER_LEN + n + 1..BATCH_HEADER_LEN + n + 1 + m]);
    }

    /// A commit marker, byte for byte as Kafka 4.1.1 writes it
    /// (MemoryRecords.withEndTransactionMarker(0, ts, -1, 1000, 3, COMMIT, coordinator epoch 7)).
    #[test]
    fn transaction_markers_are_kafkas() {
        let kafka = "000000000000000000000042ffffffff02ad7938600030000000000000019ad9c297800000019ad9c29780\
                     00000000000003e80003ffffffff000000012000000008000000010c00000000000700";
        let kafka: Vec<u8> =
            (0..kafka.len()).step_by(2).map(|i| u8::from_str_radix(&kafka[i..i + 2], 16).unwrap()).collect();
        let commit = end_txn_marker(1000, 3, true, 7, 1_764_590_000_000);
        assert_eq!(&commit[..], &kafka[..]);
        assert_eq!(marker_commits(&commit), Some(true));
        let abort = end_txn_marker(1000, 3, false, 7, 1_764_590_000_000);
        assert_eq!(marker_commits(&abort), Some(false));
        assert!(validate(&abort, u32::MAX).is_ok());
        let data = build::from_producer(
            0,
            &[Record { timestamp_delta: 0, key: None, value: Some(vec![1]) }],
            Producer::transactional(1000, 3, 0),
        );
        let header = BatchHeader::parse(&data).unwrap();
        assert!(header.is_transactional() && !header.is_control());
        assert_eq!(marker_commits(&data), None);
    }
}
