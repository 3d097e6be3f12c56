"""Step life cycle in the database: claim an attempt, record its outcome, chain the DAG.

Every function runs inside the caller's transaction and first locks the submission row, so the
steps of one submission change one at a time and "last parent done" is seen exactly once.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from app.models import (
    STEP_DONE,
    Attempt,
    Result,
    Step,
    StepState,
    Submission,
    SubmissionState,
)
from app.models.base import utcnow
from app.queue.chain import backoff_delay, defer_steps
from app.services import blobs, cache, workspace
from app.services.execution import RETRY, SUCCESS, TERMINATE, Outcome, StepWork

_FETCH = text("SELECT id, args FROM procrastinate_fetch_job_v2(CAST(:queues AS varchar[]), :worker_id)")
_FINISH = text("SELECT procrastinate_finish_job_v1(:job_id, 'succeeded', true)")


@dataclass
class Claim:
    """A queue job taken by a worker; `work` is None when there is nothing left to run."""

    queue_job_id: int
    work: StepWork | None


def claim(session: Session, *, queues: list[str] | None, worker_id: int, worker: str) -> Claim | None:
    """Take the next queue job and start an attempt of its step; None when the queue is empty."""
    row = session.execute(_FETCH, {"queues": queues, "worker_id": worker_id}).one()
    if row.id is None:
        return None
    step_id = int(row.args["step_id"])
    step = session.get(Step, step_id)
    if step is None:
        finish_queue_job(session, row.id)
        return Claim(row.id, None)
    submission = lock_submission(session, step.submission_id)
    session.refresh(step)
    if step.state not in (StepState.QUEUED, StepState.RUNNING) or submission.state in (
        SubmissionState.CANCELLED, SubmissionState.ERROR, SubmissionState.CRASH,
    ):
        # Skipped or cancelled after it was queued: the queue job has nothing left to do.
        finish_queue_job(session, row.id)
        return Claim(row.id, None)
    now = utcnow()
    if submission.state == SubmissionState.SUBMITTED:
        submission.state = SubmissionState.RUNNING
        submission.started = now
    step.started = step.started or now
    wanted = _wanted_files(session, submission, step)
    step.cache_key = cache.key(step, wanted, str(submission.id))
    source = cache.find(session, step.cache_key) if step.cache_key and submission.use_cache else None
    if source is not None:
        cache.reuse(session, submission, step, source)
        _succeed(session, submission, step)
        finish_queue_job(session, row.id)
        return Claim(row.id, None)
    step.attempts += 1
    step.state = StepState.RUNNING
    session.add(Attempt(step_id=step.id, number=step.attempts, worker=worker, started=now))
    contents = blobs.get_many(session, {sha for _, sha in wanted})
    work = StepWork(
        step_id=step.id, attempt=step.attempts, submission_id=str(submission.id),
        step_name=step.name, task=step.task, params=step.params,
        files=[(name, contents[sha]) for name, sha in wanted],
    )
    return Claim(row.id, work)


def lock_submission(session: Session, submission_id: uuid.UUID) -> Submission:
    return session.execute(
        select(Submission).where(Submission.id == submission_id).with_for_update()
    ).scalar_one()


def finish_queue_job(session: Session, queue_job_id: int) -> None:
    """Remove a finished queue job (our steps table keeps the history)."""
    session.execute(_FINISH, {"job_id": queue_job_id})


def _wanted_files(session: Session, submission: Submission, step: Step) -> list[tuple[str, str]]:
    """(name, sha256) of the submission's inputs, then its ancestors' results, matching the in_globs."""
    globs = step.task.get("in_globs", [])
    ancestors = _ancestors(submission.steps, step)
    wanted: list[tuple[str, str]] = [
        (i.filename, i.sha256) for i in submission.inputs if any(i.filename.endswith(g) for g in globs)
    ]
    results = session.execute(
        select(Result).where(Result.submission_id == submission.id).order_by(Result.id)
    ).scalars()
    by_step: dict[str, list[Result]] = {}
    for result in results:
        by_step.setdefault(result.step_name, []).append(result)
    for ancestor in ancestors:
        wanted += [(r.name, r.sha256) for r in by_step.get(ancestor.name, []) if
                   any(r.name.endswith(g) for g in globs)]
    return wanted


def _ancestors(steps: list[Step], step: Step) -> list[Step]:
    """Every step `step` depends on, directly or not, in job order."""
    by_name = {s.name: s for s in steps}
    seen: set[str] = set()
    todo = list(step.after)
    while todo:
        name = todo.pop()
        if name not in seen:
            seen.add(name)
            todo.extend(by_name[name].after)
    return [s for s in steps if s.name in seen]


def record(
    session: Session, *, queue_job_id: int, work: StepWork, outcome: Outcome, backoff: float = 1.0,
) -> None:
    """Store an attempt's outcome and results, and move the submission's DAG on, in one transaction."""
    finish_queue_job(session, queue_job_id)
    step = session.get(Step, work.step_id)
    if step is None:
        return
    submission = lock_submission(session, step.submission_id)
    session.refresh(step)
    if step.state != StepState.RUNNING or step.attempts != work.attempt:
        return  # cancelled or purged, or superseded by a later attempt: keep what is recorded
    now = utcnow()
    attempt = session.get(Attempt, (step.id, work.attempt))
    attempt.exit_status, attempt.outcome, attempt.finished = outcome.exit_status, outcome.action, now
    attempt.stdout, attempt.stderr = outcome.stdout, outcome.stderr
    step.exit_status, step.message = outcome.exit_status, outcome.message
    if outcome.action == RETRY and step.attempts <= step.task.get("retries", 0):
        defer_steps(session, [step], priority=submission.priority, delay=backoff_delay(step.attempts, backoff))
        return  # this attempt's files are dropped: the next attempt makes its own
    _store_outputs(session, submission, step, outcome)
    if outcome.action == SUCCESS:
        _succeed(session, submission, step)
        return
    step.finished = now
    if outcome.action == TERMINATE:
        step.state = StepState.COMPLETE
        step.cache_key = None  # an early end is not a result to reuse
        _skip_rest(submission)
        _complete_if_done(submission, step.message)
    else:
        step.state = StepState.ERROR
        _skip_rest(submission)
        _end(submission, SubmissionState.ERROR, outcome.message or f"Step {step.name} failed")


def _succeed(session: Session, submission: Submission, step: Step) -> None:
    """Mark a step Complete, queue the children it was the last parent of, and maybe end the submission."""
    step.state, step.finished = StepState.COMPLETE, utcnow()
    _release_children(session, submission, step)
    _complete_if_done(submission)


def _complete_if_done(submission: Submission, message: str = "") -> None:
    if all(s.state in STEP_DONE for s in submission.steps):
        _end(submission, SubmissionState.COMPLETE, message)


def forget_attempt(session: Session, step: Step) -> None:
    """Undo the start of an attempt that never ran (its claim was lost): the step is queued again."""
    lock_submission(session, step.submission_id)
    session.refresh(step)
    attempt = session.get(Attempt, (step.id, step.attempts))
    if attempt is not None:
        session.delete(attempt)
    step.attempts -= 1
    step.state = StepState.QUEUED


def crash(session: Session, *, queue_job_id: int | None, step: Step, message: str) -> None:
    """Mark a step whose attempts the system lost (a dead worker) as Crash, and its submission."""
    submission = lock_submission(session, step.submission_id)
    session.refresh(step)
    if queue_job_id is not None:
        finish_queue_job(session, queue_job_id)
    step.state, step.message, step.finished = StepState.CRASH, message, utcnow()
    _skip_rest(submission)
    _end(submission, SubmissionState.CRASH, message)


def _store_outputs(session: Session, submission: Submission, step: Step, outcome: Outcome) -> None:
    for name, data in outcome.outputs:
        sha = blobs.put(session, data)
        session.add(Result(
            submission_id=submission.id, step_id=step.id, step_name=step.name, name=name,
            sha256=sha, size=len(data), media_type=workspace.media_type(name, data),
        ))


def _release_children(session: Session, submission: Submission, step: Step) -> None:
    ready = []
    for child in submission.steps:
        if step.name in child.after and child.state == StepState.PENDING:
            child.waiting_for -= 1
            if child.waiting_for == 0:
                ready.append(child)
    defer_steps(session, ready, priority=submission.priority)


def _skip_rest(submission: Submission) -> None:
    for other in submission.steps:
        if other.state in (StepState.PENDING, StepState.QUEUED):
            other.state = StepState.SKIPPED


def _end(submission: Submission, state: SubmissionState, message: str) -> None:
    if submission.finished is None:
        submission.state, submission.message, submission.finished = state, message, utcnow()
