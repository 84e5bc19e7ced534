"""kcat from Debian (librdkafka 2.0.2, an older client as users have it) against Brook."""

import shutil
import subprocess

import pytest

KCAT = shutil.which("kcat") or shutil.which("kafkacat")


@pytest.mark.skipif(KCAT is None, reason="kcat is installed by scripts/test")
def test_kcat_produce_and_consume_keys(brook):
    lines = "".join(f"customer-{i % 3}:transaction-{i}\n" for i in range(30))
    subprocess.run([KCAT, "-P", "-b", brook.bootstrap, "-t", "kcat-walk", "-K:", "-p", "-1"],
                   input=lines, text=True, check=True, timeout=60)
    out = subprocess.run([KCAT, "-C", "-b", brook.bootstrap, "-t", "kcat-walk", "-o", "beginning", "-e",
                          "-f", "%p %o %k %s\n"], capture_output=True, text=True, check=True, timeout=60).stdout
    rows = [line.split(" ") for line in out.splitlines()]
    assert len(rows) == 30
    partition_of = {}
    for partition, _, key, _ in rows:
        assert partition_of.setdefault(key, partition) == partition
    assert sorted(v for *_, v in rows) == sorted(f"transaction-{i}" for i in range(30))


@pytest.mark.skipif(KCAT is None, reason="kcat is installed by scripts/test")
def test_kcat_metadata_lists_broker_and_topics(brook):
    subprocess.run([KCAT, "-P", "-b", brook.bootstrap, "-t", "listed"], input="x\n", text=True, check=True, timeout=60)
    out = subprocess.run([KCAT, "-L", "-b", brook.bootstrap], capture_output=True, text=True, check=True,
                         timeout=60).stdout
    assert "1 brokers:" in out
    assert 'topic "listed" with 1 partitions' in out


@pytest.mark.skipif(KCAT is None, reason="kcat is installed by scripts/test")
@pytest.mark.parametrize("codec", ["gzip", "snappy", "lz4", "zstd"])
def test_kcat_compresses(brook, codec):
    """librdkafka 2.0.2 compresses only if Produce v0 is advertised (KAFKA-18659): against a
    broker listing Produce from v3 it silently sends gzip, snappy and lz4 batches uncompressed."""
    lines = "".join(f"order-{i}:" + "purchase " * 20 + "\n" for i in range(50))
    produced = subprocess.run([KCAT, "-P", "-b", brook.bootstrap, "-t", f"packed-{codec}", "-z", codec,
                               "-d", "msg"], input=lines, text=True, capture_output=True, check=True, timeout=60)
    assert "does not support compression" not in produced.stderr, produced.stderr
    sets = [line for line in produced.stderr.splitlines() if "Produce MessageSet" in line]
    assert sets and all(line.rstrip().endswith(f"{codec})") for line in sets), sets
    out = subprocess.run([KCAT, "-C", "-b", brook.bootstrap, "-t", f"packed-{codec}", "-o", "beginning", "-e"],
                         capture_output=True, text=True, check=True, timeout=60).stdout
    assert out.splitlines() == [line for line in lines.splitlines()]
