//! Voters over real TCP on loopback: election, replication, failover, restart from snapshot
//! plus log tail, catching up from a snapshot, and the start-up refusals.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use brook_log::{Flusher, LogEnv};
use brook_quorum::{Catchup, NodeId, Quorum, QuorumConfig, QuorumError, StateMachine};
use tokio::net::TcpListener;

/// A state machine that remembers every command in order, and how often it was restored.
#[derive(Default)]
struct Journal {
    applied: Mutex<Vec<(u64, Vec<u8>)>>,
    restores: Mutex<u32>,
}

impl StateMachine for Journal {
    fn apply(&self, index: u64, command: &[u8]) {
        self.applied.lock().unwrap().push((index, command.to_vec()));
    }
    fn snapshot(&self) -> Vec<u8> {
        serde_json::to_vec(&*self.applied.lock().unwrap()).unwrap()
    }
    fn restore(&self, snapshot: &[u8]) -> Result<(), String> {
        *self.applied.lock().unwrap() = serde_json::from_slice(snapshot).map_err(|e| e.to_string())?;
        *self.restores.lock().unwrap() += 1;
        Ok(())
    }
}

impl Journal {
    fn commands(&self) -> Vec<Vec<u8>> {
        self.applied.lock().unwrap().iter().map(|(_, c)| c.clone()).collect()
    }
}

/// A voter's fixed parts: id, port and directory, so it can be stopped and started again.
struct Node {
    id: NodeId,
    addr: String,
    dir: PathBuf,
    running: Option<(Quorum, Arc<Journal>)>,
}

struct Cluster {
    _tmp: tempfile::TempDir,
    flusher: Flusher,
    voters: BTreeMap<NodeId, String>,
    nodes: Vec<Node>,
    tune: fn(&mut QuorumConfig),
}

impl Cluster {
    async fn start(size: u64, tune: fn(&mut QuorumConfig)) -> Cluster {
        let tmp = tempfile::tempdir().unwrap();
        let mut nodes = Vec::new();
        let mut listeners = Vec::new();
        for id in 1..=size {
            let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
            let addr = listener.local_addr().unwrap().to_string();
            nodes.push(Node { id, addr, dir: tmp.path().join(format!("node-{id}")), running: None });
            listeners.push(listener);
        }
        let voters = nodes.iter().map(|n| (n.id, n.addr.clone())).collect();
        let mut cluster = Cluster { _tmp: tmp, flusher: Flusher::start(), voters, nodes, tune };
        for (i, listener) in listeners.into_iter().enumerate() {
            cluster.start_node(i, Some(listener)).await.unwrap();
        }
        cluster
    }

    fn config(&self, i: usize) -> QuorumConfig {
        let node = &self.nodes[i];
        let mut config = QuorumConfig::new(node.id, self.voters.clone(), node.dir.clone());
        config.election_timeout_ms = 500;
        config.heartbeat_interval_ms = 50;
        (self.tune)(&mut config);
        config
    }

    async fn start_node(&mut self, i: usize, listener: Option<TcpListener>) -> Result<(), QuorumError> {
        let listener = match listener {
            Some(l) => l,
            None => TcpListener::bind(&self.nodes[i].addr).await.unwrap(),
        };
        let journal = Arc::new(Journal::default());
        let config = self.config(i);
        let quorum = Quorum::start(config, LogEnv::os(&self.flusher), Some(listener), journal.clone(), None).await?;
        self.nodes[i].running = Some((quorum, journal));
        Ok(())
    }

    async fn stop_node(&mut self, i: usize) {
        if let Some((quorum, _)) = self.nodes[i].running.take() {
            quorum.shutdown().await;
        }
    }

    fn quorum(&self, i: usize) -> &Quorum {
        &self.nodes[i].running.as_ref().expect("node running").0
    }

    fn journal(&self, i: usize) -> &Journal {
        &self.nodes[i].running.as_ref().expect("node running").1
    }

    /// The index of the node that every running node agrees leads.
    async fn leader(&self) -> usize {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let running: Vec<&Node> = self.nodes.iter().filter(|n| n.running.is_some()).collect();
            let leaders: Vec<Option<NodeId>> = running.iter().map(|n| n.running.as_ref().unwrap().0.leader()).collect();
            if let Some(Some(id)) = leaders.first()
                && leaders.iter().all(|l| *l == Some(*id))
                && let Some(i) = self.nodes.iter().position(|n| n.id == *id && n.running.is_some())
                && self.quorum(i).is_leader()
            {
                return i;
            }
            assert!(Instant::now() < deadline, "no agreed leader: {leaders:?}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Waits until every running node has applied exactly `expected`.
    async fn converge(&self, expected: &[Vec<u8>]) {
        let deadline = Instant::now() + Duration::from_secs(20);
        for (i, node) in self.nodes.iter().enumerate() {
            if node.running.is_none() {
                continue;
            }
            loop {
                let applied = self.journal(i).commands();
                if applied == expected {
                    break;
                }
                assert!(Instant::now() < deadline, "node {} applied {} of {}", node.id, applied.len(), expected.len());
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
    }

    async fn shutdown(mut self) {
        for i in 0..self.nodes.len() {
            self.stop_node(i).await;
        }
    }
}

fn command(i: usize) -> Vec<u8> {
    format!("command-{i}").into_bytes()
}

async fn propose_all(quorum: &Quorum, range: std::ops::Range<usize>, expected: &mut Vec<Vec<u8>>) {
    for i in range {
        quorum.propose(command(i)).await.expect("propose");
        expected.push(command(i));
    }
}

/// Three voters elect one leader; what it commits is applied in the same order on all of them;
/// a follower refuses proposals and names the leader.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_voters_replicate_in_order() {
    let cluster = Cluster::start(3, |_| {}).await;
    let leader = cluster.leader().await;
    let mut expected = Vec::new();
    propose_all(cluster.quorum(leader), 0..50, &mut expected).await;
    cluster.converge(&expected).await;
    let follower = (leader + 1) % 3;
    match cluster.quorum(follower).propose(b"refused".to_vec()).await {
        Err(QuorumError::NotLeader { leader: Some(id) }) => assert_eq!(id, cluster.nodes[leader].id),
        other => panic!("a follower accepted or failed oddly: {other:?}"),
    }
    assert!(cluster.quorum(leader).barrier().await.is_ok());
    assert!(matches!(cluster.quorum(follower).barrier().await, Err(QuorumError::NotLeader { .. })));
    let status = cluster.quorum(leader).status();
    assert_eq!(status.voters.len(), 3);
    assert!(status.voters.iter().all(|v| v.log_end >= expected.len() as i64), "{status:?}");
    cluster.shutdown().await;
}

/// When the leader stops, the other two elect a new one and keep committing; the old leader
/// restarts from its own log and catches up, with every command once and in order.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failover_and_rejoin() {
    let mut cluster = Cluster::start(3, |_| {}).await;
    let first = cluster.leader().await;
    let mut expected = Vec::new();
    propose_all(cluster.quorum(first), 0..20, &mut expected).await;
    cluster.stop_node(first).await;
    let second = cluster.leader().await;
    assert_ne!(second, first);
    propose_all(cluster.quorum(second), 20..40, &mut expected).await;
    cluster.start_node(first, None).await.unwrap();
    cluster.converge(&expected).await;
    let leader = cluster.leader().await;
    propose_all(cluster.quorum(leader), 40..45, &mut expected).await;
    cluster.converge(&expected).await;
    cluster.shutdown().await;
}

/// A voter that was down while the leader snapshotted and purged its log catches up by
/// installing the snapshot, then follows the log again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lagging_voter_catches_up_from_a_snapshot() {
    let mut cluster = Cluster::start(3, |c| {
        c.snapshot_every = 10;
        c.keep_after_snapshot = 0;
    })
    .await;
    let leader = cluster.leader().await;
    let lagging = (leader + 1) % 3;
    cluster.stop_node(lagging).await;
    let mut expected = Vec::new();
    propose_all(cluster.quorum(leader), 0..60, &mut expected).await;
    cluster.start_node(lagging, None).await.unwrap();
    cluster.converge(&expected).await;
    assert!(*cluster.journal(lagging).restores.lock().unwrap() >= 1, "the lagging voter never installed a snapshot");

    // An observer starting from nothing gets the snapshot, then the commands after it: together
    // exactly what the voters applied.
    let observer = Journal::default();
    let mut after = 0;
    loop {
        match cluster.quorum(leader).read_committed(after).expect("read") {
            Catchup::Snapshot { index, data } => {
                observer.restore(&data).expect("restore");
                after = index;
            }
            Catchup::Commands { commands, next } => {
                if commands.is_empty() && next == after {
                    break;
                }
                for (index, command) in commands {
                    observer.apply(index, &command);
                }
                after = next;
            }
        }
    }
    assert_eq!(*observer.restores.lock().unwrap(), 1, "the log was purged: a snapshot first");
    assert_eq!(observer.commands(), expected);
    propose_all(cluster.quorum(leader), 60..70, &mut expected).await;
    cluster.converge(&expected).await;
    cluster.shutdown().await;
}

/// A one-voter quorum restarts with its state rebuilt from its snapshot and the committed
/// tail of its log, before any election.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restart_rebuilds_state_from_snapshot_and_tail() {
    let mut cluster = Cluster::start(1, |c| {
        c.snapshot_every = 16;
        c.keep_after_snapshot = 2;
        // Long enough that a state seen right after start cannot come from a new term.
        c.election_timeout_ms = 3_000;
    })
    .await;
    let mut expected = Vec::new();
    let leader = cluster.leader().await;
    propose_all(cluster.quorum(leader), 0..50, &mut expected).await;
    cluster.stop_node(0).await;
    assert!(cluster.nodes[0].dir.join("snapshot.bin").exists());
    let started = Instant::now();
    cluster.start_node(0, None).await.unwrap();
    cluster.converge(&expected).await;
    assert!(started.elapsed() < Duration::from_millis(2_500), "state came only after an election");
    assert_eq!(*cluster.journal(0).restores.lock().unwrap(), 1);
    let leader = cluster.leader().await;
    propose_all(cluster.quorum(leader), 50..55, &mut expected).await;
    cluster.converge(&expected).await;
    cluster.shutdown().await;
}

/// A log of few, large entries is snapshotted by bytes, not only after many entries, and
/// keeps about `keep_bytes_after_snapshot` behind the snapshot; a restart rebuilds it all.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn large_entries_are_snapshotted_and_purged_by_bytes() {
    let mut cluster = Cluster::start(1, |c| {
        c.snapshot_every = 1_000_000;
        c.snapshot_bytes = 50_000;
        c.keep_bytes_after_snapshot = 20_000;
    })
    .await;
    let leader = cluster.leader().await;
    let mut expected = Vec::new();
    for i in 0..40u8 {
        let command = vec![i; 10_000];
        cluster.quorum(leader).propose(command.clone()).await.expect("propose");
        expected.push(command);
    }
    // The first index the log still holds, once it has moved past the first snapshot.
    let first_held = |quorum: &Quorum| {
        (0..100).find(|&after| matches!(quorum.read_committed(after), Ok(Catchup::Commands { .. }))).unwrap_or(0) + 1
    };
    let deadline = Instant::now() + Duration::from_secs(20);
    let (start, snapshot) = loop {
        let snapshot = match cluster.quorum(leader).read_committed(0).expect("read") {
            Catchup::Snapshot { index, .. } => index,
            Catchup::Commands { .. } => 0,
        };
        let start = first_held(cluster.quorum(leader));
        // 20,000 bytes kept behind the snapshot: two entries of 10,000 and the one that passed
        // it. The snapshot and the purge after it are two steps, so the pair is awaited.
        if snapshot >= 30 && start > 10 && snapshot + 1 - start <= 3 {
            break (start, snapshot);
        }
        assert!(Instant::now() < deadline, "no purge by bytes: snapshot at {snapshot}, log from {start}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert!(start <= snapshot + 1, "the log at {start} lost entries past the snapshot at {snapshot}");
    cluster.stop_node(0).await;
    cluster.start_node(0, None).await.unwrap();
    cluster.converge(&expected).await;
    cluster.shutdown().await;
}

/// A voter list that differs from the one the log was formed with, or that leaves out this
/// node, stops start-up with an error naming the setting; the log is left as it was.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn start_up_refusals() {
    let mut cluster = Cluster::start(1, |_| {}).await;
    let leader = cluster.leader().await;
    let mut expected = Vec::new();
    propose_all(cluster.quorum(leader), 0..5, &mut expected).await;
    cluster.stop_node(0).await;
    let before = dir_listing(&cluster.nodes[0].dir);

    let listener = TcpListener::bind(&cluster.nodes[0].addr).await.unwrap();
    let mut voters = cluster.voters.clone();
    voters.insert(2, "127.0.0.1:1".into());
    let config = QuorumConfig::new(1, voters, cluster.nodes[0].dir.clone());
    let journal = Arc::new(Journal::default());
    let err = Quorum::start(config, LogEnv::os(&cluster.flusher), Some(listener), journal, None).await.err().unwrap();
    assert!(matches!(err, QuorumError::VotersChanged { .. }), "{err}");
    assert!(err.to_string().contains("controller.quorum.voters"), "{err}");

    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let config = QuorumConfig::new(7, cluster.voters.clone(), cluster._tmp.path().join("other"));
    let err = Quorum::start(config, LogEnv::os(&cluster.flusher), Some(listener), Arc::new(Journal::default()), None)
        .await
        .err()
        .unwrap();
    assert!(matches!(err, QuorumError::NotAVoter { node_id: 7, .. }), "{err}");

    assert_eq!(dir_listing(&cluster.nodes[0].dir), before);
    cluster.start_node(0, None).await.unwrap();
    cluster.converge(&expected).await;
    cluster.shutdown().await;
}

fn dir_listing(dir: &Path) -> Vec<(String, u64)> {
    let mut out: Vec<(String, u64)> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap())
        .map(|e| (e.file_name().to_string_lossy().into_owned(), e.metadata().unwrap().len()))
        .collect();
    out.sort();
    out
}
