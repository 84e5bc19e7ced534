//! A raw Kafka protocol client for tests: frames encoded and decoded with `kafka-protocol`.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use brook_log::batch::{self, CRC_POS, build};
use bytes::{Bytes, BytesMut};
use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::{
    ApiKey, CreateTopicsRequest, EndTxnRequest, FetchRequest, InitProducerIdRequest, ProduceRequest, ProducerId,
    RequestHeader, ResponseHeader, ResponseKind, TopicName, TransactionalId, create_topics_request::CreatableTopic,
};
use kafka_protocol::protocol::{Decodable, Encodable, StrBytes};

/// A blocking client connection speaking raw frames.
pub struct Conn {
    pub stream: TcpStream,
    correlation_id: i32,
    client_id: &'static str,
}

impl Conn {
    pub fn open(addr: &str) -> Conn {
        Conn::open_as(addr, "protocol-test")
    }

    /// A connection whose requests carry `client_id`.
    pub fn open_as(addr: &str, client_id: &'static str) -> Conn {
        let stream = TcpStream::connect(addr).expect("connect");
        // The size and the frame go out in two writes: without this, Nagle's algorithm holds
        // the second until the broker's delayed ACK (40 ms), as it would for any real client.
        stream.set_nodelay(true).expect("nodelay");
        stream.set_read_timeout(Some(Duration::from_secs(30))).expect("timeout");
        Conn { stream, correlation_id: 0, client_id }
    }

    /// A connection, or `None` if the broker cannot be reached (it may be down).
    pub fn try_open(addr: &str) -> Option<Conn> {
        let stream = TcpStream::connect(addr).ok()?;
        stream.set_nodelay(true).ok()?;
        stream.set_read_timeout(Some(Duration::from_secs(60))).ok()?;
        Some(Conn { stream, correlation_id: 0, client_id: "protocol-test" })
    }

    /// A request and its response, or `None` if the connection failed on the way.
    pub fn try_call(&mut self, api_key: ApiKey, version: i16, body: &impl Encodable) -> Option<ResponseKind> {
        let frame = self.encode(api_key, version, body);
        self.stream.write_all(&(frame.len() as i32).to_be_bytes()).ok()?;
        self.stream.write_all(&frame).ok()?;
        self.receive(api_key, version).map(|(_, response)| response)
    }

    /// The next request's frame, under a new correlation id.
    fn encode(&mut self, api_key: ApiKey, version: i16, body: &impl Encodable) -> BytesMut {
        self.correlation_id += 1;
        let header = RequestHeader::default()
            .with_request_api_key(api_key as i16)
            .with_request_api_version(version)
            .with_correlation_id(self.correlation_id)
            .with_client_id(Some(StrBytes::from_static_str(self.client_id)));
        let mut frame = BytesMut::new();
        header.encode(&mut frame, api_key.request_header_version(version)).expect("header");
        body.encode(&mut frame, version).expect("body");
        frame
    }

    pub fn send_raw(&mut self, frame: &[u8]) {
        self.stream.write_all(&(frame.len() as i32).to_be_bytes()).expect("write size");
        self.stream.write_all(frame).expect("write frame");
    }

    pub fn send(&mut self, api_key: ApiKey, version: i16, body: &impl Encodable) -> i32 {
        let frame = self.encode(api_key, version, body);
        self.send_raw(&frame);
        self.correlation_id
    }

    /// Reads one response; `None` if the broker closed the connection.
    pub fn receive(&mut self, api_key: ApiKey, version: i16) -> Option<(i32, ResponseKind)> {
        let mut size = [0u8; 4];
        self.stream.read_exact(&mut size).ok()?;
        let mut frame = vec![0u8; i32::from_be_bytes(size) as usize];
        self.stream.read_exact(&mut frame).ok()?;
        let mut frame = Bytes::from(frame);
        let header = ResponseHeader::decode(&mut frame, api_key.response_header_version(version)).expect("header");
        let body = ResponseKind::decode(api_key, &mut frame, version).expect("body");
        Some((header.correlation_id, body))
    }

    pub fn call(&mut self, api_key: ApiKey, version: i16, body: &impl Encodable) -> ResponseKind {
        let id = self.send(api_key, version, body);
        let (correlation_id, response) = self.receive(api_key, version).expect("a response");
        assert_eq!(correlation_id, id);
        response
    }

    pub fn closed_by_peer(&mut self) -> bool {
        let mut byte = [0u8; 1];
        matches!(self.stream.read(&mut byte), Ok(0) | Err(_))
    }
}

pub fn create_topic(conn: &mut Conn, name: &str, partitions: i32) {
    assert_eq!(create_topic_code(conn, name, partitions), Some(0));
}

/// CreateTopics of one topic (replication factor 1): its error code, or `None` if the
/// connection failed.
pub fn create_topic_code(conn: &mut Conn, name: &str, partitions: i32) -> Option<i16> {
    let request = CreateTopicsRequest::default().with_timeout_ms(30_000).with_topics(vec![
        CreatableTopic::default()
            .with_name(TopicName(StrBytes::from_string(name.into())))
            .with_num_partitions(partitions)
            .with_replication_factor(1),
    ]);
    match conn.try_call(ApiKey::CreateTopics, 7, &request)? {
        ResponseKind::CreateTopics(response) => Some(response.topics[0].error_code),
        other => panic!("unexpected answer {other:?}"),
    }
}

pub fn produce(conn: &mut Conn, topic: &str, acks: i16, records: Bytes) -> Option<(i16, i64)> {
    let request = ProduceRequest::default().with_acks(acks).with_timeout_ms(10_000).with_topic_data(vec![
        TopicProduceData::default()
            .with_name(TopicName(StrBytes::from_string(topic.into())))
            .with_partition_data(vec![PartitionProduceData::default().with_index(0).with_records(Some(records))]),
    ]);
    let id = conn.send(ApiKey::Produce, 9, &request);
    if acks == 0 {
        return None;
    }
    let (correlation_id, response) = conn.receive(ApiKey::Produce, 9).expect("response");
    assert_eq!(correlation_id, id);
    let ResponseKind::Produce(response) = response else { panic!() };
    let partition = &response.responses[0].partition_responses[0];
    Some((partition.error_code, partition.base_offset))
}

/// IncrementalAlterConfigs of one config on resource (type, name): (key, operation, value),
/// validate-only or not. Answers the error code and message.
pub fn alter_config(
    conn: &mut Conn,
    resource: (i8, &str),
    op: (&str, i8, Option<&str>),
    validate_only: bool,
) -> (i16, Option<String>) {
    use kafka_protocol::messages::IncrementalAlterConfigsRequest;
    use kafka_protocol::messages::incremental_alter_configs_request::{AlterConfigsResource, AlterableConfig};
    let (key, op, value) = op;
    let config = AlterableConfig::default()
        .with_name(StrBytes::from_string(key.to_string()))
        .with_config_operation(op)
        .with_value(value.map(|v| StrBytes::from_string(v.to_string())));
    let request = IncrementalAlterConfigsRequest::default().with_validate_only(validate_only).with_resources(vec![
        AlterConfigsResource::default()
            .with_resource_type(resource.0)
            .with_resource_name(StrBytes::from_string(resource.1.to_string()))
            .with_configs(vec![config]),
    ]);
    let ResponseKind::IncrementalAlterConfigs(r) = conn.call(ApiKey::IncrementalAlterConfigs, 1, &request) else {
        panic!("not an IncrementalAlterConfigs response")
    };
    (r.responses[0].error_code, r.responses[0].error_message.as_ref().map(|m| m.to_string()))
}

/// Sets (or, with `None`, deletes) one dynamic broker config on broker resource `resource` (a
/// node id, or "" for every broker): the error code.
pub fn alter_broker_config(conn: &mut Conn, resource: &str, key: &str, value: Option<&str>) -> i16 {
    let op = if value.is_some() { 0 } else { 1 };
    alter_config(conn, (4, resource), (key, op, value), false).0
}

pub fn fetch_request(topic: &str, offset: i64, max_wait_ms: i32) -> FetchRequest {
    FetchRequest::default().with_max_wait_ms(max_wait_ms).with_min_bytes(1).with_max_bytes(1 << 20).with_topics(vec![
        FetchTopic::default().with_topic(TopicName(StrBytes::from_string(topic.into()))).with_partitions(vec![
            FetchPartition::default().with_partition(0).with_fetch_offset(offset).with_partition_max_bytes(1 << 20),
        ]),
    ])
}

/// An idempotent producer's batch: producer id, epoch and first sequence set, CRC fixed.
pub fn idempotent_batch(producer_id: i64, epoch: i16, sequence: i32, records: usize) -> Bytes {
    let mut b = build::simple(now_ms(), records, 10).to_vec();
    b[batch::PRODUCER_ID_POS..batch::PRODUCER_ID_POS + 8].copy_from_slice(&producer_id.to_be_bytes());
    b[batch::PRODUCER_EPOCH_POS..batch::PRODUCER_EPOCH_POS + 2].copy_from_slice(&epoch.to_be_bytes());
    b[batch::BASE_SEQUENCE_POS..batch::BASE_SEQUENCE_POS + 4].copy_from_slice(&sequence.to_be_bytes());
    let crc = batch::compute_crc(&b);
    b[CRC_POS..CRC_POS + 4].copy_from_slice(&crc.to_be_bytes());
    Bytes::from(b)
}

pub fn now_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("clock").as_millis() as i64
}

/// Each partition's (leader, replicas in assignment order, ISR sorted) in a Metadata answer
/// from `addr`, once that broker knows the topic's partitions (a node that has not applied the
/// topic's creation yet answers none).
pub fn partition_states(addr: &str, topic: &str) -> Vec<(i32, Vec<i32>, Vec<i32>)> {
    let ids = |v: &[kafka_protocol::messages::BrokerId]| v.iter().map(|b| b.0).collect::<Vec<i32>>();
    let known = || topic_partitions(addr, topic).filter(|p| !p.is_empty());
    let partitions = super::eventually(Duration::from_secs(30), &format!("{topic} at {addr}"), known);
    partitions
        .iter()
        .map(|p| {
            let mut isr = ids(&p.isr_nodes);
            isr.sort_unstable();
            (p.leader_id.0, ids(&p.replica_nodes), isr)
        })
        .collect()
}

/// The broker ids a Metadata answer from `addr` lists (the live ones), sorted.
pub fn brokers(addr: &str) -> Vec<i32> {
    let request = kafka_protocol::messages::MetadataRequest::default().with_topics(Some(vec![]));
    match Conn::open(addr).call(ApiKey::Metadata, 9, &request) {
        ResponseKind::Metadata(r) => {
            let mut ids: Vec<i32> = r.brokers.iter().map(|b| b.node_id.0).collect();
            ids.sort_unstable();
            ids
        }
        other => panic!("unexpected answer {other:?}"),
    }
}

/// One topic's partitions as the broker at `addr` answers Metadata v9, in partition order;
/// `None` if the broker cannot be reached or does not list the topic.
pub fn topic_partitions(
    addr: &str,
    topic: &str,
) -> Option<Vec<kafka_protocol::messages::metadata_response::MetadataResponsePartition>> {
    use kafka_protocol::messages::metadata_request::MetadataRequestTopic;
    let mut conn = Conn::try_open(addr)?;
    let request = kafka_protocol::messages::MetadataRequest::default().with_topics(Some(vec![
        MetadataRequestTopic::default()
            .with_name(Some(kafka_protocol::messages::TopicName(StrBytes::from_string(topic.into())))),
    ]));
    match conn.try_call(ApiKey::Metadata, 9, &request)? {
        ResponseKind::Metadata(r) => {
            let mut partitions = r.topics.into_iter().next()?.partitions;
            partitions.sort_by_key(|p| p.partition_index);
            Some(partitions)
        }
        _ => None,
    }
}

/// OffsetForLeaderEpoch v4 for one partition, from a consumer that knows the leader epoch
/// `current` (-1: any) and read up to `epoch`: (error code, epoch, end offset).
pub fn offset_for_leader_epoch(
    conn: &mut Conn,
    topic: &str,
    partition: i32,
    current: i32,
    epoch: i32,
) -> (i16, i32, i64) {
    use kafka_protocol::messages::offset_for_leader_epoch_request::{OffsetForLeaderPartition, OffsetForLeaderTopic};
    let request = kafka_protocol::messages::OffsetForLeaderEpochRequest::default()
        .with_replica_id(kafka_protocol::messages::BrokerId(-1))
        .with_topics(vec![
            OffsetForLeaderTopic::default().with_topic(TopicName(StrBytes::from_string(topic.into()))).with_partitions(
                vec![
                    OffsetForLeaderPartition::default()
                        .with_partition(partition)
                        .with_current_leader_epoch(current)
                        .with_leader_epoch(epoch),
                ],
            ),
        ]);
    match conn.call(ApiKey::OffsetForLeaderEpoch, 4, &request) {
        ResponseKind::OffsetForLeaderEpoch(r) => {
            let p = &r.topics[0].partitions[0];
            (p.error_code, p.leader_epoch, p.end_offset)
        }
        other => panic!("unexpected answer {other:?}"),
    }
}

pub fn txn_id(id: &str) -> TransactionalId {
    TransactionalId(StrBytes::from_string(id.to_string()))
}

/// InitProducerId v4 for transactional id `id`: the error code, producer id and epoch.
pub fn init_txn(conn: &mut Conn, id: &str, timeout_ms: i32) -> (i16, (i64, i16)) {
    let request = InitProducerIdRequest::default()
        .with_transactional_id(Some(txn_id(id)))
        .with_transaction_timeout_ms(timeout_ms);
    let ResponseKind::InitProducerId(r) = conn.call(ApiKey::InitProducerId, 4, &request) else { panic!() };
    (r.error_code, (r.producer_id.0, r.producer_epoch))
}

/// EndTxn at `version`: the error code, and (v5) the producer id and epoch to go on with.
pub fn end_txn_at(conn: &mut Conn, version: i16, id: &str, pid: i64, epoch: i16, commit: bool) -> (i16, (i64, i16)) {
    let request = EndTxnRequest::default()
        .with_transactional_id(txn_id(id))
        .with_producer_id(ProducerId(pid))
        .with_producer_epoch(epoch)
        .with_committed(commit);
    let ResponseKind::EndTxn(r) = conn.call(ApiKey::EndTxn, version, &request) else { panic!() };
    (r.error_code, (r.producer_id.0, r.producer_epoch))
}

/// A one-record transactional batch of `id`'s producer, acks=all, at Produce `version` (v12+:
/// transactions version 2, the leader adds the partition to the transaction): its error code.
pub fn produce_txn_at(
    conn: &mut Conn,
    version: i16,
    id: &str,
    (topic, partition): (&str, i32),
    (pid, epoch, sequence): (i64, i16, i32),
) -> i16 {
    let records = [build::Record { timestamp_delta: 0, key: None, value: Some(b"v".to_vec()) }];
    let batch = build::from_producer(now_ms(), &records, batch::Producer::transactional(pid, epoch, sequence));
    let request = ProduceRequest::default()
        .with_transactional_id(Some(txn_id(id)))
        .with_acks(-1)
        .with_timeout_ms(10_000)
        .with_topic_data(vec![
            TopicProduceData::default()
                .with_name(TopicName(StrBytes::from_string(topic.to_string())))
                .with_partition_data(vec![
                    PartitionProduceData::default().with_index(partition).with_records(Some(batch)),
                ]),
        ]);
    let ResponseKind::Produce(r) = conn.call(ApiKey::Produce, version, &request) else { panic!() };
    r.responses[0].partition_responses[0].error_code
}
