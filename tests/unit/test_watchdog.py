"""The watchdog kills a dead worker's programs: told or not, their children, whatever killed the worker."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

from app.backends import local

# A "worker": starts its watchdog, then a step through the local runner (told to the watchdog) and
# a step started as local.run starts one but never told (the worker died between Popen and track).
# Each step starts children: one in its group, one in another group of its session, and one in a
# session of its own that kept the inherited descriptors. Every pid is printed, then it waits.
STEP = """
import os, subprocess, sys, time
kids = [subprocess.Popen(["sleep", "60"]),
        subprocess.Popen(["sleep", "60"], process_group=0),
        subprocess.Popen(["sleep", "60"], start_new_session=True, close_fds=False)]
print(os.getpid(), *[k.pid for k in kids], flush=True)
time.sleep(60)
"""
WORKER = """
import subprocess, sys, threading, time
from pathlib import Path
from app.backends import local
from app.queue.watchdog import Watchdog
step = sys.argv[1]
dog = Watchdog()
untold = subprocess.Popen([sys.executable, "-c", step], start_new_session=True, pass_fds=(dog.lifeline,),
                          stdout=subprocess.PIPE, text=True)
print(untold.stdout.readline().strip(), flush=True)
threading.Thread(target=local.run, args=([sys.executable, "-c", step],),
                 kwargs=dict(workdir=Path.cwd(), env=None, stdout=sys.stdout.buffer, guard=dog)).start()
time.sleep(60)
"""


def _running(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as handle:
            return handle.read().rsplit(")", 1)[1].split()[0] not in ("Z", "X")
    except FileNotFoundError:
        return False


def _survivors(pids: list[int], timeout: float = 15) -> list[int]:
    deadline = time.monotonic() + timeout
    while (left := [p for p in pids if _running(p)]) and time.monotonic() < deadline:
        time.sleep(0.05)
    return left


@pytest.mark.parametrize("mode", ["pid", "group"])
def test_no_program_outlives_its_worker(tmp_path, mode):
    worker = subprocess.Popen([sys.executable, "-c", WORKER, STEP], stdout=subprocess.PIPE, text=True,
                              cwd=tmp_path, start_new_session=True)
    try:
        pids = [int(p) for _ in range(2) for p in worker.stdout.readline().split()]
        assert len(pids) == 8 and all(_running(p) for p in pids)
        if mode == "pid":
            os.kill(worker.pid, signal.SIGKILL)
        else:  # as systemd, a container runtime or a cgroup OOM kill does
            os.killpg(worker.pid, signal.SIGKILL)
        worker.wait()
        assert _survivors(pids) == []
    finally:
        for pid in pids if "pids" in locals() else ():
            if _running(pid):
                os.kill(pid, signal.SIGKILL)
        if worker.poll() is None:
            worker.kill()


def test_a_closed_watchdog_kills_nothing(tmp_path):
    """A worker that stops normally closes the watchdog: the processes around it live on."""
    from app.queue.watchdog import Watchdog

    dog = Watchdog()
    bystander = subprocess.Popen(["sleep", "30"], start_new_session=True)
    try:
        result = local.run(["true"], workdir=tmp_path, env=None, guard=dog)
        assert result.exit_status == 0
        dog.close()
        assert _running(bystander.pid) and _running(os.getpid())
    finally:
        bystander.kill()
        bystander.wait()


def test_a_killed_watchdog_is_replaced(tmp_path):
    from app.queue.watchdog import Watchdog

    dog = Watchdog()
    first = dog._process
    first.kill()
    first.wait()
    result = local.run(["true"], workdir=tmp_path, env=None, guard=dog)
    assert result.exit_status == 0 and dog._process is not first and dog._process.poll() is None
    dog.close()
    assert dog._process.wait(10) == 0
