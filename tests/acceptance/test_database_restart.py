"""PostgreSQL restarted while submissions run: web and workers reconnect, every submission ends."""

from __future__ import annotations

import subprocess
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import requests
from sqlalchemy import text

from app import migrate, runtime
from app.db import make_engine, make_sessionmaker, transaction
from app.embedded import start_embedded
from app.services import catalog
from tests.acceptance.conftest import free_port, stop, wait_healthy

CONFIG = """
version: 1
backends: [{name: local, type: local}]
tasks:
  - {name: nap, backend: local, executable: "sleep 0.3", in_globs: [".txt"]}
  - {name: nap2, backend: local, executable: "sleep 0.3", in_globs: [".txt"]}
  - {name: nap3, backend: local, executable: "sleep 0.3", in_globs: [".txt"]}
jobs:
  - {name: three, steps: [{task: nap}, {task: nap2}, {task: nap3}]}
"""


@pytest.fixture
def pg_home():
    """A folder of its own in the system temp dir: pytest resets its own base folder to mode 0700
    whenever another session starts, and the server (not root) must traverse the path."""
    with tempfile.TemporaryDirectory(prefix="aa-restart-") as folder:
        yield Path(folder)


@pytest.mark.slow
def test_database_restart_mid_run(pg_home):
    url, server = start_embedded(pg_home / "pgdata", cleanup="delete")
    processes = []
    try:
        migrate.upgrade(url)
        engine = make_engine(url, pool_size=2)
        with transaction(make_sessionmaker(engine)) as session:
            catalog.load(session, CONFIG)
        port = free_port()
        web = runtime.serve(url, host="127.0.0.1", port=port, processes=1)
        processes.append(web)
        settings = {"AA_HEARTBEAT_SECONDS": "0.5", "AA_STALLED_AFTER_SECONDS": "3", "AA_POLL_SECONDS": "0.5"}
        processes += [runtime.spawn_worker(url, concurrency=3, env=settings) for _ in range(2)]
        base = f"http://127.0.0.1:{port}"
        wait_healthy(base, web)

        def submit(i):
            response = requests.post(f"{base}/api/submissions", data={"job": "three"},
                                     files={"input_data": (f"{i}.txt", "x")}, timeout=30)
            assert response.status_code == 201, response.text
            return response.json()["id"]

        with ThreadPoolExecutor(8) as pool:
            ids = list(pool.map(submit, range(24)))
        time.sleep(1.0)  # steps are running now
        server._stop()  # pg_ctl stop (fast): every connection is cut
        _wait_gone(pg_home / "pgdata" / "postmaster.pid")
        time.sleep(3.0)
        assert requests.get(f"{base}/api/health", timeout=10).status_code == 503
        _start_again(server, pg_home / "pgdata")
        deadline = time.monotonic() + 90
        while True:
            try:
                with engine.connect() as connection:
                    states = connection.execute(text(
                        "SELECT state, count(*) FROM submissions GROUP BY state")).all()
            except Exception:  # noqa: BLE001 - the server is still starting
                states = []
            if dict(states).get("Complete") == len(ids):
                break
            assert time.monotonic() < deadline, f"not all submissions completed: {states}"
            time.sleep(0.5)
        with engine.connect() as connection:
            assert connection.execute(text("SELECT count(*) FROM steps WHERE attempts <> 1")).scalar() == 0
            assert connection.execute(text("SELECT count(*) FROM attempts")).scalar() == 3 * len(ids)
            assert connection.execute(text("SELECT count(*) FROM procrastinate_jobs")).scalar() == 0
        assert requests.get(f"{base}/api/health", timeout=10).status_code == 200
        engine.dispose()
    finally:
        for process in processes:
            stop(process)
        server.cleanup()


def _wait_gone(pid_file, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while pid_file.exists():
        assert time.monotonic() < deadline, "PostgreSQL did not stop"
        time.sleep(0.1)


def _start_again(server, pgdata, tries: int = 3) -> None:
    """Start the stopped server (on a loaded machine pg_ctl has been seen to fail once: retry)."""
    for attempt in range(tries):
        try:
            server.ensure_postgres_running()
            return
        except subprocess.CalledProcessError:
            log = pgdata / "log"
            print(log.read_text()[-2000:] if log.exists() else "no server log")
            if attempt == tries - 1:
                raise
            time.sleep(2)
