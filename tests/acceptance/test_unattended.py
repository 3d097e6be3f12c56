"""Running unattended, end to end with waitress and `aa worker` processes: schedules tick once
however many workers look, notifications are sent once even when the worker that ended the
submissions is killed before sending, and /metrics tells what happened."""

from __future__ import annotations

import json
import os
import signal
import time
from collections import Counter

import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import text

from app import runtime
from app.db import transaction
from tests.acceptance.conftest import Client, free_port, stop, wait_healthy
from tests.receivers import HELLO as CONFIG
from tests.receivers import callbacks, mailbox  # noqa: F401 (fixtures)

pytestmark = pytest.mark.slow

TICKING = CONFIG + """  - {name: ticking, inputs: [], steps: [{task: hello}], schedule: {cron: "* * * * * *"}}
"""
SUBMISSIONS = 10


@pytest.fixture
def notifying_env(monkeypatch, mailbox, callbacks):  # noqa: F811
    """The environment of the service and the workers: notifications to the loopback receivers."""
    env = {"AA_SMTP_URL": mailbox.url, "AA_MAIL_FROM": "aa@example.org", "AA_CALLBACK_SECRET": "s3cret",
           "AA_CALLBACK_ALLOW": "127.0.0.1", "AA_PUBLIC_URL": "http://aa.example"}
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    return env


@pytest.fixture
def web(database_url, sessions, admin_token, notifying_env):
    """waitress with two processes, started after the environment is set."""
    port = free_port()
    process = runtime.serve(database_url, host="127.0.0.1", port=port, processes=2)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_healthy(base, process)
        yield Client(base, admin_token)
    finally:
        stop(process)


def _wait_for(predicate, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.2)


def _rows(sessions, sql: str) -> list:
    with transaction(sessions) as session:
        return list(session.execute(text(sql)))


def test_notifications_are_sent_once_though_the_worker_that_ended_the_submissions_was_killed(
        web, workers, sessions, mailbox, callbacks, database_url, tmp_path):  # noqa: F811
    web.put_config(CONFIG)
    # Worker A runs everything but does not send: its housekeeping looks once at its start, then
    # sleeps for an hour. So every submission ends, its notifications queued, and none is sent.
    [ended_them] = workers(1, env={"AA_HOUSEKEEPING_SECONDS": "3600"})
    ids = []
    for n in range(SUBMISSIONS):
        fields = {"job": "hello", "email": f"user{n}@example.org", "callback_url": callbacks.url(f"/hook/{n}")}
        if n % 2:
            response = requests.post(web.url("/api/submissions"), json=fields, timeout=30)
        else:
            response = requests.post(web.url("/api/submissions"), data=fields, timeout=30)
        assert response.status_code == 201, response.text
        assert "example.org" not in response.text
        ids.append(response.json()["id"])
    for submission_id in ids:
        assert web.wait_done(submission_id)["state"] == "Complete"
    assert _rows(sessions, "SELECT state, count(*) FROM notifications GROUP BY 1") == [("pending", 2 * SUBMISSIONS)]
    assert mailbox.messages == [] and callbacks.received == []

    ended_them.send_signal(signal.SIGKILL)
    ended_them.wait(30)
    workers(2, env={"AA_HOUSEKEEPING_SECONDS": "0.5"})  # three senders at once, the third logging JSON
    log_path = tmp_path / "worker.log"
    with log_path.open("w") as log_file:
        json_worker = runtime.spawn_worker(database_url, concurrency=1, stderr=log_file,
                                           env={"AA_HOUSEKEEPING_SECONDS": "0.5", "AA_LOG_FORMAT": "json",
                                                "AA_HEARTBEAT_SECONDS": "0.5"})
    try:
        _wait_for(lambda: len(mailbox.messages) >= SUBMISSIONS and len(callbacks.received) >= SUBMISSIONS)
        time.sleep(3)  # several more rounds of every sender: nothing more comes
    finally:
        stop(json_worker)
    lines = [json.loads(line) for line in log_path.read_text().splitlines() if line.startswith("{")]
    assert lines and all({"time", "level", "logger", "message"} <= set(line) for line in lines)
    assert all(line["submission_id"] in ids for line in lines if "notification" in line["message"])

    emails = Counter(message["To"] for message in mailbox.messages)
    calls = Counter(call["json"]["id"] for call in callbacks.received)
    print(f"\nexactly-once (notifications): {SUBMISSIONS} submissions ended by a worker killed before sending; "
          f"3 senders then delivered {len(mailbox.messages)} emails to {len(emails)} addresses and "
          f"{len(callbacks.received)} callbacks for {len(calls)} submissions")
    assert emails == Counter(f"user{n}@example.org" for n in range(SUBMISSIONS))
    assert calls == Counter(ids)
    assert _rows(sessions, "SELECT state, attempts, count(*) FROM notifications GROUP BY 1, 2") == [
        ("sent", 1, 2 * SUBMISSIONS)]
    assert _rows(sessions, "SELECT count(*) FROM notifications WHERE kind = 'email' AND target <> ''") == [(0,)]

    metrics = _metrics(web)
    print("/metrics after the notification test:\n" + "\n".join(
        line for line in requests.get(web.url("/metrics"), timeout=30).text.splitlines()
        if line and not line.startswith("#")))
    assert metrics[("aa_submissions", (("job", "hello"), ("state", "Complete")))] == SUBMISSIONS
    assert metrics[("aa_notifications", (("kind", "email"), ("state", "sent")))] == SUBMISSIONS
    assert metrics[("aa_notifications", (("kind", "callback"), ("state", "failed")))] == 0
    assert metrics[("aa_step_duration_seconds_count", (("task", "hello"),))] == SUBMISSIONS
    # The two senders still running (the third has stopped), and the killed worker until its
    # heartbeat is older than the stall period.
    assert metrics[("aa_workers_live", ())] in (2, 3)


def _metrics(web: Client) -> dict:
    """/metrics as {(sample name, labels): value}, asked of both web processes alike."""
    samples = {}
    for family in text_string_to_metric_families(requests.get(web.url("/metrics"), timeout=30).text):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def test_a_per_second_schedule_ticks_once_per_tick_with_several_workers(web, workers, sessions):
    web.put_config(TICKING)
    started = workers(3, env={"AA_HOUSEKEEPING_SECONDS": "1"})
    _wait_for(lambda: _rows(sessions, "SELECT count(*) FROM submissions WHERE client = 'schedule'")[0][0] >= 8)
    for process in started:
        process.send_signal(signal.SIGTERM)
    for process in started:
        process.wait(60)

    ticks = _rows(sessions, "SELECT name, count(*) FROM submissions WHERE client = 'schedule' GROUP BY 1 ORDER BY 1")
    runs = _rows(sessions, "SELECT runs FROM schedules WHERE job_name = 'ticking'")[0][0]
    print(f"\nexactly-once (ticks): 3 workers, cron every second: {len(ticks)} ticks submitted, "
          f"{sum(n for _, n in ticks)} submissions, most per tick {max(n for _, n in ticks)}, schedule runs {runs}")
    assert all(n == 1 for _, n in ticks), ticks
    assert len(ticks) >= 8 and runs == len(ticks)
    listed = requests.get(web.url("/api/schedules"), headers=web.admin, timeout=30).json()
    [ticking] = [s for s in listed if s["job"] == "ticking"]
    assert ticking["runs"] == runs and ticking["last_submission"] and ticking["next_run"]
    last = web.get(f"/api/submissions/{ticking['last_submission']}").json()
    assert last["job"] == "ticking" and last["name"] == f"schedule {ticking['last_run'].replace('Z', '+00:00')}"
    assert os.environ.get("AA_SCHEDULE_MISSED", "run") == "run"
