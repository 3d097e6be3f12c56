"""Finding steps whose worker died, and giving them another attempt or marking them Crash."""

from __future__ import annotations

import logging

from sqlalchemy import text
from sqlalchemy.orm import Session

from app.config import Settings
from app.db import driver
from app.queue.chain import backoff_delay
from app.services import steps

log = logging.getLogger(__name__)

_PRUNE = text("SELECT worker_id FROM procrastinate_prune_stalled_workers_v1(:seconds)")
# Jobs in 'doing' whose worker is gone (pruned workers leave worker_id NULL).
_STALLED = text(
    "SELECT id, (args->>'step_id')::bigint AS step_id, args->>'submission_id' AS submission_id, "
    "(SELECT attempts FROM steps WHERE steps.id = (args->>'step_id')::bigint) AS attempts "
    "FROM procrastinate_jobs WHERE status = 'doing' AND worker_id IS NULL FOR UPDATE SKIP LOCKED"
)
_RETRY = text(
    "SELECT procrastinate_retry_job_v2(:job_id, now() + make_interval(secs => :delay), NULL, NULL, NULL)"
)
_MINE = text(
    "SELECT id, (args->>'step_id')::bigint AS step_id, args->>'submission_id' AS submission_id "
    "FROM procrastinate_jobs WHERE worker_id = :id AND status = 'doing'"
)


def recover_stalled(session: Session, settings: Settings) -> int:
    """Requeue (or Crash) the steps of workers silent for longer than the stall limit."""
    pruned = session.execute(_PRUNE, {"seconds": settings.stalled_after_seconds}).scalars().all()
    if pruned:
        log.warning("workers %s stopped sending heartbeats", pruned)
    stalled = session.execute(_STALLED).all()
    for job in stalled:
        lost = steps.lose_attempt(driver(session), submission_id=job.submission_id, step_id=job.step_id,
                                  queue_job_id=job.id)
        if lost:
            log.warning("step %s lost its worker; attempt %d will follow", job.step_id, (job.attempts or 0) + 1)
            delay = backoff_delay(job.attempts or 1, settings.retry_backoff_seconds)
            session.execute(_RETRY, {"job_id": job.id, "delay": delay})
    return len(stalled)


def find_unowned(session: Session, worker_id: int, running: set[int]) -> dict[int, tuple[int, str]]:
    """Queue jobs recorded as taken by this worker that none of its threads runs."""
    rows = session.execute(_MINE, {"id": worker_id}).all()
    return {r.id: (r.step_id, r.submission_id) for r in rows if r.id not in running}


def release_lost_claims(session: Session, claims: dict[int, tuple[int, str]]) -> None:
    """Hand back claims whose commit went through although the worker saw the connection fail.

    The attempt never started, so it is forgotten rather than counted as a crash.
    """
    for job_id, (step_id, submission_id) in claims.items():
        log.warning("step %s: a claim lost to a connection failure is handed back", step_id)
        steps.forget_attempt(driver(session), submission_id=submission_id, step_id=step_id)
        session.execute(_RETRY, {"job_id": job_id, "delay": 0})
