"""`python -m bench`: run the performance measurements side by side and print one table.

Every measurement makes its own database on the server (CREATE DATABASE bench_<name>_<random>,
dropped afterwards). Progress goes to stderr, the table to stdout, and everything to
bench/results/latest.json.

On a machine whose speed drifts (a shared virtual machine), use --rounds 3 or more: the selected
measurements then run round after round, interleaved, and each figure is the median of its rounds,
so a slow spell weighs on ours and on the baselines alike.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import statistics
import sys
import time
import traceback
from collections.abc import Callable
from pathlib import Path

from bench import api, ceilings, celery_chain, floor, fullstack, latency, peers, procrastinate_raw, report, users
from bench.common import Context, busy_fraction, database_server, log

MEASUREMENTS: dict[str, Callable[[Context], dict]] = {
    "ceilings": ceilings.run,
    "floor": floor.run,
    "fullstack": fullstack.run,
    "pyfull": fullstack.run_python,
    "celery": celery_chain.run,
    "celeryhttp": celery_chain.run_http,
    "procrastinate": procrastinate_raw.run,
    "bigqueue": fullstack.run_big_queue,
    "latency": latency.run,
    "api": api.run,
    "pycold": users.run_python_cold,
    "pylatency": users.run_python_latency,
    "batch": users.run_batch,
    "held": users.run_held,
    "recovery": users.run_recovery,
    "idle": users.run_idle,
    "dbos": peers.run_dbos,
    "pgqueuer": peers.run_pgqueuer,
}
BUSY = 0.25  # CPU use by others, sampled for 1 s before each measurement, above which results are flagged
RESULTS = Path(__file__).resolve().parent / "results" / "latest.json"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=1000,
                        help="submissions (chains) per throughput run, and POSTs for the API rate [1000]")
    parser.add_argument("--latency-runs", type=int, default=200, help="sequential runs for the latency [200]")
    parser.add_argument("--database-url", help="a PostgreSQL server to create databases on [127.0.0.1:5432 if it "
                                               "answers, else the embedded server]")
    parser.add_argument("--only", type=lambda s: [x.strip() for x in s.split(",") if x.strip()],
                        default=list(MEASUREMENTS),
                        help=f"comma-separated measurements to run, of: {', '.join(MEASUREMENTS)} [all]")
    parser.add_argument("--rows-1e6", action="store_true",
                        help="store 10^6 rows for the big-table measurements (slow), instead of --big-rows")
    parser.add_argument("--big-rows", type=int, default=100_000,
                        help="rows stored for the big-table measurements without --rows-1e6 [100000]")
    parser.add_argument("--workers", type=int, default=2, help="worker processes [2]")
    parser.add_argument("--concurrency", type=int, default=4, help="runners per worker process [4]")
    parser.add_argument("--clients", type=int, default=16, help="concurrent HTTP clients for the POSTs [16]")
    parser.add_argument("--web-processes", type=int, default=2, help="web processes, ours and Celery's [2]")
    parser.add_argument("--kills", type=int, default=20, help="worker SIGKILLs for the recovery time [20]")
    parser.add_argument("--rounds", type=int, default=1,
                        help="run the selected measurements this many times, interleaved, and report "
                             "the median of each figure [1]")
    parser.add_argument("--output", type=Path, default=RESULTS, help=f"JSON results [{RESULTS}]")
    args = parser.parse_args(argv)
    if args.rounds < 1:
        parser.error("--rounds must be at least 1")
    unknown = [name for name in args.only if name not in MEASUREMENTS]
    if unknown:
        parser.error(f"unknown measurement(s) {', '.join(unknown)}; choose from {', '.join(MEASUREMENTS)}")
    if args.rows_1e6:
        args.big_rows = 1_000_000
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    started = time.perf_counter()
    rounds: list[dict] = []
    failed: list[str] = []
    loads: dict[str, float | None] = {}
    with database_server(args.database_url) as server_url:
        ctx = Context(server_url=server_url, n=args.n, latency_runs=args.latency_runs, big_rows=args.big_rows,
                      workers=args.workers, concurrency=args.concurrency, web_processes=args.web_processes,
                      clients=args.clients, kills=args.kills)
        log(f"server {server_url.split('@')[-1]}, logs in {ctx.logdir}")
        for number in range(1, args.rounds + 1):
            if args.rounds > 1:
                log(f"=== round {number} of {args.rounds}")
            rounds.append(run_round(ctx, args.only, loads, failed))
    metrics = median_metrics(rounds)
    if args.rounds > 1:
        metrics["rounds"] = args.rounds
    rows = report.build_rows(metrics)
    meta = {
        "generated": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "host": platform.node(), "cores": os.cpu_count(), "python": platform.python_version(),
        "server": server_url.split("@")[-1],
        "options": {k: str(v) for k, v in vars(args).items() if k != "database_url"},  # no password
        "duration_s": round(time.perf_counter() - started, 1), "failed": failed, "log_dir": str(ctx.logdir),
        "cpu_busy_before": loads,
    }
    report.write_json(args.output, meta=meta, metrics=metrics, rows=rows, notes=ctx.notes)
    print(report.format_table(rows))
    details = report.format_details(metrics)
    if details:
        print("\n" + details)
    if ctx.notes:
        print("\nnotes:")
        for note in ctx.notes:
            print(f"  - {note}")
    print(f"\n{meta['duration_s']} s; JSON in {args.output}; logs in {ctx.logdir}")
    return 1 if failed else 0


def run_round(ctx: Context, only: list[str], loads: dict[str, float | None], failed: list[str]) -> dict:
    """Each selected measurement once; their metrics."""
    metrics: dict = {}
    for name, measure in MEASUREMENTS.items():
        if name not in only:
            continue
        busy = busy_fraction()
        loads[name] = None if busy is None else round(busy, 3)
        log(f"--- {name}" + ("" if busy is None else f" (CPU {busy:.0%} busy with other work)"))
        if busy is not None and busy > BUSY:
            ctx.note(f"other work kept the CPUs {busy:.0%} busy just before {name}: its numbers are not reliable")
        try:
            metrics.update(measure(ctx))
        except Exception as exc:  # one broken measurement must not lose the others
            traceback.print_exc(file=sys.stderr)
            ctx.note(f"{name} failed: {type(exc).__name__}: {exc}")
            failed.append(name)
    return metrics


def median_metrics(rounds: list[dict]) -> dict:
    """Each figure's median over the rounds that produced it (non-numbers: the last round's)."""
    combined: dict = {}
    for key in dict.fromkeys(k for metrics in rounds for k in metrics):
        values = [metrics[key] for metrics in rounds if metrics.get(key) is not None]
        numeric = values and all(isinstance(v, int | float) and not isinstance(v, bool) for v in values)
        combined[key] = statistics.median(values) if numeric else (values[-1] if values else None)
    return combined


if __name__ == "__main__":
    sys.exit(main())
