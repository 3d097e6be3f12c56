"""Latency: POST to Complete for a single 3-step `true` job, run after run on an otherwise idle system.

The client POSTs, then waits for the NOTIFY that the submission's last transaction sends on commit
(`aa_submission_finished`, on its own LISTEN connection): no polling, so the measurement neither
adds a polling delay nor loads the machine it measures.
"""

from __future__ import annotations

import time

import psycopg

from app.services.finished import FINISHED_CHANNEL
from bench.client import Client
from bench.common import (
    DONE_STATES,
    NOOP_JOB,
    Context,
    Service,
    dsn,
    fresh_database,
    log,
    percentile,
    prepare_ours,
)

WARMUP_RUNS = 5


def one_run(client: Client, connection: psycopg.Connection, name: str,
            timeout: float = 60.0, body: dict | None = None) -> tuple[float, float, str]:
    """(POST-to-finished ms, POST answer ms, final state) of one submission (of `body`)."""
    started = time.perf_counter()
    status, answer = client.post_json("/api/submissions", {"job": NOOP_JOB, **(body or {}), "name": name})
    answered = time.perf_counter()
    if status != 201:
        raise RuntimeError(f"POST refused: HTTP {status}: {str(answer)[:200]}")
    submission_id = answer["id"]
    deadline = started + timeout
    while True:
        state = connection.execute("SELECT state FROM submissions WHERE id = %s", (submission_id,)).fetchone()[0]
        remaining = deadline - time.perf_counter()
        if state in DONE_STATES or remaining <= 0:
            return (time.perf_counter() - started) * 1000, (answered - started) * 1000, state
        for _ in connection.notifies(timeout=min(remaining, 1.0), stop_after=1):
            pass  # a submission ended (or a second went by): look again


def run(ctx: Context) -> dict[str, float]:
    with fresh_database(ctx.server_url, "latency") as url:
        prepare_ours(url)
        with Service(ctx, url, "latency") as service:
            service.start_web()
            service.start_workers()
            log(f"latency: {ctx.latency_runs} sequential runs (+{WARMUP_RUNS} warm-up), "
                f"{ctx.workers} idle workers × {ctx.concurrency}")
            totals: list[float] = []
            posts: list[float] = []
            bad: dict[str, int] = {}
            client = Client(service.base, timeout=60)
            with psycopg.connect(dsn(url), autocommit=True) as connection:
                connection.execute(f'LISTEN "{FINISHED_CHANNEL}"')
                for i in range(WARMUP_RUNS + ctx.latency_runs):
                    measured = i >= WARMUP_RUNS
                    total, post, state = one_run(client, connection,
                                                 "latency" if measured else "warmup")
                    if measured:
                        if state != "Complete":
                            bad[state] = bad.get(state, 0) + 1
                        totals.append(total)
                        posts.append(post)
                    time.sleep(0.02)  # let the system go idle again
                server_side = [float(v) for (v,) in connection.execute(
                    "SELECT extract(epoch FROM finished - created) * 1000 FROM submissions"
                    " WHERE name = 'latency' AND finished IS NOT NULL").fetchall()]
                waits, runs = zip(*connection.execute(
                    "SELECT extract(epoch FROM st.started - st.queued) * 1000,"
                    " extract(epoch FROM st.finished - st.started) * 1000"
                    " FROM steps st JOIN submissions s ON s.id = st.submission_id"
                    " WHERE s.name = 'latency' AND st.finished IS NOT NULL").fetchall(), strict=True)
    if bad:
        ctx.note(f"latency: {sum(bad.values())} of {ctx.latency_runs} runs did not end Complete: {bad}")
    metrics = {
        "latency_runs": len(totals),
        "latency_p50_ms": percentile(totals, 50),
        "latency_p95_ms": percentile(totals, 95),
        "latency_p99_ms": percentile(totals, 99),
        "latency_max_ms": max(totals),
        "latency_post_p50_ms": percentile(posts, 50),
        "latency_server_p50_ms": percentile(server_side, 50) if server_side else None,
        "latency_step_queue_wait_p50_ms": percentile([float(v) for v in waits], 50),
        "latency_step_run_p50_ms": percentile([float(v) for v in runs], 50),
    }
    log(f"latency: p50 {metrics['latency_p50_ms']:.1f} ms, p95 {metrics['latency_p95_ms']:.1f} ms, "
        f"p99 {metrics['latency_p99_ms']:.1f} ms")
    return metrics
