"""Consumer groups with kafka-python and confluent-kafka against a real brook: members share
partitions, a killed member's partition moves to the survivors, every record is read once,
and a group resumes from its committed offsets after a broker restart."""

import os
import signal
import subprocess
import sys
import threading
import time

from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic
from kafka import KafkaConsumer
from kafka import TopicPartition as KPTopicPartition

BROKER = ("group.initial.rebalance.delay.ms=0", "group.min.session.timeout.ms=1000")
TIMEOUT = 30


def create_topic(bootstrap, name, partitions):
    admin = AdminClient({"bootstrap.servers": bootstrap})
    admin.create_topics([NewTopic(name, partitions, 1)])[name].result(TIMEOUT)


def produce(bootstrap, topic, count):
    producer = Producer({"bootstrap.servers": bootstrap})
    for i in range(count):
        producer.produce(topic, key=f"customer-{i % 17}", value=f"purchase-{i}")
    assert producer.flush(TIMEOUT) == 0


def eventually(what, check):
    deadline = time.time() + TIMEOUT
    while time.time() < deadline:
        result = check()
        if result:
            return result
        time.sleep(0.02)  # the consumers run in their own threads: give them the GIL
    raise AssertionError(f"timed out waiting for: {what}")


class KPMember(threading.Thread):
    """A kafka-python consumer polling in its own thread, as applications run them; commits
    synchronously after each batch it reads."""

    def __init__(self, bootstrap, group, topic):
        super().__init__(daemon=True)
        # A leader that assigned before its metadata knew the topic's partitions (a race right
        # after the topic is created) rebalances once a metadata refresh shows them: refresh often.
        self.consumer = KafkaConsumer(bootstrap_servers=bootstrap, group_id=group, enable_auto_commit=False,
                                      auto_offset_reset="earliest", session_timeout_ms=3000,
                                      heartbeat_interval_ms=200, metadata_max_age_ms=500)
        # Known partitions before joining: the leader otherwise assigns without them and rejoins.
        assert self.consumer.partitions_for_topic(topic)
        self.consumer.subscribe([topic])
        self.assigned = set()
        self.records = []
        self.stopping = threading.Event()
        self.start()

    def run(self):
        while not self.stopping.is_set():
            # A long poll, as applications use: kafka-python 3.0.12 abandons a JoinGroup that
            # outlasts its poll timeout and sends another, which now and then leaves it without
            # heartbeats after the rebalance (seen against Brook; see the closing note).
            batches = self.consumer.poll(timeout_ms=5000)
            for records in batches.values():
                self.records.extend((r.partition, r.offset) for r in records)
            if batches:
                self.consumer.commit()
            self.assigned = {tp.partition for tp in self.consumer.assignment()}

    def close(self):
        self.stopping.set()
        self.join(TIMEOUT)
        self.consumer.close()


# A kafka-python member in its own process, so that it can be killed without a LeaveGroup.
MEMBER = """
import sys
from kafka import KafkaConsumer
c = KafkaConsumer(sys.argv[2], bootstrap_servers=sys.argv[1], group_id=sys.argv[3], session_timeout_ms=3000,
                  heartbeat_interval_ms=200, enable_auto_commit=False)
while True:
    c.poll(timeout_ms=100)
    if c.assignment():
        print("assigned", flush=True)
"""


def test_kafka_python_members_share_and_take_over(start_brook):
    brook = start_brook(*BROKER)
    create_topic(brook.bootstrap, "purchases", 3)
    a, b = KPMember(brook.bootstrap, "shop", "purchases"), KPMember(brook.bootstrap, "shop", "purchases")
    member = subprocess.Popen([sys.executable, "-c", MEMBER, brook.bootstrap, "purchases", "shop"],
                              stdout=subprocess.PIPE, text=True)
    try:
        eventually("a and b hold one partition each",
                   lambda: len(a.assigned) == 1 and len(b.assigned) == 1 and a.assigned != b.assigned)
        assert member.stdout.readline().strip() == "assigned"
        os.kill(member.pid, signal.SIGKILL)
        member.wait(TIMEOUT)
        eventually("the dead member's partition moves to a survivor",
                   lambda: a.assigned | b.assigned == {0, 1, 2} and not a.assigned & b.assigned)
        c, d = KPMember(brook.bootstrap, "shop", "purchases"), KPMember(brook.bootstrap, "shop", "purchases")
        members = (a, b, c, d)
        eventually("four members on three partitions: one idle", lambda: (
            sorted(len(m.assigned) for m in members) == [0, 1, 1, 1]
            and set().union(*(m.assigned for m in members)) == {0, 1, 2}))
        for m in members:
            m.close()
    finally:
        member.kill()


def test_kafka_python_group_reads_everything_once(start_brook):
    brook = start_brook(*BROKER)
    create_topic(brook.bootstrap, "orders", 3)
    members = [KPMember(brook.bootstrap, "billing", "orders") for _ in range(3)]
    eventually("one partition each", lambda: all(len(m.assigned) == 1 for m in members))
    produce(brook.bootstrap, "orders", 300)
    eventually("300 records", lambda: sum(len(m.records) for m in members) >= 300)
    for m in members:
        m.close()
    seen = [r for m in members for r in m.records]
    assert len(seen) == 300 and len(set(seen)) == 300, "a record was read twice"
    checker = KafkaConsumer(bootstrap_servers=brook.bootstrap, group_id="billing", enable_auto_commit=False)
    assert sum(checker.committed(KPTopicPartition("orders", p)) or 0 for p in range(3)) == 300
    checker.close()


def test_confluent_group_resumes_after_restart(start_brook):
    brook = start_brook(*BROKER)
    create_topic(brook.bootstrap, "orders", 3)
    produce(brook.bootstrap, "orders", 300)
    config = {"group.id": "billing", "enable.auto.commit": False, "auto.offset.reset": "earliest",
              "session.timeout.ms": 3000, "heartbeat.interval.ms": 200}
    seen = {}

    def read(consumer, until):
        def step():
            m = consumer.poll(0.05)
            if m is not None and not m.error():
                seen[(m.partition(), m.offset())] = seen.get((m.partition(), m.offset()), 0) + 1
                consumer.commit(m, asynchronous=False)
            return len(seen) >= until
        eventually(f"{until} records", step)

    first = Consumer({"bootstrap.servers": brook.bootstrap, **config})
    first.subscribe(["orders"])
    read(first, 120)
    first.close()
    assert brook.stop() == 0
    brook = start_brook(*BROKER)
    again = Consumer({"bootstrap.servers": brook.bootstrap, **config})
    again.subscribe(["orders"])
    read(again, 300)
    assert len(seen) == 300 and set(seen.values()) == {1}, "a record was read twice across the restart"
    committed = again.committed([TopicPartition("orders", p) for p in range(3)], timeout=TIMEOUT)
    assert sum(tp.offset for tp in committed) == 300
    again.close()
