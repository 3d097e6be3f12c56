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

import psycopg
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session, sessionmaker

from app.config import Settings
from app.db import DirectConnection, libpq_url, transaction
from app.models import WorkerInfo
from app.queue import recovery
from app.queue.wakeup import Wakeup, listen
from app.queue.watchdog import Watchdog
from app.services import dag, steps
from app.services.execution import FAIL, Outcome, execute

log = logging.getLogger(__name__)

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
        self.worker_id: int | None = None
        self._running: dict[int, threading.Event] = {}  # queue job id -> its abort signal
        self._lock = threading.Lock()
        self._threads: list[threading.Thread] = []
        self._watchdog: Watchdog | None = None
        self._connected_since = time.monotonic()
        self._suspects: set[int] = set()
        self._url = sessions.kw["bind"].url.render_as_string(hide_password=False)
        self._links = threading.local()  # each runner thread's own DirectConnection
        self._all_links: list[DirectConnection] = []

    def start(self) -> None:
        """Register with Procrastinate's workers table and start the threads."""
        self._register()
        self._watchdog = Watchdog()
        dsn = libpq_url(self._url)
        targets = [(listen, (dsn, self.queues, self.wakeup, self.stop_event, self.abort)), (self._heartbeat, ())]
        targets += [(self._run, ()) for _ in range(self.concurrency)]
        for target, args in targets:
            thread = threading.Thread(target=target, args=args, daemon=True)
            thread.start()
            self._threads.append(thread)
        log.info("worker %s (id %s) serving %s with %d threads", self.name, self.worker_id,
                 self.queues or "all queues", self.concurrency)

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
        self.stop_event.set()
        self.wakeup.notify(everyone=True)
        for thread in self._threads:
            thread.join(timeout)
        if self._watchdog is not None:
            self._watchdog.close()
        for link in self._all_links:
            link.close()
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
        while not self.stop_event.is_set():
            seen = self.wakeup.generation
            try:
                worked = self.run_one()
            except psycopg.Error as exc:
                log.warning("database unavailable (%s); retrying", exc)
                self.stop_event.wait(1.0)
                continue
            if not worked:
                self.wakeup.wait(seen, self.settings.poll_seconds)

    def run_one(self) -> bool:
        """Claim and run one step; False when the queue had nothing for us."""
        with self._link().transaction() as connection:
            claim = steps.claim(connection, queues=self.queues, worker_id=self.worker_id, worker=self.name)
        if claim is None:
            return False
        while claim is not None and claim.work is not None:
            claim = self._run_claimed(claim)
        return True

    def _run_claimed(self, claim: steps.Claim) -> steps.Claim | None:
        """Run a claimed step and record it; the next step of its pipeline, if this worker took it."""
        with self._lock:
            abort = self._running.setdefault(claim.queue_job_id, threading.Event())
        following = None
        try:
            try:
                outcome = execute(claim.work, self.settings, stop=abort, guard=self._watchdog)
            except Exception as exc:  # a broken template or an unwritable disk must not kill the worker
                log.exception("step %s could not be run", claim.work.step_id)
                outcome = Outcome(FAIL, None, f"Step {claim.work.step_name} could not be run: {exc}")
            # Registered before this one is released, so the heartbeat never sees it unowned.
            following = self._record(claim, outcome)
            if following is not None:  # usually under the same queue job, handed over
                with self._lock:
                    self._running.setdefault(following.queue_job_id, threading.Event())
            return following
        finally:
            if following is None or following.queue_job_id != claim.queue_job_id:
                with self._lock:
                    self._running.pop(claim.queue_job_id, None)

    def _record(self, claim: steps.Claim, outcome: Outcome) -> steps.Claim | None:
        # The outcome must not be lost to a passing database outage: retry until recorded.
        taker = dag.Taker(self.worker_id, self.name, self.queues) if not self.stop_event.is_set() else None
        while True:
            try:
                with self._link().transaction() as connection:
                    return steps.record(connection, queue_job_id=claim.queue_job_id, work=claim.work, outcome=outcome,
                                        backoff=self.settings.retry_backoff_seconds, taker=taker)
            except psycopg.Error as exc:
                log.warning("could not record step %s (%s); retrying", claim.work.step_id, exc)
                time.sleep(1.0)

    def _link(self) -> DirectConnection:
        """This thread's connection for claiming and recording steps."""
        link = getattr(self._links, "connection", None)
        if link is None:
            link = self._links.connection = DirectConnection(self._url)
            with self._lock:
                self._all_links.append(link)
        return link

    def _heartbeat(self) -> None:
        while not self.stop_event.wait(self.settings.heartbeat_seconds):
            try:
                self._beat()
            except DBAPIError as exc:
                log.warning("heartbeat failed (%s)", exc.orig)
                self._connected_since = time.monotonic()

    def _beat(self) -> None:
        with transaction(self.sessions) as session:
            alive = session.execute(_HEARTBEAT, {"id": self.worker_id}).first()
            running = self._running_jobs()
            for job_id in session.execute(_ABORTED, {"ids": running}).scalars() if running else ():
                self.abort(job_id)  # in case the NOTIFY was missed
            # Judge others only after a full stall period of our own contact with the database:
            # after an outage, everyone's heartbeat is old and nobody should be taken for dead.
            if time.monotonic() - self._connected_since > self.settings.stalled_after_seconds:
                recovery.recover_stalled(session, self.settings)
            # A claim whose commit succeeded while we saw the connection fail is ours but run by
            # no thread. Seen so at two beats in a row (not just claimed in between), it is lost.
            unowned = recovery.find_unowned(session, self.worker_id, set(running))
            lost = {job: claim for job, claim in unowned.items() if job in self._suspects}
            recovery.release_lost_claims(session, lost)
            self._suspects = set(unowned) - set(lost)
        if alive is None:
            log.warning("worker %s was taken for dead; registering again", self.worker_id)
            self._register()
