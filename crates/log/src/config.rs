//! A partition log's settings. Field names mirror Kafka's topic-level config keys one to one
//! (`segment.bytes` -> `segment_bytes`); defaults are Kafka's, except the flush settings that
//! are Brook's own and say so.

/// Which timestamp a batch carries in the log (Kafka's `message.timestamp.type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TimestampType {
    /// The producer's timestamps, kept as sent.
    #[default]
    CreateTime,
    /// The broker's clock at append, written into each batch.
    LogAppendTime,
}

#[derive(Debug, Clone, PartialEq)]
pub struct LogConfig {
    /// `segment.bytes`: roll to a new segment before one would grow past this (Kafka: 1 GiB).
    pub segment_bytes: u32,
    /// `segment.ms`: roll once a segment's first batch is this old (Kafka: 7 days).
    pub segment_ms: i64,
    /// `retention.ms`: delete inactive segments whose newest timestamp is older (Kafka: 168
    /// hours); -1 keeps them forever.
    pub retention_ms: i64,
    /// `retention.bytes`: delete the oldest inactive segments while the log is larger than this
    /// (Kafka: -1, no limit).
    pub retention_bytes: i64,
    /// Whether `cleanup.policy` includes `delete`: without it, retention.ms and
    /// retention.bytes delete nothing (a compacted topic keeps every key's latest record).
    pub cleanup_delete: bool,
    /// Whether `cleanup.policy` includes `compact`: keep each key's latest record.
    pub cleanup_compact: bool,
    /// `delete.retention.ms`: how long a tombstone survives compaction (Kafka: one day).
    pub delete_retention_ms: i64,
    /// `min.cleanable.dirty.ratio`: compact once this share of the log is new (Kafka: 0.5).
    pub min_cleanable_dirty_ratio: f64,
    /// `max.message.bytes`: the largest batch accepted (Kafka: 1048588).
    pub max_message_bytes: u32,
    /// `index.interval.bytes`: bytes between offset index entries (Kafka: 4096).
    pub index_interval_bytes: u32,
    /// `message.timestamp.type`.
    pub message_timestamp_type: TimestampType,
    /// `message.timestamp.before.max.ms`: on CreateTime topics, refuse batches whose first
    /// timestamp is older than this (Kafka: no limit).
    pub message_timestamp_before_max_ms: i64,
    /// `message.timestamp.after.max.ms`: on CreateTime topics, refuse batches whose newest
    /// timestamp is further ahead of the broker's clock than this (Kafka 4: one hour).
    pub message_timestamp_after_max_ms: i64,
    /// `flush.messages` (broker: `log.flush.interval.messages`): force a sync once this many
    /// records are unsynced (Kafka: off).
    pub flush_messages: u64,
    /// `flush.ms` (broker: `log.flush.interval.ms`): force a sync once the oldest unsynced
    /// write is this old (Kafka: off).
    pub flush_ms: i64,
    /// Brook's `log.flush.on.ack`: when true (the default), the high watermark only covers
    /// fdatasync'd data, so acks=all waits for the sync and readers never see what a power cut
    /// could take back. False is Kafka's behaviour: acknowledge and expose on write, sync later.
    pub flush_on_ack: bool,
    /// Brook's `log.flush.max.delay.ms`: how long an append not asking for durability may wait
    /// before the group commit syncs it (and, with `flush_on_ack`, readers can see it).
    pub flush_max_delay_ms: u64,
    /// `log.flush.offset.checkpoint.interval.ms`: how often the recovery point is saved, which
    /// bounds how much a restart after a crash must rescan (Kafka: 60000).
    pub recovery_checkpoint_interval_ms: i64,
}

impl Default for LogConfig {
    fn default() -> LogConfig {
        LogConfig {
            segment_bytes: 1 << 30,
            segment_ms: 7 * 24 * 60 * 60 * 1000,
            retention_ms: 168 * 60 * 60 * 1000,
            retention_bytes: -1,
            cleanup_delete: true,
            cleanup_compact: false,
            delete_retention_ms: 86_400_000,
            min_cleanable_dirty_ratio: 0.5,
            max_message_bytes: 1_048_588,
            index_interval_bytes: 4096,
            message_timestamp_type: TimestampType::CreateTime,
            message_timestamp_before_max_ms: i64::MAX,
            message_timestamp_after_max_ms: 3_600_000,
            flush_messages: u64::MAX,
            flush_ms: i64::MAX,
            flush_on_ack: true,
            flush_max_delay_ms: 2,
            recovery_checkpoint_interval_ms: 60_000,
        }
    }
}
