//! Apache Kafka itself, for differential tests and benchmarks: one KRaft node, the reference
//! for what a broker answers, or a cluster of combined nodes. Its jars come from Maven Central
//! through `tests/kafka/pom.xml`.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::free_ports;

pub struct Kafka {
    child: Child,
    pub addr: String,
    /// Its `server.properties`, for restarts on the same data.
    properties: PathBuf,
    dir: tempfile::TempDir,
}

/// The classpath of Kafka's jars, resolved with Maven and cached under `target/` until the
/// pom changes.
pub fn classpath() -> String {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    let cached = root.join("target/kafka-classpath.txt");
    let modified = |p: &std::path::Path| std::fs::metadata(p).and_then(|m| m.modified()).ok();
    let stale = match (modified(&cached), modified(&root.join("tests/kafka/pom.xml"))) {
        (Some(cache), Some(pom)) => cache < pom,
        _ => true,
    };
    if stale {
        let status = Command::new("mvn")
            .args(["-B", "-q", "--no-transfer-progress", "dependency:build-classpath"])
            .arg(format!("-Dmdep.outputFile={}", cached.display()))
            .current_dir(root.join("tests/kafka"))
            .status()
            .expect("run mvn");
        assert!(status.success(), "resolving Apache Kafka's jars with Maven failed");
    }
    std::fs::read_to_string(&cached).expect("classpath file").trim().to_string()
}

impl Kafka {
    pub fn start() -> Kafka {
        Kafka::start_with(&[], &[])
    }

    /// One node with more listeners (name, port, security protocol) beside its PLAINTEXT one,
    /// and more `server.properties` lines.
    pub fn start_with(listeners: &[(&str, u16, &str)], lines: &[&str]) -> Kafka {
        let cp = classpath();
        let [port, controller] = free_ports(2)[..] else { unreachable!() };
        let voters = format!("1@127.0.0.1:{controller}");
        // Every internal topic at one replica, as one node can hold.
        let mut extra = vec![
            "offsets.topic.replication.factor=1",
            "transaction.state.log.replication.factor=1",
            "share.coordinator.state.topic.replication.factor=1",
            "share.coordinator.state.topic.min.isr=1",
        ];
        extra.extend_from_slice(lines);
        let mut kafka = Kafka::launch(&cp, 1, (port, controller), listeners, &voters, &extra);
        kafka.await_ready();
        kafka
    }

    /// The process id, for its CPU figures.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Its log dir.
    pub fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    /// Formats a node's log dir and starts it (combined broker and controller), not waiting.
    fn launch(
        cp: &str,
        node_id: i32,
        (port, controller): (u16, u16),
        more: &[(&str, u16, &str)],
        voters: &str,
        extra: &[&str],
    ) -> Kafka {
        let dir = tempfile::tempdir().expect("temp dir");
        let props = dir.path().join("server.properties");
        let more_listeners: String = more.iter().map(|(name, p, _)| format!(",{name}://127.0.0.1:{p}")).collect();
        let more_protocols: String = more.iter().map(|(name, _, protocol)| format!(",{name}:{protocol}")).collect();
        let mut text = format!(
            "process.roles=broker,controller\nnode.id={node_id}\n\
             controller.quorum.voters={voters}\n\
             listeners=PLAINTEXT://127.0.0.1:{port},CONTROLLER://127.0.0.1:{controller}{more_listeners}\n\
             advertised.listeners=PLAINTEXT://127.0.0.1:{port}{more_listeners}\ncontroller.listener.names=CONTROLLER\n\
             inter.broker.listener.name=PLAINTEXT\n\
             listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT{more_protocols}\n\
             log.dirs={}\ntransaction.state.log.min.isr=1\n",
            dir.path().join("data").display()
        );
        for line in extra {
            text.push_str(line);
            text.push('\n');
        }
        std::fs::write(&props, text).expect("write server.properties");
        let format = Command::new("java")
            .args(["-cp", cp, "kafka.tools.StorageTool", "format", "-t", "4L6g3nShT-eMCtK--X86sw", "-c"])
            .arg(&props)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .expect("run Kafka's StorageTool");
        assert!(format.success(), "formatting Kafka's log dir failed");
        Kafka { child: spawn(cp, &props), addr: format!("127.0.0.1:{port}"), properties: props, dir }
    }

    /// Waits until Kafka answers a Metadata request listing itself as a broker.
    fn await_ready(&mut self) {
        use kafka_protocol::messages::{ApiKey, MetadataRequest, ResponseKind};
        let deadline = Instant::now() + Duration::from_secs(90);
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("Kafka exited during start-up: {status}");
            }
            if std::net::TcpStream::connect(&self.addr).is_ok() {
                let mut conn = super::wire::Conn::open(&self.addr);
                let id = conn.send(ApiKey::Metadata, 12, &MetadataRequest::default().with_topics(None));
                if let Some((cid, ResponseKind::Metadata(m))) = conn.receive(ApiKey::Metadata, 12) {
                    if cid == id && !m.brokers.is_empty() {
                        return;
                    }
                }
            }
            assert!(Instant::now() < deadline, "Kafka did not start within 90 s");
            std::thread::sleep(Duration::from_millis(200));
        }
    }
}

/// `kafka.Kafka` on the properties file `props`.
fn spawn(cp: &str, props: &std::path::Path) -> Child {
    Command::new("java")
        .args(["-Xmx512m", "-cp", cp, "kafka.Kafka"])
        .arg(props)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start Kafka")
}

/// A Kafka cluster of combined broker and controller nodes on loopback.
pub struct KafkaCluster {
    pub nodes: Vec<Kafka>,
}

impl KafkaCluster {
    /// `size` nodes sharing one quorum, `extra` lines in every node's properties; returns once
    /// each lists all of them as brokers.
    pub fn start(size: i32, extra: &[&str]) -> KafkaCluster {
        let cp = classpath();
        let ports: Vec<(u16, u16)> = free_ports(2 * size as usize).chunks(2).map(|p| (p[0], p[1])).collect();
        let voters: Vec<String> =
            ports.iter().enumerate().map(|(i, (_, c))| format!("{}@127.0.0.1:{c}", i + 1)).collect();
        let voters = voters.join(",");
        let mut nodes: Vec<Kafka> = ports
            .iter()
            .enumerate()
            .map(|(i, (port, controller))| Kafka::launch(&cp, i as i32 + 1, (*port, *controller), &[], &voters, extra))
            .collect();
        for node in &mut nodes {
            node.await_ready();
        }
        KafkaCluster { nodes }
    }

    pub fn bootstrap(&self) -> String {
        self.nodes.iter().map(|n| n.addr.clone()).collect::<Vec<_>>().join(",")
    }

    /// kill -9 of node `id` (1-based).
    pub fn kill(&mut self, id: i32) {
        let node = &mut self.nodes[(id - 1) as usize];
        let _ = node.child.kill();
        let _ = node.child.wait();
    }

    /// SIGTERM of node `id` (1-based): Kafka's controlled shutdown; returns once it exited.
    pub fn stop(&mut self, id: i32) {
        let node = &mut self.nodes[(id - 1) as usize];
        super::signal(node.child.id(), "-TERM");
        let _ = node.child.wait();
    }

    /// Starts a killed node again on its data; returns once it serves.
    pub fn restart(&mut self, id: i32) {
        let node = &mut self.nodes[(id - 1) as usize];
        node.child = spawn(&classpath(), &node.properties);
        node.await_ready();
    }

    /// SIGSTOP (`pause: true`) or SIGCONT of node `id` (1-based).
    pub fn pause(&self, id: i32, pause: bool) {
        super::signal(self.nodes[(id - 1) as usize].pid(), if pause { "-STOP" } else { "-CONT" });
    }
}

impl Drop for Kafka {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
