//! The log crate's one error type. Each variant names the Kafka error code it maps onto, so
//! the server can answer a failing partition precisely without knowing the log's internals.

use std::io;
use std::path::PathBuf;

/// What went wrong in a log operation.
#[derive(Debug, thiserror::Error)]
pub enum LogError {
    /// A batch failed validation: bad magic, length, CRC or record count. Kafka: CORRUPT_MESSAGE (2).
    #[error("corrupt record batch: {reason}")]
    CorruptMessage { reason: &'static str },

    /// A batch larger than the topic's `max.message.bytes`. Kafka: MESSAGE_TOO_LARGE (10).
    #[error("record batch of {size} bytes exceeds max.message.bytes {max}")]
    RecordTooLarge { size: usize, max: u32 },

    /// A CreateTime batch outside `message.timestamp.before/after.max.ms`. Kafka: INVALID_TIMESTAMP (32).
    #[error("timestamp {timestamp} is out of range: it must lie within [{earliest}, {latest}]")]
    InvalidTimestamp { timestamp: i64, earliest: i64, latest: i64 },

    /// A read, truncation or delete-records outside the log's range. Kafka: OFFSET_OUT_OF_RANGE (1).
    #[error("offset {offset} is outside the log's range [{log_start_offset}, {upper_bound}]")]
    OffsetOutOfRange { offset: i64, log_start_offset: i64, upper_bound: i64 },

    /// The disk failed us; the log refuses further writes until reopened. Kafka: KAFKA_STORAGE_ERROR (56).
    #[error("storage error during {op} on {path}: {source}")]
    Storage { op: &'static str, path: PathBuf, source: io::Error },

    /// A replicated batch does not continue the log (the follower's and leader's logs
    /// disagree). Kafka: UNKNOWN_SERVER_ERROR (-1), as its follower's `append` failure.
    #[error("a replicated batch starts at offset {found}, but the log ends at {expected}")]
    ReplicaOffsetMismatch { expected: i64, found: i64 },

    /// An earlier storage error took this log offline. Kafka: KAFKA_STORAGE_ERROR (56).
    #[error("log {path} is offline after an earlier storage error")]
    Offline { path: PathBuf },
}

impl LogError {
    /// The Kafka protocol error code this error is answered with.
    pub fn kafka_error_code(&self) -> i16 {
        match self {
            LogError::OffsetOutOfRange { .. } => 1,
            LogError::CorruptMessage { .. } => 2,
            LogError::RecordTooLarge { .. } => 10,
            LogError::InvalidTimestamp { .. } => 32,
            LogError::Storage { .. } | LogError::Offline { .. } => 56,
            LogError::ReplicaOffsetMismatch { .. } => -1,
        }
    }

    /// A file the log had looked up was removed or replaced before it was read.
    pub(crate) fn is_file_gone(&self) -> bool {
        matches!(self, LogError::Storage { source, .. } if source.kind() == io::ErrorKind::NotFound)
    }
}

/// Attaches the operation and path to an `io::Error`.
pub(crate) trait IoContext<T> {
    fn ctx(self, op: &'static str, path: &std::path::Path) -> Result<T, LogError>;
}

impl<T> IoContext<T> for io::Result<T> {
    fn ctx(self, op: &'static str, path: &std::path::Path) -> Result<T, LogError> {
        self.map_err(|source| LogError::Storage { op, path: path.to_path_buf(), source })
    }
}
