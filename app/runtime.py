"""Starting the parts of the service: database, web server, workers, and all of them at once."""

from __future__ import annotations

import functools
import logging
import os
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import psycopg
from sqlalchemy.orm import Session

from app.config import Settings
from app.db import libpq_url, make_engine, make_sessionmaker, transaction
from app.errors import AppError

log = logging.getLogger(__name__)
EXAMPLES = Path(__file__).resolve().parent / "examples"  # inside the package, so a wheel has them
_embedded = None  # keeps the embedded server's handle alive for this process


def database_url(*, create: bool = True, join_running: bool = True) -> str:
    """The database to use, exported as DATABASE_URL to child processes.

    DATABASE_URL when set; else (`join_running`) the database of the `aa up` running for this
    user, so a second terminal never gets a second database; else the embedded server in
    AA_DATA_DIR or the user data dir, started if stopped — and made if none exists, when `create`.
    """
    global _embedded
    if os.environ.get("DATABASE_URL"):
        return os.environ["DATABASE_URL"]
    from app import embedded, running

    if join_running and not os.environ.get("AA_DATA_DIR"):
        services = running.services()
        if len(services) > 1:
            listed = ", ".join(f"{s.service_url} (pid {s.pid})" for s in services)
            raise AppError(f"several services are running ({listed}): say which database with DATABASE_URL")
        if services:
            os.environ["DATABASE_URL"] = services[0].database_url
            return services[0].database_url
    if not create and not embedded.exists():
        raise AppError(f"no database: no `aa up` is running and there is no embedded database in "
                       f"{embedded.data_dir()}. Start the service with `aa up`, or point at a database "
                       "with DATABASE_URL=postgresql://… (or AA_DATA_DIR=… for an embedded server's folder)")
    url, _embedded = embedded.start_embedded()
    os.environ["DATABASE_URL"] = url
    return url


@contextmanager
def session_scope() -> Iterator[Session]:
    """A transaction on the service's database; an admin command never makes a new one."""
    engine = make_engine(database_url(create=False), pool_size=1)
    try:
        with transaction(make_sessionmaker(engine)) as session:
            yield session
    finally:
        engine.dispose()


def load_initial_config(config_file: Path | None) -> str:
    """Load --config, or the examples when nothing is configured yet; say what was done."""
    from app.services import catalog

    with session_scope() as session:
        if config_file is not None:
            loaded = catalog.load_file(session, config_file, author="aa up")  # its folder importable
            return f"loaded {config_file} as version {loaded.version}: {', '.join(loaded.summary())}"
        if catalog.is_empty(session):
            loaded = catalog.load_version(session, example_config(), author="aa up (examples)")
            return f"loaded the example jobs from {EXAMPLES} as version {loaded.version}"
    return "kept the configuration already loaded"


def example_config() -> str:
    """Every example file, as one multi-document configuration."""
    from app.services import catalog

    return "\n---\n".join(catalog.read_file(p) for p in sorted(EXAMPLES.glob("*.yaml")))


def serve(url: str, *, host: str, port: int, processes: int = 2, **popen: Any) -> subprocess.Popen:
    """Start the web server (app.webserver: waitress in `processes` processes, which reads requests
    whole before they take a thread, so slow clients and `?wait=` waiters cannot stall the API)."""
    argv = [sys.executable, "-m", "app.webserver", "--host", host, "--port", str(port), "--processes", str(processes)]
    return subprocess.Popen(argv, env={**os.environ, "DATABASE_URL": url}, **popen)  # noqa: S603


def spawn_worker(
    url: str, *, concurrency: int, queues: list[str] | None = None, env: dict[str, str] | None = None,
    **popen: Any,
) -> subprocess.Popen:
    """Start `aa worker` as a child process."""
    argv = [sys.executable, "-m", "app", "worker", "--concurrency", str(concurrency)]
    if queues:
        argv += ["--queues", ",".join(queues)]
    return subprocess.Popen(argv, env={**os.environ, **(env or {}), "DATABASE_URL": url}, **popen)  # noqa: S603


def run_worker(url: str, *, queues: list[str], concurrency: int) -> None:
    """Run a worker in this process until SIGTERM or SIGINT."""
    from app.queue.worker import Worker

    settings = Settings.from_env()
    # The runner threads keep connections of their own (DirectConnection); the pool serves the
    # heartbeat, registering and unregistering.
    engine = make_engine(url, pool_size=2, max_overflow=2)
    worker = Worker(sessions=make_sessionmaker(engine), settings=settings, queues=queues, concurrency=concurrency)

    def _stop(signum, _frame):
        log.info("worker stopping (signal %d): finishing running steps", signum)
        worker.stop_event.set()
        worker.wakeup.notify(everyone=True)

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    worker.run_forever()
    engine.dispose()


def up(*, config_file: Path | None, host: str, port: int, workers: int, concurrency: int,
       grace_seconds: float = 30.0) -> int:
    """Database, migrations, configuration, web server and workers, supervised; Ctrl-C stops them all.

    Returns the exit status: 0 after Ctrl-C or SIGTERM.
    """
    from app import migrate, running
    from app.supervisor import Part, Supervisor, die_with_parent

    ensure_port_free(host, port)
    url = database_url(join_running=False)
    migrate.upgrade(url)
    log.info(load_initial_config(config_file))
    # Its own process group: a Ctrl-C at the terminal reaches only the supervisor, which decides.
    supervised = {"process_group": 0, "preexec_fn": die_with_parent}
    parts = [Part(f"worker {n + 1}", functools.partial(spawn_worker, url, concurrency=concurrency, **supervised))
             for n in range(workers)]
    parts.append(Part("web server", functools.partial(serve, url, host=host, port=port, **supervised)))
    supervisor = Supervisor(parts, grace_seconds=grace_seconds,
                            running_steps=functools.partial(running_steps, url))
    base = f"http://{host}:{port}"

    def announce() -> None:
        running.record(database_url=url, service_url=base)
        print(f"Analytics Automated is running at {base}/api/jobs  "
              f"(documentation: {base}/api/docs; Ctrl-C stops)", flush=True)

    try:
        supervisor.run(on_started=announce)
    finally:
        running.forget()
    print("stopped", flush=True)
    return 0


def ensure_port_free(host: str, port: int) -> None:
    """Refuse to start when something already listens on host:port (a second `aa up`?)."""
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as exc:
            raise AppError(f"cannot listen on {host}:{port} ({exc.strerror}): is the service already "
                           "running? Choose another port with --port") from None


def running_steps(url: str, worker_pids: list[int]) -> int | None:
    """How many steps the workers with these process ids are running (None if the database can't say)."""
    names = [f"{socket.gethostname()}:{pid}" for pid in worker_pids]
    try:
        with psycopg.connect(libpq_url(url), connect_timeout=3) as connection:
            return connection.execute(_RUNNING_STEPS, {"names": names}).fetchone()[0]
    except psycopg.Error:
        return None


_RUNNING_STEPS = """
SELECT count(*) FROM procrastinate_jobs j JOIN worker_info w ON w.worker_id = j.worker_id
WHERE j.status = 'doing' AND w.name = ANY(%(names)s)
"""
