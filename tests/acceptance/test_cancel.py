"""DELETE /api/submissions/{id}: queued steps never start, running process groups are killed."""

from __future__ import annotations

import time

import pytest
import requests
from sqlalchemy import text

from tests.unit.test_execution import alive

# The step starts a grandchild that ignores SIGTERM, records both pids, and sleeps.
SLEEPER = (
    "import os, subprocess, time; "
    "g = subprocess.Popen(['python3', '-c', 'import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); "
    "time.sleep(300)']); "
    "open(os.environ['PIDS'], 'w').write(f'{os.getpid()} {g.pid}'); time.sleep(300)"
)

CONFIG = """
version: 1
backends: [{{name: local, type: local}}]
tasks:
  - name: sleeper
    backend: local
    executable: "python3 -c 'import sys; exec(sys.argv.pop(1))' $P1"
    in_globs: [".txt"]
    environment: {{PIDS: "{pids}"}}
    parameters: [{{name: code, switchless: true, default: "{code}"}}]
  - {{name: never, backend: local, executable: "touch $TMP/../never-ran", in_globs: [".txt"]}}
  - {{name: quick, backend: local, executable: "true", in_globs: [".txt"]}}
jobs:
  - name: slow
    steps: [{{task: sleeper}}, {{task: never}}]
  - name: slow_second  # the sleeper runs under the queue job its worker handed over from `quick`
    steps: [{{task: quick}}, {{task: sleeper}}, {{task: never}}]
"""


@pytest.mark.parametrize(("job", "states"), [("slow", ["Cancelled", "Cancelled"]),
                                             ("slow_second", ["Complete", "Cancelled", "Cancelled"])])
def test_cancel_kills_running_process_group_and_skips_the_rest(api, workers, tmp_path, sessions, job, states):
    pids_file = tmp_path / "pids"
    api.put_config(CONFIG.format(pids=pids_file, code=SLEEPER.replace('"', '\\"')))
    workers(1, env={"AA_KILL_GRACE_SECONDS": "1"})
    body = api.submit(job, files={"input_data": ("a.txt", "x")})
    deadline = time.monotonic() + 20
    while not pids_file.exists() or len(pids_file.read_text().split()) < 2:
        assert time.monotonic() < deadline, "the step never started"
        time.sleep(0.05)
    leader, grandchild = map(int, pids_file.read_text().split())
    started = time.monotonic()
    response = requests.delete(api.url(f"/api/submissions/{body['id']}"), timeout=10)
    assert response.status_code == 202
    assert response.json()["state"] == "Cancelled"
    while alive(leader) or alive(grandchild):
        assert time.monotonic() - started < 5, "processes still running 5 s after DELETE"
    print(f"\nFIGURE step process group gone {time.monotonic() - started:.2f} s after DELETE "
          "(grandchild ignores SIGTERM; grace 1 s)")
    final = api.get(f"/api/submissions/{body['id']}").json()
    assert final["state"] == "Cancelled"
    assert [s["state"] for s in final["steps"]] == states
    time.sleep(1.5)  # the worker records nothing over the cancellation, and starts nothing more
    assert api.get(f"/api/submissions/{body['id']}").json()["steps"] == final["steps"]
    with sessions() as session:
        assert session.execute(text("SELECT count(*) FROM procrastinate_jobs")).scalar() == 0
    again = requests.delete(api.url(f"/api/submissions/{body['id']}"), timeout=10)
    assert again.status_code == 409
    purged = requests.delete(api.url(f"/api/submissions/{body['id']}?purge=true"), timeout=10)
    assert purged.status_code == 202 and purged.json()["purged"] is True
    assert api.get(f"/api/submissions/{body['id']}").status_code == 404
    with sessions() as session:
        assert session.execute(text("SELECT count(*) FROM blobs")).scalar() == 0


def test_cancelling_queued_submission_means_it_never_starts(api, tmp_path, sessions):
    api.put_config(CONFIG.format(pids=tmp_path / "pids", code="pass"))
    body = api.submit("slow", files={"input_data": ("a.txt", "x")})  # no worker running
    response = requests.delete(api.url(f"/api/submissions/{body['id']}?purge=true"), timeout=10)
    assert response.status_code == 202
    assert api.get(f"/api/submissions/{body['id']}").status_code == 404
    assert requests.delete(api.url("/api/submissions/not-an-id"), timeout=10).status_code == 404
