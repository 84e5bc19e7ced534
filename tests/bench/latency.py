"""End-to-end latency probe: a producer process sends `count` records of `size` bytes at
`rate` records/s with acks=all (linger.ms=0), a consumer process receives them; prints the p50
and p99 of receive time minus send time, in ms. Both use confluent-kafka (librdkafka).

usage: latency.py BOOTSTRAP TOPIC [RATE] [COUNT] [SIZE]
"""

import multiprocessing as mp
import struct
import sys
import time

from confluent_kafka import Consumer, Producer, TopicPartition


def consume(bootstrap, topic, count, ready, out):
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": "latency-probe", "enable.auto.commit": False,
                         "fetch.wait.max.ms": 100, "fetch.queue.backoff.ms": 0})
    _, high = consumer.get_watermark_offsets(TopicPartition(topic, 0), timeout=10)
    consumer.assign([TopicPartition(topic, 0, high)])
    ready.set()
    latencies = []
    deadline = time.time() + 120
    while len(latencies) < count and time.time() < deadline:
        message = consumer.poll(0.1)
        if message is None or message.error():
            continue
        latencies.append(time.time() - struct.unpack(">d", message.value()[:8])[0])
    consumer.close()
    out.put(latencies)


def main():
    bootstrap, topic = sys.argv[1], sys.argv[2]
    rate = int(sys.argv[3]) if len(sys.argv) > 3 else 10_000
    count = int(sys.argv[4]) if len(sys.argv) > 4 else 50_000
    size = int(sys.argv[5]) if len(sys.argv) > 5 else 1024
    producer = Producer({"bootstrap.servers": bootstrap, "acks": "all", "linger.ms": 0})
    producer.produce(topic, value=b"create")  # the topic exists before the consumer looks
    producer.flush(30)
    ready, out = mp.Event(), mp.Queue()
    consumer = mp.Process(target=consume, args=(bootstrap, topic, count, ready, out))
    consumer.start()
    ready.wait(30)
    time.sleep(1)  # let the consumer's first fetch reach the broker
    padding = b"x" * (size - 8)
    start = time.time()
    sent = 0
    while sent < count:
        # Send what is due, then sleep to the next millisecond: a spin-wait would take a whole
        # core from the broker and the consumer on this 2-core machine and show up as latency.
        due = min(count, int((time.time() - start) * rate) + 1)
        while sent < due:
            producer.produce(topic, value=struct.pack(">d", time.time()) + padding)
            sent += 1
        producer.poll(0)
        time.sleep(0.001)
    producer.flush(60)
    latencies = sorted(out.get(timeout=180))
    consumer.join(10)
    if len(latencies) < count:
        print(f"received only {len(latencies)} of {count}", file=sys.stderr)
    p50 = latencies[len(latencies) // 2] * 1000
    p99 = latencies[int(len(latencies) * 0.99)] * 1000
    print(f"{p50:.2f} {p99:.2f}")


if __name__ == "__main__":
    main()
