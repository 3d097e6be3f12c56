"""What users feel (issue 12): Python steps warm and cold, the built-in regression's latency, batch
intake, throughput under a long transaction, recovery from a killed worker, the price of idling.

Each measurement makes its own database and service, as the others in this package do.
"""

from __future__ import annotations

import contextlib
import os
import signal
import statistics
import time
from collections.abc import Iterator

import psycopg

from app.services.finished import FINISHED_CHANNEL
from bench import fullstack, latency
from bench.client import Client
from bench.common import (
    CSV_100,
    LINREG_JOB,
    PYTHON_NOOP_JOB,
    SLEEP_JOB,
    Context,
    CpuMeter,
    Service,
    dsn,
    fresh_database,
    log,
    percentile,
    prepare_ours,
    wait_until,
)

LINREG_BODY = {"job": LINREG_JOB, "inputs": {"input_data": {"content": CSV_100}}}
BATCH_SIZE = 50  # submissions per POST in the batch measurements
HOT_TABLES = ("submissions", "steps", "procrastinate_jobs", "procrastinate_events")
# Recovery: a worker judged dead after STALL s without a heartbeat (every BEAT s), retried at once.
STALL, BEAT = 3.0, 0.5
RECOVERY_ENV = {"AA_STALLED_AFTER_SECONDS": str(STALL), "AA_HEARTBEAT_SECONDS": str(BEAT),
                "AA_RETRY_BACKOFF_SECONDS": "0", "AA_KILL_GRACE_SECONDS": "1"}
IDLE_RUNNERS = 50
IDLE_SECONDS = 10.0


def run_python_cold(ctx: Context) -> dict[str, float]:
    """The python no-op full stack with every step a fresh interpreter (AA_PYTHON_WARM=0): the
    design before warm steps, in the same run."""
    measured = fullstack.throughput(ctx, label="pycold", job=PYTHON_NOOP_JOB, worker_env={"AA_PYTHON_WARM": "0"})
    return {f"pycold_{k}": v for k, v in measured.items()}


def run_python_latency(ctx: Context) -> dict[str, float]:
    """POST→Complete of a python no-op job and of `linear_regression` on a 100-row CSV, run after
    run on an idle system; and the regression's throughput."""
    runs = max(5, ctx.latency_runs // 2)
    metrics: dict[str, float] = {}
    with fresh_database(ctx.server_url, "pylatency") as url:
        prepare_ours(url)
        with Service(ctx, url, "pylatency") as service:
            service.start_web()
            service.start_workers()
            for key, body in (("pynoop", {"job": PYTHON_NOOP_JOB}), ("linreg", LINREG_BODY)):
                totals = _series(service, url, runs, body)
                metrics |= {f"{key}_latency_p50_ms": percentile(totals, 50),
                            f"{key}_latency_p99_ms": percentile(totals, 99), f"{key}_latency_runs": len(totals)}
                log(f"pylatency: {key} p50 {metrics[f'{key}_latency_p50_ms']:.1f} ms, "
                    f"p99 {metrics[f'{key}_latency_p99_ms']:.1f} ms")
    measured = fullstack.throughput(ctx, label="linreg", job=LINREG_JOB, extra={"inputs": LINREG_BODY["inputs"]},
                                    steps=1)
    return metrics | {f"linreg_{k}": v for k, v in measured.items()}


def _series(service: Service, url: str, runs: int, body: dict) -> list[float]:
    client = Client(service.base, timeout=60)
    totals = []
    with psycopg.connect(dsn(url), autocommit=True) as connection:
        connection.execute(f'LISTEN "{FINISHED_CHANNEL}"')
        for i in range(latency.WARMUP_RUNS + runs):
            total, _, state = latency.one_run(client, connection, "latency", body=body)
            if state != "Complete":
                raise RuntimeError(f"{body['job']} ended {state}")
            if i >= latency.WARMUP_RUNS:
                totals.append(total)
            time.sleep(0.02)
    return totals


def run_batch(ctx: Context) -> dict[str, float]:
    """Batch intake: submissions/s accepted in JSON arrays of BATCH_SIZE with no workers, then the
    `true` full stack fed by arrays."""
    with fresh_database(ctx.server_url, "batchapi") as url:
        prepare_ours(url)
        with Service(ctx, url, "batchapi") as service:
            service.start_web()
            fullstack.post_submissions(service.base, ctx.clients * BATCH_SIZE, ctx.clients, name="warmup",
                                       batch=BATCH_SIZE)
            started = time.perf_counter()
            ids, failures = fullstack.post_submissions(service.base, ctx.n, ctx.clients, name="measured",
                                                       batch=BATCH_SIZE)
            elapsed = time.perf_counter() - started
    if failures:
        ctx.note(f"batch intake: {len(failures)} submissions refused, first: {failures[0]}")
    log(f"batch intake: {len(ids) / elapsed:.0f} submissions/s")
    measured = fullstack.throughput(ctx, label="fullbatch", batch=BATCH_SIZE)
    return {"batch_submissions_per_s": len(ids) / elapsed, **{f"fullbatch_{k}": v for k, v in measured.items()}}


@contextlib.contextmanager
def _held_transaction(url: str) -> Iterator[None]:
    """Another session's transaction, open with a snapshot for as long as the context lasts: the
    long analytics reader that keeps every dead row of the queue's tables from being cleaned."""
    with psycopg.connect(dsn(url)) as reader:
        reader.execute("BEGIN ISOLATION LEVEL REPEATABLE READ")
        reader.execute("SELECT count(*) FROM submissions").fetchone()
        yield
        reader.rollback()


def run_held(ctx: Context) -> dict[str, float]:
    """The `true` full stack while a transaction stays open throughout, and the dead rows left in
    the hot tables; the same run without it, for the ratio."""
    metrics: dict[str, float] = {}
    for label, during in (("free", None), ("held", _held_transaction)):
        dead: dict[str, int] = {}

        @contextlib.contextmanager
        def counted(url: str, during=during, dead=dead) -> Iterator[None]:
            with during(url) if during is not None else contextlib.nullcontext():
                yield
            dead.update(_dead_rows(url))

        measured = fullstack.throughput(ctx, label=label, during=counted)
        metrics |= {f"{label}_steps_per_s": measured["steps_per_s"], f"{label}_dead_rows": sum(dead.values()),
                    **{f"{label}_dead_{table}": count for table, count in dead.items()}}
    return metrics


def _dead_rows(url: str) -> dict[str, int]:
    time.sleep(1.5)  # backends report their counts to the statistics about once a second
    with psycopg.connect(dsn(url), autocommit=True) as connection:
        rows = connection.execute("SELECT relname, n_dead_tup FROM pg_stat_user_tables WHERE relname = ANY(%s)",
                                  (list(HOT_TABLES),)).fetchall()
    return dict(rows)


def run_recovery(ctx: Context) -> dict[str, float]:
    """SIGKILL a worker while its step runs, ctx.kills times: seconds until another worker has
    started the step's next attempt (the workers judge a peer dead after STALL s of silence)."""
    times: list[float] = []
    with fresh_database(ctx.server_url, "recovery") as url:
        prepare_ours(url)
        with Service(ctx, url, "recovery") as service, psycopg.connect(dsn(url), autocommit=True) as db:
            service.start_web()
            service.start_workers(2, env=RECOVERY_ENV)
            client = Client(service.base, timeout=60)
            for _ in range(ctx.kills):
                status, answer = client.post_json("/api/submissions", {"job": SLEEP_JOB, "name": "recovery"})
                if status != 201:
                    raise RuntimeError(f"POST refused: HTTP {status}: {answer}")
                pid = _running_step_worker(db, answer["id"])
                victim = next(w for w in service.workers if w.pid == pid)
                _kill(victim)  # the other worker is to notice, and run the step again
                killed = time.perf_counter()
                service.workers.remove(victim)
                wait_until(lambda sid=answer["id"]: _attempt(db, sid) >= 2, 120, "the step's next attempt")
                times.append(time.perf_counter() - killed)
                client.request("DELETE", f"/api/submissions/{answer['id']}")
                service.start_workers(1, env=RECOVERY_ENV)  # two again
    if not times:
        raise RuntimeError("no kill hit a running step")
    log(f"recovery: p50 {statistics.median(times):.2f} s, max {max(times):.2f} s over {len(times)} kills")
    return {"recovery_kills": len(times), "recovery_p50_s": statistics.median(times), "recovery_max_s": max(times),
            "recovery_bound_s": STALL + BEAT}


def _running_step_worker(db: psycopg.Connection, submission_id: str) -> int:
    """The process id of the worker running the submission's step, once it runs."""
    found: list[int] = []

    def running() -> bool:
        found[:] = [pid for (pid,) in db.execute(
            "SELECT split_part(w.name, ':', 2)::int FROM steps s JOIN procrastinate_jobs j ON j.id = s.queue_job_id "
            "JOIN worker_info w ON w.worker_id = j.worker_id WHERE s.submission_id = %s AND s.state = 'Running'",
            (submission_id,)).fetchall()]
        return bool(found)

    wait_until(running, 60, "the step to run")
    return found[0]


def _attempt(db: psycopg.Connection, submission_id: str) -> int:
    row = db.execute("SELECT attempts, state FROM steps WHERE submission_id = %s", (submission_id,)).fetchone()
    return row[0] if row[1] == "Running" else 0


def _kill(process) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(process.pid, signal.SIGKILL)
    process.wait()


def run_idle(ctx: Context) -> dict[str, float]:
    """PostgreSQL's CPU and transactions/s while IDLE_RUNNERS runners wait for work (no web server:
    each runner connects at its first look at the queue)."""
    with fresh_database(ctx.server_url, "idle") as url:
        prepare_ours(url)
        runners = max(1, IDLE_RUNNERS // ctx.workers)
        with Service(ctx, url, "idle") as service, psycopg.connect(dsn(url), autocommit=True) as db:
            service.ctx = Context(**{**vars(ctx), "concurrency": runners})
            service.start_workers()
            time.sleep(3.0)  # past a poll period, so that every runner has connected
            meter = CpuMeter({"workers": [w.pid for w in service.workers]}, url)
            before = _transactions(db)
            meter.start()
            time.sleep(IDLE_SECONDS)
            used = meter.stop()
            count = _transactions(db) - before
    log(f"idle: postgres {used['postgres'] / IDLE_SECONDS:.2%} of a core, {count / IDLE_SECONDS:.1f} transactions/s")
    return {"idle_runners": ctx.workers * runners, "idle_postgres_core_fraction": used["postgres"] / IDLE_SECONDS,
            "idle_workers_core_fraction": used["workers"] / IDLE_SECONDS,
            "idle_transactions_per_s": count / IDLE_SECONDS}


def _transactions(db: psycopg.Connection) -> int:
    db.execute("SELECT pg_stat_clear_snapshot()")
    return db.execute("SELECT xact_commit + xact_rollback FROM pg_stat_database "
                      "WHERE datname = current_database()").fetchone()[0]
