"""A three-node Brook cluster (three processes from three property files) with kafka-python and
confluent-kafka: each client creates a 6-partition topic through one node, sees partitions led
by all three brokers, and produces and consumes across them."""

import os
import time
from collections import Counter

from confluent_kafka import Consumer, Producer
from confluent_kafka.admin import AdminClient, NewTopic as ConfluentNewTopic
from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer
from kafka.admin import NewTopic


def wait_for(what, check, timeout_s=30):
    deadline = time.time() + timeout_s
    while time.time() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def test_kafka_python_on_a_cluster(cluster):
    admin = KafkaAdminClient(bootstrap_servers=cluster.nodes[1].bootstrap)
    described = wait_for("three brokers", lambda: (d := admin.describe_cluster()) and len(d["brokers"]) == 3 and d)
    assert {b["broker_id"] for b in described["brokers"]} == {1, 2, 3}
    assert described["controller_id"] in {1, 2, 3}
    admin.create_topics([NewTopic("purchases", 6, 1)])
    [topic] = admin.describe_topics(["purchases"])
    leaders = Counter(p["leader_id"] for p in topic["partitions"])
    assert leaders == Counter({1: 2, 2: 2, 3: 2}), topic["partitions"]

    producer = KafkaProducer(bootstrap_servers=cluster.nodes[0].bootstrap, acks="all")
    sent = {}
    for i in range(120):
        meta = producer.send("purchases", key=f"customer-{i % 11}".encode(), value=f"order-{i}".encode()).get(timeout=10)
        sent[f"order-{i}"] = (meta.partition, meta.offset)
    producer.close()
    assert len({p for p, _ in sent.values()}) >= 3

    consumer = KafkaConsumer("purchases", bootstrap_servers=cluster.bootstrap, group_id="billing",
                             auto_offset_reset="earliest", enable_auto_commit=False, consumer_timeout_ms=1000)
    got = {}
    deadline = time.time() + 60
    while len(got) < len(sent) and time.time() < deadline:
        for m in consumer:
            got[m.value.decode()] = (m.partition, m.offset)
    consumer.close()
    assert got == sent


def test_confluent_kafka_on_a_cluster(cluster):
    admin = AdminClient({"bootstrap.servers": cluster.nodes[2].bootstrap})
    for future in admin.create_topics([ConfluentNewTopic("events", 6, 1)]).values():
        future.result(timeout=30)
    metadata = wait_for("the topic", lambda: (m := admin.list_topics(timeout=10)) and "events" in m.topics and m)
    assert set(metadata.brokers) == {1, 2, 3}
    leaders = Counter(p.leader for p in metadata.topics["events"].partitions.values())
    assert leaders == Counter({1: 2, 2: 2, 3: 2})

    delivered = {}

    def acked(err, msg):
        assert err is None, err
        delivered[msg.value().decode()] = (msg.partition(), msg.offset())

    producer = Producer({"bootstrap.servers": cluster.nodes[0].bootstrap, "acks": "all", "enable.idempotence": True})
    for i in range(120):
        producer.produce("events", key=f"device-{i % 13}", value=f"reading-{i}", callback=acked)
    assert producer.flush(30) == 0
    assert len(delivered) == 120

    consumer = Consumer({"bootstrap.servers": cluster.bootstrap, "group.id": "alerts",
                         "auto.offset.reset": "earliest", "enable.auto.commit": False})
    consumer.subscribe(["events"])
    got = {}
    deadline = time.time() + 60
    while len(got) < len(delivered) and time.time() < deadline:
        msg = consumer.poll(1.0)
        if msg is not None and not msg.error():
            got[msg.value().decode()] = (msg.partition(), msg.offset())
    consumer.close()
    assert got == delivered


def segments(data_dir, partition_dir):
    """Every segment file of one partition on one node, by name."""
    path = os.path.join(data_dir, partition_dir)
    if not os.path.isdir(path):
        return {}
    return {n: open(os.path.join(path, n), "rb").read() for n in sorted(os.listdir(path)) if n.endswith(".log")}


def test_replicated_topic_with_kafka_python(cluster):
    """Replication factor 3 and min.insync.replicas 2, as kafka-python creates it: every
    partition lists three replicas, all in sync; acks=all writes are read back at their offsets;
    the three copies of each partition are byte-identical."""
    admin = KafkaAdminClient(bootstrap_servers=cluster.bootstrap)
    admin.create_topics([NewTopic("ledger", 3, 3, topic_configs={"min.insync.replicas": "2"})])

    def all_in_sync():
        [topic] = admin.describe_topics(["ledger"])
        parts = topic["partitions"]
        ok = len(parts) == 3 and all(sorted(p["replica_nodes"]) == [1, 2, 3] and sorted(p["isr_nodes"]) == [1, 2, 3]
                                     for p in parts)
        return ok and parts
    wait_for("three in-sync replicas per partition", all_in_sync)

    producer = KafkaProducer(bootstrap_servers=cluster.bootstrap, acks="all")
    sent = {}
    for i in range(150):
        meta = producer.send("ledger", key=f"account-{i % 7}".encode(), value=f"entry-{i}".encode()).get(timeout=20)
        sent[f"entry-{i}"] = (meta.partition, meta.offset)
    producer.close()

    consumer = KafkaConsumer("ledger", bootstrap_servers=cluster.bootstrap, group_id="auditors",
                             auto_offset_reset="earliest", enable_auto_commit=False, consumer_timeout_ms=1000)
    got = {}
    deadline = time.time() + 60
    while len(got) < len(sent) and time.time() < deadline:
        for m in consumer:
            got[m.value.decode()] = (m.partition, m.offset)
    consumer.close()
    assert got == sent

    for p in range(3):
        def identical():
            copies = [segments(n.data_dir, f"ledger-{p}") for n in cluster.nodes]
            return all(sum(map(len, c.values())) > 0 for c in copies) and all(c == copies[0] for c in copies)
        wait_for(f"identical copies of ledger-{p}", identical)
