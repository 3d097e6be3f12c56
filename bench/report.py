"""The results table: measured values next to the targets of the performance issue (SPEC §11)."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

# Targets (the performance issue).
VS_CELERY = 1.5  # full-stack steps/s ≥ 1.5 × Celery's
OF_SPAWN_CEILING = 0.40  # full-stack steps/s ≥ 40 % of the spawn ceiling
LATENCY_P50_MS = 12.0  # issue 12 (issue 5 had 25 and 60)
LATENCY_P99_MS = 25.0
POSTS_PER_S = 500.0
GET_GROWTH = 1.2  # GET status p50 at 10^6 rows ≤ 1.2 × at 10^3 rows
BIG_QUEUE = 0.9  # throughput with 10^6 finished queue jobs ≥ 0.9 × empty table
TARGET_ROWS = 1_000_000
# Targets of issue 12 (what users feel).
VS_CELERY_HTTP = 1.2  # single POSTs, against Celery behind the same kind of HTTP intake
WARM_PYTHON = 10.0  # python no-op steps/s ≥ 10× the cold design's
LINREG_P50_MS = 50.0
HELD = 0.8  # throughput with a transaction held open ≥ 0.8× the free run
VS_PEER = 1.0  # full stack ≥ the fastest PostgreSQL peer measured
IDLE_CORE = 0.02  # 50 idle runners cost PostgreSQL ≤ 2% of one core


@dataclass
class Row:
    name: str
    measured: float | None
    unit: str
    target: str = ""
    ratio: float | None = None
    met: bool | None = None
    note: str = ""


def _ratio(a: float | None, b: float | None) -> float | None:
    return a / b if a is not None and b else None


def _at_least(value: float | None, bound: float | None) -> bool | None:
    return None if value is None or bound is None else value >= bound


def _at_most(value: float | None, bound: float | None) -> bool | None:
    return None if value is None or bound is None else value <= bound


def _fmt(value: float | None) -> str:
    if value is None:
        return "n/a"
    if abs(value) >= 100:
        return f"{value:,.0f}"
    if abs(value) >= 10:
        return f"{value:.1f}"
    return f"{value:.2f}"


def _count(value: float | None) -> str:
    """A count for a label (a median over rounds is a float)."""
    return "?" if value is None else f"{value:.0f}"


def _rows_label(count: float | None) -> str:
    if not count:
        return "?"
    exponent = len(str(int(count))) - 1
    return f"10^{exponent}" if int(count) == 10**exponent else f"{int(count):,}"


def build_rows(m: dict[str, Any]) -> list[Row]:
    """Table rows from the metrics of whichever measurements ran."""
    ours = m.get("fullstack_steps_per_s")
    celery = m.get("celery_steps_per_s")
    celery_http = m.get("celery_http_steps_per_s")
    spawn = m.get("spawn_ceiling")
    raw = m.get("procrastinate_steps_per_s")
    python = m.get("fullstack_python_steps_per_s")
    floor = m.get("floor_steps_per_s")
    rows = [
        Row("ours, full stack (local `true`) vs Celery", ours, "steps/s",
            f"≥ {VS_CELERY}× Celery" + (f" = {_fmt(VS_CELERY * celery)}" if celery else ""),
            _ratio(ours, celery), _at_least(_ratio(ours, celery), VS_CELERY)),
        Row("ours, full stack (local `true`) vs spawn ceiling", ours, "steps/s",
            f"≥ {OF_SPAWN_CEILING:.0%} of ceiling" + (f" = {_fmt(OF_SPAWN_CEILING * spawn)}" if spawn else ""),
            _ratio(ours, spawn), _at_least(_ratio(ours, spawn), OF_SPAWN_CEILING)),
        Row("ours, full stack (local `true`)", m.get("fullstack_submissions_per_s"), "submissions/s"),
        Row("ours, full stack (python no-op tasks)", python, "steps/s", "", _ratio(python, ours),
            note="ratio = python no-op / local `true`" if python is not None and ours else ""),
        Row("ours, full stack (python no-op tasks)", m.get("fullstack_python_submissions_per_s"), "submissions/s"),
        Row("Celery chain on Redis, 3 × `true` + status row", celery, "steps/s", "(baseline)"),
        Row("ours vs Celery, both POSTed over HTTP", ours, "steps/s",
            f"≥ {VS_CELERY_HTTP}× Celery" + (f" = {_fmt(VS_CELERY_HTTP * celery_http)}" if celery_http else ""),
            _ratio(ours, celery_http), _at_least(_ratio(ours, celery_http), VS_CELERY_HTTP),
            note="ratio = ours / Celery behind a Flask POST view, as the "
            "predecessor's Django view sent its chains" if celery_http else ""),
        Row("Celery chain behind a Flask POST view", celery_http, "steps/s"),
        Row("raw Procrastinate, 3 chained no-op tasks", raw, "tasks/s", "(queue overhead)",
            _ratio(ours, raw), note="ratio = ours / raw"),
        Row("floor: each part alone, cores / CPU per step", floor, "steps/s", "(the design's bound)",
            _ratio(floor, celery), note=f"ratio = floor / Celery; floor / spawn ceiling = {_fmt(_ratio(floor, spawn))}"
            if floor and celery and spawn else ""),
        Row("ceiling: spawn `true`, 1 process", m.get("spawn_per_s_serial"), "spawns/s"),
        Row(f"ceiling: spawn `true`, {_count(m.get('cores'))} processes", m.get("spawn_per_s_parallel"), "spawns/s"),
        Row("ceiling: pgbench single-row commits, 1 client", m.get("commits_per_s_1"), "commits/s"),
        Row(f"ceiling: pgbench single-row commits, {_count(m.get('pgbench_clients'))} clients",
            m.get("commits_per_s_n"), "commits/s"),
        Row("latency POST→Complete p50", m.get("latency_p50_ms"), "ms", f"≤ {LATENCY_P50_MS:.0f} ms",
            _ratio(m.get("latency_p50_ms"), LATENCY_P50_MS), _at_most(m.get("latency_p50_ms"), LATENCY_P50_MS)),
        Row("latency POST→Complete p95", m.get("latency_p95_ms"), "ms"),
        Row("latency POST→Complete p99", m.get("latency_p99_ms"), "ms", f"≤ {LATENCY_P99_MS:.0f} ms",
            _ratio(m.get("latency_p99_ms"), LATENCY_P99_MS), _at_most(m.get("latency_p99_ms"), LATENCY_P99_MS)),
        Row("  of which: POST answered, p50", m.get("latency_post_p50_ms"), "ms"),
        Row("  server created→finished, p50", m.get("latency_server_p50_ms"), "ms"),
        Row("API accepted POSTs, workers stopped", m.get("api_posts_per_s"), "POSTs/s", f"≥ {POSTS_PER_S:.0f}/s",
            _ratio(m.get("api_posts_per_s"), POSTS_PER_S), _at_least(m.get("api_posts_per_s"), POSTS_PER_S)),
    ]
    small, big = m.get("api_get_p50_small_ms"), m.get("api_get_p50_big_ms")
    big_label = _rows_label(m.get("api_rows_big"))
    rows += [
        Row(f"GET status p50, {_rows_label(m.get('api_rows_small'))} submissions", small, "ms"),
        Row(f"GET status p50, {big_label} submissions", big, "ms",
            f"≤ {GET_GROWTH}× 10^3" + (f" = {_fmt(GET_GROWTH * small)}" if small else ""),
            _ratio(big, small), _at_most(_ratio(big, small), GET_GROWTH),
            _scaled_note(m.get("api_rows_big"))),
    ]
    rows += users_rows(m, celery)
    queue = m.get("bigqueue_steps_per_s")
    rows.append(Row(f"ours, full stack, {_rows_label(m.get('bigqueue_rows'))} finished queue jobs", queue, "steps/s",
                    f"≥ {BIG_QUEUE}× empty" + (f" = {_fmt(BIG_QUEUE * ours)}" if ours else ""),
                    _ratio(queue, ours), _at_least(_ratio(queue, ours), BIG_QUEUE),
                    _scaled_note(m.get("bigqueue_rows"))))
    return rows


def users_rows(m: dict[str, Any], celery: float | None) -> list[Row]:
    """The rows of issue 12's measurements (bench/users.py)."""
    batch, warm = m.get("fullbatch_steps_per_s"), m.get("fullstack_python_steps_per_s")
    cold = m.get("pycold_steps_per_s")
    held, free = m.get("held_steps_per_s"), m.get("free_steps_per_s")
    idle = m.get("idle_postgres_core_fraction")
    recovery, bound = m.get("recovery_max_s"), m.get("recovery_bound_s")
    linreg = m.get("linreg_latency_p50_ms")
    ours = m.get("fullstack_steps_per_s")
    peers = {name: m.get(f"{name}_steps_per_s") for name in ("dbos", "pgqueuer")}
    fastest = max((v for v in peers.values() if v), default=None)
    return [
        Row("ours, full stack vs the fastest PostgreSQL peer", ours, "steps/s",
            f"≥ {VS_PEER:.1f}× peer" + (f" = {_fmt(VS_PEER * fastest)}" if fastest else ""),
            _ratio(ours, fastest), _at_least(_ratio(ours, fastest), VS_PEER)),
        Row("DBOS Transact, 3-step `true` workflows, in-process", peers["dbos"], "steps/s"),
        Row("pgqueuer, 3 chained `true` jobs", peers["pgqueuer"], "steps/s"),
        Row("ours, full stack, batch intake (50 per POST) vs Celery", batch, "steps/s",
            f"≥ {VS_CELERY}× Celery" + (f" = {_fmt(VS_CELERY * celery)}" if celery else ""),
            _ratio(batch, celery), _at_least(_ratio(batch, celery), VS_CELERY)),
        Row("batch intake, workers stopped", m.get("batch_submissions_per_s"), "submissions/s"),
        Row("python no-op steps, warm vs cold (AA_PYTHON_WARM=0)", warm, "steps/s",
            f"≥ {WARM_PYTHON:.0f}× cold" + (f" = {_fmt(WARM_PYTHON * cold)}" if cold else ""),
            _ratio(warm, cold), _at_least(_ratio(warm, cold), WARM_PYTHON)),
        Row("python no-op steps, cold", cold, "steps/s"),
        Row("python no-op job POST→Complete p50", m.get("pynoop_latency_p50_ms"), "ms"),
        Row("python no-op job POST→Complete p99", m.get("pynoop_latency_p99_ms"), "ms"),
        Row("linear_regression, 100 rows, POST→Complete p50", linreg, "ms", f"≤ {LINREG_P50_MS:.0f} ms",
            _ratio(linreg, LINREG_P50_MS), _at_most(linreg, LINREG_P50_MS)),
        Row("linear_regression, 100 rows, POST→Complete p99", m.get("linreg_latency_p99_ms"), "ms"),
        Row("linear_regression, 100 rows, full stack", m.get("linreg_steps_per_s"), "steps/s"),
        Row("full stack, a transaction held open throughout", held, "steps/s",
            f"≥ {HELD}× free run" + (f" = {_fmt(HELD * free)}" if free else ""),
            _ratio(held, free), _at_least(_ratio(held, free), HELD)),
        Row("  the free run, same measurement", free, "steps/s"),
        Row("  dead rows in the hot tables after: held", m.get("held_dead_rows"), "rows"),
        Row("  dead rows in the hot tables after: free", m.get("free_dead_rows"), "rows"),
        Row(f"postgres CPU, {_count(m.get('idle_runners'))} idle runners", None if idle is None else idle * 100,
            "% of a core", f"≤ {IDLE_CORE:.0%}", _ratio(idle, IDLE_CORE), _at_most(idle, IDLE_CORE)),
        Row("  transactions/s meanwhile", m.get("idle_transactions_per_s"), "per s"),
        Row(f"recovery after SIGKILL, max of {_count(m.get('recovery_kills'))}", recovery, "s",
            "≤ stall + heartbeat" + (f" = {_fmt(bound)}" if bound else ""),
            _ratio(recovery, bound), _at_most(recovery, bound)),
        Row("recovery after SIGKILL, p50", m.get("recovery_p50_s"), "s"),
    ]


def _scaled_note(count: float | None) -> str:
    if count and count < TARGET_ROWS:
        return "target is at 10^6 rows: run with --rows-1e6"
    return ""


def format_table(rows: list[Row]) -> str:
    header = ("measurement", "measured", "unit", "target", "ratio", "met")
    cells = [header] + [
        (r.name, _fmt(r.measured), r.unit, r.target, "" if r.ratio is None else f"{r.ratio:.2f}",
         "" if r.met is None and not r.target.startswith(("≥", "≤")) else
         ("n/a" if r.met is None else "met" if r.met else "NOT met"))
        for r in rows
    ]
    widths = [max(len(row[i]) for row in cells) for i in range(len(header))]
    align = ["<", ">", "<", "<", ">", "<"]
    lines = []
    for n, row in enumerate(cells):
        lines.append(" | ".join(f"{cell:{a}{w}}" for cell, a, w in zip(row, align, widths, strict=True)).rstrip())
        if n == 0:
            lines.append("-+-".join("-" * w for w in widths))
    notes = [f"  * {r.name.strip()}: {r.note}" for r in rows if r.note]
    return "\n".join(lines + ([""] + notes if notes else []))


def write_json(path: Path, *, meta: dict[str, Any], metrics: dict[str, Any], rows: list[Row],
               notes: list[str]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    document = {"meta": meta, "metrics": metrics, "rows": [asdict(r) for r in rows], "notes": notes}
    path.write_text(json.dumps(document, indent=2, default=str) + "\n")


FLOOR_PARTS = (("program", "program"), ("spawn", "worker spawning it"), ("queue", "claim and record"),
               ("queue_postgres", "their postgres"), ("intake", "POST in-process"),
               ("intake_postgres", "its postgres"))


def format_details(m: dict[str, Any]) -> str:
    """Where the CPU went, per completed step, and our service's own step timings."""
    lines = []
    groups = ("web", "workers", "workers_children", "postgres", "client")
    labels = {"workers_children": "spawned programs", "client": "bench client"}
    for prefix, title in (("fullstack_", "ours, full stack"), ("fullstack_python_", "ours, python no-op tasks"),
                          ("bigqueue_", "ours, big queue table"),
                          ("celery_", "Celery (Redis counts as other)"),
                          ("celery_http_", "Celery behind HTTP (Redis counts as other)"),
                          ("procrastinate_", "raw Procrastinate")):
        parts = [f"{labels.get(g, g)} {m[f'{prefix}cpu_ms_per_step_{g}']:.2f}"
                 for g in groups if f"{prefix}cpu_ms_per_step_{g}" in m]
        if parts:
            busy, other = m.get(f"{prefix}cpu_cores_busy"), m.get(f"{prefix}cpu_cores_other")
            lines.append(f"  {title}: " + ", ".join(parts) + (f"; {busy:.2f} cores busy" if busy else "")
                         + (f", other processes {other:.2f} cores" if other is not None else ""))
    if lines:
        lines.insert(0, "CPU ms per completed step:")
    if "floor_cpu_ms_per_step" in m:
        parts = ", ".join(f"{label} {m[f'floor_cpu_ms_{key}']:.2f}" for key, label in FLOOR_PARTS)
        lines.append(f"floor, CPU ms per step, each part alone: {parts}; in all {m['floor_cpu_ms_per_step']:.2f}")
    per_step = [(label, m.get(f"latency_{key}")) for key, label in (
        ("step_queue_wait_p50_ms", "queued→started"), ("step_run_p50_ms", "started→finished"))]
    if any(value is not None for _, value in per_step):
        lines.append("latency runs, per step, p50 ms: " + ", ".join(
            f"{label} {_fmt(value)}" for label, value in per_step if value is not None))
    for prefix, title in (("fullstack_", "ours, full stack"), ("fullstack_python_", "ours, python no-op tasks")):
        timings = [(label, m.get(f"{prefix}{key}")) for key, label in (
            ("mean_queue_wait_ms", "queued→started"), ("mean_step_run_ms", "started→finished"),
            ("mean_submission_ms", "submission created→finished"), ("post_phase_s", "POST phase (s)"),
            ("elapsed_s", "whole run (s)"))]
        if any(value is not None for _, value in timings):
            lines.append(f"{title}, means: " + ", ".join(f"{label} {_fmt(value)}" for label, value in timings
                                                         if value is not None))
    return "\n".join(lines)
