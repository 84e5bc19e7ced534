//! The records of `__transaction_state`, in Kafka's formats (TransactionLogKey and
//! TransactionLogValue from Kafka's transaction-coordinator message specs), so that the topic
//! reads the same as a Kafka broker's, `kafka-dump-log --transaction-log-decoder` included.
//!
//! Key: int16 record type 0, then the transactional id (int16-length string). Value: int16
//! version, then the fields. Version 0 for a transactions version 1 producer's transaction,
//! version 1 (flexible: compact strings and arrays, and the tagged PreviousProducerId,
//! NextProducerId and ClientTransactionVersion) for a version 2 producer's, as Kafka writes
//! them. A key without a value is a tombstone: the transactional id expired.

use std::collections::{BTreeMap, BTreeSet};

use anyhow::{Context, Result, bail, ensure};
use bytes::{Buf, BufMut, BytesMut};

use crate::state::TxnState;
use crate::transaction::{NO_EPOCH, NO_PRODUCER_ID, TV2, Transaction};

/// The record type of every `__transaction_state` key.
const KEY_TYPE: i16 = 0;

pub fn encode_key(transactional_id: &str) -> BytesMut {
    let mut buf = BytesMut::new();
    buf.put_i16(KEY_TYPE);
    put_str(&mut buf, transactional_id);
    buf
}

pub fn decode_key(key: &[u8]) -> Result<String> {
    let mut r = Reader(key);
    let kind = r.i16()?;
    ensure!(kind == KEY_TYPE, "unknown transaction log key type {kind}");
    r.string(false)
}

/// The value for a transaction's state, with the partitions grouped by topic (none when the
/// state is Empty, as Kafka writes it).
pub fn encode_value(txn: &Transaction) -> BytesMut {
    let flexible = txn.client_version >= TV2;
    let mut buf = BytesMut::new();
    buf.put_i16(i16::from(flexible));
    buf.put_i64(txn.producer_id);
    buf.put_i16(txn.producer_epoch);
    buf.put_i32(txn.timeout_ms);
    buf.put_i8(txn.state.id());
    let topics = if txn.state == TxnState::Empty { None } else { Some(by_topic(&txn.partitions)) };
    match (&topics, flexible) {
        (None, false) => buf.put_i32(-1),
        (None, true) => put_uvarint(&mut buf, 0),
        (Some(t), false) => buf.put_i32(t.len() as i32),
        (Some(t), true) => put_uvarint(&mut buf, t.len() as u32 + 1),
    }
    for (topic, partitions) in topics.into_iter().flatten() {
        if flexible {
            put_uvarint(&mut buf, topic.len() as u32 + 1);
            buf.put_slice(topic.as_bytes());
            put_uvarint(&mut buf, partitions.len() as u32 + 1);
        } else {
            put_str(&mut buf, topic);
            buf.put_i32(partitions.len() as i32);
        }
        partitions.iter().for_each(|p| buf.put_i32(*p));
        if flexible {
            put_uvarint(&mut buf, 0);
        }
    }
    buf.put_i64(txn.last_update_ms);
    buf.put_i64(txn.start_ms);
    if flexible {
        // Tagged fields at their defaults are left out, as Kafka's serialiser does.
        let mut tags: Vec<(u32, Vec<u8>)> = Vec::new();
        if txn.previous_producer_id != NO_PRODUCER_ID {
            tags.push((0, txn.previous_producer_id.to_be_bytes().to_vec()));
        }
        if txn.next_producer_id != NO_PRODUCER_ID {
            tags.push((1, txn.next_producer_id.to_be_bytes().to_vec()));
        }
        tags.push((2, txn.client_version.to_be_bytes().to_vec()));
        put_uvarint(&mut buf, tags.len() as u32);
        for (tag, bytes) in tags {
            put_uvarint(&mut buf, tag);
            put_uvarint(&mut buf, bytes.len() as u32);
            buf.put_slice(&bytes);
        }
    }
    buf
}

fn put_uvarint(buf: &mut BytesMut, mut value: u32) {
    while value >= 0x80 {
        buf.put_u8((value as u8 & 0x7f) | 0x80);
        value >>= 7;
    }
    buf.put_u8(value as u8);
}

fn put_str(buf: &mut BytesMut, s: &str) {
    buf.put_i16(s.len() as i16);
    buf.put_slice(s.as_bytes());
}

fn by_topic(partitions: &BTreeSet<(String, i32)>) -> BTreeMap<&str, Vec<i32>> {
    let mut topics: BTreeMap<&str, Vec<i32>> = BTreeMap::new();
    for (topic, partition) in partitions {
        topics.entry(topic).or_default().push(*partition);
    }
    topics
}

pub fn decode_value(value: &[u8]) -> Result<Transaction> {
    let mut r = Reader(value);
    let version = r.i16()?;
    ensure!((0..=1).contains(&version), "unknown transaction log value version {version}");
    let flexible = version >= 1;
    let producer_id = r.i64()?;
    let producer_epoch = r.i16()?;
    let timeout_ms = r.i32()?;
    let status = r.i8()?;
    let state = TxnState::from_id(status).with_context(|| format!("unknown transaction status {status}"))?;
    let mut partitions = BTreeSet::new();
    for _ in 0..r.array_len(flexible)?.unwrap_or(0) {
        let topic = r.string(flexible)?;
        for _ in 0..r.array_len(flexible)?.context("null partition list")? {
            let partition = r.i32()?;
            // Kafka ignores the partitions of an Empty state.
            if state != TxnState::Empty {
                partitions.insert((topic.clone(), partition));
            }
        }
        if flexible {
            r.tags(|_, _| Ok(()))?;
        }
    }
    let last_update_ms = r.i64()?;
    let start_ms = r.i64()?;
    let mut previous_producer_id = NO_PRODUCER_ID;
    let mut next_producer_id = NO_PRODUCER_ID;
    let mut client_version = 0;
    if flexible {
        r.tags(|tag, mut field| {
            match tag {
                0 => previous_producer_id = field.i64()?,
                1 => next_producer_id = field.i64()?,
                2 => client_version = field.i16()?,
                // NextProducerEpoch (two-phase commit, KIP-939) and later tags: not used.
                _ => {}
            }
            Ok(())
        })?;
    }
    if !r.0.is_empty() {
        bail!("{} bytes after a transaction log value", r.0.len());
    }
    Ok(Transaction {
        producer_id,
        previous_producer_id,
        next_producer_id,
        producer_epoch,
        last_producer_epoch: NO_EPOCH,
        timeout_ms,
        state,
        partitions,
        start_ms,
        last_update_ms,
        client_version,
    })
}

/// Reads Kafka's message encoding, classic or flexible, failing on truncation.
struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8]> {
        ensure!(self.0.len() >= n, "truncated transaction log record");
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        Ok(head)
    }

    fn i8(&mut self) -> Result<i8> {
        Ok(self.take(1)?.get_i8())
    }

    fn i16(&mut self) -> Result<i16> {
        Ok(self.take(2)?.get_i16())
    }

    fn i32(&mut self) -> Result<i32> {
        Ok(self.take(4)?.get_i32())
    }

    fn i64(&mut self) -> Result<i64> {
        Ok(self.take(8)?.get_i64())
    }

    fn uvarint(&mut self) -> Result<u32> {
        let mut value = 0u32;
        for shift in (0..35).step_by(7) {
            let b = self.take(1)?[0];
            value |= u32::from(b & 0x7f) << shift;
            if b < 0x80 {
                return Ok(value);
            }
        }
        bail!("varint longer than five bytes")
    }

    /// An array's length: int32 (-1 null) or, flexible, a varint of length + 1 (0 null).
    fn array_len(&mut self, flexible: bool) -> Result<Option<u32>> {
        Ok(if flexible { self.uvarint()?.checked_sub(1) } else { u32::try_from(self.i32()?).ok() })
    }

    fn string(&mut self, flexible: bool) -> Result<String> {
        let len = if flexible {
            self.uvarint()?.checked_sub(1).context("null string")? as usize
        } else {
            usize::try_from(self.i16()?).ok().context("null string")?
        };
        String::from_utf8(self.take(len)?.to_vec()).context("string is not UTF-8")
    }

    /// Tagged fields: each tag with a reader over its bytes.
    fn tags(&mut self, mut each: impl FnMut(u32, Reader<'a>) -> Result<()>) -> Result<()> {
        for _ in 0..self.uvarint()? {
            let tag = self.uvarint()?;
            let size = self.uvarint()? as usize;
            each(tag, Reader(self.take(size)?))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(s: &str) -> Vec<u8> {
        (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap()).collect()
    }

    fn ongoing() -> Transaction {
        Transaction {
            producer_id: 1000,
            previous_producer_id: NO_PRODUCER_ID,
            next_producer_id: NO_PRODUCER_ID,
            producer_epoch: 3,
            last_producer_epoch: NO_EPOCH,
            timeout_ms: 60_000,
            state: TxnState::Ongoing,
            partitions: [("orders".to_string(), 0), ("orders".to_string(), 2), ("totals".to_string(), 1)].into(),
            start_ms: 1_764_590_000_000,
            last_update_ms: 1_764_590_000_123,
            client_version: 0,
        }
    }

    // Written by Kafka 4.1.1's own TransactionLogKey/TransactionLogValue classes
    // (MessageUtil.toCoordinatorTypePrefixedBytes / toVersionPrefixedBytes) for the same
    // transactions.
    const KAFKA_KEY: &str = "0000000474782d31";
    const KAFKA_V0: &str = "000000000000000003e800030000ea60010000000200066f72646572730000000200000000000000020006\
                            746f74616c7300000001000000010000019ad9c297fb0000019ad9c29780";
    const KAFKA_V1: &str = "000100000000000003e800030000ea600103076f72646572730300000000000000020007746f74616c7302\
                            00000001000000019ad9c297fb0000019ad9c2978002000800000000000003e702020002";
    const KAFKA_EMPTY: &str = "000000000000000003e800000000ea6000ffffffff0000000000000001ffffffffffffffff";

    #[test]
    fn records_are_byte_for_byte_kafkas() {
        assert_eq!(encode_key("tx-1").to_vec(), hex(KAFKA_KEY));
        assert_eq!(decode_key(&hex(KAFKA_KEY)).unwrap(), "tx-1");
        assert_eq!(encode_value(&ongoing()).to_vec(), hex(KAFKA_V0));
        assert_eq!(decode_value(&hex(KAFKA_V0)).unwrap(), ongoing());
        // Version 1 (what Kafka writes for transactions version 2) with PreviousProducerId and
        // ClientTransactionVersion tagged.
        let v2 = Transaction { previous_producer_id: 999, client_version: TV2, ..ongoing() };
        assert_eq!(decode_value(&hex(KAFKA_V1)).unwrap(), v2);
        assert_eq!(encode_value(&v2).to_vec(), hex(KAFKA_V1));
        let rotating = Transaction { next_producer_id: 1001, ..v2 };
        assert_eq!(decode_value(&encode_value(&rotating)).unwrap(), rotating);
        let empty_v2 = Transaction { state: TxnState::Empty, partitions: BTreeSet::new(), ..rotating };
        assert_eq!(decode_value(&encode_value(&empty_v2)).unwrap(), empty_v2);
        let empty = Transaction {
            producer_epoch: 0,
            state: TxnState::Empty,
            partitions: BTreeSet::new(),
            start_ms: -1,
            last_update_ms: 1,
            ..ongoing()
        };
        assert_eq!(encode_value(&empty).to_vec(), hex(KAFKA_EMPTY));
        assert_eq!(decode_value(&hex(KAFKA_EMPTY)).unwrap(), empty);
    }

    #[test]
    fn bad_values_are_errors_not_panics() {
        assert!(decode_key(&hex("0001000174")).is_err(), "an offsets key is not a transaction key");
        let bytes = encode_value(&ongoing());
        for len in 0..bytes.len() {
            assert!(decode_value(&bytes[..len]).is_err(), "truncated at {len}");
        }
        let mut unknown_status = bytes.to_vec();
        unknown_status[16] = 9;
        assert!(decode_value(&unknown_status).is_err());
        for len in 0..hex(KAFKA_V1).len() {
            assert!(decode_value(&hex(KAFKA_V1)[..len]).is_err(), "truncated at {len}");
        }
        let mut unknown_version = bytes.to_vec();
        unknown_version[1] = 2;
        assert!(decode_value(&unknown_version).is_err());
    }
}
