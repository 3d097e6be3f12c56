"""The `local` backend: run an argv list as a child process in its own process group.

Its standard output and error come back through pipes, of which the last `log_limit` bytes are
kept: no log file is made and removed for every attempt (on this machine's ext4, two temporary
files cost more than the whole of a `true` step's database work), and a chatty program costs
bounded memory.
"""

from __future__ import annotations

import contextlib
import os
import select
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, BinaryIO, Protocol


class Spawn(Protocol):
    """Starts `argv` as Popen does with a new session and piped standard error; the process it
    returns may report its exit on an `exit_fd` instead of being this process's child."""

    def __call__(self, argv: list[str], *, cwd: str, env: dict[str, str], stdout: BinaryIO | None,
                 lifeline: int | None) -> Any: ...


class Guard(Protocol):
    lifeline: int  # a descriptor every program inherits: the worker's watchdog finds them by it

    def track(self, pgid: int) -> None: ...
    def untrack(self, pgid: int) -> None: ...


@dataclass(frozen=True)
class Captured:
    """The end of what a process wrote to one of its streams: at most the log limit, and the
    number of bytes it wrote in all."""

    tail: bytes = b""
    size: int = 0


@dataclass(frozen=True)
class ProcessResult:
    """How a child process ended, and the ends of its logs (`stdout` is empty when it went to a
    file of the caller's)."""

    exit_status: int | None
    timed_out: bool = False
    stopped: bool = False
    start_error: str | None = None
    stdout: Captured = Captured()
    stderr: Captured = Captured()


def run(
    argv: list[str],
    *,
    workdir: Path,
    env: dict[str, str] | None,
    stdout: BinaryIO | None = None,
    log_limit: int = 64 * 1024,
    timeout: float | None = None,
    grace: float = 5.0,
    stop: threading.Event | None = None,
    guard: Guard | None = None,
    spawn: Spawn | None = None,
) -> ProcessResult:
    """Run `argv` (never through a shell) and wait for it, its timeout, or `stop`. Its standard
    output goes to the file `stdout` if given; otherwise, like its standard error, it is captured
    (the last `log_limit` bytes of each).

    On timeout or stop the whole process group gets SIGTERM, then SIGKILL after `grace` seconds.
    `guard` is told the process group while it runs, and the program inherits its lifeline from
    its fork on (the worker's watchdog: see app.queue.watchdog). `spawn` starts the process in place
    of Popen (a warm Python step, forked in a session of its own as Popen's is, holding the lifeline).
    """
    lifeline = guard.lifeline if guard is not None else None
    try:
        if spawn is not None:
            process = spawn(argv, cwd=str(workdir), env=env if env is not None else dict(os.environ), stdout=stdout,
                            lifeline=lifeline)
        else:
            process = subprocess.Popen(  # noqa: S603 - argv list, no shell
                argv, cwd=workdir, env=env, stdout=stdout if stdout is not None else subprocess.PIPE,
                stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, start_new_session=True,
                pass_fds=(lifeline,) if lifeline is not None else (),
            )
    except OSError as exc:
        return ProcessResult(exit_status=None, start_error=exc.strerror or type(exc).__name__)
    if guard is not None:
        guard.track(process.pid)
    streams = {name: _Tail(pipe, log_limit) for name, pipe in
               (("stdout", process.stdout), ("stderr", process.stderr)) if pipe is not None}
    try:
        status = _wait(process, streams.values(), timeout=timeout, grace=grace, stop=stop)
    finally:
        for stream in streams.values():
            stream.close()
        if guard is not None:
            guard.untrack(process.pid)
    return replace(status, **{name: stream.captured() for name, stream in streams.items()})


def _wait(
    process: subprocess.Popen, streams: Iterable[_Tail], *, timeout: float | None, grace: float,
    stop: threading.Event | None,
) -> ProcessResult:
    deadline = time.monotonic() + timeout if timeout else None
    with _ExitWatch(process, streams) as exited:
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
                _kill_group(process, grace, exited)
                return ProcessResult(exit_status=_status(process.returncode), stopped=True)
            if deadline is not None and time.monotonic() >= deadline:
                _kill_group(process, grace, exited)
                return ProcessResult(exit_status=_status(process.returncode), timed_out=True)


_DRAIN_READS = 16  # reads of up to 64 KiB each: more than a pipe holds (64 KiB on Linux)


class _Tail:
    """Reads a pipe as it fills, keeping the last `limit` bytes."""

    def __init__(self, pipe: BinaryIO, limit: int) -> None:
        self.fd = pipe.fileno()
        self.pipe = pipe
        self.limit = limit
        self.data = bytearray()
        self.size = 0
        self.open = True

    def read(self) -> None:
        """Take what the pipe holds (call when it is readable); notes its end of file."""
        chunk = os.read(self.fd, 65536)
        if not chunk:
            self.open = False
            return
        self.size += len(chunk)
        self.data += chunk
        if len(self.data) > 2 * self.limit:
            del self.data[:len(self.data) - self.limit]

    def drain(self) -> None:
        """Take what is left once the process group is gone, without waiting for anyone: a
        process that escaped the group may hold the pipe open (and may go on writing: what the
        pipe held is read, not more)."""
        os.set_blocking(self.fd, False)
        with contextlib.suppress(BlockingIOError):
            for _ in range(_DRAIN_READS):
                if not self.open:
                    break
                self.read()

    def close(self) -> None:
        self.pipe.close()

    def captured(self) -> Captured:
        return Captured(bytes(self.data[len(self.data) - min(self.limit, len(self.data)):]), self.size)


class _ExitWatch:
    """Waits for a child's exit with a timeout, reading its output pipes meanwhile. With a pidfd
    (Linux) the wait ends the instant the child exits; Popen.wait(timeout) would poll with
    growing sleeps, costing up to milliseconds."""

    def __init__(self, process: subprocess.Popen, streams: Iterable[_Tail]) -> None:
        self.process = process
        self.streams = list(streams)
        self.pidfd: int | None = None

    def __enter__(self):
        exit_fd = getattr(self.process, "exit_fd", None)  # not our child: its parent reports its exit
        with contextlib.suppress(AttributeError, OSError):
            self.pidfd = os.dup(exit_fd) if exit_fd is not None else os.pidfd_open(self.process.pid)
        return self.exited

    def __exit__(self, *exc) -> None:
        if self.pidfd is not None:
            os.close(self.pidfd)
        for stream in self.streams:  # whatever way the wait ended, the group is gone by now
            stream.drain()

    def exited(self, timeout: float | None) -> bool:
        """Whether the child has exited, waiting up to `timeout` seconds (None: no limit)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            readers = [s for s in self.streams if s.open]
            watched = [s.fd for s in readers] + ([self.pidfd] if self.pidfd is not None else [])
            left = None if deadline is None else max(0.0, deadline - time.monotonic())
            if self.pidfd is None:  # no pidfd: look at the child every 50 ms
                left = 0.05 if left is None else min(left, 0.05)
            if watched:
                ready = _ready(watched, left)
            else:
                time.sleep(left)
                ready = []
            for stream in readers:
                if stream.fd in ready:
                    stream.read()
            if self.pidfd in ready if self.pidfd is not None else self.process.poll() is not None:
                return True
            if deadline is not None and time.monotonic() >= deadline:
                return False


def _ready(fds: list[int], timeout: float | None) -> list[int]:
    """The descriptors among `fds` that are readable (or at their end) within `timeout` seconds.
    poll, not select: a busy worker may hold more than select's 1,024 descriptors."""
    poller = select.poll()
    for fd in fds:
        poller.register(fd, select.POLLIN)
    return [fd for fd, _ in poller.poll(None if timeout is None else timeout * 1000)]


def _status(returncode: int | None) -> int | None:
    """Exit status as a shell reports it: 128 + N for death by signal N."""
    if returncode is None:
        return None
    return 128 - returncode if returncode < 0 else returncode


def _kill_group(process: subprocess.Popen, grace: float, exited: Callable[[float], bool]) -> None:
    """SIGTERM to the group, SIGKILL after `grace` seconds (its output is read meanwhile: a
    program flushing its logs as it ends must not block on a full pipe)."""
    for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, 5.0)):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, sig)
        if exited(wait):
            process.wait()
            break
    _kill_leftovers(process)


def _kill_leftovers(process: subprocess.Popen) -> None:
    """Processes a step left behind in its group (daemons, grandchildren) die with it."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGKILL)
