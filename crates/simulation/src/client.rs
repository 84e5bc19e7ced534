//! The workload, as Jepsen's Kafka workload has it: a producer sends unique values with
//! acks=all to each partition's leader, a consumer reads every partition from the start, and
//! both record what they saw. The client's metadata is the controller's image as of its last
//! refresh (every `METADATA_MAX_AGE_MS`, and after an error), so it also sends to former
//! leaders.

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
const METADATA_MAX_AGE_MS: i64 = 500;

pub(crate) struct Client {
    pub(crate) producing: bool,
    next: u64,
    /// Writes in flight: request id to (partition, value, sent at).
    in_flight: BTreeMap<u64, (i32, String, i64)>,
    /// Per partition: the next offset to read, and when the read in flight was sent.
    positions: Vec<(i64, Option<i64>)>,
    history: History,
    /// Each partition's leader as of the last refresh, and when that was (None: refresh now).
    leaders: Vec<i32>,
    refreshed_at: Option<i64>,
}

impl Client {
    pub(crate) fn new(partitions: i32) -> Client {
        Client {
            producing: true,
            next: 0,
            in_flight: BTreeMap::new(),
            positions: vec![(0, None); partitions as usize],
            history: History::default(),
            leaders: vec![-1; partitions as usize],
            refreshed_at: None,
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
        if self.refreshed_at.is_none_or(|at| now - at >= METADATA_MAX_AGE_MS) {
            self.refreshed_at = Some(now);
            for (p, leader) in self.leaders.iter_mut().enumerate() {
                *leader = image.topic(TOPIC).and_then(|t| t.partition(p as i32)).map_or(-1, |m| m.leader);
            }
        }
        let leaders = self.leaders.clone();
        let leader = |p: i32| Some(leaders[p as usize]).filter(|l| *l >= 0);
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
            Msg::ProduceAnswer { id, result } => match (self.in_flight.remove(&id), result) {
                (Some((partition, value, _)), Ok(offset)) => {
                    self.history.acked.insert(value, (partition, offset));
                }
                _ => self.refreshed_at = None,
            },
            Msg::ReadAnswer { partition, offset, result } => {
                let (position, sent) = &mut self.positions[partition as usize];
                if offset != *position {
                    return;
                }
                *sent = None;
                if result.is_err() {
                    self.refreshed_at = None;
                }
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
