"""kafka-python (a pure-Python client, independent of librdkafka) against Brook."""

import pathlib
import time

import pytest
from conftest import Brook
from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer, TopicPartition
from kafka.admin import ConfigResource, ConfigResourceType, NewPartitions, NewTopic
from kafka.errors import InvalidReplicationFactorError, KafkaStorageError, TopicAlreadyExistsError


def consume_all(bootstrap, topic, partitions, count, timeout_s=20):
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, auto_offset_reset="earliest", enable_auto_commit=False,
                             group_id=None, consumer_timeout_ms=1000)
    consumer.assign([TopicPartition(topic, p) for p in range(partitions)])
    consumer.seek_to_beginning()
    got = []
    deadline = time.time() + timeout_s
    while len(got) < count and time.time() < deadline:
        for message in consumer:
            got.append(message)
    consumer.close()
    return got


def test_overview_walk(brook):
    admin = KafkaAdminClient(bootstrap_servers=brook.bootstrap)
    admin.create_topics([NewTopic("purchases", 3, 1)])
    producer = KafkaProducer(bootstrap_servers=brook.bootstrap, acks="all")
    partition_of = {}
    for i in range(60):
        key = f"customer-{i % 7}".encode()
        meta = producer.send("purchases", key=key, value=f"transaction-{i}".encode()).get(timeout=10)
        assert partition_of.setdefault(key, meta.partition) == meta.partition
    producer.close()
    got = consume_all(brook.bootstrap, "purchases", 3, 60)
    assert len(got) == 60
    for p in range(3):
        in_partition = [m for m in got if m.partition == p]
        assert [m.offset for m in in_partition] == list(range(len(in_partition)))
        numbers = [int(m.value.decode().removeprefix("transaction-")) for m in in_partition]
        assert numbers == sorted(numbers)
        assert all(partition_of[m.key] == p for m in in_partition)


def test_admin_errors(brook):
    admin = KafkaAdminClient(bootstrap_servers=brook.bootstrap)
    with pytest.raises(InvalidReplicationFactorError):
        admin.create_topics([NewTopic("replicated", 1, 3)])
    admin.create_topics([NewTopic("once", 1, 1)])
    with pytest.raises(TopicAlreadyExistsError):
        admin.create_topics([NewTopic("once", 1, 1)])


def test_create_topics_is_all_or_nothing(brook):
    """A partition that cannot be created on disk (a file where its directory goes) refuses
    the whole topic at once, and nothing of it stays in Metadata or on disk."""
    data = pathlib.Path(brook.data_dir)
    blocker = data / "doomed-2"
    blocker.write_text("not a directory")
    admin = KafkaAdminClient(bootstrap_servers=brook.bootstrap)
    started = time.monotonic()
    with pytest.raises(KafkaStorageError):
        admin.create_topics([NewTopic("doomed", 4, 1)])
    assert time.monotonic() - started < 10, "the refusal must come at once, not after retries"
    assert "doomed" not in admin.list_topics()
    assert sorted(p.name for p in data.glob("doomed-*")) == ["doomed-2"]
    blocker.unlink()
    admin.create_topics([NewTopic("doomed", 4, 1)])
    producer = KafkaProducer(bootstrap_servers=brook.bootstrap, acks="all")
    for p in range(4):
        producer.send("doomed", value=b"v", partition=p).get(timeout=10)
    producer.close()
    assert len(consume_all(brook.bootstrap, "doomed", 4, 4)) == 4


def test_list_offsets_by_timestamp(brook):
    admin = KafkaAdminClient(bootstrap_servers=brook.bootstrap)
    admin.create_topics([NewTopic("timed", 1, 1)])
    producer = KafkaProducer(bootstrap_servers=brook.bootstrap, acks="all")
    base = 1_700_000_000_000
    for i in range(10):
        producer.send("timed", value=b"v", timestamp_ms=base + i * 1000).get(timeout=10)
    producer.close()
    consumer = KafkaConsumer(bootstrap_servers=brook.bootstrap)
    tp = TopicPartition("timed", 0)
    found = consumer.offsets_for_times({tp: base + 4500})
    assert found[tp].offset == 5
    assert found[tp].timestamp == base + 5000
    assert consumer.offsets_for_times({tp: base + 60_000})[tp] is None
    assert consumer.beginning_offsets([tp])[tp] == 0
    assert consumer.end_offsets([tp])[tp] == 10
    consumer.close()


def test_delete_records_moves_the_start(brook):
    admin = KafkaAdminClient(bootstrap_servers=brook.bootstrap)
    admin.create_topics([NewTopic("trimmed", 1, 1)])
    producer = KafkaProducer(bootstrap_servers=brook.bootstrap, acks="all")
    for i in range(20):
        producer.send("trimmed", value=f"{i}".encode()).get(timeout=10)
    producer.close()
    tp = TopicPartition("trimmed", 0)
    result = admin.delete_records({tp: 12})
    assert result[tp]["low_watermark"] == 12
    consumer = KafkaConsumer(bootstrap_servers=brook.bootstrap)
    assert consumer.beginning_offsets([tp])[tp] == 12
    consumer.close()
    got = consume_all(brook.bootstrap, "trimmed", 1, 8)
    assert [m.value for m in got] == [f"{i}".encode() for i in range(12, 20)]


def test_configs_and_partitions(brook):
    admin = KafkaAdminClient(bootstrap_servers=brook.bootstrap)
    admin.create_topics([NewTopic("configured", 1, 1, topic_configs={"retention.ms": "3600000"})])
    def retention_ms():
        described = admin.describe_configs([ConfigResource(ConfigResourceType.TOPIC, "configured")])
        entry = described["topic"]["configured"]["retention.ms"]
        assert entry["config_source"] == "DYNAMIC_TOPIC_CONFIG"
        return entry["value"]

    assert retention_ms() == "3600000"
    admin.alter_configs([ConfigResource(ConfigResourceType.TOPIC, "configured", configs={"retention.ms": "7200000"})])
    assert retention_ms() == "7200000"
    admin.create_partitions({"configured": NewPartitions(4)})
    producer = KafkaProducer(bootstrap_servers=brook.bootstrap, acks="all")
    meta = producer.send("configured", value=b"x", partition=3).get(timeout=10)
    assert meta.partition == 3
    producer.close()


def test_restart_keeps_data(start_brook):
    brook = start_brook()
    producer = KafkaProducer(bootstrap_servers=brook.bootstrap, acks="all")
    for i in range(10):
        producer.send("restart", value=f"{i}".encode()).get(timeout=10)
    producer.close()
    assert brook.stop() == 0
    brook = start_brook()
    got = consume_all(brook.bootstrap, "restart", 1, 10)
    assert [m.value for m in got] == [f"{i}".encode() for i in range(10)]


def test_transactions_commit_and_abort(brook):
    """kafka-python's transactional producer: only committed records reach read_committed."""
    admin = KafkaAdminClient(bootstrap_servers=brook.bootstrap)
    admin.create_topics([NewTopic("journal", 1, 1)])
    producer = KafkaProducer(bootstrap_servers=brook.bootstrap, transactional_id="journal-app")
    producer.init_transactions()
    producer.begin_transaction()
    producer.send("journal", value=b"c0")
    producer.send("journal", value=b"c1")
    producer.commit_transaction()
    producer.begin_transaction()
    producer.send("journal", value=b"a0")
    producer.flush()  # in the log before the abort, so read_uncommitted sees it
    producer.abort_transaction()
    producer.begin_transaction()
    producer.send("journal", value=b"c2")
    producer.commit_transaction()
    producer.close()

    def read(isolation, count):
        consumer = KafkaConsumer(bootstrap_servers=brook.bootstrap, auto_offset_reset="earliest",
                                 enable_auto_commit=False, group_id=None, consumer_timeout_ms=1000,
                                 isolation_level=isolation)
        consumer.assign([TopicPartition("journal", 0)])
        consumer.seek_to_beginning()
        got = []
        deadline = time.time() + 20
        while len(got) < count and time.time() < deadline:
            got.extend(m.value for m in consumer)
        got.extend(m.value for m in consumer)
        consumer.close()
        return got

    assert read("read_committed", 3) == [b"c0", b"c1", b"c2"]
    assert read("read_uncommitted", 4) == [b"c0", b"c1", b"a0", b"c2"]


def test_dynamic_broker_configs(brook):
    """Broker configs changed at run time with kafka-python: IncrementalAlterConfigs (its
    default) and the older AlterConfigs (which kafka-python sends with the broker's other
    dynamic configs, since it replaces the whole set); a bad value is refused with Kafka's error."""
    admin = KafkaAdminClient(bootstrap_servers=brook.bootstrap)

    def broker(configs=None):
        return ConfigResource(ConfigResourceType.BROKER, "1", configs=configs)

    def await_config(key, value, source):
        deadline = time.time() + 10
        while True:
            entry = admin.describe_configs([broker()])["broker"]["1"][key]
            if (entry["value"], entry["config_source"]) == (value, source) or time.time() > deadline:
                return entry["value"], entry["config_source"]
            time.sleep(0.1)

    changed = admin.alter_configs([broker({"log.retention.ms": "7200000", "message.max.bytes": "2000"})])
    assert changed == {"broker": {"1": "OK"}}
    assert await_config("log.retention.ms", "7200000", "DYNAMIC_BROKER_CONFIG") == ("7200000", "DYNAMIC_BROKER_CONFIG")
    assert await_config("message.max.bytes", "2000", "DYNAMIC_BROKER_CONFIG") == ("2000", "DYNAMIC_BROKER_CONFIG")
    admin.alter_configs([broker({"log.retention.ms": "3600000"})], incremental=False)
    assert await_config("log.retention.ms", "3600000", "DYNAMIC_BROKER_CONFIG") == ("3600000", "DYNAMIC_BROKER_CONFIG")
    assert await_config("message.max.bytes", "2000", "DYNAMIC_BROKER_CONFIG") == ("2000", "DYNAMIC_BROKER_CONFIG")
    refused = admin.alter_configs([broker({"log.segment.bytes": "100"})])["broker"]["1"]
    assert "InvalidRequestError" in refused and "Value must be at least 1048576" in refused, refused


def test_replicas_move_between_log_dirs(tmp_path):
    """kafka-python's admin moves a replica between a broker's two log dirs
    (AlterReplicaLogDirs) and sees where each replica lives (DescribeLogDirs); the records
    are all still there."""
    disks = [tmp_path / "disk-a", tmp_path / "disk-b"]
    b = Brook(tmp_path / "disk-a", f"log.dirs={disks[0]},{disks[1]}")
    try:
        admin = KafkaAdminClient(bootstrap_servers=b.bootstrap)
        admin.create_topics([NewTopic("disks", 2, 1)])
        producer = KafkaProducer(bootstrap_servers=b.bootstrap, acks="all")
        for i in range(30):
            producer.send("disks", value=f"{i}".encode(), partition=i % 2).get(timeout=10)
        producer.close()

        def placement():
            where = {}
            for broker in admin.describe_log_dirs(["disks"]):
                for log_dir in broker["log_dirs"]:
                    for topic in log_dir["topics"]:
                        for p in topic["partitions"]:
                            where[(p["partition_index"], p["is_future_key"])] = log_dir["log_dir"]
            return where

        assert placement() == {(0, False): str(disks[0]), (1, False): str(disks[1])}
        moved = admin.alter_replica_log_dirs({("disks", 0, 1): str(disks[1]), ("disks", 1, 1): "/no/such/dir"})
        assert {tp.partition: err.__name__ for tp, err in moved.items()} == {0: "NoError", 1: "LogDirNotFoundError"}
        deadline = time.time() + 30
        while placement() != {(0, False): str(disks[1]), (1, False): str(disks[1])}:
            assert time.time() < deadline, placement()
            time.sleep(0.1)
        assert sorted(int(m.value) for m in consume_all(b.bootstrap, "disks", 2, 30)) == list(range(30))
    finally:
        b.kill()
