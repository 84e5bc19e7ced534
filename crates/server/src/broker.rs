//! The broker's state: the metadata (log + state machine) and the partitions it hosts.
//! Topic changes go through the metadata log first and are applied after they are durable.

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::{Arc, Mutex, RwLock};

use brook_log::{Clock, Flusher, Log, LogConfig, LogEnv, LogError, SystemClock};
use brook_metrics::Histogram;
use kafka_protocol::error::ResponseError;
use tracing::{info, warn};
use uuid::Uuid;

use crate::config::BrokerConfig;
use crate::group::{GroupCoordinator, OFFSETS_TOPIC};
use crate::metadata::{MetadataLog, MetadataRecord, MetadataState, PRODUCER_ID_BLOCK, TopicMeta};
use crate::partition::Partition;
use crate::stats::BrokerStats;
use crate::topic_config;

/// A Kafka error code with the message the response carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    pub code: ResponseError,
    pub message: String,
}

impl ApiError {
    pub fn new(code: ResponseError, message: impl Into<String>) -> ApiError {
        ApiError { code, message: message.into() }
    }
}

/// The longest topic name Kafka allows (so that `<topic>-<partition>` fits a file name).
const MAX_TOPIC_NAME_LEN: usize = 249;
/// An upper bound on partitions per CreateTopics/CreatePartitions request, against typos
/// that would create millions of directories.
pub const MAX_PARTITIONS_PER_TOPIC: i32 = 100_000;

pub struct Broker {
    pub config: BrokerConfig,
    pub clock: Arc<dyn Clock>,
    env: LogEnv,
    metadata_log: MetadataLog,
    metadata: RwLock<MetadataState>,
    partitions: RwLock<HashMap<(String, i32), Arc<Partition>>>,
    /// Serializes metadata changes, which await their durable append.
    admin: tokio::sync::Mutex<()>,
    /// Producer ids handed out: (next, end of the reserved block).
    producer_ids: Mutex<(i64, i64)>,
    /// Consumer groups and their committed offsets.
    pub groups: GroupCoordinator,
    /// Request, connection and fsync figures for `/metrics`.
    pub stats: BrokerStats,
    sync_latency: Arc<Histogram>,
    /// Declared last: the flusher thread stops after every log is gone.
    _flusher: Flusher,
}

impl Broker {
    /// Opens the metadata and every partition log found on disk.
    pub async fn open(config: BrokerConfig) -> Result<Arc<Broker>, LogError> {
        let started = std::time::Instant::now();
        let flusher = Flusher::start();
        let env = LogEnv::os(&flusher);
        let (metadata_log, state) = MetadataLog::open(&config.log_dirs[0], env.clone())?;
        let reserved = state.producer_ids_reserved;
        let broker = Broker {
            clock: Arc::new(SystemClock),
            env,
            metadata_log,
            metadata: RwLock::new(state),
            partitions: RwLock::new(HashMap::new()),
            admin: tokio::sync::Mutex::new(()),
            producer_ids: Mutex::new((reserved, reserved)),
            groups: GroupCoordinator::new(config.group.clone()),
            stats: BrokerStats::default(),
            sync_latency: flusher.sync_latency(),
            config,
            _flusher: flusher,
        };
        if broker.metadata.read().expect("metadata lock").cluster_id.is_none() {
            let cluster_id = cluster_id_from(Uuid::new_v4());
            broker.commit(&[MetadataRecord::ClusterCreated { cluster_id }]).await?;
        }
        let topics: Vec<TopicMeta> = broker.metadata.read().expect("metadata lock").topics().cloned().collect();
        broker.open_all(&topics)?;
        let partitions: i32 = topics.iter().map(|t| t.partitions).sum();
        if let Some(offsets) = topics.iter().find(|t| t.name == OFFSETS_TOPIC) {
            let loading = std::time::Instant::now();
            let mut records = 0;
            for index in 0..offsets.partitions {
                records += broker.groups.load(&broker, index)?;
            }
            broker.groups.start_loaded(broker.clock.now_ms());
            let elapsed_ms = loading.elapsed().as_millis() as u64;
            info!(records, groups = broker.groups.list().len(), elapsed_ms, "consumer groups loaded");
        }
        info!(topics = topics.len(), partitions, elapsed_ms = started.elapsed().as_millis() as u64, "logs opened");
        Ok(Arc::new(broker))
    }

    pub fn cluster_id(&self) -> String {
        self.metadata.read().expect("metadata lock").cluster_id.clone().unwrap_or_default()
    }

    /// How long each fdatasync of this broker's logs took.
    pub fn sync_latency(&self) -> &Histogram {
        &self.sync_latency
    }

    /// A snapshot of the metadata state.
    pub fn metadata(&self) -> MetadataState {
        self.metadata.read().expect("metadata lock").clone()
    }

    pub fn topic(&self, name: &str) -> Option<TopicMeta> {
        self.metadata.read().expect("metadata lock").topic(name).cloned()
    }

    pub fn topic_by_id(&self, id: &Uuid) -> Option<TopicMeta> {
        self.metadata.read().expect("metadata lock").topic_by_id(id).cloned()
    }

    pub fn partition(&self, topic: &str, index: i32) -> Option<Arc<Partition>> {
        self.partitions.read().expect("partitions lock").get(&(topic.to_string(), index)).cloned()
    }

    pub fn partitions(&self) -> Vec<Arc<Partition>> {
        self.partitions.read().expect("partitions lock").values().cloned().collect()
    }

    /// Creates a topic (or, with `validate_only`, checks that it could be created).
    pub async fn create_topic(
        &self,
        name: &str,
        partitions: i32,
        replication_factor: i16,
        configs: BTreeMap<String, String>,
        validate_only: bool,
    ) -> Result<TopicMeta, ApiError> {
        validate_topic_name(name)?;
        let partitions = if partitions == -1 { self.config.num_partitions } else { partitions };
        if !(1..=MAX_PARTITIONS_PER_TOPIC).contains(&partitions) {
            let message = format!("Number of partitions must be between 1 and {MAX_PARTITIONS_PER_TOPIC}.");
            return Err(ApiError::new(ResponseError::InvalidPartitions, message));
        }
        let replication_factor =
            if replication_factor == -1 { self.config.default_replication_factor } else { replication_factor };
        if replication_factor < 1 {
            return Err(ApiError::new(
                ResponseError::InvalidReplicationFactor,
                "Replication factor must be larger than 0.",
            ));
        }
        if replication_factor > 1 {
            let message = format!(
                "Unable to replicate the partition {replication_factor} time(s): The target replication factor of \
                 {replication_factor} cannot be reached because only 1 broker(s) are registered."
            );
            return Err(ApiError::new(ResponseError::InvalidReplicationFactor, message));
        }
        topic_config::validate(&configs)?;
        let _admin = self.admin.lock().await;
        if self.topic(name).is_some() {
            return Err(ApiError::new(ResponseError::TopicAlreadyExists, format!("Topic '{name}' already exists.")));
        }
        let topic = TopicMeta { name: name.to_string(), id: Uuid::new_v4(), partitions, configs };
        if validate_only {
            return Ok(topic);
        }
        self.add_topic(&topic).await?;
        info!(topic = name, partitions, "created topic");
        Ok(topic)
    }

    /// Creates `__consumer_offsets` if it does not exist yet (on a group's first use, as
    /// Kafka does): compacted, with the partition count of `offsets.topic.num.partitions`.
    pub async fn ensure_offsets_topic(&self) -> Result<(), ApiError> {
        // Partitions open after the topic is recorded, last one last: once it is there, all are.
        if self.topic(OFFSETS_TOPIC).is_some_and(|t| self.partition(&t.name, t.partitions - 1).is_some()) {
            return Ok(());
        }
        let _admin = self.admin.lock().await;
        if self.topic(OFFSETS_TOPIC).is_some() {
            return Ok(());
        }
        let group = &self.config.group;
        let configs = BTreeMap::from([
            ("cleanup.policy".to_string(), "compact".to_string()),
            ("compression.type".to_string(), "producer".to_string()),
            ("segment.bytes".to_string(), group.offsets_topic_segment_bytes.to_string()),
        ]);
        let topic = TopicMeta {
            name: OFFSETS_TOPIC.into(),
            id: Uuid::new_v4(),
            partitions: group.offsets_topic_partitions,
            configs,
        };
        self.add_topic(&topic).await?;
        info!(partitions = topic.partitions, "created {OFFSETS_TOPIC}");
        Ok(())
    }

    /// Records a new topic in the metadata and opens its partitions (admin lock held).
    async fn add_topic(&self, topic: &TopicMeta) -> Result<(), ApiError> {
        let record = MetadataRecord::TopicCreated {
            name: topic.name.clone(),
            id: topic.id,
            partitions: topic.partitions,
            configs: topic.configs.clone(),
        };
        self.commit(&[record]).await.map_err(storage_error)?;
        self.open_partitions(topic, 0).map_err(storage_error)
    }

    /// Deletes a topic and its data.
    pub async fn delete_topic(&self, id: Uuid) -> Result<TopicMeta, ApiError> {
        let _admin = self.admin.lock().await;
        let topic = self
            .topic_by_id(&id)
            .ok_or_else(|| ApiError::new(ResponseError::UnknownTopicId, "This server does not host this topic ID."))?;
        self.commit(&[MetadataRecord::TopicDeleted { id }]).await.map_err(storage_error)?;
        let removed: Vec<Arc<Partition>> = {
            let mut partitions = self.partitions.write().expect("partitions lock");
            (0..topic.partitions).filter_map(|i| partitions.remove(&(topic.name.clone(), i))).collect()
        };
        for partition in removed {
            let dir = partition.log.dir().to_path_buf();
            drop(partition);
            if let Err(e) = std::fs::remove_dir_all(&dir) {
                warn!(dir = %dir.display(), error = %e, "could not remove a deleted topic's directory");
            }
        }
        info!(topic = topic.name, "deleted topic");
        Ok(topic)
    }

    /// Replaces a topic's overridden configs (AlterConfigs; IncrementalAlterConfigs computes
    /// the new set first) and applies them to its partitions.
    pub async fn set_topic_configs(
        &self,
        name: &str,
        configs: BTreeMap<String, String>,
        validate_only: bool,
    ) -> Result<(), ApiError> {
        topic_config::validate(&configs)?;
        let _admin = self.admin.lock().await;
        let mut topic = self.topic(name).ok_or_else(|| unknown_topic(name))?;
        if validate_only {
            return Ok(());
        }
        self.commit(&[MetadataRecord::TopicConfigsChanged { id: topic.id, configs: configs.clone() }])
            .await
            .map_err(storage_error)?;
        topic.configs = configs;
        let log_config = self.log_config(&topic);
        for index in 0..topic.partitions {
            if let Some(partition) = self.partition(name, index) {
                partition.log.set_config(log_config.clone());
            }
        }
        info!(topic = name, "changed topic configs");
        Ok(())
    }

    /// Grows a topic to `count` partitions (CreatePartitions).
    pub async fn create_partitions(&self, name: &str, count: i32, validate_only: bool) -> Result<(), ApiError> {
        let _admin = self.admin.lock().await;
        let topic = self.topic(name).ok_or_else(|| unknown_topic(name))?;
        if count <= topic.partitions {
            let message = if count == topic.partitions {
                format!("Topic already has {count} partitions.")
            } else {
                format!(
                    "Topic currently has {} partitions, which is higher than the requested {count}.",
                    topic.partitions
                )
            };
            return Err(ApiError::new(ResponseError::InvalidPartitions, message));
        }
        if count > MAX_PARTITIONS_PER_TOPIC {
            let message = format!("Number of partitions must be at most {MAX_PARTITIONS_PER_TOPIC}.");
            return Err(ApiError::new(ResponseError::InvalidPartitions, message));
        }
        if validate_only {
            return Ok(());
        }
        self.commit(&[MetadataRecord::PartitionsCreated { id: topic.id, partitions: count }])
            .await
            .map_err(storage_error)?;
        let grown = TopicMeta { partitions: count, ..topic.clone() };
        self.open_partitions(&grown, topic.partitions).map_err(storage_error)?;
        info!(topic = name, partitions = count, "added partitions");
        Ok(())
    }

    /// Reserves the next producer id, writing a new block reservation when one runs out.
    pub async fn next_producer_id(&self) -> Result<i64, ApiError> {
        {
            let mut ids = self.producer_ids.lock().expect("producer ids lock");
            if ids.0 < ids.1 {
                ids.0 += 1;
                return Ok(ids.0 - 1);
            }
        }
        let _admin = self.admin.lock().await;
        let end = {
            let ids = self.producer_ids.lock().expect("producer ids lock");
            ids.1 + PRODUCER_ID_BLOCK
        };
        self.commit(&[MetadataRecord::ProducerIdsReserved { next: end }]).await.map_err(storage_error)?;
        let mut ids = self.producer_ids.lock().expect("producer ids lock");
        ids.1 = end;
        let id = ids.0;
        ids.0 += 1;
        Ok(id)
    }

    /// Deletes expired segments of every partition.
    pub fn enforce_retention(&self) {
        for partition in self.partitions() {
            if let Err(e) = partition.log.enforce_retention() {
                warn!(topic = partition.topic, partition = partition.index, error = %e, "retention failed");
            }
        }
    }

    /// Compacts the logs of compacted topics whose dirty share reached
    /// `min.cleanable.dirty.ratio` (Kafka's log cleaner).
    pub fn compact_logs(&self) {
        for partition in self.partitions() {
            let config = partition.log.config();
            if !config.cleanup_compact || partition.log.dirty_ratio() < config.min_cleanable_dirty_ratio {
                continue;
            }
            if let Err(e) = partition.log.compact(&crate::records::KafkaRecords) {
                warn!(topic = partition.topic, partition = partition.index, error = %e, "compaction failed");
            }
        }
    }

    /// Syncs and checkpoints every log, so the next start scans nothing.
    pub fn close(&self) {
        for partition in self.partitions() {
            if let Err(e) = partition.log.close() {
                warn!(topic = partition.topic, partition = partition.index, error = %e, "close failed");
            }
        }
        if let Err(e) = self.metadata_log.close() {
            warn!(error = %e, "closing the metadata log failed");
        }
    }

    /// The log settings of a topic: broker defaults with the topic's overrides.
    pub fn log_config(&self, topic: &TopicMeta) -> LogConfig {
        topic_config::apply(&self.config.log, &topic.configs)
    }

    /// Appends records to the metadata log durably, then applies them.
    async fn commit(&self, records: &[MetadataRecord]) -> Result<(), LogError> {
        self.metadata_log.append(records, self.clock.now_ms()).await?;
        let mut state = self.metadata.write().expect("metadata lock");
        for record in records {
            state.apply(record);
        }
        Ok(())
    }

    /// Opens every partition of `topics` at start-up, on a few threads: opening is mostly
    /// waiting on the file system (and, after a crash, on recovery's fdatasyncs).
    fn open_all(&self, topics: &[TopicMeta]) -> Result<(), LogError> {
        let work: Vec<(&TopicMeta, i32)> = topics.iter().flat_map(|t| (0..t.partitions).map(move |i| (t, i))).collect();
        let threads = std::thread::available_parallelism().map_or(2, |n| n.get() * 2).min(16);
        let chunk = work.len().div_ceil(threads).max(1);
        std::thread::scope(|scope| {
            let handles: Vec<_> = work
                .chunks(chunk)
                .map(|part| {
                    scope.spawn(move || part.iter().try_for_each(|(topic, index)| self.open_partition(topic, *index)))
                })
                .collect();
            handles.into_iter().try_for_each(|h| h.join().expect("a log-opening thread panicked"))
        })
    }

    /// Opens (creating if needed) partitions `from..topic.partitions` of `topic`.
    fn open_partitions(&self, topic: &TopicMeta, from: i32) -> Result<(), LogError> {
        (from..topic.partitions).try_for_each(|index| self.open_partition(topic, index))
    }

    fn open_partition(&self, topic: &TopicMeta, index: i32) -> Result<(), LogError> {
        let dir = self.partition_dir(&topic.name, index);
        let log = Log::open(&dir, self.log_config(topic), self.env.clone())?;
        let partition = Partition::new(topic.name.clone(), topic.id, index, log)?;
        self.partitions.write().expect("partitions lock").insert((topic.name.clone(), index), Arc::new(partition));
        Ok(())
    }

    /// `<log dir>/<topic>-<partition>`, in the log dir that already holds it, else spread by
    /// partition over the configured dirs.
    fn partition_dir(&self, topic: &str, index: i32) -> PathBuf {
        let name = format!("{topic}-{index}");
        let dirs = &self.config.log_dirs;
        dirs.iter()
            .map(|d| d.join(&name))
            .find(|p| p.exists())
            .unwrap_or_else(|| dirs[index.unsigned_abs() as usize % dirs.len()].join(&name))
    }
}

/// Kafka's topic name rules.
pub fn validate_topic_name(name: &str) -> Result<(), ApiError> {
    let invalid = |reason: String| Err(ApiError::new(ResponseError::InvalidTopicException, reason));
    if name.is_empty() {
        return invalid("Topic name is illegal, it can't be empty".into());
    }
    if name == "." || name == ".." {
        return invalid("Topic name cannot be \".\" or \"..\"".into());
    }
    if name.len() > MAX_TOPIC_NAME_LEN {
        return invalid(format!(
            "Topic name is illegal, it can't be longer than {MAX_TOPIC_NAME_LEN} characters, topic name: {name}"
        ));
    }
    if !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'_' || b == b'-') {
        return invalid(format!(
            "Topic name \"{name}\" is illegal, it contains a character other than ASCII alphanumerics, '.', '_' and '-'"
        ));
    }
    Ok(())
}

fn unknown_topic(name: &str) -> ApiError {
    ApiError::new(ResponseError::UnknownTopicOrPartition, format!("Topic {name} does not exist."))
}

fn storage_error(e: LogError) -> ApiError {
    ApiError::new(ResponseError::KafkaStorageError, e.to_string())
}

/// Kafka's cluster ids are a UUID in URL-safe base64 without padding (22 characters).
fn cluster_id_from(id: Uuid) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = String::with_capacity(22);
    for chunk in id.as_bytes().chunks(3) {
        let group = chunk.iter().enumerate().fold(0u32, |acc, (i, b)| acc | u32::from(*b) << (16 - 8 * i));
        for i in 0..=chunk.len() {
            out.push(ALPHABET[(group >> (18 - 6 * i) & 0x3f) as usize] as char);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Topic names follow Kafka's rules.
    #[test]
    fn topic_names() {
        assert!(validate_topic_name("orders.v1_eu-west").is_ok());
        for bad in ["", ".", "..", "a b", "caf\u{e9}", &"x".repeat(250)] {
            let err = validate_topic_name(bad).expect_err(bad);
            assert_eq!(err.code, ResponseError::InvalidTopicException, "{bad}");
        }
        assert!(validate_topic_name(&"x".repeat(249)).is_ok());
    }

    /// Cluster ids look like Kafka's: 22 URL-safe base64 characters.
    #[test]
    fn cluster_ids() {
        let id = cluster_id_from(Uuid::from_u128(0));
        assert_eq!(id, "AAAAAAAAAAAAAAAAAAAAAA");
        let id = cluster_id_from(Uuid::new_v4());
        assert_eq!(id.len(), 22);
        assert!(id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'));
    }
}
