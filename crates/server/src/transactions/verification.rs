//! KIP-890's defence against hanging transactions: before a transactional write opens its
//! producer's transaction in a partition, the partition's leader asks the transaction
//! coordinator about it, here or on another broker (AddPartitionsToTxn v5, batched form):
//!
//! - a transactions version 1 producer added the partition itself, so the leader only
//!   verifies that it is in the ongoing transaction (a late write from an ended or timed-out
//!   transaction is refused instead of opening a transaction nobody will end);
//! - a version 2 producer (Produce v12+, TxnOffsetCommit v5) adds nothing itself: the leader
//!   adds the partition to the transaction.
//!
//! A write to a partition where the producer's transaction is already open asks nothing.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use brook_replication::client::Connection;
use brook_transactions::transaction::{TV2, TopicPartition};
use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::add_partitions_to_txn_request::{AddPartitionsToTxnTopic, AddPartitionsToTxnTransaction};
use kafka_protocol::messages::{AddPartitionsToTxnRequest, ProducerId, TopicName, TransactionalId};
use kafka_protocol::protocol::StrBytes;
use tracing::debug;

use super::TransactionCoordinator;
use crate::broker::Broker;

/// How long a remote coordinator may take to answer.
const ASK_TIMEOUT: Duration = Duration::from_secs(5);

/// What the leader needs from the coordinator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Need {
    /// The partition must be in the transaction already (version 1 producers).
    Verify,
    /// The partition is to be added to the transaction (version 2 producers).
    Add,
}

/// What can be decided without waiting.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Gate {
    /// The write may open the transaction.
    Open,
    Refused(ResponseError),
    /// Only an (asynchronous) question to the coordinator can tell: [`ask`].
    Ask,
}

/// One producer's transactional write, as the partition leader sees it.
#[derive(Debug, Clone, Copy)]
pub struct Writer<'a> {
    pub transactional_id: &'a str,
    pub producer_id: i64,
    pub epoch: i16,
}

impl TransactionCoordinator {
    /// Decides at once when this broker coordinates the id and no write is needed; otherwise
    /// [`Gate::Ask`].
    pub fn gate(&self, writer: Writer<'_>, partition: &TopicPartition, need: Need) -> Gate {
        let state = self.lock();
        match state.owned.get(&self.partition_for(writer.transactional_id)) {
            None => return Gate::Ask,
            Some((_, false)) => return Gate::Refused(ResponseError::CoordinatorLoadInProgress),
            Some((_, true)) => {}
        }
        let verified = match state.ids.get(writer.transactional_id) {
            None => Err(ResponseError::InvalidProducerIdMapping),
            Some(entry) => entry.verify(writer.producer_id, writer.epoch, partition),
        };
        match (verified, need) {
            (Ok(()), _) => Gate::Open,
            // Adding decides the finer cases (a producer already under its next id waits).
            (Err(_), Need::Add) => Gate::Ask,
            (Err(code), Need::Verify) => Gate::Refused(code),
        }
    }

    /// Verifies `partitions` as the coordinator of `writer`'s id: the error of each that is
    /// not in its ongoing transaction (NOT_COORDINATOR for all if this broker is not the
    /// coordinator).
    pub fn verify_all(
        &self,
        writer: Writer<'_>,
        partitions: &BTreeSet<TopicPartition>,
    ) -> BTreeMap<TopicPartition, ResponseError> {
        partitions
            .iter()
            .filter_map(|p| match self.gate(writer, p, Need::Verify) {
                Gate::Open => None,
                Gate::Refused(code) => Some((p.clone(), code)),
                Gate::Ask => Some((p.clone(), ResponseError::NotCoordinator)),
            })
            .collect()
    }
}

/// Asks the coordinator of `writer`'s id about `partitions`: the error of each that may not be
/// written (none when all may).
pub async fn ask(
    broker: &Arc<Broker>,
    writer: Writer<'_>,
    partitions: BTreeSet<TopicPartition>,
    need: Need,
) -> BTreeMap<TopicPartition, ResponseError> {
    let coordinator = &broker.transactions;
    let all = |code: ResponseError| partitions.iter().map(|p| (p.clone(), code)).collect();
    let local = coordinator.lock().owned.contains_key(&coordinator.partition_for(writer.transactional_id));
    if local {
        return answer(broker, writer, partitions, need).await;
    }
    let node = match broker.transaction_coordinator(writer.transactional_id, &broker.config.inter_broker_listener) {
        Ok(node) if node.node_id == broker.config.node_id => return all(ResponseError::NotCoordinator),
        Ok(node) => node,
        Err(e) => return all(e.code),
    };
    let addr = format!("{}:{}", node.host, node.port);
    match ask_remote(broker, &addr, writer, &partitions, need).await {
        Ok(errors) => errors,
        Err(e) => {
            debug!(coordinator = node.node_id, error = %e, "asking a transaction coordinator failed");
            all(ResponseError::NetworkException)
        }
    }
}

/// The coordinator's answer to a partition leader (here, or in AddPartitionsToTxn v4+): the
/// error of each partition that may not be written.
pub async fn answer(
    broker: &Arc<Broker>,
    writer: Writer<'_>,
    partitions: BTreeSet<TopicPartition>,
    need: Need,
) -> BTreeMap<TopicPartition, ResponseError> {
    let coordinator = &broker.transactions;
    match need {
        Need::Verify => coordinator.verify_all(writer, &partitions),
        Need::Add => {
            let (id, producer_id, epoch) = (writer.transactional_id, writer.producer_id, writer.epoch);
            match coordinator.add_partitions(broker, id, producer_id, epoch, partitions.clone(), TV2).await {
                Ok(()) => BTreeMap::new(),
                Err(code) => partitions.into_iter().map(|p| (p, code)).collect(),
            }
        }
    }
}

/// AddPartitionsToTxn v5 to the coordinator at `addr`, for one transaction.
async fn ask_remote(
    broker: &Broker,
    addr: &str,
    writer: Writer<'_>,
    partitions: &BTreeSet<TopicPartition>,
    need: Need,
) -> anyhow::Result<BTreeMap<TopicPartition, ResponseError>> {
    let mut topics: BTreeMap<&str, Vec<i32>> = BTreeMap::new();
    for (topic, index) in partitions {
        topics.entry(topic).or_default().push(*index);
    }
    let transaction = AddPartitionsToTxnTransaction::default()
        .with_transactional_id(TransactionalId(StrBytes::from_string(writer.transactional_id.to_string())))
        .with_producer_id(ProducerId(writer.producer_id))
        .with_producer_epoch(writer.epoch)
        .with_verify_only(need == Need::Verify)
        .with_topics(
            topics
                .into_iter()
                .map(|(name, indexes)| {
                    AddPartitionsToTxnTopic::default()
                        .with_name(TopicName(StrBytes::from_string(name.to_string())))
                        .with_partitions(indexes)
                })
                .collect(),
        );
    let request = AddPartitionsToTxnRequest::default().with_transactions(vec![transaction]);
    let client_id = format!("brook-partition-leader-{}", broker.config.node_id);
    let mut connection = Connection::connect(addr, client_id, ASK_TIMEOUT, &broker.inter_broker).await?;
    let response = connection.call(&request, 5, ASK_TIMEOUT).await?;
    if let Some(code) = ResponseError::try_from_code(response.error_code) {
        return Ok(partitions.iter().map(|p| (p.clone(), code)).collect());
    }
    let mut errors = BTreeMap::new();
    for result in response.results_by_transaction {
        for topic in result.topic_results {
            for p in topic.results_by_partition {
                if let Some(code) = ResponseError::try_from_code(p.partition_error_code) {
                    errors.insert((topic.name.to_string(), p.partition_index), code);
                }
            }
        }
    }
    Ok(errors)
}

/// The error a producer is given for a failed verification, as Kafka translates it: the
/// coordinator's retriable troubles become NOT_ENOUGH_REPLICAS, which every client retries
/// without refreshing metadata; a fenced producer hears INVALID_PRODUCER_EPOCH; a partition
/// not in the transaction is TRANSACTION_ABORTABLE for a client that knows that error
/// (`abortable`: Produce v11, TxnOffsetCommit v4) and INVALID_TXN_STATE for others.
pub fn for_producer(code: ResponseError, abortable: bool) -> (ResponseError, Option<String>) {
    match code {
        ResponseError::ConcurrentTransactions
        | ResponseError::NetworkException
        | ResponseError::CoordinatorLoadInProgress
        | ResponseError::CoordinatorNotAvailable
        | ResponseError::NotCoordinator => (
            ResponseError::NotEnoughReplicas,
            Some(format!(
                "Unable to verify the partition has been added to the transaction. Underlying error: {code:?}"
            )),
        ),
        ResponseError::InvalidTxnState | ResponseError::TransactionAbortable if abortable => {
            (ResponseError::TransactionAbortable, None)
        }
        ResponseError::InvalidTxnState | ResponseError::TransactionAbortable => {
            (ResponseError::InvalidTxnState, Some("Partition was not added to the transaction".to_string()))
        }
        ResponseError::ProducerFenced => (ResponseError::InvalidProducerEpoch, None),
        other => (other, None),
    }
}
