//! The states of a transactional id, with Kafka's ids (stored in `__transaction_state`), names
//! (shown by DescribeTransactions and `kafka-transactions`) and allowed transitions.

/// Where a transactional id's current transaction stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TxnState {
    /// No transaction yet (after InitProducerId).
    Empty,
    /// Partitions or offsets were added; data may be in flight.
    Ongoing,
    /// EndTxn(commit) was written; the markers are being written.
    PrepareCommit,
    /// EndTxn(abort), a fenced producer or a timeout; the markers are being written.
    PrepareAbort,
    CompleteCommit,
    CompleteAbort,
    /// The transactional id expired and its record is being deleted.
    Dead,
    /// A newer producer or a timeout bumps the epoch before aborting the ongoing transaction.
    PrepareEpochFence,
}

use TxnState::*;

impl TxnState {
    pub const ALL: [TxnState; 8] =
        [Empty, Ongoing, PrepareCommit, PrepareAbort, CompleteCommit, CompleteAbort, Dead, PrepareEpochFence];

    /// The TransactionStatus byte of a `__transaction_state` value.
    pub fn id(self) -> i8 {
        match self {
            Empty => 0,
            Ongoing => 1,
            PrepareCommit => 2,
            PrepareAbort => 3,
            CompleteCommit => 4,
            CompleteAbort => 5,
            Dead => 6,
            PrepareEpochFence => 7,
        }
    }

    pub fn from_id(id: i8) -> Option<TxnState> {
        Self::ALL.into_iter().find(|s| s.id() == id)
    }

    /// The name Kafka gives the state in DescribeTransactions and ListTransactions.
    pub fn name(self) -> &'static str {
        match self {
            Empty => "Empty",
            Ongoing => "Ongoing",
            PrepareCommit => "PrepareCommit",
            PrepareAbort => "PrepareAbort",
            CompleteCommit => "CompleteCommit",
            CompleteAbort => "CompleteAbort",
            Dead => "Dead",
            PrepareEpochFence => "PrepareEpochFence",
        }
    }

    pub fn from_name(name: &str) -> Option<TxnState> {
        Self::ALL.into_iter().find(|s| s.name() == name)
    }

    /// Whether `self` may follow `from` (Kafka's validPreviousStates). With transactions
    /// version 2 a producer may abort without an ongoing transaction (it cannot know whether
    /// its writes reached a partition), so PrepareAbort also follows Empty and Complete.
    pub fn may_follow(self, from: TxnState) -> bool {
        match self {
            Empty => matches!(from, Empty | CompleteCommit | CompleteAbort),
            Ongoing => matches!(from, Ongoing | Empty | CompleteCommit | CompleteAbort),
            PrepareCommit => from == Ongoing,
            PrepareAbort => matches!(from, Ongoing | PrepareEpochFence | Empty | CompleteCommit | CompleteAbort),
            CompleteCommit => from == PrepareCommit,
            CompleteAbort => from == PrepareAbort,
            Dead => matches!(from, Empty | CompleteCommit | CompleteAbort),
            PrepareEpochFence => from == Ongoing,
        }
    }

    /// A transactional id in this state may expire after `transactional.id.expiration.ms`.
    pub fn may_expire(self) -> bool {
        matches!(self, Empty | CompleteCommit | CompleteAbort)
    }

    /// A transaction has begun and not yet ended: its partitions hold undecided data.
    pub fn is_open(self) -> bool {
        matches!(self, Ongoing | PrepareCommit | PrepareAbort)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_and_names_round_trip() {
        for s in TxnState::ALL {
            assert_eq!(TxnState::from_id(s.id()), Some(s));
            assert_eq!(TxnState::from_name(s.name()), Some(s));
        }
        assert_eq!(TxnState::from_id(8), None);
        assert_eq!(TxnState::from_name("ongoing"), None);
    }

    #[test]
    fn a_transaction_completes_only_through_its_prepare_state() {
        assert!(CompleteCommit.may_follow(PrepareCommit));
        assert!(!CompleteCommit.may_follow(Ongoing));
        assert!(!CompleteAbort.may_follow(PrepareCommit));
        assert!(!PrepareCommit.may_follow(Empty));
        assert!(PrepareAbort.may_follow(PrepareEpochFence));
        assert!(PrepareAbort.may_follow(CompleteCommit), "transactions version 2 aborts with no partitions");
        assert!(!Ongoing.may_follow(PrepareCommit));
    }
}
