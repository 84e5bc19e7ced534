"""Starts a real `brook server` for each test, on a free port with a temporary data
directory, and stops it afterwards (also when the test fails)."""

import os
import signal
import subprocess

import pytest

BROOK = os.environ.get("BROOK_BIN", os.path.join(os.path.dirname(__file__), "..", "..", "target", "debug", "brook"))


class Brook:
    def __init__(self, data_dir, *overrides):
        self.data_dir = str(data_dir)
        args = [BROOK, "server", "--override", "listeners=PLAINTEXT://127.0.0.1:0",
                "--override", "console.listener=127.0.0.1:0", "--override", f"log.dirs={self.data_dir}"]
        for o in overrides:
            args += ["--override", o]
        env = dict(os.environ)
        env.setdefault("RUST_LOG", "warn")
        self.proc = subprocess.Popen(args, stdout=subprocess.PIPE, env=env, text=True)
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
