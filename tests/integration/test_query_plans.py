"""The hot path's statements find their rows by index, however many steps are stored (no timing
is asserted: the plan is)."""

from __future__ import annotations

import json

from sqlalchemy import text

from app.db import driver, transaction
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


def _many_steps(session, template: str, copies: int) -> None:
    session.execute(text(
        "INSERT INTO steps (submission_id, position, name, task_name, task, params, after, waiting_for, state, "
        "attempts, message, cached) "
        "SELECT submission_id, position + 3 * g, name, task_name, task, params, after, 0, 'Complete', 1, '', false "
        "FROM steps CROSS JOIN generate_series(1, :copies) AS g WHERE submission_id = :id"
    ), {"copies": copies, "id": template})
    session.execute(text("ANALYZE steps"))


def test_deferring_a_step_does_not_scan_the_steps_table(sessions, load_config):
    load_config(CONFIG)
    with transaction(sessions) as session:
        submission = submissions.submit(session, job="three", params={}, inputs={})
    with transaction(sessions) as session:
        _many_steps(session, str(submission.id), 500)
    b = submission.steps[1]
    job_id = submission.steps[0].queue_job_id
    with transaction(sessions) as session:
        connection = driver(session)
        connection.execute("SET LOCAL plan_cache_mode = force_generic_plan")  # as once prepared
        plan = "\n".join(row[0] for row in connection.execute("EXPLAIN " + chain._DEFER, {
            "steps": json.dumps([{"step_id": b.id, "submission_id": str(submission.id), "queue": "local"}]),
            "step_ids": [b.id], "task_name": "run_step", "priority": 0, "scheduled_at": None,
            "handover_step": b.id, "handover_job": job_id, "worker_id": None, "worker": None, "now": None,
        }))
        session.rollback()
    assert "Seq Scan on steps" not in plan, plan
