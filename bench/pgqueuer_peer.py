"""A PostgreSQL peer written for the same job: pgqueuer running N chains of three jobs, each
spawning `true` and enqueuing the next, `workers × concurrency` at a time in one asyncio process.
Optional: measured only if `pgqueuer` is installed (`pip install pgqueuer`).

Run by `peers.run_pgqueuer` as `python -m bench.pgqueuer_peer URL N CONCURRENCY`; prints its
figures as one JSON line.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from datetime import timedelta

import psycopg

STEPS = 3
POLL = 0.05  # seconds


async def main(url: str, n: int, concurrency: int) -> dict[str, float]:
    from pgqueuer import PgQueuer, PsycopgDriver, Queries  # noqa: PLC0415 - optional dependency

    worker = await psycopg.AsyncConnection.connect(url, autocommit=True)
    chaining = await psycopg.AsyncConnection.connect(url, autocommit=True)  # the jobs' own enqueues
    await Queries(PsycopgDriver(worker)).install()
    app = PgQueuer(PsycopgDriver(worker))
    deferrer = Queries(PsycopgDriver(chaining))
    state = {"done": 0}

    @app.entrypoint("step")
    async def step(job) -> None:
        left = int(job.payload)
        process = await asyncio.create_subprocess_exec("true")
        await process.wait()
        if left > 1:
            await deferrer.enqueue("step", str(left - 1).encode())
            return
        state["done"] += 1
        if state["done"] >= n:
            app.shutdown.set()

    await deferrer.enqueue(["step"] * n, [str(STEPS).encode()] * n, [0] * n)
    started = time.perf_counter()
    # Its wake-up by NOTIFY left chains idle here for seconds (37 s for 100 chains): poll as well.
    await app.run(batch_size=max(1, concurrency // 2), max_concurrent_tasks=concurrency,
                  dequeue_timeout=timedelta(seconds=POLL))
    elapsed = time.perf_counter() - started
    await worker.close()
    await chaining.close()
    return {"complete": state["done"], "elapsed_s": elapsed, "steps_per_s": state["done"] * STEPS / elapsed}


if __name__ == "__main__":
    print(json.dumps(asyncio.run(main(sys.argv[1], int(sys.argv[2]), int(sys.argv[3])))), flush=True)
