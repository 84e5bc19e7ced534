//! Share sessions: what a member's ShareFetch requests cover, so each request names only what
//! changed. Epoch 0 opens a session (replacing one the member had), -1 closes it, and every
//! other request must carry the epoch the last one left (then one more, wrapping to 1), as
//! Kafka's share session cache checks.

use std::collections::{BTreeSet, HashMap};

use kafka_protocol::error::ResponseError;
use uuid::Uuid;

const OPEN: i32 = 0;
const CLOSE: i32 = -1;

/// One ShareFetch's session part: the partitions it adds and forgets.
pub struct SessionRequest {
    pub group: String,
    pub member: String,
    pub epoch: i32,
    pub added: Vec<(Uuid, i32)>,
    pub forgotten: Vec<(Uuid, i32)>,
}

#[derive(Default)]
pub(super) struct Sessions(HashMap<(String, String), Session>);

struct Session {
    /// The epoch the next request must carry.
    epoch: i32,
    partitions: BTreeSet<(Uuid, i32)>,
}

fn next(epoch: i32) -> i32 {
    if epoch == i32::MAX { 1 } else { epoch + 1 }
}

impl Sessions {
    /// A ShareFetch: the session's partitions after it, and whether it closed the session, or
    /// Kafka's session error.
    pub(super) fn fetch(&mut self, request: SessionRequest) -> Result<(Vec<(Uuid, i32)>, bool), ResponseError> {
        let key = (request.group, request.member);
        match request.epoch {
            OPEN => {
                let partitions: BTreeSet<(Uuid, i32)> = request.added.into_iter().collect();
                let list = partitions.iter().copied().collect();
                self.0.insert(key, Session { epoch: next(OPEN), partitions });
                Ok((list, false))
            }
            CLOSE => self.close(&key),
            epoch => {
                let session = self.0.get_mut(&key).ok_or(ResponseError::ShareSessionNotFound)?;
                if epoch != session.epoch {
                    return Err(ResponseError::InvalidShareSessionEpoch);
                }
                session.epoch = next(epoch);
                session.partitions.extend(request.added);
                for gone in &request.forgotten {
                    session.partitions.remove(gone);
                }
                Ok((session.partitions.iter().copied().collect(), false))
            }
        }
    }

    /// A ShareAcknowledge: as `fetch`, but it cannot open a session and adds no partitions.
    pub(super) fn acknowledge(
        &mut self,
        group: &str,
        member: &str,
        epoch: i32,
    ) -> Result<(Vec<(Uuid, i32)>, bool), ResponseError> {
        let key = (group.to_string(), member.to_string());
        match epoch {
            OPEN => Err(ResponseError::InvalidShareSessionEpoch),
            CLOSE => self.close(&key),
            epoch => {
                let session = self.0.get_mut(&key).ok_or(ResponseError::ShareSessionNotFound)?;
                if epoch != session.epoch {
                    return Err(ResponseError::InvalidShareSessionEpoch);
                }
                session.epoch = next(epoch);
                Ok((session.partitions.iter().copied().collect(), false))
            }
        }
    }

    /// Closes a session, returning the partitions it covered (their records held by the
    /// member are released).
    fn close(&mut self, key: &(String, String)) -> Result<(Vec<(Uuid, i32)>, bool), ResponseError> {
        let session = self.0.remove(key).ok_or(ResponseError::ShareSessionNotFound)?;
        Ok((session.partitions.into_iter().collect(), true))
    }

    /// Whether any member of the group has a session here.
    fn group_active(&self, group: &str) -> bool {
        self.0.keys().any(|(g, _)| g == group)
    }

    /// Drops the sessions of a member that left its group.
    pub(super) fn remove_member(&mut self, group: &str, member: &str) {
        self.0.remove(&(group.to_string(), member.to_string()));
    }
}

impl super::Shares {
    /// Moves a member's share session for a ShareFetch (see `Sessions::fetch`).
    ///
    /// The first session of a group here drops the group's idle share-partitions (nothing
    /// acquired, nothing unwritten), so they are read again from the share coordinator: while
    /// the group had no member, its offsets may have been altered or deleted.
    pub fn fetch_session(&self, request: SessionRequest) -> Result<(Vec<(Uuid, i32)>, bool), ResponseError> {
        let mut inner = self.lock();
        let inner = &mut *inner;
        if request.epoch == OPEN && !inner.sessions.group_active(&request.group) {
            let (group, dirty) = (&request.group, &inner.dirty);
            inner.held.retain(|k, h| &k.group != group || h.partition.acquired_count() > 0 || dirty.contains(k));
        }
        inner.sessions.fetch(request)
    }

    /// Moves a member's share session for a ShareAcknowledge (see `Sessions::acknowledge`).
    pub fn acknowledge_session(
        &self,
        group: &str,
        member: &str,
        epoch: i32,
    ) -> Result<(Vec<(Uuid, i32)>, bool), ResponseError> {
        self.lock().sessions.acknowledge(group, member, epoch)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(epoch: i32, added: &[i32], forgotten: &[i32]) -> SessionRequest {
        let t = Uuid::from_u128(1);
        SessionRequest {
            group: "g".into(),
            member: "m".into(),
            epoch,
            added: added.iter().map(|&p| (t, p)).collect(),
            forgotten: forgotten.iter().map(|&p| (t, p)).collect(),
        }
    }

    #[test]
    fn epochs_follow_kafkas_share_session_rules() {
        let mut s = Sessions::default();
        assert_eq!(s.fetch(request(1, &[], &[])), Err(ResponseError::ShareSessionNotFound));
        assert_eq!(s.fetch(request(0, &[0, 1], &[])).unwrap().0.len(), 2);
        assert_eq!(s.fetch(request(2, &[], &[])), Err(ResponseError::InvalidShareSessionEpoch));
        assert_eq!(s.fetch(request(1, &[2], &[0])).unwrap().0.iter().map(|p| p.1).collect::<Vec<_>>(), vec![1, 2]);
        assert_eq!(s.acknowledge("g", "m", 0), Err(ResponseError::InvalidShareSessionEpoch));
        assert!(!s.acknowledge("g", "m", 2).unwrap().1);
        assert_eq!(s.fetch(request(3, &[], &[])).unwrap().0.len(), 2);
        let (released, closed) = s.acknowledge("g", "m", -1).unwrap();
        assert!(closed && released.len() == 2);
        assert_eq!(s.acknowledge("g", "m", -1), Err(ResponseError::ShareSessionNotFound));
    }
}
