"""The hot path's statements find their rows by index, however many steps are stored (no timing
is asserted: the plan is)."""

from __future__ import annotations

import json
import re

import pytest
from psycopg import ClientCursor
from sqlalchemy import text

from app.db import PLAN_SETTINGS, driver, transaction
from app.queue import intake, statements

CONFIG = """
version: 1
backends: [{name: local, type: local}]
tasks: [{name: noop, backend: local, executable: "true"}]
jobs:
  - name: three
    inputs: []
    steps: [{task: noop, name: a}, {task: noop, name: b}, {task: noop, name: c}]
"""


def _generic_plan(connection, query: str, params: dict[str, tuple[str, object]]) -> str:
    """The plan a prepared `query` gets once the session plans it generically (EXPLAIN alone would
    plan it for these very values); `params` are (type, value) by name."""
    names = list(dict.fromkeys(re.findall(r"%\((\w+)\)s", query)))
    numbered = re.sub(r"%\((\w+)\)s", lambda m: f"${names.index(m.group(1)) + 1}", query)
    # Values bound on the client: the server takes no parameters for PREPARE and EXPLAIN EXECUTE.
    cursor = ClientCursor(connection)
    cursor.execute(f"PREPARE planned({', '.join(params[n][0] for n in names)}) AS {numbered}")
    arguments = ", ".join(f"CAST(%s AS {params[n][0]})" for n in names)
    try:
        cursor.execute(f"EXPLAIN EXECUTE planned({arguments})", [params[n][1] for n in names])
        return "\n".join(row[0] for row in cursor)
    finally:
        connection.execute("DEALLOCATE planned")


def _many_steps(session, template: str, copies: int) -> None:
    session.execute(text(
        "INSERT INTO steps (submission_id, position, name, task_name, task, params, after, waiting_for, state, "
        "attempts, message, cached) "
        "SELECT submission_id, position + 3 * g, name, task_name, task, params, after, 0, 'Complete', 1, '', false "
        "FROM steps CROSS JOIN generate_series(1, :copies) AS g WHERE submission_id = :id"
    ), {"copies": copies, "id": template})
    session.execute(text("ANALYZE steps"))


@pytest.mark.parametrize("handover", [False, True], ids=["deferred", "handed over"])
@pytest.mark.parametrize("stored", [0, 500], ids=["fresh database", "many steps"])
def test_deferring_a_step_does_not_scan_the_steps_table(sessions, load_config, stored, handover):
    """Also when the plan is made while the tables are nearly empty, as on a fresh database before
    autoanalyze: that generic plan is kept for the connection's life, however large they grow."""
    load_config(CONFIG)
    with transaction(sessions) as session:
        submission = intake.submit(session, job="three", params={}, inputs={})
    if stored:
        with transaction(sessions) as session:
            _many_steps(session, str(submission.id), stored)
    b = submission.steps[1]
    job_id = submission.steps[0].queue_job_id
    with transaction(sessions) as session:
        connection = driver(session)
        for name, value in PLAN_SETTINGS.items():  # as the API's and the worker's connections plan it
            connection.execute("SELECT set_config(%s, %s, true)", (name, value))
        deferral = {
            "steps": ("jsonb", json.dumps([{"step_id": b.id, "submission_id": str(submission.id), "queue": "local"}])),
            "step_ids": ("bigint[]", [b.id]), "task_name": ("text", "run_step"), "priority": ("int", 0),
            "scheduled_at": ("timestamptz", None), "now": ("timestamptz", None),
        }
        if handover:  # the end of a's attempt recorded, b handed its queue job
            plan = _generic_plan(connection, statements.RECORD_AND_HAND_OVER, {
                **deferral, "handover_step": ("bigint", b.id), "handover_job": ("bigint", job_id),
                "worker_id": ("bigint", None), "worker": ("text", None),
                "id": ("bigint", submission.steps[0].id), "number": ("int", 1), "exit_status": ("int", 0),
                "outcome": ("text", "success"), "stdout": ("text", ""), "stderr": ("text", ""),
                "argv": ("jsonb", None), "state": ("text", "Complete"), "message": ("text", ""),
                "finished": ("timestamptz", None), "keep_cache_key": ("boolean", True),
            })
        else:
            plan = _generic_plan(connection, statements.DEFER_STEPS, deferral)
        session.rollback()
    assert "Seq Scan on steps" not in plan, plan


@pytest.mark.parametrize("finished", [0, 2000], ids=["fresh database", "many finished jobs"])
def test_claiming_steps_does_not_scan_the_queue_table(sessions, load_config, finished):
    """The batch claim (statements.CLAIM_QUEUE_JOBS) reaches the next todo jobs by index, however many finished
    queue jobs are kept."""
    load_config(CONFIG)
    with transaction(sessions) as session:
        intake.submit(session, job="three", params={}, inputs={})
        session.execute(text(
            "INSERT INTO procrastinate_jobs (queue_name, task_name, priority, args, status, attempts) "
            "SELECT 'local', 'run_step', 0, jsonb_build_object('step_id', -g), 'succeeded', 1 "
            "FROM generate_series(1, :n) AS g"), {"n": finished})
        session.execute(text("ANALYZE procrastinate_jobs"))
    with transaction(sessions) as session:
        connection = driver(session)
        for name, value in PLAN_SETTINGS.items():
            connection.execute("SELECT set_config(%s, %s, true)", (name, value))
        plan = _generic_plan(connection, statements.CLAIM_QUEUE_JOBS, {
            "queues": ("varchar[]", ["local"]), "worker_id": ("bigint", 1), "limit": ("int", 4)})
        session.rollback()
    assert "Seq Scan on procrastinate_jobs" not in plan, plan
