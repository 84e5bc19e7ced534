//! A Brook cluster of real processes on loopback: each node started from its own KRaft-style
//! `server.properties` (combined broker and controller), with its own listeners and data
//! directory. Nodes can be killed, stopped and started again on the same ports.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use super::netns::{Network, SlowLink};
use super::{Brook, Pending, free_ports};

pub struct Node {
    pub id: i32,
    /// The address the node listens on: 127.0.0.1, or its own in a network namespace.
    pub host: String,
    pub port: u16,
    pub controller_port: u16,
    pub data: PathBuf,
    pub properties: PathBuf,
    pub brook: Option<Brook>,
    /// A slow disk: each fdatasync waits this long (the power-cut hook's setting).
    fsync_delay_ms: u64,
    /// Whether it serves its web console.
    console: bool,
    /// The network namespace it runs in, if the cluster has them.
    namespace: Option<String>,
}

impl Node {
    pub fn addr(&self) -> String {
        format!("{}:{}", self.host, self.port)
    }
}

pub struct Cluster {
    pub nodes: Vec<Node>,
    /// Declared after the nodes, so that they are stopped before their namespaces go.
    network: Option<Network>,
    _dir: tempfile::TempDir,
    /// One cluster at a time per test binary: a few clusters of debug builds at once on two
    /// cores would starve their heartbeats and test the machine, not Brook.
    _one_at_a_time: std::sync::MutexGuard<'static, ()>,
}

static ONE_CLUSTER: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// What a cluster is made of.
pub struct Spec {
    voters: i32,
    observers: i32,
    combined: bool,
    extra: Vec<String>,
    fsync_delay_ms: Vec<u64>,
    namespaces: bool,
    racks: bool,
    consoles: bool,
    /// A second log dir per node, `<data>-b`.
    second_log_dir: bool,
}

impl Spec {
    /// `size` combined broker and controller nodes; `extra` lines in every properties file.
    pub fn combined(size: i32, extra: &[&str]) -> Spec {
        let extra = extra.iter().map(|l| l.to_string()).collect();
        Spec {
            voters: size,
            observers: 0,
            combined: true,
            extra,
            fsync_delay_ms: vec![0],
            namespaces: false,
            racks: false,
            consoles: false,
            second_log_dir: false,
        }
    }

    /// `controllers` controller-only nodes (ids 1..) and `brokers` broker-only nodes after them.
    pub fn split(controllers: i32, brokers: i32, extra: &[&str]) -> Spec {
        Spec { voters: controllers, observers: brokers, combined: false, ..Spec::combined(0, extra) }
    }

    /// Slow disks: node `i`'s fdatasyncs take `fsync_delay_ms[i - 1]` longer (the last figure
    /// for the rest), so a power cut finds more unsynced writes to drop.
    pub fn slow_disks(self, fsync_delay_ms: &[u64]) -> Spec {
        Spec { fsync_delay_ms: fsync_delay_ms.to_vec(), ..self }
    }

    /// Each node with two log dirs: its data dir, then `<data>-b`.
    pub fn two_log_dirs(self) -> Spec {
        Spec { second_log_dir: true, ..self }
    }

    /// Each node in a rack of its own: `broker.rack=rack-<id>`.
    pub fn racked(self) -> Spec {
        Spec { racks: true, ..self }
    }

    /// Each node serves its web console and HTTP API (on a free port).
    pub fn with_consoles(self) -> Spec {
        Spec { consoles: true, ..self }
    }

    /// Each node in a network namespace of its own, so links between nodes can be cut.
    pub fn in_namespaces(self) -> Spec {
        Spec { namespaces: true, ..self }
    }
}

impl Cluster {
    /// `size` combined nodes, `extra` lines added to every properties file; returns once
    /// every node serves.
    pub fn start(size: i32, extra: &[&str]) -> Cluster {
        Cluster::start_with(Spec::combined(size, extra))
    }

    /// The larger shape: `controllers` controller-only nodes (ids 1..) forming the quorum, and
    /// `brokers` broker-only nodes (the ids after) that follow it.
    pub fn start_split(controllers: i32, brokers: i32, extra: &[&str]) -> Cluster {
        Cluster::start_with(Spec::split(controllers, brokers, extra))
    }

    pub fn start_with(spec: Spec) -> Cluster {
        // A test that failed while holding the lock poisons it; the next may still run.
        let one_at_a_time = ONE_CLUSTER.lock().unwrap_or_else(|e| e.into_inner());
        let dir = tempfile::tempdir().expect("temp dir");
        let size = spec.voters + spec.observers;
        let network = spec.namespaces.then(|| Network::create(size));
        // In namespaces every node has its own address and the same ports.
        let hosts: Vec<String> =
            (1..=size).map(|id| network.as_ref().map_or_else(|| "127.0.0.1".to_string(), |n| n.ip(id))).collect();
        let ports: Vec<(u16, u16)> = match network {
            Some(_) => vec![(9092, 9093); size as usize],
            None => free_ports(2 * size as usize).chunks(2).map(|p| (p[0], p[1])).collect(),
        };
        let voter_list: Vec<String> =
            (0..spec.voters as usize).map(|i| format!("{}@{}:{}", i + 1, hosts[i], ports[i].1)).collect();
        let mut nodes = Vec::new();
        for (i, (port, controller_port)) in ports.into_iter().enumerate() {
            let id = i as i32 + 1;
            let host = hosts[i].clone();
            let data = dir.path().join(format!("node-{id}"));
            let properties = dir.path().join(format!("server-{id}.properties"));
            let (roles, listeners) = match (id <= spec.voters, spec.combined) {
                (true, true) => {
                    ("broker,controller", format!("PLAINTEXT://{host}:{port},CONTROLLER://{host}:{controller_port}"))
                }
                (true, false) => ("controller", format!("CONTROLLER://{host}:{controller_port}")),
                (false, _) => ("broker", format!("PLAINTEXT://{host}:{port}")),
            };
            let mut text = format!(
                "process.roles={roles}\n\
                 node.id={id}\n\
                 controller.quorum.voters={voters}\n\
                 listeners={listeners}\n\
                 controller.listener.names=CONTROLLER\n\
                 listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT\n\
                 log.dirs={}{}\n",
                data.display(),
                if spec.second_log_dir { format!(",{}-b", data.display()) } else { String::new() },
                voters = voter_list.join(","),
            );
            if roles != "controller" {
                text.push_str(&format!("advertised.listeners=PLAINTEXT://{host}:{port}\n"));
            }
            if spec.racks {
                text.push_str(&format!("broker.rack=rack-{id}\n"));
            }
            for line in &spec.extra {
                text.push_str(line);
                text.push('\n');
            }
            std::fs::write(&properties, text).expect("write server.properties");
            let fsync_delay_ms = spec.fsync_delay_ms.get(i).or(spec.fsync_delay_ms.last()).copied().unwrap_or(0);
            let namespace = network.as_ref().map(|n| n.namespace(id));
            nodes.push(Node {
                id,
                host,
                port,
                controller_port,
                data,
                properties,
                brook: None,
                fsync_delay_ms,
                namespace,
                console: spec.consoles,
            });
        }
        let mut cluster = Cluster { nodes, network, _dir: dir, _one_at_a_time: one_at_a_time };
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
        super::signal(pid, if pause { "-STOP" } else { "-CONT" });
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

    /// Node `to` no longer hears node `from` (one way); needs `Spec::in_namespaces`.
    pub fn cut(&self, from: i32, to: i32) {
        self.network.as_ref().expect("a cluster in network namespaces").cut(from, to);
    }

    /// What node `from` sends node `to` is delayed by `delay` plus up to `jitter` (and so
    /// reordered) while the returned link lives; needs `Spec::in_namespaces`.
    pub fn slow(&self, from: i32, to: i32, delay: Duration, jitter: Duration, seed: u64) -> SlowLink {
        self.network.as_ref().expect("a cluster in network namespaces").slow(from, to, delay, jitter, seed)
    }

    /// Every link between nodes works again.
    pub fn heal(&self) {
        self.network.as_ref().expect("a cluster in network namespaces").heal();
    }

    pub fn properties(&self, id: i32) -> &Path {
        &self.node(id).properties
    }
}

fn launch(node: &Node) -> Pending {
    // The console is off unless asked for (as an override, so the harness knows whether to
    // wait for its address). Cluster nodes can have their power cut (`Cluster::power_cut`).
    let overrides = [if node.console { "console.listener=127.0.0.1:0" } else { "console.enabled=false" }.to_string()];
    let mut command = match &node.namespace {
        Some(ns) => {
            let mut c = Command::new("ip");
            c.args(["netns", "exec", ns, &super::brook_bin()]);
            c
        }
        None => Command::new(super::brook_bin()),
    };
    command.env("BROOK_TEST_POWER_CUT", node.fsync_delay_ms.to_string());
    Brook::launch(command, Some(&node.properties), &node.data, &overrides)
}

/// How long a cluster test waits for a condition that the cluster reaches by itself.
pub const SETTLE: Duration = Duration::from_secs(30);
