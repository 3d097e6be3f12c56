"""A submission's status as clients poll it: one statement, no ORM.

GET /api/submissions/<id> is what a waiting client calls again and again. Loading the ORM objects
(the submission, then its steps and its results by `selectinload`) took three statements and about
3 ms of CPU; here the steps and results come back as JSON arrays in the submission's own row.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from psycopg import Connection

from app.db import run

# The cluster job of a step's last attempt, if it ran on a cluster (migration 0010): the queue time
# is until it started, or until now while it waits (never below 0: schedulers give whole seconds).
CLUSTER_JOB = """
    SELECT json_build_object('scheduler', st.task->'backend'->>'type', 'job_id', a.cluster_job_id,
                             'state', a.cluster_state, 'node', a.cluster_node, 'submitted', a.cluster_submitted,
                             'started', a.cluster_started, 'queued_seconds', greatest(0, extract(epoch FROM
                                 coalesce(a.cluster_started, a.finished, now()) - a.cluster_submitted)))
    FROM attempts a WHERE a.step_id = st.id AND a.number = st.attempts AND a.cluster_workdir IS NOT NULL
"""
_STATUS = f"""
    SELECT s.id, s.job_name, s.name, s.state, s.message, s.priority, s.created, s.started, s.finished, s.token_id,
           s.config_version,
           (SELECT json_agg(json_build_array(st.name, st.task_name, st.state, st.exit_status, st.attempts,
                                             st.started, st.finished, st.message, st.cached,
                                             ({CLUSTER_JOB})) ORDER BY st.position)
            FROM steps st WHERE st.submission_id = s.id) AS steps,
           (SELECT json_agg(json_build_array(r.id, r.step_name, r.name, r.size, r.sha256, r.media_type) ORDER BY r.id)
            FROM results r WHERE r.submission_id = s.id) AS results
    FROM submissions s WHERE s.id = %(id)s
"""


@dataclass
class StepStatus:
    name: str
    task_name: str
    state: str
    exit_status: int | None
    attempts: int
    started: datetime | None
    finished: datetime | None
    message: str
    cached: bool
    cluster: dict[str, Any] | None = None  # see CLUSTER_JOB


@dataclass
class ResultStatus:
    id: int
    submission_id: uuid.UUID
    step_name: str
    name: str
    size: int
    sha256: str
    media_type: str


@dataclass
class SubmissionStatus:
    id: uuid.UUID
    job_name: str | None
    name: str
    state: str
    message: str
    priority: str
    created: datetime
    started: datetime | None
    finished: datetime | None
    token_id: int | None
    config_version: int | None = None
    steps: list[StepStatus] = field(default_factory=list)
    results: list[ResultStatus] = field(default_factory=list)


def read(connection: Connection, submission_id: uuid.UUID) -> SubmissionStatus | None:
    """The submission's status, steps and results; None if there is no such submission."""
    row = run(connection, _STATUS, {"id": submission_id}).fetchone()
    if row is None:
        return None
    steps = [StepStatus(name, task, state, status, attempts, _time(started), _time(finished), message, cached,
                        _cluster(cluster))
             for name, task, state, status, attempts, started, finished, message, cached, cluster in row.steps or ()]
    results = [ResultStatus(result_id, row.id, *rest) for result_id, *rest in row.results or ()]
    return SubmissionStatus(*row[:11], steps=steps, results=results)


def _cluster(job: dict[str, Any] | None) -> dict[str, Any] | None:
    if job is not None:
        job.update(submitted=_time(job["submitted"]), started=_time(job["started"]))
    return job


def _time(value: Any) -> datetime | None:
    """A timestamp as json_build_array writes it (ISO 8601 with its offset)."""
    return datetime.fromisoformat(value) if value is not None else None
