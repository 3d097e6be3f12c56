"""The one place where steps are handed to the queue.

Deferring goes through Procrastinate's versioned SQL function on the caller's own connection, so a
step is queued in exactly the transaction that made it runnable: if that transaction rolls back,
the step was never queued; if it commits, the step is queued. Nothing is lost and nothing doubles.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from psycopg import Connection

from app.models.base import utcnow

TASK_NAME = "run_step"
PRIORITIES = {"low": -10, "normal": 0, "high": 10}

# Queue the steps and mark them Queued, in one statement. Job ids are handed out in array order,
# so the n-th smallest new id belongs to the n-th step.
_DEFER = """
    WITH input AS (
        SELECT * FROM unnest(CAST(%(step_ids)s AS bigint[]), CAST(%(queues)s AS varchar[]), CAST(%(args)s AS jsonb[]))
            WITH ORDINALITY AS t(step_id, queue, args, ord)
    ), deferred AS (
        SELECT unnest(procrastinate_defer_jobs_v1(array_agg(
            ROW(queue, %(task_name)s, %(priority)s, NULL, NULL, args, CAST(%(scheduled_at)s AS timestamptz))
                ::procrastinate_job_to_defer_v1 ORDER BY ord))) AS job_id
        FROM input
    ), numbered AS (
        SELECT job_id, row_number() OVER (ORDER BY job_id) AS ord FROM deferred
    )
    UPDATE steps SET state = 'Queued', queue_job_id = n.job_id, queued = %(now)s, waiting_for = 0
    FROM numbered n JOIN input i USING (ord)
    WHERE steps.id = i.step_id
    RETURNING steps.id, steps.queue_job_id
"""


@dataclass(frozen=True)
class Deferral:
    """A step to queue: its id, its submission, and the queue (its backend's name)."""

    step_id: int
    submission_id: str
    queue: str


def defer(
    connection: Connection, steps: Sequence[Deferral], *, priority: str = "normal", delay: float = 0.0,
) -> tuple[dict[int, int], datetime]:
    """Queue `steps` in the connection's transaction and mark them Queued (runnable after `delay`
    seconds); return their queue job ids by step id, and the time they were queued."""
    now = utcnow()
    if not steps:
        return {}, now
    rows = connection.execute(_DEFER, {
        "step_ids": [s.step_id for s in steps],
        "queues": [s.queue for s in steps],
        "args": [json.dumps({"step_id": s.step_id, "submission_id": s.submission_id}) for s in steps],
        "task_name": TASK_NAME,
        "priority": PRIORITIES.get(priority, 0),
        "scheduled_at": now + timedelta(seconds=delay) if delay > 0 else None,
        "now": now,
    })
    return {step_id: job_id for step_id, job_id in rows}, now


def backoff_delay(attempts: int, base: float) -> float:
    """Seconds before attempt `attempts + 1`: base, 2·base, 4·base… capped at five minutes."""
    return min(base * 2 ** max(attempts - 1, 0), 300.0)
