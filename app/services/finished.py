"""Waiting for submissions to end, woken by the NOTIFY their last transaction sends.

One listener thread per process LISTENs on the channel and sets the events of the waiters. When
it (re)connects it wakes every waiter once, so a notification lost while it was away costs a look,
and a waiter otherwise sleeps until its submission ends or its time is up: no polling. A process
admits at most `max_waiters` at once (the web server keeps that many threads for them beyond those
for ordinary requests, see app.webserver); past it `watch` raises TooManyWaiters.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Iterator

import psycopg

from app.errors import TooManyWaiters

log = logging.getLogger(__name__)
LOOKING_AT_ONCE = 4
# Where submissions' ends are announced (the queue's statements END_SUBMISSION, RECORD_OUTCOME and
# ANNOUNCE_END), the submission id the payload, sent on commit.
FINISHED_CHANNEL = "aa_submission_finished"


class FinishedListener:
    """Events set when submissions end; `watch(id)` gives one for the time of a `with`."""

    def __init__(self, dsn: str, *, max_waiters: int = 200) -> None:
        self._dsn = dsn
        self._lock = threading.Lock()
        self._waiters: dict[str, set[threading.Event]] = {}
        self._count = 0
        self.max_waiters = max_waiters
        # Waiters woken together (every waiter of a submission, or all after a reconnect) look at
        # their submissions a few at a time, so a burst takes a few pooled connections, not all.
        self.looking = threading.BoundedSemaphore(LOOKING_AT_ONCE)
        self._thread: threading.Thread | None = None

    @contextlib.contextmanager
    def watch(self, submission_id: str) -> Iterator[threading.Event]:
        """An event set when the submission ends (and after a reconnect: look again); TooManyWaiters
        when this process already has `max_waiters`."""
        event = threading.Event()
        with self._lock:
            if self._count >= self.max_waiters:
                raise TooManyWaiters()
            self._count += 1
            self._waiters.setdefault(submission_id, set()).add(event)
            if self._thread is None:
                self._thread = threading.Thread(target=self._listen, daemon=True, name="aa-finished")
                self._thread.start()
        try:
            yield event
        finally:
            with self._lock:
                self._count -= 1
                events = self._waiters.get(submission_id, set())
                events.discard(event)
                if not events:
                    self._waiters.pop(submission_id, None)

    def _listen(self) -> None:
        while True:
            try:
                with psycopg.connect(self._dsn, autocommit=True) as connection:
                    connection.execute(f'LISTEN "{FINISHED_CHANNEL}"')
                    self._wake_all()  # whatever ended while not listening is seen now
                    while True:
                        for notify in connection.notifies(timeout=5.0, stop_after=1):
                            self._wake(notify.payload)
            except psycopg.Error as exc:
                log.warning("finished-listener lost its connection (%s); reconnecting", exc)
                threading.Event().wait(1.0)

    def _wake_all(self) -> None:
        with self._lock:
            for events in self._waiters.values():
                for event in events:
                    event.set()

    def _wake(self, submission_id: str) -> None:
        with self._lock:
            for event in self._waiters.get(submission_id, ()):
                event.set()
