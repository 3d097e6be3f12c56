"""Step life cycle in the database: claim an attempt, record its outcome, chain the DAG.

Each function is one transaction of the caller's, on its psycopg connection; see app.services.dag
for the locking rule.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from psycopg import Connection

from app.db import run
from app.models import StepState, SubmissionState
from app.models.base import utcnow
from app.queue.chain import Companion, Handover, backoff_delay
from app.services import cache, dag, workspace
from app.services.execution import RETRY, SUCCESS, TERMINATE, Outcome, StepWork

_FETCH = "SELECT id, args FROM procrastinate_fetch_job_v2(CAST(%(queues)s AS varchar[]), %(worker_id)s)"
# Only while the job still names the step: it may have been handed over to the next one, or be gone.
_FINISH = (
    "SELECT procrastinate_finish_job_v1(id, 'succeeded', true) FROM procrastinate_jobs "
    "WHERE id = %(job_id)s AND args->>'step_id' = CAST(%(step_id)s AS text) AND status IN ('todo', 'doing')"
)
# The submission's inputs, then its ancestors' results (in job order), matching the in_globs.
_FILES = """
    SELECT f.name, f.sha256, b.data FROM (
        SELECT 0 AS part, i.position, i.id AS seq, i.filename AS name, i.sha256
        FROM submission_inputs i WHERE i.submission_id = %(submission_id)s
        UNION ALL
        SELECT 1, s.position, r.id, r.name, r.sha256
        FROM results r JOIN steps s ON s.id = r.step_id
        WHERE r.submission_id = %(submission_id)s AND r.step_id = ANY(%(ancestors)s)
    ) f JOIN blobs b ON b.sha256 = f.sha256
    WHERE EXISTS (SELECT 1 FROM unnest(CAST(%(globs)s AS text[])) g WHERE right(f.name, length(g)) = g)
    ORDER BY f.part, f.position, f.seq
"""
# An attempt starts: its step Running, its attempts row, and its submission Running if this is
# the submission's first step to start.
# (A handed-over step starts in the statement that queues it: app.queue.chain._DEFER.)
_START = f"""
    WITH s AS (
        UPDATE steps SET state = 'Running', attempts = attempts + 1, started = coalesce(started, %(now)s),
                         cache_key = %(cache_key)s
        WHERE id = %(id)s RETURNING attempts
    ), submission AS (
        {dag.MARK_RUNNING}
    )
    INSERT INTO attempts (step_id, number, worker, outcome, stdout, stderr, started)
    SELECT %(id)s, attempts, %(worker)s, '', '', '', %(now)s FROM s
"""
# The end of an attempt: the attempt and its step. When its queue job is handed over to the next
# step, this runs in the statement that does it (chain.Companion: a round trip less).
_CLOSING = """
    closed_attempt AS (
        UPDATE attempts SET exit_status = %(exit_status)s, outcome = %(outcome)s, stdout = %(stdout)s,
                            stderr = %(stderr)s, finished = %(now)s
        WHERE step_id = %(id)s AND number = %(number)s
    ), closed_step AS (
        UPDATE steps SET state = %(state)s, exit_status = %(exit_status)s, message = %(message)s,
                         finished = %(finished)s, cache_key = CASE WHEN %(keep_cache_key)s THEN cache_key END
        WHERE id = %(id)s
    ),
"""
# Otherwise in one statement with its queue job's end, and its submission's when this was the last
# step to end.
_CLOSE = f"""
    WITH {_CLOSING} ended AS (
        {dag.END_SUBMISSION} AND %(ends)s
    )
    SELECT (SELECT procrastinate_finish_job_v1(%(job_id)s, 'succeeded', true)),
           (SELECT {dag.ANNOUNCE_END} WHERE %(ends)s)
"""
_FORGET_ATTEMPT = "DELETE FROM attempts WHERE step_id = %(id)s AND number = %(number)s"
_CRASH_ATTEMPT = (
    "UPDATE attempts SET outcome = 'crash', finished = now(), "
    "stderr = stderr || E'\\n[the worker running this attempt stopped responding]' "
    "WHERE step_id = %(id)s AND number = %(number)s AND finished IS NULL"
)
_PUT_BLOBS = (
    "INSERT INTO blobs (sha256, size, data) "
    "SELECT * FROM unnest(CAST(%(shas)s AS varchar[]), CAST(%(sizes)s AS bigint[]), CAST(%(datas)s AS bytea[])) "
    "ON CONFLICT DO NOTHING"
)
_ADD_RESULTS = (
    "INSERT INTO results (submission_id, step_id, step_name, name, sha256, size, media_type) "
    "SELECT %(submission_id)s, %(step_id)s, %(step_name)s, name, sha, size, media_type "
    "FROM unnest(CAST(%(names)s AS varchar[]), CAST(%(shas)s AS varchar[]), CAST(%(sizes)s AS bigint[]), "
    "CAST(%(types)s AS varchar[])) WITH ORDINALITY AS t(name, sha, size, media_type, ord) ORDER BY ord"
)


@dataclass
class Claim:
    """A queue job taken by a worker; `work` is None when there is nothing left to run."""

    queue_job_id: int
    work: StepWork | None


def claim(connection: Connection, *, queues: list[str] | None, worker_id: int, worker: str) -> Claim | None:
    """Take the next queue job and start an attempt of its step; None when the queue is empty."""
    row = run(connection, _FETCH, {"queues": queues, "worker_id": worker_id}).fetchone()
    if row.id is None:
        return None
    snapshot = dag.load(connection, row.args["submission_id"])  # chain.defer puts both ids in every job
    step = snapshot.step(int(row.args["step_id"])) if snapshot else None
    if step is None or step.state not in (StepState.QUEUED, StepState.RUNNING) or snapshot.state in (
        SubmissionState.CANCELLED, SubmissionState.ERROR, SubmissionState.CRASH,
    ):
        # Purged, skipped or cancelled after it was queued: the queue job has nothing left to do.
        finish_queue_job(connection, row.id, int(row.args["step_id"]))
        return Claim(row.id, None)
    return _begin(connection, snapshot, step, row.id, worker)


def _begin(connection: Connection, snapshot: dag.Snapshot, step: dag.StepRow, queue_job_id: int,
           worker: str) -> Claim:
    """Start an attempt of a claimed step, or complete it from the cache without running anything."""
    files = _files(connection, snapshot, step)
    key = cache.key(step.task, step.params, [(name, sha) for name, sha, _ in files], snapshot.id)
    source = cache.find(connection, key) if key and snapshot.use_cache else None
    if source is not None:
        dag.start_running(connection, snapshot)
        cache.reuse(connection, snapshot, step, source)
        finish_queue_job(connection, queue_job_id, step.id)
        return Claim(queue_job_id, None)
    connection.execute(_START, {"id": step.id, "submission_id": snapshot.id, "now": utcnow(), "cache_key": key,
                                "worker": worker})
    # As _START counts: the snapshot is locked, so nobody else counts.
    step.state, step.attempts = StepState.RUNNING, step.attempts + 1
    if snapshot.state == SubmissionState.SUBMITTED:
        snapshot.state = SubmissionState.RUNNING
    return _claimed(snapshot, step, queue_job_id, files)


def _claimed(snapshot: dag.Snapshot, step: dag.StepRow, queue_job_id: int,
             files: list[tuple[str, str, bytes]]) -> Claim:
    """The claim of a step whose attempt has started."""
    work = StepWork(step_id=step.id, attempt=step.attempts, submission_id=snapshot.id, step_name=step.name,
                    task=step.task, params=step.params, files=[(name, bytes(data)) for name, _, data in files])
    return Claim(queue_job_id, work)


def _files(connection: Connection, snapshot: dag.Snapshot, step: dag.StepRow) -> list[tuple[str, str, bytes]]:
    globs = step.task.get("in_globs", [])
    if not globs:
        return []
    ancestors = [s.id for s in snapshot.ancestors(step)]
    return [tuple(r) for r in connection.execute(
        _FILES, {"submission_id": snapshot.id, "ancestors": ancestors, "globs": globs})]


def finish_queue_job(connection: Connection, queue_job_id: int, step_id: int) -> None:
    """Remove the queue job of a step that is done with it (our steps table keeps the history),
    unless the job has moved on to another step or is gone already."""
    connection.execute(_FINISH, {"job_id": queue_job_id, "step_id": step_id})


def record(
    connection: Connection, *, queue_job_id: int, work: StepWork, outcome: Outcome, backoff: float = 1.0,
    taker: dag.Taker | None = None,
) -> Claim | None:
    """Store an attempt's outcome and results, and move the submission's DAG on, in one transaction.

    With a `taker`, one of the steps this makes runnable is claimed for it in the same transaction
    (and returned), so a pipeline goes on without a round through the queue; the others are left to
    whichever worker comes first.
    """
    snapshot = dag.load(connection, work.submission_id)
    step = snapshot.step(work.step_id) if snapshot else None
    if step is None or step.state != StepState.RUNNING or step.attempts != work.attempt:
        finish_queue_job(connection, queue_job_id, work.step_id)
        return None  # cancelled or purged, or superseded by a later attempt: keep what is recorded
    retrying = outcome.action == RETRY and step.attempts <= step.task.get("retries", 0)
    # The step this worker goes on with, under the same queue job.
    taken = taker.pick(dag.released_by(snapshot, step)) if taker and outcome.action == SUCCESS else None
    now = utcnow()
    step.state = (StepState.RUNNING if retrying else StepState.COMPLETE if outcome.action in (SUCCESS, TERMINATE)
                  else StepState.ERROR)
    closing = {
        "id": step.id, "number": work.attempt, "now": now, "exit_status": outcome.exit_status,
        "outcome": outcome.action, "stdout": outcome.stdout, "stderr": outcome.stderr, "message": outcome.message,
        "state": step.state, "finished": None if retrying else now,
        "keep_cache_key": outcome.action != TERMINATE,  # an early end is not a result to reuse
    }
    if taken is None:
        # The last step to succeed ends its submission in the same statement (see dag.complete_if_done).
        ends = outcome.action == SUCCESS and not snapshot.finished and dag.all_done(snapshot)
        connection.execute(_CLOSE, {**closing, "job_id": queue_job_id, "ends": ends, "submission_id": snapshot.id,
                                    "end_state": SubmissionState.COMPLETE, "end_message": ""})
        if ends:
            snapshot.state, snapshot.finished = SubmissionState.COMPLETE, True
    if retrying:
        dag.queue(connection, snapshot, [step], delay=backoff_delay(step.attempts, backoff))
        return None  # this attempt's files are dropped: the next attempt makes its own
    _store_outputs(connection, snapshot, step, outcome)
    if outcome.action == SUCCESS:
        handover = (Handover(taken.id, queue_job_id, taker.worker_id, taker.worker, Companion(_CLOSING, closing))
                    if taken else None)
        job_id = dag.release(connection, snapshot, step, handover)  # the handed-over step has started
        return _claimed(snapshot, taken, job_id, _files(connection, snapshot, taken)) if taken else None
    dag.skip_rest(connection, snapshot)
    if outcome.action == TERMINATE:
        dag.complete_if_done(connection, snapshot, outcome.message)
    else:
        dag.end(connection, snapshot, SubmissionState.ERROR, outcome.message or f"Step {step.name} failed")
    return None


def _store_outputs(connection: Connection, snapshot: dag.Snapshot, step: dag.StepRow, outcome: Outcome) -> None:
    if not outcome.outputs:
        return
    names = [name for name, _ in outcome.outputs]
    datas = [data for _, data in outcome.outputs]
    shas = [hashlib.sha256(data).hexdigest() for data in datas]
    sizes = [len(data) for data in datas]
    connection.execute(_PUT_BLOBS, {"shas": shas, "sizes": sizes, "datas": datas})
    connection.execute(_ADD_RESULTS, {
        "submission_id": snapshot.id, "step_id": step.id, "step_name": step.name, "names": names,
        "shas": shas, "sizes": sizes, "types": [workspace.media_type(n, d) for n, d in outcome.outputs],
    })


def forget_attempt(connection: Connection, *, submission_id: str, step_id: int) -> None:
    """Undo the start of an attempt that never ran (its claim was lost): the step is queued again."""
    snapshot = dag.load(connection, submission_id)
    step = snapshot.step(step_id) if snapshot else None
    if step is not None and step.state == StepState.RUNNING:
        connection.execute(_FORGET_ATTEMPT, {"id": step.id, "number": step.attempts})
        dag.set_step(connection, step, attempts=step.attempts - 1, state=StepState.QUEUED)


def lose_attempt(connection: Connection, *, submission_id: str, step_id: int, queue_job_id: int) -> bool:
    """A step's worker died: record the attempt as a crash; True if a retry is allowed, else the step
    (and its submission) become Crash and the queue job is finished."""
    snapshot = dag.load(connection, submission_id)
    step = snapshot.step(step_id) if snapshot else None
    if step is None or step.state != StepState.RUNNING:
        finish_queue_job(connection, queue_job_id, step_id)
        return False
    connection.execute(_CRASH_ATTEMPT, {"id": step.id, "number": step.attempts})
    if step.attempts <= step.task.get("retries", 0):
        return True
    message = f"Step {step.name} was lost: its worker stopped responding"
    finish_queue_job(connection, queue_job_id, step_id)
    dag.set_step(connection, step, state=StepState.CRASH, message=message, finished=utcnow())
    dag.skip_rest(connection, snapshot)
    dag.end(connection, snapshot, SubmissionState.CRASH, message)
    return False
