"""Kills a dead worker's step processes.

Each worker starts one watchdog and tells it, through a pipe, which process groups its steps
run in. If the worker dies (even by SIGKILL) the pipe closes; the watchdog then kills every group
still registered, so no orphaned step keeps running.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading


class Watchdog:
    """The worker's side: start the watchdog and register process groups with it."""

    def __init__(self) -> None:
        self._process = subprocess.Popen(  # noqa: S603 - fixed argv
            [sys.executable, "-m", "app.queue.watchdog"], stdin=subprocess.PIPE, text=True,
        )
        self._lock = threading.Lock()

    def track(self, pgid: int) -> None:
        self._send(f"+{pgid}")

    def untrack(self, pgid: int) -> None:
        self._send(f"-{pgid}")

    def close(self) -> None:
        with self._lock, contextlib.suppress(OSError):
            self._process.stdin.close()
        with contextlib.suppress(subprocess.TimeoutExpired):
            self._process.wait(5)

    def _send(self, line: str) -> None:
        with self._lock, contextlib.suppress(OSError, ValueError):
            self._process.stdin.write(line + "\n")
            self._process.stdin.flush()


def main() -> None:
    # Outlive a Ctrl-C or SIGTERM sent to the worker's group: only the worker's end matters.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    groups: set[int] = set()
    for line in sys.stdin:
        sign, number = line[:1], line[1:].strip()
        if number.isdigit():
            (groups.add if sign == "+" else groups.discard)(int(number))
    for pgid in groups:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pgid, signal.SIGKILL)


if __name__ == "__main__":
    main()
