"""Cancelling a submission: queued steps never start, running ones are killed by their workers."""

from __future__ import annotations

from sqlalchemy import delete, text
from sqlalchemy.orm import Session

from app.db import driver
from app.errors import Conflict
from app.models import Blob, StepState, Submission, SubmissionState
from app.models.base import utcnow
from app.services import dag, submissions

# A direct UPDATE (not procrastinate_cancel_job_v1) so that a row locked by a worker's recovery
# is skipped rather than waited for; the UPDATE OF abort_requested trigger still sends the NOTIFY
# that makes the running worker kill the step's process group.
_ABORT = text(
    "UPDATE procrastinate_jobs SET abort_requested = true WHERE id IN ("
    " SELECT id FROM procrastinate_jobs WHERE id = ANY(:ids) AND status = 'doing' FOR UPDATE SKIP LOCKED)"
)
_UNREFERENCED = text(
    "SELECT b.sha256 FROM blobs b WHERE b.sha256 = ANY(:hashes) "
    "AND NOT EXISTS (SELECT 1 FROM submission_inputs i WHERE i.sha256 = b.sha256) "
    "AND NOT EXISTS (SELECT 1 FROM results r WHERE r.sha256 = b.sha256) FOR UPDATE"
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
    if hashes:
        unused = session.execute(_UNREFERENCED, {"hashes": list(hashes)}).scalars().all()
        if unused:
            session.execute(delete(Blob).where(Blob.sha256.in_(unused)))
