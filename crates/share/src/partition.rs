//! One share-partition: the records of a topic partition as one share group consumes them.
//!
//! Every offset below the share-partition start offset (SPSO) is done with (acknowledged or
//! archived). From the SPSO to the end of the window each offset has a state: available (to be
//! delivered, again), acquired by one member until its lock expires, acknowledged, or
//! archived (rejected, a gap, or delivered `delivery_count_limit` times). Offsets past the
//! window have never been delivered. The window is at most `max_record_locks` long, as Kafka's
//! `group.share.partition.max.record.locks` bounds it, so memory per partition is bounded.
//!
//! Kafka's rules (its `SharePartition`): an acknowledgement names offsets this member holds;
//! offsets below the SPSO are skipped, offsets past the window are an invalid request, offsets
//! in it that the member does not hold are an invalid record state, and an acknowledgement
//! that fails changes nothing. Locks expire lazily: every operation first releases the locks
//! that ran out, so the outcome is the same as with a timer.

use std::collections::VecDeque;
use std::sync::Arc;

/// A record's delivery state, with the ids Kafka persists.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeliveryState {
    Available,
    Acquired,
    Acknowledged,
    Archived,
}

impl DeliveryState {
    pub fn id(self) -> i8 {
        match self {
            DeliveryState::Available => 0,
            DeliveryState::Acquired => 1,
            DeliveryState::Acknowledged => 2,
            DeliveryState::Archived => 4,
        }
    }

    pub fn from_id(id: i8) -> Option<DeliveryState> {
        Some(match id {
            0 => DeliveryState::Available,
            1 => DeliveryState::Acquired,
            2 => DeliveryState::Acknowledged,
            4 => DeliveryState::Archived,
            _ => return None,
        })
    }

    /// Delivered for good: acknowledged or archived.
    pub fn done(self) -> bool {
        matches!(self, DeliveryState::Acknowledged | DeliveryState::Archived)
    }
}

/// The group settings a share-partition obeys (Kafka's `group.share.*` keys).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// `group.share.record.lock.duration.ms`: how long a member holds what it acquired.
    pub lock_duration_ms: i64,
    /// `group.share.delivery.count.limit`: deliveries after which a released record is archived.
    pub delivery_count_limit: i16,
    /// `group.share.partition.max.record.locks`: the longest window of tracked offsets.
    pub max_record_locks: usize,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits { lock_duration_ms: 30_000, delivery_count_limit: 5, max_record_locks: 2000 }
    }
}

/// A run of consecutive offsets acquired by one fetch, as ShareFetch reports them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Acquired {
    pub first: i64,
    pub last: i64,
    pub delivery_count: i16,
}

/// One acknowledgement batch: one type for the whole range, or one per offset. Types are
/// Kafka's: 0 gap, 1 accept, 2 release, 3 reject, 4 renew.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ack {
    pub first: i64,
    pub last: i64,
    pub types: Vec<i8>,
}

/// Why an acknowledgement was refused, as Kafka's error codes name it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AckError {
    /// INVALID_REQUEST: malformed, or offsets past anything delivered.
    InvalidRequest(String),
    /// INVALID_RECORD_STATE: offsets this member does not hold (not delivered to it, or its
    /// lock expired).
    InvalidRecordState(String),
}

/// A run of offsets with one state, as `__share_group_state` keeps them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StateBatch {
    pub first: i64,
    pub last: i64,
    pub state: DeliveryState,
    pub delivery_count: i16,
}

impl StateBatch {
    /// A batch as the state APIs carry it; None for a delivery state Kafka does not define.
    pub fn from_wire(first: i64, last: i64, state: i8, delivery_count: i16) -> Option<StateBatch> {
        Some(StateBatch { first, last, state: DeliveryState::from_id(state)?, delivery_count })
    }
}

/// The most offsets a persisted state may bring back: the window is far shorter unless the
/// state is damaged, and then what lies beyond is delivered again rather than held in memory.
const MAX_RESTORED: usize = 1 << 20;

#[derive(Debug, Clone)]
struct Slot {
    state: DeliveryState,
    delivery_count: i16,
    /// The member holding the record, while acquired.
    owner: Option<Arc<str>>,
    lock_until_ms: i64,
}

impl Slot {
    fn fresh() -> Slot {
        Slot { state: DeliveryState::Available, delivery_count: 0, owner: None, lock_until_ms: 0 }
    }

    fn held_by(&self, member: &str) -> bool {
        self.state == DeliveryState::Acquired && self.owner.as_deref() == Some(member)
    }

    /// Gives the record back: available again, or archived once delivered often enough.
    fn release(&mut self, limit: i16) {
        self.state = if self.delivery_count >= limit { DeliveryState::Archived } else { DeliveryState::Available };
        self.owner = None;
    }
}

#[derive(Debug, Clone)]
pub struct SharePartition {
    start: i64,
    window: VecDeque<Slot>,
    limits: Limits,
}

impl SharePartition {
    /// A share-partition that starts at `start` (from `share.auto.offset.reset`, or an
    /// offset reset) with nothing delivered.
    pub fn new(start: i64, limits: Limits) -> SharePartition {
        SharePartition { start, window: VecDeque::new(), limits }
    }

    /// A share-partition as it was persisted. Acquired records come back available: locks do
    /// not outlive the broker that granted them.
    pub fn restore(start: i64, batches: &[StateBatch], limits: Limits) -> SharePartition {
        let mut partition = SharePartition::new(start, limits);
        for b in batches.iter().filter(|b| b.last >= start) {
            // Offsets between persisted batches were never delivered.
            while partition.end() < b.first && partition.window.len() < MAX_RESTORED {
                partition.window.push_back(Slot::fresh());
            }
            let state = if b.state == DeliveryState::Acquired { DeliveryState::Available } else { b.state };
            while partition.end() <= b.last && partition.window.len() < MAX_RESTORED {
                partition.window.push_back(Slot {
                    state,
                    delivery_count: b.delivery_count,
                    owner: None,
                    lock_until_ms: 0,
                });
            }
        }
        partition.advance();
        partition
    }

    pub fn limits(&self) -> Limits {
        self.limits
    }

    pub fn set_limits(&mut self, limits: Limits) {
        self.limits = limits;
    }

    /// The share-partition start offset.
    pub fn start_offset(&self) -> i64 {
        self.start
    }

    /// The offset after the last one ever handed out.
    pub fn end(&self) -> i64 {
        self.start + self.window.len() as i64
    }

    /// Where the next fetch should read from: the first offset that may be delivered.
    pub fn next_fetch_offset(&self, now_ms: i64) -> i64 {
        let limit = self.limits.delivery_count_limit;
        let redeliverable = |s: &Slot| {
            s.state == DeliveryState::Available
                || (s.state == DeliveryState::Acquired && s.lock_until_ms <= now_ms && s.delivery_count < limit)
        };
        match self.window.iter().position(redeliverable) {
            Some(i) => self.start + i as i64,
            None => self.end(),
        }
    }

    /// Records in flight: acquired and not yet acknowledged.
    pub fn acquired_count(&self) -> usize {
        self.window.iter().filter(|s| s.state == DeliveryState::Acquired).count()
    }

    /// Releases the locks that ran out by `now_ms`. Returns whether anything changed.
    pub fn expire_locks(&mut self, now_ms: i64) -> bool {
        let limit = self.limits.delivery_count_limit;
        let mut changed = false;
        for slot in self.window.iter_mut() {
            if slot.state == DeliveryState::Acquired && slot.lock_until_ms <= now_ms {
                slot.release(limit);
                changed = true;
            }
        }
        if changed {
            self.advance();
        }
        changed
    }

    /// The earliest lock deadline, for a timer that releases expired records.
    pub fn next_lock_expiry(&self) -> Option<i64> {
        self.window.iter().filter(|s| s.state == DeliveryState::Acquired).map(|s| s.lock_until_ms).min()
    }

    /// Acquires for `member` up to `max_records` records below `readable_end` (the end of
    /// the records the caller read for it): records to deliver again first, then new ones,
    /// while the window has room.
    pub fn acquire(&mut self, member: &str, now_ms: i64, readable_end: i64, max_records: usize) -> Vec<Acquired> {
        self.expire_locks(now_ms);
        let owner: Arc<str> = Arc::from(member);
        let lock_until_ms = now_ms.saturating_add(self.limits.lock_duration_ms);
        let mut taken: Vec<(i64, i16)> = Vec::new();
        for (i, slot) in self.window.iter_mut().enumerate() {
            let offset = self.start + i as i64;
            if taken.len() >= max_records || offset >= readable_end {
                break;
            }
            if slot.state == DeliveryState::Available {
                slot.state = DeliveryState::Acquired;
                slot.delivery_count = slot.delivery_count.saturating_add(1);
                slot.owner = Some(owner.clone());
                slot.lock_until_ms = lock_until_ms;
                taken.push((offset, slot.delivery_count));
            }
        }
        while taken.len() < max_records && self.end() < readable_end && self.window.len() < self.limits.max_record_locks
        {
            taken.push((self.end(), 1));
            self.window.push_back(Slot {
                state: DeliveryState::Acquired,
                delivery_count: 1,
                owner: Some(owner.clone()),
                lock_until_ms,
            });
        }
        let mut runs: Vec<Acquired> = Vec::new();
        for (offset, count) in taken {
            match runs.last_mut() {
                Some(run) if run.last + 1 == offset && run.delivery_count == count => run.last = offset,
                _ => runs.push(Acquired { first: offset, last: offset, delivery_count: count }),
            }
        }
        runs
    }

    /// Archives what `member` just acquired inside `aborted` (offset ranges of batches whose
    /// transaction aborted, for a group reading committed records only) and returns the rest
    /// of `acquired`: those records are never delivered, as Kafka archives them at acquisition.
    pub fn archive_aborted(&mut self, member: &str, aborted: &[(i64, i64)], acquired: Vec<Acquired>) -> Vec<Acquired> {
        let inside = |offset: i64| aborted.iter().any(|&(first, last)| (first..=last).contains(&offset));
        let mut kept: Vec<Acquired> = Vec::new();
        for run in acquired {
            for offset in run.first..=run.last {
                let slot = usize::try_from(offset - self.start).ok().and_then(|i| self.window.get_mut(i));
                match slot {
                    Some(slot) if inside(offset) && slot.held_by(member) => {
                        slot.state = DeliveryState::Archived;
                        slot.owner = None;
                    }
                    _ => match kept.last_mut() {
                        Some(k) if k.last + 1 == offset && k.delivery_count == run.delivery_count => k.last = offset,
                        _ => kept.push(Acquired { first: offset, last: offset, delivery_count: run.delivery_count }),
                    },
                }
            }
        }
        self.advance();
        kept
    }

    /// Applies `member`'s acknowledgements, all or none. Returns whether the persisted state
    /// changed (a renewal alone changes only a lock).
    pub fn acknowledge(&mut self, member: &str, now_ms: i64, acks: &[Ack]) -> Result<bool, AckError> {
        self.expire_locks(now_ms);
        for ack in acks {
            self.check(member, ack)?;
        }
        let limit = self.limits.delivery_count_limit;
        let lock_until_ms = now_ms.saturating_add(self.limits.lock_duration_ms);
        let mut changed = false;
        for ack in acks {
            for offset in ack.first.max(self.start)..=ack.last {
                let kind = if ack.types.len() == 1 { ack.types[0] } else { ack.types[(offset - ack.first) as usize] };
                let slot = &mut self.window[(offset - self.start) as usize];
                match kind {
                    0 | 3 => {
                        slot.state = DeliveryState::Archived;
                        slot.owner = None;
                    }
                    1 => {
                        slot.state = DeliveryState::Acknowledged;
                        slot.owner = None;
                    }
                    2 => slot.release(limit),
                    _ => {
                        slot.lock_until_ms = lock_until_ms;
                        continue;
                    }
                }
                changed = true;
            }
        }
        self.advance();
        Ok(changed)
    }

    fn check(&self, member: &str, ack: &Ack) -> Result<(), AckError> {
        let span = ack.last.checked_sub(ack.first).and_then(|d| d.checked_add(1)).unwrap_or(0);
        if ack.first < 0 || span <= 0 {
            return Err(AckError::InvalidRequest(format!("invalid acknowledgement range {}-{}", ack.first, ack.last)));
        }
        if !(ack.types.len() == 1 || ack.types.len() as i64 == span) {
            return Err(AckError::InvalidRequest(format!("{} acknowledge types for {span} offsets", ack.types.len())));
        }
        if let Some(t) = ack.types.iter().find(|t| !(0..=4).contains(*t)) {
            return Err(AckError::InvalidRequest(format!("invalid acknowledge type {t}")));
        }
        if ack.last < self.start {
            return Ok(());
        }
        if ack.last >= self.end() {
            return Err(AckError::InvalidRequest(format!(
                "offsets up to {} were acknowledged but only up to {} were delivered",
                ack.last,
                self.end() - 1
            )));
        }
        let from = (ack.first.max(self.start) - self.start) as usize;
        let to = (ack.last - self.start) as usize;
        if !self.window.range(from..=to).all(|s| s.held_by(member)) {
            return Err(AckError::InvalidRecordState(
                "the records are not acquired by this member (never delivered to it, already acknowledged, or their lock expired)"
                    .into(),
            ));
        }
        Ok(())
    }

    /// Gives back everything `member` holds (it left, or closed its share session).
    pub fn release_member(&mut self, member: &str) -> bool {
        let limit = self.limits.delivery_count_limit;
        let mut changed = false;
        for slot in self.window.iter_mut().filter(|s| s.held_by(member)) {
            slot.release(limit);
            changed = true;
        }
        if changed {
            self.advance();
        }
        changed
    }

    /// Archives everything below `log_start` (retention or DeleteRecords removed it).
    pub fn archive_below(&mut self, log_start: i64) -> bool {
        if log_start <= self.start {
            return false;
        }
        let drop = ((log_start - self.start) as usize).min(self.window.len());
        self.window.drain(..drop);
        self.start = log_start;
        self.advance();
        true
    }

    /// Moves the start offset past the finished records at the front of the window.
    fn advance(&mut self) {
        while self.window.front().is_some_and(|s| s.state.done()) {
            self.window.pop_front();
            self.start += 1;
        }
    }

    /// The window as runs of one state and delivery count, for `__share_group_state`. Offsets
    /// never delivered are left out; acquired ones are persisted as available (with their
    /// delivery count), since locks are not persisted.
    pub fn state_batches(&self) -> Vec<StateBatch> {
        let mut runs: Vec<StateBatch> = Vec::new();
        for (i, slot) in self.window.iter().enumerate() {
            if slot.state == DeliveryState::Available && slot.delivery_count == 0 {
                continue;
            }
            let offset = self.start + i as i64;
            let state = if slot.state == DeliveryState::Acquired { DeliveryState::Available } else { slot.state };
            match runs.last_mut() {
                Some(r) if r.last + 1 == offset && r.state == state && r.delivery_count == slot.delivery_count => {
                    r.last = offset
                }
                _ => runs.push(StateBatch { first: offset, last: offset, state, delivery_count: slot.delivery_count }),
            }
        }
        runs
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: &str = "member-a";
    const B: &str = "member-b";

    fn limits() -> Limits {
        Limits { lock_duration_ms: 1000, delivery_count_limit: 3, max_record_locks: 100 }
    }

    fn ack(first: i64, last: i64, types: &[i8]) -> Ack {
        Ack { first, last, types: types.to_vec() }
    }

    fn run(first: i64, last: i64, delivery_count: i16) -> Acquired {
        Acquired { first, last, delivery_count }
    }

    #[test]
    fn members_share_a_partition_and_accepted_records_move_the_start() {
        let mut p = SharePartition::new(0, limits());
        assert_eq!(p.acquire(A, 0, 10, 4), vec![run(0, 3, 1)]);
        assert_eq!(p.acquire(B, 0, 10, 4), vec![run(4, 7, 1)]);
        assert_eq!(p.acknowledge(B, 1, &[ack(4, 7, &[1])]), Ok(true));
        assert_eq!(p.start_offset(), 0, "offsets 0-3 are still held by A");
        assert_eq!(p.acknowledge(A, 1, &[ack(0, 3, &[1])]), Ok(true));
        assert_eq!(p.start_offset(), 8);
        assert_eq!(p.acquire(A, 2, 10, 10), vec![run(8, 9, 1)]);
    }

    #[test]
    fn released_records_go_to_the_next_fetch_with_a_higher_delivery_count() {
        let mut p = SharePartition::new(0, limits());
        p.acquire(A, 0, 5, 5);
        // Per offset: accept 0, release 1-2, reject 3, accept 4.
        assert_eq!(p.acknowledge(A, 1, &[ack(0, 4, &[1, 2, 2, 3, 1])]), Ok(true));
        assert_eq!(p.start_offset(), 1);
        assert_eq!(p.next_fetch_offset(1), 1);
        assert_eq!(p.acquire(B, 2, 5, 10), vec![run(1, 2, 2)]);
        assert_eq!(p.acknowledge(B, 3, &[ack(1, 2, &[1])]), Ok(true));
        assert_eq!(p.start_offset(), 5, "3 was rejected: archived, never delivered again");
    }

    #[test]
    fn an_expired_lock_redelivers_and_the_late_acknowledgement_is_refused() {
        let mut p = SharePartition::new(0, limits());
        p.acquire(A, 0, 3, 3);
        assert_eq!(p.next_lock_expiry(), Some(1000));
        assert_eq!(p.acquire(B, 999, 3, 3), vec![], "still locked");
        assert_eq!(p.acquire(B, 1000, 3, 3), vec![run(0, 2, 2)]);
        let late = p.acknowledge(A, 1001, &[ack(0, 2, &[1])]);
        assert!(matches!(late, Err(AckError::InvalidRecordState(_))), "{late:?}");
        assert_eq!(p.acknowledge(B, 1001, &[ack(0, 2, &[1])]), Ok(true));
        assert_eq!(p.start_offset(), 3);
    }

    #[test]
    fn records_past_the_delivery_limit_are_archived() {
        let mut p = SharePartition::new(0, limits());
        for (now, count) in [(0, 1), (1000, 2), (2000, 3)] {
            assert_eq!(p.acquire(A, now, 1, 1), vec![run(0, 0, count)]);
        }
        // The third lock runs out: delivered three times, so archived rather than offered again.
        assert_eq!(p.acquire(A, 3000, 1, 1), vec![]);
        assert_eq!(p.start_offset(), 1);
        // A release at the limit archives too.
        p.acquire(A, 3000, 2, 1);
        p.acquire(A, 4000, 2, 1);
        p.acquire(A, 5000, 2, 1);
        assert_eq!(p.acknowledge(A, 5001, &[ack(1, 1, &[2])]), Ok(true));
        assert_eq!(p.start_offset(), 2);
    }

    #[test]
    fn bad_acknowledgements_change_nothing() {
        let mut p = SharePartition::new(0, limits());
        p.acquire(A, 0, 4, 2);
        p.acquire(B, 0, 4, 2);
        let before = p.state_batches();
        for (acks, invalid_request) in [
            // One good batch, then one for B's records: neither applies.
            (vec![ack(0, 1, &[1]), ack(2, 3, &[1])], false),
            (vec![ack(0, 0, &[1]), ack(5, 6, &[1])], true),
            (vec![ack(0, 1, &[1, 1, 1])], true),
            (vec![ack(0, 1, &[7])], true),
            (vec![ack(1, 0, &[1])], true),
        ] {
            let result = p.acknowledge(A, 1, &acks);
            match (invalid_request, &result) {
                (true, Err(AckError::InvalidRequest(_))) | (false, Err(AckError::InvalidRecordState(_))) => {}
                _ => panic!("{acks:?} gave {result:?}"),
            }
            assert_eq!(p.state_batches(), before);
            assert_eq!(p.acquired_count(), 4);
        }
        // Twice the same acknowledgement: the second finds the records no longer held.
        assert_eq!(p.acknowledge(A, 1, &[ack(0, 1, &[1])]), Ok(true));
        assert!(matches!(p.acknowledge(A, 1, &[ack(0, 1, &[1])]), Ok(false)), "below the start: skipped");
        assert_eq!(p.acknowledge(B, 1, &[ack(2, 2, &[2])]), Ok(true));
        assert!(matches!(p.acknowledge(B, 1, &[ack(2, 2, &[1])]), Err(AckError::InvalidRecordState(_))));
    }

    #[test]
    fn renewing_extends_the_lock() {
        let mut p = SharePartition::new(0, limits());
        p.acquire(A, 0, 1, 1);
        assert_eq!(p.acknowledge(A, 900, &[ack(0, 0, &[4])]), Ok(false));
        assert_eq!(p.acquire(B, 1500, 1, 1), vec![]);
        assert_eq!(p.acknowledge(A, 1800, &[ack(0, 0, &[1])]), Ok(true));
    }

    #[test]
    fn the_window_is_bounded_by_the_record_locks() {
        let mut p = SharePartition::new(0, Limits { max_record_locks: 5, ..limits() });
        assert_eq!(p.acquire(A, 0, 100, 100), vec![run(0, 4, 1)]);
        assert_eq!(p.acquire(B, 0, 100, 100), vec![]);
        p.acknowledge(A, 1, &[ack(0, 1, &[1])]).unwrap();
        assert_eq!(p.acquire(B, 1, 100, 100), vec![run(5, 6, 1)]);
    }

    #[test]
    fn a_member_leaving_releases_what_it_held() {
        let mut p = SharePartition::new(0, limits());
        p.acquire(A, 0, 3, 3);
        assert!(p.release_member(A));
        assert_eq!(p.acquire(B, 1, 3, 3), vec![run(0, 2, 2)]);
    }

    #[test]
    fn the_persisted_state_restores_with_locks_released() {
        let mut p = SharePartition::new(10, limits());
        p.acquire(A, 0, 20, 6);
        p.acknowledge(A, 1, &[ack(10, 15, &[2, 1, 3, 1, 1, 2])]).unwrap();
        p.acquire(B, 2, 20, 1);
        let batches = p.state_batches();
        assert_eq!(p.start_offset(), 10, "10 was released, then acquired again by B");
        let mut restored = SharePartition::restore(p.start_offset(), &batches, limits());
        assert_eq!(restored.start_offset(), 10);
        assert_eq!(restored.state_batches(), batches);
        // 10 (held by B) and 15 (released) come back with their counts; 16 on are new.
        assert_eq!(restored.acquire(A, 3, 20, 10), vec![run(10, 10, 3), run(15, 15, 2), run(16, 19, 1)]);
    }

    #[test]
    fn aborted_records_are_archived_at_acquisition() {
        let mut p = SharePartition::new(0, limits());
        let acquired = p.acquire(A, 0, 10, 10);
        // 0-2 and 6-7 were batches of aborted transactions.
        let kept = p.archive_aborted(A, &[(0, 2), (6, 7)], acquired);
        assert_eq!(kept, vec![run(3, 5, 1), run(8, 9, 1)]);
        assert_eq!(p.start_offset(), 3, "archived at the front: the start moves past them");
        assert_eq!(p.acquired_count(), 5);
        assert_eq!(p.acknowledge(A, 1, &[ack(3, 5, &[1]), ack(8, 9, &[1])]), Ok(true));
        assert_eq!(p.start_offset(), 10);
        let mut p = SharePartition::new(0, limits());
        let acquired = p.acquire(B, 0, 4, 4);
        assert_eq!(p.archive_aborted(A, &[(0, 3)], acquired.clone()), acquired, "only what A holds");
    }

    #[test]
    fn records_removed_from_the_log_are_archived() {
        let mut p = SharePartition::new(0, limits());
        p.acquire(A, 0, 10, 10);
        assert!(p.archive_below(4));
        assert_eq!(p.start_offset(), 4);
        assert_eq!(p.acknowledge(A, 1, &[ack(0, 9, &[1])]), Ok(true));
        assert_eq!(p.start_offset(), 10);
    }
}
