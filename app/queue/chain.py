"""The one place where steps are handed to the queue.

A step is queued in exactly the transaction that made it runnable, on the caller's connection: if
that transaction rolls back, the step was never queued; if it commits, the step is queued. Nothing
is lost and nothing doubles.

Queue jobs are rows of Procrastinate's `procrastinate_jobs`, inserted as its
`procrastinate_defer_jobs_v1` inserts them, so its triggers NOTIFY the queue's workers. One
difference: the step that a worker goes on with itself (the next step of its pipeline) is handed
over the worker's queue job of the step it just finished: that job, still 'doing' for the same
worker, now names the new step in its args, and the step's attempt starts in the same statement.
Nobody is woken for it, and the step costs no insert and no delete in the queue table. An operator
sees one queue job walk down the pipeline. (Should
the job no longer be the worker's, say requeued by a recovery that took the worker for dead, the
step gets a new job, 'doing' for the worker, as a fetch would leave it; the old job, naming a
finished step, is finished by whoever fetches it.)
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from typing import Any

from psycopg import Connection
from psycopg.types.json import Jsonb

from app.models.base import utcnow

TASK_NAME = "run_step"
PRIORITIES = {"low": -10, "normal": 0, "high": 10}

# Queue the steps and mark them Queued, in one statement. The steps come as one JSON document: an
# array of text-format JSON strings would cost an escaped quote per character of JSON.
_DEFER = """
    WITH {companions} input AS (
        SELECT CAST(step->>'step_id' AS bigint) AS step_id, step->>'queue' AS queue,
               jsonb_build_object('step_id', CAST(step->>'step_id' AS bigint),
                                  'submission_id', step->>'submission_id') AS args, ord
        FROM jsonb_array_elements(%(steps)s) WITH ORDINALITY AS t(step, ord)
    ), handed_over AS (
        UPDATE procrastinate_jobs SET args = input.args, queue_name = input.queue, priority = %(priority)s
        FROM input WHERE input.step_id = CAST(%(handover_step)s AS bigint)
                     AND procrastinate_jobs.id = CAST(%(handover_job)s AS bigint)
                     AND procrastinate_jobs.status = 'doing'
                     AND procrastinate_jobs.worker_id = CAST(%(worker_id)s AS bigint)
        RETURNING procrastinate_jobs.id, input.step_id
    ), inserted AS (
        INSERT INTO procrastinate_jobs (queue_name, task_name, priority, args, scheduled_at, status, worker_id)
        SELECT queue, %(task_name)s, %(priority)s, args, CAST(%(scheduled_at)s AS timestamptz),
               CAST(CASE WHEN is_handover THEN 'doing' ELSE 'todo' END AS procrastinate_job_status),
               CASE WHEN is_handover THEN CAST(%(worker_id)s AS bigint) END
        FROM (SELECT *, (step_id = CAST(%(handover_step)s AS bigint)) IS TRUE AS is_handover FROM input) AS i
        WHERE step_id NOT IN (SELECT step_id FROM handed_over) ORDER BY ord
        RETURNING id, CAST(args->>'step_id' AS bigint) AS step_id
    ), jobs AS (
        SELECT * FROM handed_over UNION ALL SELECT * FROM inserted
    ), queued AS (
        -- The handed-over step starts at once: Running, with its attempt (below), as
        -- app.services.steps._START starts a claimed step.
        UPDATE steps SET state = CASE WHEN starts THEN 'Running' ELSE 'Queued' END,
                         attempts = steps.attempts + CASE WHEN starts THEN 1 ELSE 0 END,
                         started = CASE WHEN starts THEN coalesce(steps.started, %(now)s) ELSE steps.started END,
                         queue_job_id = jobs.id, queued = %(now)s, waiting_for = 0
        FROM (SELECT *, (step_id = CAST(%(handover_step)s AS bigint)) IS TRUE AS starts FROM jobs) AS jobs
        -- The ids again as an array: the planner cannot see how few rows `jobs` holds, and would
        -- otherwise scan the whole steps table for them.
        WHERE steps.id = jobs.step_id AND steps.id = ANY(CAST(%(step_ids)s AS bigint[]))
        RETURNING steps.id, steps.queue_job_id, steps.attempts, jobs.starts
    ), attempt AS (
        INSERT INTO attempts (step_id, number, worker, outcome, stdout, stderr, started)
        SELECT id, attempts, %(worker)s, '', '', '', %(now)s FROM queued WHERE starts
    )
    SELECT id, queue_job_id FROM queued
"""


@dataclass(frozen=True)
class Companion:
    """Data-modifying CTEs ("name AS (...), " each) that run in the deferral's statement, a round
    trip saved: they must change other rows than the deferral does, and their names and parameters
    must differ from its own, `now` excepted: theirs is the deferral's."""

    ctes: str
    params: dict[str, Any]


@functools.cache
def _statement(companions: str = "") -> str:
    """The deferral with its companions (the same text each time: psycopg prepares it once)."""
    return _DEFER.format(companions=companions)


@dataclass(frozen=True)
class Handover:
    """The step a worker goes on with at once, under the queue job it holds; the deferral starts
    its attempt (the step is Running, its attempts row made, with the worker's name). `closing`,
    the end of the attempt that held the job, runs in the same statement."""

    step_id: int
    queue_job_id: int
    worker_id: int
    worker: str
    closing: Companion | None = None


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
    worker holds. Return their queue job ids by step id, and the time they were queued."""
    closing = handover.closing if handover else None
    now = closing.params["now"] if closing else utcnow()  # one instant for both
    if not steps and closing is None:
        return {}, now
    rows = connection.execute(_statement(closing.ctes if closing else ""), {
        **(closing.params if closing else {}),
        "steps": Jsonb([asdict(s) for s in steps]),
        "step_ids": [s.step_id for s in steps],
        "task_name": TASK_NAME,
        "priority": PRIORITIES.get(priority, 0),
        "scheduled_at": now + timedelta(seconds=delay) if delay > 0 else None,
        "handover_step": handover.step_id if handover else None,
        "handover_job": handover.queue_job_id if handover else None,
        "worker_id": handover.worker_id if handover else None,
        "worker": handover.worker if handover else None,
        "now": now,
    })
    return {step_id: job_id for step_id, job_id in rows}, now


def backoff_delay(attempts: int, base: float) -> float:
    """Seconds before attempt `attempts + 1`: base, 2·base, 4·base… capped at five minutes."""
    return min(base * 2 ** max(attempts - 1, 0), 300.0)
