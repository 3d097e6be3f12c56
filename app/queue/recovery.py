"""Finding steps whose worker died, and giving them another attempt or marking them Crash."""

from __future__ import annotations

import logging

from sqlalchemy import text
from sqlalchemy.orm import Session

from app.config import Settings
from app.models import Attempt, Step, StepState
from app.models.base import utcnow
from app.queue.chain import backoff_delay
from app.services import steps

log = logging.getLogger(__name__)

_PRUNE = text("SELECT worker_id FROM procrastinate_prune_stalled_workers_v1(:seconds)")
# Jobs in 'doing' whose worker is gone (pruned workers leave worker_id NULL).
_STALLED = text(
    "SELECT id, (args->>'step_id')::bigint AS step_id FROM procrastinate_jobs "
    "WHERE status = 'doing' AND worker_id IS NULL FOR UPDATE SKIP LOCKED"
)
_RETRY = text(
    "SELECT procrastinate_retry_job_v2(:job_id, now() + make_interval(secs => :delay), NULL, NULL, NULL)"
)


def recover_stalled(session: Session, settings: Settings) -> int:
    """Requeue (or Crash) the steps of workers silent for longer than the stall limit."""
    pruned = session.execute(_PRUNE, {"seconds": settings.stalled_after_seconds}).scalars().all()
    if pruned:
        log.warning("workers %s stopped sending heartbeats", pruned)
    count = 0
    for job_id, step_id in session.execute(_STALLED).all():
        step = session.get(Step, step_id)
        count += 1
        if step is None or step.state != StepState.RUNNING:
            steps.finish_queue_job(session, job_id)
            continue
        attempt = session.get(Attempt, (step.id, step.attempts))
        if attempt is not None and attempt.finished is None:
            attempt.outcome, attempt.finished = "crash", utcnow()
            attempt.stderr += "\n[the worker running this attempt stopped responding]"
        if step.attempts <= step.task.get("retries", 0):
            log.warning("step %s lost its worker; attempt %d will follow", step_id, step.attempts + 1)
            delay = backoff_delay(step.attempts, settings.retry_backoff_seconds)
            session.execute(_RETRY, {"job_id": job_id, "delay": delay})
        else:
            steps.crash(session, queue_job_id=job_id, step=step,
                        message=f"Step {step.name} was lost: its worker stopped responding")
    return count


_MINE = text("SELECT id FROM procrastinate_jobs WHERE worker_id = :id AND status = 'doing'")


def find_unowned(session: Session, worker_id: int, running: set[int]) -> set[int]:
    """Queue jobs recorded as taken by this worker that none of its threads runs."""
    return set(session.execute(_MINE, {"id": worker_id}).scalars()) - running


def release_lost_claims(session: Session, job_ids: set[int]) -> None:
    """Hand back claims whose commit went through although the worker saw the connection fail.

    The attempt never started, so it is forgotten rather than counted as a crash.
    """
    for job_id in job_ids:
        step_id = session.execute(
            text("SELECT (args->>'step_id')::bigint FROM procrastinate_jobs WHERE id = :id FOR UPDATE"),
            {"id": job_id}).scalar()
        step = session.get(Step, step_id) if step_id is not None else None
        if step is not None and step.state == StepState.RUNNING:
            steps.forget_attempt(session, step)
            log.warning("step %s: a claim lost to a connection failure is handed back", step.id)
        session.execute(_RETRY, {"job_id": job_id, "delay": 0})
