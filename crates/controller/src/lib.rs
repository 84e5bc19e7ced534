//! Brook's controller: the cluster's metadata as KRaft keeps it, and the decisions that
//! change it. Records go through the metadata quorum (`brook-quorum`) and every node applies
//! them to the same image.
//!
//! - `records`: the metadata records and their versioned encoding.
//! - `image`: the state the records build (topics, partitions, brokers).
//! - `store`: the image as the quorum's state machine, with a watch of what is applied.
//! - `controller`: the active controller: requests to records, sessions, fencing on time.
//! - `liveness`: fencing a broker whose process is gone before its session ends.
//! - `decisions`: broker lifecycle and ISR changes, as functions of the image.
//! - `elections`: choosing leaders: clean, unclean, preferred, and the automatic rebalance.
//! - `features`: the finalized features ApiVersions lists and UpdateFeatures changes.
//! - `placement`: where new partitions' replicas go.
//! - `reassignment`: moving replicas (AlterPartitionReassignments).
//! - `requests`: what brokers ask the controller, over RPC or in-process.
//! - `channel`: a broker's way to the active controller, wherever it is.
//! - `legacy`: reading a metadata log written before the quorum existed.

pub mod channel;
pub mod controller;
pub mod decisions;
pub mod elections;
pub mod features;
pub mod image;
pub mod legacy;
mod liveness;
pub mod placement;
pub mod reassignment;
pub mod records;
pub mod requests;
pub mod store;

use kafka_protocol::error::ResponseError;
use uuid::Uuid;

pub use crate::channel::ControllerChannel;
pub use crate::controller::{Controller, ControllerConfig};
pub use crate::image::{
    BrokerRegistration, ControllerRegistration, MetadataImage, NO_LEADER, PartitionMeta, TopicMeta,
};
pub use crate::records::{Endpoint, MetadataRecord};
pub use crate::requests::{ControllerReply, ControllerRequest, MetadataCatchup, QuorumDescription, TokenChange};
pub use crate::store::MetadataStore;

/// A Kafka error code with the message the response carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    pub code: ResponseError,
    pub message: String,
}

impl ApiError {
    pub fn new(code: ResponseError, message: impl Into<String>) -> ApiError {
        ApiError { code, message: message.into() }
    }
}

/// Kafka's cluster ids are a UUID in URL-safe base64 without padding (22 characters).
pub fn cluster_id_from(id: Uuid) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = String::with_capacity(22);
    for chunk in id.as_bytes().chunks(3) {
        let group = chunk.iter().enumerate().fold(0u32, |acc, (i, b)| acc | u32::from(*b) << (16 - 8 * i));
        for i in 0..=chunk.len() {
            out.push(ALPHABET[(group >> (18 - 6 * i) & 0x3f) as usize] as char);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Cluster ids look like Kafka's: 22 URL-safe base64 characters.
    #[test]
    fn cluster_ids() {
        let id = cluster_id_from(Uuid::from_u128(0));
        assert_eq!(id, "AAAAAAAAAAAAAAAAAAAAAA");
        let id = cluster_id_from(Uuid::new_v4());
        assert_eq!(id.len(), 22);
        assert!(id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'));
    }
}
