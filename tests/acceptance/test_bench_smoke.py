"""The benchmark harness runs end to end on tiny numbers (no timing is asserted: SPEC §11)."""

from __future__ import annotations

import pytest

from bench import floor, fullstack, latency, peers, users
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


def test_python_steps_cold_complete_every_submission(server_url, tmp_path):
    ctx = tiny_context(server_url, tmp_path)
    ctx.n = 3
    metrics = users.run_python_cold(ctx)
    assert metrics["pycold_complete"] == 3 and metrics["pycold_failed"] == 0
    assert metrics["pycold_steps_per_s"] > 0


def test_python_latency_and_regression_runs_complete(server_url, tmp_path):
    ctx = tiny_context(server_url, tmp_path)
    ctx.n = 3
    metrics = users.run_python_latency(ctx)
    for key in ("pynoop", "linreg"):
        assert metrics[f"{key}_latency_runs"] == 5
        assert 0 < metrics[f"{key}_latency_p50_ms"] <= metrics[f"{key}_latency_p99_ms"]
    assert metrics["linreg_complete"] == 3 and metrics["linreg_failed"] == 0


def test_batch_intake_stores_and_completes_every_submission(server_url, tmp_path):
    ctx = tiny_context(server_url, tmp_path)
    metrics = users.run_batch(ctx)
    assert metrics["batch_submissions_per_s"] > 0
    assert metrics["fullbatch_accepted"] == 5 and metrics["fullbatch_complete"] == 5
    assert not [note for note in ctx.notes if "refused" in note], ctx.notes


def test_held_transaction_run_counts_dead_rows(server_url, tmp_path):
    ctx = tiny_context(server_url, tmp_path)
    metrics = users.run_held(ctx)
    assert metrics["held_steps_per_s"] > 0 and metrics["free_steps_per_s"] > 0
    assert metrics["held_dead_rows"] >= 0 and "held_dead_steps" in metrics


def test_recovery_restarts_the_killed_workers_step(server_url, tmp_path):
    """One SIGKILL of the worker running a step; another worker starts its next attempt."""
    ctx = tiny_context(server_url, tmp_path)
    ctx.kills = 1
    metrics = users.run_recovery(ctx)
    assert metrics["recovery_kills"] == 1
    assert metrics["recovery_max_s"] > 0


def test_idle_runners_cost_is_measured(server_url, tmp_path, monkeypatch):
    monkeypatch.setattr(users, "IDLE_RUNNERS", 4)
    monkeypatch.setattr(users, "IDLE_SECONDS", 1.0)
    ctx = tiny_context(server_url, tmp_path)
    metrics = users.run_idle(ctx)
    assert metrics["idle_runners"] == 4
    assert metrics["idle_postgres_core_fraction"] >= 0 and metrics["idle_transactions_per_s"] >= 0


def test_a_peer_that_is_not_installed_is_noted_not_measured(server_url, tmp_path, monkeypatch):
    monkeypatch.setattr(peers.importlib.util, "find_spec", lambda name: None)
    ctx = tiny_context(server_url, tmp_path)
    assert peers.run_dbos(ctx) == {}
    assert ctx.notes == ["dbos is not installed (pip install dbos): not measured"]


@pytest.mark.parametrize("name", ["dbos", "pgqueuer"])
def test_postgres_peers_run_the_same_job(server_url, tmp_path, name):
    """The optional peers (`pip install -e '.[bench]'`, as .ci/run does) run our job's shape."""
    ctx = tiny_context(server_url, tmp_path)
    metrics = getattr(peers, f"run_{name}")(ctx)
    assert metrics[f"{name}_complete"] == 5 and metrics[f"{name}_steps_per_s"] > 0
