"""Worker and queue figures for the health endpoint."""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.orm import Session

# Every backend's queue, with its live workers (a worker with no queue list serves them all)
# and its queued and running steps.
_QUEUES = text(
    """
    WITH live AS (
        SELECT i.queues FROM procrastinate_workers w JOIN worker_info i ON i.worker_id = w.id
        WHERE w.last_heartbeat > now() - make_interval(secs => :seconds)
    ), depth AS (
        SELECT queue_name, count(*) FILTER (WHERE status = 'todo') AS queued,
               count(*) FILTER (WHERE status = 'doing') AS running
        FROM procrastinate_jobs WHERE status IN ('todo', 'doing') GROUP BY queue_name
    ), names AS (
        SELECT name AS queue_name FROM backends UNION SELECT queue_name FROM depth
    )
    SELECT n.queue_name,
           (SELECT count(*) FROM live WHERE live.queues IS NULL OR n.queue_name = ANY(live.queues)),
           coalesce(d.queued, 0), coalesce(d.running, 0)
    FROM names n LEFT JOIN depth d USING (queue_name) ORDER BY n.queue_name
    """
)
_WORKERS = text(
    "SELECT count(*) FROM procrastinate_workers WHERE last_heartbeat > now() - make_interval(secs => :seconds)"
)


def report(session: Session, stalled_after: float) -> dict:
    """Live workers in all, and per queue: live workers, queued steps, running steps."""
    params = {"seconds": stalled_after}
    queues = {
        name: {"workers": workers, "queued": queued, "running": running}
        for name, workers, queued, running in session.execute(_QUEUES, params)
    }
    return {"workers": session.execute(_WORKERS, params).scalar_one(), "queues": queues}
