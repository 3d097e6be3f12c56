"""The `local` backend: run an argv list as a child process in its own process group."""

from __future__ import annotations

import contextlib
import os
import select
import signal
import subprocess
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Protocol


class Guard(Protocol):
    def track(self, pgid: int) -> None: ...
    def untrack(self, pgid: int) -> None: ...


@dataclass(frozen=True)
class ProcessResult:
    """How a child process ended."""

    exit_status: int | None
    timed_out: bool = False
    stopped: bool = False
    start_error: str | None = None


def run(
    argv: list[str],
    *,
    workdir: Path,
    env: dict[str, str] | None,
    stdout: BinaryIO,
    stderr: BinaryIO,
    timeout: float | None = None,
    grace: float = 5.0,
    stop: threading.Event | None = None,
    guard: Guard | None = None,
) -> ProcessResult:
    """Run `argv` (never through a shell), its output going to the files `stdout` and `stderr`, and
    wait for it, its timeout, or `stop`.

    On timeout or stop the whole process group gets SIGTERM, then SIGKILL after `grace` seconds.
    `guard` is told the process group while it runs (the worker's watchdog).
    """
    try:
        process = subprocess.Popen(  # noqa: S603 - argv list, no shell
            argv, cwd=workdir, env=env, stdout=stdout, stderr=stderr,
            stdin=subprocess.DEVNULL, start_new_session=True,
        )
    except OSError as exc:
        return ProcessResult(exit_status=None, start_error=exc.strerror or type(exc).__name__)
    if guard is not None:
        guard.track(process.pid)
    try:
        return _wait(process, timeout=timeout, grace=grace, stop=stop)
    finally:
        if guard is not None:
            guard.untrack(process.pid)


def _wait(
    process: subprocess.Popen, *, timeout: float | None, grace: float, stop: threading.Event | None,
) -> ProcessResult:
    deadline = time.monotonic() + timeout if timeout else None
    with _ExitWatch(process) as exited:
        while True:
            wait = 0.2 if stop is not None else None
            if deadline is not None:
                remaining = max(0.0, deadline - time.monotonic())
                wait = remaining if wait is None else min(wait, remaining)
            if exited(wait):
                status = _status(process.wait())
                _kill_leftovers(process)
                return ProcessResult(exit_status=status)
            if stop is not None and stop.is_set():
                _kill_group(process, grace)
                return ProcessResult(exit_status=_status(process.returncode), stopped=True)
            if deadline is not None and time.monotonic() >= deadline:
                _kill_group(process, grace)
                return ProcessResult(exit_status=_status(process.returncode), timed_out=True)


class _ExitWatch:
    """Waits for a child's exit with a timeout. With a pidfd (Linux) the wait ends the instant the
    child exits; Popen.wait(timeout) would poll with growing sleeps, costing up to milliseconds."""

    def __init__(self, process: subprocess.Popen) -> None:
        self.process = process
        self.pidfd: int | None = None

    def __enter__(self):
        with contextlib.suppress(AttributeError, OSError):
            self.pidfd = os.pidfd_open(self.process.pid)
        return self.exited

    def __exit__(self, *exc) -> None:
        if self.pidfd is not None:
            os.close(self.pidfd)

    def exited(self, timeout: float | None) -> bool:
        if self.pidfd is None:
            try:
                self.process.wait(timeout)
                return True
            except subprocess.TimeoutExpired:
                return False
        return bool(select.select([self.pidfd], [], [], timeout)[0])


def _status(returncode: int | None) -> int | None:
    """Exit status as a shell reports it: 128 + N for death by signal N."""
    if returncode is None:
        return None
    return 128 - returncode if returncode < 0 else returncode


def _kill_group(process: subprocess.Popen, grace: float) -> None:
    for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, 5.0)):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, sig)
        try:
            process.wait(wait)
            break
        except subprocess.TimeoutExpired:
            continue
    _kill_leftovers(process)


def _kill_leftovers(process: subprocess.Popen) -> None:
    """Processes a step left behind in its group (daemons, grandchildren) die with it."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGKILL)
