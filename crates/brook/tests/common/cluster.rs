//! A Brook cluster of real processes on loopback: each node started from its own KRaft-style
//! `server.properties` (combined broker and controller), with its own listeners and data
//! directory. Nodes can be killed, stopped and started again on the same ports.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use super::{Brook, Pending, free_port};

pub struct Node {
    pub id: i32,
    pub port: u16,
    pub controller_port: u16,
    pub data: PathBuf,
    pub properties: PathBuf,
    pub brook: Option<Brook>,
    /// A slow disk: each fdatasync waits this long (the power-cut hook's setting).
    fsync_delay_ms: u64,
}

impl Node {
    pub fn addr(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }
}

pub struct Cluster {
    pub nodes: Vec<Node>,
    _dir: tempfile::TempDir,
    /// One cluster at a time per test binary: a few clusters of debug builds at once on two
    /// cores would starve their heartbeats and test the machine, not Brook.
    _one_at_a_time: std::sync::MutexGuard<'static, ()>,
}

static ONE_CLUSTER: std::sync::Mutex<()> = std::sync::Mutex::new(());

impl Cluster {
    /// `size` combined nodes, `extra` lines added to every properties file; returns once
    /// every node serves.
    pub fn start(size: i32, extra: &[&str]) -> Cluster {
        Cluster::start_shaped(size, 0, true, extra, &[0])
    }

    /// `start` on slow disks: node `i`'s fdatasyncs take `fsync_delay_ms[i - 1]` longer (the
    /// last figure for the rest), so a power cut finds more unsynced writes to drop.
    pub fn start_on_slow_disks(size: i32, extra: &[&str], fsync_delay_ms: &[u64]) -> Cluster {
        Cluster::start_shaped(size, 0, true, extra, fsync_delay_ms)
    }

    /// The larger shape: `controllers` controller-only nodes (ids 1..) forming the quorum, and
    /// `brokers` broker-only nodes (the ids after) that follow it.
    pub fn start_split(controllers: i32, brokers: i32, extra: &[&str]) -> Cluster {
        Cluster::start_split_on_slow_disks(controllers, brokers, extra, &[0])
    }

    /// `start_split` with `start_on_slow_disks`' fdatasync delays.
    pub fn start_split_on_slow_disks(
        controllers: i32,
        brokers: i32,
        extra: &[&str],
        fsync_delay_ms: &[u64],
    ) -> Cluster {
        Cluster::start_shaped(controllers, brokers, false, extra, fsync_delay_ms)
    }

    fn start_shaped(voters: i32, observers: i32, combined: bool, extra: &[&str], fsync_delay_ms: &[u64]) -> Cluster {
        // A test that failed while holding the lock poisons it; the next may still run.
        let one_at_a_time = ONE_CLUSTER.lock().unwrap_or_else(|e| e.into_inner());
        let dir = tempfile::tempdir().expect("temp dir");
        let ports: Vec<(u16, u16)> = (0..voters + observers).map(|_| (free_port(), free_port())).collect();
        let voter_list: Vec<String> =
            ports[..voters as usize].iter().enumerate().map(|(i, (_, c))| format!("{}@127.0.0.1:{c}", i + 1)).collect();
        let mut nodes = Vec::new();
        for (i, (port, controller_port)) in ports.into_iter().enumerate() {
            let id = i as i32 + 1;
            let data = dir.path().join(format!("node-{id}"));
            let properties = dir.path().join(format!("server-{id}.properties"));
            let (roles, listeners) = match (id <= voters, combined) {
                (true, true) => (
                    "broker,controller",
                    format!("PLAINTEXT://127.0.0.1:{port},CONTROLLER://127.0.0.1:{controller_port}"),
                ),
                (true, false) => ("controller", format!("CONTROLLER://127.0.0.1:{controller_port}")),
                (false, _) => ("broker", format!("PLAINTEXT://127.0.0.1:{port}")),
            };
            let mut text = format!(
                "process.roles={roles}\n\
                 node.id={id}\n\
                 controller.quorum.voters={voters}\n\
                 listeners={listeners}\n\
                 controller.listener.names=CONTROLLER\n\
                 listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT\n\
                 log.dirs={}\n",
                data.display(),
                voters = voter_list.join(","),
            );
            if roles != "controller" {
                text.push_str(&format!("advertised.listeners=PLAINTEXT://127.0.0.1:{port}\n"));
            }
            for line in extra {
                text.push_str(line);
                text.push('\n');
            }
            std::fs::write(&properties, text).expect("write server.properties");
            let fsync_delay_ms = fsync_delay_ms.get(i).or(fsync_delay_ms.last()).copied().unwrap_or(0);
            nodes.push(Node { id, port, controller_port, data, properties, brook: None, fsync_delay_ms });
        }
        let mut cluster = Cluster { nodes, _dir: dir, _one_at_a_time: one_at_a_time };
        let ids: Vec<i32> = cluster.nodes.iter().map(|n| n.id).collect();
        cluster.restart_all(&ids);
        cluster
    }

    /// Every running node's address, for `bootstrap.servers`.
    pub fn bootstrap(&self) -> String {
        self.nodes.iter().filter(|n| n.brook.is_some()).map(Node::addr).collect::<Vec<_>>().join(",")
    }

    pub fn node(&self, id: i32) -> &Node {
        &self.nodes[(id - 1) as usize]
    }

    pub fn kill(&mut self, id: i32) {
        if let Some(mut brook) = self.nodes[(id - 1) as usize].brook.take() {
            brook.kill();
        }
    }

    /// A power cut of the nodes `ids`, all at once: each loses every partition write it did
    /// not fdatasync, then is down.
    pub fn power_cut(&mut self, ids: &[i32]) {
        let mut cut: Vec<Brook> = ids.iter().filter_map(|id| self.nodes[(id - 1) as usize].brook.take()).collect();
        cut.iter().for_each(Brook::cut_power);
        cut.iter_mut().for_each(Brook::await_power_cut);
    }

    /// SIGTERM; the exit code.
    pub fn stop(&mut self, id: i32) -> Option<i32> {
        self.nodes[(id - 1) as usize].brook.take().and_then(|mut b| b.stop())
    }

    /// SIGSTOP (`pause: true`) or SIGCONT: a node that freezes and wakes with its state.
    pub fn pause(&self, id: i32, pause: bool) {
        let pid = self.node(id).brook.as_ref().expect("node is running").pid();
        let signal = if pause { "-STOP" } else { "-CONT" };
        let status = Command::new("kill").args([signal, &pid.to_string()]).status().expect("kill");
        assert!(status.success(), "kill {signal} {pid}");
    }

    /// Starts a stopped node again with its own properties and data.
    pub fn restart(&mut self, id: i32) {
        let node = &mut self.nodes[(id - 1) as usize];
        assert!(node.brook.is_none(), "node {id} is running");
        node.brook = Some(launch(node).ready());
    }

    /// Starts stopped nodes together: a node serves only once a quorum of voters runs.
    pub fn restart_all(&mut self, ids: &[i32]) {
        let pending: Vec<(i32, Pending)> = ids
            .iter()
            .map(|id| {
                let node = self.node(*id);
                assert!(node.brook.is_none(), "node {id} is running");
                (*id, launch(node))
            })
            .collect();
        for (id, pending) in pending {
            self.nodes[(id - 1) as usize].brook = Some(pending.ready());
        }
    }

    pub fn properties(&self, id: i32) -> &Path {
        &self.node(id).properties
    }
}

fn launch(node: &Node) -> Pending {
    // The console is off (as an override, so the harness knows not to wait for its address).
    // Cluster nodes can have their power cut (`Cluster::power_cut`).
    let overrides = ["console.enabled=false".to_string()];
    let mut command = Command::new(super::brook_bin());
    command.env("BROOK_TEST_POWER_CUT", node.fsync_delay_ms.to_string());
    Brook::launch(command, Some(&node.properties), &node.data, &overrides)
}

/// How long a cluster test waits for a condition that the cluster reaches by itself.
pub const SETTLE: Duration = Duration::from_secs(30);
