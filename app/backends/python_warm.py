"""The worker's side of warm Python steps: one zygote per worker process, forking each step.

A cold Python step starts an interpreter and imports its task's module (NumPy and SciPy take half
a second); forked from a zygote that has imported them, it starts in about a millisecond. Each
step is still its own process in its own process group, so `local.run` waits for it, times it out,
stops it and registers it with the watchdog exactly as a spawned program.

The zygote preloads the modules of the tasks this worker has run: a step whose module it has not
loaded waits for a zygote that has. Before each fork the files the zygote loaded from outside the
installed packages are checked: if one changed, the zygote is rebuilt first, so an edited module or
a new configuration is picked up without restarting the worker. A module that fails to load in a
zygote is imported by each step's child (which reports the error); when no zygote can start, steps
start cold, as before.
"""

from __future__ import annotations

import array
import contextlib
import json
import logging
import os
import socket
import subprocess
import sys
import threading
import time
from typing import BinaryIO

from app.backends import python, python_zygote

log = logging.getLogger(__name__)

START_TIMEOUT = 120.0  # seconds for a zygote to import its modules
# The zygote's own environment: what an interpreter needs, none of the service's settings.
_KEPT = ("PATH", "HOME", "LANG", "LC_ALL", "LC_CTYPE", "TMPDIR", "TZ", "USER", "LOGNAME")
_THREADS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


class ZygoteError(Exception):
    """The zygote could not start or fork this step (it starts cold instead)."""


class WarmProcess:
    """A forked step, shaped as the part of `subprocess.Popen` that `local.run` uses. Its exit is
    reported on `exit_fd` (the zygote, its parent, reaps it), which `local.run` watches."""

    def __init__(self, pid: int, reply: socket.socket, stdout: BinaryIO | None, stderr: BinaryIO) -> None:
        self.pid = pid
        self.returncode: int | None = None
        self.stdout = stdout
        self.stderr = stderr
        self.exit_fd = reply.fileno()
        self._reply = reply
        self._done = False

    def wait(self, timeout: float | None = None) -> int | None:
        """The exit status (a Popen returncode); None if the zygote died before reporting it."""
        if self._done:
            return self.returncode
        self._reply.settimeout(timeout)
        data = b""
        with contextlib.suppress(OSError):
            while not data.endswith(b"\n"):
                chunk = self._reply.recv(64)
                if not chunk:
                    break
                data += chunk
        self._done = True
        self._reply.close()
        if data.startswith(b"exit "):
            self.returncode = int(data[5:])
        else:
            log.warning("the zygote of step process %s ended before reporting its exit", self.pid)
        return self.returncode

    def poll(self) -> int | None:
        return self.returncode


class Zygote:
    """One zygote process and its control socket."""

    def __init__(self, modules: list[str], pythonpath: str) -> None:
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        env = {k: v for k, v in os.environ.items() if k in _KEPT or k in _THREADS}
        env["PYTHONPATH"] = pythonpath
        try:
            self.process = subprocess.Popen(  # noqa: S603 - fixed argv: this interpreter, our script
                [sys.executable, python_zygote.__file__, str(theirs.fileno()), *modules],
                pass_fds=(theirs.fileno(),), env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
            )
        finally:
            theirs.close()
        self.control = ours
        self.modules = frozenset(modules)
        self.pythonpath = pythonpath
        ours.settimeout(START_TIMEOUT)
        try:
            hello = json.loads(ours.recv(python_zygote.MAX_REQUEST) or b"null")
        except (OSError, ValueError):
            hello = None
        finally:
            ours.settimeout(None)
        if not isinstance(hello, dict):
            self.close()
            raise ZygoteError("the zygote did not start")
        self.files: dict[str, int] = hello["files"]

    def stale(self) -> bool:
        """Whether the zygote died or a file it loaded has changed since."""
        if self.process.poll() is not None:
            return True
        for path, mtime in self.files.items():
            try:
                if os.stat(path).st_mtime_ns != mtime:
                    return True
            except OSError:
                return True
        return False

    def spawn(
        self, argv: list[str], *, cwd: str, env: dict[str, str], stdout: BinaryIO | None, lifeline: int | None = None,
    ) -> WarmProcess:
        """Fork a child that runs the step `argv` describes (python_child's arguments), holding the
        worker's `lifeline` (see app.queue.watchdog) from its fork on."""
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        err_read, err_write = os.pipe()
        out_read, out_write = os.pipe() if stdout is None else (None, os.dup(stdout.fileno()))
        forked = False
        try:
            request = json.dumps({"argv": argv, "cwd": cwd, "env": env}).encode()
            passed = [theirs.fileno(), out_write, err_write] + ([lifeline] if lifeline is not None else [])
            fds = array.array("i", passed)
            self.control.sendmsg([request], [(socket.SOL_SOCKET, socket.SCM_RIGHTS, fds)])
            forked = True  # as far as we know: the zygote has the request
            line = self._confirmation(ours)
            if line is None:  # it died unread: the request died with it
                forked = False
                raise ZygoteError("the zygote died")
            if not line.startswith(b"pid "):
                raise ZygoteError("the zygote did not confirm the step's start")
        except (OSError, ZygoteError) as exc:
            for fd in (err_read, out_read):
                if fd is not None:
                    os.close(fd)
            ours.close()
            if forked:  # it may run: starting it cold as well could run it twice
                raise OSError(f"the zygote did not confirm the step's start ({exc})") from exc
            raise ZygoteError(str(exc)) from exc
        finally:
            theirs.close()
            os.close(err_write)
            os.close(out_write)
        return WarmProcess(int(line[4:]), ours, None if out_read is None else open(out_read, "rb", buffering=0),  # noqa: SIM115
                           open(err_read, "rb", buffering=0))  # noqa: SIM115 - closed by local.run

    def _confirmation(self, reply: socket.socket) -> bytes | None:
        """The zygote's `pid N` line; None if the zygote has died without sending it."""
        deadline = time.monotonic() + START_TIMEOUT
        reply.settimeout(0.5)
        try:
            while time.monotonic() < deadline:
                try:
                    return reply.recv(python_zygote.PID_LINE, socket.MSG_WAITALL)
                except TimeoutError:
                    if self.process.poll() is not None:
                        return None
            raise TimeoutError("no answer from the zygote")
        finally:
            reply.settimeout(None)

    def close(self) -> None:
        """Stop taking steps; the zygote ends once its running children are reported."""
        with contextlib.suppress(OSError):
            self.control.close()


class WarmPool:
    """This process's zygote: built, checked and replaced as steps ask for modules."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._zygote: Zygote | None = None
        self._wanted: set[str] = set()
        self._changed = threading.Condition(self._lock)
        self._building = False
        self._failed: set[tuple[frozenset[str], str]] = set()
        self._retired: list[Zygote] = []

    def spawn(
        self, argv: list[str], *, cwd: str, env: dict[str, str], stdout: BinaryIO | None, lifeline: int | None = None,
    ):
        """The step's process: forked from the zygote, or spawned cold when it cannot be."""
        zygote = self._ready(argv[2].partition(":")[0], env.get("PYTHONPATH", ""))
        if zygote is not None:
            try:
                return zygote.spawn(argv, cwd=cwd, env=env, stdout=stdout, lifeline=lifeline)
            except ZygoteError as exc:  # the request never reached it: nothing started
                log.warning("warm start failed (%s); starting the step cold", exc)
                self._discard(zygote)
            except OSError:  # it may have started: the step fails to start rather than run twice
                self._discard(zygote)
                raise
        return subprocess.Popen(  # noqa: S603 - argv list, no shell
            python.params_to_file(argv, cwd), cwd=cwd, env=env,
            stdout=stdout if stdout is not None else subprocess.PIPE, stderr=subprocess.PIPE,
            stdin=subprocess.DEVNULL, start_new_session=True, pass_fds=(lifeline,) if lifeline is not None else (),
        )

    def _ready(self, module: str, pythonpath: str) -> Zygote | None:
        """The zygote to fork from, built (or rebuilt) first if need be. Steps wait for the build
        rather than start cold meanwhile: a build costs about one cold start, and runners that
        all started cold would pay one each."""
        deadline = time.monotonic() + START_TIMEOUT
        with self._changed:
            while True:
                self._retired = [z for z in self._retired if z.process.poll() is None]
                zygote = self._zygote
                if zygote is not None and (zygote.pythonpath != pythonpath or zygote.stale()):
                    self._retire(zygote)
                    zygote = None
                self._wanted.add(module)
                key = (frozenset(self._wanted), pythonpath)
                if zygote is not None and module in zygote.modules or key in self._failed:
                    return zygote  # without the module (it failed to load there), its child imports it
                if not self._building:
                    break
                left = deadline - time.monotonic()
                if left <= 0:
                    return zygote
                self._changed.wait(left)
            self._building = True
        # Built outside the lock: steps of modules the current zygote has go on forking meanwhile.
        built = None
        try:
            built = Zygote(sorted(key[0]), pythonpath)
        except (OSError, ZygoteError) as exc:
            log.warning("could not start a zygote for Python steps (%s); they start cold", exc)
        with self._changed:
            self._building = False
            if built is None:
                self._failed.add(key)  # not tried again for the same modules
            else:
                if self._zygote is not None:
                    self._retire(self._zygote)
                self._zygote = built
            self._changed.notify_all()
            return built if built is not None else self._zygote

    def _retire(self, zygote: Zygote) -> None:
        zygote.close()
        self._retired.append(zygote)
        if self._zygote is zygote:
            self._zygote = None

    def _discard(self, zygote: Zygote) -> None:
        with self._lock:
            self._retire(zygote)

    def close(self) -> None:
        """Close every zygote (each ends once its children are reported)."""
        with self._lock:
            if self._zygote is not None:
                self._retire(self._zygote)


_pool = WarmPool()


def spawn(argv: list[str], *, cwd: str, env: dict[str, str], stdout: BinaryIO | None, lifeline: int | None = None):
    """Start a Python step's process from this process's zygote (see WarmPool.spawn)."""
    return _pool.spawn(argv, cwd=cwd, env=env, stdout=stdout, lifeline=lifeline)
