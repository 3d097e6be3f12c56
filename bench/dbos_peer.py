"""A PostgreSQL peer written for the same job: DBOS Transact running N durable workflows of three
steps, each spawning `true` (its workflow and step rows in PostgreSQL), from `workers × concurrency`
threads in one process. Optional: measured only if `dbos` is installed (`pip install dbos`).

Run by `peers.run_dbos` as `python -m bench.dbos_peer URL N THREADS` in a process of its own
(DBOS is a process-wide singleton); prints its figures as one JSON line.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor

STEPS = 3


def main(url: str, n: int, threads: int) -> dict[str, float]:
    from dbos import DBOS  # noqa: PLC0415 - optional dependency

    @DBOS.step()
    def spawn_true() -> int:
        return subprocess.run(["true"], check=True).returncode  # noqa: S603, S607 - the job's program

    @DBOS.workflow()
    def pipeline() -> int:
        return sum(spawn_true() for _ in range(STEPS))

    DBOS(config={"name": "aa_bench", "system_database_url": url, "log_level": "WARNING"})
    DBOS.launch()
    try:
        with ThreadPoolExecutor(threads) as pool:
            list(pool.map(lambda _: pipeline(), range(threads * 2)))  # warm-up
            started = time.perf_counter()
            done = sum(1 for result in pool.map(lambda _: pipeline(), range(n)) if result == 0)
            elapsed = time.perf_counter() - started
    finally:
        DBOS.destroy()
    return {"complete": done, "elapsed_s": elapsed, "steps_per_s": done * STEPS / elapsed}


if __name__ == "__main__":
    print(json.dumps(main(sys.argv[1], int(sys.argv[2]), int(sys.argv[3]))), flush=True)
