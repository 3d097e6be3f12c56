"""/metrics, the SQL views, and fair use behind a trusted proxy."""

from __future__ import annotations

import time

from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import text

from app import create_app
from app.db import transaction

CONFIG = """
version: 1
backends: [{name: local, type: local}, {name: idle, type: local}]
tasks:
  - {name: hello, backend: local, executable: "echo hello", stdout_glob: ".txt"}
jobs:
  - {name: hello, inputs: [], steps: [{task: hello}]}
"""


def _samples(client) -> dict:
    response = client.get("/metrics")
    assert response.status_code == 200 and response.mimetype == "text/plain"
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(response.get_data(as_text=True)) for s in family.samples}


def _rows(sessions, sql: str) -> list:
    with transaction(sessions) as session:
        return list(session.execute(text(sql)))


def _wait_done(sessions, count: int) -> None:
    deadline = time.monotonic() + 60
    while _rows(sessions, "SELECT count(*) FROM submissions WHERE finished IS NOT NULL")[0][0] < count:
        assert time.monotonic() < deadline
        time.sleep(0.1)


def test_metrics_and_views_tell_what_ran(client, sessions, load_config, worker):
    load_config(CONFIG)
    queued = [client.post("/api/submissions", json={"job": "hello", "priority": "high"}).get_json()["id"]
              for _ in range(2)]
    depth = _rows(sessions, "SELECT queue_name, queued, running, oldest_queued_seconds FROM aa_queue_depth")
    assert [(q, n, r) for q, n, r, _ in depth] == [("local", 2, 0)] and depth[0][3] >= 0
    samples = _samples(client)
    assert samples[("aa_queue_depth", (("queue", "local"),))] == 2
    assert samples[("aa_queue_depth", (("queue", "idle"),))] == 0  # an idle queue is there, at zero
    assert samples[("aa_submissions", (("job", "hello"), ("state", "Submitted")))] == 2

    running = worker()
    _wait_done(sessions, 2)
    samples = _samples(client)
    assert samples[("aa_submissions", (("job", "hello"), ("state", "Complete")))] == 2
    assert samples[("aa_step_duration_seconds_count", (("task", "hello"),))] == 2
    assert samples[("aa_step_duration_seconds_bucket", (("le", "+Inf"), ("task", "hello")))] == 2
    assert samples[("aa_queue_depth", (("queue", "local"),))] == 0
    assert samples[("aa_workers_live", ())] == 1
    assert samples[("aa_notifications", (("kind", "email"), ("state", "failed")))] == 0
    assert sum(v for (name, _), v in samples.items() if name == "aa_db_connections") >= 1

    [stats] = _rows(sessions, "SELECT * FROM aa_job_stats")
    assert (stats.job_name, stats.submissions, stats.complete, stats.unfinished) == ("hello", 2, 2, 0)
    assert stats.success_rate == 1 and 0 <= stats.p50_seconds <= stats.p95_seconds
    overview = _rows(sessions, "SELECT * FROM aa_submission_overview ORDER BY created")
    assert [(str(o.id), o.state, o.priority, o.steps_total, o.steps_done) for o in overview] == [
        (queued[0], "Complete", "high", 1, 1), (queued[1], "Complete", "high", 1, 1)]
    timeline = _rows(sessions, "SELECT * FROM aa_step_timeline")
    assert {(t.name, t.queue_name, t.state, t.worker) for t in timeline} == {
        ("hello", "local", "Complete", running.name)}
    assert all(t.wait_seconds >= 0 and t.run_seconds >= 0 for t in timeline)


def test_fair_use_counts_the_forwarded_client_only_behind_a_trusted_proxy(database_url, sessions, load_config):
    load_config(CONFIG)

    def priorities(trusted: tuple[str, ...], clients: list[str]) -> list[str]:
        app = create_app({"database_url": database_url, "soft_limit": 1, "trusted_proxies": trusted})
        client = app.test_client()  # its requests come from 127.0.0.1
        answers = [client.post("/api/submissions", json={"job": "hello"}, headers={"X-Forwarded-For": c})
                   for c in clients]
        return [a.get_json()["priority"] for a in answers]

    forwarded = ["198.51.100.1", "198.51.100.1", "198.51.100.2"]
    assert priorities(("127.0.0.1",), forwarded) == ["normal", "low", "normal"]
    in_sql = _rows(sessions, "SELECT client, priority FROM aa_submission_overview ORDER BY created")
    assert in_sql == [("198.51.100.1", "normal"), ("198.51.100.1", "low"), ("198.51.100.2", "normal")]
    with transaction(sessions) as session:
        session.execute(text("TRUNCATE submissions CASCADE"))
    # Not a trusted proxy: the header is the client's own word, and 127.0.0.1 is the client.
    assert priorities((), forwarded) == ["normal", "low", "low"]
