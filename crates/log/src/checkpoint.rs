//! The partition checkpoint file, `partition.checkpoint`, replaced atomically (write, sync,
//! rename) whenever it changes. It records:
//!
//! - `log_start_offset`, moved by DeleteRecords and retention, so it survives restarts;
//! - the recovery point: an offset and where it lies (segment base offset and byte position)
//!   such that everything before it was fdatasync'd and its indexes saved. Recovery after a
//!   crash trusts the log up to there and scans only what follows, so a restart costs the
//!   unsynced tail, not the log's size. A clean shutdown leaves the recovery point at the end
//!   of the log: that is the clean-shutdown marker, and opening then scans nothing.
//!
//! - the high watermark last known, so a replica that restarts exposes no more than was
//!   committed (before replication, v1 files: the recovery point).
//!
//! Layout, big-endian: magic `BRKCKPT2` (8), log_start_offset i64, recovery_offset i64,
//! recovery_segment i64, recovery_position u64, high_watermark i64, CRC-32C of the preceding
//! 48 bytes (u32). Version 1 (`BRKCKPT1`) lacks the high watermark and is still read.

pub(crate) const FILE_NAME: &str = "partition.checkpoint";
const MAGIC: &[u8; 8] = b"BRKCKPT2";
const MAGIC_V1: &[u8; 8] = b"BRKCKPT1";
const LEN: usize = 52;
const LEN_V1: usize = 44;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Checkpoint {
    pub(crate) log_start_offset: i64,
    pub(crate) recovery_offset: i64,
    pub(crate) recovery_segment: i64,
    pub(crate) recovery_position: u64,
    pub(crate) high_watermark: i64,
}

impl Checkpoint {
    pub(crate) fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(LEN);
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&self.log_start_offset.to_be_bytes());
        out.extend_from_slice(&self.recovery_offset.to_be_bytes());
        out.extend_from_slice(&self.recovery_segment.to_be_bytes());
        out.extend_from_slice(&self.recovery_position.to_be_bytes());
        out.extend_from_slice(&self.high_watermark.to_be_bytes());
        let crc = crc32c::crc32c(&out);
        out.extend_from_slice(&crc.to_be_bytes());
        out
    }

    /// `None` for anything but a whole, intact checkpoint.
    pub(crate) fn decode(bytes: &[u8]) -> Option<Checkpoint> {
        let len = match bytes.get(..8) {
            Some(m) if m == MAGIC => LEN,
            Some(m) if m == MAGIC_V1 => LEN_V1,
            _ => return None,
        };
        if bytes.len() != len {
            return None;
        }
        let crc = u32::from_be_bytes(bytes[len - 4..].try_into().ok()?);
        if crc32c::crc32c(&bytes[..len - 4]) != crc {
            return None;
        }
        let field = |at: usize| i64::from_be_bytes(bytes[at..at + 8].try_into().expect("8 bytes"));
        Some(Checkpoint {
            log_start_offset: field(8),
            recovery_offset: field(16),
            recovery_segment: field(24),
            recovery_position: field(32) as u64,
            high_watermark: if len == LEN { field(40) } else { field(16) },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A checkpoint round-trips, and any damage to it is detected.
    #[test]
    fn round_trip_and_damage() {
        let c = Checkpoint {
            log_start_offset: 5,
            recovery_offset: 100,
            recovery_segment: 50,
            recovery_position: 4242,
            high_watermark: 90,
        };
        let bytes = c.encode();
        assert_eq!(Checkpoint::decode(&bytes), Some(c));
        for at in 0..bytes.len() {
            let mut bad = bytes.clone();
            bad[at] ^= 1;
            assert_eq!(Checkpoint::decode(&bad), None, "flip at {at}");
        }
        assert_eq!(Checkpoint::decode(&bytes[..51]), None);
    }

    /// A version 1 file (before replication) reads with its recovery point as the high
    /// watermark.
    #[test]
    fn reads_version_1() {
        let mut v1 = MAGIC_V1.to_vec();
        for field in [5i64, 100, 50, 4242] {
            v1.extend_from_slice(&field.to_be_bytes());
        }
        v1.extend_from_slice(&crc32c::crc32c(&v1).to_be_bytes());
        let c = Checkpoint::decode(&v1).expect("v1 decodes");
        assert_eq!((c.recovery_offset, c.high_watermark), (100, 100));
    }
}
