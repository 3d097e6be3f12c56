"""The hot path's statements find their rows by index, however many steps are stored (no timing
is asserted: the plan is)."""

from __future__ import annotations

import json
import re

import pytest
from psycopg import ClientCursor
from sqlalchemy import text

from app.db import PLAN_SETTINGS, driver, transaction
from app.queue import chain
from app.services import submissions

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


@pytest.mark.parametrize("stored", [0, 500], ids=["fresh database", "many steps"])
def test_deferring_a_step_does_not_scan_the_steps_table(sessions, load_config, stored):
    """Also when the plan is made while the tables are nearly empty, as on a fresh database before
    autoanalyze: that generic plan is kept for the connection's life, however large they grow."""
    load_config(CONFIG)
    with transaction(sessions) as session:
        submission = submissions.submit(session, job="three", params={}, inputs={})
    if stored:
        with transaction(sessions) as session:
            _many_steps(session, str(submission.id), stored)
    b = submission.steps[1]
    job_id = submission.steps[0].queue_job_id
    with transaction(sessions) as session:
        connection = driver(session)
        for name, value in PLAN_SETTINGS.items():  # as the API's and the worker's connections plan it
            connection.execute("SELECT set_config(%s, %s, true)", (name, value))
        plan = _generic_plan(connection, chain._statement(), {
            "steps": ("jsonb", json.dumps([{"step_id": b.id, "submission_id": str(submission.id), "queue": "local"}])),
            "step_ids": ("bigint[]", [b.id]), "task_name": ("text", "run_step"), "priority": ("int", 0),
            "scheduled_at": ("timestamptz", None), "handover_step": ("bigint", b.id), "handover_job": ("bigint", job_id),
            "worker_id": ("bigint", None), "worker": ("text", None), "now": ("timestamptz", None),
        })
        session.rollback()
    assert "Seq Scan on steps" not in plan, plan
