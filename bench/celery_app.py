"""The architecture Analytics Automated replaces, reduced to its execution path: a Celery app on
Redis whose tasks spawn a program and update a submission status row in PostgreSQL, as the
predecessor's task runner did. Started by bench.celery_chain as `celery -A bench.celery_app worker`.

Configured from the environment: BENCH_REDIS_URL, BENCH_CELERY_QUEUE, BENCH_PG_DSN.
"""

from __future__ import annotations

import os
import shutil
import subprocess

import psycopg
from celery import Celery

app = Celery("bench", broker=os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/15"))
app.conf.update(
    task_default_queue=os.environ.get("BENCH_CELERY_QUEUE", "bench"),
    task_ignore_result=True,
    broker_connection_retry_on_startup=True,
    worker_hijack_root_logger=False,
    worker_redirect_stdouts=False,
)

TRUE = shutil.which("true") or "/bin/true"
STEPS = 3
_connection: psycopg.Connection | None = None


def _db() -> psycopg.Connection:
    """One connection per worker process, opened lazily (after the prefork fork)."""
    global _connection
    if _connection is None or _connection.closed:
        _connection = psycopg.connect(os.environ["BENCH_PG_DSN"], autocommit=True)
    return _connection


def run_step(row_id: int, number: int) -> None:
    """Mark the submission Running at this step, run the program, record the step as done."""
    db = _db()
    db.execute("UPDATE bench_status SET state = 'Running', step = %s, updated = now() WHERE id = %s",
               (number, row_id))
    subprocess.run([TRUE], check=True)  # noqa: S603
    state = "Complete" if number == STEPS else "Running"
    db.execute("UPDATE bench_status SET state = %s, done = %s, updated = now() WHERE id = %s",
               (state, number, row_id))


@app.task(name="bench.step1")
def step1(row_id: int) -> None:
    run_step(row_id, 1)


@app.task(name="bench.step2")
def step2(row_id: int) -> None:
    run_step(row_id, 2)


@app.task(name="bench.step3")
def step3(row_id: int) -> None:
    run_step(row_id, 3)
