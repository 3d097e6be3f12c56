"""No step program outlives its worker, however the worker dies, and no two runs of a step overlap.

Rounds of: submit two long steps (a command and a Python function, each starting a `sleep` child),
wait until both run, SIGKILL the only worker (its pid, or its whole process group as systemd, a
container runtime or an OOM kill does), check that every program of that worker is gone, start the
next worker. The steps are retried on later workers; every attempt writes a tick to its trace file
every 0.1 s, so two runs of one step at once would show as overlapping ticks.

The crash detection time of each killed step (from the kill to its attempt's end as a crash, both
by the database's clock) is printed too: the workers are replaced faster than the stall limit, so no
worker is ever older than it (churn).

A second test kills workers at random instants while they start programs all the time (8 slots of
4 s programs), where some kills fall between a program's start and the watchdog's being told of it
(tests/unit/test_watchdog.py makes that instant certain).

AA_FAULT_KILLS sets the number of kills per mode (5 here, 3 for the second test), AA_FAULT_STALL and AA_FAULT_HEARTBEAT the
stall limit and heartbeat (2 s and 0.5 s here).
"""

from __future__ import annotations

import os
import random
import signal
import statistics
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path

import pytest
from sqlalchemy import text

from tests.acceptance.conftest import stop

KILLS = int(os.environ.get("AA_FAULT_KILLS") or 5)
SPAWNING_KILLS = int(os.environ.get("AA_FAULT_KILLS") or 3)
STALL = os.environ.get("AA_FAULT_STALL") or "2"
HEARTBEAT = os.environ.get("AA_FAULT_HEARTBEAT") or "0.5"

# The first attempt of a step runs for ten minutes, later ones for 0.3 s. Traces go to
# $TRACES/<submission>/<pid>: the pid of its `sleep` child, then a time per tick, then "end".
PROGRAM = """
import os, subprocess, sys, time
from pathlib import Path

def run(workdir):
    folder = Path(os.environ["TRACES"]) / Path(workdir).name.split("-")[1]
    folder.mkdir(exist_ok=True)
    first = not any(folder.iterdir())
    child = subprocess.Popen(["sleep", "600"])
    trace = folder / str(os.getpid())
    trace.write_text(f"{child.pid}\\n")
    until = time.time() + (600 if first else 0.3)
    while time.time() < until:
        with trace.open("a") as handle:
            handle.write(f"{time.time()}\\n")
        time.sleep(0.1)
    with trace.open("a") as handle:
        handle.write("end\\n")
    child.kill()

def function(inputs, params, workdir):
    run(workdir)

if __name__ == "__main__":
    run(sys.argv[1])
"""

CONFIG = """
version: 1
backends: [{{name: local, type: local}}, {{name: py, type: python}}]
tasks:
  - {{name: long, backend: local, executable: "python3 {program} $TMP", in_globs: [".txt"], retries: 20,
     environment: {{TRACES: "{traces}"}}}}
  - {{name: longpy, backend: py, function: "orphan_program:function", in_globs: [".txt"], retries: 20,
     environment: {{TRACES: "{traces}"}}}}
jobs:
  - {{name: long, steps: [{{task: long}}]}}
  - {{name: longpy, steps: [{{task: longpy}}]}}
"""
SETTINGS = {"AA_HEARTBEAT_SECONDS": HEARTBEAT, "AA_POLL_SECONDS": "0.5", "AA_STALLED_AFTER_SECONDS": STALL,
            "AA_RETRY_BACKOFF_SECONDS": "0.2"}
# When the first attempt of a submission's step ended (as a crash), by the database's clock.
_CRASHED = text("SELECT a.finished FROM attempts a JOIN steps s ON s.id = a.step_id "
                "WHERE s.submission_id = :id AND a.number = 1 AND a.outcome = 'crash'")


def _running(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as handle:
            return handle.read().rsplit(")", 1)[1].split()[0] not in ("Z", "X")
    except FileNotFoundError:
        return False


def _ours(pid: int) -> bool:
    """Whether `pid` runs one of this test's programs or their children (pids are reused: on a busy
    machine a dead program's pid soon names another process)."""
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as handle:
            argv = handle.read()
    except OSError:
        return False
    return _running(pid) and (b"orphan_program" in argv or argv == b"sleep\x00600\x00")


def _traces(traces: Path, submission: str) -> dict[int, list[str]]:
    """The trace of each run of the submission's step, by the pid of the run's program."""
    folder = traces / submission[:8]
    return {int(p.name): p.read_text().split() for p in folder.iterdir()} if folder.exists() else {}


def _unfinished(traces: Path, submissions: list[str]) -> list[int]:
    """The pids of the programs (and of their children) of runs that have not ended."""
    return [pid for s in submissions for run, trace in _traces(traces, s).items() if trace[-1] != "end"
            for pid in (run, int(trace[0]))]


def _spawn(database_url: str, tmp_path: Path, queues: str = "", concurrency: int = 2) -> subprocess.Popen:
    """A worker leading its own process group, so that the group can be killed without the tests."""
    env = {**os.environ, **SETTINGS, "DATABASE_URL": database_url, "PYTHONPATH": str(tmp_path)}
    argv = [sys.executable, "-m", "app", "worker", "--concurrency", str(concurrency), "--queues", queues]
    return subprocess.Popen(argv, env=env, start_new_session=True)  # noqa: S603


@pytest.mark.slow
@pytest.mark.parametrize("mode", ["pid", "group"])
def test_no_program_outlives_a_killed_worker(api, database_url, engine, tmp_path, mode):
    traces = tmp_path / "traces"
    traces.mkdir()
    program = tmp_path / "orphan_program.py"
    program.write_text(PROGRAM)
    api.put_config(CONFIG.format(program=program, traces=traces))
    worker = _spawn(database_url, tmp_path)
    # Workers of a queue without steps: they only judge the dead. One is replaced every round, so
    # none lives through two rounds, less than a stall period: worker churn.
    bystanders = [_spawn(database_url, tmp_path, queues="idle") for _ in range(2)]
    submissions: list[str] = []
    killed_at: dict[str, datetime] = {}
    survivors: set[int] = set()
    gone: set[int] = set()  # the programs of earlier rounds, seen dead
    try:
        for _ in range(KILLS):
            batch = [api.submit(job, files={"input_data": ("a.txt", "x")})["id"] for job in ("long", "longpy")]
            submissions += batch
            deadline = time.monotonic() + 60
            while not all(len(t) > 1 for s in batch for t in _traces(traces, s).values() or [[]]):
                assert time.monotonic() < deadline, "the long steps did not start"
                time.sleep(0.05)
            if mode == "pid":
                os.kill(worker.pid, signal.SIGKILL)
            else:
                os.killpg(worker.pid, signal.SIGKILL)
            with engine.connect() as connection:
                killed_at |= dict.fromkeys(batch, connection.execute(text("SELECT now()")).scalar_one())
            worker.wait()
            bystanders.pop(0).kill()
            bystanders.append(_spawn(database_url, tmp_path, queues="idle"))
            # Only this worker ran steps: every program still writing its trace was one of its.
            victims = set(_unfinished(traces, submissions)) - gone
            deadline = time.monotonic() + 10
            while any(_ours(p) for p in victims) and time.monotonic() < deadline:
                time.sleep(0.05)
            survivors |= {p for p in victims if _ours(p)}
            gone |= victims - survivors
            worker = _spawn(database_url, tmp_path)
        for submission in submissions:
            assert api.wait_done(submission, timeout=120)["state"] == "Complete"
    finally:
        for process in (worker, *bystanders):
            stop(process)
        for pid in _unfinished(traces, submissions):  # a survivor must not outlive the test either
            if _ours(pid):
                os.kill(pid, signal.SIGKILL)
    overlaps, first_runs_ended = 0, 0
    for submission in submissions:
        ticks = [[float(x) for x in t[1:] if x != "end"] for t in _traces(traces, submission).values()]
        runs = sorted((t[0], t[-1]) for t in ticks if t)
        overlaps += sum(later[0] <= earlier[1] for earlier, later in zip(runs, runs[1:], strict=False))
        first_runs_ended += [t[-1] for t in _traces(traces, submission).values()].count("end") != 1
    with engine.connect() as connection:
        detection = sorted((connection.execute(_CRASHED, {"id": s}).scalar_one() - killed_at[s]).total_seconds()
                           for s in submissions)
    print(f"\nFIGURE kill mode {mode}: {KILLS} kills, {len(submissions)} steps killed mid-run, "
          f"{len(survivors)} programs survived their worker, {overlaps} overlapping runs; crash detected "
          f"after p50 {statistics.median(detection):.2f} s, max {detection[-1]:.2f} s "
          f"(stall {STALL} s, heartbeat {HEARTBEAT} s)")
    assert not survivors
    assert overlaps == 0
    assert first_runs_ended == 0  # exactly one run of each step ran to its end: the retry


BLINK = """
version: 1
backends: [{{name: local, type: local}}]
tasks:
  - {{name: blink, backend: local, executable: "sleep 4 {token}", in_globs: [".txt"]}}
jobs:
  - {{name: blink, steps: [{{task: blink}}]}}
"""


def _blinking(token: bytes) -> list[int]:
    """The pids of the running programs of this test (their argv ends with `token`)."""
    found = []
    for name in os.listdir("/proc"):
        try:
            with open(f"/proc/{name}/cmdline", "rb") as handle:
                if handle.read().endswith(b"\0" + token + b"\0") and _running(int(name)):
                    found.append(int(name))
        except (OSError, ValueError):
            continue
    return found


@pytest.mark.slow
@pytest.mark.parametrize("mode", ["pid", "group"])
def test_no_program_outlives_a_worker_killed_while_spawning(api, database_url, tmp_path, mode):
    """Kills at random instants while a worker starts programs all the time, some of them in the
    instant between a program's start and the watchdog's being told of it."""
    token = f"0.000{random.randrange(10**6):06d}"  # `sleep 4 0.000…`: 4 s, and a mark to find them by
    api.put_config(BLINK.format(token=token))
    for i in range(100):  # 50 s of work for 8 slots: more than the test lasts
        api.submit("blink", files={"input_data": (f"{i}.txt", "x")})
    survivors: set[int] = set()
    worker = None
    try:
        for _ in range(SPAWNING_KILLS):
            worker = _spawn(database_url, tmp_path, concurrency=8)
            time.sleep(random.uniform(1.0, 3.0))
            (os.kill if mode == "pid" else os.killpg)(worker.pid, signal.SIGKILL)
            worker.wait()
            time.sleep(1.0)  # the watchdog's work; no worker runs programs meanwhile
            left = _blinking(token.encode())
            survivors |= set(left)
            for pid in left:
                os.kill(pid, signal.SIGKILL)
    finally:
        if worker is not None and worker.poll() is None:
            worker.kill()
    print(f"\nFIGURE kill mode {mode} at random instants while spawning: {SPAWNING_KILLS} kills, "
          f"{len(survivors)} programs survived their worker")
    assert not survivors
