"""Finding steps whose worker died, and giving them another attempt or marking them Crash."""

from __future__ import annotations

import logging

from sqlalchemy import text
from sqlalchemy.orm import Session

from app.config import Settings
from app.db import driver
from app.queue import steps
from app.queue.chain import backoff_delay

log = logging.getLogger(__name__)

# procrastinate_prune_stalled_workers_v1, except that no silence before the server's start counts:
# after a restart of PostgreSQL every worker has a full stall period to be heard again. All on the
# database's clock, so a worker's age, or the skew of its machine's clock, does not matter.
_PRUNE = text(
    "DELETE FROM procrastinate_workers "
    "WHERE greatest(last_heartbeat, pg_postmaster_start_time()) < now() - make_interval(secs => :seconds) "
    "RETURNING id"
)
# Seconds until the longest-silent other worker passes the stall limit (as _PRUNE counts silence);
# NULL when there is no other worker.
_NEXT_STALL = text(
    "SELECT extract(epoch FROM min(greatest(last_heartbeat, pg_postmaster_start_time())) "
    "+ make_interval(secs => :seconds) - now()) FROM procrastinate_workers WHERE id <> :id"
)
# A fresh heartbeat for every worker heard in the last `silent` seconds.
_PARDON = text(
    "UPDATE procrastinate_workers SET last_heartbeat = now() "
    "WHERE last_heartbeat >= now() - make_interval(secs => :silent)"
)
# Jobs in 'doing' whose worker is gone (pruned workers leave worker_id NULL).
_STALLED = text(
    "SELECT id, (args->>'step_id')::bigint AS step_id, args->>'submission_id' AS submission_id, "
    "(SELECT attempts FROM steps WHERE steps.id = (args->>'step_id')::bigint) AS attempts "
    "FROM procrastinate_jobs WHERE status = 'doing' AND worker_id IS NULL "
    # A cluster job goes on without its worker: a poller adopts it (app.queue.cluster).
    "AND NOT EXISTS (SELECT 1 FROM attempts a WHERE a.step_id = (args->>'step_id')::bigint "
    "AND a.cluster_workdir IS NOT NULL AND a.finished IS NULL) "
    "FOR UPDATE SKIP LOCKED"
)
_MINE = text(
    "SELECT id, (args->>'step_id')::bigint AS step_id, args->>'submission_id' AS submission_id "
    "FROM procrastinate_jobs WHERE worker_id = :id AND status = 'doing'"
)


def recover_stalled(session: Session, settings: Settings) -> int:
    """Requeue (or Crash) the steps of workers silent for longer than the stall limit (by the
    database's clock: the bound holds whatever the age of the worker that judges)."""
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
            steps.retry_queue_job(driver(session), job.id, delay)
    return len(stalled)


def next_stall_in(session: Session, settings: Settings, worker_id: int) -> float | None:
    """Seconds until another worker, silent since its last heartbeat, could be judged dead (None:
    there is no other worker)."""
    seconds = session.execute(_NEXT_STALL, {"seconds": settings.stalled_after_seconds, "id": worker_id}).scalar()
    return None if seconds is None else max(float(seconds), 0.0)


def pardon(session: Session, silent: float) -> None:
    """A worker that could not reach the database for `silent` seconds is back: the workers heard
    in that time get a full stall period again, as they may have been cut off too (an outage, not
    deaths). Workers silent since before do not: the outage is no excuse for them."""
    session.execute(_PARDON, {"silent": silent})


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
        steps.retry_queue_job(driver(session), job_id, 0)
