"""What an operator watches: queues, live workers and what they run, recent failures, throughput."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

from app.services import config_versions, health

# Each live worker with the steps its queue jobs are running now (a handed-over queue job names the
# step it runs in the step's queue_job_id, so the join finds the current step, not the first).
_WORKERS = text(
    """
    SELECT w.id, coalesce(i.name, ''), i.queues, coalesce(i.concurrency, 1), w.last_heartbeat,
           (SELECT coalesce(json_agg(json_build_array(st.submission_id, st.name, st.started) ORDER BY st.started),
                            '[]')
            FROM procrastinate_jobs j JOIN steps st ON st.queue_job_id = j.id AND st.state = 'Running'
            WHERE j.worker_id = w.id AND j.status = 'doing') AS running
    FROM procrastinate_workers w LEFT JOIN worker_info i ON i.worker_id = w.id
    WHERE w.last_heartbeat > now() - make_interval(secs => :seconds)
    ORDER BY w.id
    """
)
# Failed steps, newest first. No index serves this ordering: an operator's page, not a hot path.
_FAILURES = text(
    """
    SELECT st.submission_id, s.job_name, st.name, st.state, st.exit_status, st.message, st.finished
    FROM steps st JOIN submissions s ON s.id = st.submission_id
    WHERE st.state IN ('Error', 'Crash') AND st.finished IS NOT NULL
    ORDER BY st.finished DESC LIMIT :limit
    """
)
# Steps and submissions finished in each of the last hour's twelve 5-minute bins.
_THROUGHPUT = text(
    """
    WITH bins AS (
        SELECT generate_series(0, 11) AS n
    ), steps AS (
        SELECT floor(extract(epoch FROM now() - finished) / 300)::int AS n, count(*) AS c
        FROM steps WHERE finished > now() - interval '1 hour' AND state = 'Complete' GROUP BY 1
    ), subs AS (
        SELECT floor(extract(epoch FROM now() - finished) / 300)::int AS n, count(*) AS c
        FROM submissions WHERE finished > now() - interval '1 hour' GROUP BY 1
    )
    SELECT bins.n, coalesce(steps.c, 0), coalesce(subs.c, 0)
    FROM bins LEFT JOIN steps USING (n) LEFT JOIN subs USING (n) ORDER BY bins.n DESC
    """
)


def overview(session: Session, *, stalled_after: float, failures: int = 20, versions: int = 20) -> dict[str, Any]:
    """Queue depth per queue, live workers, recent failures, the last hour's throughput and the newest
    configuration versions."""
    queues = health.report(session, stalled_after)["queues"]
    workers = [
        {"id": wid, "name": name, "queues": list(names) if names is not None else None, "concurrency": concurrency,
         "heartbeat": heartbeat, "running": [{"submission": sub, "step": step, "started": _time(started)}
                                             for sub, step, started in running]}
        for wid, name, names, concurrency, heartbeat, running in session.execute(_WORKERS, {"seconds": stalled_after})
    ]
    failed = [
        {"submission": str(sub), "job": job, "step": step, "state": state, "exit_status": code, "message": message,
         "finished": finished}
        for sub, job, step, state, code, message, finished in session.execute(_FAILURES, {"limit": failures})
    ]
    loaded, versions_total = config_versions.recent(session, limit=versions)
    bins = [{"minutes_ago": (n + 1) * 5, "steps": steps, "submissions": subs}
            for n, steps, subs in session.execute(_THROUGHPUT)]
    return {
        "queues": queues, "workers": workers, "failures": failed, "throughput": bins,
        "steps_last_hour": sum(b["steps"] for b in bins),
        "submissions_last_hour": sum(b["submissions"] for b in bins),
        "versions": [{"number": v.number, "created": v.created, "author": v.author,
                      "summary": config_versions.describe(v.changes)} for v in loaded],
        "versions_total": versions_total,
    }


def _time(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None
