"""Starting the parts of the service: database, web server, workers, and all of them at once."""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy.orm import Session

from app.config import Settings
from app.db import make_engine, make_sessionmaker, transaction

log = logging.getLogger(__name__)
EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
_embedded = None  # keeps the embedded server's handle alive for this process


def database_url() -> str:
    """DATABASE_URL, else the embedded server (started if needed) — also exported to children."""
    global _embedded
    url = os.environ.get("DATABASE_URL")
    if not url:
        from app.embedded import start_embedded

        url, _embedded = start_embedded()
        os.environ["DATABASE_URL"] = url
    return url


@contextmanager
def session_scope() -> Iterator[Session]:
    engine = make_engine(database_url(), pool_size=1)
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
            catalog.load(session, catalog.read_file(config_file))
            return f"loaded {config_file}"
        if catalog.is_empty(session):
            catalog.load(session, example_config())
            return f"loaded the example jobs from {EXAMPLES}"
    return "kept the configuration already loaded"


def example_config() -> str:
    """Every example file, as one multi-document configuration."""
    from app.services import catalog

    return "\n---\n".join(catalog.read_file(p) for p in sorted(EXAMPLES.glob("*.yaml")))


def serve(url: str, *, host: str, port: int, processes: int = 2) -> subprocess.Popen:
    """Start gunicorn serving the app (threads, so `?wait=` does not block other clients)."""
    argv = [sys.executable, "-m", "gunicorn", "--bind", f"{host}:{port}", "--workers", str(processes),
            "--worker-class", "gthread", "--threads", "8", "--access-logfile", "-",
            "--graceful-timeout", "10", "--no-control-socket", "app.wsgi:application"]
    return subprocess.Popen(argv, env={**os.environ, "DATABASE_URL": url})  # noqa: S603


def spawn_worker(
    url: str, *, concurrency: int, queues: list[str] | None = None, env: dict[str, str] | None = None,
) -> subprocess.Popen:
    """Start `aa worker` as a child process."""
    argv = [sys.executable, "-m", "app", "worker", "--concurrency", str(concurrency)]
    if queues:
        argv += ["--queues", ",".join(queues)]
    return subprocess.Popen(argv, env={**os.environ, **(env or {}), "DATABASE_URL": url})  # noqa: S603


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


def up(*, config_file: Path | None, host: str, port: int, workers: int, concurrency: int) -> int:
    """Database, migrations, configuration, web server and workers; Ctrl-C stops them all.

    Returns the exit status: 0 after Ctrl-C or SIGTERM, 1 if a part stopped by itself.
    """
    from app import migrate

    url = database_url()
    migrate.upgrade(url)
    log.info(load_initial_config(config_file))
    children = [spawn_worker(url, concurrency=concurrency) for _ in range(workers)]
    children.append(serve(url, host=host, port=port))
    stopping = False

    def _stop(_signum, _frame):
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    print(f"Analytics Automated is running at http://{host}:{port}/api/jobs  "
          f"(documentation: http://{host}:{port}/api/docs; Ctrl-C stops)", flush=True)
    try:
        while not stopping and all(child.poll() is None for child in children):
            time.sleep(0.2)
    finally:
        for child in children:
            if child.poll() is None:
                child.send_signal(signal.SIGTERM)
        for child in children:
            try:
                child.wait(30)
            except subprocess.TimeoutExpired:
                child.kill()
    if not stopping:
        print("a part of the service stopped by itself (is the port free?); stopped the rest", flush=True)
        return 1
    print("stopped", flush=True)
    return 0
