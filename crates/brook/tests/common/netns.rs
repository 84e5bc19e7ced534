//! Network namespaces for cluster tests that cut links between nodes. Each node gets a
//! namespace of its own, joined by a veth pair to a bridge in the test's namespace, and an
//! address of its own (10.x.y.1N; the test reaches every node through the bridge at 10.x.y.1).
//! A cut is an iptables rule inside the receiving node's namespace that drops what it hears
//! from a peer, so links can be cut one way or both, and the test's own clients are never cut.
//! Needs root (CAP_NET_ADMIN), `ip` and `iptables`; `./scripts/test` installs them.

use std::process::Command;
use std::sync::atomic::{AtomicU16, Ordering};

static NETWORKS: AtomicU16 = AtomicU16::new(0);

pub struct Network {
    tag: String,
    subnet: String,
    nodes: i32,
}

/// Runs a command that sets up or tears down the network; panics with its stderr on failure.
fn run(program: &str, args: &[&str]) {
    let out = Command::new(program).args(args).output().unwrap_or_else(|e| panic!("{program}: {e}"));
    assert!(out.status.success(), "{program} {}: {}", args.join(" "), String::from_utf8_lossy(&out.stderr).trim());
}

impl Network {
    /// A bridge and `nodes` namespaces (nodes 1..=nodes).
    pub fn create(nodes: i32) -> Network {
        let n = (std::process::id() as u16).wrapping_mul(31).wrapping_add(NETWORKS.fetch_add(1, Ordering::Relaxed));
        let network =
            Network { tag: format!("{n:04x}"), subnet: format!("10.{}.{}", 200 + n % 50, n / 50 % 256), nodes };
        let bridge = network.bridge();
        run("ip", &["link", "add", &bridge, "type", "bridge"]);
        run("ip", &["addr", "add", &format!("{}.1/24", network.subnet), "dev", &bridge]);
        run("ip", &["link", "set", &bridge, "up"]);
        // Bridged traffic may pass through the host's FORWARD chain; let this bridge's through.
        run("iptables", &["-I", "FORWARD", "-i", &bridge, "-o", &bridge, "-j", "ACCEPT"]);
        for id in 1..=nodes {
            let (ns, outer, inner) = (network.namespace(id), format!("bkv{}{id}", network.tag), network.device(id));
            run("ip", &["netns", "add", &ns]);
            run("ip", &["link", "add", &outer, "type", "veth", "peer", "name", &inner]);
            run("ip", &["link", "set", &outer, "master", &bridge]);
            run("ip", &["link", "set", &outer, "up"]);
            run("ip", &["link", "set", &inner, "netns", &ns]);
            run("ip", &["-n", &ns, "addr", "add", &format!("{}/24", network.ip(id)), "dev", &inner]);
            run("ip", &["-n", &ns, "link", "set", &inner, "up"]);
            run("ip", &["-n", &ns, "link", "set", "lo", "up"]);
        }
        network
    }

    fn bridge(&self) -> String {
        format!("bkb{}", self.tag)
    }

    fn device(&self, id: i32) -> String {
        format!("bkp{}{id}", self.tag)
    }

    pub fn namespace(&self, id: i32) -> String {
        format!("bkn{}{id}", self.tag)
    }

    /// Node `id`'s address.
    pub fn ip(&self, id: i32) -> String {
        format!("{}.{}", self.subnet, 10 + id)
    }

    /// `program` to be run inside node `id`'s namespace.
    pub fn command(&self, id: i32, program: &str) -> Command {
        let mut command = Command::new("ip");
        command.args(["netns", "exec", &self.namespace(id), program]);
        command
    }

    /// Node `to` no longer hears node `from` (one way: `from` still hears `to`).
    pub fn cut(&self, from: i32, to: i32) {
        run(
            "ip",
            &["netns", "exec", &self.namespace(to), "iptables", "-A", "INPUT", "-s", &self.ip(from), "-j", "DROP"],
        );
    }

    /// Every link works again.
    pub fn heal(&self) {
        for id in 1..=self.nodes {
            run("ip", &["netns", "exec", &self.namespace(id), "iptables", "-F", "INPUT"]);
        }
    }
}

impl Drop for Network {
    fn drop(&mut self) {
        // Best effort: a namespace takes its end of the veth pair with it, and the other end
        // goes with it; the bridge and the FORWARD rule are the test's namespace's own.
        let quiet = |args: &[&str]| {
            let _ = Command::new(args[0]).args(&args[1..]).output();
        };
        for id in 1..=self.nodes {
            quiet(&["ip", "netns", "del", &self.namespace(id)]);
        }
        let bridge = self.bridge();
        quiet(&["iptables", "-D", "FORWARD", "-i", &bridge, "-o", &bridge, "-j", "ACCEPT"]);
        quiet(&["ip", "link", "del", &bridge]);
    }
}
