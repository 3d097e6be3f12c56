"""The production web server: waitress, in several processes sharing one listening socket.

Why waitress: it reads every request whole — headers and body, a large body spooled to a
temporary file — in its I/O thread before a request thread sees it, and buffers responses the same
way, so a client that trickles its request (or reads its answer slowly) costs a socket and some
memory, never a request thread. (gunicorn's threaded workers read requests in the request
threads: 64 trickling clients stalled the whole API.)

Threads: each process has `REQUEST_THREADS` for ordinary requests plus one per `?wait=` waiter it
admits (`max_waiters`, see app.services.finished); past that a wait is refused with 503 and
Retry-After (a POST is answered at once instead), so waiters can never take the threads that
answer everything else.

    python -m app.webserver --host H --port P [--processes N] [--max-waiters W]
"""

from __future__ import annotations

import argparse
import os
import resource
import signal
import socket
import subprocess
import sys
import time

REQUEST_THREADS = 16
MAX_WAITERS = 200  # per process; AA_MAX_WAITERS
CONNECTION_LIMIT = 2000  # open connections per process (slow ones included); more wait in the backlog
CHANNEL_TIMEOUT = 60  # seconds a connection may stay silent mid-request


def main(argv: list[str] | None = None) -> int:
    """Bind, then serve in this process (one process, or a child given --fd) or start the children."""
    args = _parser().parse_args(argv)
    if args.fd is not None:
        return _serve(socket.socket(fileno=args.fd), args.max_waiters)
    listener = _bind(args.host, args.port)
    if args.processes == 1:
        return _serve(listener, args.max_waiters)
    return _supervise(listener, args.processes, args.max_waiters)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m app.webserver")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--processes", type=int, default=2)
    parser.add_argument("--max-waiters", type=int, default=int(os.environ.get("AA_MAX_WAITERS") or MAX_WAITERS))
    parser.add_argument("--fd", type=int, default=None, help=argparse.SUPPRESS)
    return parser


def _bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    listener = socket.socket(family, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind((host, port))
    listener.listen(2048)
    return listener


def _serve(listener: socket.socket, max_waiters: int) -> int:
    """Serve the app on `listener` until SIGTERM or SIGINT."""
    _raise_file_limit()
    os.environ["AA_MAX_WAITERS"] = str(max_waiters)  # read by the app's waiter cap
    import waitress

    from app.wsgi import application

    settings = application.config["SETTINGS"]
    server = waitress.create_server(
        application, sockets=[listener], threads=REQUEST_THREADS + max_waiters,
        connection_limit=CONNECTION_LIMIT, channel_timeout=CHANNEL_TIMEOUT, asyncore_use_poll=True,
        # waitress refuses absurd bodies itself; the app answers the ordinary over-limit ones (413, JSON)
        max_request_body_size=2 * settings.max_upload_mb * 1024 * 1024 + 1024 * 1024,
        ident="analytics-automated", clear_untrusted_proxy_headers=True,
    )
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, _exit)
    server.run()  # returns on SystemExit, having stopped its threads (at most 5 s for running requests)
    return 0


def _exit(*_) -> None:
    raise SystemExit(0)


def _raise_file_limit() -> None:
    """Every connection is a descriptor: take the hard limit, as far as the connection limit needs."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = CONNECTION_LIMIT + 256
    if soft != resource.RLIM_INFINITY and soft < wanted:
        new = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
        resource.setrlimit(resource.RLIMIT_NOFILE, (new, hard))


def _supervise(listener: socket.socket, processes: int, max_waiters: int) -> int:
    """Start `processes` children on the listening socket; stop them all on a signal, or when one dies."""
    fd = listener.fileno()
    argv = [sys.executable, "-m", "app.webserver", "--fd", str(fd), "--max-waiters", str(max_waiters)]
    from app.supervisor import die_with_parent

    # A child outliving a killed parent would keep the port, and no restarted server could bind it.
    children = [subprocess.Popen(argv, pass_fds=(fd,), preexec_fn=die_with_parent)  # noqa: S603
                for _ in range(processes)]
    stopping = False

    def _stop(*_):
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    while not stopping and all(child.poll() is None for child in children):
        time.sleep(0.2)
    for child in children:
        if child.poll() is None:
            child.send_signal(signal.SIGTERM)
    for child in children:
        try:
            child.wait(20)
        except subprocess.TimeoutExpired:
            child.kill()
    return 0 if stopping else 1


if __name__ == "__main__":
    sys.exit(main())
