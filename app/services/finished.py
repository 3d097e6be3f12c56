"""Waiting for submissions to end, woken by the NOTIFY their last transaction sends.

One listener thread per process LISTENs on the channel and sets the events of the waiters; a
waiter also re-checks every second, so a notification lost to a reconnect costs at most that.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Iterator

import psycopg

from app.services.dag import FINISHED_CHANNEL

log = logging.getLogger(__name__)


class FinishedListener:
    """Events set when submissions end; `watch(id)` gives one for the time of a `with`."""

    def __init__(self, dsn: str) -> None:
        self._dsn = dsn
        self._lock = threading.Lock()
        self._waiters: dict[str, set[threading.Event]] = {}
        self._thread: threading.Thread | None = None

    @contextlib.contextmanager
    def watch(self, submission_id: str) -> Iterator[threading.Event]:
        event = threading.Event()
        with self._lock:
            self._waiters.setdefault(submission_id, set()).add(event)
            if self._thread is None:
                self._thread = threading.Thread(target=self._listen, daemon=True, name="aa-finished")
                self._thread.start()
        try:
            yield event
        finally:
            with self._lock:
                events = self._waiters.get(submission_id, set())
                events.discard(event)
                if not events:
                    self._waiters.pop(submission_id, None)

    def _listen(self) -> None:
        while True:
            try:
                with psycopg.connect(self._dsn, autocommit=True) as connection:
                    connection.execute(f'LISTEN "{FINISHED_CHANNEL}"')
                    while True:
                        for notify in connection.notifies(timeout=1.0, stop_after=1):
                            self._wake(notify.payload)
            except psycopg.Error as exc:
                log.warning("finished-listener lost its connection (%s); reconnecting", exc)
                threading.Event().wait(1.0)

    def _wake(self, submission_id: str) -> None:
        with self._lock:
            for event in self._waiters.get(submission_id, ()):
                event.set()
