//! A running voter of the quorum.
//!
//! The voter set is static, as in KRaft's `controller.quorum.voters`: every voter starts with
//! the same list, and the first start of each initializes Raft with it (openraft accepts the
//! same initial membership from every node). A node whose stored membership names other
//! voters refuses to start rather than join a different quorum.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use brook_log::{LogEnv, LogError};
use openraft::error::{CheckIsLeaderError, ClientWriteError, InitializeError, RaftError};
use openraft::{BasicNode, Config, Raft, ServerState, SnapshotPolicy};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tracing::info;

use crate::log_store::LogStore;
use crate::state_machine::{AppliedBytes, StateMachineStore, StoredSnapshot};
use crate::transport::{self, AppHandler, Contacts, PeerFactory};
use crate::{Command, NodeId, StateMachine, TypeConfig};

/// How a voter runs.
#[derive(Debug, Clone)]
pub struct QuorumConfig {
    pub node_id: NodeId,
    /// Every voter's id and controller address (`host:port`), this node's included.
    pub voters: BTreeMap<NodeId, String>,
    /// The metadata log's directory (`<log dir>/__cluster_metadata-0`, as KRaft names it).
    pub dir: PathBuf,
    /// `controller.quorum.election.timeout.ms`: a follower that hears nothing from a leader
    /// for this long (plus up to a fifth again, at random) starts an election (Kafka: 1000).
    pub election_timeout_ms: u64,
    /// How often a leader heartbeats its followers: a tenth of the election timeout.
    pub heartbeat_interval_ms: u64,
    /// A snapshot is taken after this many entries since the last,
    pub snapshot_every: u64,
    /// or after this many bytes of commands (Kafka's
    /// `metadata.log.max.record.bytes.between.snapshots`), whichever comes first.
    pub snapshot_bytes: u64,
    /// Entries kept behind a snapshot, so a follower slightly behind catches up from the log
    /// rather than from the whole snapshot;
    pub keep_after_snapshot: u64,
    /// and at most about this many bytes of them (Kafka's `metadata.max.retention.bytes`).
    pub keep_bytes_after_snapshot: u64,
}

impl QuorumConfig {
    /// Kafka's timings for a voter with these peers.
    pub fn new(node_id: NodeId, voters: BTreeMap<NodeId, String>, dir: PathBuf) -> QuorumConfig {
        QuorumConfig {
            node_id,
            voters,
            dir,
            election_timeout_ms: 1000,
            heartbeat_interval_ms: 100,
            snapshot_every: 10_000,
            snapshot_bytes: 20 << 20,
            keep_after_snapshot: 1000,
            keep_bytes_after_snapshot: 100 << 20,
        }
    }
}

/// The sizes of at most this many recent entries are remembered to purge by bytes: a bound on
/// memory whatever `keep_after_snapshot` says.
const REMEMBERED_ENTRIES_MAX: usize = 100_000;

#[derive(Debug, thiserror::Error)]
pub enum QuorumError {
    #[error("this node is not the quorum's leader")]
    NotLeader { leader: Option<NodeId> },
    #[error("the quorum stopped: {0}")]
    Stopped(String),
    #[error("node.id {node_id} is not one of controller.quorum.voters ({voters:?})")]
    NotAVoter { node_id: NodeId, voters: Vec<NodeId> },
    #[error(
        "controller.quorum.voters names nodes {configured:?}, but the metadata log in {dir} belongs to a quorum \
         of nodes {stored:?}"
    )]
    VotersChanged { configured: Vec<NodeId>, stored: Vec<NodeId>, dir: String },
    #[error("{0}")]
    Storage(#[from] LogError),
    #[error("{0}")]
    Io(#[from] std::io::Error),
    #[error("invalid quorum settings: {0}")]
    Config(String),
}

/// One voter as the leader sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VoterStatus {
    pub node_id: NodeId,
    /// The index after the last entry known to be on that voter (-1: unknown; only the
    /// leader knows its followers').
    pub log_end: i64,
    /// When the voter last answered the leader (wall-clock ms; -1 unknown).
    pub last_fetch_ms: i64,
    /// When the voter last held everything the leader had (wall-clock ms; -1 unknown).
    pub last_caught_up_ms: i64,
}

/// What `kafka-metadata-quorum --describe --status/--replication` reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QuorumStatus {
    pub node_id: NodeId,
    pub leader: Option<NodeId>,
    /// The Raft term (Kafka's leader epoch of the metadata log).
    pub term: u64,
    /// The index after this node's last entry.
    pub log_end: u64,
    /// The index after the last applied (committed) entry: the metadata log's high watermark.
    pub applied_end: u64,
    /// Each voter, in id order; followers' progress is known only on the leader.
    pub voters: Vec<VoterStatus>,
}

/// What an observer (a broker that is not a voter) needs to catch up from `after`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Catchup {
    /// Committed commands after `after`, with their indexes; `next` is where to ask again.
    Commands { commands: Vec<(u64, Vec<u8>)>, next: u64 },
    /// The log no longer holds what follows `after`: the whole state as of `index` (ask
    /// again from `index`).
    Snapshot { index: u64, data: Vec<u8> },
}

/// How many entries one catch-up answer carries at most.
const CATCHUP_ENTRIES_MAX: u64 = 1000;

/// A running voter.
pub struct Quorum {
    node_id: NodeId,
    raft: Raft<TypeConfig>,
    contacts: Contacts,
    /// When each follower was last seen holding the leader's whole log (wall-clock ms).
    caught_up: Arc<Mutex<BTreeMap<NodeId, i64>>>,
    log: LogStore,
    snapshot: Arc<Mutex<Option<StoredSnapshot>>>,
    stop: watch::Sender<bool>,
    server: std::sync::Mutex<Option<JoinHandle<()>>>,
}

impl Quorum {
    /// Opens the log and snapshot in `config.dir`, restores `state_machine` from them (snapshot,
    /// then the committed tail), and starts serving Raft (and `app` requests) on `listener`.
    /// A quorum of one voter needs no listener.
    pub async fn start(
        config: QuorumConfig,
        env: LogEnv,
        listener: Option<TcpListener>,
        state_machine: Arc<dyn StateMachine>,
        app: Option<AppHandler>,
    ) -> Result<Quorum, QuorumError> {
        let ids: Vec<NodeId> = config.voters.keys().copied().collect();
        if !config.voters.contains_key(&config.node_id) {
            return Err(QuorumError::NotAVoter { node_id: config.node_id, voters: ids });
        }
        let raft_config = Config {
            cluster_name: "brook".into(),
            // openraft waits a leader lease (`election_timeout_max`) plus a random timeout in
            // [min, max) after the last heartbeat before it stands: 0.6 E + [0.4 E, 0.6 E)
            // starts an election E to 1.2 E after the leader went silent, as Kafka's
            // `controller.quorum.election.timeout.ms` says.
            election_timeout_min: config.election_timeout_ms * 2 / 5,
            election_timeout_max: config.election_timeout_ms * 3 / 5,
            heartbeat_interval: config.heartbeat_interval_ms,
            install_snapshot_timeout: 10_000,
            snapshot_policy: SnapshotPolicy::LogsSinceLast(config.snapshot_every),
            max_in_snapshot_log_to_keep: config.keep_after_snapshot,
            ..Config::default()
        };
        let raft_config = Arc::new(raft_config.validate().map_err(|e| QuorumError::Config(e.to_string()))?);
        let storage = env.storage.clone();
        let log_store = LogStore::open(&config.dir, env)?;
        let remembered = usize::try_from(config.keep_after_snapshot).unwrap_or(usize::MAX).min(REMEMBERED_ENTRIES_MAX);
        let applied_bytes = Arc::new(AppliedBytes::new(config.snapshot_bytes, remembered));
        let sm = StateMachineStore::open(&config.dir, storage, state_machine, applied_bytes.clone())?;
        let snapshot = sm.snapshot_handle();
        let contacts = Contacts::default();
        let peers = PeerFactory { addresses: Arc::new(config.voters.clone()), contacts: contacts.clone() };
        let raft = Raft::new(config.node_id, raft_config, peers, log_store.clone(), sm).await.map_err(stopped)?;

        let stored: Vec<NodeId> =
            raft.with_raft_state(|st| st.membership_state.effective().voter_ids().collect()).await.map_err(stopped)?;
        if !stored.is_empty() && stored != ids {
            let _ = raft.shutdown().await;
            log_store.close()?;
            let dir = config.dir.display().to_string();
            return Err(QuorumError::VotersChanged { configured: ids, stored, dir });
        }
        if !raft.is_initialized().await.map_err(stopped)? {
            let members: BTreeMap<NodeId, BasicNode> =
                config.voters.iter().map(|(id, addr)| (*id, BasicNode::new(addr))).collect();
            match raft.initialize(members).await {
                Ok(()) | Err(RaftError::APIError(InitializeError::NotAllowed(_))) => {}
                Err(e) => return Err(QuorumError::Stopped(e.to_string())),
            }
            info!(voters = ?ids, "initialized the metadata quorum");
        }
        if config.voters.len() == 1 {
            // Alone, there is no one to wait for: lead now rather than after a timeout.
            raft.trigger().elect().await.map_err(stopped)?;
        }
        let (stop, stop_rx) = watch::channel(false);
        let caught_up = Arc::new(Mutex::new(BTreeMap::new()));
        tokio::spawn(track_caught_up(raft.metrics(), contacts.clone(), caught_up.clone()));
        tokio::spawn(snapshot_by_bytes(raft.clone(), applied_bytes, config.keep_bytes_after_snapshot, stop_rx.clone()));
        let server = listener.map(|l| tokio::spawn(transport::serve(l, raft.clone(), app, stop_rx)));
        Ok(Quorum {
            node_id: config.node_id,
            raft,
            contacts,
            caught_up,
            log: log_store,
            snapshot,
            stop,
            server: std::sync::Mutex::new(server),
        })
    }

    pub fn node_id(&self) -> NodeId {
        self.node_id
    }

    /// Commits `command` and returns once this node has applied it, with its index. Only the
    /// leader accepts proposals; others answer `NotLeader` naming the leader they know.
    pub async fn propose(&self, command: Vec<u8>) -> Result<u64, QuorumError> {
        match self.raft.client_write(Command(command)).await {
            Ok(response) => Ok(response.log_id.index),
            Err(RaftError::APIError(ClientWriteError::ForwardToLeader(f))) => {
                Err(QuorumError::NotLeader { leader: f.leader_id })
            }
            Err(e) => Err(QuorumError::Stopped(e.to_string())),
        }
    }

    /// On the leader, waits until this node's state machine has applied everything committed
    /// before the call (a linearizable read point); elsewhere, `NotLeader`.
    pub async fn barrier(&self) -> Result<(), QuorumError> {
        match self.raft.ensure_linearizable().await {
            Ok(_) => Ok(()),
            Err(RaftError::APIError(CheckIsLeaderError::ForwardToLeader(f))) => {
                Err(QuorumError::NotLeader { leader: f.leader_id })
            }
            Err(RaftError::APIError(CheckIsLeaderError::QuorumNotEnough(_))) => {
                Err(QuorumError::NotLeader { leader: None })
            }
            Err(e) => Err(QuorumError::Stopped(e.to_string())),
        }
    }

    /// The leader this node knows of.
    pub fn leader(&self) -> Option<NodeId> {
        self.raft.metrics().borrow().current_leader
    }

    /// Whether this node leads the quorum now.
    pub fn is_leader(&self) -> bool {
        self.raft.metrics().borrow().state == ServerState::Leader
    }

    /// Waits until some leader is known, for up to `timeout`.
    pub async fn wait_for_leader(&self, timeout: Duration) -> Option<NodeId> {
        let mut metrics = self.raft.metrics();
        let known = tokio::time::timeout(timeout, metrics.wait_for(|m| m.current_leader.is_some())).await;
        known.ok()?.ok()?.current_leader
    }

    pub fn status(&self) -> QuorumStatus {
        let m = self.raft.metrics().borrow().clone();
        let next = |index: Option<u64>| index.map_or(0, |i| i + 1);
        let replication = m.replication.clone().unwrap_or_default();
        let now = transport::now_ms();
        let contacts = self.contacts.lock().expect("contacts lock").clone();
        let caught_up = self.caught_up.lock().expect("caught-up lock").clone();
        let voters = m
            .membership_config
            .voter_ids()
            .map(|node_id| {
                if node_id == m.id {
                    let log_end = next(m.last_log_index) as i64;
                    let seen = if m.state == ServerState::Leader { now } else { -1 };
                    return VoterStatus { node_id, log_end, last_fetch_ms: seen, last_caught_up_ms: seen };
                }
                let log_end = replication.get(&node_id).map_or(-1, |matched| next(matched.map(|l| l.index)) as i64);
                VoterStatus {
                    node_id,
                    log_end,
                    last_fetch_ms: contacts.get(&node_id).copied().unwrap_or(-1),
                    last_caught_up_ms: caught_up.get(&node_id).copied().unwrap_or(-1),
                }
            })
            .collect();
        QuorumStatus {
            node_id: m.id,
            leader: m.current_leader,
            term: m.current_term,
            log_end: next(m.last_log_index),
            applied_end: next(m.last_applied.map(|l| l.index)),
            voters,
        }
    }

    /// The committed commands after index `after` (up to what this node has applied), or the
    /// snapshot when the log no longer reaches back that far: how observers follow the quorum.
    pub fn read_committed(&self, after: u64) -> Result<Catchup, QuorumError> {
        let applied = self.raft.metrics().borrow().last_applied.map(|l| l.index);
        let Some(applied) = applied else { return Ok(Catchup::Commands { commands: Vec::new(), next: after }) };
        if after + 1 < self.log.start_index() {
            let stored = self.snapshot.lock().expect("snapshot lock").clone();
            if let Some(s) = stored.filter(|s| s.meta.last_log_id.is_some()) {
                let index = s.meta.last_log_id.map_or(0, |l| l.index);
                return Ok(Catchup::Snapshot { index, data: s.data });
            }
        }
        let end = applied.min(after + CATCHUP_ENTRIES_MAX) + 1;
        let entries = self.log.read_entries(after + 1, end).map_err(QuorumError::Stopped)?;
        let next = entries.last().map_or(after, |e| e.log_id.index);
        let commands = entries
            .into_iter()
            .filter_map(|e| match e.payload {
                openraft::EntryPayload::Normal(command) => Some((e.log_id.index, command.0)),
                _ => None,
            })
            .collect();
        Ok(Catchup::Commands { commands, next })
    }

    /// Stops serving, stops Raft, and closes the log so the next start scans nothing.
    pub async fn shutdown(&self) {
        let _ = self.stop.send(true);
        let server = self.server.lock().expect("server lock").take();
        if let Some(server) = server {
            let _ = server.await;
        }
        let _ = self.raft.shutdown().await;
        if let Err(e) = self.log.close() {
            tracing::warn!(error = %e, "closing the metadata log failed");
        }
    }
}

/// Logs leader changes, and while this node leads, notes when each follower holds the
/// leader's whole log: the time of the follower's answer that showed it (Kafka's last
/// caught-up timestamp).
async fn track_caught_up(
    mut metrics: watch::Receiver<openraft::RaftMetrics<NodeId, BasicNode>>,
    contacts: Contacts,
    caught_up: Arc<Mutex<BTreeMap<NodeId, i64>>>,
) {
    let mut leader = None;
    while metrics.changed().await.is_ok() {
        let m = metrics.borrow_and_update().clone();
        if m.current_leader != leader {
            leader = m.current_leader;
            match leader {
                Some(id) => info!(leader = id, term = m.current_term, "the metadata quorum has a leader"),
                None => info!(term = m.current_term, "the metadata quorum has no leader"),
            }
        }
        let Some(replication) = m.replication else { continue };
        let contacts = contacts.lock().expect("contacts lock").clone();
        let mut caught_up = caught_up.lock().expect("caught-up lock");
        for (node, matched) in replication {
            if matched.map(|l| l.index) == m.last_log_index {
                caught_up.insert(node, contacts.get(&node).copied().unwrap_or_else(transport::now_ms));
            }
        }
    }
}

/// Takes a snapshot whenever enough bytes were applied since the last, then purges the log
/// behind it down to `keep_bytes` (openraft keeps entries behind a snapshot by count only).
async fn snapshot_by_bytes(
    raft: Raft<TypeConfig>,
    applied: Arc<AppliedBytes>,
    keep_bytes: u64,
    mut stop: watch::Receiver<bool>,
) {
    loop {
        tokio::select! {
            _ = applied.due.notified() => {}
            _ = stop.changed() => return,
        }
        let mut metrics = raft.metrics();
        let target = metrics.borrow().last_applied.map(|l| l.index);
        if raft.trigger().snapshot().await.is_err() {
            return;
        }
        let built = metrics.wait_for(|m| m.snapshot.map(|l| l.index) >= target);
        let snapshot = tokio::select! {
            built = tokio::time::timeout(Duration::from_secs(300), built) => match built {
                Ok(Ok(m)) => m.snapshot.map_or(0, |l| l.index),
                Ok(Err(_)) => return,
                Err(_) => continue,
            },
            _ = stop.changed() => return,
        };
        if let Some(upto) = applied.purge_point(snapshot, keep_bytes)
            && raft.trigger().purge_log(upto).await.is_err()
        {
            return;
        }
    }
}

fn stopped(e: impl std::fmt::Display) -> QuorumError {
    QuorumError::Stopped(e.to_string())
}
