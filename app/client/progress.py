"""Following a submission in the terminal: a bar of finished/total steps, with the running step and
its elapsed time, drawn by rich (it falls back to plain lines where the output is not a terminal)."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from app.client.http import Service

FINISHED = ("Complete", "Error", "Crash", "Cancelled")
POLL_SECONDS = 0.5


def follow(service: Service, submission: dict[str, Any], *, console: Console, timeout: float | None = None
           ) -> dict[str, Any]:
    """Poll the submission until it ends (or `timeout` seconds pass), showing its progress; its last status."""
    deadline = None if timeout is None else time.monotonic() + timeout
    columns = (TextColumn("[bold]{task.fields[job]}"), BarColumn(), MofNCompleteColumn(),
               TextColumn("{task.description}"), TimeElapsedColumn())
    with Progress(*columns, console=console, transient=False) as bar:
        task = bar.add_task(running_text(submission), total=submission["progress"]["total"],
                            job=submission["job"] or "", completed=submission["progress"]["done"])
        status = submission
        while status["state"] not in FINISHED and (deadline is None or time.monotonic() < deadline):
            time.sleep(POLL_SECONDS)
            status = service.status(status["id"])
            bar.update(task, completed=status["progress"]["done"], description=running_text(status))
        bar.update(task, description=status["state"])
    return status


def running_text(status: dict[str, Any]) -> str:
    """The running steps with how long each has run, e.g. `sort_lines 1.2 s`; else the state."""
    now = datetime.now(UTC)
    running = [(s["name"], _since(s["started"], now)) for s in status["steps"] if s["state"] == "Running"]
    if not running:
        return status["state"]
    return ", ".join(f"{name} {seconds:.1f} s" for name, seconds in running)


def _since(started: str | None, now: datetime) -> float:
    if not started:
        return 0.0
    moment = datetime.fromisoformat(started)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return max((now - moment).total_seconds(), 0.0)
