//! Record-level work on stored batches, through `kafka-protocol`'s codecs: recompression for a
//! topic's `compression.type`, and the decoding compaction needs (`brook_log::compact` reads
//! keys through `KafkaRecords`, since the log crate links no compression codecs).

use brook_log::batch::{self, BatchHeader};
use brook_log::compact::{KeyedRecord, RecordCodec};
use bytes::{Bytes, BytesMut};
use kafka_protocol::records::{Compression, Record, RecordBatchDecoder, RecordBatchEncoder, RecordEncodeOptions};

/// Every record of a batch, with its offset (compacted batches have gaps).
pub fn decode_all(batch: &[u8]) -> Result<Vec<Record>, String> {
    decode(batch).map(|(_, records)| records)
}

/// The records of one batch (the CRC is checked first, so corrupt bytes are never re-encoded).
fn decode(batch: &[u8]) -> Result<(Compression, Vec<Record>), String> {
    batch::validate(batch, u32::MAX).map_err(|e| e.to_string())?;
    let mut input = Bytes::copy_from_slice(batch);
    let set = RecordBatchDecoder::decode(&mut input).map_err(|e| e.to_string())?;
    Ok((set.compression, set.records))
}

fn encode(records: &[Record], compression: Compression) -> Result<Bytes, String> {
    let mut out = BytesMut::new();
    let options = RecordEncodeOptions { version: 2, compression };
    RecordBatchEncoder::encode(&mut out, records.iter(), &options).map_err(|e| e.to_string())?;
    Ok(out.freeze())
}

/// Rewrites a batch in another codec, keeping records, timestamps, producer id, epoch and
/// sequences, as Kafka does for a topic whose `compression.type` is not `producer`.
pub fn recompress(batch: &[u8], codec: Compression) -> Result<Bytes, String> {
    let (_, records) = decode(batch)?;
    encode(&records, codec)
}

/// Why a record of a produced batch is refused (Kafka's per-record validation, KIP-467).
#[derive(Debug, PartialEq)]
pub enum Fault {
    /// No key, on a compacted topic.
    Keyless,
    /// A CreateTime timestamp outside the topic's bounds; `offset` as the producer numbered it.
    Timestamp { timestamp: i64, offset: i64 },
}

/// Each refused record of a batch, by its index, judged as Kafka's LogValidator does: the key
/// first (when `key_required`), then the timestamp against `bounds` (earliest, latest), where
/// a record without a timestamp (-1) passes. Control batches carry no client records.
pub fn record_faults(
    batch: &[u8],
    key_required: bool,
    bounds: Option<(i64, i64)>,
) -> Result<Vec<(i32, Fault)>, String> {
    let header = BatchHeader::parse(batch).ok_or("no record batch")?;
    if header.is_control() {
        return Ok(Vec::new());
    }
    let out_of = |t: i64| bounds.is_some_and(|(earliest, latest)| t != -1 && (t < earliest || t > latest));
    Ok(decode(batch)?
        .1
        .into_iter()
        .enumerate()
        .filter_map(|(i, r)| {
            let fault = if key_required && r.key.is_none() {
                Fault::Keyless
            } else if out_of(r.timestamp) {
                Fault::Timestamp { timestamp: r.timestamp, offset: r.offset }
            } else {
                return None;
            };
            Some((i as i32, fault))
        })
        .collect())
}

/// Compaction's view of records, decoded with Kafka's codecs.
pub struct KafkaRecords;

impl RecordCodec for KafkaRecords {
    fn records(&self, batch: &[u8]) -> Result<Vec<KeyedRecord>, String> {
        let (_, records) = decode(batch)?;
        Ok(records
            .into_iter()
            .map(|r| KeyedRecord { offset: r.offset, tombstone: r.value.is_none(), timestamp: r.timestamp, key: r.key })
            .collect())
    }

    fn retain(&self, batch: &[u8], keep: &dyn Fn(i64) -> bool) -> Result<Option<Bytes>, String> {
        let (compression, records) = decode(batch)?;
        let mut kept: Vec<Record> = records.into_iter().filter(|r| keep(r.offset)).collect();
        let Some(first) = kept.first().map(|r| r.offset) else { return Ok(None) };
        for r in kept.iter_mut().filter(|r| r.producer_id < 0) {
            // Without a producer the base sequence stays -1; the encoder derives it from the
            // first record's sequence and offset.
            r.sequence = ((r.offset - first) as i32).wrapping_sub(1);
        }
        encode(&kept, compression).map(Some)
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::sync::Arc;

    use brook_log::storage::OsStorage;
    use brook_log::{Durability, Log, LogConfig, LogEnv, ReadBound, SystemClock};
    use kafka_protocol::records::TimestampType;

    use super::*;

    fn record(key: &str, value: Option<&str>) -> Record {
        Record {
            transactional: false,
            control: false,
            partition_leader_epoch: 0,
            producer_id: -1,
            producer_epoch: -1,
            timestamp_type: TimestampType::Creation,
            offset: 0,
            sequence: -1,
            timestamp: 1_700_000_000_000,
            key: Some(Bytes::copy_from_slice(key.as_bytes())),
            value: value.map(|v| Bytes::copy_from_slice(v.as_bytes())),
            headers: Default::default(),
            delete_horizon: false,
        }
    }

    /// Every record in the log from the start: offset -> (key, value).
    fn read_all(log: &Log) -> BTreeMap<i64, (String, Option<String>)> {
        let mut out = BTreeMap::new();
        let mut offset = log.log_start_offset();
        while offset < log.high_watermark() {
            let mut bytes = log.read(offset, 1 << 20, ReadBound::HighWatermark).expect("read");
            if bytes.is_empty() {
                break;
            }
            while !bytes.is_empty() {
                let set = RecordBatchDecoder::decode(&mut bytes).expect("decode");
                for r in set.records {
                    let text = |b: Option<Bytes>| b.map(|b| String::from_utf8(b.to_vec()).expect("utf-8"));
                    offset = offset.max(r.offset + 1);
                    out.insert(r.offset, (text(r.key).expect("key"), text(r.value)));
                }
            }
        }
        out
    }

    /// Compaction keeps the latest record per key at its offset, drops expired tombstones,
    /// works inside compressed batches, and the result survives a reopen.
    #[test]
    fn compaction_keeps_latest_per_key() {
        let dir = tempfile::tempdir().expect("temp dir");
        let config = LogConfig {
            segment_bytes: 400,
            flush_on_ack: false,
            cleanup_compact: true,
            cleanup_delete: false,
            delete_retention_ms: 0,
            ..LogConfig::default()
        };
        let env = || LogEnv::new(Arc::new(OsStorage::default()), Arc::new(SystemClock), None);
        let log = Log::open(dir.path(), config.clone(), env()).expect("open");
        let mut expected: BTreeMap<String, (i64, Option<String>)> = BTreeMap::new();
        let mut offset = 0;
        for round in 0..20 {
            let codec = if round % 2 == 0 { Compression::None } else { Compression::Lz4 };
            let mut records: Vec<Record> = (0..5)
                .map(|k| {
                    let value = format!("v{round}");
                    // The last round deletes k0.
                    let value = if round == 19 && k == 0 { None } else { Some(value) };
                    record(&format!("k{k}"), value.as_deref())
                })
                .collect();
            for (i, r) in records.iter_mut().enumerate() {
                r.offset = i as i64;
                r.sequence = i as i32 - 1; // as a producer without idempotence numbers them
            }
            let appended = log.append(encode(&records, codec).expect("encode"), Durability::Async).expect("append");
            for (i, r) in records.iter().enumerate() {
                let key = String::from_utf8(r.key.clone().expect("key").to_vec()).expect("utf-8");
                let value = r.value.as_ref().map(|v| String::from_utf8(v.to_vec()).expect("utf-8"));
                expected.insert(key, (appended.base_offset + i as i64, value));
            }
            offset = appended.last_offset + 1;
        }
        // A last batch larger than a segment rolls one of its own: everything above is inactive.
        let big = "x".repeat(500);
        let filler = encode(&[record("filler", Some(&big))], Compression::None).expect("encode");
        log.append(filler, Durability::Async).expect("append");
        let before = read_all(&log);
        assert_eq!(before.len() as i64, offset + 1);
        let stats = log.compact(&KafkaRecords, &brook_log::compact::Transactions::NONE).expect("compact");
        assert!(stats.records_removed > 0 && stats.bytes_after < stats.bytes_before, "{stats:?}");
        let check = |after: &BTreeMap<i64, (String, Option<String>)>| {
            for (key, (latest, value)) in &expected {
                let found: Vec<(&i64, &(String, Option<String>))> =
                    after.iter().filter(|(_, (k, _))| k == key).collect();
                if value.is_none() && found.is_empty() {
                    continue; // the expired tombstone is gone
                }
                assert_eq!(found.len(), 1, "{key}: {found:?}");
                assert_eq!(*found[0].0, *latest, "{key} keeps its offset");
                assert_eq!(&found[0].1.1, value);
            }
        };
        check(&read_all(&log));
        log.close().expect("close");
        drop(log);
        let reopened = Log::open(dir.path(), config.clone(), env()).expect("reopen");
        let after = read_all(&reopened);
        check(&after);
        assert!(after.values().any(|(k, _)| k == "filler"));
        // Rebuilt indexes: segments compaction emptied still end where the next one starts.
        drop(reopened);
        for base in (0..100).step_by(15) {
            let path = dir.path().join(format!("{base:020}.timeindex"));
            std::fs::write(path, b"torn").expect("damage the index");
        }
        check(&read_all(&Log::open(dir.path(), config, env()).expect("reopen")));
    }

    /// Transaction markers are control batches, not keyed data: compaction keeps every one
    /// (they close transactions when the producer state is rebuilt), and drops the records
    /// their keys would otherwise shadow only among data.
    #[test]
    fn compaction_keeps_transaction_markers() {
        let dir = tempfile::tempdir().expect("temp dir");
        let config = LogConfig {
            segment_bytes: 300,
            flush_on_ack: false,
            cleanup_compact: true,
            cleanup_delete: false,
            ..LogConfig::default()
        };
        let log =
            Log::open(dir.path(), config, LogEnv::new(Arc::new(OsStorage::default()), Arc::new(SystemClock), None))
                .expect("open");
        let mut markers = Vec::new();
        for round in 0..6 {
            let batch = encode(&[record("k", Some(&format!("v{round}")))], Compression::None).expect("encode");
            log.append(batch, Durability::Async).expect("append");
            let marker = brook_log::batch::end_txn_marker(1, 0, round % 2 == 0, 0, 0);
            markers.push(log.append(marker, Durability::Async).expect("append").base_offset);
        }
        let filler = encode(&[record("filler", Some(&"x".repeat(400)))], Compression::None).expect("encode");
        log.append(filler, Durability::Async).expect("append");
        let stats = log.compact(&KafkaRecords, &brook_log::compact::Transactions::NONE).expect("compact");
        assert!(stats.records_removed > 0, "{stats:?}");
        let mut kept = Vec::new();
        log.scan_batch_headers(i64::MIN, |h, marker| {
            if marker.is_some() {
                kept.push(h.base_offset);
            }
        })
        .expect("scan");
        assert_eq!(kept, markers);
    }

    /// Each record gets at most one fault, the key's before the timestamp's, in a compressed
    /// batch too; records without a timestamp pass.
    #[test]
    fn record_faults_key_first_then_timestamp() {
        let stamped = |(i, (key, timestamp)): (usize, (bool, i64))| Record {
            offset: i as i64,
            sequence: i as i32 - 1,
            timestamp,
            key: key.then(|| Bytes::from_static(b"k")),
            ..record("k", Some("v"))
        };
        let records: Vec<Record> = [(false, 150), (true, 50), (true, -1), (false, 250), (true, 300)]
            .into_iter()
            .enumerate()
            .map(stamped)
            .collect();
        for codec in [Compression::None, Compression::Lz4] {
            let batch = encode(&records, codec).expect("encode");
            let faults = record_faults(&batch, true, Some((100, 200))).expect("decode");
            let late = |timestamp, offset| Fault::Timestamp { timestamp, offset };
            assert_eq!(faults, [(0, Fault::Keyless), (1, late(50, 1)), (3, Fault::Keyless), (4, late(300, 4))]);
            let faults = record_faults(&batch, false, Some((100, 200))).expect("decode");
            assert_eq!(faults, [(1, late(50, 1)), (3, late(250, 3)), (4, late(300, 4))]);
            assert_eq!(record_faults(&batch, false, None).expect("decode"), []);
        }
    }
}
