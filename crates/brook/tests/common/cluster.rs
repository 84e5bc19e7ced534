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
        Cluster::start_shaped(size, 0, true, extra)
    }

    /// The larger shape: `controllers` controller-only nodes (ids 1..) forming the quorum, and
    /// `brokers` broker-only nodes (the ids after) that follow it.
    pub fn start_split(controllers: i32, brokers: i32, extra: &[&str]) -> Cluster {
        Cluster::start_shaped(controllers, brokers, false, extra)
    }

    fn start_shaped(voters: i32, observers: i32, combined: bool, extra: &[&str]) -> Cluster {
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
            nodes.push(Node { id, port, controller_port, data, properties, brook: None });
        }
        // All at once: a node serves only once a quorum of voters runs.
        let pending: Vec<Pending> = nodes.iter().map(launch).collect();
        for (node, pending) in nodes.iter_mut().zip(pending) {
            node.brook = Some(pending.ready());
        }
        Cluster { nodes, _dir: dir, _one_at_a_time: one_at_a_time }
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

    pub fn properties(&self, id: i32) -> &Path {
        &self.node(id).properties
    }
}

fn launch(node: &Node) -> Pending {
    // The console is off (as an override, so the harness knows not to wait for its address).
    let overrides = ["console.enabled=false".to_string()];
    Brook::launch(Command::new(super::brook_bin()), Some(&node.properties), &node.data, &overrides)
}

/// How long a cluster test waits for a condition that the cluster reaches by itself.
pub const SETTLE: Duration = Duration::from_secs(30);
