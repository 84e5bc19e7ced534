"""Starts a real `brook server` for each test, on a free port with a temporary data
directory, and stops it afterwards (also when the test fails)."""

import os
import signal
import random
import socket
import subprocess

import pytest

BROOK = os.environ.get("BROOK_BIN", os.path.join(os.path.dirname(__file__), "..", "..", "target", "debug", "brook"))


class Brook:
    def __init__(self, data_dir, *overrides, properties=None, wait=True):
        self.data_dir = str(data_dir)
        args = [BROOK, "server"] + ([str(properties)] if properties else [])
        if properties is None:
            args += ["--override", "listeners=PLAINTEXT://127.0.0.1:0",
                     "--override", "console.listener=127.0.0.1:0", "--override", f"log.dirs={self.data_dir}"]
        for o in overrides:
            args += ["--override", o]
        env = dict(os.environ)
        env.setdefault("RUST_LOG", "warn")
        self.proc = subprocess.Popen(args, stdout=subprocess.PIPE, env=env, text=True)
        self.bootstrap = None
        if wait:
            self.wait_ready()

    def wait_ready(self):
        """Reads the line that says where the broker listens (a cluster node prints it once its
        quorum runs)."""
        line = self.proc.stdout.readline().strip()
        assert line.startswith("brook listening on "), f"unexpected first line: {line!r}"
        self.bootstrap = line.removeprefix("brook listening on ")

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            return self.proc.wait(timeout=20)
        return self.proc.returncode

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=20)


@pytest.fixture
def brook(tmp_path):
    b = Brook(tmp_path / "data")
    yield b
    b.kill()


@pytest.fixture
def start_brook(tmp_path):
    """A factory for brokers that share one data directory (restarts)."""
    started = []

    def start(*overrides):
        b = Brook(tmp_path / "data", *overrides)
        started.append(b)
        return b

    yield start
    for b in started:
        b.kill()


def free_port():
    """A port free a moment ago, drawn below Linux's ephemeral range (32768 and up), which any
    process's outgoing connection could take before the broker binds it."""
    while True:
        port = random.randrange(10_000, 32_768)
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port


class BrookCluster:
    """Combined broker+controller nodes from KRaft-style property files, one per node, with
    their own ports and data directories, sharing one metadata quorum."""

    def __init__(self, tmp_path, size=3):
        ports = [(free_port(), free_port()) for _ in range(size)]
        voters = ",".join(f"{i + 1}@127.0.0.1:{c}" for i, (_, c) in enumerate(ports))
        self.nodes = []
        for i, (port, controller) in enumerate(ports):
            node_id = i + 1
            props = tmp_path / f"server-{node_id}.properties"
            props.write_text(
                "process.roles=broker,controller\n"
                f"node.id={node_id}\n"
                f"controller.quorum.voters={voters}\n"
                f"listeners=PLAINTEXT://127.0.0.1:{port},CONTROLLER://127.0.0.1:{controller}\n"
                f"advertised.listeners=PLAINTEXT://127.0.0.1:{port}\n"
                "controller.listener.names=CONTROLLER\n"
                f"log.dirs={tmp_path / f'node-{node_id}'}\n"
                "group.initial.rebalance.delay.ms=0\n"
            )
            self.nodes.append(Brook(tmp_path / f"node-{node_id}", "console.enabled=false", properties=props, wait=False))
        for node in self.nodes:
            node.wait_ready()
        self.bootstrap = ",".join(n.bootstrap for n in self.nodes)

    def kill(self):
        for node in self.nodes:
            node.kill()


@pytest.fixture
def cluster(tmp_path):
    c = BrookCluster(tmp_path)
    yield c
    c.kill()
