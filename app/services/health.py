"""Worker and queue figures for the health endpoint."""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.orm import Session

_WORKERS = text(
    "SELECT count(*) FROM procrastinate_workers "
    "WHERE last_heartbeat > now() - make_interval(secs => :seconds)"
)
_QUEUES = text(
    "SELECT queue_name, count(*) FILTER (WHERE status = 'todo'), count(*) FILTER (WHERE status = 'doing') "
    "FROM procrastinate_jobs WHERE status IN ('todo', 'doing') GROUP BY queue_name"
)


def report(session: Session, stalled_after: float) -> dict:
    workers = session.execute(_WORKERS, {"seconds": stalled_after}).scalar_one()
    queues = {name: {"queued": todo, "running": doing} for name, todo, doing in session.execute(_QUEUES)}
    return {"workers": workers, "queues": queues}
