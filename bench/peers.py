"""PostgreSQL peers written for the same job (three steps of `true`): DBOS Transact and pgqueuer,
each in a process of its own on a fresh database, if installed (`pip install dbos pgqueuer`)."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys

from bench.common import Context, dsn, fresh_database, log


def run_dbos(ctx: Context) -> dict[str, float]:
    return _peer(ctx, "dbos", "bench.dbos_peer")


def run_pgqueuer(ctx: Context) -> dict[str, float]:
    return _peer(ctx, "pgqueuer", "bench.pgqueuer_peer")


def _peer(ctx: Context, name: str, module: str) -> dict[str, float]:
    if importlib.util.find_spec(name) is None:
        ctx.note(f"{name} is not installed (pip install {name}): not measured")
        return {}
    threads = ctx.workers * ctx.concurrency
    with fresh_database(ctx.server_url, name) as url:
        log(f"{name}: {ctx.n} three-step `true` pipelines, {threads} at a time")
        with (ctx.logdir / f"{name}.log").open("w") as errors:
            process = subprocess.Popen(  # noqa: S603 - our own module
                [sys.executable, "-m", module, dsn(url), str(ctx.n), str(threads)], stdout=subprocess.PIPE,
                stderr=errors, text=True)
            output, _ = process.communicate(timeout=1800)
    if process.returncode != 0:
        raise RuntimeError(f"{name} failed (see {ctx.logdir / f'{name}.log'})")
    measured = json.loads(output.strip().splitlines()[-1])
    log(f"{name}: {measured['steps_per_s']:.1f} steps/s")
    return {f"{name}_{k}": v for k, v in measured.items()}
