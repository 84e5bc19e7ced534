//! The workload, as Jepsen's Kafka workload has it: a producer sends unique values with
//! acks=all to each partition's leader, a consumer reads every partition from the start, and
//! both record what they saw. The client's metadata is the controller's latest (a client that
//! refreshes well); stale leaders are still met, through messages in flight and paused
//! brokers.

use std::collections::BTreeMap;

use brook_controller::MetadataImage;

use crate::checker::History;
use crate::controller::TOPIC;
use crate::world::{Msg, Out, Timer};

const PRODUCE_EVERY_MS: i64 = 4;
const IN_FLIGHT: usize = 16;
/// A write unanswered this long is indeterminate: it may or may not be in the log.
const PRODUCE_TIMEOUT_MS: i64 = 5_000;
const POLL_EVERY_MS: i64 = 20;
const READ_TIMEOUT_MS: i64 = 2_000;

pub(crate) struct Client {
    pub(crate) producing: bool,
    next: u64,
    /// Writes in flight: request id to (partition, value, sent at).
    in_flight: BTreeMap<u64, (i32, String, i64)>,
    /// Per partition: the next offset to read, and when the read in flight was sent.
    positions: Vec<(i64, Option<i64>)>,
    history: History,
}

impl Client {
    pub(crate) fn new(partitions: i32) -> Client {
        Client {
            producing: true,
            next: 0,
            in_flight: BTreeMap::new(),
            positions: vec![(0, None); partitions as usize],
            history: History::default(),
        }
    }

    pub(crate) fn history(&self) -> &History {
        &self.history
    }

    /// The next offset the consumer reads in `partition`.
    pub(crate) fn position(&self, partition: i32) -> i64 {
        self.positions[partition as usize].0
    }

    pub(crate) fn timer(&mut self, timer: Timer, image: &MetadataImage, now: i64, out: &mut Out) {
        let leader = |p: i32| image.topic(TOPIC).and_then(|t| t.partition(p)).map(|m| m.leader).filter(|l| *l >= 0);
        match timer {
            Timer::Produce => {
                self.in_flight.retain(|_, (_, _, sent)| now - *sent < PRODUCE_TIMEOUT_MS);
                if self.producing && self.in_flight.len() < IN_FLIGHT {
                    let partition = (self.next % self.positions.len() as u64) as i32;
                    if let Some(to) = leader(partition) {
                        let (id, value) = (self.next, format!("v{}", self.next));
                        self.next += 1;
                        self.history.sent.insert(value.clone(), partition);
                        self.in_flight.insert(id, (partition, value.clone(), now));
                        out.send(to, Msg::Produce { id, partition, value });
                    }
                }
                out.timer(PRODUCE_EVERY_MS, Timer::Produce);
            }
            Timer::Poll => {
                for (p, (offset, sent)) in self.positions.iter_mut().enumerate() {
                    if sent.is_some_and(|at| now - at < READ_TIMEOUT_MS) {
                        continue;
                    }
                    if let Some(to) = leader(p as i32) {
                        *sent = Some(now);
                        out.send(to, Msg::Read { partition: p as i32, offset: *offset });
                    }
                }
                out.timer(POLL_EVERY_MS, Timer::Poll);
            }
            other => unreachable!("the client got timer {other:?}"),
        }
    }

    pub(crate) fn receive(&mut self, msg: Msg, _now: i64, _out: &mut Out) {
        match msg {
            Msg::ProduceAnswer { id, result } => {
                if let (Some((partition, value, _)), Ok(offset)) = (self.in_flight.remove(&id), result) {
                    self.history.acked.insert(value, (partition, offset));
                }
            }
            Msg::ReadAnswer { partition, offset, result } => {
                let (position, sent) = &mut self.positions[partition as usize];
                if offset != *position {
                    return;
                }
                *sent = None;
                for (at, value) in result.unwrap_or_default() {
                    if at != *position {
                        self.history.anomalies.push(format!(
                            "partition {partition}: the consumer expected offset {position} and got {at} ({value})"
                        ));
                    }
                    self.history.reads.push((partition, at, value));
                    *position = at + 1;
                }
            }
            other => unreachable!("the client got {other:?}"),
        }
    }
}
