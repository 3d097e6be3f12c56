"""Raw Procrastinate: N chains of 3 no-op tasks, each deferring the next, run by Procrastinate's own
App and worker (PsycopgConnector) on a fresh database: the queue's own overhead.

`run` starts the workers as `python -c "...worker_main..." DSN CONCURRENCY` (not `-m`: Procrastinate
warns about an App defined in the __main__ module).
"""

from __future__ import annotations

import asyncio
import logging
import os
import subprocess
import sys
import threading
import time

import psycopg
from procrastinate import App, PsycopgConnector

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
    stop,
    wait_until,
)
from bench.fullstack import cpu_per_step, note_interference

QUEUE = "bench_raw"
STEPS = 3


def make_app(conninfo: str) -> App:
    app = App(connector=PsycopgConnector(conninfo=conninfo, min_size=1, max_size=10))

    @app.task(name="bench_t3", queue=QUEUE)
    async def t3(i: int) -> None:
        return None

    @app.task(name="bench_t2", queue=QUEUE)
    async def t2(i: int) -> None:
        await t3.defer_async(i=i)

    @app.task(name="bench_t1", queue=QUEUE)
    async def t1(i: int) -> None:
        await t2.defer_async(i=i)

    return app


def _count_done(connection: psycopg.Connection, low: int, high: int) -> int:
    return connection.execute(
        "SELECT count(*) FROM procrastinate_jobs WHERE task_name = 'bench_t3' AND status = 'succeeded'"
        " AND (args->>'i')::int BETWEEN %s AND %s", (low, high)).fetchone()[0]


async def _defer(app: App, ids: range) -> None:
    async with app.open_async():
        t1 = app.tasks["bench_t1"]
        for i in ids:
            await t1.defer_async(i=i)


def run(ctx: Context) -> dict[str, float]:
    logfile = ctx.logdir / "procrastinate-workers.log"
    with fresh_database(ctx.server_url, "procrastinate") as url:
        conninfo = dsn(url)
        app = make_app(conninfo)
        with app.open():
            app.schema_manager.apply_schema()
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))}
        code = "import sys; from bench.procrastinate_raw import worker_main; worker_main(sys.argv[1:])"
        argv = [sys.executable, "-c", code, conninfo, str(ctx.concurrency)]
        with output_to(logfile):
            workers = [subprocess.Popen(argv, cwd=REPO, env=env) for _ in range(ctx.workers)]  # noqa: S603
        try:
            with psycopg.connect(conninfo, autocommit=True) as connection:
                wait_until(lambda: connection.execute("SELECT count(*) FROM procrastinate_workers").fetchone()[0]
                           >= ctx.workers, 60, "the Procrastinate workers to register")
                asyncio.run(_defer(app, range(-3, 0)))  # warm-up chains
                wait_until(lambda: _count_done(connection, -3, -1) == 3, 60, "the warm-up chains")
                log(f"procrastinate: {ctx.n} chains × {STEPS} no-op tasks, {ctx.workers} workers × "
                    f"concurrency {ctx.concurrency}")
                meter = CpuMeter({"workers": [w.pid for w in workers]}, url)
                meter.start()
                client_cpu = time.process_time()
                started = time.perf_counter()
                sender = threading.Thread(target=asyncio.run, args=(_defer(app, range(1, ctx.n + 1)),), daemon=True)
                sender.start()
                done = follow_progress(ctx, lambda: _count_done(connection, 1, ctx.n), ctx.n, "procrastinate")
                elapsed = time.perf_counter() - started
                sender.join()
                cpu = {**meter.stop(), "client": time.process_time() - client_cpu}
        finally:
            for worker in workers:
                stop(worker)
            scan_logs(ctx, logfile, "procrastinate workers")
    usage = cpu_per_step(cpu, done * STEPS, elapsed)
    note_interference(ctx, "procrastinate", usage)
    log(f"procrastinate: {done * STEPS / elapsed:.1f} tasks/s ({elapsed:.1f} s)")
    return {"procrastinate_steps_per_s": done * STEPS / elapsed, "procrastinate_chains_per_s": done / elapsed,
            "procrastinate_complete": done, "procrastinate_elapsed_s": elapsed,
            **{f"procrastinate_{k}": v for k, v in usage.items()}}


def worker_main(args: list[str]) -> None:
    conninfo, concurrency = args[0], int(args[1])
    logging.basicConfig(level=logging.WARNING)
    make_app(conninfo).run_worker(queues=[QUEUE], concurrency=concurrency, install_signal_handlers=True)

