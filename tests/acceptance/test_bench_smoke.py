"""The benchmark harness runs end to end on tiny numbers (no timing is asserted: SPEC §11)."""

from __future__ import annotations

import pytest

from bench import floor, fullstack, latency
from bench.common import Context


def tiny_context(server_url: str, tmp_path) -> Context:
    return Context(server_url=server_url, n=5, latency_runs=3, big_rows=10, workers=1, concurrency=2,
                   web_processes=1, clients=4, logdir=tmp_path)


def test_full_stack_throughput_completes_every_submission(server_url, tmp_path):
    ctx = tiny_context(server_url, tmp_path)
    metrics = fullstack.run(ctx)
    assert metrics["fullstack_accepted"] == 5
    assert metrics["fullstack_complete"] == 5
    assert metrics["fullstack_failed"] == 0
    assert metrics["fullstack_steps_per_s"] > 0
    assert metrics["fullstack_submissions_per_s"] > 0


def test_full_stack_python_no_op_tasks_complete_every_submission(server_url, tmp_path):
    ctx = tiny_context(server_url, tmp_path)
    ctx.n = 3
    metrics = fullstack.run_python(ctx)
    assert metrics["fullstack_python_accepted"] == 3
    assert metrics["fullstack_python_complete"] == 3
    assert metrics["fullstack_python_failed"] == 0
    assert metrics["fullstack_python_steps_per_s"] > 0
    assert metrics["fullstack_python_submissions_per_s"] > 0


def test_latency_runs_complete(server_url, tmp_path):
    ctx = tiny_context(server_url, tmp_path)
    metrics = latency.run(ctx)
    assert metrics["latency_runs"] == 3
    assert 0 < metrics["latency_p50_ms"] <= metrics["latency_p95_ms"] <= metrics["latency_p99_ms"]
    assert metrics["latency_server_p50_ms"] > 0
    assert not [note for note in ctx.notes if "did not end Complete" in note], ctx.notes


def test_floor_measures_each_part(server_url, tmp_path):
    ctx = tiny_context(server_url, tmp_path)
    ctx.n = 30  # enough CPU for /proc's 10 ms ticks to see each part
    metrics = floor.run(ctx)
    parts = [metrics[f"floor_cpu_ms_{name}"] for name in ("program", "spawn", "queue", "queue_postgres",
                                                           "intake", "intake_postgres")]
    assert all(part >= 0 for part in parts) and metrics["floor_cpu_ms_program"] > 0
    assert metrics["floor_cpu_ms_per_step"] == pytest.approx(sum(parts))
    assert metrics["floor_steps_per_s"] > 0
