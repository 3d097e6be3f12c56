"""Step life cycle in the database: claim an attempt, record its outcome, chain the DAG.

Each function is one transaction of the caller's, on its psycopg connection; see app.queue.dag
for the locking rule, and app.queue.statements for the statements.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from psycopg import Connection
from psycopg.types.json import Jsonb

from app.db import run
from app.models import StepState, SubmissionState
from app.models.base import utcnow
from app.queue import dag, statements
from app.queue.chain import Handover, backoff_delay
from app.services import cache, workspace
from app.services.execution import FAIL, RETRY, SUCCESS, TERMINATE, Outcome, StepWork


@dataclass
class Claim:
    """A queue job taken by a worker; `work` is None when there is nothing left to run."""

    queue_job_id: int
    work: StepWork | None


def claim(connection: Connection, *, queues: list[str] | None, worker_id: int, worker: str) -> Claim | None:
    """Take the next queue job and start an attempt of its step; None when the queue is empty."""
    claims = claim_many(connection, queues=queues, worker_id=worker_id, worker=worker, limit=1)
    return claims[0] if claims else None


def claim_many(
    connection: Connection, *, queues: list[str] | None, worker_id: int, worker: str, limit: int,
) -> list[Claim]:
    """Take up to `limit` queue jobs in one statement and start an attempt of each one's step (for
    as many idle runners); in the queue's order, empty when the queue is."""
    rows = run(connection, statements.CLAIM_QUEUE_JOBS,
               {"queues": queues, "worker_id": worker_id, "limit": limit}).fetchall()
    rows.sort(key=lambda r: (-r.priority, r.id))  # RETURNING keeps no order
    # Submissions are locked in one order by every transaction that locks several (see record_many).
    claims = {row.id: _start(connection, row.id, row.args, worker)
              for row in sorted(rows, key=lambda r: r.args["submission_id"])}
    return [claims[row.id] for row in rows]


def _start(connection: Connection, queue_job_id: int, args: dict, worker: str) -> Claim:
    snapshot = dag.load(connection, args["submission_id"])  # chain.defer puts both ids in every job
    step = snapshot.step(int(args["step_id"])) if snapshot else None
    if step is None or step.state not in (StepState.QUEUED, StepState.RUNNING) or snapshot.state in (
        SubmissionState.CANCELLED, SubmissionState.ERROR, SubmissionState.CRASH,
    ):
        # Purged, skipped or cancelled after it was queued: the queue job has nothing left to do.
        finish_queue_job(connection, queue_job_id, int(args["step_id"]))
        return Claim(queue_job_id, None)
    return _begin(connection, snapshot, step, queue_job_id, worker)


def _begin(connection: Connection, snapshot: dag.Snapshot, step: dag.StepRow, queue_job_id: int,
           worker: str) -> Claim:
    """Start an attempt of a claimed step, or complete it from the cache without running anything."""
    files = _files(connection, snapshot, step)
    key = cache.key(step.task, step.params, [(name, sha) for name, sha, _ in files], snapshot.id)
    source = cache.find(connection, key) if key and snapshot.use_cache else None
    if source is not None:
        dag.start_running(connection, snapshot)
        cache.copy_results(connection, submission_id=snapshot.id, step_id=step.id, step_name=step.name,
                           source=source)
        dag.complete_from_cache(connection, snapshot, step, exit_status=source.exit_status,
                                message=f"Reused the results of an identical earlier run ({source.submission_id})")
        finish_queue_job(connection, queue_job_id, step.id)
        return Claim(queue_job_id, None)
    connection.execute(statements.START_ATTEMPT, {"id": step.id, "submission_id": snapshot.id, "now": utcnow(),
                                                  "cache_key": key, "worker": worker})
    # As START_ATTEMPT counts: the snapshot is locked, so nobody else counts.
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
    # `inputs_from` (a step's own choice) narrows both parts to the job inputs and steps it names.
    chosen = step.task.get("inputs_from")
    ancestors = [s.id for s in snapshot.ancestors(step) if chosen is None or s.name in chosen]
    return [tuple(r) for r in connection.execute(
        statements.STEP_FILES,
        {"submission_id": snapshot.id, "ancestors": ancestors, "globs": globs, "inputs": chosen})]


def finish_queue_job(connection: Connection, queue_job_id: int, step_id: int) -> None:
    """Remove the queue job of a step that is done with it (our steps table keeps the history),
    unless the job has moved on to another step or is gone already."""
    connection.execute(statements.FINISH_QUEUE_JOB, {"job_id": queue_job_id, "step_id": step_id})


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
    message = outcome.message
    if outcome.action == FAIL or outcome.action == RETRY and not retrying:  # the message leads to the log
        message = f"{message or f'Step {step.name} failed'}; its log: {log_url(snapshot.id, step.name)}"
    # The step this worker goes on with, under the same queue job.
    taken = taker.pick(dag.released_by(snapshot, step)) if taker and outcome.action == SUCCESS else None
    now = utcnow()
    step.state = (StepState.RUNNING if retrying else StepState.COMPLETE if outcome.action in (SUCCESS, TERMINATE)
                  else StepState.ERROR)
    closing = {
        "id": step.id, "number": work.attempt, "now": now, "exit_status": outcome.exit_status,
        "outcome": outcome.action, "stdout": outcome.stdout, "stderr": outcome.stderr, "message": message,
        "argv": Jsonb(outcome.argv) if outcome.argv is not None else None,
        "state": step.state, "finished": None if retrying else now,
        "keep_cache_key": outcome.action != TERMINATE,  # an early end is not a result to reuse
    }
    if taken is None:
        # The last step to succeed ends its submission in the same statement (see dag.complete_if_done).
        ends = outcome.action == SUCCESS and not snapshot.finished and dag.all_done(snapshot)
        row = connection.execute(statements.RECORD_OUTCOME, {**closing, "job_id": queue_job_id, "ends": ends,
                                                             "submission_id": snapshot.id}).fetchone()
        if ends:
            snapshot.state, snapshot.finished = SubmissionState.COMPLETE, True
            outcome.ended, outcome.ended_job = snapshot.state, (row[2], row[3])
    if retrying:
        dag.queue(connection, snapshot, [step], delay=backoff_delay(step.attempts, backoff))
        return None  # this attempt's files are dropped: the next attempt makes its own
    _store_outputs(connection, snapshot, step, outcome)
    if outcome.action == SUCCESS:
        # With a handover, the attempt is recorded in the statement that hands its queue job over.
        handover = Handover(taken.id, queue_job_id, taker.worker_id, taker.worker, closing) if taken else None
        job_id = dag.release(connection, snapshot, step, handover)  # the handed-over step has started
        return _claimed(snapshot, taken, job_id, _files(connection, snapshot, taken)) if taken else None
    finished_before = snapshot.finished
    dag.skip_rest(connection, snapshot)
    if outcome.action == TERMINATE:
        dag.complete_if_done(connection, snapshot, outcome.message)
    else:
        dag.end(connection, snapshot, SubmissionState.ERROR, message)
    outcome.ended = snapshot.state if snapshot.finished and not finished_before else None
    return None


def log_url(submission_id: str, step_name: str) -> str:
    """Where a step's log is read (GET; see app.api.results)."""
    return f"/api/submissions/{submission_id}/steps/{step_name}/log"


@dataclass(frozen=True)
class Pending:
    """An outcome to record: what `record` takes besides the connection."""

    queue_job_id: int
    work: StepWork
    outcome: Outcome
    taker: dag.Taker | None = None


def record_many(connection: Connection, outcomes: list[Pending], *, backoff: float = 1.0) -> list[Claim | None]:
    """Record several outcomes in the connection's one transaction (a group commit), each as
    `record` does; the handed-over claims in the outcomes' order. Their submissions are locked in
    ascending order, as by every transaction that locks several, so two groups never deadlock."""
    order = sorted(range(len(outcomes)), key=lambda i: outcomes[i].work.submission_id)
    following: dict[int, Claim | None] = {}
    for i in order:
        item = outcomes[i]
        following[i] = record(connection, queue_job_id=item.queue_job_id, work=item.work, outcome=item.outcome,
                              backoff=backoff, taker=item.taker)
    return [following[i] for i in range(len(outcomes))]


def _store_outputs(connection: Connection, snapshot: dag.Snapshot, step: dag.StepRow, outcome: Outcome) -> None:
    if not outcome.outputs:
        return
    names = [name for name, _ in outcome.outputs]
    datas = [data for _, data in outcome.outputs]
    shas = [hashlib.sha256(data).hexdigest() for data in datas]
    sizes = [len(data) for data in datas]
    connection.execute(statements.PUT_BLOBS, {"shas": shas, "sizes": sizes, "datas": datas})
    connection.execute(statements.ADD_RESULTS, {
        "submission_id": snapshot.id, "step_id": step.id, "step_name": step.name, "names": names,
        "shas": shas, "sizes": sizes, "types": [workspace.media_type(n, d) for n, d in outcome.outputs],
    })


def forget_attempt(connection: Connection, *, submission_id: str, step_id: int) -> None:
    """Undo the start of an attempt that never ran (its claim was lost): the step is queued again."""
    snapshot = dag.load(connection, submission_id)
    step = snapshot.step(step_id) if snapshot else None
    if step is not None and step.state == StepState.RUNNING:
        connection.execute(statements.FORGET_ATTEMPT, {"id": step.id, "number": step.attempts})
        step.state, step.attempts = StepState.QUEUED, step.attempts - 1


def lose_attempt(connection: Connection, *, submission_id: str, step_id: int, queue_job_id: int) -> bool:
    """A step's worker died: record the attempt as a crash; True if a retry is allowed, else the step
    (and its submission) become Crash and the queue job is finished."""
    snapshot = dag.load(connection, submission_id)
    step = snapshot.step(step_id) if snapshot else None
    if step is None or step.state != StepState.RUNNING:
        finish_queue_job(connection, queue_job_id, step_id)
        return False
    connection.execute(statements.CRASH_ATTEMPT, {"id": step.id, "number": step.attempts})
    if step.attempts <= step.task.get("retries", 0):
        return True
    message = f"Step {step.name} was lost: its worker stopped responding"
    finish_queue_job(connection, queue_job_id, step_id)
    dag.crash(connection, snapshot, step, message)
    return False


def retry_queue_job(connection: Connection, queue_job_id: int, delay: float) -> None:
    """Run a lost step's queue job again after `delay` seconds (a new attempt)."""
    connection.execute(statements.RETRY_QUEUE_JOB, {"job_id": queue_job_id, "delay": delay})
    if delay <= 0:  # one due later is found by the runners' poll when it comes due
        connection.execute(statements.ANNOUNCE_QUEUE_JOB, {"job_id": queue_job_id})


def close_cancelled_cluster_attempt(connection: Connection, *, step_id: int, number: int, queue_job_id: int) -> None:
    """A cluster step was cancelled and its job killed: the attempt ends, the queue job is done."""
    connection.execute(statements.CLOSE_CANCELLED_CLUSTER_ATTEMPT, {"now": utcnow(), "step_id": step_id,
                                                                    "number": number})
    finish_queue_job(connection, queue_job_id, step_id)


def lose_cluster_attempt(
    connection: Connection, *, submission_id: str, step_id: int, number: int, queue_job_id: int, message: str,
    backoff: float,
) -> bool:
    """The scheduler lost a cluster step's job (node failure, preemption, deleted by hand…): the
    system failed, not the task. Another attempt if `retries` allow (True), else the step and
    submission Crash."""
    snapshot = dag.load(connection, submission_id)
    step = snapshot.step(step_id) if snapshot else None
    if step is None or step.state != StepState.RUNNING or step.attempts != number:
        finish_queue_job(connection, queue_job_id, step_id)
        return False
    connection.execute(statements.LOSE_CLUSTER_ATTEMPT, {"now": utcnow(), "note": f"\n[{message}]", "step_id": step.id,
                                                         "number": step.attempts})
    if step.attempts <= step.task.get("retries", 0):
        retry_queue_job(connection, queue_job_id, backoff_delay(step.attempts, backoff))
        return True
    finish_queue_job(connection, queue_job_id, step.id)
    dag.crash(connection, snapshot, step, message)
    return False
