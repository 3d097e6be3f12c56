"""The in-process worker: wake-ups, health per queue, outcomes recorded."""

from __future__ import annotations

import time

from app.db import transaction
from app.queue import intake
from app.services import submissions
from app.services.submissions import Upload

CONFIG = """
version: 1
backends: [{name: local, type: local}, {name: other, type: local}]
tasks:
  - {name: echo, backend: local, executable: "echo $P1", in_globs: [".txt"], out_globs: [".out"], stdout_glob: ".out",
     parameters: [{name: word, switchless: true, default: hello, allow_leading_dash: true}]}
  - {name: again, backend: local, executable: "echo -n", out_globs: [".again"], stdout_glob: ".again"}
jobs:
  - {name: echo, steps: [{task: echo}, {task: again}]}
"""

# A step that another attempt may follow when its worker dies.
RETRIED = """
version: 1
backends: [{name: local, type: local}]
tasks:
  - {name: again, backend: local, executable: "echo -n", retries: 1}
jobs:
  - {name: again, steps: [{task: again}]}
"""


def wait_state(client, sub_id, timeout=20):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        body = client.get(f"/api/submissions/{sub_id}").json
        if body["state"] not in ("Submitted", "Running"):
            return body
        time.sleep(0.02)
    raise AssertionError("not finished")


def test_health_reports_live_workers_per_queue(client, load_config, worker, sessions):
    load_config(CONFIG)
    before = client.get("/api/health").json
    assert before["workers"] == 0
    assert before["queues"]["local"] == {"workers": 0, "queued": 0, "running": 0}
    with transaction(sessions) as session:
        intake.submit(session, job="echo", params={}, inputs={"input_data": Upload(b"x")})
    assert client.get("/api/health").json["queues"]["local"]["queued"] == 1
    worker(concurrency=1)
    health = client.get("/api/health").json
    assert health["workers"] == 1
    assert health["queues"]["other"]["workers"] == 1  # a worker without --queues serves every queue


def test_a_queued_step_starts_at_once_not_at_the_next_poll(client, load_config, worker):
    load_config(CONFIG)
    worker(concurrency=2, poll_seconds=30)  # only LISTEN/NOTIFY can wake it in time
    time.sleep(0.3)
    started = time.monotonic()
    response = client.post("/api/submissions?wait=10", json={"job": "echo", "params": {"echo_word": "-n"},
                                                            "inputs": {"input_data": "x"}})
    assert response.json["state"] == "Complete"
    assert time.monotonic() - started < 5
    body = wait_state(client, response.json["id"])
    assert [r["size"] for r in body["results"]] == [0, 0]  # `echo -n`: the value is an argument, not text


def test_wait_answers_when_the_submission_ends_not_at_the_next_check(client, load_config, worker):
    load_config(CONFIG)
    worker(concurrency=2)
    started = time.monotonic()
    response = client.post("/api/submissions?wait=10", json={"job": "echo", "inputs": {"input_data": "x"}})
    elapsed = time.monotonic() - started
    assert response.json["state"] == "Complete"
    # The first check finds it unfinished; only the NOTIFY of its last transaction can end the
    # wait before the one-second re-check.
    assert elapsed < 0.9


def test_the_status_read_answers_as_the_orm_objects_did(client, load_config, worker, sessions):
    # GET /api/submissions/<id> reads one statement (app.services.status); the same schema
    # dumped from the ORM objects must give the same document, steps and results in order.
    from app.api.submissions import SubmissionSchema

    load_config(CONFIG)
    worker(concurrency=1)
    sub_id = client.post("/api/submissions?wait=10", json={"job": "echo", "inputs": {"input_data": "x"}}).json["id"]
    body = wait_state(client, sub_id)
    assert body["state"] == "Complete" and len(body["results"]) == 2
    with client.application.test_request_context(), transaction(sessions) as session:
        expected = SubmissionSchema().dump(submissions.get(session, sub_id))
    assert body == expected
    assert [s["name"] for s in body["steps"]] == ["echo", "again"]
    assert client.get("/api/submissions/00000000-0000-0000-0000-000000000000").status_code == 404
    assert client.get("/api/submissions/not-a-uuid").status_code == 404


def test_idle_runners_poll_one_at_a_time_and_the_poll_finds_a_lost_notification(client, load_config, worker,
                                                                                   sessions, monkeypatch):
    from sqlalchemy import text

    from app.queue import steps

    load_config(CONFIG)
    claims: list[float] = []
    real = steps.claim_many

    def counted(*args, **kwargs):
        claims.append(time.monotonic())
        return real(*args, **kwargs)

    monkeypatch.setattr(steps, "claim_many", counted)
    worker(concurrency=8, poll_seconds=0.2)
    time.sleep(2.0)
    # Each runner looks once at its start; then one idle runner polls, at most twice a period (10
    # periods here): at most 8 + 20, where eight runners each polling every period made 88.
    assert 5 <= len(claims) <= 8 + 20 + 4, len(claims)

    with transaction(sessions) as session:
        # Triggers off for this transaction: the queue job's NOTIFY is never sent, as if lost.
        session.execute(text("SET LOCAL session_replication_role = replica"))
        stored = intake.submit(session, job="echo", params={}, inputs={"input_data": Upload(b"x")})
    assert wait_state(client, stored.id, timeout=10)["state"] == "Complete"  # found by the backstop poll


def test_a_step_whose_worker_died_starts_again_at_once_not_at_the_next_poll(client, load_config, worker, sessions):
    from sqlalchemy import text

    from app.db import driver
    from app.queue import steps

    load_config(RETRIED)
    with transaction(sessions) as session:
        stored = intake.submit(session, job="again", params={}, inputs={})
        dead = session.execute(text("SELECT procrastinate_register_worker_v1()")).scalar_one()
    with transaction(sessions) as session:  # the dead worker had claimed the first step, and went silent
        (claim,) = steps.claim_many(driver(session), queues=None, worker_id=dead, worker="dead:1", limit=1)
        assert claim.work is not None and claim.work.attempt == 1
        session.execute(text("UPDATE procrastinate_workers SET last_heartbeat = now() - interval '1 hour' "
                             "WHERE id = :id"), {"id": dead})
    with sessions() as session:  # silence from before the server's start does not count (app.queue.recovery)
        while session.execute(text("SELECT now() - pg_postmaster_start_time() < interval '3 s'")).scalar_one():
            session.rollback()  # a new transaction: a new now()
            time.sleep(0.2)
    started = time.monotonic()
    # Only a notification can wake its runners in time: their backstop poll is 30 s away.
    worker(concurrency=2, poll_seconds=30, stalled_after_seconds=2, retry_backoff_seconds=0)
    body = wait_state(client, stored.id, timeout=25)
    assert body["state"] == "Complete" and body["steps"][0]["attempts"] == 2, body
    assert time.monotonic() - started < 10


def test_the_log_tells_a_submissions_end_with_its_job_and_run_time(client, load_config, worker, caplog):
    import logging
    import re

    load_config(CONFIG)
    caplog.set_level(logging.INFO, logger="app.queue.worker")
    worker(concurrency=1)
    created = client.post("/api/submissions", json={"job": "echo", "inputs": {"input_data": "x"}})
    body = wait_state(client, created.json["id"])
    assert body["state"] == "Complete"
    lines = [r.getMessage() for r in caplog.records if r.name == "app.queue.worker"]
    ended = [m for line in lines if (m := re.fullmatch(rf"submission {body['id']} \(job echo\) ended Complete "
                                                        r"after ([0-9.]+) s", line))]
    assert len(ended) == 1 and 0 < float(ended[0][1]) < 20, lines
