"""The overview's last step, Spark reading the purchases into a Delta table, against Brook:
Spark's Kafka source (Java client 3.9 inside Spark 4.0) as a batch and as a Structured
Streaming query with a checkpoint, so that a second run appends exactly the new records."""

import json
import os
import subprocess
import sys

from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient, NewTopic

TIMEOUT = 30
JOB = os.path.join(os.path.dirname(__file__), "spark_job.py")


def produce(bootstrap, topic, first, count):
    """Keyed purchases; returns {(key, value, partition, offset)} as the broker acknowledged them."""
    acked = set()

    def delivered(err, msg):
        assert err is None, err
        acked.add((msg.key().decode(), msg.value().decode(), msg.partition(), msg.offset()))

    producer = Producer({"bootstrap.servers": bootstrap})
    for i in range(first, first + count):
        producer.produce(topic, key=f"customer_{i % 7}", value=f"transaction_data_{i}", callback=delivered)
    assert producer.flush(TIMEOUT) == 0
    return acked


def run_job(bootstrap, workdir):
    done = subprocess.run([sys.executable, JOB, bootstrap, "purchases", str(workdir)], capture_output=True,
                          text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-4000:]
    lines = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
    batch_rows = next(line["batch_rows"] for line in lines if "batch_rows" in line)
    table = [(r["key"], r["value"], r["partition"], r["offset"]) for r in lines if "key" in r]
    return batch_rows, table


def test_spark_streams_a_topic_into_a_delta_table(brook, tmp_path):
    admin = AdminClient({"bootstrap.servers": brook.bootstrap})
    admin.create_topics([NewTopic("purchases", 3, 1)])["purchases"].result(TIMEOUT)
    first = produce(brook.bootstrap, "purchases", 0, 30)

    batch_rows, table = run_job(brook.bootstrap, tmp_path)
    assert batch_rows == 30
    assert len(table) == 30 and set(table) == first

    # The checkpoint holds the offsets Spark reached: the next run takes only the new records,
    # none twice, none lost.
    second = produce(brook.bootstrap, "purchases", 30, 12)
    batch_rows, table = run_job(brook.bootstrap, tmp_path)
    assert batch_rows == 42
    assert len(table) == 42 and set(table) == first | second
