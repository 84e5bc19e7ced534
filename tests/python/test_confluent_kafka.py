"""confluent-kafka (librdkafka 2.16 from PyPI) against Brook: the overview's producer code."""

import time

import pytest

from confluent_kafka import Consumer, KafkaException, Producer, TopicPartition
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


def test_transactions_are_refused_at_once(brook):
    """No transaction coordinator yet: init_transactions fails at once, fatally, saying why."""
    producer = Producer({"bootstrap.servers": brook.bootstrap, "transactional.id": "payments"})
    started = time.time()
    with pytest.raises(KafkaException) as refused:
        producer.init_transactions(30)
    error = refused.value.args[0]
    assert error.fatal(), error
    assert "Transactions are not supported by Brook yet" in error.str(), error
    assert time.time() - started < 10
