"""confluent-kafka (librdkafka 2.16 from PyPI) against Brook: the overview's producer code."""

import time

import pytest

from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic


def test_overview_producer_and_consumer(brook):
    admin = AdminClient({"bootstrap.servers": brook.bootstrap})
    for future in admin.create_topics([NewTopic("orders", 3, 1)]).values():
        future.result(timeout=10)

    delivered = []

    def acked(err, msg):
        # The overview's callback, asserting instead of printing.
        assert err is None, f"Message delivery failed: {err}"
        delivered.append((msg.key(), msg.partition(), msg.offset()))

    producer = Producer({"bootstrap.servers": brook.bootstrap})
    for i in range(30):
        producer.produce("orders", key=f"customer_{i % 4}", value=f"transaction_data_{i}", callback=acked)
    assert producer.flush(10) == 0
    assert len(delivered) == 30
    partition_of = {}
    for key, partition, _ in delivered:
        assert partition_of.setdefault(key, partition) == partition

    consumer = Consumer({"bootstrap.servers": brook.bootstrap, "group.id": "overview", "enable.auto.commit": False})
    consumer.assign([TopicPartition("orders", p, 0) for p in range(3)])
    got = []
    deadline = time.time() + 20
    while len(got) < 30 and time.time() < deadline:
        msg = consumer.poll(0.5)
        if msg is not None:
            assert msg.error() is None, msg.error()
            got.append((msg.key(), msg.partition(), msg.value()))
    consumer.close()
    assert sorted(v for _, _, v in got) == sorted(f"transaction_data_{i}".encode() for i in range(30))
    assert all(partition_of[k] == p for k, p, _ in got)


def test_idempotent_producer_every_codec(brook):
    for codec in ["none", "gzip", "snappy", "lz4", "zstd"]:
        producer = Producer({"bootstrap.servers": brook.bootstrap, "enable.idempotence": True,
                             "compression.type": codec, "linger.ms": 5})
        errors = []
        for i in range(100):
            producer.produce("codecs", value=f"{codec}-{i}",
                             callback=lambda err, msg: errors.append(err) if err else None)
        assert producer.flush(20) == 0
        assert errors == []
    consumer = Consumer({"bootstrap.servers": brook.bootstrap, "group.id": "codecs", "enable.auto.commit": False})
    consumer.assign([TopicPartition("codecs", 0, 0)])
    values = []
    deadline = time.time() + 20
    while len(values) < 500 and time.time() < deadline:
        msg = consumer.poll(0.5)
        if msg is not None and msg.error() is None:
            values.append(msg.value().decode())
    consumer.close()
    assert len(values) == 500
    for codec in ["none", "gzip", "snappy", "lz4", "zstd"]:
        assert [v for v in values if v.startswith(codec + "-")] == [f"{codec}-{i}" for i in range(100)]


def read_values(bootstrap, topic, isolation, count):
    """The values of `topic` partition 0 as a consumer with `isolation` reads them, once it has
    `count` of them and has reached the end of the partition."""
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": "reader", "enable.auto.commit": False,
                         "isolation.level": isolation})
    consumer.assign([TopicPartition(topic, 0, 0)])
    values = []
    deadline = time.time() + 20
    while len(values) < count and time.time() < deadline:
        msg = consumer.poll(0.5)
        if msg is not None and msg.error() is None:
            values.append(msg.value().decode())
    extra = consumer.poll(1)
    consumer.close()
    assert extra is None or extra.error() is not None, f"more than {count} values: {extra.value()}"
    return values


def test_transactions_commit_abort_and_offsets(brook):
    """A transactional producer commits and aborts; read_committed consumers see only what was
    committed, and offsets sent to the transaction are committed with it."""
    admin = AdminClient({"bootstrap.servers": brook.bootstrap})
    for future in admin.create_topics([NewTopic("ledger", 1, 1)]).values():
        future.result(timeout=10)
    producer = Producer({"bootstrap.servers": brook.bootstrap, "transactional.id": "ledger-app"})
    producer.init_transactions(30)
    producer.begin_transaction()
    producer.produce("ledger", value="c0")
    producer.produce("ledger", value="c1")
    producer.commit_transaction(30)
    producer.begin_transaction()
    producer.produce("ledger", value="a0")
    assert producer.flush(10) == 0  # in the log before the abort, so read_uncommitted sees it
    producer.abort_transaction(30)

    consumer = Consumer({"bootstrap.servers": brook.bootstrap, "group.id": "ledger-copier",
                         "enable.auto.commit": False, "isolation.level": "read_committed"})
    consumer.assign([TopicPartition("ledger", 0, 0)])
    producer.begin_transaction()
    producer.produce("ledger", value="c2")
    producer.send_offsets_to_transaction([TopicPartition("ledger", 0, 2)], consumer.consumer_group_metadata(), 30)
    producer.commit_transaction(30)

    assert read_values(brook.bootstrap, "ledger", "read_committed", 3) == ["c0", "c1", "c2"]
    assert read_values(brook.bootstrap, "ledger", "read_uncommitted", 4) == ["c0", "c1", "a0", "c2"]
    committed = consumer.committed([TopicPartition("ledger", 0)], timeout=10)
    consumer.close()
    assert committed[0].offset == 2


def test_sasl_client_refused_as_kafka_refuses_it(brook):
    """A producer configured for SASL on a listener without it hears Kafka's ILLEGAL_SASL_STATE
    (librdkafka reports an authentication error naming it), not a broker that drops the API."""
    errors = []
    producer = Producer(
        {
            "bootstrap.servers": brook.bootstrap,
            "security.protocol": "SASL_PLAINTEXT",
            "sasl.mechanism": "PLAIN",
            "sasl.username": "user",
            "sasl.password": "secret",
            "error_cb": errors.append,
        }
    )
    deadline = time.time() + 20
    while not errors and time.time() < deadline:
        producer.poll(0.2)
    assert errors, "no error reported"
    assert errors[0].name() == "_AUTHENTICATION", errors[0]
    assert "Request not valid in current SASL state" in errors[0].str(), errors[0].str()


def test_consumer_protocol_regex_subscription(brook):
    """A KIP-848 consumer (group.protocol=consumer) subscribed by regex: the broker matches
    whole topic names, now and as topics are created, and assigns only those."""
    producer = Producer({"bootstrap.servers": brook.bootstrap})
    for topic in ["sales-eu", "sales-us", "sales-eu-archive", "audit"]:
        producer.produce(topic, value=f"first in {topic}".encode())
    assert producer.flush(10) == 0
    consumer = Consumer({"bootstrap.servers": brook.bootstrap, "group.id": "sales-readers",
                         "group.protocol": "consumer", "auto.offset.reset": "earliest"})
    # Kafka matches the whole name: sales-eu-archive is not subscribed.
    consumer.subscribe(["^sales-[a-z]+"])
    got = set()

    def read_until(expected):
        deadline = time.time() + 30
        while not expected <= got and time.time() < deadline:
            msg = consumer.poll(0.2)
            if msg is not None:
                assert msg.error() is None, msg.error()
                got.add((msg.topic(), msg.value().decode()))

    read_until({("sales-eu", "first in sales-eu"), ("sales-us", "first in sales-us")})
    assert {t for t, _ in got} == {"sales-eu", "sales-us"}, got
    # A topic created later that matches joins the subscription.
    producer.produce("sales-apac", value=b"first in sales-apac")
    assert producer.flush(10) == 0
    read_until({("sales-apac", "first in sales-apac")})
    assert ("sales-apac", "first in sales-apac") in got
    assert not {t for t, _ in got} & {"sales-eu-archive", "audit"}, got
    consumer.close()
