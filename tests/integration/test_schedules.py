"""Schedules (SPEC §4.11): each tick submitted once, through the same path as any submission."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

from sqlalchemy import text

from app.config import Settings
from app.db import transaction
from app.queue import intake
from app.services import schedules

CONFIG = """
version: 1
backends: [{{name: local, type: local}}]
tasks:
  - name: hello
    backend: local
    executable: "echo $P1"
    stdout_glob: ".txt"
    parameters: [{{name: word, type: string, default: hi}}]
  - {{name: reader, backend: local, executable: "cat $I1", in_globs: [".txt"]}}
jobs:
  - name: nightly
    inputs: []
    steps: [{{task: hello}}]
    schedule: {schedule}
  - {{name: needs_input, steps: [{{task: reader}}], schedule: {{cron: "* * * * *"}}}}
"""
SETTINGS = Settings()


def _load(load_config, schedule: str = '{cron: "*/5 * * * *", params: {hello_word: tick}}') -> None:
    load_config(CONFIG.format(schedule=schedule))


def _sync(sessions) -> dict:
    with transaction(sessions) as session:
        schedules.sync(session)
        return {row.job_name: (row.cron, row.timezone, row.params, row.next_run)
                for row in session.execute(text("SELECT * FROM schedules"))}


def _due(sessions, job: str, ago: timedelta) -> None:
    with transaction(sessions) as session:
        session.execute(text("UPDATE schedules SET next_run = now() - :ago WHERE job_name = :job"),
                        {"ago": ago, "job": job})


def _scheduled(sessions) -> list:
    with transaction(sessions) as session:
        return list(session.execute(text(
            "SELECT job_name, name, client, params FROM submissions WHERE client = 'schedule' ORDER BY created")))


def test_schedules_follow_the_jobs(sessions, load_config):
    _load(load_config)
    rows = _sync(sessions)
    cron, zone, params, next_run = rows["nightly"]
    assert (cron, zone, params) == ("*/5 * * * *", "UTC", {"hello_word": "tick"})
    now = datetime.now(UTC)
    assert now < next_run <= now + timedelta(minutes=5) and next_run.minute % 5 == 0 and next_run.second == 0
    assert _sync(sessions) == rows  # nothing changed, nothing written

    _load(load_config, '{cron: "*/5 * * * *", params: {hello_word: other}}')
    assert _sync(sessions)["nightly"][2:] == ({"hello_word": "other"}, next_run)  # params alone: same tick
    _load(load_config, '{cron: "0 3 * * *", timezone: Europe/Paris}')
    cron, zone, _, next_run = _sync(sessions)["nightly"]
    assert (cron, zone) == ("0 3 * * *", "Europe/Paris")
    assert next_run.astimezone(UTC).hour == 2  # 03:00 in Paris in December is 02:00 UTC
    load_config(CONFIG.format(schedule="null"))
    assert set(_sync(sessions)) == {"needs_input"}


def test_a_due_tick_is_submitted_once_and_the_schedule_moves_on(sessions, load_config):
    _load(load_config)
    _sync(sessions)
    _due(sessions, "nightly", timedelta(seconds=1))
    made = schedules.run_due(sessions, SETTINGS, submit=intake.submit)
    assert len(made) == 1 and schedules.run_due(sessions, SETTINGS, submit=intake.submit) == []
    [submission] = _scheduled(sessions)
    assert submission.job_name == "nightly" and submission.name.startswith("schedule ")
    assert submission.params == {"hello": {"word": "tick"}}  # the schedule's params, through submit's checks
    with transaction(sessions) as session:
        row = session.execute(text("SELECT *, now() AS now FROM schedules WHERE job_name = 'nightly'")).one()
        steps = session.execute(text("SELECT state FROM steps WHERE submission_id = :id"), {"id": made[0]}).all()
    assert row.last_submission_id == made[0] and row.runs == 1 and row.next_run > row.now
    assert row.last_run <= row.now and row.last_run.minute % 5 == 0
    assert [s.state for s in steps] == ["Queued"]  # queued like any submission


def test_many_processes_looking_at_once_submit_a_tick_once(sessions, load_config):
    _load(load_config)
    _sync(sessions)
    _due(sessions, "nightly", timedelta(seconds=1))
    made: list = []
    start = threading.Barrier(8)

    def look() -> None:
        start.wait()
        made.extend(schedules.run_due(sessions, SETTINGS, submit=intake.submit))

    threads = [threading.Thread(target=look) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert len(made) == 1 and len(_scheduled(sessions)) == 1


def test_ticks_missed_while_down_run_once_or_are_skipped(sessions, load_config):
    _load(load_config, '{cron: "* * * * *"}')
    _sync(sessions)
    _due(sessions, "nightly", timedelta(hours=1))  # sixty ticks went by while nothing ran
    assert len(schedules.run_due(sessions, SETTINGS, submit=intake.submit)) == 1
    with transaction(sessions) as session:
        row = session.execute(text("SELECT *, now() AS now FROM schedules WHERE job_name = 'nightly'")).one()
    assert row.now - timedelta(minutes=1) < row.last_run <= row.now < row.next_run  # the latest tick, once

    _due(sessions, "nightly", timedelta(hours=1))
    skipping = SETTINGS.override({"schedule_missed": "skip"})
    assert schedules.run_due(sessions, skipping, submit=intake.submit) == []
    with transaction(sessions) as session:
        after = session.execute(text("SELECT *, now() AS now FROM schedules WHERE job_name = 'nightly'")).one()
    assert after.runs == 1 and after.last_run == row.last_run and after.next_run > after.now
    assert len(_scheduled(sessions)) == 1


def test_a_tick_that_cannot_be_submitted_says_why_and_moves_on(sessions, load_config):
    _load(load_config)
    _sync(sessions)
    _due(sessions, "needs_input", timedelta(seconds=1))
    assert schedules.run_due(sessions, SETTINGS, submit=intake.submit) == []
    with transaction(sessions) as session:
        row = session.execute(text("SELECT *, now() AS now FROM schedules WHERE job_name = 'needs_input'")).one()
    assert "input_data: is required" in row.last_error and row.next_run > row.now
    assert _scheduled(sessions) == []


def test_the_api_shows_next_and_last_runs(client, sessions, load_config, admin_token):
    _load(load_config)
    listed = client.get("/api/schedules").get_json()  # before any worker took the schedule up
    assert [s["job"] for s in listed] == ["needs_input", "nightly"]
    assert listed[1]["next_run"] and listed[1]["last_run"] is None and listed[1]["runs"] == 0
    _sync(sessions)
    _due(sessions, "nightly", timedelta(seconds=1))
    [made] = schedules.run_due(sessions, SETTINGS, submit=intake.submit)
    public = client.get("/api/schedules").get_json()[1]
    admin = client.get("/api/schedules", headers={"Authorization": f"Bearer {admin_token}"}).get_json()[1]
    assert public["last_run"] and public["runs"] == 1 and public["last_submission"] is None
    assert admin["last_submission"] == str(made)
