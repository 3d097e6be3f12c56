"""`aa up`'s supervision: keep the web server and the workers running, restart a part that dies.

Each part is a child process in a process group of its own, so a Ctrl-C at the terminal reaches
only the supervisor, which decides: the first asks every part to stop (workers finish their
running steps), a second one — or the grace running out — kills them. Each child also gets
SIGTERM from the kernel if the supervisor itself dies (PR_SET_PDEATHSIG), so no part is orphaned.
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import signal
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field

log = logging.getLogger(__name__)

FIRST_BACKOFF_SECONDS = 1.0
MAX_BACKOFF_SECONDS = 30.0
STABLE_AFTER_SECONDS = 60.0  # a part that ran this long is healthy again: its backoff resets
_PR_SET_PDEATHSIG = 1


def die_with_parent() -> None:
    """In a child before exec: get SIGTERM when the parent dies (Linux; elsewhere nothing)."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)


@dataclass
class Part:
    """One supervised child: how to start it, and its restart history."""

    name: str
    start: Callable[[], subprocess.Popen]
    process: subprocess.Popen | None = None
    started_at: float = 0.0
    backoff: float = FIRST_BACKOFF_SECONDS
    restart_at: float | None = None
    restarts: int = field(default=0)

    def launch(self) -> None:
        self.process = self.start()
        self.started_at = time.monotonic()
        self.restart_at = None
        log.info("%s started (pid %d)", self.name, self.process.pid)

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None


def describe_exit(status: int) -> str:
    """'exited with status 3' or 'killed by SIGKILL'."""
    if status < 0:
        try:
            return f"killed by {signal.Signals(-status).name}"
        except ValueError:
            return f"killed by signal {-status}"
    return f"exited with status {status}"


class Supervisor:
    """Runs parts until asked to stop; a part that dies is restarted after a growing delay."""

    def __init__(self, parts: list[Part], *, grace_seconds: float,
                 running_steps: Callable[[list[int]], int | None] = lambda pids: None) -> None:
        self.parts = parts
        self.grace_seconds = grace_seconds
        self.running_steps = running_steps
        self._stops_asked = 0

    def run(self, on_started: Callable[[], None] = lambda: None) -> None:
        """Start every part, keep them up until SIGINT/SIGTERM, then stop them all."""
        previous = {s: signal.signal(s, self._ask_stop) for s in (signal.SIGINT, signal.SIGTERM)}
        try:
            for part in self.parts:
                part.launch()
            on_started()
            while not self._stops_asked:
                self._tend()
                time.sleep(0.2)
            self._stop_all()
        finally:
            for signum, handler in previous.items():
                signal.signal(signum, handler)

    def _ask_stop(self, _signum, _frame) -> None:
        self._stops_asked += 1
        if self._stops_asked > 1:
            print("forcing the stop", flush=True)

    def _tend(self) -> None:
        now = time.monotonic()
        for part in self.parts:
            if part.restart_at is not None:
                if now >= part.restart_at:
                    part.restarts += 1
                    part.launch()
                continue
            status = part.process.poll() if part.process else None
            if status is None:
                continue
            if now - part.started_at >= STABLE_AFTER_SECONDS:
                part.backoff = FIRST_BACKOFF_SECONDS
            log.warning("%s (pid %d) %s; restarting it in %.0f s", part.name, part.process.pid,
                        describe_exit(status), part.backoff)
            part.restart_at = now + part.backoff
            part.backoff = min(part.backoff * 2, MAX_BACKOFF_SECONDS)

    def _stop_all(self) -> None:
        live = [p for p in self.parts if p.running]
        workers = [p.process.pid for p in live if p.name.startswith("worker")]
        steps = self.running_steps(workers) if workers else 0
        waiting = f"{steps} running step{'s' if steps != 1 else ''}" if steps is not None else "running steps"
        print(f"stopping: waiting for {waiting} to finish (at most {self.grace_seconds:.0f} s; "
              "Ctrl-C again to force)", flush=True)
        for part in live:
            part.process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + self.grace_seconds
        while any(p.running for p in live) and time.monotonic() < deadline and self._stops_asked < 2:
            time.sleep(0.1)
        forced = [p for p in live if p.running]
        if forced:
            if self._stops_asked < 2:
                print(f"grace of {self.grace_seconds:.0f} s is over: forcing the stop", flush=True)
            for part in forced:
                log.warning("%s (pid %d) killed", part.name, part.process.pid)
                part.process.kill()
        for part in live:
            part.process.wait()
