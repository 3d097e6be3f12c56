"""The worker: runner threads that claim steps from Procrastinate's queue table and run them.

Queue rows, their states and worker heartbeats are Procrastinate's (its schema and versioned SQL
functions); the loop is ours so that a claimed step, its outcome and the deferral of the next
steps are each one short transaction on one connection.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from collections import deque

import psycopg
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session, sessionmaker

from app import logs
from app.config import Settings
from app.db import DirectConnection, libpq_url, transaction
from app.models import WorkerInfo
from app.queue import dag, housekeeping, recovery, steps
from app.queue.cluster import ClusterPoller
from app.queue.group import GroupCommit
from app.queue.wakeup import Wakeup, listen
from app.queue.watchdog import Watchdog
from app.services import workspace
from app.services.execution import FAIL, Outcome, StepWork, execute

log = logging.getLogger(__name__)
SWEEP_SECONDS = 60.0  # how often the working directories of attempts that died are looked for
JUDGE_MARGIN = 0.01  # seconds past a silent worker's stall limit at which it is judged (the limit is strict)

_SUBMISSION_TIMES = (
    "SELECT job_name, extract(epoch FROM finished - created)::float FROM submissions WHERE id = %(id)s"
)
_STEP_ENDS = {"success": "Complete", "terminate": "Complete (ended the job early)", "fail": "Error",
              "retry": "to be retried"}
_REGISTER = text("SELECT worker_id FROM procrastinate_register_worker_v1()")
_HEARTBEAT = text("UPDATE procrastinate_workers SET last_heartbeat = now() WHERE id = :id RETURNING id")
_ABORTED = text("SELECT id FROM procrastinate_jobs WHERE id = ANY(:ids) AND abort_requested")
_REATTACH = text(
    "UPDATE procrastinate_jobs SET worker_id = :id WHERE id = ANY(:ids) AND status = 'doing' AND worker_id IS NULL"
)


class Worker:
    """One worker process: a listener, a heartbeat and `concurrency` runner threads."""

    def __init__(
        self, *, sessions: sessionmaker[Session], settings: Settings, queues: list[str] | None = None,
        concurrency: int = 1,
    ) -> None:
        self.sessions = sessions
        self.settings = settings
        self.queues = queues or None
        self.concurrency = concurrency
        self.name = f"{socket.gethostname()}:{os.getpid()}"
        self.stop_event = threading.Event()
        self.wakeup = Wakeup()
        self._sweep_now = threading.Event()  # set when dead workers' steps were found
        self.worker_id: int | None = None
        self._running: dict[int, threading.Event] = {}  # queue job id -> its abort signal
        self._doing: dict[int, str] = {}  # queue job id -> "step <name> of <submission id>", for the log
        self._lock = threading.Lock()
        self._threads: list[threading.Thread] = []
        self._watchdog: Watchdog | None = None
        # When (monotonic) this worker last reached the database, if it has failed to since.
        self._last_contact = time.monotonic()
        self._cut_off_at: float | None = None
        self._suspects: set[int] = set()
        self._judge_at: float | None = None  # when (monotonic) a silent worker could next be judged dead
        self._url = sessions.kw["bind"].url.render_as_string(hide_password=False)
        self._links = threading.local()  # each runner thread's own DirectConnection
        self._all_links: list[DirectConnection] = []
        # Claims taken for idle runners by one of them (started, registered in _running).
        self._backlog: deque[steps.Claim] = deque()
        self._idle = 0  # runners waiting for work
        self._next_backstop = 0.0  # when an idle runner may next poll without a notification
        self._group: GroupCommit[steps.Pending, steps.Claim | None] = GroupCommit()
        self._cluster = ClusterPoller(url=self._url, settings=settings, worker_id=lambda: self.worker_id,
                                      running=self._running, lock=self._lock)

    def start(self) -> None:
        """Register with Procrastinate's workers table (waiting for the database as long as it
        takes) and start the threads."""
        if not self._register_when_reachable():
            return
        self._watchdog = Watchdog()
        dsn = libpq_url(self._url)
        targets = [(listen, (dsn, self.queues, self.wakeup, self.stop_event, self.abort)), (self._heartbeat, ()),
                   (self._sweep, ())]
        targets += [(self._run, ()) for _ in range(self.concurrency)] + [(self._cluster.run, (self.stop_event,))]
        for target, args in targets:
            thread = threading.Thread(target=target, args=args, daemon=True)
            thread.start()
            self._threads.append(thread)
        self._threads += housekeeping.start(self.sessions, self.settings, self.stop_event)
        log.info("worker %s (id %s) serving %s with %d threads", self.name, self.worker_id,
                 self.queues or "all queues", self.concurrency)

    def _register_when_reachable(self) -> bool:
        """Register, retrying while the database is unreachable (False: stopped meanwhile).

        A worker started before PostgreSQL (a boot, a container started first) waits for it."""
        delay = 0.5
        while True:
            try:
                self._register()
                return True
            except DBAPIError as exc:
                self._lost_contact()
                reason = (str(exc.orig or exc).strip().splitlines() or ["?"])[0]
                log.warning("worker %s: the database is not reachable (%s); trying again in %.1f s",
                            self.name, reason, delay)
            if self.stop_event.wait(delay):
                return False
            delay = min(delay * 2, 5.0)

    def _register(self) -> None:
        with transaction(self.sessions) as session:
            self.worker_id = session.execute(_REGISTER).scalar_one()
            session.add(WorkerInfo(worker_id=self.worker_id, name=self.name, queues=self.queues,
                                   concurrency=self.concurrency))
            running = self._running_jobs()
            if running:  # we were taken for dead: claim our running steps back
                session.execute(_REATTACH, {"id": self.worker_id, "ids": running})

    def stop(self, timeout: float | None = None) -> None:
        """Stop taking work, let running steps finish, and unregister."""
        with self._lock:
            doing = sorted(self._doing.values())
        if doing:
            log.info("worker %s stopping: waiting for %d running step(s) to finish: %s", self.name, len(doing),
                     ", ".join(doing))
        self.stop_event.set()
        self.wakeup.notify(everyone=True)
        self._sweep_now.set()
        for thread in self._threads:
            thread.join(timeout)
        if self._watchdog is not None:
            self._watchdog.close()
        for link in self._all_links:
            link.close()
        if self.worker_id is None:  # stopped while waiting for the database
            return
        try:
            with transaction(self.sessions) as session:
                session.execute(text("SELECT procrastinate_unregister_worker_v1(:id)"), {"id": self.worker_id})
        except DBAPIError:
            log.warning("could not unregister worker %s", self.worker_id)

    def run_forever(self) -> None:
        self.start()
        try:
            while not self.stop_event.wait(1.0):
                pass
        finally:
            self.stop()

    def abort(self, queue_job_id: int) -> None:
        """Stop the step of `queue_job_id` if this worker runs it (a cancelled submission)."""
        with self._lock:
            signal = self._running.get(queue_job_id)
        if signal is not None:
            log.info("aborting queue job %s", queue_job_id)
            signal.set()

    def _running_jobs(self) -> list[int]:
        with self._lock:
            return list(self._running)

    def _run(self) -> None:
        # Claims taken for this worker's runners are run even once it is stopping: they have started.
        look = True  # a runner looks for work when it starts, after work, and when woken
        while not self.stop_event.is_set() or self._backlog:
            seen = self.wakeup.generation
            if look or self._backlog:
                try:
                    if self.run_one():
                        continue
                except psycopg.Error as exc:
                    log.warning("database unavailable (%s); retrying", exc)
                    self.stop_event.wait(1.0)
                    continue
            if self.stop_event.is_set():
                continue
            with self._lock:
                self._idle += 1
            try:
                woken = self.wakeup.wait(seen, self.settings.poll_seconds)
            finally:
                with self._lock:
                    self._idle -= 1
            look = woken or self._backstop_turn()

    def _backstop_turn(self) -> bool:
        """Whether this runner, its wait over without a notification, polls the queue (the backstop
        for a notification lost, or a retry come due): one idle runner of the worker does, at most
        twice per poll period, and claims for the other idle runners as well. Every runner polling
        every period cost PostgreSQL a claim statement per runner per second while all was idle."""
        now = time.monotonic()
        with self._lock:
            if now < self._next_backstop:
                return False
            self._next_backstop = now + self.settings.poll_seconds / 2
            return True

    def run_one(self) -> bool:
        """Run a step claimed for us, or claim one (and one for each idle runner, in the same
        statement) and run it; False when there was nothing for us."""
        claim = self._from_backlog()
        if claim is None and not self.stop_event.is_set():
            with self._lock:
                limit = 1 + min(self._idle, self.concurrency - 1)
            with self._link().transaction() as connection:
                claims = steps.claim_many(connection, queues=self.queues, worker_id=self.worker_id,
                                          worker=self.name, limit=limit)
            if not claims:
                return False
            claim = claims[0]
            self._to_backlog([c for c in claims[1:] if c.work is not None])
        if claim is None:
            return False
        while claim is not None and claim.work is not None:
            claim = self._run_claimed(claim)
        return True

    def _to_backlog(self, claims: list[steps.Claim]) -> None:
        if not claims:
            return
        with self._lock:
            for claim in claims:  # owned from now on: the heartbeat must not take them for lost
                self._running.setdefault(claim.queue_job_id, threading.Event())
            self._backlog.extend(claims)
        self.wakeup.notify(everyone=True)

    def _from_backlog(self) -> steps.Claim | None:
        with self._lock:
            return self._backlog.popleft() if self._backlog else None

    def _run_claimed(self, claim: steps.Claim) -> steps.Claim | None:
        """Run a claimed step and record it; the next step of its pipeline, if this worker took it."""
        if self._cluster.takes(claim.work):  # submitted here; waited for and recorded by the poller
            self._cluster.submit(claim, self._link())
            return None
        with self._lock:
            abort = self._running.setdefault(claim.queue_job_id, threading.Event())
            self._doing[claim.queue_job_id] = f"step {claim.work.step_name} of {claim.work.submission_id}"
        following = None
        started = time.monotonic()
        logs.bind(submission_id=claim.work.submission_id, step_id=claim.work.step_id)  # JSON logs carry them
        try:
            try:
                outcome = execute(claim.work, self.settings, stop=abort, guard=self._watchdog)
            except Exception as exc:  # a broken template or an unwritable disk must not kill the worker
                log.exception("step %s could not be run", claim.work.step_id)
                outcome = Outcome(FAIL, None, f"Step {claim.work.step_name} could not be run: {exc}")
            # Registered before this one is released, so the heartbeat never sees it unowned.
            following = self._record(claim, outcome)
            self._tell(claim.work, outcome, time.monotonic() - started)
            if following is not None:  # usually under the same queue job, handed over
                with self._lock:
                    self._running.setdefault(following.queue_job_id, threading.Event())
            return following
        finally:
            logs.unbind()
            with self._lock:
                self._doing.pop(claim.queue_job_id, None)
                if following is None or following.queue_job_id != claim.queue_job_id:
                    self._running.pop(claim.queue_job_id, None)

    def _record(self, claim: steps.Claim, outcome: Outcome) -> steps.Claim | None:
        """Record the outcome, with those of other runners that finish meanwhile (group commit)."""
        taker = dag.Taker(self.worker_id, self.name, self.queues) if not self.stop_event.is_set() else None
        return self._group.submit(steps.Pending(claim.queue_job_id, claim.work, outcome, taker), self._record_group)

    def _record_group(self, group: list[steps.Pending]) -> list[steps.Claim | None]:
        if len(group) > 1:
            try:
                with self._link().transaction() as connection:
                    return steps.record_many(connection, group, backoff=self.settings.retry_backoff_seconds)
            except psycopg.Error as exc:  # each alone, then: one outcome's trouble is not the others'
                log.warning("could not record %d outcomes together (%s); recording each alone", len(group), exc)
        return [self._record_alone(pending) for pending in group]

    def _record_alone(self, pending: steps.Pending) -> steps.Claim | None:
        # The outcome must not be lost to a passing database outage: retry until recorded.
        while True:
            try:
                with self._link().transaction() as connection:
                    return steps.record(connection, queue_job_id=pending.queue_job_id, work=pending.work,
                                        outcome=pending.outcome, backoff=self.settings.retry_backoff_seconds,
                                        taker=pending.taker)
            except psycopg.Error as exc:
                log.warning("could not record step %s (%s); retrying", pending.work.step_id, exc)
                time.sleep(1.0)

    def _tell(self, work: StepWork, outcome: Outcome, seconds: float) -> None:
        """Log a recorded step's end, and its submission's when it ended it (INFO, with ids and durations)."""
        if not log.isEnabledFor(logging.INFO):
            return
        state = "Error (no retries left)" if outcome.action == "retry" and outcome.ended else _STEP_ENDS.get(
            outcome.action, outcome.action)
        log.info("step %s (id %s) of submission %s: %s after %.2f s (attempt %d, exit status %s)",
                 work.step_name, work.step_id, work.submission_id, state, seconds, work.attempt, outcome.exit_status)
        if outcome.ended is not None:
            job, total = outcome.ended_job or self._submission_times(work.submission_id)
            log.info("submission %s (job %s) ended %s after %.2f s", work.submission_id, job, outcome.ended,
                     total if total is not None else float("nan"))

    def _submission_times(self, submission_id: str) -> tuple[str | None, float | None]:
        """A submission's job and seconds from creation to its end, for the log (None: not found)."""
        try:
            with self._link().transaction() as connection:
                return connection.execute(_SUBMISSION_TIMES, {"id": submission_id}).fetchone() or (None, None)
        except psycopg.Error:  # only a log line is lost; the step is recorded
            return None, None

    def _link(self) -> DirectConnection:
        """This thread's connection for claiming and recording steps."""
        link = getattr(self._links, "connection", None)
        if link is None:
            link = self._links.connection = DirectConnection(self._url)
            with self._lock:
                self._all_links.append(link)
        return link

    def _sweep(self) -> None:
        """Remove the working directories of attempts whose worker died: at start, when dead
        workers' steps were found, and every minute (for those of another machine's workers)."""
        while not self.settings.keep_workdirs and not self.stop_event.is_set():
            try:
                removed = workspace.sweep(workspace.sweep_roots(self.settings.work_root))
            except Exception:  # a sweep that fails must not stop the worker
                log.exception("could not sweep working directories")
                removed = 0
            if removed:
                log.info("removed %d working directories of attempts whose worker died", removed)
            self._sweep_now.wait(SWEEP_SECONDS)
            self._sweep_now.clear()

    def _heartbeat(self) -> None:
        """Beat every heartbeat period, judging the dead at each beat; and between beats, at the
        instant the longest-silent worker passes the stall limit (and once at the start, when this
        worker may be the one that replaces a dead one): a dead worker's steps are taken up at the
        stall limit, not up to a heartbeat after it."""
        next_beat = time.monotonic() + self.settings.heartbeat_seconds
        self._judge_at = time.monotonic()
        while True:
            due = next_beat if self._judge_at is None else min(next_beat, self._judge_at)
            if self.stop_event.wait(max(due - time.monotonic(), 0.0)):
                return
            if time.monotonic() >= next_beat:
                self.beat()
                next_beat = time.monotonic() + self.settings.heartbeat_seconds
            else:
                self.judge()

    def judge(self) -> None:
        """Requeue the steps of workers that passed the stall limit, between heartbeats."""
        self._judge_at = None
        if self._cut_off_at is not None:
            return  # we could not reach the database: the next beat judges, pardoning an outage first
        try:
            with transaction(self.sessions) as session:
                if recovery.recover_stalled(session, self.settings):
                    self._sweep_now.set()
                self._judge_at = self._next_judgement(session)
        except DBAPIError as exc:
            log.warning("could not look for dead workers (%s)", exc.orig)

    def _next_judgement(self, session: Session) -> float | None:
        """When to judge next if before the next beat: as the longest-silent worker's stall limit passes."""
        seconds = recovery.next_stall_in(session, self.settings, self.worker_id)
        if seconds is None or seconds >= self.settings.heartbeat_seconds:
            return None  # the beats come first
        return time.monotonic() + seconds + JUDGE_MARGIN

    def beat(self) -> bool:
        """One heartbeat, in which dead workers are judged; False if the database was out of reach."""
        try:
            self._beat()
        except DBAPIError as exc:
            log.warning("heartbeat failed (%s)", exc.orig)
            self._lost_contact()
            return False
        return True

    def _lost_contact(self) -> None:
        if self._cut_off_at is None:
            self._cut_off_at = self._last_contact

    def _beat(self) -> None:
        contact = time.monotonic()
        with transaction(self.sessions) as session:
            if self._cut_off_at is not None:
                # We could not reach the database: others may not have either. No worker is judged
                # on a silence that overlaps ours.
                silent = contact - self._cut_off_at + self.settings.heartbeat_seconds
                recovery.pardon(session, silent)
            alive = session.execute(_HEARTBEAT, {"id": self.worker_id}).first()
            running = self._running_jobs()
            for job_id in session.execute(_ABORTED, {"ids": running}).scalars() if running else ():
                self.abort(job_id)  # in case the NOTIFY was missed
            if recovery.recover_stalled(session, self.settings):
                self._sweep_now.set()  # their working directories are left behind
            self._judge_at = self._next_judgement(session)
            # A claim whose commit succeeded while we saw the connection fail is ours but run by
            # no thread. Seen so at two beats in a row (not just claimed in between), it is lost.
            unowned = recovery.find_unowned(session, self.worker_id, set(running))
            lost = {job: claim for job, claim in unowned.items() if job in self._suspects}
            recovery.release_lost_claims(session, lost)
            self._suspects = set(unowned) - set(lost)
        self._last_contact, self._cut_off_at = contact, None
        if alive is None:
            log.warning("worker %s was taken for dead; registering again", self.worker_id)
            self._register()
