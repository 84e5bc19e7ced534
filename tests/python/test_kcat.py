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
