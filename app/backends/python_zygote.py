"""The warm interpreter ("zygote") a worker forks its Python steps from.

Run as a script by its path, with its control socket's descriptor (SOCK_SEQPACKET) and the
modules to preload as arguments: it imports them (NumPy and SciPy with the built-in analyses),
reports which files it loaded, then forks one child per request on the control socket. A request
carries the step's argv, working directory and environment, and three descriptors: a reply socket
and the step's standard output and error. The child makes its own session (so its process group is
the step's, as for a spawned program), takes those descriptors, and runs `python_child.main`; the
zygote answers `pid N` (PID_LINE bytes) on the reply socket at once and `exit N` (a Popen
returncode) when it has reaped the child. It runs no user code after its preloading, so a step
cannot reach it; it stops when the worker closes the control socket (or dies), once its children
are reported.
"""

from __future__ import annotations

import array
import atexit
import contextlib
import importlib
import importlib.util
import json
import os
import select
import signal
import socket
import sys
import sysconfig
from pathlib import Path

MAX_REQUEST = 1 << 18  # bytes of JSON: argv, directory, environment
PID_LINE = 15  # `pid %10d\n`: read whole, so that the exit line stays in the socket
_PASSED_FDS = (3, 4)  # reply socket, stdout, stderr, and the worker's lifeline if it has a watchdog
_python_child = None  # app.backends.python_child, loaded by its path (the app package is not imported)


def preload(modules: list[str]) -> list[str]:
    """Import what can be imported (a module that fails is left to each child to report)."""
    loaded = []
    for name in modules:
        try:
            importlib.import_module(name)
            loaded.append(name)
        except BaseException:  # noqa: BLE001, S112 - the step's own child reports the error
            continue
    return loaded


def watched_files() -> dict[str, int]:
    """mtimes of the loaded modules that can change under a running worker: the user's and the
    app's, not the standard library's nor the installed packages' (a reinstall needs a restart)."""
    paths = sysconfig.get_paths()
    fixed = tuple(str(Path(p).resolve()) + os.sep for p in {paths["stdlib"], paths["platstdlib"], paths["purelib"],
                                                           paths["platlib"]})
    files = {}
    for module in list(sys.modules.values()):
        name = getattr(module, "__file__", None)
        if not name or not name.endswith(".py"):
            continue
        path = str(Path(name).resolve())
        if path.startswith(fixed) or path == str(Path(__file__).resolve()):
            continue
        try:
            files[path] = os.stat(path).st_mtime_ns
        except OSError:
            continue
    return files


def serve(control: socket.socket) -> None:
    """Fork a child per request until the control socket closes and every child is reported."""
    wake_read, wake_write = os.pipe()
    os.set_blocking(wake_write, False)
    signal.set_wakeup_fd(wake_write)
    signal.signal(signal.SIGCHLD, lambda *_: None)  # a handler, so that SIGCHLD writes to the wake pipe
    replies: dict[int, socket.socket] = {}  # child pid -> its reply socket
    poller = select.poll()
    poller.register(control.fileno(), select.POLLIN)
    poller.register(wake_read, select.POLLIN)
    accepting = True
    while accepting or replies:
        for fd, _ in poller.poll():
            if fd == wake_read:
                os.read(wake_read, 4096)
            elif accepting and not _accept(control, replies, wake_read):
                accepting = False
                poller.unregister(control.fileno())
        _reap(replies)


def _accept(control: socket.socket, replies: dict[int, socket.socket], wake_read: int) -> bool:
    """Fork a child for one request; False when the control socket has closed."""
    fds = array.array("i")
    try:
        data, ancillary, _, _ = control.recvmsg(MAX_REQUEST, socket.CMSG_SPACE(max(_PASSED_FDS) * fds.itemsize))
    except OSError:
        return False
    for level, kind, payload in ancillary:
        if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
            fds.frombytes(payload[:len(payload) - len(payload) % fds.itemsize])
    if not data:
        for fd in fds:
            os.close(fd)
        return False
    if len(fds) not in _PASSED_FDS:
        for fd in fds:
            os.close(fd)
        return True
    reply_fd, out_fd, err_fd, *lifeline = fds
    reply = socket.socket(fileno=reply_fd)
    request = json.loads(data)
    pid = os.fork()
    if pid == 0:
        _child(request, out_fd, err_fd, lifeline[0] if lifeline else None)  # never returns
    for fd in (out_fd, err_fd, *lifeline):
        os.close(fd)
    replies[pid] = reply
    with contextlib.suppress(OSError):  # the worker gave up on it: the child runs on, its group the worker's to kill
        reply.sendall(f"pid {pid:10d}\n".encode())
    return True


def _reap(replies: dict[int, socket.socket]) -> None:
    while replies:
        try:
            pid, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return
        reply = replies.pop(pid, None)
        if reply is not None:
            with contextlib.suppress(OSError):
                reply.sendall(f"exit {os.waitstatus_to_exitcode(status)}\n".encode())
            reply.close()


def _child(request: dict, out_fd: int, err_fd: int, lifeline: int | None) -> None:
    """In the forked child: become the step's process, as a spawned interpreter would be."""
    code = 1
    try:
        os.setsid()
        signal.set_wakeup_fd(-1)
        for sig, handler in ((signal.SIGCHLD, signal.SIG_DFL), (signal.SIGTERM, signal.SIG_DFL),
                             (signal.SIGINT, signal.default_int_handler)):  # as a fresh interpreter has them
            signal.signal(sig, handler)
        null = os.open(os.devnull, os.O_RDONLY)
        for fd, target in ((null, 0), (out_fd, 1), (err_fd, 2), *([(lifeline, 3)] if lifeline is not None else [])):
            os.dup2(fd, target)  # the lifeline (held, never read): the worker's watchdog finds us by it
        first = 3 if lifeline is None else 4
        os.closerange(first, os.sysconf("SC_OPEN_MAX") if os.sysconf("SC_OPEN_MAX") > 0 else 4096)
        os.chdir(request["cwd"])
        argv, env = request["argv"], request["env"]
        if env.get("PYTHONPATH", "") != os.environ.get("PYTHONPATH", ""):
            # Modules would resolve elsewhere than they did in the zygote: start afresh instead.
            os.execve(argv[0], argv, env)  # noqa: S606 - our own argv: this interpreter, python_child
        os.environ.clear()
        os.environ.update(env)
        sys.argv = argv[1:]
        importlib.invalidate_caches()  # files added since the zygote started are found
        code = _python_child.main(argv[2:])
        atexit._run_exitfuncs()  # the user's, registered during the call, as at a normal exit
    except BaseException:  # noqa: BLE001 - whatever happens, the child ends here
        import traceback  # noqa: PLC0415

        traceback.print_exc()
    finally:
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(BaseException):  # a closed stream: nothing left to say
                stream.flush()
        os._exit(code)


def main(control_fd: int, modules: list[str]) -> None:
    # Only the worker's end matters: a Ctrl-C to the worker's group must not stop us early.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    global _python_child  # noqa: PLW0603 - loaded once, before any fork
    spec = importlib.util.spec_from_file_location("python_child", Path(__file__).with_name("python_child.py"))
    _python_child = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(_python_child)
    control = socket.socket(fileno=control_fd)
    loaded = preload(modules)
    control.sendall(json.dumps({"loaded": loaded, "files": watched_files()}).encode())
    serve(control)


if __name__ == "__main__":
    del sys.path[0]  # this file's folder, which is not the user's: their modules come by PYTHONPATH
    main(int(sys.argv[1]), sys.argv[2:])
