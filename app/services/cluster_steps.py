"""Cluster attempts: their files, their rows, and the judgement of how their job ended.

A step on a `slurm` or `gridengine` backend is claimed like any other (its attempt started, its
queue job 'doing' for the worker). Its files are staged in a working directory on the backend's
shared root, its job script written, and the directory noted on the attempt BEFORE the job is
submitted, so that whoever takes the attempt over can find the job by its name and never submits
it twice. The queue job stays 'doing' for the worker whose poller waits for the job; when that
worker dies, another one's poller adopts it (the queue's cluster poller). The outcome is recorded by
the queue's steps.record, as a local step's is; a lost or cancelled attempt there too.
"""

from __future__ import annotations

import json
import math
import os
import tempfile
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path
from typing import Any

from psycopg import Connection
from psycopg.types.json import Jsonb

from app.backends import cluster
from app.backends.cluster import CANCELLED, ENDED, LOST, MEMORY, TIMEOUT, JobSpec, JobStatus, Scheduler
from app.backends.gridengine import GridEngine
from app.backends.local import Captured, ProcessResult
from app.backends.slurm import Slurm
from app.config import Settings
from app.db import run
from app.services import workspace
from app.services.commands import build_argv
from app.services.execution import FAIL, Outcome, StepWork, judge, time_limit
from app.services.parameters import ParamSpec

SCHEDULERS: dict[str, type[Scheduler]] = {"slurm": Slurm, "gridengine": GridEngine}
STAGED = "staged.json"  # the names of the staged inputs, which are not results

_INTENT = "UPDATE attempts SET cluster_workdir = %(workdir)s WHERE step_id = %(step_id)s AND number = %(number)s"
# Only the first job id counts: a worker that finds one recorded already cancels its own job.
_SUBMITTED = (
    "UPDATE attempts SET cluster_job_id = %(job_id)s, cluster_state = 'submitted', cluster_submitted = %(now)s "
    "WHERE step_id = %(step_id)s AND number = %(number)s AND cluster_job_id IS NULL RETURNING step_id"
)
# Cluster attempts whose worker is gone (a dead worker's are set NULL when it is pruned) become ours.
_ADOPT = """
    UPDATE procrastinate_jobs SET worker_id = %(worker_id)s WHERE id IN (
        SELECT j.id FROM procrastinate_jobs j JOIN attempts a ON a.step_id = CAST(j.args->>'step_id' AS bigint)
        JOIN steps st ON st.id = a.step_id
        WHERE j.status = 'doing' AND j.worker_id IS NULL AND a.cluster_workdir IS NOT NULL AND a.finished IS NULL
              AND st.task->'backend'->>'type' = ANY(%(kinds)s)
        FOR UPDATE OF j SKIP LOCKED
    ) RETURNING id
"""
_MINE = """
    SELECT j.id AS queue_job_id, j.abort_requested, st.id AS step_id, CAST(st.submission_id AS text) AS submission_id,
           st.name AS step_name, st.attempts AS number, st.task, st.params, a.cluster_job_id AS job_id,
           a.cluster_workdir AS workdir, a.cluster_state AS state, a.cluster_node AS node,
           a.cluster_started AS started, a.cluster_submitted AS submitted
    FROM procrastinate_jobs j
    JOIN steps st ON st.id = CAST(j.args->>'step_id' AS bigint)
    JOIN attempts a ON a.step_id = st.id AND a.number = st.attempts
    WHERE j.status = 'doing' AND j.worker_id = %(worker_id)s AND a.cluster_workdir IS NOT NULL AND a.finished IS NULL
    ORDER BY j.id
"""
_SEEN = """
    UPDATE attempts a SET cluster_state = u.state, cluster_node = coalesce(u.node, a.cluster_node),
                          cluster_started = coalesce(u.started, a.cluster_started)
    FROM jsonb_to_recordset(%(rows)s) AS u(step_id bigint, number int, state text, node text, started timestamptz)
    WHERE a.step_id = u.step_id AND a.number = u.number
"""

@dataclass
class ClusterAttempt:
    """An attempt whose cluster job a poller waits for, as its row says."""

    queue_job_id: int
    abort_requested: bool
    step_id: int
    submission_id: str
    step_name: str
    number: int
    task: dict[str, Any]
    params: dict[str, Any]
    job_id: str | None
    workdir: str
    state: str | None
    node: str | None
    started: datetime | None
    submitted: datetime | None

    @property
    def kind(self) -> str:
        return self.task["backend"]["type"]

    @classmethod
    def of(cls, claim_job: int, work: StepWork, workdir: Path) -> ClusterAttempt:
        """The attempt a runner thread has just prepared, before any poller lists it."""
        return cls(claim_job, False, work.step_id, work.submission_id, work.step_name, work.attempt, work.task,
                   work.params, None, str(workdir), None, None, None, None)

    @property
    def name(self) -> str:
        return job_name(self.submission_id, self.step_id, self.number)

    def work(self) -> StepWork:
        return StepWork(step_id=self.step_id, attempt=self.number, submission_id=self.submission_id,
                        step_name=self.step_name, task=self.task, params=self.params)


def on_cluster(task: dict[str, Any]) -> bool:
    """Whether a task runs on a cluster scheduler."""
    return task["backend"]["type"] in SCHEDULERS


def job_name(submission_id: str, step_id: int, number: int) -> str:
    """The job's name on the scheduler: unique per attempt, even among services sharing a cluster."""
    return f"aa-{submission_id}-{step_id}-{number}"


def prepare(work: StepWork, settings: Settings) -> JobSpec:
    """Stage the attempt's files and write its job script on the backend's shared root."""
    task = work.task
    root = Path(task["backend"].get("root_path") or settings.work_root or tempfile.gettempdir())
    root.mkdir(parents=True, exist_ok=True)
    # Not workspace.make_workdir's: its directories are locked by their worker and swept once
    # unlocked, where a cluster job outlives its worker. This one is removed when its job is recorded.
    workdir = Path(tempfile.mkdtemp(prefix=f"aa-cluster-{work.submission_id[:8]}-{work.step_name}-{work.attempt}-",
                                    dir=root))
    workdir.chmod(0o755)  # the job may run as the same user on another node, via a shared filesystem
    staged = workspace.stage(workdir, work.files)
    (workdir / cluster.AA_DIR).mkdir()
    (workdir / cluster.AA_DIR / STAGED).write_text(json.dumps(staged))
    specs = [ParamSpec.from_dict(p) for p in task.get("parameters", [])]
    argv = build_argv(
        task["executable"], inputs=[workspace.matching(staged, glob) for glob in task.get("in_globs", [])],
        out_globs=task.get("out_globs", []), params=[(spec, work.params.get(spec.name)) for spec in specs],
        stem=work.submission_id, workdir=str(workdir),
    )
    stdout = f"{work.submission_id}{task['stdout_glob']}" if task.get("stdout_glob") else None
    cluster.write_script(
        workdir, argv=argv, env=_environment(task, workdir), stdout=stdout, timeout=time_limit(task, settings),
        grace=settings.kill_grace_seconds,
        header=f"step {work.step_name}, attempt {work.attempt}, of submission {work.submission_id}",
    )
    return job_spec(task, job_name(work.submission_id, work.step_id, work.attempt), workdir, settings)


def job_spec(task: dict[str, Any], name: str, workdir: Path, settings: Settings) -> JobSpec:
    """What to submit for an attempt whose script is written in `workdir`."""
    # The scheduler's limit is a backstop to the script's own: the grace, and a minute to start. Only
    # for a task's own timeout: the service's default (a day) may exceed a partition's maximum.
    timeout = task.get("timeout")
    limit = math.ceil(timeout + settings.kill_grace_seconds + 60) if timeout else None
    return JobSpec(script=workdir / cluster.AA_DIR / cluster.SCRIPT, name=name, workdir=workdir,
                   resources=task.get("resources") or {}, options=task["backend"].get("options") or {},
                   time_limit=limit)


def _environment(task: dict[str, Any], workdir: Path) -> dict[str, str]:
    """The job's whole environment (the scheduler passes none of the worker's: no secrets leave)."""
    base = {"PATH": os.environ.get("PATH", "/usr/local/bin:/usr/bin:/bin"), "HOME": str(workdir),
            "TMPDIR": str(workdir), "LANG": os.environ.get("LANG", "C.UTF-8")}
    options = task["backend"].get("options") or {}
    return {**base, **{str(k): str(v) for k, v in (options.get("environment") or {}).items()},
            **{str(k): str(v) for k, v in task.get("environment", {}).items()}}


def mark_intent(connection: Connection, work: StepWork, workdir: Path) -> None:
    """Note the attempt's working directory: from now on it belongs to a poller, not to recovery."""
    connection.execute(_INTENT, {"workdir": str(workdir), "step_id": work.step_id, "number": work.attempt})


def mark_submitted(connection: Connection, *, step_id: int, number: int, job_id: str, at: datetime) -> bool:
    """Record the attempt's job id, submitted `at`; False if another worker recorded one first."""
    return connection.execute(_SUBMITTED, {"job_id": job_id, "now": at, "step_id": step_id,
                                           "number": number}).fetchone() is not None


def adopt_and_list(connection: Connection, worker_id: int,
                   kinds: list[str]) -> tuple[list[int], list[ClusterAttempt]]:
    """Take over the cluster attempts of dead workers on the schedulers of `kinds` (those whose
    commands this worker has); the queue jobs adopted, and every attempt of ours."""
    adopted = [row[0] for row in connection.execute(_ADOPT, {"worker_id": worker_id, "kinds": kinds})]
    mine = [ClusterAttempt(*row) for row in run(connection, _MINE, {"worker_id": worker_id})]
    return adopted, mine


def note_seen(connection: Connection, seen: list[tuple[ClusterAttempt, JobStatus]]) -> None:
    """Store what the scheduler said about the jobs whose state, node or start changed."""
    rows = [{"step_id": a.step_id, "number": a.number, "state": s.state, "node": s.node,
             "started": s.started.isoformat() if s.started else None} for a, s in seen]
    if rows:
        connection.execute(_SEEN, {"rows": Jsonb(rows)})


def with_start(attempt: ClusterAttempt, status: JobStatus | None) -> JobStatus | None:
    """The scheduler's word on an ended job, with the node and start its script recorded where the
    scheduler gave none (a job shorter than a poll round, or gone from its lists)."""
    node, started = cluster.started(Path(attempt.workdir))
    if node is None:
        return status
    if status is None:
        return JobStatus(state="ended", phase=ENDED, node=node, started=started)
    return replace(status, node=status.node or node, started=status.started or started)


def lost_reason(attempt: ClusterAttempt, status: JobStatus | None) -> str | None:
    """Why the job is lost, or None when its program's end (or a limit's) can be judged."""
    workdir, what = Path(attempt.workdir), f"{attempt.kind} job {attempt.job_id}"
    # Killed by someone else than us (our cancels never get here), or by the cluster's failure: the
    # program's exit status (143 after a TERM) is not the task's doing.
    if status is not None and status.failure == CANCELLED:
        return f"Step {attempt.step_name} was lost: {what} was cancelled outside the service ({status.state})"
    if status is not None and status.failure == LOST:
        return f"Step {attempt.step_name} was lost: {what} failed on the cluster ({status.state})"
    if cluster.exit_status(workdir) is not None or cluster.timed_out(workdir) or (
            status is not None and status.failure in (TIMEOUT, MEMORY)):
        return None  # the program's end, or a limit's, can be judged
    if status is None:
        return f"Step {attempt.step_name} was lost: {what} ended without a trace"
    return f"Step {attempt.step_name} was lost: {what} ended ({status.state}) without its program's exit status"


def outcome(attempt: ClusterAttempt, status: JobStatus | None, settings: Settings) -> Outcome:
    """Judge an ended job as a local step's process is judged, from the files its script left."""
    workdir, task, limit = Path(attempt.workdir), attempt.task, settings.log_limit_bytes
    code = cluster.exit_status(workdir)
    stdout_file = (workdir / f"{attempt.submission_id}{task['stdout_glob']}" if task.get("stdout_glob")
                   else workdir / cluster.AA_DIR / cluster.STDOUT)
    stderr = _tail(workdir / cluster.AA_DIR / cluster.STDERR, limit)
    scheduler_log = _tail(workdir / cluster.AA_DIR / cluster.SCHEDULER_LOG, limit)
    if scheduler_log.strip():
        stderr += f"\n[{attempt.kind}]\n{scheduler_log}"
    staged = json.loads((workdir / cluster.AA_DIR / STAGED).read_text())
    produced = workspace.collect(workdir, task.get("out_globs", []), staged)
    if status is not None and status.failure == MEMORY:
        result = Outcome(FAIL, code, f"Step {attempt.step_name} ran out of memory ({attempt.kind}: {status.state})")
    else:
        timed = cluster.timed_out(workdir) or (status is not None and status.failure == TIMEOUT)
        process = ProcessResult(exit_status=code, timed_out=timed)
        result = judge(attempt.step_name, task, process, [p.name for p in produced],
                       timeout=time_limit(task, settings))
    result.outputs = [(workspace.result_name(attempt.submission_id, attempt.step_name, p.name), p.read_bytes())
                      for p in produced]  # named as a local step's are
    result.stdout, result.stderr = _tail(stdout_file, limit), stderr
    return result


def _tail(path: Path, limit: int) -> str:
    """The end of a log file as text, saying how much was left out."""
    try:
        with path.open("rb") as handle:
            size = handle.seek(0, os.SEEK_END)
            handle.seek(max(0, size - limit))
            captured = Captured(handle.read(), size)
    except OSError:
        return ""
    text = captured.tail.decode("utf-8", errors="replace").replace("\x00", "\ufffd")
    omitted = captured.size - len(captured.tail)
    return f"[... {omitted} bytes omitted ...]\n" + text if omitted else text
