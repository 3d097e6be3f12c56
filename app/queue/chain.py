"""The one place where steps are handed to the queue.

Deferring goes through Procrastinate's versioned SQL function on the caller's own connection, so a
step is queued in exactly the transaction that made it runnable: if that transaction rolls back,
the step was never queued; if it commits, the step is queued. Nothing is lost and nothing doubles.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import timedelta

from sqlalchemy import text
from sqlalchemy.orm import Session

from app.models import Step, StepState
from app.models.base import utcnow

TASK_NAME = "run_step"
PRIORITIES = {"low": -10, "normal": 0, "high": 10}

_DEFER = text(
    """
    SELECT unnest(procrastinate_defer_jobs_v1(array_agg(
        ROW(q, :task_name, p, NULL, NULL, a, CAST(:scheduled_at AS timestamptz))::procrastinate_job_to_defer_v1
        ORDER BY ord)))
    FROM unnest(CAST(:queues AS varchar[]), CAST(:priorities AS int[]), CAST(:args AS jsonb[]))
        WITH ORDINALITY AS t(q, p, a, ord)
    """
)


def queue_of(step: Step) -> str:
    """Each backend has its own queue."""
    return step.task["backend"]["name"]


def defer_steps(
    session: Session, steps: Sequence[Step], *, priority: str = "normal", delay: float = 0.0,
) -> None:
    """Queue `steps` inside the session's current transaction and mark them Queued
    (runnable after `delay` seconds)."""
    if not steps:
        return
    if any(step.id is None for step in steps):
        session.flush()
    level = PRIORITIES.get(priority, 0)
    now = utcnow()
    job_ids = session.execute(
        _DEFER,
        {
            "task_name": TASK_NAME,
            "queues": [queue_of(step) for step in steps],
            "priorities": [level] * len(steps),
            "args": [json.dumps({"step_id": step.id}) for step in steps],
            "scheduled_at": now + timedelta(seconds=delay) if delay > 0 else None,
        },
    ).scalars().all()
    for step, job_id in zip(steps, sorted(job_ids), strict=True):
        step.state = StepState.QUEUED
        step.queue_job_id = job_id
        step.queued = now


def backoff_delay(attempts: int, base: float) -> float:
    """Seconds before attempt `attempts + 1`: base, 2·base, 4·base… capped at five minutes."""
    return min(base * 2 ** max(attempts - 1, 0), 300.0)
