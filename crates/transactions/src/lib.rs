//! Kafka's transaction coordinator, as a library the server wires to the protocol:
//!
//! - `state`: the states of a transactional id, their ids, names and allowed transitions;
//! - `transaction`: one transactional id and the coordinator's decisions on it (InitProducerId,
//!   AddPartitionsToTxn, EndTxn, completion after the markers, timeouts), with Kafka's errors;
//! - `records`: the id's state as `__transaction_state` records, in Kafka's formats.
//!
//! Transactions version 1 (the client adds partitions and keeps its epoch across
//! transactions). Nothing here does I/O: the server writes what a decision returns and then
//! reports whether the write succeeded.

pub mod records;
pub mod state;
pub mod transaction;

pub use state::TxnState;
pub use transaction::{Entry, Init, Transaction};
