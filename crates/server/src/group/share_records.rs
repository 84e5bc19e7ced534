//! Share groups' values in `__consumer_offsets`, in Kafka 4.4's formats (the records
//! themselves are kept by `crate::share`). ShareGroupMetadataValue (key type 11): the group
//! epoch and a metadata hash (Brook writes 0). ShareGroupStatePartitionMetadataValue (key
//! type 15): the topics with initialized share-partitions, by id, name and partitions; Brook's
//! initializing and deleting lists are empty, as it initializes and deletes in one step.

use std::collections::{BTreeMap, BTreeSet};

use bytes::BufMut;
use uuid::Uuid;

use super::consumer_records::{put_array, put_len, put_str, put_tags, read, value};
use super::records::BadRecord;

pub fn encode_metadata(epoch: i32) -> Vec<u8> {
    value(|b| {
        b.put_i32(epoch);
        b.put_i64(0);
    })
}

pub fn decode_metadata(bytes: &[u8]) -> Result<i32, BadRecord> {
    read(bytes, |r| {
        let epoch = r.i32()?;
        r.bytes(8)?;
        Ok(epoch)
    })
}

/// `topics`: id -> (name, partitions).
pub fn encode_partitions(topics: &BTreeMap<Uuid, (String, Vec<i32>)>, now_ms: i64) -> Vec<u8> {
    value(|b| {
        put_len(b, 0);
        put_array(b, topics, |b, (id, (name, partitions))| {
            b.put_slice(id.as_bytes());
            put_str(b, name);
            put_array(b, partitions, |b, p| b.put_i32(*p));
            b.put_i64(now_ms);
            put_tags(b);
        });
        put_len(b, 0);
    })
}

/// The partitions of the initializing and initialized topics (an initializing one's state
/// may exist).
pub fn decode_partitions(bytes: &[u8]) -> Result<BTreeSet<(Uuid, i32)>, BadRecord> {
    read(bytes, |r| {
        let mut out = BTreeSet::new();
        for _list in 0..2 {
            r.array(|r| {
                let id = r.uuid()?;
                r.str()?;
                out.extend(r.array(|r| r.i32())?.into_iter().map(|p| (id, p)));
                r.bytes(8)?;
                r.tags()
            })?;
        }
        r.array(|r| {
            r.uuid()?;
            r.str()?;
            r.tags()
        })?;
        Ok(out)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_round_trip() {
        assert_eq!(decode_metadata(&encode_metadata(7)).unwrap(), 7);
        let topics = BTreeMap::from([
            (Uuid::from_u128(1), ("a".to_string(), vec![0, 2])),
            (Uuid::from_u128(2), ("b".to_string(), vec![1])),
        ]);
        let decoded = decode_partitions(&encode_partitions(&topics, 5)).unwrap();
        let expected: BTreeSet<(Uuid, i32)> =
            [(Uuid::from_u128(1), 0), (Uuid::from_u128(1), 2), (Uuid::from_u128(2), 1)].into();
        assert_eq!(decoded, expected);
        assert!(decode_partitions(&[0, 0, 5]).is_err(), "truncated");
    }
}
