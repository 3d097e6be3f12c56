"""API: accepted POSTs/s with no workers running, and GET status p50 with 10^3 and with many
(--big-rows, or 10^6 with --rows-1e6) submissions stored.

The stored submissions beyond the POSTed ones are copies of a POSTed one, made in SQL, finished
(Complete, with their three Complete steps), as a long-lived installation would hold.
"""

from __future__ import annotations

import time

import psycopg

from bench.client import Client
from bench.common import Context, Service, dsn, fresh_database, log, percentile, prepare_ours
from bench.fullstack import WARM_UP_PER_CLIENT, post_submissions

SMALL = 1_000
GET_SAMPLES = 200
GET_WARMUP = 20

_COPY = """
WITH made AS (
    INSERT INTO submissions (id, job_name, name, state, message, priority, client, token_id, use_cache, params,
                             created, started, finished)
    SELECT gen_random_uuid(), t.job_name, 'copy', 'Complete', '', t.priority, t.client, t.token_id, t.use_cache,
           t.params, now() - interval '1 day', now() - interval '1 day', now() - interval '1 day'
    FROM submissions AS t CROSS JOIN generate_series(1, %(count)s)
    WHERE t.id = %(template)s
    RETURNING id
)
INSERT INTO steps (submission_id, position, name, task_name, task, params, "after", waiting_for, state, attempts,
                   exit_status, message, cached, queue_job_id, queued, started, finished)
SELECT made.id, s.position, s.name, s.task_name, s.task, s.params, s."after", 0, 'Complete', 1,
       0, '', false, NULL, now() - interval '1 day', now() - interval '1 day', now() - interval '1 day'
FROM made CROSS JOIN steps AS s
WHERE s.submission_id = %(template)s
"""


def fill_submissions(url: str, template: str, total: int, chunk: int = 50_000) -> int:
    """Copy the template submission until `total` submissions are stored; return the count."""
    with psycopg.connect(dsn(url), autocommit=True) as connection:
        stored = connection.execute("SELECT count(*) FROM submissions").fetchone()[0]
        while stored < total:
            count = min(chunk, total - stored)
            connection.execute(_COPY, {"count": count, "template": template})
            stored += count
        connection.execute("VACUUM ANALYZE submissions")
        connection.execute("VACUUM ANALYZE steps")
        return connection.execute("SELECT count(*) FROM submissions").fetchone()[0]


def get_p50(url: str, base: str) -> float:
    """Median time (ms) of GET /api/submissions/<id> for randomly chosen stored submissions."""
    with psycopg.connect(dsn(url), autocommit=True) as connection:
        ids = [str(v) for (v,) in connection.execute(
            "SELECT id FROM submissions ORDER BY random() LIMIT %s", (GET_SAMPLES + GET_WARMUP,)).fetchall()]
    times: list[float] = []
    client = Client(base, timeout=30)
    for i, submission_id in enumerate(ids):
        started = time.perf_counter()
        status, answer = client.get_json(f"/api/submissions/{submission_id}")
        elapsed = (time.perf_counter() - started) * 1000
        if status != 200:
            raise RuntimeError(f"GET status answered {status}: {str(answer)[:200]}")
        if i >= GET_WARMUP:
            times.append(elapsed)
    return percentile(times, 50)


def run(ctx: Context) -> dict[str, float]:
    metrics: dict[str, float] = {}
    with fresh_database(ctx.server_url, "api") as url:
        prepare_ours(url)
        with Service(ctx, url, "api") as service:
            service.start_web()  # and no workers
            warm, failures = post_submissions(service.base, ctx.clients * WARM_UP_PER_CLIENT, ctx.clients,
                                              name="warmup")
            if failures:
                raise RuntimeError(f"warm-up POSTs refused: {failures[0]}")
            log(f"api: {ctx.n} POSTs from {ctx.clients} clients, no workers")
            started = time.perf_counter()
            ids, failures = post_submissions(service.base, ctx.n, ctx.clients, name="measured")
            elapsed = time.perf_counter() - started
            if failures:
                ctx.note(f"api: {len(failures)} of {ctx.n} POSTs refused, first: {failures[0]}")
            metrics["api_posts_per_s"] = len(ids) / elapsed
            metrics["api_posts_accepted"] = len(ids)
            log(f"api: {metrics['api_posts_per_s']:.0f} accepted POSTs/s")

            template = ids[0] if ids else warm[0]
            metrics["api_rows_small"] = fill_submissions(url, template, SMALL)
            metrics["api_get_p50_small_ms"] = get_p50(url, service.base)
            log(f"api: GET status p50 {metrics['api_get_p50_small_ms']:.2f} ms with "
                f"{metrics['api_rows_small']:,} submissions")
            log(f"api: storing {ctx.big_rows:,} submissions")
            filling = time.perf_counter()
            metrics["api_rows_big"] = fill_submissions(url, template, ctx.big_rows)
            metrics["api_fill_s"] = time.perf_counter() - filling
            metrics["api_get_p50_big_ms"] = get_p50(url, service.base)
            log(f"api: GET status p50 {metrics['api_get_p50_big_ms']:.2f} ms with "
                f"{metrics['api_rows_big']:,} submissions")
    return metrics
