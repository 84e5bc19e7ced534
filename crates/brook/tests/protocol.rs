//! The wire protocol at the byte level against a real `brook` process: bad input, error codes,
//! idempotent sequences, long-polling and many connections. Frames are encoded with the
//! `kafka-protocol` crate, as a client would.

use std::io::Write;
use std::time::{Duration, Instant};

use crate::common::Brook;
use crate::common::wire::{
    Conn, create_topic, fetch_request, idempotent_batch, now_ms, offset_for_leader_epoch, produce,
};
use brook_log::batch::{self, build};
use bytes::Bytes;
use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::{ApiKey, ApiVersionsRequest, ResponseKind};
use kafka_protocol::protocol::StrBytes;

/// ApiVersions at an unknown version answers UNSUPPORTED_VERSION with the supported ranges (as
/// Kafka does, so clients can downgrade); other APIs at unknown versions, unknown API keys and
/// impossible frame sizes close the connection.
#[test]
fn unsupported_versions_and_bad_frames() {
    let brook = Brook::start(&[]);
    let mut conn = Conn::open(&brook.addr);
    let named = ApiVersionsRequest::default()
        .with_client_software_name(StrBytes::from_static_str("brook-tests"))
        .with_client_software_version(StrBytes::from_static_str("1.0"));
    let ResponseKind::ApiVersions(ok) = conn.call(ApiKey::ApiVersions, 3, &named) else { panic!() };
    assert_eq!(ok.error_code, 0);
    assert!(ok.api_keys.iter().any(|k| k.api_key == ApiKey::Produce as i16));
    // v3 without a client name: INVALID_REQUEST and nothing listed, as Kafka answers.
    let ResponseKind::ApiVersions(nameless) = conn.call(ApiKey::ApiVersions, 3, &ApiVersionsRequest::default()) else {
        panic!()
    };
    assert_eq!((nameless.error_code, nameless.api_keys.len()), (42, 0));
    // ApiVersions v99 (key 18), correlation id 42, by hand.
    let mut frame = vec![0, 18, 0, 99, 0, 0, 0, 42, 0, 0];
    frame.extend_from_slice(&[0, 0, 0]);
    conn.send_raw(&frame);
    let (correlation_id, response) = conn.receive(ApiKey::ApiVersions, 0).expect("v0 answer");
    assert_eq!(correlation_id, 42);
    let ResponseKind::ApiVersions(response) = response else { panic!() };
    assert_eq!(response.error_code, 35, "UNSUPPORTED_VERSION");
    assert!(!response.api_keys.is_empty());

    let mut conn = Conn::open(&brook.addr);
    conn.send_raw(&[0, 0, 0, 99, 0, 0, 0, 1, 0, 0]); // Produce v99
    assert!(conn.closed_by_peer(), "unsupported Produce version must close the connection");

    let mut conn = Conn::open(&brook.addr);
    conn.send_raw(&[0x7f, 0x00, 0, 0, 0, 0, 0, 1, 0, 0]); // API key 32512
    assert!(conn.closed_by_peer(), "unknown API key must close the connection");

    let mut conn = Conn::open(&brook.addr);
    conn.stream.write_all(&(200 * 1024 * 1024i32).to_be_bytes()).expect("size");
    assert!(conn.closed_by_peer(), "a frame above socket.request.max.bytes must close the connection");

    // The broker is still fine.
    let mut conn = Conn::open(&brook.addr);
    let ResponseKind::ApiVersions(ok) = conn.call(ApiKey::ApiVersions, 3, &named) else { panic!() };
    assert_eq!(ok.error_code, 0);
}

/// Produce errors: corrupt batch, bad acks, unknown topic, two batches in one request, a
/// client's control batch, a transactional batch without a transactional id.
#[test]
fn produce_error_codes() {
    let brook = Brook::start(&["auto.create.topics.enable=false"]);
    let mut conn = Conn::open(&brook.addr);
    create_topic(&mut conn, "t", 1);
    let good = build::simple(now_ms(), 2, 10);
    let mut corrupt = good.to_vec();
    *corrupt.last_mut().expect("bytes") ^= 1;
    assert_eq!(produce(&mut conn, "t", 1, Bytes::from(corrupt)), Some((2, -1)), "CORRUPT_MESSAGE");
    assert_eq!(produce(&mut conn, "t", 5, good.clone()), Some((21, -1)), "INVALID_REQUIRED_ACKS");
    assert_eq!(produce(&mut conn, "missing", 1, good.clone()), Some((3, -1)), "UNKNOWN_TOPIC_OR_PARTITION");
    let mut two = good.to_vec();
    two.extend_from_slice(&good);
    assert_eq!(produce(&mut conn, "t", 1, Bytes::from(two)), Some((87, -1)), "INVALID_RECORD");
    let marker = batch::end_txn_marker(7, 0, true, 0, now_ms());
    assert_eq!(produce(&mut conn, "t", 1, marker), Some((87, -1)), "INVALID_RECORD: clients write no markers");
    let records = [build::Record { timestamp_delta: 0, key: None, value: Some(b"v".to_vec()) }];
    let transactional = build::from_producer(now_ms(), &records, batch::Producer::transactional(7, 0, 0));
    assert_eq!(produce(&mut conn, "t", 1, transactional), Some((53, -1)), "TRANSACTIONAL_ID_AUTHORIZATION_FAILED");
    let future = build::simple(now_ms() + 2 * 3_600_000, 1, 10);
    assert_eq!(produce(&mut conn, "t", 1, future), Some((32, -1)), "INVALID_TIMESTAMP");
    assert_eq!(produce(&mut conn, "t", -1, good), Some((0, 0)), "nothing bad was appended");
}

/// Idempotent producers: a retried batch is acknowledged with its first offsets and stored
/// once; a gap is OUT_OF_ORDER_SEQUENCE_NUMBER; an old epoch is INVALID_PRODUCER_EPOCH; all of
/// it survives a restart because producer state is rebuilt from the log.
#[test]
fn idempotent_sequences() {
    let mut brook = Brook::start(&[]);
    let dir = brook.take_dir().expect("dir");
    let mut conn = Conn::open(&brook.addr);
    create_topic(&mut conn, "idem", 1);
    assert_eq!(produce(&mut conn, "idem", -1, idempotent_batch(7, 0, 0, 3)), Some((0, 0)));
    assert_eq!(produce(&mut conn, "idem", -1, idempotent_batch(7, 0, 3, 2)), Some((0, 3)));
    assert_eq!(produce(&mut conn, "idem", -1, idempotent_batch(7, 0, 3, 2)), Some((0, 3)), "duplicate");
    assert_eq!(produce(&mut conn, "idem", -1, idempotent_batch(7, 0, 9, 1)), Some((45, -1)), "gap");
    assert_eq!(produce(&mut conn, "idem", -1, idempotent_batch(8, 0, 4, 1)), Some((45, -1)), "unknown producer");
    assert_eq!(brook.stop(), Some(0));

    let brook = Brook::start_in(dir.path(), &[]);
    let mut conn = Conn::open(&brook.addr);
    assert_eq!(produce(&mut conn, "idem", -1, idempotent_batch(7, 0, 3, 2)), Some((0, 3)), "duplicate after restart");
    assert_eq!(produce(&mut conn, "idem", -1, idempotent_batch(7, 0, 5, 1)), Some((0, 5)), "next after restart");
    assert_eq!(produce(&mut conn, "idem", -1, idempotent_batch(7, 1, 0, 1)), Some((0, 6)), "new epoch");
    assert_eq!(produce(&mut conn, "idem", -1, idempotent_batch(7, 0, 6, 1)), Some((47, -1)), "fenced epoch");
    let ResponseKind::Fetch(fetch) = conn.call(ApiKey::Fetch, 12, &fetch_request("idem", 0, 0)) else { panic!() };
    let partition = &fetch.responses[0].partitions[0];
    assert_eq!(partition.high_watermark, 7, "3 + 2 + 1 + 1 records, the duplicates stored once");
    assert_eq!(partition.aborted_transactions, None, "read_uncommitted gets no aborted list");
    // read_committed: with no transaction open, the last stable offset is the high watermark.
    let committed = fetch_request("idem", 0, 0).with_isolation_level(1);
    let ResponseKind::Fetch(fetch) = conn.call(ApiKey::Fetch, 12, &committed) else { panic!() };
    let partition = &fetch.responses[0].partitions[0];
    assert_eq!((partition.last_stable_offset, partition.aborted_transactions.as_deref()), (7, Some(&[][..])));
}

/// A fetch with nothing to read waits up to max_wait_ms and returns empty; a waiting fetch
/// wakes as soon as data arrives, not at its deadline.
#[test]
fn fetch_long_polls() {
    let brook = Brook::start(&[]);
    let mut conn = Conn::open(&brook.addr);
    create_topic(&mut conn, "poll", 1);
    let start = Instant::now();
    let ResponseKind::Fetch(empty) = conn.call(ApiKey::Fetch, 12, &fetch_request("poll", 0, 300)) else { panic!() };
    assert!(start.elapsed() >= Duration::from_millis(250), "returned before max_wait_ms without data");
    assert!(empty.responses[0].partitions[0].records.as_ref().is_none_or(|r| r.is_empty()));

    let mut waiter = Conn::open(&brook.addr);
    let id = waiter.send(ApiKey::Fetch, 12, &fetch_request("poll", 0, 20_000));
    let start = Instant::now();
    let mut producer = Conn::open(&brook.addr);
    assert_eq!(produce(&mut producer, "poll", -1, build::simple(now_ms(), 1, 10)), Some((0, 0)));
    let (correlation_id, response) = waiter.receive(ApiKey::Fetch, 12).expect("response");
    assert_eq!(correlation_id, id);
    assert!(start.elapsed() < Duration::from_secs(15), "the fetch slept through the produce");
    let ResponseKind::Fetch(response) = response else { panic!() };
    let records = response.responses[0].partitions[0].records.clone().expect("records");
    assert_eq!(batch::BatchHeader::parse(&records).expect("a batch").records_count, 1);
}

/// Fetch sessions (KIP-227): the first fetch opens one; later fetches name nothing that did
/// not change, read every partition of the session, and are answered only with news; a wrong
/// epoch or id is refused with Kafka's codes.
#[test]
fn fetch_sessions_answer_only_news() {
    use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic, ForgottenTopic};
    use kafka_protocol::messages::{FetchRequest, FetchResponse, TopicName};

    let brook = Brook::start(&[]);
    let mut conn = Conn::open(&brook.addr);
    create_topic(&mut conn, "sess", 2);
    let name = TopicName(StrBytes::from_static_str("sess"));
    let full =
        FetchRequest::default().with_max_wait_ms(0).with_max_bytes(1 << 20).with_session_epoch(0).with_topics(vec![
            FetchTopic::default().with_topic(name.clone()).with_partitions(
                (0..2).map(|p| FetchPartition::default().with_partition(p).with_partition_max_bytes(1 << 20)).collect(),
            ),
        ]);
    let mut fetch = |request: &FetchRequest| -> FetchResponse {
        let ResponseKind::Fetch(response) = conn.call(ApiKey::Fetch, 12, request) else { panic!() };
        response
    };
    let partitions = |r: &FetchResponse| -> Vec<i32> {
        r.responses.iter().flat_map(|t| t.partitions.iter().map(|p| p.partition_index)).collect()
    };
    let opened = fetch(&full);
    let id = opened.session_id;
    assert!(id > 0, "a session is opened");
    assert_eq!(partitions(&opened), vec![0, 1]);

    let incremental = |epoch: i32| {
        FetchRequest::default()
            .with_max_wait_ms(200)
            .with_min_bytes(1)
            .with_max_bytes(1 << 20)
            .with_session_id(id)
            .with_session_epoch(epoch)
    };
    let quiet = fetch(&incremental(1));
    assert_eq!((quiet.error_code, quiet.session_id, partitions(&quiet)), (0, id, vec![]), "nothing new");

    let mut producer = Conn::open(&brook.addr);
    assert_eq!(produce(&mut producer, "sess", -1, build::simple(now_ms(), 3, 10)), Some((0, 0)));
    let news = fetch(&incremental(2));
    assert_eq!(partitions(&news), vec![0], "only the partition with records");
    let records = news.responses[0].partitions[0].records.clone().expect("records");
    assert_eq!(batch::BatchHeader::parse(&records).expect("a batch").records_count, 3);

    // The client moves past the batch and forgets partition 1: nothing is new then.
    let moved = incremental(3)
        .with_topics(vec![FetchTopic::default().with_topic(name.clone()).with_partitions(vec![
            FetchPartition::default().with_partition(0).with_fetch_offset(3).with_partition_max_bytes(1 << 20),
        ])])
        .with_forgotten_topics_data(vec![ForgottenTopic::default().with_topic(name).with_partitions(vec![1])]);
    assert_eq!(partitions(&fetch(&moved)), Vec::<i32>::new());

    let replayed = fetch(&incremental(3));
    assert_eq!(replayed.error_code, ResponseError::InvalidFetchSessionEpoch.code());
    let unknown = fetch(&incremental(4).with_session_id(id.wrapping_add(1).max(1)));
    assert_eq!(unknown.error_code, ResponseError::FetchSessionIdNotFound.code());
    // The final epoch closes the session and answers in full.
    let closed = fetch(&full.clone().with_session_id(id).with_session_epoch(-1));
    assert_eq!((closed.session_id, partitions(&closed)), (0, vec![0, 1]));
    assert_eq!(fetch(&incremental(4)).error_code, ResponseError::FetchSessionIdNotFound.code());
}

/// A thousand concurrent connections each get their answer, even when the broker starts with
/// a soft open-file limit of 256 (it raises its own); responses keep request order on a
/// pipelining connection.
#[test]
fn thousand_connections_and_pipelining() {
    let brook = Brook::start_with_nofile_limit(256, &[]);
    let mut conns: Vec<Conn> = (0..1000).map(|_| Conn::open(&brook.addr)).collect();
    let ids: Vec<i32> =
        conns.iter_mut().map(|c| c.send(ApiKey::ApiVersions, 3, &ApiVersionsRequest::default())).collect();
    for (conn, id) in conns.iter_mut().zip(ids) {
        let (correlation_id, _) = conn.receive(ApiKey::ApiVersions, 3).expect("response");
        assert_eq!(correlation_id, id);
    }
    let mut conn = Conn::open(&brook.addr);
    create_topic(&mut conn, "order", 1);
    // A long-poll fetch, then quick requests behind it: the answers still come in order.
    let fetch = conn.send(ApiKey::Fetch, 12, &fetch_request("order", 0, 500));
    let versions = conn.send(ApiKey::ApiVersions, 3, &ApiVersionsRequest::default());
    assert_eq!(conn.receive(ApiKey::Fetch, 12).expect("fetch").0, fetch);
    assert_eq!(conn.receive(ApiKey::ApiVersions, 3).expect("versions").0, versions);
}

/// Every API at every version Brook advertises gets a response it can encode (a field set
/// outside its version would make the broker drop the connection instead).
#[test]
fn every_advertised_version_answers() {
    use kafka_protocol::messages::*;
    let brook = Brook::start(&[]);
    let mut setup = Conn::open(&brook.addr);
    create_topic(&mut setup, "v", 1);
    let ResponseKind::Metadata(metadata) =
        setup.call(ApiKey::Metadata, 12, &MetadataRequest::default().with_topics(None))
    else {
        panic!()
    };
    let topic_id = metadata.topics[0].topic_id;
    let name = || TopicName(StrBytes::from_static_str("v"));
    let group = || GroupId(StrBytes::from_static_str("g"));
    let batch = build::simple(now_ms(), 1, 10);
    let mut failures = Vec::new();
    for &(api_key, min, max) in brook_server::handlers::api_versions::SUPPORTED {
        for version in min..=max {
            let mut conn = Conn::open(&brook.addr);
            let id = match api_key {
                ApiKey::Produce => {
                    let topic = produce_request::TopicProduceData::default().with_partition_data(vec![
                        produce_request::PartitionProduceData::default()
                            .with_index(0)
                            .with_records(Some(batch.clone())),
                    ]);
                    let topic = if version >= 13 { topic.with_topic_id(topic_id) } else { topic.with_name(name()) };
                    conn.send(
                        api_key,
                        version,
                        &ProduceRequest::default().with_acks(1).with_timeout_ms(5000).with_topic_data(vec![topic]),
                    )
                }
                ApiKey::Fetch => {
                    let mut request = fetch_request("v", 0, 0);
                    if version >= 13 {
                        request.topics[0].topic = TopicName::default();
                        request.topics[0].topic_id = topic_id;
                    }
                    if version >= 15 {
                        request.replica_id = BrokerId(-1);
                    }
                    conn.send(api_key, version, &request)
                }
                ApiKey::ListOffsets => {
                    let topic =
                        list_offsets_request::ListOffsetsTopic::default().with_name(name()).with_partitions(vec![
                            list_offsets_request::ListOffsetsPartition::default().with_timestamp(-2),
                        ]);
                    conn.send(
                        api_key,
                        version,
                        &ListOffsetsRequest::default().with_replica_id(BrokerId(-1)).with_topics(vec![topic]),
                    )
                }
                ApiKey::Metadata => {
                    let topic = metadata_request::MetadataRequestTopic::default().with_name(Some(name()));
                    conn.send(api_key, version, &MetadataRequest::default().with_topics(Some(vec![topic])))
                }
                ApiKey::ApiVersions => conn.send(api_key, version, &ApiVersionsRequest::default()),
                ApiKey::CreateTopics => {
                    let topic = create_topics_request::CreatableTopic::default()
                        .with_name(TopicName(StrBytes::from_string(format!("created-{version}"))))
                        .with_num_partitions(1)
                        .with_replication_factor(1);
                    conn.send(api_key, version, &CreateTopicsRequest::default().with_topics(vec![topic]))
                }
                ApiKey::DeleteTopics => {
                    let request = if version >= 6 {
                        DeleteTopicsRequest::default().with_topics(vec![
                            delete_topics_request::DeleteTopicState::default()
                                .with_name(Some(TopicName(StrBytes::from_static_str("missing")))),
                        ])
                    } else {
                        DeleteTopicsRequest::default()
                            .with_topic_names(vec![TopicName(StrBytes::from_static_str("missing"))])
                    };
                    conn.send(api_key, version, &request)
                }
                ApiKey::InitProducerId => conn.send(api_key, version, &InitProducerIdRequest::default()),
                // Transaction APIs from a producer the coordinator does not know: errors, at once.
                ApiKey::AddPartitionsToTxn => {
                    let id = TransactionalId(StrBytes::from_static_str("t"));
                    let topics = vec![
                        add_partitions_to_txn_request::AddPartitionsToTxnTopic::default()
                            .with_name(name())
                            .with_partitions(vec![0]),
                    ];
                    // v4+ is the brokers' batched form.
                    let request = if version >= 4 {
                        AddPartitionsToTxnRequest::default().with_transactions(vec![
                            add_partitions_to_txn_request::AddPartitionsToTxnTransaction::default()
                                .with_transactional_id(id)
                                .with_verify_only(true)
                                .with_topics(topics),
                        ])
                    } else {
                        AddPartitionsToTxnRequest::default()
                            .with_v3_and_below_transactional_id(id)
                            .with_v3_and_below_topics(topics)
                    };
                    conn.send(api_key, version, &request)
                }
                ApiKey::AddOffsetsToTxn => conn.send(
                    api_key,
                    version,
                    &AddOffsetsToTxnRequest::default()
                        .with_transactional_id(TransactionalId(StrBytes::from_static_str("t")))
                        .with_group_id(group()),
                ),
                ApiKey::EndTxn => conn.send(
                    api_key,
                    version,
                    &EndTxnRequest::default().with_transactional_id(TransactionalId(StrBytes::from_static_str("t"))),
                ),
                ApiKey::TxnOffsetCommit => conn.send(
                    api_key,
                    version,
                    &TxnOffsetCommitRequest::default()
                        .with_transactional_id(TransactionalId(StrBytes::from_static_str("t")))
                        .with_group_id(group())
                        .with_topics(vec![
                            txn_offset_commit_request::TxnOffsetCommitRequestTopic::default()
                                .with_name(name())
                                .with_partitions(vec![
                                    txn_offset_commit_request::TxnOffsetCommitRequestPartition::default(),
                                ]),
                        ]),
                ),
                ApiKey::DescribeTransactions => conn.send(
                    api_key,
                    version,
                    &DescribeTransactionsRequest::default()
                        .with_transactional_ids(vec![TransactionalId(StrBytes::from_static_str("t"))]),
                ),
                ApiKey::ListTransactions => conn.send(api_key, version, &ListTransactionsRequest::default()),
                ApiKey::ListConfigResources => conn.send(api_key, version, &ListConfigResourcesRequest::default()),
                ApiKey::DescribeTopicPartitions => conn.send(
                    api_key,
                    version,
                    &DescribeTopicPartitionsRequest::default().with_response_partition_limit(2000),
                ),
                ApiKey::DescribeProducers => conn.send(
                    api_key,
                    version,
                    &DescribeProducersRequest::default().with_topics(vec![
                        describe_producers_request::TopicRequest::default()
                            .with_name(name())
                            .with_partition_indexes(vec![0]),
                    ]),
                ),
                // A marker for a producer the partition has not seen.
                ApiKey::WriteTxnMarkers => conn.send(
                    api_key,
                    version,
                    &WriteTxnMarkersRequest::default().with_markers(vec![
                        write_txn_markers_request::WritableTxnMarker::default()
                            .with_producer_id(ProducerId(77))
                            .with_topics(vec![
                                write_txn_markers_request::WritableTxnMarkerTopic::default()
                                    .with_name(name())
                                    .with_partition_indexes(vec![0]),
                            ]),
                    ]),
                ),
                ApiKey::DescribeConfigs => {
                    let resource = describe_configs_request::DescribeConfigsResource::default()
                        .with_resource_type(2)
                        .with_resource_name(StrBytes::from_static_str("v"));
                    conn.send(api_key, version, &DescribeConfigsRequest::default().with_resources(vec![resource]))
                }
                ApiKey::AlterConfigs => {
                    let resource = alter_configs_request::AlterConfigsResource::default()
                        .with_resource_type(2)
                        .with_resource_name(StrBytes::from_static_str("v"));
                    conn.send(api_key, version, &AlterConfigsRequest::default().with_resources(vec![resource]))
                }
                ApiKey::IncrementalAlterConfigs => {
                    let resource = incremental_alter_configs_request::AlterConfigsResource::default()
                        .with_resource_type(2)
                        .with_resource_name(StrBytes::from_static_str("v"));
                    conn.send(
                        api_key,
                        version,
                        &IncrementalAlterConfigsRequest::default().with_resources(vec![resource]),
                    )
                }
                ApiKey::CreatePartitions => {
                    let topic =
                        create_partitions_request::CreatePartitionsTopic::default().with_name(name()).with_count(1);
                    conn.send(api_key, version, &CreatePartitionsRequest::default().with_topics(vec![topic]))
                }
                ApiKey::DeleteRecords => {
                    let topic =
                        delete_records_request::DeleteRecordsTopic::default().with_name(name()).with_partitions(vec![
                            delete_records_request::DeleteRecordsPartition::default().with_offset(0),
                        ]);
                    conn.send(api_key, version, &DeleteRecordsRequest::default().with_topics(vec![topic]))
                }
                ApiKey::DescribeCluster => conn.send(api_key, version, &DescribeClusterRequest::default()),
                ApiKey::DescribeQuorum => {
                    let topic = describe_quorum_request::TopicData::default()
                        .with_topic_name(TopicName(StrBytes::from_static_str("__cluster_metadata")))
                        .with_partitions(vec![describe_quorum_request::PartitionData::default()]);
                    conn.send(api_key, version, &DescribeQuorumRequest::default().with_topics(vec![topic]))
                }
                // A preferred election of a partition that does not exist.
                ApiKey::ElectLeaders => {
                    let topic = elect_leaders_request::TopicPartitions::default()
                        .with_topic(TopicName(StrBytes::from_static_str("no-such-topic")))
                        .with_partitions(vec![0]);
                    conn.send(
                        api_key,
                        version,
                        &ElectLeadersRequest::default().with_topic_partitions(Some(vec![topic])),
                    )
                }
                // Cancelling a reassignment of a partition that is not moving.
                ApiKey::AlterPartitionReassignments => {
                    let topic = alter_partition_reassignments_request::ReassignableTopic::default()
                        .with_name(name())
                        .with_partitions(vec![alter_partition_reassignments_request::ReassignablePartition::default()]);
                    conn.send(api_key, version, &AlterPartitionReassignmentsRequest::default().with_topics(vec![topic]))
                }
                ApiKey::ListPartitionReassignments => {
                    conn.send(api_key, version, &ListPartitionReassignmentsRequest::default().with_topics(None))
                }
                ApiKey::DescribeLogDirs => {
                    conn.send(api_key, version, &DescribeLogDirsRequest::default().with_topics(None))
                }
                // A broker that was never registered.
                ApiKey::UnregisterBroker => {
                    conn.send(api_key, version, &UnregisterBrokerRequest::default().with_broker_id(BrokerId(77)))
                }
                ApiKey::GetTelemetrySubscriptions => {
                    conn.send(api_key, version, &GetTelemetrySubscriptionsRequest::default())
                }
                // A push from a client that never asked: refused, and answered.
                ApiKey::PushTelemetry => conn.send(
                    api_key,
                    version,
                    &PushTelemetryRequest::default().with_client_instance_id(uuid::Uuid::new_v4()),
                ),
                // A move to a log dir this broker does not have.
                ApiKey::AlterReplicaLogDirs => {
                    let topic = alter_replica_log_dirs_request::AlterReplicaLogDirTopic::default()
                        .with_name(name())
                        .with_partitions(vec![0]);
                    let dir = alter_replica_log_dirs_request::AlterReplicaLogDir::default()
                        .with_path(StrBytes::from_static_str("/no/such/dir"))
                        .with_topics(vec![topic]);
                    conn.send(api_key, version, &AlterReplicaLogDirsRequest::default().with_dirs(vec![dir]))
                }
                ApiKey::FindCoordinator => {
                    let request = if version >= 4 {
                        FindCoordinatorRequest::default().with_coordinator_keys(vec![StrBytes::from_static_str("g")])
                    } else {
                        FindCoordinatorRequest::default().with_key(StrBytes::from_static_str("g"))
                    };
                    conn.send(api_key, version, &request)
                }
                // An invalid session timeout: answered at once, with an error, at every version.
                ApiKey::JoinGroup => conn.send(
                    api_key,
                    version,
                    &JoinGroupRequest::default().with_group_id(group()).with_session_timeout_ms(1),
                ),
                ApiKey::SyncGroup => conn.send(api_key, version, &SyncGroupRequest::default().with_group_id(group())),
                ApiKey::Heartbeat => conn.send(api_key, version, &HeartbeatRequest::default().with_group_id(group())),
                ApiKey::LeaveGroup => {
                    let member = leave_group_request::MemberIdentity::default();
                    let request = LeaveGroupRequest::default().with_group_id(group());
                    conn.send(
                        api_key,
                        version,
                        &if version >= 3 { request.with_members(vec![member]) } else { request },
                    )
                }
                ApiKey::OffsetCommit => {
                    let topic = offset_commit_request::OffsetCommitRequestTopic::default()
                        .with_name(name())
                        .with_partitions(vec![offset_commit_request::OffsetCommitRequestPartition::default()]);
                    let request = OffsetCommitRequest::default()
                        .with_group_id(group())
                        .with_generation_id_or_member_epoch(-1)
                        .with_topics(vec![topic]);
                    conn.send(api_key, version, &request)
                }
                ApiKey::OffsetFetch => {
                    let request = if version >= 8 {
                        OffsetFetchRequest::default().with_groups(vec![
                            offset_fetch_request::OffsetFetchRequestGroup::default().with_group_id(group()),
                        ])
                    } else {
                        OffsetFetchRequest::default().with_group_id(group()).with_topics(if version >= 2 {
                            None
                        } else {
                            Some(vec![])
                        })
                    };
                    conn.send(api_key, version, &request)
                }
                ApiKey::DescribeGroups => {
                    conn.send(api_key, version, &DescribeGroupsRequest::default().with_groups(vec![group()]))
                }
                ApiKey::ListGroups => conn.send(api_key, version, &ListGroupsRequest::default()),
                ApiKey::DeleteGroups => {
                    conn.send(api_key, version, &DeleteGroupsRequest::default().with_groups_names(vec![group()]))
                }
                ApiKey::OffsetDelete => {
                    conn.send(api_key, version, &OffsetDeleteRequest::default().with_group_id(group()))
                }
                // A leave from an unknown member: answered at once.
                ApiKey::ConsumerGroupHeartbeat => conn.send(
                    api_key,
                    version,
                    &ConsumerGroupHeartbeatRequest::default()
                        .with_group_id(group())
                        .with_member_id(StrBytes::from_static_str("m"))
                        .with_member_epoch(-1),
                ),
                ApiKey::ConsumerGroupDescribe => {
                    conn.send(api_key, version, &ConsumerGroupDescribeRequest::default().with_group_ids(vec![group()]))
                }
                ApiKey::StreamsGroupHeartbeat => {
                    use streams_group_heartbeat_request::{Subtopology, Topology};
                    let topology = Topology::default().with_subtopologies(vec![
                        Subtopology::default()
                            .with_subtopology_id(StrBytes::from_static_str("0"))
                            .with_source_topics(vec![name()]),
                    ]);
                    conn.send(
                        api_key,
                        version,
                        &StreamsGroupHeartbeatRequest::default()
                            .with_group_id(GroupId(StrBytes::from_string(format!("streams-{version}"))))
                            .with_member_id(StrBytes::from_static_str("m"))
                            .with_rebalance_timeout_ms(30_000)
                            .with_topology(Some(topology))
                            .with_active_tasks(Some(vec![]))
                            .with_standby_tasks(Some(vec![]))
                            .with_warmup_tasks(Some(vec![])),
                    )
                }
                ApiKey::StreamsGroupDescribe => conn.send(
                    api_key,
                    version,
                    &StreamsGroupDescribeRequest::default()
                        .with_group_ids(vec![GroupId(StrBytes::from_static_str("streams-0"))]),
                ),
                ApiKey::StreamsGroupTopologyDescriptionUpdate => conn.send(
                    api_key,
                    version,
                    &StreamsGroupTopologyDescriptionUpdateRequest::default()
                        .with_group_id(group())
                        .with_member_id(StrBytes::from_static_str("m")),
                ),
                ApiKey::ShareGroupHeartbeat => conn.send(
                    api_key,
                    version,
                    &ShareGroupHeartbeatRequest::default()
                        .with_group_id(group())
                        .with_member_id(StrBytes::from_static_str("m"))
                        .with_subscribed_topic_names(Some(vec![name()])),
                ),
                ApiKey::ShareGroupDescribe => {
                    conn.send(api_key, version, &ShareGroupDescribeRequest::default().with_group_ids(vec![group()]))
                }
                ApiKey::ShareFetch => {
                    let topic = share_fetch_request::FetchTopic::default()
                        .with_topic_id(topic_id)
                        .with_partitions(vec![share_fetch_request::FetchPartition::default()]);
                    conn.send(
                        api_key,
                        version,
                        &ShareFetchRequest::default()
                            .with_group_id(Some(group()))
                            .with_member_id(Some(StrBytes::from_static_str("m")))
                            .with_max_wait_ms(10)
                            .with_topics(vec![topic]),
                    )
                }
                ApiKey::ReadShareGroupState => {
                    let topic = read_share_group_state_request::ReadStateData::default()
                        .with_topic_id(topic_id)
                        .with_partitions(vec![read_share_group_state_request::PartitionData::default()]);
                    conn.send(
                        api_key,
                        version,
                        &ReadShareGroupStateRequest::default()
                            .with_group_id(StrBytes::from_static_str("g"))
                            .with_topics(vec![topic]),
                    )
                }
                ApiKey::WriteShareGroupState => {
                    let topic = write_share_group_state_request::WriteStateData::default()
                        .with_topic_id(topic_id)
                        .with_partitions(vec![write_share_group_state_request::PartitionData::default()]);
                    conn.send(
                        api_key,
                        version,
                        &WriteShareGroupStateRequest::default()
                            .with_group_id(StrBytes::from_static_str("g"))
                            .with_topics(vec![topic]),
                    )
                }
                // A validate-only change that leaves the level as it is.
                ApiKey::UpdateFeatures => {
                    let update = update_features_request::FeatureUpdateKey::default()
                        .with_feature(StrBytes::from_static_str("share.version"))
                        .with_max_version_level(2);
                    let request = UpdateFeaturesRequest::default()
                        .with_validate_only(version >= 1)
                        .with_feature_updates(vec![update]);
                    conn.send(api_key, version, &request)
                }
                ApiKey::ReadShareGroupStateSummary => {
                    let topic = read_share_group_state_summary_request::ReadStateSummaryData::default()
                        .with_topic_id(topic_id)
                        .with_partitions(vec![read_share_group_state_summary_request::PartitionData::default()]);
                    conn.send(
                        api_key,
                        version,
                        &ReadShareGroupStateSummaryRequest::default()
                            .with_group_id(StrBytes::from_static_str("g"))
                            .with_topics(vec![topic]),
                    )
                }
                ApiKey::InitializeShareGroupState => {
                    let topic = initialize_share_group_state_request::InitializeStateData::default()
                        .with_topic_id(topic_id)
                        .with_partitions(vec![initialize_share_group_state_request::PartitionData::default()]);
                    conn.send(
                        api_key,
                        version,
                        &InitializeShareGroupStateRequest::default()
                            .with_group_id(StrBytes::from_static_str("g"))
                            .with_topics(vec![topic]),
                    )
                }
                ApiKey::DeleteShareGroupState => {
                    let topic = delete_share_group_state_request::DeleteStateData::default()
                        .with_topic_id(topic_id)
                        .with_partitions(vec![delete_share_group_state_request::PartitionData::default()]);
                    conn.send(
                        api_key,
                        version,
                        &DeleteShareGroupStateRequest::default()
                            .with_group_id(StrBytes::from_static_str("g"))
                            .with_topics(vec![topic]),
                    )
                }
                ApiKey::DescribeShareGroupOffsets => {
                    let g = describe_share_group_offsets_request::DescribeShareGroupOffsetsRequestGroup::default()
                        .with_group_id(group())
                        .with_topics(Some(vec![
                            describe_share_group_offsets_request::DescribeShareGroupOffsetsRequestTopic::default()
                                .with_topic_name(name())
                                .with_partitions(vec![0]),
                        ]));
                    conn.send(api_key, version, &DescribeShareGroupOffsetsRequest::default().with_groups(vec![g]))
                }
                ApiKey::AlterShareGroupOffsets => {
                    let topic = alter_share_group_offsets_request::AlterShareGroupOffsetsRequestTopic::default()
                        .with_topic_name(name())
                        .with_partitions(vec![
                            alter_share_group_offsets_request::AlterShareGroupOffsetsRequestPartition::default(),
                        ]);
                    conn.send(
                        api_key,
                        version,
                        &AlterShareGroupOffsetsRequest::default()
                            .with_group_id(GroupId(StrBytes::from_static_str("share-g")))
                            .with_topics(vec![topic]),
                    )
                }
                ApiKey::DeleteShareGroupOffsets => {
                    let topic = delete_share_group_offsets_request::DeleteShareGroupOffsetsRequestTopic::default()
                        .with_topic_name(name());
                    conn.send(
                        api_key,
                        version,
                        &DeleteShareGroupOffsetsRequest::default()
                            .with_group_id(GroupId(StrBytes::from_static_str("share-g")))
                            .with_topics(vec![topic]),
                    )
                }
                ApiKey::ShareAcknowledge => conn.send(
                    api_key,
                    version,
                    &ShareAcknowledgeRequest::default()
                        .with_group_id(Some(group()))
                        .with_member_id(Some(StrBytes::from_static_str("m")))
                        .with_share_session_epoch(-1),
                ),
                ApiKey::OffsetForLeaderEpoch => {
                    let partition = offset_for_leader_epoch_request::OffsetForLeaderPartition::default();
                    let topic = offset_for_leader_epoch_request::OffsetForLeaderTopic::default()
                        .with_topic(name())
                        .with_partitions(vec![partition]);
                    conn.send(
                        api_key,
                        version,
                        &OffsetForLeaderEpochRequest::default().with_replica_id(BrokerId(-1)).with_topics(vec![topic]),
                    )
                }
                ApiKey::SaslHandshake => conn.send(
                    api_key,
                    version,
                    &kafka_protocol::messages::SaslHandshakeRequest::default()
                        .with_mechanism(StrBytes::from_static_str("PLAIN")),
                ),
                ApiKey::SaslAuthenticate => {
                    conn.send(api_key, version, &kafka_protocol::messages::SaslAuthenticateRequest::default())
                }
                ApiKey::DescribeUserScramCredentials => {
                    conn.send(api_key, version, &DescribeUserScramCredentialsRequest::default().with_users(None))
                }
                ApiKey::AlterUserScramCredentials => {
                    let upsertion = alter_user_scram_credentials_request::ScramCredentialUpsertion::default()
                        .with_name(StrBytes::from_static_str("v"))
                        .with_mechanism(1)
                        .with_iterations(4096)
                        .with_salt(vec![1u8; 16].into())
                        .with_salted_password(vec![2u8; 32].into());
                    conn.send(
                        api_key,
                        version,
                        &AlterUserScramCredentialsRequest::default().with_upsertions(vec![upsertion]),
                    )
                }
                ApiKey::CreateAcls => {
                    let creation = kafka_protocol::messages::create_acls_request::AclCreation::default()
                        .with_resource_type(2)
                        .with_resource_name(StrBytes::from_static_str("v"))
                        .with_resource_pattern_type(3)
                        .with_principal(StrBytes::from_static_str("User:v"))
                        .with_host(StrBytes::from_static_str("*"))
                        .with_operation(3)
                        .with_permission_type(3);
                    let request = kafka_protocol::messages::CreateAclsRequest::default().with_creations(vec![creation]);
                    conn.send(api_key, version, &request)
                }
                ApiKey::DescribeAcls => {
                    let request = kafka_protocol::messages::DescribeAclsRequest::default()
                        .with_resource_type_filter(1)
                        .with_pattern_type_filter(1)
                        .with_operation(1)
                        .with_permission_type(1);
                    conn.send(api_key, version, &request)
                }
                ApiKey::DeleteAcls => {
                    let filter = kafka_protocol::messages::delete_acls_request::DeleteAclsFilter::default()
                        .with_resource_type_filter(1)
                        .with_pattern_type_filter(1)
                        .with_operation(1)
                        .with_permission_type(1);
                    conn.send(
                        api_key,
                        version,
                        &kafka_protocol::messages::DeleteAclsRequest::default().with_filters(vec![filter]),
                    )
                }
                ApiKey::DescribeClientQuotas => conn.send(
                    api_key,
                    version,
                    &kafka_protocol::messages::DescribeClientQuotasRequest::default().with_strict(false),
                ),
                ApiKey::AlterClientQuotas => {
                    use kafka_protocol::messages::alter_client_quotas_request::{EntityData, EntryData, OpData};
                    let entry = EntryData::default()
                        .with_entity(vec![EntityData::default().with_entity_type(StrBytes::from_static_str("user"))])
                        .with_ops(vec![
                            OpData::default().with_key(StrBytes::from_static_str("producer_byte_rate")).with_value(1e9),
                        ]);
                    let request = kafka_protocol::messages::AlterClientQuotasRequest::default()
                        .with_entries(vec![entry])
                        .with_validate_only(true);
                    conn.send(api_key, version, &request)
                }
                // On a PLAINTEXT listener every token API is refused (REQUEST_NOT_ALLOWED), but
                // answered at each version.
                ApiKey::CreateDelegationToken => {
                    conn.send(api_key, version, &kafka_protocol::messages::CreateDelegationTokenRequest::default())
                }
                ApiKey::RenewDelegationToken => {
                    conn.send(api_key, version, &kafka_protocol::messages::RenewDelegationTokenRequest::default())
                }
                ApiKey::ExpireDelegationToken => {
                    conn.send(api_key, version, &kafka_protocol::messages::ExpireDelegationTokenRequest::default())
                }
                ApiKey::DescribeDelegationToken => {
                    conn.send(api_key, version, &kafka_protocol::messages::DescribeDelegationTokenRequest::default())
                }
                // Changes a static quorum refuses, and a controller that was never registered.
                ApiKey::AddRaftVoter => {
                    conn.send(api_key, version, &kafka_protocol::messages::AddRaftVoterRequest::default())
                }
                ApiKey::RemoveRaftVoter => {
                    conn.send(api_key, version, &kafka_protocol::messages::RemoveRaftVoterRequest::default())
                }
                ApiKey::UnregisterController => conn.send(
                    api_key,
                    version,
                    &kafka_protocol::messages::UnregisterControllerRequest::default().with_controller_id(77),
                ),
                other => panic!("no request built for {other:?}: add one"),
            };
            match conn.receive(api_key, version) {
                Some((correlation_id, _)) => assert_eq!(correlation_id, id),
                None => failures.push(format!("{api_key:?} v{version}")),
            }
        }
    }
    assert!(failures.is_empty(), "the broker closed the connection instead of answering: {failures:?}");
}

/// A consumer names the leader epoch it knows: one this broker has not reached yet is
/// UNKNOWN_LEADER_EPOCH on Fetch, ListOffsets and OffsetForLeaderEpoch (KIP-320); the current
/// one, or none (-1), is served. OffsetForLeaderEpoch answers where an epoch ends: the log end
/// for the current epoch, (-1, -1) before the first.
#[test]
fn leader_epochs_are_checked() {
    use kafka_protocol::messages::list_offsets_request::{ListOffsetsPartition, ListOffsetsTopic};
    use kafka_protocol::messages::{BrokerId, ListOffsetsRequest, MetadataRequest, TopicName};
    let brook = Brook::start(&[]);
    let mut conn = Conn::open(&brook.addr);
    create_topic(&mut conn, "epochs", 1);
    for base in [0, 2, 4] {
        assert_eq!(produce(&mut conn, "epochs", -1, build::simple(now_ms(), 2, 10)), Some((0, base)));
    }
    let ResponseKind::Metadata(metadata) =
        conn.call(ApiKey::Metadata, 12, &MetadataRequest::default().with_topics(None))
    else {
        panic!()
    };
    let epoch = metadata.topics[0].partitions[0].leader_epoch;
    assert!(epoch >= 0);
    assert_eq!(offset_for_leader_epoch(&mut conn, "epochs", 0, epoch, epoch), (0, epoch, 6));
    assert_eq!(offset_for_leader_epoch(&mut conn, "epochs", 0, -1, epoch), (0, epoch, 6));
    assert_eq!(
        offset_for_leader_epoch(&mut conn, "epochs", 0, epoch + 1, epoch).0,
        ResponseError::UnknownLeaderEpoch.code()
    );
    assert_eq!(
        offset_for_leader_epoch(&mut conn, "missing", 0, -1, 0).0,
        ResponseError::UnknownTopicOrPartition.code()
    );
    if epoch > 0 {
        assert_eq!(
            offset_for_leader_epoch(&mut conn, "epochs", 0, epoch - 1, epoch).0,
            ResponseError::FencedLeaderEpoch.code()
        );
    }

    let fetch_code = |conn: &mut Conn, current: i32| {
        let mut request = fetch_request("epochs", 0, 0);
        request.topics[0].partitions[0].current_leader_epoch = current;
        let ResponseKind::Fetch(r) = conn.call(ApiKey::Fetch, 12, &request) else { panic!() };
        r.responses[0].partitions[0].error_code
    };
    assert_eq!(fetch_code(&mut conn, epoch), 0);
    assert_eq!(fetch_code(&mut conn, epoch + 1), ResponseError::UnknownLeaderEpoch.code());
    let list_code = |conn: &mut Conn, current: i32| {
        let topic =
            ListOffsetsTopic::default().with_name(TopicName(StrBytes::from_static_str("epochs"))).with_partitions(
                vec![ListOffsetsPartition::default().with_timestamp(-1).with_current_leader_epoch(current)],
            );
        let request = ListOffsetsRequest::default().with_replica_id(BrokerId(-1)).with_topics(vec![topic]);
        let ResponseKind::ListOffsets(r) = conn.call(ApiKey::ListOffsets, 8, &request) else { panic!() };
        let p = &r.topics[0].partitions[0];
        (p.error_code, p.offset)
    };
    assert_eq!(list_code(&mut conn, epoch), (0, 6));
    assert_eq!(list_code(&mut conn, epoch + 1).0, ResponseError::UnknownLeaderEpoch.code());
}

/// A compressed "bomb" (a few KiB of zstd that inflate past 128 MiB) can be stored, since the
/// broker never decompresses on produce, but a ListOffsets that must look inside it answers an
/// error instead of inflating it without limit.
#[test]
fn decompression_bomb_is_capped() {
    use kafka_protocol::messages::list_offsets_request::{ListOffsetsPartition, ListOffsetsTopic};
    use kafka_protocol::messages::{BrokerId, ListOffsetsRequest, TopicName};
    use kafka_protocol::records::{Compression, Record, RecordBatchEncoder, RecordEncodeOptions, TimestampType};
    let brook = Brook::start(&[]);
    let mut conn = Conn::open(&brook.addr);
    create_topic(&mut conn, "bomb", 1);
    let now = now_ms();
    let records: Vec<Record> = (0..1)
        .map(|i| Record {
            transactional: false,
            control: false,
            delete_horizon: false,
            partition_leader_epoch: -1,
            producer_id: -1,
            producer_epoch: -1,
            timestamp_type: TimestampType::Creation,
            offset: i,
            sequence: -1,
            timestamp: now + i,
            key: None,
            value: Some(Bytes::from(vec![0u8; 130 << 20])),
            headers: Default::default(),
        })
        .collect();
    let mut encoded = bytes::BytesMut::new();
    let options = RecordEncodeOptions { version: 2, compression: Compression::Zstd };
    RecordBatchEncoder::encode(&mut encoded, records.iter(), &options).expect("encode");
    assert!(encoded.len() < 1 << 20, "the bomb fits within max.message.bytes");
    // acks=all: ListOffsets reads below the high watermark, which covers synced data only.
    assert_eq!(produce(&mut conn, "bomb", -1, encoded.freeze()), Some((0, 0)));
    let request = ListOffsetsRequest::default().with_replica_id(BrokerId(-1)).with_topics(vec![
        ListOffsetsTopic::default()
            .with_name(TopicName(StrBytes::from_static_str("bomb")))
            .with_partitions(vec![ListOffsetsPartition::default().with_timestamp(now)]),
    ]);
    let ResponseKind::ListOffsets(response) = conn.call(ApiKey::ListOffsets, 8, &request) else { panic!() };
    assert_eq!(response.topics[0].partitions[0].error_code, 2, "CORRUPT_MESSAGE, not an unbounded allocation");
}

/// A topic with `compression.type=gzip` stores an uncompressed producer batch gzip-compressed,
/// keeping its records, producer id and sequence; a corrupt batch is refused, not re-encoded.
#[test]
fn topic_compression_type_recompresses() {
    use kafka_protocol::messages::create_topics_request::{CreatableTopic, CreatableTopicConfig};
    use kafka_protocol::messages::{CreateTopicsRequest, TopicName};
    use kafka_protocol::records::RecordBatchDecoder;
    let brook = Brook::start(&[]);
    let mut conn = Conn::open(&brook.addr);
    let request = CreateTopicsRequest::default().with_timeout_ms(5_000).with_topics(vec![
        CreatableTopic::default()
            .with_name(TopicName(StrBytes::from_static_str("gz")))
            .with_num_partitions(1)
            .with_replication_factor(1)
            .with_configs(vec![
                CreatableTopicConfig::default()
                    .with_name(StrBytes::from_static_str("compression.type"))
                    .with_value(Some(StrBytes::from_static_str("gzip"))),
            ]),
    ]);
    let ResponseKind::CreateTopics(created) = conn.call(ApiKey::CreateTopics, 7, &request) else { panic!() };
    assert_eq!(created.topics[0].error_code, 0);
    let sent = idempotent_batch(42, 0, 0, 5);
    assert_eq!(batch::BatchHeader::parse(&sent).expect("header").compression(), 0);
    assert_eq!(produce(&mut conn, "gz", -1, sent.clone()), Some((0, 0)));
    let mut corrupt = sent.to_vec();
    *corrupt.last_mut().expect("bytes") ^= 1;
    assert_eq!(produce(&mut conn, "gz", -1, Bytes::from(corrupt)), Some((2, -1)), "CORRUPT_MESSAGE");

    let ResponseKind::Fetch(fetch) = conn.call(ApiKey::Fetch, 12, &fetch_request("gz", 0, 0)) else { panic!() };
    let stored = fetch.responses[0].partitions[0].records.clone().expect("records");
    let header = batch::BatchHeader::parse(&stored).expect("header");
    assert_eq!(header.compression(), 1, "stored gzip-compressed");
    assert_eq!((header.producer_id, header.producer_epoch, header.base_sequence), (42, 0, 0));
    assert_eq!(header.records_count, 5);
    let mut stored = stored;
    let decoded = RecordBatchDecoder::decode(&mut stored).expect("decode");
    let mut original = sent;
    let expected = RecordBatchDecoder::decode(&mut original).expect("decode");
    let values =
        |records: &[kafka_protocol::records::Record]| records.iter().map(|r| r.value.clone()).collect::<Vec<_>>();
    assert_eq!(values(&decoded.records), values(&expected.records));
    // The producer's next batch still follows on from the recompressed one.
    assert_eq!(produce(&mut conn, "gz", -1, idempotent_batch(42, 0, 5, 1)), Some((0, 5)));
}
