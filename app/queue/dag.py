"""A submission's steps as one locked snapshot, and the state changes that move its DAG on.

Loading the snapshot locks the submission row, so the steps of one submission change one at a
time and "last parent done" is seen exactly once. Everything here is plain SQL on a psycopg
connection (see app.db.driver), the statements in app.queue.statements: this is the hot path of
every step.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

from psycopg import Connection

from app.models import STEP_DONE, StepState, SubmissionState
from app.models.base import utcnow
from app.queue import statements
from app.queue.chain import Deferral, Handover, defer
from app.services.submissions import StoredStep


@dataclass
class StepRow:
    id: int
    name: str
    after: list[str]
    state: str
    attempts: int
    waiting_for: int
    task: dict[str, Any]
    params: dict[str, Any]


@dataclass
class Snapshot:
    """A submission (locked) and its steps, in job order."""

    id: str
    state: str
    priority: str
    use_cache: bool
    finished: bool
    steps: list[StepRow] = field(default_factory=list)

    def step(self, step_id: int) -> StepRow | None:
        return next((s for s in self.steps if s.id == step_id), None)

    def ancestors(self, step: StepRow) -> list[StepRow]:
        """Every step `step` depends on, directly or not, in job order."""
        by_name = {s.name: s for s in self.steps}
        seen: set[str] = set()
        todo = list(step.after)
        while todo:
            name = todo.pop()
            if name not in seen:
                seen.add(name)
                todo.extend(by_name[name].after)
        return [s for s in self.steps if s.name in seen]


def load(connection: Connection, submission_id: str | uuid.UUID) -> Snapshot | None:
    """Lock the submission and read its steps; None if it no longer exists."""
    rows = connection.execute(statements.LOCK_SUBMISSION, {"id": submission_id}).fetchall()
    if not rows:
        return None  # a submission has at least one step
    snapshot = Snapshot(str(submission_id), *rows[0][:4])
    snapshot.steps = [StepRow(*row[4:]) for row in rows]
    return snapshot


@dataclass(frozen=True)
class Taker:
    """A worker that takes one of the steps it makes runnable itself, so that its pipeline goes on
    without a round through the queue; it serves `queues` (None: all)."""

    worker_id: int
    worker: str
    queues: list[str] | None = None

    def pick(self, steps: list[StepRow]) -> StepRow | None:
        """The step to take: the first one of our queues (not a cacheable one: the cache check
        belongs to a fresh claim)."""
        return next((s for s in steps if (self.queues is None or queue_name(s) in self.queues)
                     and not s.task.get("cache")), None)


def queue(
    connection: Connection, snapshot: Snapshot, steps: list[StepRow], *, delay: float = 0.0,
    handover: Handover | None = None,
) -> dict[int, int]:
    """Hand `steps` to the queue, in this transaction (the `handover` step, one of them, started at
    once under its worker's queue job: see chain); their queue job ids by step id."""
    job_ids, _ = defer(connection, [Deferral(s.id, snapshot.id, queue_name(s)) for s in steps],
                       priority=snapshot.priority, delay=delay, handover=handover)
    for step in steps:
        if handover and step.id == handover.step_id:
            step.state, step.attempts = StepState.RUNNING, step.attempts + 1
        else:
            step.state = StepState.QUEUED
    return job_ids


def queue_name(step: StepRow | StoredStep) -> str:
    """Each backend has its own queue (a step's as loaded here, or as just stored)."""
    return step.task["backend"]["name"]


def complete_from_cache(connection: Connection, snapshot: Snapshot, step: StepRow, *, exit_status: int | None,
                        message: str) -> None:
    """Mark a step Complete with an earlier run's results (copied already) and release its children
    (see `release`)."""
    connection.execute(statements.COMPLETE_FROM_CACHE, {"id": step.id, "now": utcnow(), "exit_status": exit_status,
                                                        "message": message})
    step.state = StepState.COMPLETE
    release(connection, snapshot, step)


def released_by(snapshot: Snapshot, step: StepRow) -> list[StepRow]:
    """The children that become runnable when `step` completes (it is their last pending parent)."""
    return [c for c in _children(snapshot, step) if c.waiting_for == 1]


def _children(snapshot: Snapshot, step: StepRow) -> list[StepRow]:
    return [c for c in snapshot.steps if step.name in c.after and c.state == StepState.PENDING]


def release(
    connection: Connection, snapshot: Snapshot, step: StepRow, handover: Handover | None = None,
) -> int | None:
    """After `step` completed: queue each child it was the last parent of (the `handover` one, if
    given, under its worker's queue job), and end the submission if it is done. Return the queue
    job of the `handover` step (see chain for when it is not the one handed over)."""
    children = _children(snapshot, step)
    for child in children:
        child.waiting_for -= 1
    waiting = [c.id for c in children if c.waiting_for > 0]  # the others are queued below
    if waiting:
        connection.execute(statements.COUNT_DOWN_PARENTS, {"ids": waiting})
    job_ids = queue(connection, snapshot, [c for c in children if c.waiting_for == 0], handover=handover)
    complete_if_done(connection, snapshot)
    return job_ids[handover.step_id] if handover else None


def skip_rest(connection: Connection, snapshot: Snapshot) -> None:
    """Steps not started yet will not run."""
    rest = [s for s in snapshot.steps if s.state in (StepState.PENDING, StepState.QUEUED)]
    if rest:
        connection.execute(statements.SKIP_STEPS, {"ids": [s.id for s in rest]})
        for step in rest:
            step.state = StepState.SKIPPED


def all_done(snapshot: Snapshot) -> bool:
    """Whether every step of the submission has ended (it is complete unless it ended already)."""
    return all(s.state in STEP_DONE for s in snapshot.steps)


def complete_if_done(connection: Connection, snapshot: Snapshot, message: str = "") -> None:
    if all_done(snapshot):
        end(connection, snapshot, SubmissionState.COMPLETE, message)


def end(connection: Connection, snapshot: Snapshot, state: SubmissionState, message: str) -> None:
    """Give the submission its final state (once)."""
    if not snapshot.finished:
        connection.execute(statements.END_SUBMISSION, {"submission_id": snapshot.id, "end_state": state,
                                                       "end_message": message, "now": utcnow()})
        snapshot.state, snapshot.finished = state, True


def crash(connection: Connection, snapshot: Snapshot, step: StepRow, message: str) -> None:
    """A lost step with no retries left: it Crashed, the steps not started will not run, and its
    submission ends as a Crash."""
    connection.execute(statements.CRASH_STEP, {"id": step.id, "message": message, "now": utcnow()})
    step.state = StepState.CRASH
    skip_rest(connection, snapshot)
    end(connection, snapshot, SubmissionState.CRASH, message)


def announce_finished(connection: Connection, submission_id: str | uuid.UUID) -> None:
    """Tell listeners (clients waiting with ?wait=) that a submission has ended, on commit."""
    connection.execute(statements.ANNOUNCE_END, {"submission_id": str(submission_id)})


def start_running(connection: Connection, snapshot: Snapshot) -> None:
    if snapshot.state == SubmissionState.SUBMITTED:
        connection.execute(statements.MARK_SUBMISSION_RUNNING, {"submission_id": snapshot.id, "now": utcnow()})
        snapshot.state = SubmissionState.RUNNING
