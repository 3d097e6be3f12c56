"""The one place where steps are handed to the queue.

A step is queued in exactly the transaction that made it runnable, on the caller's connection: if
that transaction rolls back, the step was never queued; if it commits, the step is queued. Nothing
is lost and nothing doubles.

Queue jobs are rows of Procrastinate's `procrastinate_jobs`, inserted as its
`procrastinate_defer_jobs_v1` inserts them, so its triggers NOTIFY the queue's workers. One
difference: the step that a worker goes on with itself (the next step of its pipeline) is handed
over the worker's queue job of the step it just finished, in the statement that records that step's
end (statements.RECORD_AND_HAND_OVER). An operator sees one queue job walk down the pipeline.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from typing import Any

from psycopg import Connection
from psycopg.types.json import Jsonb

from app.models.base import utcnow
from app.queue import statements

TASK_NAME = "run_step"
PRIORITIES = {"low": -10, "normal": 0, "high": 10}


@dataclass(frozen=True)
class Handover:
    """The step a worker goes on with at once, under the queue job it holds; the deferral starts
    its attempt (the step is Running, its attempts row made, with the worker's name). `closing` is
    the record of the attempt that held the job (RECORD_AND_HAND_OVER's parameters for it, `now`
    among them), made in the same statement."""

    step_id: int
    queue_job_id: int
    worker_id: int
    worker: str
    closing: dict[str, Any]


@dataclass(frozen=True)
class Deferral:
    """A step to queue: its id, its submission, and the queue (its backend's name)."""

    step_id: int
    submission_id: str
    queue: str


def defer(
    connection: Connection, steps: Sequence[Deferral], *, priority: str = "normal", delay: float = 0.0,
    handover: Handover | None = None,
) -> tuple[dict[int, int], datetime]:
    """Queue `steps` in the connection's transaction and mark them Queued (runnable after `delay`
    seconds). With a `handover` (one of `steps`), that step goes on at once under the queue job its
    worker holds, and the attempt that held the job is recorded. Return their queue job ids by step
    id, and the time they were queued."""
    if handover is not None:
        return _hand_over(connection, steps, priority=priority, handover=handover)
    now = utcnow()
    if not steps:
        return {}, now
    rows = connection.execute(statements.DEFER_STEPS, {
        **_queued(steps, priority), "scheduled_at": now + timedelta(seconds=delay) if delay > 0 else None, "now": now,
    })
    return {step_id: job_id for step_id, job_id in rows}, now


def _hand_over(
    connection: Connection, steps: Sequence[Deferral], *, priority: str, handover: Handover,
) -> tuple[dict[int, int], datetime]:
    now = handover.closing["now"]  # one instant for the end of one attempt and the start of the next
    rows = connection.execute(statements.RECORD_AND_HAND_OVER, {
        **handover.closing,
        **_queued(steps, priority),
        "handover_step": handover.step_id,
        "handover_job": handover.queue_job_id,
        "worker_id": handover.worker_id,
        "worker": handover.worker,
    })
    return {step_id: job_id for step_id, job_id in rows}, now


def _queued(steps: Sequence[Deferral], priority: str) -> dict[str, Any]:
    """The parameters that name the steps to queue, in both statements that queue them."""
    return {"steps": Jsonb([asdict(s) for s in steps]), "step_ids": [s.step_id for s in steps],
            "task_name": TASK_NAME, "priority": PRIORITIES.get(priority, 0)}


def backoff_delay(attempts: int, base: float) -> float:
    """Seconds before attempt `attempts + 1`: between base and 2·base, then 2·base and 4·base…
    capped at five minutes. Random within its range, so that steps retried after one crash do not
    all come due at once, to be claimed together by one worker and lost together again."""
    nominal = base * 2 ** max(attempts - 1, 0)
    return min(nominal * (1 + random.random()), 300.0)  # noqa: S311 - spreading, not secrecy
