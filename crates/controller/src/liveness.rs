//! Fencing on proof of death, before the session ends. Kafka fences a broker only once it has
//! been silent for `broker.session.timeout.ms`, so after a kill -9 its partitions stay
//! leaderless for the rest of that session. A broker that has missed a heartbeat and whose
//! listeners all refuse connections has no process behind them (killed, crashed, OOM-killed),
//! and the controller fences it at once. A paused broker is not refused (the kernel still
//! accepts for a stopped process) and a cut-off one times out, so those wait out their session
//! as in Kafka. A wrong guess costs what a lost session costs: the broker is fenced, and its
//! next heartbeat unfences it.

use std::collections::HashMap;
use std::io;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::net::TcpStream;

use crate::image::BrokerRegistration;

/// Probes of overdue brokers' listeners, and what they found.
#[derive(Default, Clone)]
pub(crate) struct Prober {
    state: Arc<Mutex<Probes>>,
}

#[derive(Default)]
struct Probes {
    /// When each node was last probed: at most once per heartbeat interval.
    probed: HashMap<i32, Instant>,
    /// Registrations (node, epoch) whose every listener refused a probe, and when that probe
    /// began.
    refused: HashMap<(i32, i64), Instant>,
}

impl Prober {
    /// Whether `broker` missed a heartbeat (none since `seen`, more than a quarter interval
    /// late) and a probe begun since then found its listeners refusing connections. Otherwise
    /// starts a probe of an overdue broker, unless one began within `interval`. Probing a live
    /// broker costs one connection, so it starts as soon as a heartbeat is late.
    pub(crate) fn dead(&self, broker: &BrokerRegistration, seen: Instant, now: Instant, interval: Duration) -> bool {
        if now.duration_since(seen) <= interval + interval / 4 {
            return false;
        }
        let mut probes = self.state.lock().expect("probes lock");
        if probes.refused.get(&(broker.node_id, broker.epoch)).is_some_and(|began| *began > seen) {
            return true;
        }
        if probes.probed.get(&broker.node_id).is_some_and(|t| now.duration_since(*t) < interval) {
            return false;
        }
        probes.probed.insert(broker.node_id, now);
        // A registration that is gone (fenced, registered anew) needs no verdict any more.
        probes.refused.retain(|(node, epoch), _| *node != broker.node_id || *epoch == broker.epoch);
        let addresses: Vec<String> = broker.endpoints.iter().map(|e| format!("{}:{}", e.host, e.port)).collect();
        if addresses.is_empty() {
            return false;
        }
        let (state, key) = (self.state.clone(), (broker.node_id, broker.epoch));
        tokio::spawn(async move {
            for address in &addresses {
                if !refuses(address, interval).await {
                    return;
                }
            }
            state.lock().expect("probes lock").refused.insert(key, now);
        });
        false
    }
}

/// Whether connecting to `address` is refused (no process listens there), as opposed to
/// accepted or unanswered within `timeout`.
async fn refuses(address: &str, timeout: Duration) -> bool {
    matches!(
        tokio::time::timeout(timeout, TcpStream::connect(address)).await,
        Ok(Err(e)) if e.kind() == io::ErrorKind::ConnectionRefused
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::records::Endpoint;

    fn broker(port: u16) -> BrokerRegistration {
        BrokerRegistration {
            node_id: 1,
            epoch: 7,
            incarnation_id: uuid::Uuid::nil(),
            endpoints: vec![Endpoint { name: "PLAINTEXT".into(), host: "127.0.0.1".into(), port }],
            rack: None,
            fenced: false,
            shutting_down: false,
        }
    }

    /// Asks until the probes find the broker dead, for at most `within`.
    async fn verdict(prober: &Prober, b: &BrokerRegistration, seen: Instant, within: Duration) -> bool {
        let interval = Duration::from_millis(20);
        let deadline = Instant::now() + within;
        loop {
            if prober.dead(b, seen, Instant::now(), interval) {
                return true;
            }
            if Instant::now() > deadline {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    #[tokio::test]
    async fn a_closed_port_is_dead_once_a_heartbeat_is_missed() {
        let port = {
            let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
            listener.local_addr().expect("addr").port()
        };
        let b = broker(port);
        let interval = Duration::from_millis(20);
        let prober = Prober::default();
        // Not overdue: no probe, no verdict.
        assert!(!prober.dead(&b, Instant::now(), Instant::now(), interval));
        let seen = Instant::now() - Duration::from_millis(100);
        assert!(verdict(&prober, &b, seen, Duration::from_secs(5)).await, "a refused probe is proof of death");
        // A heartbeat after the probe began outweighs it.
        assert!(!prober.dead(&b, Instant::now(), Instant::now() + Duration::from_millis(40), interval));
    }

    #[tokio::test]
    async fn a_listening_port_is_not_dead() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let b = broker(listener.local_addr().expect("addr").port());
        let seen = Instant::now() - Duration::from_millis(100);
        // Many probes (one per 20 ms interval), none refused.
        assert!(!verdict(&Prober::default(), &b, seen, Duration::from_millis(300)).await);
    }
}
