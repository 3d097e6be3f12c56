"""The predecessor's stack: N Celery chains of 3 tasks on Redis, each task spawning `true` and
updating a status row in PostgreSQL (see bench.celery_app). Steps/s from first dispatch to the
last status row saying Complete."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
import uuid

import psycopg

from bench.common import (
    REPO,
    Context,
    CpuMeter,
    dsn,
    follow_progress,
    fresh_database,
    log,
    output_to,
    scan_logs,
    wait_until,
)
from bench.fullstack import cpu_per_step, note_interference

REDIS_URL = "redis://127.0.0.1:6379/15"
STEPS = 3


def redis_answers(url: str = REDIS_URL) -> bool:
    try:
        import redis
    except ImportError:
        return False
    try:
        return bool(redis.Redis.from_url(url, socket_connect_timeout=2).ping())
    except redis.RedisError:
        return False


def _start_worker(ctx: Context, env: dict[str, str], queue: str, concurrency: int, logfile) -> subprocess.Popen:
    argv = [sys.executable, "-m", "celery", "-A", "bench.celery_app", "worker", "--pool", "prefork",
            "--concurrency", str(concurrency), "--queues", queue, "--loglevel", "WARNING",
            "--without-gossip", "--without-mingle", "--without-heartbeat", "--hostname", f"{queue}@%h"]
    with output_to(logfile):
        return subprocess.Popen(argv, cwd=REPO, env=env, start_new_session=True)  # noqa: S603


def _stop_worker(process: subprocess.Popen) -> None:
    """Warm shutdown; then SIGKILL to the worker's own process group (its pool children)."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def _forget_queue(queue: str) -> None:
    import redis

    client = redis.Redis.from_url(REDIS_URL)
    for key in list(client.scan_iter(f"*{queue}*")):
        client.delete(key)


def run(ctx: Context) -> dict[str, float]:
    try:
        import celery  # noqa: F401
        import redis  # noqa: F401
    except ImportError as exc:
        raise RuntimeError("the Celery baseline needs `pip install 'celery>=5.3' 'redis>=5'`") from exc
    if not redis_answers():
        raise RuntimeError(f"Redis does not answer at {REDIS_URL}")
    queue = f"aa_bench_{uuid.uuid4().hex[:8]}"
    concurrency = ctx.workers * ctx.concurrency  # the same number of runners as our stack gets
    logfile = ctx.logdir / "celery-worker.log"
    with fresh_database(ctx.server_url, "celery") as url:
        with psycopg.connect(dsn(url), autocommit=True) as connection:
            connection.execute(
                "CREATE TABLE bench_status (id int PRIMARY KEY, state text NOT NULL, step int NOT NULL DEFAULT 0,"
                " done int NOT NULL DEFAULT 0, created timestamptz NOT NULL DEFAULT now(), updated timestamptz)"
            )
        env = {**os.environ, "BENCH_REDIS_URL": REDIS_URL, "BENCH_CELERY_QUEUE": queue, "BENCH_PG_DSN": dsn(url),
               "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))}
        os.environ.update({"BENCH_REDIS_URL": REDIS_URL, "BENCH_CELERY_QUEUE": queue})
        from celery import chain

        from bench import celery_app

        celery_app.app.conf.update(broker_url=REDIS_URL, task_default_queue=queue)
        worker = _start_worker(ctx, env, queue, concurrency, logfile)
        try:
            with psycopg.connect(dsn(url), autocommit=True) as connection:

                def submit(db: psycopg.Connection, row_id: int) -> None:
                    """What the predecessor's view did: store the submission, send its chain."""
                    db.execute("INSERT INTO bench_status (id, state) VALUES (%s, 'Submitted')", (row_id,))
                    chain(celery_app.step1.si(row_id), celery_app.step2.si(row_id),
                          celery_app.step3.si(row_id)).apply_async()

                def complete(low: int, high: int) -> int:
                    return connection.execute(
                        "SELECT count(*) FROM bench_status WHERE state = 'Complete' AND id BETWEEN %s AND %s",
                        (low, high)).fetchone()[0]

                for i in range(-3, 0):  # warm-up chains (also proves the worker is up)
                    submit(connection, i)
                wait_until(lambda: worker.poll() is None and complete(-3, -1) == 3, 120,
                           f"the Celery worker's warm-up chains (see {logfile})")
                log(f"celery: {ctx.n} chains × {STEPS} tasks, prefork concurrency {concurrency}")
                with psycopg.connect(dsn(url), autocommit=True) as dispatch:

                    def dispatch_all() -> None:
                        for i in range(1, ctx.n + 1):
                            submit(dispatch, i)

                    meter = CpuMeter({"workers": [worker.pid]}, url)
                    meter.start()
                    client_cpu = time.process_time()
                    started = time.perf_counter()
                    sender = threading.Thread(target=dispatch_all, daemon=True)
                    sender.start()
                    done = follow_progress(ctx, lambda: complete(1, ctx.n), ctx.n, "celery")
                    elapsed = time.perf_counter() - started
                    sender.join()
                    cpu = {**meter.stop(), "client": time.process_time() - client_cpu}
        finally:
            _stop_worker(worker)
            _forget_queue(queue)
            scan_logs(ctx, logfile, "celery worker")
    usage = cpu_per_step(cpu, done * STEPS, elapsed)
    note_interference(ctx, "celery (Redis counts as other here)", usage, allowed=0.5)
    log(f"celery: {done * STEPS / elapsed:.1f} steps/s ({elapsed:.1f} s)")
    return {"celery_steps_per_s": done * STEPS / elapsed, "celery_chains_per_s": done / elapsed,
            "celery_complete": done, "celery_elapsed_s": elapsed, "celery_concurrency": concurrency,
            **{f"celery_{k}": v for k, v in usage.items()}}
