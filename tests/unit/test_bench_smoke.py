"""The benchmark's report and options, without a database (no timing is asserted: SPEC §11)."""

from __future__ import annotations

import json

import pytest

from bench import report
from bench.__main__ import MEASUREMENTS, parse_args
from bench.common import percentile

METRICS = {
    "fullstack_steps_per_s": 900.0, "fullstack_submissions_per_s": 300.0, "celery_steps_per_s": 500.0,
    "spawn_ceiling": 2000.0, "spawn_per_s_serial": 900.0, "spawn_per_s_parallel": 2000.0, "cores": 2,
    "procrastinate_steps_per_s": 600.0, "commits_per_s_1": 5000.0, "commits_per_s_n": 15000.0,
    "pgbench_clients": 8, "latency_p50_ms": 10.0, "latency_p95_ms": 40.0, "latency_p99_ms": 70.0,
    "api_posts_per_s": 250.0, "api_rows_small": 1000, "api_get_p50_small_ms": 2.0, "api_rows_big": 100_000,
    "api_get_p50_big_ms": 2.2, "bigqueue_rows": 100_000, "bigqueue_steps_per_s": 850.0,
    "fullstack_python_steps_per_s": 90.0, "fullstack_python_submissions_per_s": 30.0,
}


def by_name(rows, start):
    return next(r for r in rows if r.name.startswith(start))


def test_ratios_and_verdicts():
    rows = report.build_rows(METRICS)
    celery = by_name(rows, "ours, full stack (local `true`) vs Celery")
    assert celery.ratio == pytest.approx(1.8) and celery.met is True
    ceiling = by_name(rows, "ours, full stack (local `true`) vs spawn ceiling")
    assert ceiling.ratio == pytest.approx(0.45) and ceiling.met is True
    assert by_name(rows, "latency POST→Complete p50").met is True
    assert by_name(rows, "latency POST→Complete p99").met is False
    assert by_name(rows, "API accepted POSTs").met is False
    get = by_name(rows, "GET status p50, 10^5")
    assert get.ratio == pytest.approx(1.1) and get.met is True and "--rows-1e6" in get.note
    queue = by_name(rows, "ours, full stack, 10^5 finished queue jobs")
    assert queue.ratio == pytest.approx(850 / 900) and queue.met is True


def test_the_comparison_with_celery_behind_http_is_shown_only_when_measured():
    assert by_name(report.build_rows(METRICS), "ours vs Celery, both POSTed").ratio is None
    rows = report.build_rows({**METRICS, "celery_http_steps_per_s": 450.0})
    both = by_name(rows, "ours vs Celery, both POSTed")
    assert both.ratio == pytest.approx(2.0) and "Flask POST view" in both.note
    assert by_name(rows, "Celery chain behind a Flask POST view").measured == 450.0
    python = [r for r in rows if r.name == "ours, full stack (python no-op tasks)"]
    assert [(r.measured, r.unit) for r in python] == [(90.0, "steps/s"), (30.0, "submissions/s")]
    assert python[0].ratio == pytest.approx(0.1) and python[0].met is None and "TODO" not in python[0].note


def test_the_floor_is_compared_with_celery_and_the_spawn_ceiling():
    parts = {"program": 0.5, "spawn": 0.3, "queue": 0.3, "queue_postgres": 0.5, "intake": 0.3, "intake_postgres": 0.1}
    metrics = {**METRICS, **{f"floor_cpu_ms_{k}": v for k, v in parts.items()},
               "floor_cpu_ms_per_step": 2.0, "floor_steps_per_s": 1000.0}
    floor = by_name(report.build_rows(metrics), "floor: each part alone")
    assert floor.ratio == pytest.approx(2.0) and floor.met is None
    assert "floor / spawn ceiling = 0.50" in floor.note
    assert "claim and record 0.30, their postgres 0.50" in report.format_details(metrics)
    assert not by_name(report.build_rows(METRICS), "floor: each part alone").note


def test_missing_measurements_are_not_applicable():
    rows = report.build_rows({"latency_p50_ms": 30.0})
    assert by_name(rows, "ours, full stack (local `true`) vs Celery").met is None
    assert by_name(rows, "latency POST→Complete p50").met is False
    python = by_name(rows, "ours, full stack (python no-op tasks)")
    assert python.measured is None and python.ratio is None and not python.note
    table = report.format_table(rows)
    assert "n/a" in table and "NOT met" in table


def test_json_output(tmp_path):
    rows = report.build_rows(METRICS)
    path = tmp_path / "results" / "latest.json"
    report.write_json(path, meta={"n": 5}, metrics=METRICS, rows=rows, notes=["x"])
    document = json.loads(path.read_text())
    assert document["metrics"]["celery_steps_per_s"] == 500.0
    assert document["rows"][0]["unit"] == "steps/s" and document["notes"] == ["x"]


def test_options():
    args = parse_args([])
    assert (args.n, args.latency_runs, args.big_rows, args.workers, args.concurrency) == (1000, 200, 100_000, 2, 4)
    assert args.only == list(MEASUREMENTS) and "pyfull" in args.only
    args = parse_args(["--rows-1e6", "--only", "api, latency", "--n", "5"])
    assert args.big_rows == 1_000_000 and args.only == ["api", "latency"] and args.n == 5
    with pytest.raises(SystemExit):
        parse_args(["--only", "nonsense"])


def test_percentile():
    assert percentile([3.0, 1.0, 2.0], 50) == 2.0
    assert percentile([1.0, 2.0, 3.0, 4.0], 100) == 4.0
    assert percentile([5.0], 99) == 5.0


def test_rounds_are_combined_by_median():
    from bench.__main__ import median_metrics

    rounds = [{"fullstack_steps_per_s": 100.0, "celery_steps_per_s": 300.0, "server": "a"},
              {"fullstack_steps_per_s": 50.0, "celery_steps_per_s": 310.0, "server": "b"},
              {"fullstack_steps_per_s": 120.0, "server": "c"}]  # celery failed in the last round
    combined = median_metrics(rounds)
    assert combined["fullstack_steps_per_s"] == 100.0
    assert combined["celery_steps_per_s"] == 305.0
    assert combined["server"] == "c"
    assert parse_args(["--rounds", "3"]).rounds == 3
    with pytest.raises(SystemExit):
        parse_args(["--rounds", "0"])


def test_issue_12_rows_compare_with_their_references():
    metrics = {**METRICS, "fullbatch_steps_per_s": 800.0, "batch_submissions_per_s": 2000.0,
               "pycold_steps_per_s": 30.0, "linreg_latency_p50_ms": 40.0, "linreg_latency_p99_ms": 90.0,
               "held_steps_per_s": 300.0, "free_steps_per_s": 600.0, "held_dead_rows": 5000, "free_dead_rows": 100,
               "idle_runners": 50, "idle_postgres_core_fraction": 0.01, "idle_transactions_per_s": 60.0,
               "recovery_kills": 20, "recovery_max_s": 4.0, "recovery_p50_s": 3.2, "recovery_bound_s": 3.5}
    rows = report.build_rows(metrics)
    batch = by_name(rows, "ours, full stack, batch intake")
    assert batch.ratio == pytest.approx(1.6) and batch.met is True
    warm = by_name(rows, "python no-op steps, warm vs cold")
    assert warm.ratio == pytest.approx(3.0) and warm.met is False
    assert by_name(rows, "linear_regression, 100 rows, POST→Complete p50").met is True
    held = by_name(rows, "full stack, a transaction held open")
    assert held.ratio == pytest.approx(0.5) and held.met is False
    idle = by_name(rows, "postgres CPU, 50 idle runners")
    assert idle.measured == pytest.approx(1.0) and idle.met is True
    recovery = by_name(rows, "recovery after SIGKILL, max of 20")
    assert recovery.met is False and recovery.ratio == pytest.approx(4.0 / 3.5)
    for row in ("python no-op steps, warm", "full stack, a transaction held", "recovery after SIGKILL, max"):
        assert by_name(report.build_rows(METRICS), row).met is None  # not measured: not judged
