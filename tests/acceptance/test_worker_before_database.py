"""A worker started while PostgreSQL is down waits for it, saying so, and then runs steps."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
import requests

from app import migrate, runtime
from app.db import make_engine, make_sessionmaker, transaction
from app.embedded import start_embedded
from app.services import catalog
from tests.acceptance.conftest import free_port, stop, wait_healthy
from tests.acceptance.test_database_restart import _start_again, _wait_gone

CONFIG = """
version: 1
backends: [{name: local, type: local}]
tasks:
  - {name: words, backend: local, executable: "wc -w $I1", in_globs: [".txt"], stdout_glob: ".count"}
jobs:
  - {name: count_words, steps: [{task: words}]}
"""


@pytest.fixture
def pg_home():
    """A folder of its own for the server's data (see test_database_restart.pg_home for why)."""
    with tempfile.TemporaryDirectory(prefix="aa-before-db-") as folder:
        yield Path(folder)


@pytest.mark.slow
def test_worker_started_before_the_database_waits_for_it(pg_home, tmp_path):
    url, server = start_embedded(pg_home / "pgdata", cleanup="delete")
    processes = []
    try:
        migrate.upgrade(url)
        engine = make_engine(url, pool_size=1)
        with transaction(make_sessionmaker(engine)) as session:
            catalog.load(session, CONFIG)
        engine.dispose()
        server._stop()
        _wait_gone(pg_home / "pgdata" / "postmaster.pid")

        with (tmp_path / "worker.log").open("w") as log:
            worker = subprocess.Popen([sys.executable, "-m", "app", "worker", "--concurrency", "1"],  # noqa: S603
                                      env={**os.environ, "DATABASE_URL": url, "AA_POLL_SECONDS": "0.5"}, stderr=log)
        processes.append(worker)
        deadline = time.monotonic() + 60
        while (tmp_path / "worker.log").read_text().count("the database is not reachable") < 2:
            assert worker.poll() is None, "the worker exited instead of waiting for the database"
            assert time.monotonic() < deadline, "the worker did not say it waits for the database"
            time.sleep(0.1)

        _start_again(server, pg_home / "pgdata")
        port = free_port()
        web = runtime.serve(url, host="127.0.0.1", port=port, processes=1)
        processes.append(web)
        base = f"http://127.0.0.1:{port}"
        wait_healthy(base, web)
        response = requests.post(f"{base}/api/submissions?wait=60", data={"job": "count_words"},
                                 files={"input_data": ("a.txt", "one two three")}, timeout=90)
        assert response.status_code == 201, response.text
        body = response.json()
        assert body["state"] == "Complete", body
        assert worker.poll() is None
        text = (tmp_path / "worker.log").read_text()
        assert "Traceback" not in text
    finally:
        for process in processes:
            stop(process)
        server.cleanup()
