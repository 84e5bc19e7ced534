//! Broker configuration from a Kafka `server.properties` file and `--override key=value`
//! arguments, with Kafka's key names and defaults.
//!
//! Keys fall into four groups: those Brook uses; those a KRaft `server.properties` carries that
//! Brook does not need (accepted with a warning naming them); features Brook does not have yet
//! (start-up stops with an error naming the key); and unknown keys (warned about, as Kafka
//! does). Listener keys, TLS's and SASL's included, are read in `listeners`.
//!
//! The cluster keys are KRaft's: `process.roles`, `node.id`, `controller.quorum.voters`
//! (`id@host:port,...`), `controller.listener.names` and a listener of that name in
//! `listeners`. Without `controller.quorum.voters` a node is a cluster of one: its own quorum
//! of one voter, needing no controller listener.

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use brook_controller::elections::ElectionPolicy;
use brook_log::{LogConfig, TimestampType};
use brook_security::acl::AuthorizerSettings;

use crate::group::GroupConfig;
use crate::read_replica::ReplicaSelector;
use crate::transactions::TxnConfig;

mod listeners;

pub use listeners::{Listener, SecurityProtocol};

/// Why a configuration cannot start a broker.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{key}: {reason}")]
    Invalid { key: String, reason: String },
    #[error("{key}: {feature} is not supported by Brook yet")]
    Unsupported { key: String, feature: &'static str },
    #[error("cannot read {path}: {source}")]
    Read { path: PathBuf, source: std::io::Error },
}

/// The broker's settings.
#[derive(Debug, Clone)]
pub struct BrokerConfig {
    /// The keys the properties file and overrides set (DescribeConfigs tells them from
    /// defaults).
    pub explicit: BTreeSet<String>,
    /// `node.id` (also `broker.id`).
    pub node_id: i32,
    /// `process.roles`: whether this node is a broker, a controller (a quorum voter), or both.
    pub roles: Roles,
    /// Where Kafka clients connect: the listeners in `listeners` that are not controller
    /// listeners, in order. A broker has at least one; a controller-only node none.
    pub listeners: Vec<Listener>,
    /// `inter.broker.listener.name`: the listener other brokers reach this one on (Kafka's
    /// default here: the first listener).
    pub inter_broker_listener: String,
    /// In a cluster whose inter-broker listener has SASL: this broker's own login there
    /// (`sasl.mechanism.inter.broker.protocol`, with `username` and `password` from that
    /// mechanism's `listener.name.<l>.<mechanism>.sasl.jaas.config`).
    pub inter_broker_login: Option<brook_security::sasl::ClientLogin>,
    /// The controller listener (`controller.listener.names`), where the quorum and brokers reach
    /// this node's controller, and its name.
    pub controller_listen: Option<SocketAddr>,
    pub controller_listener_name: String,
    /// `controller.quorum.voters`: each voter's `node.id` and controller `host:port`; empty for
    /// a cluster of one.
    pub quorum_voters: BTreeMap<i32, String>,
    /// `controller.quorum.election.timeout.ms` (Kafka: 1000).
    pub quorum_election_timeout_ms: u64,
    /// Brook's `metadata.log.snapshot.interval.records`: a voter snapshots its metadata image
    /// after this many log entries, and then keeps at most as many behind the snapshot;
    pub metadata_snapshot_interval_records: u64,
    /// or after this many bytes of them (`metadata.log.max.record.bytes.between.snapshots`,
    /// Kafka: 20 MiB), keeping about `metadata.max.retention.bytes` (100 MiB) behind it.
    pub metadata_snapshot_bytes: u64,
    pub metadata_retention_bytes: u64,
    /// `broker.heartbeat.interval.ms` (Kafka: 2000) and `broker.session.timeout.ms` (9000).
    pub broker_heartbeat_interval_ms: u64,
    pub broker_session_timeout_ms: u64,
    /// Brook's `broker.liveness.probe.enable`: the controller probes the listener of a broker
    /// that missed a heartbeat and fences it at once if the connection is refused.
    pub liveness_probe: bool,
    /// `unclean.leader.election.enable` and `leader.imbalance.per.broker.percentage` (the
    /// controller's election policy).
    pub elections: ElectionPolicy,
    /// `auto.leader.rebalance.enable` (Kafka: true) and
    /// `leader.imbalance.check.interval.seconds` (300), in ms.
    pub auto_leader_rebalance: bool,
    pub leader_imbalance_check_interval_ms: u64,
    /// `broker.rack`, for rack-aware replica placement.
    pub rack: Option<String>,
    /// `log.dirs` (or `log.dir`): the first holds the metadata log too.
    pub log_dirs: Vec<PathBuf>,
    /// `replica.alter.log.dirs.io.max.bytes.per.second`: how fast a replica moving between log
    /// dirs is copied (unlimited by default; also a dynamic broker config).
    pub alter_log_dirs_bytes_per_second: u64,
    /// `telemetry.max.bytes`: the largest client metrics push taken (Kafka's 1 MiB).
    pub telemetry_max_bytes: i32,
    /// `delegation.token.secret.key`: the key tokens' HMACs are made with, the same on every
    /// node; without it delegation tokens are off (DELEGATION_TOKEN_AUTH_DISABLED).
    pub delegation_token_key: Option<brook_security::keystore::Password>,
    /// `delegation.token.max.lifetime.ms` (7 days) and `delegation.token.expiry.time.ms`
    /// (1 day), the controller's.
    pub token_lifetimes: brook_security::token::Lifetimes,
    /// `delegation.token.expiry.check.interval.ms` (1 hour).
    pub token_expiry_check_interval_ms: u64,
    /// `num.partitions` for auto-created topics and CreateTopics with -1.
    pub num_partitions: i32,
    /// `default.replication.factor`.
    pub default_replication_factor: i16,
    /// `auto.create.topics.enable`.
    pub auto_create_topics_enable: bool,
    /// `log.retention.check.interval.ms`: how often retention runs.
    pub retention_check_interval_ms: u64,
    /// `log.cleaner.enable` and `log.cleaner.backoff.ms`: whether and how often compacted
    /// topics are checked for cleaning.
    pub cleaner_enable: bool,
    pub cleaner_backoff_ms: u64,
    /// `socket.request.max.bytes`: the largest request frame accepted (Kafka: 100 MiB).
    pub socket_request_max_bytes: u32,
    /// `max.incremental.fetch.session.cache.slots`: how many fetch sessions are kept (0: none).
    pub fetch_session_cache_slots: usize,
    /// `log.max.open.files` (Brook's own): how many log files stay open at once; `None` is
    /// half the process's open-file limit.
    pub max_open_files: Option<usize>,
    /// Defaults for every partition log; topic configs override them.
    pub log: LogConfig,
    /// The group coordinator's `group.*` and `offsets.*` settings.
    pub group: GroupConfig,
    /// The transaction coordinator's `transaction.*` settings.
    pub transaction: TxnConfig,
    pub share: crate::share::ShareConfig,
    /// Partition replication's `replica.*` settings and `min.insync.replicas`.
    pub replica: ReplicaConfig,
    /// The web console, HTTP API and `/metrics` listener (`console.*`).
    pub console: ConsoleConfig,
    /// `authorizer.class.name` set to Kafka's StandardAuthorizer: ACLs are enforced, with
    /// `super.users` and `allow.everyone.if.no.acl.found` (Kafka: false).
    pub authorizer: Option<Arc<AuthorizerSettings>>,
    /// `quota.window.num` (Kafka: 11) samples of `quota.window.size.seconds` (1): the window
    /// over which a client's byte rate is measured against its quota.
    pub quota_window_samples: usize,
    pub quota_window_sample_seconds: u64,
    /// Keys that were accepted but are not used, for the start-up warning.
    pub ignored_keys: Vec<String>,
    /// The broker keys behind group configs that no other field keeps (their bounds and
    /// defaults, `group_config::BROKER_DEFAULTS`), as the configuration sets them.
    pub group_keys: BTreeMap<String, String>,
}

impl Default for BrokerConfig {
    fn default() -> BrokerConfig {
        BrokerConfig {
            explicit: BTreeSet::new(),
            node_id: 1,
            roles: Roles { broker: true, controller: true },
            listeners: vec![Listener::plaintext(
                "PLAINTEXT",
                "127.0.0.1:9092".parse().expect("valid address"),
                "localhost",
            )],
            inter_broker_listener: "PLAINTEXT".into(),
            inter_broker_login: None,
            controller_listen: None,
            controller_listener_name: "CONTROLLER".into(),
            quorum_voters: BTreeMap::new(),
            quorum_election_timeout_ms: 1000,
            metadata_snapshot_interval_records: 10_000,
            metadata_snapshot_bytes: 20 << 20,
            metadata_retention_bytes: 100 << 20,
            broker_heartbeat_interval_ms: 2000,
            broker_session_timeout_ms: 9000,
            liveness_probe: true,
            elections: ElectionPolicy::default(),
            auto_leader_rebalance: true,
            leader_imbalance_check_interval_ms: 300_000,
            rack: None,
            log_dirs: vec![PathBuf::from("./brook-data")],
            // Kafka's default, Long.MAX_VALUE.
            alter_log_dirs_bytes_per_second: i64::MAX as u64,
            telemetry_max_bytes: 1024 * 1024,
            delegation_token_key: None,
            token_lifetimes: brook_security::token::Lifetimes::default(),
            token_expiry_check_interval_ms: 3_600_000,
            num_partitions: 1,
            default_replication_factor: 1,
            auto_create_topics_enable: true,
            retention_check_interval_ms: 300_000,
            socket_request_max_bytes: 104_857_600,
            fetch_session_cache_slots: 1000,
            max_open_files: None,
            cleaner_enable: true,
            cleaner_backoff_ms: 15_000,
            log: LogConfig::default(),
            group: GroupConfig::default(),
            transaction: TxnConfig::default(),
            share: crate::share::ShareConfig::default(),
            replica: ReplicaConfig::default(),
            console: ConsoleConfig::default(),
            authorizer: None,
            quota_window_samples: 11,
            quota_window_sample_seconds: 1,
            ignored_keys: Vec::new(),
            group_keys: BTreeMap::new(),
        }
    }
}

/// Partition replication, with Kafka's keys and defaults.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplicaConfig {
    /// `replica.lag.time.max.ms`: a follower that has not caught up for this long leaves the ISR.
    pub lag_time_max_ms: i64,
    /// `replica.fetch.max.bytes` (per partition) and `replica.fetch.response.max.bytes`.
    pub fetch_max_bytes: i32,
    pub fetch_response_max_bytes: i32,
    /// `replica.fetch.wait.max.ms`: how long a follower's fetch waits at the leader for data.
    pub fetch_wait_max_ms: i32,
    /// `replica.fetch.backoff.ms`: the pause after a failed fetch.
    pub fetch_backoff_ms: u64,
    /// `min.insync.replicas`, the default for topics that do not set it.
    pub min_insync_replicas: i32,
    /// `replica.selector.class`: whether consumers are sent to a follower in their rack.
    pub selector: ReplicaSelector,
}

impl Default for ReplicaConfig {
    fn default() -> ReplicaConfig {
        ReplicaConfig {
            lag_time_max_ms: 30_000,
            fetch_max_bytes: 1_048_576,
            fetch_response_max_bytes: 10_485_760,
            fetch_wait_max_ms: 500,
            fetch_backoff_ms: 1_000,
            min_insync_replicas: 1,
            selector: ReplicaSelector::Leader,
        }
    }
}

/// `process.roles`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Roles {
    pub broker: bool,
    pub controller: bool,
}

/// The HTTP listener that serves the web console, its JSON API and `/metrics`.
#[derive(Debug, Clone, PartialEq)]
pub struct ConsoleConfig {
    /// `console.enabled`: `false` turns the whole HTTP listener off, `/metrics` included.
    pub enabled: bool,
    /// `console.listener`: `host:port` (a resolvable name, or an address; port 0 picks one).
    pub listener: String,
    /// `console.sample.interval.ms`: how often rates and consumer-group lag are sampled for
    /// the console's charts.
    pub sample_interval_ms: u64,
    /// `console.ssl.*` (the Kafka listeners' `ssl.*` keys under `console.`): HTTPS when a
    /// keystore is given.
    pub tls: Option<brook_security::tls::TlsSettings>,
    /// `console.metrics.bearer.token`: `/metrics` answers only requests that carry it
    /// (`Authorization: Bearer <token>`).
    pub metrics_token: Option<brook_security::keystore::Password>,
    /// `console.metrics.listener`: `host:port` of a listener of its own that serves only
    /// `/metrics` (plain HTTP), for a scraper kept apart from the console.
    pub metrics_listener: Option<String>,
    /// `console.session.timeout.ms`: with an authorizer, a console login lasts while used at
    /// least this often.
    pub session_timeout_ms: u64,
}

impl Default for ConsoleConfig {
    fn default() -> ConsoleConfig {
        ConsoleConfig {
            enabled: true,
            listener: "localhost:8080".into(),
            sample_interval_ms: 5_000,
            tls: None,
            metrics_token: None,
            metrics_listener: None,
            session_timeout_ms: 30 * 60 * 1000,
        }
    }
}

/// Keys a KRaft `server.properties` carries that one broker accepts without using.
const ACCEPTED_UNUSED: &[&str] = &[
    "num.network.threads",
    "num.io.threads",
    "socket.send.buffer.bytes",
    "socket.receive.buffer.bytes",
    "num.recovery.threads.per.data.dir",
    "share.coordinator.state.topic.replication.factor",
    "share.coordinator.state.topic.min.isr",
    "zookeeper.connect",
    "zookeeper.connection.timeout.ms",
];

impl BrokerConfig {
    /// Parses a properties file's text, then applies `overrides` (`key=value`) on top.
    pub fn from_properties(text: &str, overrides: &[String]) -> Result<BrokerConfig, ConfigError> {
        let mut props = parse_properties(text);
        for o in overrides {
            let (k, v) = o.split_once('=').ok_or_else(|| ConfigError::Invalid {
                key: o.clone(),
                reason: "an override must look like key=value".into(),
            })?;
            props.insert(k.trim().to_string(), v.trim().to_string());
        }
        BrokerConfig::from_map(&props)
    }

    fn from_map(props: &BTreeMap<String, String>) -> Result<BrokerConfig, ConfigError> {
        let mut c = BrokerConfig { explicit: props.keys().cloned().collect(), ..BrokerConfig::default() };
        let mut retention_ms: Option<i64> = None;
        let mut roll_ms: Option<i64> = None;
        let mut listeners: Option<String> = None;
        let mut advertised: Option<String> = None;
        let mut controller_names = vec!["CONTROLLER".to_string()];
        let mut protocols: BTreeMap<String, String> = BTreeMap::new();
        let mut inter_broker: Option<String> = None;
        let mut bootstrap_controllers: Option<String> = None;
        let mut authorizer = false;
        let mut acl_settings = AuthorizerSettings::default();
        for (key, value) in props {
            let v = value.as_str();
            match key.as_str() {
                "node.id" | "broker.id" => c.node_id = parse(key, v)?,
                "listeners" => listeners = Some(v.to_string()),
                "process.roles" => c.roles = parse_roles(key, v)?,
                "controller.quorum.voters" => c.quorum_voters = parse_voters(key, v)?,
                "controller.quorum.bootstrap.servers" => bootstrap_controllers = Some(v.to_string()),
                "controller.listener.names" => {
                    controller_names = v.split(',').map(|n| n.trim().to_string()).filter(|n| !n.is_empty()).collect()
                }
                "listener.security.protocol.map" => protocols = listeners::parse_protocol_map(key, v)?,
                "inter.broker.listener.name" => inter_broker = Some(v.to_string()),
                "security.inter.broker.protocol" if v != "PLAINTEXT" => {
                    return Err(invalid(key, "name the inter-broker listener with inter.broker.listener.name instead"));
                }
                "controller.quorum.election.timeout.ms" => {
                    c.quorum_election_timeout_ms = positive(key, parse(key, v)?)?
                }
                "metadata.log.snapshot.interval.records" => {
                    c.metadata_snapshot_interval_records = positive(key, parse(key, v)?)?
                }
                "metadata.log.max.record.bytes.between.snapshots" => {
                    c.metadata_snapshot_bytes = positive(key, parse(key, v)?)?
                }
                "metadata.max.retention.bytes" => c.metadata_retention_bytes = positive(key, parse(key, v)?)?,
                "broker.heartbeat.interval.ms" => c.broker_heartbeat_interval_ms = positive(key, parse(key, v)?)?,
                "broker.session.timeout.ms" => c.broker_session_timeout_ms = positive(key, parse(key, v)?)?,
                "unclean.leader.election.enable" => c.elections.unclean = parse(key, v)?,
                "auto.leader.rebalance.enable" => c.auto_leader_rebalance = parse(key, v)?,
                ALTER_LOG_DIRS_RATE => c.alter_log_dirs_bytes_per_second = positive(key, parse(key, v)?)?,
                "telemetry.max.bytes" => c.telemetry_max_bytes = positive(key, parse(key, v)?)?,
                "delegation.token.secret.key" => {
                    c.delegation_token_key =
                        Some(brook_security::keystore::Password(v.to_string())).filter(|p| !p.0.is_empty())
                }
                "delegation.token.max.lifetime.ms" => {
                    c.token_lifetimes.max_lifetime_ms = positive(key, parse(key, v)?)?
                }
                "delegation.token.expiry.time.ms" => c.token_lifetimes.renew_ms = positive(key, parse(key, v)?)?,
                "delegation.token.expiry.check.interval.ms" => {
                    c.token_expiry_check_interval_ms = positive(key, parse(key, v)?)?
                }
                "broker.liveness.probe.enable" => c.liveness_probe = parse(key, v)?,
                "leader.imbalance.check.interval.seconds" => {
                    c.leader_imbalance_check_interval_ms = positive::<u64>(key, parse(key, v)?)?.saturating_mul(1000)
                }
                "leader.imbalance.per.broker.percentage" => {
                    c.elections.imbalance_percentage = parse(key, v)?;
                    if c.elections.imbalance_percentage > 100 {
                        return Err(invalid(key, "must be between 0 and 100"));
                    }
                }
                "replica.lag.time.max.ms" => c.replica.lag_time_max_ms = positive(key, parse(key, v)?)?,
                "replica.fetch.max.bytes" => c.replica.fetch_max_bytes = positive(key, parse(key, v)?)?,
                "replica.fetch.response.max.bytes" => {
                    c.replica.fetch_response_max_bytes = positive(key, parse(key, v)?)?
                }
                "replica.fetch.wait.max.ms" => c.replica.fetch_wait_max_ms = positive(key, parse(key, v)?)?,
                "replica.fetch.backoff.ms" => c.replica.fetch_backoff_ms = positive(key, parse(key, v)?)?,
                "min.insync.replicas" => c.replica.min_insync_replicas = positive(key, parse(key, v)?)?,
                "broker.rack" => c.rack = Some(v.to_string()).filter(|r| !r.is_empty()),
                "replica.selector.class" => {
                    c.replica.selector = ReplicaSelector::from_class(v).map_err(|e| invalid(key, &e))?
                }
                "advertised.listeners" => advertised = Some(v.to_string()),
                "log.dirs" | "log.dir" => {
                    c.log_dirs =
                        v.split(',').map(|d| PathBuf::from(d.trim())).filter(|d| !d.as_os_str().is_empty()).collect();
                    if c.log_dirs.is_empty() {
                        return Err(invalid(key, "needs at least one directory"));
                    }
                }
                "num.partitions" => c.num_partitions = positive(key, parse(key, v)?)?,
                "default.replication.factor" => c.default_replication_factor = parse(key, v)?,
                "auto.create.topics.enable" => c.auto_create_topics_enable = parse_bool(key, v)?,
                "log.retention.check.interval.ms" => c.retention_check_interval_ms = parse(key, v)?,
                "socket.request.max.bytes" => c.socket_request_max_bytes = parse(key, v)?,
                "max.incremental.fetch.session.cache.slots" => c.fetch_session_cache_slots = parse(key, v)?,
                "log.max.open.files" => c.max_open_files = Some(positive(key, parse(key, v)?)?),
                "log.retention.ms" => retention_ms = Some(parse(key, v)?),
                "log.retention.minutes" => {
                    retention_ms = retention_ms.or(Some(parse::<i64>(key, v)?.saturating_mul(60_000)))
                }
                "log.retention.hours" => {
                    retention_ms = retention_ms.or(Some(parse::<i64>(key, v)?.saturating_mul(3_600_000)))
                }
                "log.retention.bytes" => c.log.retention_bytes = parse(key, v)?,
                "log.segment.bytes" => c.log.segment_bytes = parse(key, v)?,
                "log.roll.ms" => roll_ms = Some(parse(key, v)?),
                "log.roll.hours" => roll_ms = roll_ms.or(Some(parse::<i64>(key, v)?.saturating_mul(3_600_000))),
                "message.max.bytes" => c.log.max_message_bytes = parse(key, v)?,
                "log.index.interval.bytes" => c.log.index_interval_bytes = parse(key, v)?,
                "log.message.timestamp.type" => c.log.message_timestamp_type = parse_timestamp_type(key, v)?,
                "log.message.timestamp.before.max.ms" => c.log.message_timestamp_before_max_ms = parse(key, v)?,
                "log.message.timestamp.after.max.ms" => c.log.message_timestamp_after_max_ms = parse(key, v)?,
                "log.flush.interval.messages" => c.log.flush_messages = parse(key, v)?,
                "log.flush.interval.ms" => c.log.flush_ms = parse(key, v)?,
                "log.flush.offset.checkpoint.interval.ms" => c.log.recovery_checkpoint_interval_ms = parse(key, v)?,
                "log.flush.on.ack" => c.log.flush_on_ack = parse_bool(key, v)?,
                "log.flush.max.delay.ms" => c.log.flush_max_delay_ms = parse(key, v)?,
                "log.cleanup.policy" => {
                    c.log.cleanup_delete = parse_cleanup_policy(key, v)?;
                    c.log.cleanup_compact = v.contains("compact");
                }
                "log.cleaner.delete.retention.ms" => c.log.delete_retention_ms = parse(key, v)?,
                "log.cleaner.min.cleanable.ratio" => c.log.min_cleanable_dirty_ratio = parse(key, v)?,
                "log.cleaner.backoff.ms" => c.cleaner_backoff_ms = parse(key, v)?,
                "log.cleaner.enable" => c.cleaner_enable = parse_bool(key, v)?,
                "group.initial.rebalance.delay.ms" => c.group.initial_rebalance_delay_ms = parse(key, v)?,
                "group.min.session.timeout.ms" => c.group.min_session_timeout_ms = parse(key, v)?,
                "group.max.session.timeout.ms" => c.group.max_session_timeout_ms = parse(key, v)?,
                "group.max.size" => c.group.max_size = positive(key, parse::<i32>(key, v)?)? as usize,
                "offsets.topic.num.partitions" => c.group.offsets_topic_partitions = positive(key, parse(key, v)?)?,
                "offsets.topic.replication.factor" => {
                    c.group.offsets_topic_replication_factor = positive(key, parse(key, v)?)?
                }
                "offsets.commit.timeout.ms" => c.group.offsets_commit_timeout_ms = positive(key, parse(key, v)?)?,
                "offsets.topic.segment.bytes" => c.group.offsets_topic_segment_bytes = positive(key, parse(key, v)?)?,
                "group.consumer.session.timeout.ms" => {
                    c.group.consumer_session_timeout_ms = positive(key, parse(key, v)?)?
                }
                "group.consumer.heartbeat.interval.ms" => {
                    c.group.consumer_heartbeat_interval_ms = positive(key, parse(key, v)?)?
                }
                "group.streams.session.timeout.ms" => {
                    c.group.streams_session_timeout_ms = positive(key, parse(key, v)?)?
                }
                "offset.metadata.max.bytes" => c.group.offset_metadata_max_bytes = parse(key, v)?,
                "offsets.retention.minutes" => {
                    c.group.offsets_retention_ms = positive(key, parse::<i64>(key, v)?)?.saturating_mul(60_000)
                }
                "transaction.state.log.num.partitions" => {
                    c.transaction.state_log_partitions = positive(key, parse(key, v)?)?
                }
                "transaction.state.log.replication.factor" => {
                    c.transaction.state_log_replication_factor = positive(key, parse(key, v)?)?
                }
                "transaction.state.log.min.isr" => c.transaction.state_log_min_isr = positive(key, parse(key, v)?)?,
                "transaction.state.log.segment.bytes" => {
                    c.transaction.state_log_segment_bytes = positive(key, parse(key, v)?)?
                }
                "group.share.record.lock.duration.ms" => {
                    c.share.record_lock_duration_ms = positive(key, parse(key, v)?)?
                }
                "group.share.delivery.count.limit" => c.share.delivery_count_limit = positive(key, parse(key, v)?)?,
                "group.share.partition.max.record.locks" => {
                    c.share.partition_max_record_locks = positive::<i32>(key, parse(key, v)?)? as usize
                }
                "group.share.session.timeout.ms" => c.share.session_timeout_ms = positive(key, parse(key, v)?)?,
                "group.share.heartbeat.interval.ms" => c.share.heartbeat_interval_ms = positive(key, parse(key, v)?)?,
                "group.share.max.size" => c.share.max_size = positive::<i32>(key, parse(key, v)?)? as usize,
                "share.coordinator.state.topic.num.partitions" => {
                    c.share.state_topic_partitions = positive(key, parse(key, v)?)?
                }
                "share.coordinator.state.topic.replication.factor" => {
                    c.share.state_topic_replication_factor = positive(key, parse(key, v)?)?
                }
                "share.coordinator.state.topic.min.isr" => c.share.state_topic_min_isr = positive(key, parse(key, v)?)?,
                "share.coordinator.state.topic.segment.bytes" => {
                    c.share.state_topic_segment_bytes = positive(key, parse(key, v)?)?
                }
                "transaction.max.timeout.ms" => c.transaction.max_timeout_ms = positive(key, parse(key, v)?)?,
                "transaction.abort.timed.out.transaction.cleanup.interval.ms" => {
                    c.transaction.abort_timed_out_interval_ms = positive(key, parse(key, v)?)?
                }
                "transactional.id.expiration.ms" => c.transaction.id_expiration_ms = positive(key, parse(key, v)?)?,
                "transaction.remove.expired.transaction.cleanup.interval.ms" => {
                    c.transaction.remove_expired_interval_ms = positive(key, parse(key, v)?)?
                }
                "authorizer.class.name" => authorizer = parse_authorizer(key, v)?,
                "super.users" => {
                    acl_settings.super_users =
                        AuthorizerSettings::parse_super_users(v).map_err(|e| invalid(key, &e.to_string()))?
                }
                "allow.everyone.if.no.acl.found" => acl_settings.allow_if_no_acl = parse_bool(key, v)?,
                "quota.window.num" => c.quota_window_samples = positive::<usize>(key, parse(key, v)?)?.max(2),
                "quota.window.size.seconds" => c.quota_window_sample_seconds = positive(key, parse(key, v)?)?,
                "console.enabled" => c.console.enabled = parse_bool(key, v)?,
                "console.listener" => {
                    let (host, port) = parse_host_port(key, v)?;
                    c.console.listener =
                        if host.contains(':') { format!("[{host}]:{port}") } else { format!("{host}:{port}") };
                }
                "console.sample.interval.ms" => c.console.sample_interval_ms = positive(key, parse(key, v)?)?,
                "console.session.timeout.ms" => c.console.session_timeout_ms = positive(key, parse(key, v)?)?,
                "console.metrics.bearer.token" => {
                    c.console.metrics_token =
                        Some(brook_security::keystore::Password(v.to_string())).filter(|t| !t.0.is_empty())
                }
                "console.metrics.listener" => {
                    let (host, port) = parse_host_port(key, v)?;
                    c.console.metrics_listener =
                        Some(if host.contains(':') { format!("[{host}]:{port}") } else { format!("{host}:{port}") });
                }
                k if k.strip_prefix("console.").is_some_and(|k| listeners::security_key(k).is_some()) => {}
                k if listeners::security_key(k) == Some(true) => {}
                k if listeners::security_key(k) == Some(false) => c.ignored_keys.push(key.clone()),
                k if crate::group_config::is_kept_broker_key(k) => {
                    crate::group_config::check_broker_key(k, v)?;
                    c.group_keys.insert(key.clone(), v.trim().to_string());
                }
                k if ACCEPTED_UNUSED.contains(&k) => c.ignored_keys.push(key.clone()),
                _ => c.ignored_keys.push(key.clone()),
            }
        }
        c.console.tls = listeners::console_tls(props)?;
        c.authorizer = authorizer.then(|| Arc::new(acl_settings));
        if let Some(ms) = retention_ms {
            c.log.retention_ms = if ms < 0 { -1 } else { ms };
        }
        if let Some(ms) = roll_ms {
            c.log.segment_ms = ms;
        }
        c.controller_listener_name = controller_names.first().cloned().unwrap_or_else(|| "CONTROLLER".into());
        if let Some(value) = &listeners {
            let parsed =
                listeners::parse_listeners(value, advertised.as_deref(), &controller_names, &protocols, props)?;
            if parsed.broker.is_empty() && c.roles.broker {
                return Err(invalid("listeners", "a broker needs a listener that is not a controller listener"));
            }
            c.listeners = parsed.broker;
            c.controller_listen = parsed.controller;
        } else if let Some(a) = &advertised {
            let (host, port) = parse_host_port("advertised.listeners", a)?;
            let default = &mut c.listeners[0];
            (default.advertised_host, default.advertised_port) = (host, port);
        }
        c.inter_broker_listener = match inter_broker {
            Some(name) if c.listeners.iter().any(|l| l.name == name) => name,
            Some(name) => {
                return Err(invalid("inter.broker.listener.name", &format!("{name} is not a listener in listeners")));
            }
            None => c.listeners.first().map(|l| l.name.clone()).unwrap_or_default(),
        };
        if c.quorum_voters.is_empty()
            && let Some(servers) = bootstrap_controllers
        {
            // KIP-853's bootstrap servers: one server standing alone is a cluster of one.
            if servers.split(',').filter(|s| !s.trim().is_empty()).count() > 1 {
                return Err(invalid(
                    "controller.quorum.bootstrap.servers",
                    "a dynamic quorum is not supported; list the voters in controller.quorum.voters",
                ));
            }
        }
        c.check_cluster_keys(listeners.is_some() && !c.listeners.is_empty())?;
        if c.calls_other_brokers() {
            c.inter_broker_login = listeners::inter_broker_login(c.inter_broker(), props)?;
        }
        Ok(c)
    }
}

impl BrokerConfig {
    /// Whether this node connects to other brokers (a broker in a cluster of more than itself):
    /// a cluster of one never calls itself, a controller-only node calls no broker.
    pub fn calls_other_brokers(&self) -> bool {
        !self.quorum_voters.is_empty() && self.roles.broker
    }

    /// A voter's controller address in `controller.quorum.voters`, as (host, port).
    pub fn voter_address(&self, id: i32) -> Option<(String, u16)> {
        parse_host_port("controller.quorum.voters", self.quorum_voters.get(&id)?).ok()
    }

    /// The listener other brokers connect to (`inter.broker.listener.name`).
    pub fn inter_broker(&self) -> &Listener {
        self.listener(&self.inter_broker_listener).unwrap_or(&self.listeners[0])
    }

    pub fn listener(&self, name: &str) -> Option<&Listener> {
        self.listeners.iter().find(|l| l.name == name)
    }

    /// A node's roles, voters and listeners must fit together (Kafka's KafkaConfig checks).
    fn check_cluster_keys(&self, broker_listener: bool) -> Result<(), ConfigError> {
        let voters = "controller.quorum.voters";
        let is_voter = self.quorum_voters.contains_key(&self.node_id);
        if !self.roles.controller {
            if self.quorum_voters.is_empty() {
                return Err(invalid(voters, "a broker-only node (process.roles=broker) needs the controllers' voters"));
            }
            if is_voter {
                return Err(invalid(
                    voters,
                    &format!("node.id {} is a voter, but process.roles=broker has no controller", self.node_id),
                ));
            }
            return Ok(());
        }
        if !self.roles.broker && broker_listener {
            return Err(invalid(
                "listeners",
                "a controller-only node (process.roles=controller) listens only on controller.listener.names",
            ));
        }
        if self.quorum_voters.is_empty() {
            if !self.roles.broker {
                return Err(invalid(voters, "a controller-only node (process.roles=controller) needs the voters"));
            }
            return Ok(());
        }
        if !is_voter {
            return Err(invalid(
                voters,
                &format!("node.id {} is a controller but not one of the voters", self.node_id),
            ));
        }
        if self.controller_listen.is_none() {
            return Err(invalid(
                "controller.listener.names",
                "a controller in a quorum of several needs a listener of that name in listeners",
            ));
        }
        Ok(())
    }
}

/// `process.roles`: `broker`, `controller` or both, comma-separated.
/// The class names `authorizer.class.name` takes: Kafka's KRaft authorizer, or none.
const STANDARD_AUTHORIZER: &str = "org.apache.kafka.metadata.authorizer.StandardAuthorizer";

/// Whether `authorizer.class.name` turns ACLs on.
fn parse_authorizer(key: &str, value: &str) -> Result<bool, ConfigError> {
    match value {
        "" => Ok(false),
        STANDARD_AUTHORIZER => Ok(true),
        "kafka.security.authorizer.AclAuthorizer" => Err(invalid(
            key,
            &format!(
                "AclAuthorizer keeps ACLs in ZooKeeper; Brook keeps them in its metadata: use {STANDARD_AUTHORIZER}"
            ),
        )),
        other => Err(invalid(key, &format!("{other} is not an authorizer Brook has; use {STANDARD_AUTHORIZER}"))),
    }
}

fn parse_roles(key: &str, value: &str) -> Result<Roles, ConfigError> {
    let mut roles = Roles { broker: false, controller: false };
    for role in value.split(',').map(str::trim).filter(|r| !r.is_empty()) {
        match role {
            "broker" => roles.broker = true,
            "controller" => roles.controller = true,
            _ => return Err(invalid(key, &format!("unknown role {role:?}: expected broker and/or controller"))),
        }
    }
    if !roles.broker && !roles.controller {
        return Err(invalid(key, "expected broker, controller, or broker,controller"));
    }
    Ok(roles)
}

/// `controller.quorum.voters`: `id@host:port` entries, comma-separated.
fn parse_voters(key: &str, value: &str) -> Result<BTreeMap<i32, String>, ConfigError> {
    let mut voters = BTreeMap::new();
    for entry in value.split(',').map(str::trim).filter(|e| !e.is_empty()) {
        let (id, address) =
            entry.split_once('@').ok_or_else(|| invalid(key, &format!("{entry:?} is not id@host:port")))?;
        let id: i32 = parse(key, id)?;
        let (host, port) = parse_host_port(key, address)?;
        if host.is_empty() || port == 0 {
            return Err(invalid(key, &format!("{entry:?} needs a host and a port")));
        }
        let address = if host.contains(':') { format!("[{host}]:{port}") } else { format!("{host}:{port}") };
        if voters.insert(id, address).is_some() {
            return Err(invalid(key, &format!("node {id} is listed twice")));
        }
    }
    if voters.is_empty() {
        return Err(invalid(key, "lists no voters"));
    }
    Ok(voters)
}

/// Java `.properties` lines: `key=value` or `key: value`, `#` and `!` comments, `\` continues.
fn parse_properties(text: &str) -> BTreeMap<String, String> {
    let mut props = BTreeMap::new();
    let mut pending = String::new();
    for raw in text.lines() {
        let line = raw.trim_start();
        if pending.is_empty() && (line.is_empty() || line.starts_with('#') || line.starts_with('!')) {
            continue;
        }
        if let Some(body) = line.strip_suffix('\\') {
            pending.push_str(body);
            continue;
        }
        pending.push_str(line);
        let entry = std::mem::take(&mut pending);
        let split = entry.find(['=', ':']).unwrap_or(entry.len());
        let key = entry[..split].trim().to_string();
        let value = entry.get(split + 1..).unwrap_or("").trim().to_string();
        if !key.is_empty() {
            props.insert(key, value);
        }
    }
    props
}

fn parse_host_port(key: &str, value: &str) -> Result<(String, u16), ConfigError> {
    let address = value.split(',').next().unwrap_or("").trim();
    let address = address.split_once("://").map_or(address, |(_, a)| a);
    let (host, port) = address.rsplit_once(':').ok_or_else(|| invalid(key, "expected host:port"))?;
    let host = host.trim_start_matches('[').trim_end_matches(']').to_string();
    Ok((host, parse(key, port)?))
}

fn resolve(key: &str, host: &str, port: u16) -> Result<SocketAddr, ConfigError> {
    use std::net::ToSocketAddrs;
    (host, port)
        .to_socket_addrs()
        .map_err(|e| invalid(key, &e.to_string()))?
        .next()
        .ok_or_else(|| invalid(key, "host does not resolve"))
}

fn parse<T: std::str::FromStr>(key: &str, value: &str) -> Result<T, ConfigError> {
    value.trim().parse().map_err(|_| invalid(key, &format!("cannot parse {value:?}")))
}

fn parse_bool(key: &str, value: &str) -> Result<bool, ConfigError> {
    match value.trim().to_ascii_lowercase().as_str() {
        "true" => Ok(true),
        "false" => Ok(false),
        _ => Err(invalid(key, "expected true or false")),
    }
}

/// Parses `CreateTime` / `LogAppendTime`, as Kafka spells them.
pub fn parse_timestamp_type(key: &str, value: &str) -> Result<TimestampType, ConfigError> {
    match value.trim() {
        "CreateTime" => Ok(TimestampType::CreateTime),
        "LogAppendTime" => Ok(TimestampType::LogAppendTime),
        _ => Err(invalid(key, "expected CreateTime or LogAppendTime")),
    }
}

/// The copy rate of replicas moving between log dirs, as Kafka names it.
pub const ALTER_LOG_DIRS_RATE: &str = "replica.alter.log.dirs.io.max.bytes.per.second";

fn positive<T: PartialOrd + From<u8>>(key: &str, value: T) -> Result<T, ConfigError> {
    if value < T::from(1) { Err(invalid(key, "must be at least 1")) } else { Ok(value) }
}

/// Whether a `cleanup.policy` value deletes old segments (`delete`, alone or with `compact`).
pub fn parse_cleanup_policy(key: &str, value: &str) -> Result<bool, ConfigError> {
    let policies: Vec<&str> = value.split(',').map(str::trim).collect();
    if policies.is_empty() || !policies.iter().all(|p| *p == "delete" || *p == "compact") {
        return Err(invalid(key, "expected delete, compact or compact,delete"));
    }
    Ok(policies.contains(&"delete"))
}

fn invalid(key: &str, reason: &str) -> ConfigError {
    ConfigError::Invalid { key: key.to_string(), reason: reason.to_string() }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Kafka's own KRaft sample `server.properties` starts a broker, warning about the
    /// controller keys, with the listener and directories it names.
    #[test]
    fn kafka_kraft_properties() {
        let text = "\
# comment
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@localhost:9093
listeners=PLAINTEXT://:9092,CONTROLLER://:9093
advertised.listeners=PLAINTEXT://localhost:9092
controller.listener.names=CONTROLLER
log.dirs=/tmp/kraft-combined-logs
num.partitions=3
log.retention.hours=168
log.segment.bytes=1073741824
";
        let c = BrokerConfig::from_properties(text, &[]).expect("valid");
        assert_eq!(c.listeners.len(), 1);
        assert_eq!((c.listeners[0].addr.port(), c.listeners[0].advertised_host.as_str()), (9092, "localhost"));
        assert_eq!(c.num_partitions, 3);
        assert_eq!(c.log_dirs, vec![PathBuf::from("/tmp/kraft-combined-logs")]);
        assert_eq!(c.log.retention_ms, 168 * 3_600_000);
        assert_eq!(c.quorum_voters, BTreeMap::from([(1, "localhost:9093".to_string())]));
        assert_eq!(c.controller_listen.map(|a| a.port()), Some(9093));
        assert_eq!((c.listeners[0].name.as_str(), c.inter_broker_listener.as_str()), ("PLAINTEXT", "PLAINTEXT"));
        assert!(c.ignored_keys.is_empty(), "{:?}", c.ignored_keys);
    }

    /// A node of a three-voter quorum, with its listeners named through the protocol map; the
    /// cluster keys' mistakes stop start-up naming the key.
    #[test]
    fn cluster_keys() {
        let text = "\
process.roles=broker,controller
node.id=2
controller.quorum.voters=1@127.0.0.1:9093,2@127.0.0.1:9193,3@127.0.0.1:9293
listeners=INTERNAL://127.0.0.1:9192,CONTROLLER://127.0.0.1:9193
listener.security.protocol.map=INTERNAL:PLAINTEXT,CONTROLLER:PLAINTEXT
controller.listener.names=CONTROLLER
broker.heartbeat.interval.ms=500
broker.session.timeout.ms=3000
broker.rack=eu-1a
";
        let c = BrokerConfig::from_properties(text, &[]).expect("valid");
        assert_eq!((c.node_id, c.inter_broker().name.as_str(), c.inter_broker().addr.port()), (2, "INTERNAL", 9192));
        assert_eq!(c.controller_listen.map(|a| a.port()), Some(9193));
        assert_eq!(c.quorum_voters.len(), 3);
        assert_eq!((c.broker_heartbeat_interval_ms, c.broker_session_timeout_ms), (500, 3000));
        assert_eq!(c.rack.as_deref(), Some("eu-1a"));

        let refuse = |overrides: &[&str], key: &str| {
            let overrides: Vec<String> = overrides.iter().map(|o| o.to_string()).collect();
            let err = BrokerConfig::from_properties(text, &overrides).expect_err(key);
            assert!(err.to_string().starts_with(key), "{err}");
        };
        refuse(&["node.id=7"], "controller.quorum.voters");
        refuse(&["controller.quorum.voters=1@127.0.0.1:9093,1@127.0.0.1:9193"], "controller.quorum.voters");
        refuse(&["controller.quorum.voters=1@127.0.0.1"], "controller.quorum.voters");
        refuse(&["controller.listener.names=OTHER"], "controller.listener.names");
        refuse(&["process.roles=broker"], "controller.quorum.voters");
        refuse(&["process.roles=controller"], "listeners");
        refuse(&["process.roles=leader"], "process.roles");
        refuse(&["listener.security.protocol.map=INTERNAL:SSL,CONTROLLER:PLAINTEXT"], "ssl.keystore.location");
        refuse(&["listener.security.protocol.map=INTERNAL:PLAINTEXT,CONTROLLER:SSL"], "listener.security.protocol.map");
        refuse(&["listener.security.protocol.map=INTERNAL:TLS"], "listener.security.protocol.map");
        // A secured inter-broker listener: the brokers need the CA to check each other, and
        // with SASL their own mechanism and login, one the listener offers.
        let secured = "listeners=INTERNAL://127.0.0.1:9192,CONTROLLER://127.0.0.1:9193,SASL_SSL://127.0.0.1:9194";
        let jaas = r#"listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required username="broker" password="pw";"#;
        let keys = [secured, "ssl.keystore.location=/k.pem", "inter.broker.listener.name=SASL_SSL"];
        let sasl = [&keys[..], &["sasl.enabled.mechanisms=SCRAM-SHA-512"]].concat();
        let trusted = [&sasl[..], &["ssl.truststore.location=/ca.pem"]].concat();
        refuse(&sasl, "ssl.truststore.location");
        refuse(&trusted, "sasl.mechanism.inter.broker.protocol");
        refuse(
            &[&trusted[..], &["sasl.mechanism.inter.broker.protocol=PLAIN"]].concat(),
            "sasl.mechanism.inter.broker.protocol",
        );
        let with_mechanism = [&trusted[..], &["sasl.mechanism.inter.broker.protocol=SCRAM-SHA-512"]].concat();
        refuse(&with_mechanism, "listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config");
        let all: Vec<String> = [&with_mechanism[..], &[jaas]].concat().iter().map(|k| k.to_string()).collect();
        let c = BrokerConfig::from_properties(text, &all).expect("a SASL_SSL inter-broker listener");
        assert_eq!(
            c.inter_broker_login,
            Some(brook_security::sasl::ClientLogin::new("SCRAM-SHA-512", "broker".into(), "pw".into()).unwrap())
        );
        assert!(c.ignored_keys.is_empty(), "{:?}", c.ignored_keys);

        // KRaft's isolated mode: a controller listens only as a controller; a broker-only
        // node is not a voter and needs no controller listener.
        let controller = BrokerConfig::from_properties(
            text,
            &["process.roles=controller".into(), "listeners=CONTROLLER://127.0.0.1:9193".into()],
        )
        .expect("a controller-only node");
        assert!(controller.roles.controller && !controller.roles.broker);
        let broker = BrokerConfig::from_properties(
            text,
            &["process.roles=broker".into(), "node.id=4".into(), "listeners=INTERNAL://127.0.0.1:9492".into()],
        )
        .expect("a broker-only node");
        assert!(broker.roles.broker && !broker.roles.controller);
        assert_eq!(broker.controller_listen, None);
    }

    /// Several listeners, each advertised under its name, TLS keys per listener; mistakes name
    /// their key.
    #[test]
    fn listeners_and_tls_keys() {
        let text = "\
listeners=PLAINTEXT://127.0.0.1:9092,EXTERNAL://0.0.0.0:9094,SSL://127.0.0.1:9093
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,EXTERNAL:SSL,SSL:SSL
advertised.listeners=EXTERNAL://broker.example.com:19094
inter.broker.listener.name=PLAINTEXT
ssl.keystore.location=/etc/brook/server.pem
ssl.truststore.location=/etc/brook/ca.pem
ssl.client.auth=required
listener.name.external.ssl.client.auth=none
listener.name.external.ssl.keystore.location=/etc/brook/external.p12
listener.name.external.ssl.keystore.type=PKCS12
listener.name.external.ssl.keystore.password=secret
ssl.endpoint.identification.algorithm=https
";
        let c = BrokerConfig::from_properties(text, &[]).expect("valid");
        let summary: Vec<_> = c
            .listeners
            .iter()
            .map(|l| (l.name.as_str(), l.protocol, l.advertised_host.as_str(), l.advertised_port))
            .collect();
        assert_eq!(
            summary,
            vec![
                ("PLAINTEXT", SecurityProtocol::Plaintext, "127.0.0.1", 9092),
                ("EXTERNAL", SecurityProtocol::Ssl, "broker.example.com", 19094),
                ("SSL", SecurityProtocol::Ssl, "127.0.0.1", 9093),
            ]
        );
        use brook_security::keystore::{StoreSource, StoreType};
        use brook_security::tls::ClientAuth;
        let external = c.listener("EXTERNAL").and_then(|l| l.tls.as_ref()).expect("TLS settings");
        assert_eq!(external.client_auth, ClientAuth::None);
        assert!(
            matches!(&external.keystore, StoreSource::File { path, store_type: Some(StoreType::Pkcs12), password: Some(_) }
            if path.ends_with("external.p12"))
        );
        let ssl = c.listener("SSL").and_then(|l| l.tls.as_ref()).expect("TLS settings");
        assert_eq!(ssl.client_auth, ClientAuth::Required);
        assert!(
            matches!(&ssl.keystore, StoreSource::File { path, store_type: None, .. } if path.ends_with("server.pem"))
        );
        assert!(!format!("{c:?}").contains("secret"), "passwords stay out of Debug output");
        assert_eq!(c.ignored_keys, vec!["ssl.endpoint.identification.algorithm".to_string()]);

        let refuse = |overrides: &[&str], key: &str| {
            let overrides: Vec<String> = overrides.iter().map(|o| o.to_string()).collect();
            let err = BrokerConfig::from_properties(text, &overrides).expect_err(key);
            assert!(err.to_string().starts_with(key), "{err}");
        };
        refuse(&["advertised.listeners=OTHER://h:1"], "advertised.listeners");
        refuse(&["inter.broker.listener.name=OTHER"], "inter.broker.listener.name");
        refuse(&["listeners=PLAINTEXT://:1,PLAINTEXT://:2"], "listeners");
        refuse(&["ssl.client.auth=sometimes"], "ssl.client.auth");
        refuse(&["ssl.truststore.location="], "ssl.client.auth");
        refuse(&["ssl.enabled.protocols=TLSv1.1"], "ssl.enabled.protocols");
        refuse(&["ssl.principal.mapping.rules=RULE:x"], "ssl.principal.mapping.rules");
        refuse(&["ssl.keystore.certificate.chain=-----BEGIN"], "ssl.keystore.location");
        // The console's HTTPS: the same keys under `console.`.
        assert!(c.console.tls.is_none());
        let console = BrokerConfig::from_properties("console.ssl.keystore.location=/etc/brook/console.pem\n", &[])
            .expect("console TLS");
        assert!(console.console.tls.is_some() && console.ignored_keys.is_empty(), "{:?}", console.ignored_keys);
        let err = BrokerConfig::from_properties(
            "console.ssl.keystore.location=/c.pem\nconsole.ssl.client.auth=always\n",
            &[],
        )
        .expect_err("a bad console key");
        assert!(err.to_string().starts_with("console.ssl.client.auth"), "{err}");
    }

    /// Overrides win over the file; a SASL listener needs mechanisms Brook serves and users.
    #[test]
    fn overrides_and_unsupported() {
        let c = BrokerConfig::from_properties("num.partitions=2\n", &["num.partitions=5".into()]).expect("valid");
        assert_eq!(c.num_partitions, 5);
        let err = BrokerConfig::from_properties("listeners=SSL://:9093\n", &[]).expect_err("TLS without a keystore");
        assert!(err.to_string().starts_with("ssl.keystore.location"), "{err}");
        let sasl = "listeners=SASL_PLAINTEXT://127.0.0.1:9092\n";
        let c = BrokerConfig::from_properties(
            sasl,
            &["sasl.enabled.mechanisms=PLAIN".into(), "sasl.plain.users=a:b".into()],
        )
        .expect("a PLAIN listener");
        assert_eq!(c.listeners[0].sasl.as_ref().map(|s| s.mechanism_names()), Some(vec!["PLAIN"]));
        // SCRAM's users live in the metadata: none need configuring.
        let c = BrokerConfig::from_properties(sasl, &["sasl.enabled.mechanisms=SCRAM-SHA-512,SCRAM-SHA-256".into()])
            .expect("a SCRAM listener");
        assert_eq!(
            c.listeners[0].sasl.as_ref().map(|s| s.mechanism_names()),
            Some(vec!["SCRAM-SHA-512", "SCRAM-SHA-256"])
        );
        for (overrides, key) in [
            (vec![], "sasl.enabled.mechanisms"),
            (vec!["sasl.enabled.mechanisms=GSSAPI"], "sasl.enabled.mechanisms"),
            (vec!["sasl.enabled.mechanisms=PLAIN"], "sasl.plain.users"),
            (vec!["sasl.enabled.mechanisms=PLAIN", "sasl.plain.users=nopassword"], "sasl.plain.users"),
            (vec!["sasl.enabled.mechanisms=PLAIN", "plain.sasl.jaas.config=Other required;"], "plain.sasl.jaas.config"),
        ] {
            let overrides: Vec<String> = overrides.into_iter().map(String::from).collect();
            let err = BrokerConfig::from_properties(sasl, &overrides).expect_err(key);
            assert!(err.to_string().starts_with(key), "{err}");
        }
        let err = BrokerConfig::from_properties("num.partitions=zero\n", &[]).expect_err("bad number");
        assert!(err.to_string().starts_with("num.partitions"), "{err}");
        assert!(BrokerConfig::from_properties("", &["novalue".into()]).is_err());
    }

    /// Properties syntax: colons, continuations, comments.
    #[test]
    fn properties_syntax() {
        let props = parse_properties("a: 1\n! c\nb=x\\\n  y\n\n");
        assert_eq!(props.get("a").map(String::as_str), Some("1"));
        assert_eq!(props.get("b").map(String::as_str), Some("xy"));
        assert_eq!(props.len(), 2);
    }
}
