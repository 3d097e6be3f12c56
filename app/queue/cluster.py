"""A worker's cluster poller: submits cluster steps and waits for all of their jobs in one thread.

A runner thread hands a claimed cluster step to `submit` and goes back to the queue at once: the
job then holds no runner thread, no connection and no thread of its own. The poller thread asks
each scheduler about ALL of the worker's jobs in one command per round (`squeue --jobs=a,b,…`,
`qstat`), at `AA_CLUSTER_POLL_SECONDS` (Snakemake's lesson: one call per job swamps the
controller), and records each ended job through the record path of a local step. Each round it
also adopts the cluster jobs of dead workers from the database. A cancel wakes it at once.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path

import psycopg

from app.backends.cluster import ENDED, LOST, RUNNING, JobStatus, Scheduler, SchedulerError
from app.config import Settings
from app.db import DirectConnection
from app.models.base import utcnow
from app.queue import steps
from app.services import cluster_steps, workspace
from app.services.cluster_steps import ClusterAttempt
from app.services.execution import FAIL, Outcome, StepWork

log = logging.getLogger(__name__)

EXIT_WAIT_SECONDS = 30.0  # how long an ended job's exit file may lag on a shared filesystem


class _Abort(threading.Event):
    """A cluster job's abort signal (set by the worker on a cancel): it also wakes the poller."""

    def __init__(self, wake: threading.Event) -> None:
        super().__init__()
        self._wake = wake

    def set(self) -> None:
        super().set()
        self._wake.set()


class ClusterPoller:
    """Submits a worker's cluster steps and polls their jobs; `running` is the worker's table of
    queue jobs it runs (and their abort signals), which its heartbeat reports as alive."""

    def __init__(self, *, url: str, settings: Settings, worker_id: Callable[[], int | None],
                 running: dict[int, threading.Event], lock: threading.Lock) -> None:
        self.settings = settings
        self.worker_id = worker_id
        self.running = running
        self.lock = lock
        self.schedulers: dict[str, Scheduler] = {kind: cls() for kind, cls in cluster_steps.SCHEDULERS.items()}
        # A worker adopts only the jobs of schedulers it can ask (mixed fleets: not every machine has both).
        self._installed = [kind for kind, scheduler in self.schedulers.items() if scheduler.installed()]
        self.wake = threading.Event()
        self.rounds = 0
        self._url = url
        self._link: DirectConnection | None = None
        self._mine: set[int] = set()  # queue jobs of ours in `running`
        self._submitting: set[int] = set()  # registered by a runner thread, not yet listed by the database
        self._ended_since: dict[str, float] = {}  # job id -> when it was first seen ended without its exit file

    @staticmethod
    def takes(work: StepWork) -> bool:
        """Whether this step is a cluster step (the poller's, not a runner's)."""
        return cluster_steps.on_cluster(work.task)

    # --- in a runner thread ---------------------------------------------------------------------
    def submit(self, claim: steps.Claim, link: DirectConnection) -> None:
        """Stage the step, note it on its attempt, and submit its job; returns once submitted."""
        self._register(claim.queue_job_id, submitting=True)
        try:
            self._submit(claim, link)
        finally:
            with self.lock:  # from now on, a job without an id is an orphan for the poller to find
                self._submitting.discard(claim.queue_job_id)

    def _submit(self, claim: steps.Claim, link: DirectConnection) -> None:
        work, job = claim.work, claim.queue_job_id
        try:
            spec = cluster_steps.prepare(work, self.settings)
            with link.transaction() as connection:
                cluster_steps.mark_intent(connection, work, spec.workdir)
        except psycopg.Error:
            self._release(job)  # the heartbeat hands the claim back: nothing was submitted
            raise
        except Exception as exc:  # an unwritable root, a broken template: the step fails, as a local one
            log.exception("step %s could not be prepared", work.step_id)
            self._release(job)
            self._record_now(link, claim, Outcome(FAIL, None, f"Step {work.step_name} could not be run: {exc}"))
            return
        scheduler = self.schedulers[work.task["backend"]["type"]]
        submitted = utcnow()
        try:
            job_id = scheduler.submit(spec)
        except SchedulerError as exc:
            log.warning("step %s could not be submitted: %s", work.step_id, exc)
            self._lose_now(link, claim, spec.workdir, f"Step {work.step_name} could not be submitted to "
                                                      f"{scheduler.kind}: {exc}")
            return
        while True:  # the job runs: its id must be stored, whatever the database's passing trouble
            try:
                with link.transaction() as connection:
                    kept = cluster_steps.mark_submitted(connection, step_id=work.step_id, number=work.attempt,
                                                        job_id=job_id, at=submitted)
                break
            except psycopg.Error as exc:
                log.warning("could not record cluster job %s (%s); retrying", job_id, exc)
                time.sleep(1.0)
        if not kept:  # a worker that took us for dead found no job and submitted its own
            scheduler.cancel([job_id])
        log.info("step %s (submission %s) submitted to %s as job %s", work.step_id, work.submission_id,
                 scheduler.kind, job_id)

    def _record_now(self, link: DirectConnection, claim: steps.Claim, outcome: Outcome) -> None:
        with link.transaction() as connection:
            steps.record(connection, queue_job_id=claim.queue_job_id, work=claim.work, outcome=outcome,
                         backoff=self.settings.retry_backoff_seconds)

    def _lose_now(self, link: DirectConnection, claim: steps.Claim, workdir: Path, message: str) -> None:
        attempt = ClusterAttempt.of(claim.queue_job_id, claim.work, workdir)
        with link.transaction() as connection:
            self._lose(connection, attempt, message)
        workspace.remove_workdir(workdir, self.settings.keep_workdirs)
        self._release(claim.queue_job_id)

    def _lose(self, connection: psycopg.Connection, attempt: ClusterAttempt, message: str) -> bool:
        """The scheduler lost the attempt's job: another attempt if retries allow, else a Crash."""
        return steps.lose_cluster_attempt(
            connection, submission_id=attempt.submission_id, step_id=attempt.step_id, number=attempt.number,
            queue_job_id=attempt.queue_job_id, message=message, backoff=self.settings.retry_backoff_seconds)

    # --- the poller thread ----------------------------------------------------------------------
    def run(self, stop: threading.Event) -> None:
        """Poll until `stop`; a scheduler or database failure is logged and the next round tries again."""
        while not stop.is_set():
            try:
                self.poll_once()
            except (psycopg.Error, SchedulerError) as exc:
                log.warning("cluster poll failed (%s); trying again", exc)
            except Exception:
                log.exception("cluster poll failed")
            self._rest(stop)
        if self._link is not None:
            self._link.close()

    def _rest(self, stop: threading.Event) -> None:
        """Until the next round: the poll period, a cancel (`wake`), or the worker's stop."""
        deadline = time.monotonic() + self.settings.cluster_poll_seconds
        while not stop.is_set() and (left := deadline - time.monotonic()) > 0:
            if self.wake.wait(min(left, 0.25)):
                break
        self.wake.clear()

    def poll_once(self) -> None:
        """One round: adopt, cancel, find, poll (one command per scheduler), record what ended."""
        worker_id = self.worker_id()
        if worker_id is None:
            return
        self._link = self._link or DirectConnection(self._url)
        with self._link.transaction() as connection:
            adopted, mine = cluster_steps.adopt_and_list(connection, worker_id, self._installed)
        if adopted:
            log.warning("adopted the cluster jobs of queue jobs %s from a worker that stopped", adopted)
        self._sync(mine)
        self.rounds += 1
        for kind, scheduler in self.schedulers.items():
            attempts = [a for a in mine if a.kind == kind]
            try:
                if attempts:
                    self._poll(scheduler, attempts)
            except SchedulerError as exc:  # one scheduler down does not hold the other's jobs
                log.warning("could not ask %s about its jobs (%s); trying again", kind, exc)

    def _poll(self, scheduler: Scheduler, attempts: list[ClusterAttempt]) -> None:
        with self.lock:  # those our runner threads are submitting now wait for their ids
            submitting = set(self._submitting)
        cancelled = [a for a in attempts if (a.abort_requested or self._aborted(a.queue_job_id))
                     and a.queue_job_id not in submitting]
        if cancelled:
            self._cancel(scheduler, cancelled)
        live = [a for a in attempts if a not in cancelled]
        unknown = [a for a in live if a.job_id is None and a.queue_job_id not in submitting]
        if unknown:  # the worker that submitted them died before it stored their ids
            self._find(scheduler, unknown)
        live = [a for a in live if a.job_id is not None]
        statuses = scheduler.poll([a.job_id for a in live])
        seen = []
        for attempt in live:
            status = statuses.get(attempt.job_id)
            if status is None or status.phase == ENDED:
                self._ended(scheduler, attempt, status)
            elif (status.state, status.node) != (attempt.state, attempt.node):
                seen.append((attempt, status))
                if status.phase == RUNNING and attempt.started is None:
                    log.info("%s job %s (step %s) started on %s after %.1f s in the queue", scheduler.kind,
                             attempt.job_id, attempt.step_id, status.node, _queued(attempt, status))
        if seen:
            with self._link.transaction() as connection:
                cluster_steps.note_seen(connection, seen)

    def _cancel(self, scheduler: Scheduler, attempts: list[ClusterAttempt]) -> None:
        # A dead worker may have submitted a job without storing its id: found by its name.
        unknown = [a.name for a in attempts if not a.job_id]
        found = list(scheduler.find(unknown).values()) if unknown else []
        scheduler.cancel([a.job_id for a in attempts if a.job_id] + found)
        log.info("cancelled %s jobs %s", scheduler.kind, [a.job_id for a in attempts])
        for attempt in attempts:
            with self._link.transaction() as connection:
                steps.close_cancelled_cluster_attempt(connection, step_id=attempt.step_id, number=attempt.number,
                                                      queue_job_id=attempt.queue_job_id)
            self._done(attempt)

    def _find(self, scheduler: Scheduler, attempts: list[ClusterAttempt]) -> None:
        found = scheduler.find([a.name for a in attempts])
        for attempt in attempts:
            job_id, submitted = found.get(attempt.name), utcnow()
            if job_id is None:  # never submitted: the script is there, it is submitted now, once
                job_id = scheduler.submit(cluster_steps.job_spec(attempt.task, attempt.name, Path(attempt.workdir),
                                                                 self.settings))
            with self._link.transaction() as connection:
                if cluster_steps.mark_submitted(connection, step_id=attempt.step_id, number=attempt.number,
                                                job_id=job_id, at=submitted):
                    attempt.job_id = job_id
                    log.warning("step %s: %s job %s taken over", attempt.step_id, scheduler.kind, job_id)

    def _ended(self, scheduler: Scheduler, attempt: ClusterAttempt, status: JobStatus | None) -> None:
        """Record a job that ended, or wait a little for its exit file or its accounting."""
        listed = status is not None
        if cluster_steps.lost_reason(attempt, status) is not None:  # no exit file: ask the accounting (qacct)
            status = scheduler.ended(attempt.job_id) or status
        reason = cluster_steps.lost_reason(attempt, status)
        if reason is not None:
            first = self._ended_since.setdefault(attempt.job_id, time.monotonic())
            if time.monotonic() - first < EXIT_WAIT_SECONDS and (status is None or status.failure is None):
                return  # the exit file (or the accounting record) may not be visible yet
        status = cluster_steps.with_start(attempt, status)
        outcome = None if reason is not None else cluster_steps.outcome(attempt, status, self.settings)
        if reason is not None and listed and status.failure == LOST:
            scheduler.cancel([attempt.job_id])  # a job in error (Grid Engine's Eqw) would wait there forever
        with self._link.transaction() as connection:
            if status is not None:
                cluster_steps.note_seen(connection, [(attempt, status)])
            if outcome is None:
                self._lose(connection, attempt, reason)
            else:
                steps.record(connection, queue_job_id=attempt.queue_job_id, work=attempt.work(), outcome=outcome,
                             backoff=self.settings.retry_backoff_seconds)
        log.info("%s job %s (step %s) ended: %s", scheduler.kind, attempt.job_id, attempt.step_id,
                 reason or (status.state if status else "gone, exit file read"))
        workspace.remove_workdir(Path(attempt.workdir), self.settings.keep_workdirs)
        self._ended_since.pop(attempt.job_id, None)
        self._done(attempt)

    # --- the worker's table of running queue jobs -----------------------------------------------
    def _register(self, queue_job_id: int, *, submitting: bool = False) -> None:
        with self.lock:
            signal = self.running.get(queue_job_id)
            if not isinstance(signal, _Abort):  # a job handed over from a local step has a plain one
                self.running[queue_job_id] = _Abort(self.wake)
                if signal is not None and signal.is_set():
                    self.running[queue_job_id].set()
            self._mine.add(queue_job_id)
            if submitting:
                self._submitting.add(queue_job_id)

    def _release(self, queue_job_id: int) -> None:
        with self.lock:
            self._mine.discard(queue_job_id)
            self._submitting.discard(queue_job_id)
            self.running.pop(queue_job_id, None)

    def _sync(self, mine: list[ClusterAttempt]) -> None:
        """Ours are what the database says (adopted ones added, ones adopted by others dropped)."""
        listed = {a.queue_job_id for a in mine}
        with self.lock:
            for job in listed - self._mine:
                self.running.setdefault(job, _Abort(self.wake))
            for job in self._mine - listed - self._submitting:
                self.running.pop(job, None)
            self._mine = listed | self._submitting

    def _aborted(self, queue_job_id: int) -> bool:
        with self.lock:
            signal = self.running.get(queue_job_id)
        return signal is not None and signal.is_set()

    def _done(self, attempt: ClusterAttempt) -> None:
        self._release(attempt.queue_job_id)


def _queued(attempt: ClusterAttempt, status: JobStatus) -> float:
    submitted = status.submitted or attempt.submitted
    return (status.started - submitted).total_seconds() if status.started and submitted else 0.0
