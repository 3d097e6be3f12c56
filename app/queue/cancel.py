"""Cancelling a submission: queued steps never start, running ones are killed by their workers.

The queue's part of it, so here: the running steps' queue jobs are asked to abort, and the
submission's end is announced as every end is (statements.ANNOUNCE_END).
"""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.orm import Session

from app.db import driver
from app.errors import Conflict
from app.models import StepState, Submission, SubmissionState
from app.models.base import utcnow
from app.queue import dag
from app.services import blobs, submissions

# A direct UPDATE (not procrastinate_cancel_job_v1) so that a row locked by a worker's recovery
# is skipped rather than waited for; the UPDATE OF abort_requested trigger still sends the NOTIFY
# that makes the running worker kill the step's process group.
_ABORT = text(
    "UPDATE procrastinate_jobs SET abort_requested = true WHERE id IN ("
    " SELECT id FROM procrastinate_jobs WHERE id = ANY(:ids) AND status = 'doing' FOR UPDATE SKIP LOCKED)"
)


def cancel(session: Session, submission_id: str, *, purge: bool = False) -> Submission | None:
    """Cancel (and with `purge`, delete) a submission; None when it was purged.

    Cancelling a finished submission is a Conflict, but purging one is allowed.
    """
    submission = submissions.get(session, submission_id, lock=True)
    if submission.finished is not None and not purge:
        raise Conflict(f"The submission has already finished ({submission.state}); there is nothing to cancel")
    if submission.finished is None:
        now = utcnow()
        running = [s.queue_job_id for s in submission.steps if s.state == StepState.RUNNING]
        for step in submission.steps:
            if step.state in (StepState.PENDING, StepState.QUEUED, StepState.RUNNING):
                step.state, step.finished = StepState.CANCELLED, now
        submission.state, submission.message, submission.finished = (
            SubmissionState.CANCELLED, "Cancelled by request", now)
        if running:
            session.execute(_ABORT, {"ids": running})
        dag.announce_finished(driver(session), submission.id)
    if purge:
        _purge(session, submission)
        return None
    return submission


def _purge(session: Session, submission: Submission) -> None:
    """Delete the submission, its steps, logs and results, and contents nothing else uses."""
    hashes = {i.sha256 for i in submission.inputs} | {r.sha256 for r in submission.results}
    session.delete(submission)
    session.flush()
    blobs.delete_unreferenced(session, hashes)
