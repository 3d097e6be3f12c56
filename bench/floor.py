"""The floor: what a pipeline step costs in CPU, part by part, each part alone.

Each part runs single-threaded in this process, on a fresh database, with nothing else running:

- the program: `app.services.execution.execute` of the no-op job's `true` step (a working
  directory, a process group, pipes, the wait), the worker's CPU and the program's;
- queue and state: the claim and the record of each step (`app.queue.steps`, on a connection
  set up as the worker's are), the program left out: the worker's CPU and its backend's;
- intake: POST /api/submissions through the Flask app in this process, with no HTTP server:
  the app's CPU and its backends'.

Their sum is CPU that a step of this design cannot do without. `cores / sum` is the throughput
the machine would reach if the parts cost no more together than apart; they cost more (contention
for two cores, the HTTP server, the load generator), so the full stack stays below it. A
throughput target above this bound is out of the design's reach on this machine.
"""

from __future__ import annotations

import os
import socket
import threading

import psycopg

from bench.common import NOOP_JOB, NOOP_STEPS, Context, CpuMeter, dsn, fresh_database, log, prepare_ours


def run(ctx: Context) -> dict[str, float]:
    with fresh_database(ctx.server_url, "floor") as url:
        prepare_ours(url)
        program, program_children = _program(url, ctx.n * NOOP_STEPS)
        intake, intake_backends = _intake(url, ctx.n)
        queue, queue_backends = _queue_and_state(url, ctx.n)
    per_step = {
        "program": program_children, "spawn": program, "queue": queue, "queue_postgres": queue_backends,
        "intake": intake / NOOP_STEPS, "intake_postgres": intake_backends / NOOP_STEPS,
    }
    total = sum(per_step.values())
    if total <= 0:
        raise RuntimeError(f"too few submissions ({ctx.n}) for /proc's CPU ticks to measure")
    cores = os.cpu_count() or 1
    log(f"floor: {total:.2f} CPU ms per step, at most {cores * 1000 / total:,.0f} steps/s on {cores} cores")
    return {**{f"floor_cpu_ms_{name}": value for name, value in per_step.items()},
            "floor_cpu_ms_per_step": total, "floor_steps_per_s": cores * 1000 / total}


def _measure(url: str, work, count: int) -> tuple[float, float, float]:
    """Run `work`; (this process's CPU ms, its reaped children's, the database's backends') per item."""
    meter = CpuMeter({"bench": [os.getpid()]}, url)
    meter.start()
    work()
    used = meter.stop()
    return tuple(used.get(key, 0.0) * 1000 / count for key in ("bench", "bench_children", "postgres"))


def _program(url: str, count: int) -> tuple[float, float]:
    """execute() of a `true` step: (the worker's CPU ms, the program's) per step."""
    from app.config import Settings
    from app.db import make_engine
    from app.services import catalog
    from app.services.execution import StepWork, execute

    engine = make_engine(url, pool_size=1)
    try:
        with engine.connect() as connection:
            spec, tasks = catalog.runnable_job_with_tasks(connection.connection.driver_connection, NOOP_JOB)
    finally:
        engine.dispose()
    work = StepWork(step_id=1, attempt=1, submission_id="0" * 32, step_name=spec["steps"][0]["name"],
                    task=tasks[spec["steps"][0]["task"]], params={})
    settings, stop = Settings.from_env(), threading.Event()

    def spawn() -> None:
        for _ in range(count):
            execute(work, settings, stop=stop)

    spawn()  # warm: the page cache, the working directory's root
    own, children, _ = _measure(url, spawn, count)
    log(f"floor: program {children:.2f} CPU ms per step, the worker's part {own:.2f}")
    return own, children


def _intake(url: str, count: int) -> tuple[float, float]:
    """POST /api/submissions in-process: (the app's CPU ms, the database's) per submission."""
    from app import create_app

    app = create_app({"database_url": url})
    client = app.test_client()

    def post(n: int) -> None:
        for _ in range(n):
            answer = client.post("/api/submissions", json={"job": NOOP_JOB, "name": "floor"})
            if answer.status_code != 201:
                raise RuntimeError(f"POST answered {answer.status_code}: {answer.get_data(as_text=True)[:200]}")

    try:
        post(10)  # past psycopg's prepare threshold
        own, _, backends = _measure(url, lambda: post(count), count)
    finally:
        app.extensions["aa_engine"].dispose()
    log(f"floor: intake {own:.2f} CPU ms per submission, its backends {backends:.2f}")
    return own, backends


def _queue_and_state(url: str, count: int) -> tuple[float, float]:
    """Claim and record the steps of `count` submissions, as a worker's runner does, with a success
    for each and no program run: (this process's CPU ms, its backend's) per step."""
    from app.db import PLAN_ONCE
    from app.queue import dag, steps
    from app.services.execution import SUCCESS, Outcome

    with psycopg.connect(dsn(url), autocommit=True, options=PLAN_ONCE) as connection:
        worker_id = connection.execute("SELECT worker_id FROM procrastinate_register_worker_v1()").fetchone()[0]
        name = f"{socket.gethostname()}:floor"
        taker = dag.Taker(worker_id, name)
        done = 0

        def drain() -> None:
            nonlocal done
            while True:
                with connection.transaction():
                    claim = steps.claim(connection, queues=None, worker_id=worker_id, worker=name)
                if claim is None:
                    return
                while claim is not None and claim.work is not None:
                    with connection.transaction():
                        claim = steps.record(connection, queue_job_id=claim.queue_job_id, work=claim.work,
                                             outcome=Outcome(SUCCESS, 0), taker=taker)
                    done += 1

        drain()  # the intake's submissions: warms the statements
        _submit(url, count)
        done = 0
        own, _, backends = _measure(url, drain, count * NOOP_STEPS)
    if done != count * NOOP_STEPS:
        raise RuntimeError(f"queue and state: {done} steps recorded, {count * NOOP_STEPS} expected")
    log(f"floor: queue and state {own:.2f} CPU ms per step, its backend {backends:.2f}")
    return own, backends


def _submit(url: str, count: int) -> None:
    from app.db import make_engine, make_sessionmaker, transaction
    from app.queue import intake

    engine = make_engine(url, pool_size=1, plan_once=True)
    try:
        sessions = make_sessionmaker(engine)
        for _ in range(count):
            with transaction(sessions) as session:
                intake.submit(session, job=NOOP_JOB, params={}, inputs={}, name="floor")
    finally:
        engine.dispose()
