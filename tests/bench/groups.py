"""Consumer-group figures against a running broker, with confluent-kafka (librdkafka):

  rebalance   10 consumers on a 30-partition topic: seconds from the last member's subscribe
              until every member holds its partitions and has fetched a record (classic protocol
              with heartbeat.interval.ms=100, and KIP-848 with the broker's heartbeat interval).
  commits     10 consumers committing synchronously in their own threads: commits/s.
  fill        commit N offsets to K partitions of one group in requests of K partitions
              (for the reload figure: restart the broker and read its "consumer groups loaded" line).

usage: groups.py BOOTSTRAP rebalance|commits|fill [args]
"""

import sys
import threading
import time

from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic


def create_topic(bootstrap, name, partitions):
    admin = AdminClient({"bootstrap.servers": bootstrap})
    admin.create_topics([NewTopic(name, partitions, 1)])[name].result(30)


def rebalance(bootstrap, protocol):
    topic = f"rebalance-{protocol}-{int(time.time())}"
    create_topic(bootstrap, topic, 30)
    producer = Producer({"bootstrap.servers": bootstrap})
    for p in range(30):
        for i in range(5):
            producer.produce(topic, value=b"x", partition=p)
    producer.flush(30)
    config = {"bootstrap.servers": bootstrap, "group.id": topic, "auto.offset.reset": "earliest",
              "enable.auto.commit": False}
    if protocol == "consumer":
        config["group.protocol"] = "consumer"
    else:
        config["heartbeat.interval.ms"] = 100
        config["session.timeout.ms"] = 6000
    fetched = [threading.Event() for _ in range(10)]
    stop = threading.Event()
    subscribed = threading.Barrier(11)

    def member(i):
        c = Consumer(config)
        c.subscribe([topic])
        subscribed.wait()
        while not stop.is_set():
            m = c.poll(0.01)
            if m is not None and not m.error():
                fetched[i].set()
        c.close()

    threads = [threading.Thread(target=member, args=(i,)) for i in range(10)]
    for t in threads:
        t.start()
    subscribed.wait()
    start = time.time()
    for e in fetched:
        e.wait(60)
    elapsed = time.time() - start
    stop.set()
    for t in threads:
        t.join()
    print(f"rebalance {protocol}: 10 consumers on 30 partitions assigned and fetching in {elapsed:.3f} s")


def commits(bootstrap, seconds=10.0):
    topic = f"commits-{int(time.time())}"
    create_topic(bootstrap, topic, 10)
    counts = [0] * 10
    stop = threading.Event()

    def committer(i):
        c = Consumer({"bootstrap.servers": bootstrap, "group.id": f"{topic}-{i}", "enable.auto.commit": False})
        offset = 0
        while not stop.is_set():
            offset += 1
            c.commit(offsets=[TopicPartition(topic, i, offset)], asynchronous=False)
            counts[i] += 1
        c.close()

    threads = [threading.Thread(target=committer, args=(i,)) for i in range(10)]
    for t in threads:
        t.start()
    time.sleep(1)  # warm-up: coordinators found, connections open
    before, start = sum(counts), time.time()
    time.sleep(seconds)
    rate = (sum(counts) - before) / (time.time() - start)
    stop.set()
    for t in threads:
        t.join()
    print(f"commits: 10 synchronous committers, {rate:.0f} durable commits/s")


def fill(bootstrap, total, keys):
    topic = f"fill-{keys}"
    create_topic(bootstrap, topic, keys)
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": "fill", "enable.auto.commit": False})
    start = time.time()
    for round_ in range(total // keys):
        c.commit(offsets=[TopicPartition(topic, p, round_ + 1) for p in range(keys)], asynchronous=False)
    c.close()
    print(f"fill: {total} commits to {keys} partitions in {time.time() - start:.1f} s")


def main():
    bootstrap, what = sys.argv[1], sys.argv[2]
    if what == "rebalance":
        rebalance(bootstrap, sys.argv[3] if len(sys.argv) > 3 else "classic")
    elif what == "commits":
        commits(bootstrap)
    elif what == "fill":
        fill(bootstrap, int(sys.argv[3]), int(sys.argv[4]))
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
