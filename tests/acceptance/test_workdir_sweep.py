"""The working directory of an attempt killed with its worker is removed by another worker; the
directory of a running attempt of a live worker sharing the root is not."""

from __future__ import annotations

import os
import signal
import time

import pytest

CONFIG = """
version: 1
backends: [{name: local, type: local}]
tasks:
  - {name: nap, backend: local, executable: "sleep 600", in_globs: [".txt"]}
jobs:
  - {name: nap, steps: [{task: nap}]}
"""


def _new_dir(root, known: set, timeout: float = 60):
    deadline = time.monotonic() + timeout
    while not (found := {p for p in root.iterdir() if p.is_dir()} - known):
        assert time.monotonic() < deadline, "no working directory appeared"
        time.sleep(0.05)
    (path,) = found
    return path


@pytest.mark.slow
def test_workdirs_of_dead_attempts_are_swept_and_running_ones_kept(api, workers, tmp_path):
    root = tmp_path / "work"
    root.mkdir()
    env = {"AA_WORK_ROOT": str(root), "AA_STALLED_AFTER_SECONDS": "600"}
    api.put_config(CONFIG)
    (dead,) = workers(1, concurrency=1, env=env)
    api.submit("nap", files={"input_data": ("a.txt", "x")})
    orphaned = _new_dir(root, set())
    os.kill(dead.pid, signal.SIGKILL)
    dead.wait()
    (alive,) = workers(1, concurrency=1, env=env)
    api.submit("nap", files={"input_data": ("b.txt", "x")})
    running = _new_dir(root, {orphaned})
    workers(1, concurrency=1, env=env)  # sweeps as it starts
    deadline = time.monotonic() + 60
    while orphaned.exists():
        assert time.monotonic() < deadline, "the dead attempt's working directory was not removed"
        time.sleep(0.1)
    assert running.exists() and any(running.iterdir())  # untouched, its input still there
    os.kill(alive.pid, signal.SIGKILL)  # its watchdog ends the sleep
