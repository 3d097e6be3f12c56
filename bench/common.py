"""Shared plumbing for the benchmarks: servers, throw-away databases, our service, timing helpers."""

from __future__ import annotations

import os
import re
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import psycopg
import requests
from sqlalchemy.engine import make_url

from app.db import libpq_url, sqlalchemy_url

DEFAULT_SERVER = "postgresql://postgres@127.0.0.1:5432/postgres"
REPO = Path(__file__).resolve().parent.parent
DONE_STATES = ("Complete", "Error", "Crash", "Cancelled")

NOOP_STEP_NAMES = ("one", "two", "three")
NOOP_STEPS = len(NOOP_STEP_NAMES)


def _chain(job: str, task: str, what: str) -> str:
    """A job of NOOP_STEPS chained steps of one task; it takes no input."""
    steps = "".join(f"      - {{name: {step}, task: {task}}}\n" for step in NOOP_STEP_NAMES)
    return f"""  - name: {job}
    description: three chained {what} steps (benchmark)
    inputs: []
    steps:
{steps}"""


# Two jobs of three chained no-op steps: `true` through the local backend (NOOP_JOB), and
# bench.noop:noop through the python backend (PYTHON_NOOP_JOB). The workers import `bench` from
# the repository (Service.start_workers puts it on their PYTHONPATH).
NOOP_JOB = "noop3"
PYTHON_NOOP_JOB = "pynoop3"
# One step of the built-in linear regression on a CSV upload (input_data), and one that sleeps
# (a step to kill its worker under), retried once.
LINREG_JOB = "linreg1"
SLEEP_JOB = "sleep1"
NOOP_CONFIG = f"""
version: 1
backends:
  - {{name: local, type: local}}
  - {{name: py, type: python}}
tasks:
  - {{name: noop, backend: local, executable: "true"}}
  - {{name: pynoop, backend: py, function: "bench.noop:noop"}}
  - {{name: linreg, backend: py, function: "app.analytics.stats:linear_regression", in_globs: [".csv"],
     out_globs: [".json"]}}
  - {{name: sleeper, backend: local, executable: "sleep 600", retries: 1}}
jobs:
{_chain(NOOP_JOB, "noop", "`true`")}{_chain(PYTHON_NOOP_JOB, "pynoop", "python no-op")}
  - {{name: {LINREG_JOB}, steps: [{{task: linreg}}]}}
  - {{name: {SLEEP_JOB}, inputs: [], steps: [{{task: sleeper}}]}}
"""
CSV_100 = "x,y\n" + "".join(f"{i},{2.5 * i + (i % 7) - 3}\n" for i in range(100))  # a 100-row numeric CSV


@dataclass
class Context:
    """What every measurement gets: the server to make databases on, and the run's options."""

    server_url: str  # SQLAlchemy URL of a database on a server where we may CREATE DATABASE
    n: int = 1000
    latency_runs: int = 200
    big_rows: int = 100_000
    workers: int = 2
    concurrency: int = 4
    web_processes: int = 2
    clients: int = 16
    kills: int = 20  # worker SIGKILLs in the recovery measurement
    logdir: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="aa-bench-logs-")))
    notes: list[str] = field(default_factory=list)  # problems noticed, for the report

    def note(self, text: str) -> None:
        self.notes.append(text)
        print(f"  ! {text}", file=sys.stderr, flush=True)


def log(text: str) -> None:
    """Progress, on stderr, so stdout keeps only the table."""
    print(f"[bench {time.strftime('%H:%M:%S')}] {text}", file=sys.stderr, flush=True)


# --- servers and databases ----------------------------------------------------------------------


def server_answers(url: str, timeout: float = 2.0) -> bool:
    try:
        with psycopg.connect(dsn(url), connect_timeout=timeout):
            return True
    except psycopg.Error:
        return False


@contextmanager
def database_server(url: str | None) -> Iterator[str]:
    """The given server, else the machine's PostgreSQL at 127.0.0.1:5432, else an embedded one."""
    if url:
        yield sqlalchemy_url(url)
        return
    if server_answers(DEFAULT_SERVER):
        yield sqlalchemy_url(DEFAULT_SERVER)
        return
    from app.embedded import start_embedded

    log("no PostgreSQL at 127.0.0.1:5432; starting the embedded server")
    with tempfile.TemporaryDirectory(prefix="aa-bench-pg-") as tmp:
        url, server = start_embedded(Path(tmp) / "pgdata", cleanup="delete")
        try:
            yield url
        finally:
            server.cleanup()


def dsn(url: str) -> str:
    """A libpq connection string for a SQLAlchemy or libpq URL."""
    return libpq_url(sqlalchemy_url(url))


def with_database(url: str, name: str) -> str:
    return make_url(sqlalchemy_url(url)).set(database=name).render_as_string(hide_password=False)


@contextmanager
def fresh_database(server_url: str, label: str) -> Iterator[str]:
    """CREATE DATABASE bench_<label>_<random>; yield its SQLAlchemy URL; drop it afterwards."""
    name = f"bench_{re.sub(r'[^a-z0-9_]', '_', label.lower())}_{uuid.uuid4().hex[:8]}"
    admin = dsn(server_url)
    with psycopg.connect(admin, autocommit=True) as connection:
        connection.execute(f'CREATE DATABASE "{name}"')
    try:
        yield with_database(server_url, name)
    finally:
        with psycopg.connect(admin, autocommit=True) as connection:
            connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def scalar(url: str, sql: str, params: tuple = ()) -> object:
    with psycopg.connect(dsn(url), autocommit=True) as connection:
        return connection.execute(sql, params).fetchone()[0]


def execute(url: str, *statements: str) -> None:
    with psycopg.connect(dsn(url), autocommit=True) as connection:
        for statement in statements:
            connection.execute(statement)


# --- processes ----------------------------------------------------------------------------------


@contextmanager
def output_to(path: Path) -> Iterator[None]:
    """Children started inside this block write their stdout and stderr to `path`, not ours."""
    sys.stdout.flush()
    sys.stderr.flush()
    with open(path, "ab") as sink:
        saved = os.dup(1), os.dup(2)
        try:
            os.dup2(sink.fileno(), 1)
            os.dup2(sink.fileno(), 2)
            yield
        finally:
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            os.close(saved[0])
            os.close(saved[1])


def stop(process: subprocess.Popen, timeout: float = 20) -> None:
    """SIGTERM, then SIGKILL, one process we started (by its id)."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until(check: Callable[[], bool], timeout: float, what: str, interval: float = 0.05) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(interval)


def follow_progress(ctx: Context, done: Callable[[], int], n: int, label: str, stall: float = 60) -> int:
    """Poll `done()` until it reaches n, or until `stall` seconds pass without progress (noted);
    return the last count."""
    last, last_change = -1, time.perf_counter()
    while True:
        count = done()
        if count >= n:
            return count
        if count != last:
            last, last_change = count, time.perf_counter()
        elif time.perf_counter() - last_change > stall:
            ctx.note(f"{label}: stalled at {count}/{n} chains for {stall:.0f} s")
            return count
        time.sleep(0.02)


def scan_logs(ctx: Context, path: Path, label: str) -> None:
    """Note tracebacks and error lines our processes logged (the access log is not an error)."""
    if not path.exists():
        return
    lines = path.read_text(errors="replace").splitlines()
    bad = [line for line in lines if re.search(r"Traceback|\bERROR\b|\bCRITICAL\b|\bWARNING\b", line)]
    statuses = [m.group(1) for line in lines if (m := re.search(r'" (5\d\d) ', line))]
    if bad:
        ctx.note(f"{label}: {len(bad)} warning/error line(s) in {path}, first: {bad[0][:200]}")
    if statuses:
        ctx.note(f"{label}: {len(statuses)} HTTP 5xx answer(s) in the access log {path}")


class Service:
    """Our service on one database: waitress (via app.runtime.serve) and `aa worker` processes."""

    def __init__(self, ctx: Context, url: str, label: str) -> None:
        self.ctx = ctx
        self.url = url
        self.label = label
        self.web_log = ctx.logdir / f"{label}-web.log"
        self.worker_log = ctx.logdir / f"{label}-workers.log"
        self.web: subprocess.Popen | None = None
        self.workers: list[subprocess.Popen] = []
        self.base = ""

    def start_web(self) -> str:
        from app import runtime

        port = free_port()
        with output_to(self.web_log):
            self.web = runtime.serve(self.url, host="127.0.0.1", port=port, processes=self.ctx.web_processes)
        self.base = f"http://127.0.0.1:{port}"

        def healthy() -> bool:
            if self.web.poll() is not None:
                raise RuntimeError(f"the web server exited (see {self.web_log})")
            try:
                return requests.get(f"{self.base}/api/health", timeout=10).status_code == 200
            except requests.RequestException:  # not listening yet, or still booting
                return False

        wait_until(healthy, 60, "the web server to be healthy")
        return self.base

    def start_workers(self, n: int | None = None, env: dict[str, str] | None = None) -> None:
        from app import runtime

        n = self.ctx.workers if n is None else n
        before = len(self.workers)
        # The repository first on the path, whatever our working directory: the workers import
        # `app`, and their python tasks (which inherit the worker's sys.path) import `bench.noop`.
        path = os.pathsep.join(p for p in (str(REPO), os.environ.get("PYTHONPATH", "")) if p)
        env = {"PYTHONPATH": path, **(env or {})}
        with output_to(self.worker_log):
            for _ in range(n):
                self.workers.append(runtime.spawn_worker(self.url, concurrency=self.ctx.concurrency, env=env))

        def registered() -> bool:
            if any(w.poll() is not None for w in self.workers):
                raise RuntimeError(f"a worker exited (see {self.worker_log})")
            return scalar(self.url, "SELECT count(*) FROM procrastinate_workers") >= before + n

        wait_until(registered, 60, "the workers to register")

    def stop(self) -> None:
        for process in self.workers:
            process.send_signal(signal.SIGTERM)
        for process in self.workers:
            stop(process)
        if self.web is not None:
            stop(self.web)
        scan_logs(self.ctx, self.web_log, f"{self.label} web")
        scan_logs(self.ctx, self.worker_log, f"{self.label} workers")

    def __enter__(self) -> Service:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def prepare_ours(url: str) -> None:
    """Migrate a fresh database and load the no-op configuration."""
    from app import migrate
    from app.db import make_engine, make_sessionmaker, transaction
    from app.services import catalog

    migrate.upgrade(url)
    engine = make_engine(url, pool_size=1)
    try:
        with transaction(make_sessionmaker(engine)) as session:
            catalog.load(session, NOOP_CONFIG)
    finally:
        engine.dispose()


# --- statistics ---------------------------------------------------------------------------------


def percentile(values: list[float], p: float) -> float:
    """The p-th percentile (0..100), linear interpolation between closest ranks."""
    if not values:
        raise ValueError("no values")
    ordered = sorted(values)
    if len(ordered) == 1:
        return ordered[0]
    rank = (len(ordered) - 1) * p / 100
    low = int(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def median(values: list[float]) -> float:
    return statistics.median(values)


# --- CPU accounting (Linux /proc; silently empty elsewhere) -------------------------------------

_TICK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def _cpu(pid: int) -> tuple[float, float]:
    """(own CPU seconds, CPU seconds of its reaped children) of one process."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return 0.0, 0.0
    fields = text[text.rindex(")") + 2:].split()
    return (int(fields[11]) + int(fields[12])) / _TICK, (int(fields[13]) + int(fields[14])) / _TICK


def _tree(pid: int) -> list[int]:
    """The process and its descendants that are alive now."""
    found = [pid]
    for task in Path(f"/proc/{pid}/task").glob("*") if Path(f"/proc/{pid}/task").exists() else []:
        try:
            children = (task / "children").read_text().split()
        except OSError:
            continue
        for child in children:
            found += _tree(int(child))
    return found


def _backends(url: str) -> list[int]:
    """PIDs of the server processes serving connections to this database (local servers only)."""
    name = make_url(sqlalchemy_url(url)).database
    try:
        with psycopg.connect(dsn(url), autocommit=True) as connection:
            me = connection.info.backend_pid
            rows = connection.execute("SELECT pid FROM pg_stat_activity WHERE datname = %s", (name,)).fetchall()
    except psycopg.Error:
        return []
    return [pid for (pid,) in rows if pid != me]


class CpuMeter:
    """CPU seconds used between start() and stop() by groups of process trees, and by the
    PostgreSQL backends of one database (when the server runs on this machine)."""

    def __init__(self, groups: dict[str, list[int]], url: str | None = None) -> None:
        self.groups = groups
        self.url = url
        self.before: dict[int, tuple[float, float]] = {}
        self.machine_before: float | None = None

    def _snapshot(self) -> dict[str, list[int]]:
        trees = {name: [p for root in roots for p in _tree(root)] for name, roots in self.groups.items()}
        if self.url:
            trees["postgres"] = _backends(self.url)
        return trees

    def start(self) -> None:
        self.before = {pid: _cpu(pid) for pids in self._snapshot().values() for pid in pids}
        self.machine_before = _machine_busy()

    def stop(self) -> dict[str, float]:
        """{group: own CPU s, group + '_children': CPU s of reaped children (spawned programs)}."""
        used: dict[str, float] = {}
        for name, pids in self._snapshot().items():
            own = children = 0.0
            for pid in set(pids):
                now, start = _cpu(pid), self.before.get(pid, (0.0, 0.0))
                own += max(0.0, now[0] - start[0])
                children += max(0.0, now[1] - start[1])
            used[name] = own
            if name != "postgres":
                used[f"{name}_children"] = children
        machine = _machine_busy()
        if machine is not None and self.machine_before is not None:
            used["machine"] = machine - self.machine_before
        return used


def _machine_busy() -> float | None:
    """CPU seconds all the machine's CPUs have been busy since boot (/proc/stat)."""
    try:
        values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    except (OSError, ValueError):
        return None
    idle = values[3] + (values[4] if len(values) > 4 else 0)
    return (sum(values[:8]) - idle) / _TICK


def busy_fraction(seconds: float = 1.0) -> float | None:
    """How busy the machine's CPUs are while we are not doing anything (0..1), from /proc/stat."""

    def sample() -> tuple[int, int]:
        values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
        idle = values[3] + (values[4] if len(values) > 4 else 0)  # idle + iowait
        return idle, sum(values)

    try:
        idle0, total0 = sample()
        time.sleep(seconds)
        idle1, total1 = sample()
    except (OSError, ValueError, IndexError):
        return None
    return 1 - (idle1 - idle0) / max(1, total1 - total0)
