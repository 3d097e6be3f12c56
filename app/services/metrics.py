"""The service's metrics, read from the database when scraped: every web process answers alike,
however many there are (nothing is counted per process)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence

from prometheus_client.core import GaugeMetricFamily, HistogramMetricFamily, Metric
from sqlalchemy import text
from sqlalchemy.orm import Session

STEP_BUCKETS = (0.1, 0.5, 1, 5, 10, 30, 60, 300, 1800, 3600)
CLUSTER_WAIT_BUCKETS = (1, 5, 30, 60, 300, 1800, 3600, 14400, 86400)

_SUBMISSIONS = text("SELECT coalesce(job_name, ''), state, count(*) FROM submissions GROUP BY 1, 2 ORDER BY 1, 2")


def _bucket_counts(buckets: tuple[float, ...]) -> str:
    """The select list of a histogram over a column `d`: a cumulative count per bucket, count, sum."""
    return ", ".join(f"count(*) FILTER (WHERE d <= {b})" for b in buckets) + ", count(*), coalesce(sum(d), 0)"


_STEPS = text(
    f"SELECT task_name, {_bucket_counts(STEP_BUCKETS)} "
    "FROM (SELECT task_name, extract(epoch FROM finished - started) AS d "
    "FROM steps WHERE finished IS NOT NULL AND started IS NOT NULL) AS s GROUP BY 1 ORDER BY 1"
)
# Every backend's queue, idle ones at zero, so that each queue's series is always there.
_QUEUES = text(
    "SELECT coalesce(q.queue_name, b.name), coalesce(q.queued, 0), coalesce(q.running, 0), "
    "coalesce(q.oldest_queued_seconds, 0) FROM aa_queue_depth q FULL JOIN backends b ON b.name = q.queue_name "
    "ORDER BY 1"
)
_WORKERS = text(
    "SELECT count(*) FROM procrastinate_workers WHERE last_heartbeat > now() - make_interval(secs => :stalled)"
)
_NOTIFICATIONS = text("SELECT kind, state, count(*) FROM notifications GROUP BY 1, 2 ORDER BY 1, 2")
_CONNECTIONS = text(
    "SELECT coalesce(state, 'unknown'), count(*) FROM pg_stat_activity "
    "WHERE datname = current_database() AND backend_type = 'client backend' GROUP BY 1 ORDER BY 1"
)
# Cluster jobs not yet ended, by backend, scheduler and the scheduler's last state; and how long the
# started ones waited in the scheduler's queue (submitted → started on a node).
_CLUSTER_JOBS = text("""
    SELECT st.task->'backend'->>'name', st.task->'backend'->>'type', coalesce(a.cluster_state, 'submitting'), count(*)
    FROM attempts a JOIN steps st ON st.id = a.step_id
    WHERE a.cluster_workdir IS NOT NULL AND a.finished IS NULL
    GROUP BY 1, 2, 3 ORDER BY 1, 2, 3
""")
_CLUSTER_WAITS = text(
    f"SELECT backend, scheduler, {_bucket_counts(CLUSTER_WAIT_BUCKETS)}"
    """
    FROM (SELECT st.task->'backend'->>'name' AS backend, st.task->'backend'->>'type' AS scheduler,
                 extract(epoch FROM a.cluster_started - a.cluster_submitted) AS d
          FROM attempts a JOIN steps st ON st.id = a.step_id
          WHERE a.cluster_started IS NOT NULL AND a.cluster_submitted IS NOT NULL) AS w
    GROUP BY 1, 2 ORDER BY 1, 2"""
)
_SCHEDULES = text("SELECT job_name, extract(epoch FROM next_run), runs FROM schedules ORDER BY 1")


def collect(session: Session, *, stalled_after_seconds: float) -> Iterator[Metric]:
    """Every metric family, from one snapshot of the database."""
    submissions = GaugeMetricFamily("aa_submissions", "Submissions stored, by job and state", labels=["job", "state"])
    for job, state, count in session.execute(_SUBMISSIONS):
        submissions.add_metric([job, state], count)
    yield submissions

    yield _histogram("aa_step_duration_seconds", "Run time of finished steps, by task", ["task"], STEP_BUCKETS,
                     session.execute(_STEPS))

    depth = GaugeMetricFamily("aa_queue_depth", "Queued steps waiting for a worker, by queue", labels=["queue"])
    running = GaugeMetricFamily("aa_queue_running", "Steps being run, by queue", labels=["queue"])
    oldest = GaugeMetricFamily("aa_queue_oldest_seconds", "Age of the oldest queued step, by queue", labels=["queue"])
    for queue, queued, doing, age in session.execute(_QUEUES):
        depth.add_metric([queue], queued)
        running.add_metric([queue], doing)
        oldest.add_metric([queue], float(age))
    yield from (depth, running, oldest)

    live = session.execute(_WORKERS, {"stalled": stalled_after_seconds}).scalar_one()
    yield GaugeMetricFamily("aa_workers_live", "Workers whose heartbeat is recent", value=live)

    notifications = GaugeMetricFamily("aa_notifications", "Notifications by kind and state (pending, sent, failed)",
                                      labels=["kind", "state"])
    # pending and failed always present (zero if none), so that alerts can rely on them
    counts = {(kind, state): 0 for kind in ("email", "callback") for state in ("pending", "failed")}
    counts.update({(kind, state): count for kind, state, count in session.execute(_NOTIFICATIONS)})
    for (kind, state), count in sorted(counts.items()):
        notifications.add_metric([kind, state], count)
    yield notifications

    connections = GaugeMetricFamily("aa_db_connections", "Connections to the database (all pools, every process), "
                                    "by state", labels=["state"])
    for state, count in session.execute(_CONNECTIONS):
        connections.add_metric([state], count)
    yield connections

    next_run = GaugeMetricFamily("aa_schedule_next_run_timestamp_seconds", "Next tick of each schedule",
                                 labels=["job"])
    runs = GaugeMetricFamily("aa_schedule_runs", "Ticks submitted by each schedule", labels=["job"])
    for job, when, count in session.execute(_SCHEDULES):
        next_run.add_metric([job], float(when))
        runs.add_metric([job], count)
    yield from (next_run, runs)

    clusters = GaugeMetricFamily("aa_cluster_jobs", "Cluster jobs not yet ended, by backend, scheduler and the "
                                 "scheduler's last state", labels=["backend", "scheduler", "state"])
    for backend, scheduler, state, count in session.execute(_CLUSTER_JOBS):
        clusters.add_metric([backend, scheduler, state], count)
    yield clusters

    yield _histogram("aa_cluster_queue_wait_seconds", "Time cluster jobs waited in the scheduler's queue before "
                     "starting on a node", ["backend", "scheduler"], CLUSTER_WAIT_BUCKETS,
                     session.execute(_CLUSTER_WAITS))


def _histogram(name: str, documentation: str, labels: list[str], buckets: tuple[float, ...],
               rows: Iterable[Sequence]) -> HistogramMetricFamily:
    """A histogram family from rows of (labels…, cumulative bucket counts…, count, sum)."""
    family = HistogramMetricFamily(name, documentation, labels=labels)
    for row in rows:
        counts, total, seconds = row[len(labels):-2], row[-2], row[-1]
        cumulative = [(str(b), c) for b, c in zip(buckets, counts, strict=True)] + [("+Inf", total)]
        family.add_metric([str(value) for value in row[:len(labels)]], cumulative, float(seconds))
    return family
