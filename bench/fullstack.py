"""Ours, full stack: N submissions of a 3-step `true` job POSTed over HTTP until all are Complete.

Also the same run with a 3-step job of python no-op tasks (`bench.noop:noop` through the python
backend: what a Python task costs on top), and with many finished queue jobs already in
`procrastinate_jobs` (does the queue slow down as its table grows?).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager, nullcontext

import psycopg

from bench.client import Client
from bench.common import (
    NOOP_JOB,
    NOOP_STEPS,
    PYTHON_NOOP_JOB,
    Context,
    CpuMeter,
    Service,
    dsn,
    fresh_database,
    log,
    prepare_ours,
)

_COUNTS = """
SELECT count(*) FILTER (WHERE state = 'Complete'),
       count(*) FILTER (WHERE state IN ('Error', 'Crash', 'Cancelled')),
       count(*)
FROM submissions WHERE name = %s
"""


def post_submissions(
    base: str, n: int, clients: int, *, name: str, job: str = NOOP_JOB, extra: dict | None = None, batch: int = 0,
) -> tuple[list[str], list[str]]:
    """POST n submissions from `clients` threads, one per request or `batch` per JSON array
    (`extra` goes into each: inputs, say); return (accepted ids, failure descriptions)."""
    client = Client(base)
    body = {"job": job, "name": name, **(extra or {})}
    sizes = [min(batch, n - start) for start in range(0, n, batch)] if batch else [0] * n

    def one(size: int) -> list[tuple[bool, str]]:
        try:
            status, answer = client.post_json("/api/submissions", [body] * size if size else body)
        except OSError as exc:
            return [(False, f"{type(exc).__name__}: {exc}")] * max(1, size)
        if status == 201:
            return [(True, a["id"]) for a in answer] if size else [(True, answer["id"])]
        return [(False, f"HTTP {status}: {str(answer)[:200]}")] * max(1, size)

    with ThreadPoolExecutor(clients) as pool:
        outcomes = [o for many in pool.map(one, sizes) for o in many]
    return [v for ok, v in outcomes if ok], [v for ok, v in outcomes if not ok]


WARM_UP_PER_CLIENT = 8  # past psycopg's prepare threshold (5) on every pooled connection


def warm_up(service: Service, url: str, count: int = 3, *, clients: int = 1, job: str = NOOP_JOB,
            extra: dict | None = None) -> None:
    """Submissions run to the end before timing, so nothing is measured cold: sent from `clients`
    threads, so that every connection of the web pool has prepared its statements, as in a
    service that has been up for a while."""
    ids, failures = post_submissions(service.base, count, clients, name="warmup", job=job, extra=extra)
    if failures:
        raise RuntimeError(f"warm-up submissions refused: {failures[0]}")
    with psycopg.connect(dsn(url), autocommit=True) as connection:
        deadline = time.monotonic() + 60
        while True:
            complete, failed, _ = connection.execute(_COUNTS, ("warmup",)).fetchone()
            if complete + failed >= count:
                break
            if time.monotonic() > deadline:
                raise TimeoutError("warm-up submissions did not finish within 60 s")
            time.sleep(0.05)


def drive(ctx: Context, service: Service, url: str, n: int, *, label: str, job: str = NOOP_JOB,
          extra: dict | None = None, batch: int = 0, steps: int = NOOP_STEPS) -> dict[str, float]:
    """POST n submissions of `job` (of `steps` steps) concurrently and wait for all of them to
    finish; time it."""
    result: dict = {}

    def post() -> None:
        result["ids"], result["failures"] = post_submissions(service.base, n, ctx.clients, name="measured", job=job,
                                                             extra=extra, batch=batch)
        result["posted_at"] = time.perf_counter()

    poster = threading.Thread(target=post, daemon=True)
    meter = CpuMeter({"web": [service.web.pid], "workers": [w.pid for w in service.workers]}, url)
    meter.start()
    client_cpu = time.process_time()
    started = time.perf_counter()
    poster.start()
    last_progress, last_done = time.perf_counter(), -1
    stall_limit = 60.0
    with psycopg.connect(dsn(url), autocommit=True) as connection:
        while True:
            complete, failed, total = connection.execute(_COUNTS, ("measured",)).fetchone()
            now = time.perf_counter()
            finished_posting = "ids" in result
            if finished_posting and complete + failed >= len(result["ids"]):
                break
            if complete + failed != last_done:
                last_progress, last_done = now, complete + failed
            elif now - last_progress > stall_limit:
                detail = _stall_detail(connection)
                ctx.note(f"{label}: no submission finished for {stall_limit:.0f} s "
                         f"({complete + failed}/{total} done); {detail}")
                break
            time.sleep(0.02)
        elapsed = time.perf_counter() - started
        poster.join()
        cpu = {**meter.stop(), "client": time.process_time() - client_cpu}
        breakdown = _breakdown(connection)
    accepted = len(result.get("ids", []))
    if result.get("failures"):
        ctx.note(f"{label}: {len(result['failures'])} of {n} POSTs refused, first: {result['failures'][0]}")
    if failed:
        ctx.note(f"{label}: {failed} submission(s) ended in Error/Crash/Cancelled")
    return {
        "accepted": accepted,
        "complete": complete,
        "failed": failed,
        "elapsed_s": elapsed,
        "post_phase_s": result.get("posted_at", time.perf_counter()) - started,
        "steps_per_s": complete * steps / elapsed,
        "submissions_per_s": complete / elapsed,
        **breakdown,
        **cpu_per_step(cpu, complete * steps, elapsed),
    }


def cpu_per_step(cpu: dict[str, float], steps: int, elapsed: float) -> dict[str, float]:
    """CPU milliseconds per completed step for each group, and the cores kept busy on average."""
    if not steps:
        return {}
    cpu = dict(cpu)
    machine = cpu.pop("machine", None)
    out = {f"cpu_ms_per_step_{name}": seconds * 1000 / steps for name, seconds in cpu.items()}
    out["cpu_cores_busy"] = sum(cpu.values()) / elapsed
    if machine is not None:  # everything else the machine did meanwhile (other processes, the kernel)
        out["cpu_cores_other"] = max(0.0, machine - sum(cpu.values())) / elapsed
    return out


def note_interference(ctx: Context, label: str, metrics: dict[str, float], allowed: float = 0.3) -> None:
    other = metrics.get("cpu_cores_other")
    if other is not None and other > allowed:
        ctx.note(f"{label}: other processes used {other:.2f} cores during the run: its numbers are not reliable")


def _stall_detail(connection: psycopg.Connection) -> str:
    steps = connection.execute("SELECT state, count(*) FROM steps GROUP BY 1 ORDER BY 1").fetchall()
    jobs = connection.execute("SELECT status, count(*) FROM procrastinate_jobs GROUP BY 1 ORDER BY 1").fetchall()
    workers = connection.execute("SELECT count(*) FROM procrastinate_workers").fetchone()[0]
    return f"steps by state {dict(steps)}, queue jobs by status {dict(jobs)}, live workers {workers}"


def _breakdown(connection: psycopg.Connection) -> dict[str, float]:
    """Where the time went, from the service's own timestamps (milliseconds, means)."""
    row = connection.execute(
        """
        SELECT avg(extract(epoch FROM st.started - st.queued)) * 1000,
               avg(extract(epoch FROM st.finished - st.started)) * 1000,
               avg(extract(epoch FROM s.finished - s.created)) * 1000
        FROM steps st JOIN submissions s ON s.id = st.submission_id
        WHERE s.name = 'measured' AND s.state = 'Complete'
        """
    ).fetchone()
    keys = ("mean_queue_wait_ms", "mean_step_run_ms", "mean_submission_ms")
    return {k: float(v) for k, v in zip(keys, row, strict=True) if v is not None}


def throughput(ctx: Context, *, label: str = "fullstack", job: str = NOOP_JOB, prefill_finished_jobs: int = 0,
               worker_env: dict[str, str] | None = None, extra: dict | None = None, batch: int = 0,
               steps: int = NOOP_STEPS, during: Callable[[str], AbstractContextManager] | None = None,
               ) -> dict[str, float]:
    """Fresh database, web server (waitress) + workers, warm-up, then N submissions of `job` (a job of
    NOOP_CONFIG of `steps` steps), `during` the context it makes for the database's URL (a
    transaction held open, say); steps/s and submissions/s."""
    with fresh_database(ctx.server_url, label) as url:
        prepare_ours(url)
        if prefill_finished_jobs:
            log(f"{label}: storing {prefill_finished_jobs:,} finished queue jobs")
            fill_finished_queue_jobs(url, prefill_finished_jobs)
        with Service(ctx, url, label) as service:
            service.start_web()
            service.start_workers(env=worker_env)
            warm_up(service, url, job=job, clients=ctx.clients, extra=extra,
                    count=ctx.clients * WARM_UP_PER_CLIENT if job == NOOP_JOB else 3)
            log(f"{label}: {ctx.n} submissions of {job} × {steps} steps, {ctx.workers} workers × "
                f"{ctx.concurrency}, {ctx.clients} HTTP clients" + (f", {batch} per POST" if batch else ""))
            with during(url) if during is not None else nullcontext():
                measured = drive(ctx, service, url, ctx.n, label=label, job=job, extra=extra, batch=batch,
                                 steps=steps)
    note_interference(ctx, label, measured)
    log(f"{label}: {measured['steps_per_s']:.1f} steps/s ({measured['elapsed_s']:.1f} s)")
    return measured


def fill_finished_queue_jobs(url: str, count: int, chunk: int = 200_000) -> None:
    """`count` succeeded run_step jobs, with their deferred/started/succeeded events, as a
    long-running installation that keeps its finished queue jobs would have."""
    with psycopg.connect(dsn(url), autocommit=True) as connection:
        done = 0
        while done < count:
            size = min(chunk, count - done)
            with connection.transaction():
                connection.execute(
                    """
                    WITH jobs AS (
                        INSERT INTO procrastinate_jobs (queue_name, task_name, priority, args, status, attempts)
                        SELECT 'local', 'run_step', 0, jsonb_build_object('step_id', -g), 'succeeded', 1
                        FROM generate_series(%s::bigint, %s::bigint) AS g
                        RETURNING id
                    )
                    INSERT INTO procrastinate_events (job_id, type, at)
                    SELECT jobs.id, e.type, now() - interval '1 day'
                    FROM jobs CROSS JOIN unnest(
                        ARRAY['deferred', 'started', 'succeeded']::procrastinate_job_event_type[]) AS e(type)
                    """,
                    (done + 1, done + size),
                )
            done += size
        connection.execute("VACUUM ANALYZE procrastinate_jobs")
        connection.execute("VACUUM ANALYZE procrastinate_events")


def run(ctx: Context) -> dict[str, float]:
    measured = throughput(ctx, label="fullstack")
    return {f"fullstack_{k}": v for k, v in measured.items()}


def run_python(ctx: Context) -> dict[str, float]:
    """`run` with the job of three chained python no-op tasks instead of `true`."""
    measured = throughput(ctx, label="fullstack_python", job=PYTHON_NOOP_JOB)
    return {f"fullstack_python_{k}": v for k, v in measured.items()}


def run_big_queue(ctx: Context) -> dict[str, float]:
    measured = throughput(ctx, label="bigqueue", prefill_finished_jobs=ctx.big_rows)
    return {"bigqueue_rows": ctx.big_rows, **{f"bigqueue_{k}": v for k, v in measured.items()}}
