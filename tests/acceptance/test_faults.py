"""Fault tests: workers SIGKILLed mid-step, graceful shutdown. Nothing lost, nothing run twice."""

from __future__ import annotations

import os
import signal
import time

import pytest
from sqlalchemy import text

from tests.unit.test_execution import alive

# Each attempt appends its pid to a file; the first one then sleeps NAP seconds (time for the test
# to kill its worker), later ones a moment.
SLOW = (
    "import os, time; first = not os.path.exists(os.environ['LOG']); "
    "open(os.environ['LOG'], 'a').write(f'{os.getpid()}\\\\n'); "
    "time.sleep(float(os.environ['NAP']) if first else 0.1)"
)

CONFIG = """
version: 1
backends: [{{name: local, type: local}}]
tasks:
  - name: slow
    backend: local
    executable: "python3 -c 'import sys; exec(sys.argv.pop(1))' $P1"
    in_globs: [".txt"]
    retries: {retries}
    environment: {{LOG: "{log}", NAP: "{nap}"}}
    parameters: [{{name: code, switchless: true, default: "{code}"}}]
  - {{name: then, backend: local, executable: "true", in_globs: [".txt"]}}
  - {{name: first, backend: local, executable: "true", in_globs: [".txt"]}}
jobs:
  - name: slow
    steps: [{{task: slow}}, {{task: then}}]
  - name: late  # `slow` runs under the queue job its worker handed over from `first`
    steps: [{{task: first}}, {{task: slow}}, {{task: then}}]
"""
STALL = {"AA_STALLED_AFTER_SECONDS": "3", "AA_RETRY_BACKOFF_SECONDS": "0.2"}


def configure(api, tmp_path, *, retries=1, nap=2.0):
    log = tmp_path / "attempts.log"
    api.put_config(CONFIG.format(retries=retries, log=log, nap=nap, code=SLOW))
    return log


def wait_for_lines(path, n, timeout=20):
    deadline = time.monotonic() + timeout
    while not path.exists() or len(path.read_text().split()) < n:
        assert time.monotonic() < deadline, f"fewer than {n} attempts started"
        time.sleep(0.02)
    return [int(x) for x in path.read_text().split()]


@pytest.mark.slow
@pytest.mark.parametrize(("job", "attempts"), [("slow", [2, 1]), ("late", [1, 2, 1])])
def test_sigkill_mid_step_retried_elsewhere_and_orphan_killed(api, workers, tmp_path, sessions, job, attempts):
    log = configure(api, tmp_path, nap=30)
    (victim,) = workers(1, env=STALL)
    body = api.submit(job, files={"input_data": ("a.txt", "x")})
    (orphan,) = wait_for_lines(log, 1)
    os.kill(victim.pid, signal.SIGKILL)
    killed = time.monotonic()
    victim.wait()
    while alive(orphan):
        assert time.monotonic() - killed < 3, "the dead worker's step process is still running"
    workers(1, env=STALL)
    wait_for_lines(log, 2, timeout=30)
    detected = time.monotonic() - killed
    print(f"\nFIGURE dead worker detected and its step restarted {detected:.2f} s after SIGKILL "
          f"(stall limit 3 s)")
    final = api.wait_done(body["id"])
    assert final["state"] == "Complete", final
    assert [s["attempts"] for s in final["steps"]] == attempts
    assert detected < 3 + 3 + 5  # stall limit + the new worker's own settling period + margin
    log_1 = api.get(f"/api/submissions/{body['id']}/steps/slow/log?attempt=1").json()
    assert "stopped responding" in log_1["stderr"]
    with sessions() as session:
        outcomes = session.execute(text("SELECT outcome FROM attempts ORDER BY step_id, number")).scalars().all()
    assert outcomes == ["success"] * (len(attempts) - 2) + ["crash", "success", "success"]


@pytest.mark.slow
def test_sigterm_lets_running_steps_finish(api, workers, tmp_path):
    log = configure(api, tmp_path, nap=1.5)
    (worker,) = workers(1)
    body = api.submit("slow", files={"input_data": ("a.txt", "x")})
    wait_for_lines(log, 1)
    worker.send_signal(signal.SIGTERM)
    assert worker.wait(20) == 0
    state = api.get(f"/api/submissions/{body['id']}").json()
    assert state["steps"][0]["state"] == "Complete" and state["steps"][0]["attempts"] == 1
    assert state["steps"][1]["state"] == "Queued"  # handed to the next worker, not lost
    workers(1)
    assert api.wait_done(body["id"])["state"] == "Complete"
