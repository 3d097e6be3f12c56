"""Waking idle worker threads the moment a step is queued.

A listener thread LISTENs on Procrastinate's queue channels and bumps a generation counter. A
runner reads the counter *before* it looks for work and, finding none, waits only while the
counter is unchanged: a notification that arrives during the fetch is never lost (the stall that
plain Procrastinate showed, a 5 s wait for the next poll).
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable

import psycopg

log = logging.getLogger(__name__)


class Wakeup:
    """A counter of notifications that threads can wait on."""

    def __init__(self) -> None:
        self._condition = threading.Condition()
        self._generation = 0

    @property
    def generation(self) -> int:
        with self._condition:
            return self._generation

    def notify(self, everyone: bool = False) -> None:
        """One more notification: wake one waiting thread (a new job needs one runner), or all."""
        with self._condition:
            self._generation += 1
            if everyone:
                self._condition.notify_all()
            else:
                self._condition.notify()

    def wait(self, seen: int, timeout: float) -> bool:
        """Return once a notification newer than `seen` came (True), or after `timeout` seconds (False)."""
        with self._condition:
            return self._condition.wait_for(lambda: self._generation != seen, timeout)


def channels(queues: list[str] | None) -> list[str]:
    if not queues:
        return ["procrastinate_any_queue_v1"]
    return [f"procrastinate_queue_v1#{queue}" for queue in queues]


def listen(
    dsn: str, queues: list[str] | None, wakeup: Wakeup, stop: threading.Event,
    on_abort: Callable[[int], None] = lambda job_id: None,
) -> None:
    """LISTEN until `stop`, waking runners on new jobs and calling `on_abort` for abort requests;
    reconnect after a lost connection (waking everyone to poll once)."""
    while not stop.is_set():
        try:
            with psycopg.connect(dsn, autocommit=True) as connection:
                for channel in channels(queues):
                    connection.execute(f'LISTEN "{channel}"')
                wakeup.notify(everyone=True)  # anything queued while we were not listening
                while not stop.is_set():
                    for notify in connection.notifies(timeout=0.5, stop_after=1):
                        _dispatch(notify.payload, wakeup, on_abort)
        except psycopg.OperationalError as exc:
            log.warning("listener lost its connection (%s); reconnecting", exc)
            wakeup.notify(everyone=True)
            stop.wait(1.0)


def _dispatch(payload: str, wakeup: Wakeup, on_abort: Callable[[int], None]) -> None:
    try:
        message = json.loads(payload)
    except ValueError:
        message = {}
    if message.get("type") == "abort_job_requested":
        on_abort(int(message["job_id"]))
    else:
        wakeup.notify()
