"""The worker's housekeeping threads: schedules and retention in one, notifications in the other
(a slow mail server must not delay a tick). Every worker runs them; the services make sure each
tick, notification and purge batch is done by one of them."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

import psycopg
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session, sessionmaker

from app.config import Settings
from app.db import transaction
from app.queue import intake
from app.services import notify, retention, schedules

log = logging.getLogger(__name__)

_UNTIL_NEXT_TICK = text("SELECT extract(epoch FROM min(next_run) - now()) FROM schedules")


def start(sessions: sessionmaker[Session], settings: Settings, stop: threading.Event) -> list[threading.Thread]:
    """Start the threads; they end when `stop` is set."""
    threads = [threading.Thread(target=_loop, args=(name, step, stop), daemon=True, name=f"aa-{name}")
               for name, step in (("schedules", _Scheduler(sessions, settings)),
                                  ("notifications", lambda: _notifications(sessions, settings)))]
    for thread in threads:
        thread.start()
    return threads


def _loop(name: str, step: Callable[[], float], stop: threading.Event) -> None:
    while not stop.is_set():
        try:
            delay = step()
        except (DBAPIError, psycopg.Error) as exc:
            log.warning("%s: database unavailable (%s); retrying", name, getattr(exc, "orig", exc))
            delay = 1.0
        except Exception:  # a bug here must not stop the worker's steps
            log.exception("%s: unexpected error", name)
            delay = 5.0
        stop.wait(delay)


class _Scheduler:
    """Submits due ticks, then sleeps until the next one (at most AA_HOUSEKEEPING_SECONDS)."""

    def __init__(self, sessions: sessionmaker[Session], settings: Settings) -> None:
        self.sessions, self.settings = sessions, settings
        self.next_purge = time.monotonic()

    def __call__(self) -> float:
        with transaction(self.sessions) as session:
            schedules.sync(session)
        schedules.run_due(self.sessions, self.settings, submit=intake.submit)
        if self.settings.retention_days is not None and time.monotonic() >= self.next_purge:
            retention.purge(self.sessions, days=self.settings.retention_days, batch=self.settings.retention_batch)
            self.next_purge = time.monotonic() + self.settings.retention_every_seconds
        with transaction(self.sessions) as session:
            until = session.execute(_UNTIL_NEXT_TICK).scalar()
        wait = self.settings.housekeeping_seconds
        return max(0.01, min(wait, float(until))) if until is not None else wait


def _notifications(sessions: sessionmaker[Session], settings: Settings) -> float:
    tried = notify.send_due(sessions, settings)
    return 0.0 if tried else settings.housekeeping_seconds
