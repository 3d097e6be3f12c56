"""A worker killed between "process exited" and "step recorded" loses nothing and runs nothing twice."""

from __future__ import annotations

import os
import signal
import time

from sqlalchemy import text

# The first attempt freezes its own worker (SIGSTOP) and exits: the worker can no longer record
# the outcome. The test then SIGKILLs the frozen worker — exactly the window between the process
# exiting and its step being recorded.
FREEZE_PARENT = (
    "import os, signal, pathlib; m = pathlib.Path(os.environ['MARKER']); "
    "first = not m.exists(); m.touch(); open('out.first', 'w').write('x'); "
    "first and os.kill(os.getppid(), signal.SIGSTOP)"
)

CONFIG = """
version: 1
backends: [{{name: local, type: local}}]
tasks:
  - name: fragile
    backend: local
    executable: "python3 -c 'import sys; exec(sys.argv.pop(1))' $P1"
    in_globs: [".txt"]
    out_globs: [".first"]
    retries: {retries}
    environment: {{MARKER: "{marker}"}}
    parameters: [{{name: code, switchless: true, default: "{code}"}}]
  - {{name: child, backend: local, executable: "python3 -c 'import sys; exec(sys.argv.pop(1))' $P1", in_globs: [".first"], out_globs: [".child"],
     parameters: [{{name: code, switchless: true, default: "open('out.child','w').write('c')"}}]}}
jobs:
  - name: crashy
    steps: [{{task: fragile}}, {{task: child}}]
"""

STALL = {"AA_STALLED_AFTER_SECONDS": "2"}


def _freeze_and_kill(api, workers, tmp_path, retries: int) -> tuple[dict, float]:
    marker = tmp_path / "marker"
    api.put_config(CONFIG.format(retries=retries, marker=marker, code=FREEZE_PARENT.replace('"', '\\"')))
    (victim,) = workers(1, env=STALL)
    submission = api.submit("crashy", files={"input_data": ("a.txt", "x")})
    deadline = time.monotonic() + 30
    while not _is_stopped(victim.pid):
        assert time.monotonic() < deadline, "the step never froze its worker"
        time.sleep(0.05)
    assert marker.exists()
    state = api.get(f"/api/submissions/{submission['id']}").json()
    assert state["steps"][0]["state"] == "Running"  # exited, but not recorded
    os.kill(victim.pid, signal.SIGKILL)
    victim.wait()
    killed = time.monotonic()
    workers(1, env=STALL)
    return api.wait_done(submission["id"], timeout=60), killed


def _is_stopped(pid: int) -> bool:
    with open(f"/proc/{pid}/stat") as handle:
        return handle.read().rsplit(")", 1)[1].split()[0] == "T"


def test_step_retried_after_worker_killed_between_exit_and_record(api, workers, tmp_path, sessions):
    body, _ = _freeze_and_kill(api, workers, tmp_path, retries=1)
    assert body["state"] == "Complete", body
    fragile, child = body["steps"]
    assert fragile["attempts"] == 2 and child["attempts"] == 1
    assert sorted(r["step"] for r in body["results"]) == ["child", "fragile"]  # one result each
    with sessions() as session:
        assert session.execute(text("SELECT count(*) FROM procrastinate_jobs WHERE status IN ('todo','doing')")).scalar() == 0
        assert session.execute(text("SELECT count(*) FROM attempts")).scalar() == 3


def test_step_marked_crash_when_no_retries_left(api, workers, tmp_path):
    body, _ = _freeze_and_kill(api, workers, tmp_path, retries=0)
    assert body["state"] == "Crash"
    assert [s["state"] for s in body["steps"]] == ["Crash", "Skipped"]
    assert "worker stopped responding" in body["message"]
    assert body["results"] == []
