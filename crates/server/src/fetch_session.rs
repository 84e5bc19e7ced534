//! Fetch sessions (KIP-227): a consumer or follower that fetches many partitions sends the
//! whole list once; the broker keeps it, later requests name only the partitions whose
//! position changed (and those to forget), and responses carry only the partitions with
//! news: records, a moved high watermark or log start, an error or a diverging epoch.
//!
//! The cache holds `max.incremental.fetch.session.cache.slots` sessions. When it is full, a
//! new session takes the slot of one idle for two minutes, else a follower's takes a
//! consumer's; otherwise the client is told "no session" and keeps sending full requests.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use kafka_protocol::error::ResponseError;
use uuid::Uuid;

/// A request's session epoch that opens a session, and one that asks for none.
const INITIAL_EPOCH: i32 = 0;
const FINAL_EPOCH: i32 = -1;
/// How long a session must be idle before a new one may take its slot (Kafka's
/// `MIN_INCREMENTAL_FETCH_SESSION_EVICTION_MS`).
const EVICTABLE_AFTER: Duration = Duration::from_secs(120);

/// A partition as a fetch names it: by topic id (Fetch v13+) or by name.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct FetchKey {
    pub topic: String,
    pub topic_id: Uuid,
    pub partition: i32,
}

/// Where a fetch reads a partition from, as the request gave it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FetchPosition {
    pub fetch_offset: i64,
    pub current_leader_epoch: i32,
    pub last_fetched_epoch: i32,
    pub max_bytes: i32,
}

/// What a response said of a partition, as far as the session cares.
#[derive(Debug, Clone, Copy)]
pub struct Answer {
    pub has_records: bool,
    pub high_watermark: i64,
    pub log_start_offset: i64,
    /// An error or a diverging epoch: always sent.
    pub urgent: bool,
}

/// Which session a fetch belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Context {
    /// A full fetch that keeps nothing.
    Sessionless,
    /// A full fetch that opens a session once answered.
    New { uses_ids: bool, follower: bool },
    /// A fetch within session `id`: partitions without news are left out of the answer.
    Incremental { id: i32 },
}

/// A fetch resolved against the cache: every partition it reads, in the session's order.
pub struct Fetch {
    pub context: Context,
    pub partitions: Vec<(FetchKey, FetchPosition)>,
}

/// What the session last told the client of a partition.
struct Cached {
    position: FetchPosition,
    high_watermark: i64,
    log_start_offset: i64,
}

struct Session {
    /// The epoch the next request must carry.
    epoch: i32,
    uses_ids: bool,
    follower: bool,
    /// The fetch order; partitions that returned records move to the back, so a response
    /// filled by the first partitions does not starve the rest.
    order: Vec<FetchKey>,
    partitions: HashMap<FetchKey, Cached>,
    last_used: Instant,
}

struct Cache {
    sessions: HashMap<i32, Session>,
    next_id: i32,
}

pub struct FetchSessions {
    slots: usize,
    cache: Mutex<Cache>,
}

impl FetchSessions {
    pub fn new(slots: usize) -> FetchSessions {
        // Ids start somewhere random, so a client that outlived a broker restart is unlikely
        // to name someone else's session.
        let start = (Uuid::new_v4().as_u128() as i32) & i32::MAX;
        FetchSessions { slots, cache: Mutex::new(Cache { sessions: HashMap::new(), next_id: start }) }
    }

    /// Resolves a request's session fields (Kafka's `FetchManager.newContext`): `requested`
    /// are the partitions it names, `forgotten` those an incremental fetch drops.
    pub fn begin(
        &self,
        session_id: i32,
        epoch: i32,
        uses_ids: bool,
        follower: bool,
        requested: Vec<(FetchKey, FetchPosition)>,
        forgotten: Vec<FetchKey>,
    ) -> Result<Fetch, ResponseError> {
        let mut cache = self.cache.lock().expect("fetch sessions lock");
        if epoch == INITIAL_EPOCH || epoch == FINAL_EPOCH {
            if session_id != 0 {
                cache.sessions.remove(&session_id);
            }
            let context = if epoch == INITIAL_EPOCH && self.slots > 0 {
                Context::New { uses_ids, follower }
            } else {
                Context::Sessionless
            };
            return Ok(Fetch { context, partitions: requested });
        }
        let session = cache.sessions.get_mut(&session_id).ok_or(ResponseError::FetchSessionIdNotFound)?;
        if session.epoch != epoch {
            return Err(ResponseError::InvalidFetchSessionEpoch);
        }
        if session.uses_ids != uses_ids {
            return Err(ResponseError::FetchSessionTopicIdError);
        }
        for (key, position) in requested {
            match session.partitions.get_mut(&key) {
                Some(cached) => cached.position = position,
                None => {
                    // Never answered yet: an impossible high watermark makes the first answer go out.
                    session.order.push(key.clone());
                    session.partitions.insert(key, Cached { position, high_watermark: -2, log_start_offset: -2 });
                }
            }
        }
        for key in &forgotten {
            session.partitions.remove(key);
        }
        if !forgotten.is_empty() {
            session.order.retain(|k| session.partitions.contains_key(k));
        }
        session.epoch = next_epoch(session.epoch);
        session.last_used = Instant::now();
        let partitions = session.order.iter().map(|k| (k.clone(), session.partitions[k].position)).collect();
        Ok(Fetch { context: Context::Incremental { id: session_id }, partitions })
    }

    /// Settles a fetch once its answers are read (in `Fetch::partitions` order): the session id
    /// to send, and which partitions the response carries.
    pub fn finish(&self, fetch: &Fetch, answers: &[Answer]) -> (i32, Vec<bool>) {
        let all = vec![true; answers.len()];
        let mut cache = self.cache.lock().expect("fetch sessions lock");
        match fetch.context {
            Context::Sessionless => (0, all),
            Context::New { uses_ids, follower } => {
                let now = Instant::now();
                if !make_room(&mut cache.sessions, self.slots, follower, now) {
                    return (0, all);
                }
                let mut partitions = HashMap::with_capacity(answers.len());
                for ((key, position), answer) in fetch.partitions.iter().zip(answers) {
                    partitions.insert(key.clone(), cached(*position, answer));
                }
                let order = fetch.partitions.iter().map(|(k, _)| k.clone()).collect();
                let id = cache.new_id();
                let session = Session { epoch: 1, uses_ids, follower, order, partitions, last_used: now };
                cache.sessions.insert(id, session);
                (id, all)
            }
            Context::Incremental { id } => {
                // A session evicted meanwhile: the full answer is still a correct one.
                let Some(session) = cache.sessions.get_mut(&id) else { return (id, all) };
                let mut include = Vec::with_capacity(answers.len());
                let mut rotate = Vec::new();
                for ((key, _), answer) in fetch.partitions.iter().zip(answers) {
                    let Some(c) = session.partitions.get_mut(key) else {
                        include.push(true);
                        continue;
                    };
                    let news = answer.has_records
                        || answer.urgent
                        || answer.high_watermark != c.high_watermark
                        || answer.log_start_offset != c.log_start_offset;
                    *c = cached(c.position, answer);
                    if answer.has_records {
                        rotate.push(key.clone());
                    }
                    include.push(news);
                }
                if !rotate.is_empty() {
                    session.order.retain(|k| !rotate.contains(k));
                    session.order.extend(rotate);
                }
                (id, include)
            }
        }
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.cache.lock().expect("fetch sessions lock").sessions.len()
    }
}

impl Cache {
    fn new_id(&mut self) -> i32 {
        loop {
            self.next_id = self.next_id.checked_add(1).unwrap_or(1);
            if self.next_id > 0 && !self.sessions.contains_key(&self.next_id) {
                return self.next_id;
            }
        }
    }
}

/// What the session remembers of an answer: an error forgets the high watermark, so the
/// partition is sent again once the error is gone.
fn cached(position: FetchPosition, answer: &Answer) -> Cached {
    let high_watermark = if answer.urgent { -2 } else { answer.high_watermark };
    Cached { position, high_watermark, log_start_offset: answer.log_start_offset }
}

/// Frees a slot for a new session if one is needed and may be taken: the least recently used
/// session if it is idle long enough, else, for a follower, the least recently used consumer's.
fn make_room(sessions: &mut HashMap<i32, Session>, slots: usize, follower: bool, now: Instant) -> bool {
    if sessions.len() < slots {
        return true;
    }
    let idle = sessions.iter().min_by_key(|(_, s)| s.last_used).map(|(id, s)| (*id, s.last_used));
    let victim = match idle {
        Some((id, used)) if now.duration_since(used) >= EVICTABLE_AFTER => Some(id),
        _ if follower => {
            sessions.iter().filter(|(_, s)| !s.follower).min_by_key(|(_, s)| s.last_used).map(|(id, _)| *id)
        }
        _ => None,
    };
    victim.map(|id| sessions.remove(&id)).is_some()
}

fn next_epoch(epoch: i32) -> i32 {
    if epoch == i32::MAX { 1 } else { epoch + 1 }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(p: i32) -> FetchKey {
        FetchKey { topic: String::new(), topic_id: Uuid::from_u128(7), partition: p }
    }

    fn at(offset: i64) -> FetchPosition {
        FetchPosition { fetch_offset: offset, current_leader_epoch: 0, last_fetched_epoch: -1, max_bytes: 1024 }
    }

    fn quiet(hw: i64) -> Answer {
        Answer { has_records: false, high_watermark: hw, log_start_offset: 0, urgent: false }
    }

    /// Opens a session over partitions 0..n, all answered with high watermark 10.
    fn open(sessions: &FetchSessions, n: i32, follower: bool) -> i32 {
        let requested = (0..n).map(|p| (key(p), at(0))).collect();
        let fetch = sessions.begin(0, INITIAL_EPOCH, true, follower, requested, vec![]).unwrap();
        assert_eq!(fetch.context, Context::New { uses_ids: true, follower });
        let (id, include) = sessions.finish(&fetch, &vec![quiet(10); n as usize]);
        assert!(include.iter().all(|i| *i));
        id
    }

    #[test]
    fn an_incremental_fetch_reads_the_whole_session_and_answers_only_news() {
        let sessions = FetchSessions::new(10);
        let id = open(&sessions, 3, false);
        assert!(id > 0);
        // Only partition 1 moved; all three are read, at the positions the session remembers.
        let fetch = sessions.begin(id, 1, true, false, vec![(key(1), at(5))], vec![]).unwrap();
        let read: Vec<_> = fetch.partitions.iter().map(|(k, p)| (k.partition, p.fetch_offset)).collect();
        assert_eq!(read, vec![(0, 0), (1, 5), (2, 0)]);
        let answers =
            [quiet(10), Answer { has_records: true, ..quiet(10) }, Answer { high_watermark: 11, ..quiet(10) }];
        let (same, include) = sessions.finish(&fetch, &answers);
        assert_eq!((same, include), (id, vec![false, true, true]));
        // Partition 1 returned records, so it is read last from now on; 2's new mark is known.
        let fetch = sessions.begin(id, 2, true, false, vec![], vec![key(0)]).unwrap();
        let order: Vec<_> = fetch.partitions.iter().map(|(k, _)| k.partition).collect();
        assert_eq!(order, vec![2, 1]);
        assert_eq!(sessions.finish(&fetch, &[quiet(11), quiet(10)]).1, vec![false, false]);
    }

    #[test]
    fn errors_are_always_answered_and_answered_again_once_gone() {
        let sessions = FetchSessions::new(10);
        let id = open(&sessions, 1, true);
        let fetch = sessions.begin(id, 1, true, true, vec![], vec![]).unwrap();
        let failed = Answer { urgent: true, high_watermark: -1, ..quiet(10) };
        assert_eq!(sessions.finish(&fetch, &[failed]).1, vec![true]);
        let fetch = sessions.begin(id, 2, true, true, vec![], vec![]).unwrap();
        assert_eq!(sessions.finish(&fetch, &[quiet(10)]).1, vec![true]);
    }

    #[test]
    fn a_wrong_epoch_or_id_or_topic_naming_is_refused() {
        let sessions = FetchSessions::new(10);
        let id = open(&sessions, 1, false);
        let refused = |id, epoch, ids| sessions.begin(id, epoch, ids, false, vec![], vec![]).err();
        assert_eq!(refused(id, 5, true), Some(ResponseError::InvalidFetchSessionEpoch));
        assert_eq!(refused(id + 1, 1, true), Some(ResponseError::FetchSessionIdNotFound));
        assert_eq!(refused(id, 1, false), Some(ResponseError::FetchSessionTopicIdError));
        // The final epoch closes it.
        let fetch = sessions.begin(id, FINAL_EPOCH, true, false, vec![], vec![]).unwrap();
        assert_eq!(fetch.context, Context::Sessionless);
        assert_eq!(refused(id, 1, true), Some(ResponseError::FetchSessionIdNotFound));
    }

    #[test]
    fn a_full_cache_gives_no_session_but_a_follower_takes_a_consumers_slot() {
        let sessions = FetchSessions::new(1);
        let consumer = open(&sessions, 1, false);
        assert!(consumer > 0);
        let requested = vec![(key(0), at(0))];
        let fetch = sessions.begin(0, INITIAL_EPOCH, true, false, requested.clone(), vec![]).unwrap();
        assert_eq!(sessions.finish(&fetch, &[quiet(10)]).0, 0, "another consumer gets no session");
        let follower = open(&sessions, 1, true);
        assert!(follower > 0 && follower != consumer);
        assert_eq!(sessions.len(), 1);
        let gone = sessions.begin(consumer, 1, true, false, vec![], vec![]).err();
        assert_eq!(gone, Some(ResponseError::FetchSessionIdNotFound));
    }

    #[test]
    fn no_slots_means_no_sessions() {
        let sessions = FetchSessions::new(0);
        let fetch = sessions.begin(0, INITIAL_EPOCH, true, true, vec![(key(0), at(0))], vec![]).unwrap();
        assert_eq!(fetch.context, Context::Sessionless);
        assert_eq!(sessions.finish(&fetch, &[quiet(1)]).0, 0);
    }
}
