"""Kills a dead worker's step processes, however the worker died.

Each worker starts one watchdog, in a session of its own: a SIGKILL of the worker's process group
(what systemd, a container runtime or a cgroup OOM kill sends) does not reach it. The worker tells
it, through a pipe, which process groups its steps run in; when the worker dies the pipe closes,
and the watchdog kills those groups and every process of their sessions.

A step is told to the watchdog only after `Popen` returns, and the worker may die in between. So
every step program also inherits the worker's *lifeline*, a descriptor of a pipe unique to the
worker, from the instant of its fork: the watchdog finds the processes that hold it (in /proc) and
kills them with their groups and sessions, whether or not they were told. (`PR_SET_PDEATHSIG`
would need code between fork and exec, `preexec_fn`, which makes Python fork the whole worker
instead of using vfork: ten times the cost of a spawn. A child subreaper must be an ancestor of the
steps, which a process that outlives the worker cannot be. Cgroups are rarely writable.)

What still escapes: a program that leaves its session (setsid) and closes its inherited descriptors,
a daemon; only a cgroup (systemd's, a container's) holds that.

This file runs as a script (`python -I -S watchdog.py`): it imports nothing but the standard library.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator

log = logging.getLogger(__name__)


class Watchdog:
    """The worker's side: start the watchdog, register process groups with it, and hand its
    lifeline to every program the worker starts (`pass_fds=(watchdog.lifeline,)`)."""

    def __init__(self) -> None:
        read_end, write_end = os.pipe()
        os.close(write_end)  # nothing is ever sent on it: it is only held
        self.lifeline = read_end
        self._groups: set[int] = set()
        self._lock = threading.Lock()
        self._process = self._start()

    def _start(self) -> subprocess.Popen:
        argv = [sys.executable, "-I", "-S", os.path.abspath(__file__), f"pipe:[{os.fstat(self.lifeline).st_ino}]",
                str(os.getpid()), str(os.getsid(0)), str(os.getpgid(0))]
        return subprocess.Popen(argv, stdin=subprocess.PIPE, start_new_session=True)  # noqa: S603 - fixed argv

    def track(self, pgid: int) -> None:
        """Kill the group `pgid` (and its session) should this worker die."""
        with self._lock:
            self._groups.add(pgid)
            self._send(f"+{pgid}\n")

    def untrack(self, pgid: int) -> None:
        with self._lock:
            self._groups.discard(pgid)
            self._send(f"-{pgid}\n")

    def close(self) -> None:
        """Stop the watchdog (the worker's steps have ended: nothing is left to kill)."""
        with self._lock:
            with contextlib.suppress(OSError):
                os.close(self.lifeline)
            with contextlib.suppress(OSError):
                self._process.stdin.close()
        with contextlib.suppress(subprocess.TimeoutExpired):
            self._process.wait(5)

    def _send(self, line: str) -> None:
        # One write() of a short line: atomic on a pipe, no buffer to flush.
        try:
            os.write(self._process.stdin.fileno(), line.encode())
        except (OSError, ValueError):  # the watchdog died (killed on its own): start another
            log.warning("the watchdog (pid %s) is gone; starting another", self._process.pid)
            with contextlib.suppress(OSError):
                self._process.stdin.close()
            self._process.wait()
            self._process = self._start()
            if self._groups:  # the line being sent is among them, or was an untrack
                os.write(self._process.stdin.fileno(), "".join(f"+{g}\n" for g in self._groups).encode())


def main(lifeline: str, worker: int, worker_session: int, worker_group: int) -> None:
    # Outlive a Ctrl-C, SIGTERM or hang-up meant for the worker: only the worker's end matters.
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, signal.SIG_IGN)
    groups: set[int] = set()
    for line in sys.stdin.buffer:
        sign, number = line[:1], line[1:].strip()
        if number.isdigit():
            (groups.add if sign == b"+" else groups.discard)(int(number))
    reap(groups, lifeline, spared={os.getpid(), worker}, spared_session=worker_session, spared_group=worker_group)


def reap(groups: set[int], lifeline: str, *, spared: set[int], spared_session: int, spared_group: int) -> int:
    """SIGKILL the `groups`, the holders of `lifeline`, and every process in their groups and
    sessions (never the worker's own group or session); return how many processes were signalled."""
    doomed_groups = groups - {spared_group}
    doomed_sessions = groups - {spared_session}  # a step leads its own session and group
    for pgid in doomed_groups:
        with contextlib.suppress(OSError):
            os.killpg(pgid, signal.SIGKILL)
    signalled: set[int] = set()
    # Again until a pass finds nobody new: a process may fork while the last pass ran.
    for _ in range(20):
        fresh = 0
        for pid, group, session, holds in _processes(lifeline):
            if pid in spared or pid in signalled:
                continue
            if holds:
                doomed_groups |= {group} - {spared_group}
                doomed_sessions |= {session} - {spared_session}
            if holds or group in doomed_groups or session in doomed_sessions:
                with contextlib.suppress(OSError):
                    os.kill(pid, signal.SIGKILL)
                signalled.add(pid)
                fresh += 1
        if not fresh:
            break
        time.sleep(0.02)
    return len(signalled)


def _processes(lifeline: str) -> Iterator[tuple[int, int, int, bool]]:
    """(pid, process group, session, holds `lifeline`) of every living process (Linux /proc)."""
    try:
        names = os.listdir("/proc")
    except OSError:  # no /proc: only the groups the worker told are killed
        return
    for name in names:
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat", "rb") as handle:
                fields = handle.read().rsplit(b")", 1)[1].split()
        except OSError:
            continue
        if fields[0] in (b"Z", b"X"):  # dead already, waiting to be reaped
            continue
        yield int(name), int(fields[2]), int(fields[3]), _holds(name, lifeline)


def _holds(pid: str, lifeline: str) -> bool:
    try:
        descriptors = os.listdir(f"/proc/{pid}/fd")
    except OSError:  # another user's process, or gone
        return False
    for fd in descriptors:
        with contextlib.suppress(OSError):
            if os.readlink(f"/proc/{pid}/fd/{fd}") == lifeline:
                return True
    return False


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]))
