//! A follower's half of a fetch session (KIP-227), as Kafka's `FetchSessionHandler`: the
//! first fetch names every partition and opens a session; each later one names only the
//! partitions whose position changed or that joined, and forgets those that left, so a
//! follower of thousands of partitions sends small requests while it is caught up.

use std::collections::{HashMap, HashSet};

/// A partition as the session tracks it: (topic id, partition).
pub type Key = (uuid::Uuid, i32);

/// What a fetch tells the leader about a partition; a change is sent again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Position {
    pub fetch_offset: i64,
    pub leader_epoch: i32,
    pub last_fetched_epoch: i32,
    pub log_start_offset: i64,
}

/// The session with one leader.
#[derive(Debug, Default)]
pub struct Session {
    /// 0 while there is none.
    id: i32,
    /// The next request's epoch: 0 opens a session.
    epoch: i32,
    /// What the leader holds for each partition in the session.
    sent: HashMap<Key, Position>,
}

/// The next request's session fields and contents.
#[derive(Debug, PartialEq, Eq)]
pub struct Next {
    pub session_id: i32,
    pub epoch: i32,
    /// For each wanted partition, in order, whether the request names it.
    pub send: Vec<bool>,
    pub forget: Vec<Key>,
}

impl Session {
    /// The request for `wanted` (every partition to fetch now, with its position).
    pub fn next(&self, wanted: &[(Key, Position)]) -> Next {
        if self.id == 0 || self.epoch == 0 {
            return Next { session_id: 0, epoch: 0, send: vec![true; wanted.len()], forget: Vec::new() };
        }
        let send = wanted.iter().map(|(k, p)| self.sent.get(k) != Some(p)).collect();
        let keys: HashSet<&Key> = wanted.iter().map(|(k, _)| k).collect();
        let forget = self.sent.keys().filter(|k| !keys.contains(k)).copied().collect();
        Next { session_id: self.id, epoch: self.epoch, send, forget }
    }

    /// The leader answered `next` without a top-level error, with `session_id`.
    pub fn answered(&mut self, next: &Next, wanted: &[(Key, Position)], session_id: i32) {
        if session_id == 0 || (next.session_id != 0 && session_id != next.session_id) {
            *self = Session::default();
            return;
        }
        self.id = session_id;
        self.epoch = if self.epoch == i32::MAX || next.epoch == 0 { 1 } else { self.epoch + 1 };
        self.sent = wanted.iter().copied().collect();
    }

    /// The fetch failed (an error, a lost connection): the next one starts a new session.
    pub fn reset(&mut self) {
        *self = Session::default();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(p: i32, offset: i64) -> (Key, Position) {
        let position = Position { fetch_offset: offset, leader_epoch: 1, last_fetched_epoch: 1, log_start_offset: 0 };
        ((uuid::Uuid::from_u128(1), p), position)
    }

    #[test]
    fn after_the_first_fetch_only_changes_are_sent() {
        let mut session = Session::default();
        let wanted = vec![at(0, 0), at(1, 0), at(2, 0)];
        let first = session.next(&wanted);
        assert_eq!((first.session_id, first.epoch, first.send.clone()), (0, 0, vec![true; 3]));
        session.answered(&first, &wanted, 42);

        let wanted = vec![at(0, 0), at(1, 7)];
        let second = session.next(&wanted);
        assert_eq!(second, Next { session_id: 42, epoch: 1, send: vec![false, true], forget: vec![at(2, 0).0] });
        session.answered(&second, &wanted, 42);
        let third = session.next(&wanted);
        assert_eq!((third.epoch, third.send, third.forget), (2, vec![false, false], vec![]));
    }

    #[test]
    fn no_session_or_a_failure_means_full_fetches() {
        let mut session = Session::default();
        let wanted = vec![at(0, 0)];
        let first = session.next(&wanted);
        session.answered(&first, &wanted, 0);
        assert_eq!(session.next(&wanted).session_id, 0, "the leader keeps no session");
        session.answered(&first, &wanted, 9);
        session.reset();
        assert_eq!(session.next(&wanted), Next { session_id: 0, epoch: 0, send: vec![true], forget: vec![] });
    }
}
