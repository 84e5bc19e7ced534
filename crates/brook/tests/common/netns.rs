//! Network namespaces for cluster tests that cut links between nodes. Each node gets a
//! namespace of its own, joined by a veth pair to a bridge in the test's namespace, and an
//! address of its own (10.x.y.1N; the test reaches every node through the bridge at 10.x.y.1).
//! A cut is an iptables rule inside the receiving node's namespace that drops what it hears
//! from a peer, so links can be cut one way or both, and the test's own clients are never cut.
//! Links can also be made slow (`SlowLink`). Needs root (CAP_NET_ADMIN), `ip` and `iptables`;
//! `./scripts/test` installs them.

use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU16, Ordering};
use std::time::{Duration, Instant};

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

/// A slow link, without `tc netem` (not in this kernel): the packets one node sends another
/// cross the bridge, where iptables queues them (NFQUEUE, in the host's FORWARD chain, which
/// bridged traffic passes through with `bridge-nf-call-iptables`), and a thread hands each back
/// after `delay` plus up to `jitter`, so packets are delayed and reordered as on a slow,
/// uneven network. Dropping it removes the rule and releases what is held.
pub struct SlowLink {
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
    rule: Vec<String>,
}

static QUEUES: AtomicU16 = AtomicU16::new(0);

impl Network {
    /// Delays what node `from` sends to node `to`.
    pub fn slow(&self, from: i32, to: i32, delay: Duration, jitter: Duration, seed: u64) -> SlowLink {
        let bridged = std::fs::read_to_string("/proc/sys/net/bridge/bridge-nf-call-iptables").unwrap_or_default();
        assert_eq!(bridged.trim(), "1", "slow links need bridged traffic to pass iptables (br_netfilter)");
        let queue_num = 100 + QUEUES.fetch_add(1, Ordering::Relaxed) % 1000;
        let mut queue = nfq::Queue::open().expect("an NFQUEUE socket");
        queue.bind(queue_num).unwrap_or_else(|e| panic!("binding NFQUEUE {queue_num}: {e}"));
        queue.set_fail_open(queue_num, true).expect("fail open");
        queue.set_queue_max_len(queue_num, 65_536).expect("queue length");
        queue.set_nonblocking(true);
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let stop = stop.clone();
            std::thread::spawn(move || hold_packets(queue, queue_num, delay, jitter, seed, stop))
        };
        // --queue-bypass: should the thread be gone, packets pass rather than vanish.
        let (src, dst, queue) = (self.ip(from), self.ip(to), queue_num.to_string());
        let rule: Vec<String> =
            ["FORWARD", "-s", &src, "-d", &dst, "-j", "NFQUEUE", "--queue-num", &queue, "--queue-bypass"]
                .iter()
                .map(|s| s.to_string())
                .collect();
        let mut args = vec!["-I"];
        args.extend(rule.iter().map(String::as_str));
        run("iptables", &args);
        SlowLink { stop, thread: Some(thread), rule }
    }
}

impl Drop for SlowLink {
    fn drop(&mut self) {
        let mut args = vec!["-D"];
        args.extend(self.rule.iter().map(String::as_str));
        let _ = Command::new("iptables").args(&args).output();
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// The slow link's thread: holds each packet until its time and lets it go; at `stop`, lets
/// everything go.
fn hold_packets(
    mut queue: nfq::Queue,
    queue_num: u16,
    delay: Duration,
    jitter: Duration,
    mut seed: u64,
    stop: Arc<AtomicBool>,
) {
    let mut held: Vec<(Instant, nfq::Message)> = Vec::new();
    loop {
        let stopping = stop.load(Ordering::Relaxed);
        while let Ok(mut message) = queue.recv() {
            message.set_verdict(nfq::Verdict::Accept);
            // splitmix64-style steps for the jitter.
            seed = seed.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let extra = (seed ^ (seed >> 31)).wrapping_mul(0xBF58_476D_1CE4_E5B9) % (jitter.as_micros() as u64 + 1);
            held.push((Instant::now() + delay + Duration::from_micros(extra), message));
        }
        let now = Instant::now();
        let mut i = 0;
        while i < held.len() {
            if stopping || held[i].0 <= now {
                let (_, message) = held.swap_remove(i);
                let _ = queue.verdict(message);
            } else {
                i += 1;
            }
        }
        if stopping {
            let _ = queue.unbind(queue_num);
            return;
        }
        std::thread::sleep(Duration::from_millis(1));
    }
}
