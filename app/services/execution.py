"""Running one step attempt: stage its files, build its command, run it, judge the outcome.

Nothing here touches the database: the caller loads a `StepWork` and records the `Outcome`.
"""

from __future__ import annotations

import os
import threading
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

from app.backends import local, python
from app.config import Settings
from app.services import workspace
from app.services.commands import build_argv
from app.services.parameters import ParamSpec

SUCCESS, TERMINATE, FAIL, RETRY = "success", "terminate", "fail", "retry"


@dataclass
class StepWork:
    """Everything an attempt needs, loaded by the worker before it runs."""

    step_id: int
    attempt: int
    submission_id: str
    step_name: str
    task: dict[str, Any]
    params: dict[str, Any]
    files: list[tuple[str, bytes]] = field(default_factory=list)


@dataclass
class Outcome:
    """What an attempt produced and what should happen next."""

    action: str
    exit_status: int | None
    message: str = ""
    outputs: list[tuple[str, bytes]] = field(default_factory=list)
    stdout: str = ""
    stderr: str = ""


def execute(
    work: StepWork, settings: Settings, *, stop: threading.Event | None = None, guard: local.Guard | None = None,
) -> Outcome:
    """Run the attempt in a fresh working directory and judge its exit status and outputs."""
    task = work.task
    root = task["backend"].get("root_path") or settings.work_root
    workdir = workspace.make_workdir(root, f"aa-{work.submission_id[:8]}-{work.step_name}-{work.attempt}-")
    # Standard output goes straight to its result file when the task names one; otherwise, like
    # standard error, the backend keeps the end of it.
    stdout_glob = task.get("stdout_glob")
    try:
        staged = workspace.stage(workdir, work.files)
        with (workdir / f"{work.submission_id}{stdout_glob}").open("w+b") if stdout_glob else nullcontext() as stdout:
            result = local.run(
                _argv(work, staged, workdir), workdir=workdir, env=_environment(task), stdout=stdout,
                log_limit=settings.log_limit_bytes, timeout=task.get("timeout"), grace=settings.kill_grace_seconds,
                stop=stop, guard=guard,
            )
            stdout_text = _tail(stdout, settings.log_limit_bytes) if stdout is not None else _text(result.stdout)
        stderr_text = _text(result.stderr)
        produced = workspace.collect(workdir, _out_globs(task), staged)
        outcome = judge(work.step_name, task, result, [p.name for p in produced])
        if outcome.action == FAIL and _is_python(task) and (raised := python.error_message(workdir)):
            outcome.message = f"Step {work.step_name} raised {raised}"
        outcome.outputs = [(p.name, p.read_bytes()) for p in produced]
        outcome.stdout, outcome.stderr = stdout_text, stderr_text
        return outcome
    finally:
        workspace.remove_workdir(workdir, settings.keep_workdirs)


def _is_python(task: dict[str, Any]) -> bool:
    return task["backend"]["type"] == "python"


def _environment(task: dict[str, Any]) -> dict[str, str] | None:
    """The program's environment: the worker's, with the backend's and the task's additions
    (None when there are none: the child inherits the worker's as it is, at no cost)."""
    added = {**(python.environment() if _is_python(task) else {}), **task.get("environment", {})}
    return {**os.environ, **added} if added else None


def _out_globs(task: dict[str, Any]) -> list[str]:
    """A Python task's returned value (<stem>.json) is a result even when .json is not declared."""
    globs = task.get("out_globs", [])
    return [*globs, ".json"] if _is_python(task) and ".json" not in globs else globs


def _argv(work: StepWork, staged: list[str], workdir: Path) -> list[str]:
    task = work.task
    if _is_python(task):
        matches = [name for glob in task.get("in_globs", []) for name in workspace.matching(staged, glob)]
        inputs = list(dict.fromkeys(matches))
        return python.argv(task["function"], params=work.params, inputs=inputs, stem=work.submission_id,
                           workdir=workdir)
    specs = [ParamSpec.from_dict(p) for p in task.get("parameters", [])]
    return build_argv(
        task["executable"],
        inputs=[workspace.matching(staged, glob) for glob in task.get("in_globs", [])],
        out_globs=task.get("out_globs", []),
        params=[(spec, work.params.get(spec.name)) for spec in specs],
        stem=work.submission_id,
        workdir=str(workdir),
    )


def judge(step: str, task: dict[str, Any], result: local.ProcessResult, produced: list[str]) -> Outcome:
    """Map an exit status and the outputs found to an action, per SPEC §4.4 and §4.5."""
    status = result.exit_status
    if result.start_error is not None:
        return Outcome(FAIL, None, f"Step {step} could not start its program: {result.start_error}")
    if result.stopped:
        return Outcome(FAIL, status, f"Step {step} was cancelled")
    if result.timed_out:
        return Outcome(FAIL, status, f"Step {step} timed out after {task['timeout']} s and was killed")
    mapped = task.get("exit_codes", {}).get(str(status)) if status else None
    if status != 0 and mapped in (None, "fail"):
        return Outcome(FAIL, status, f"Step {step} failed with exit status {status}")
    if mapped == "retry":
        return Outcome(RETRY, status, f"Step {step} asked to be retried (exit status {status})")
    if mapped == "terminate":
        return Outcome(TERMINATE, status, f"Step {step} ended the job early (exit status {status})")
    absent = workspace.missing(task.get("out_globs", []), produced)
    if absent:
        policy = task.get("incomplete_outputs", "fail")
        message = f"Step {step} did not produce {', '.join(absent)}"
        if policy == "fail":
            return Outcome(FAIL, status, message)
        if policy == "terminate":
            return Outcome(TERMINATE, status, message + "; the job ended early")
        return Outcome(SUCCESS, status, message)
    return Outcome(SUCCESS, status, "")


def _tail(handle: BinaryIO, limit: int) -> str:
    """The last `limit` bytes of a file the process wrote, as text."""
    handle.seek(0, os.SEEK_END)
    size = handle.tell()
    handle.seek(max(0, size - limit))
    return _text(local.Captured(handle.read(), size))


def _text(captured: local.Captured) -> str:
    """The end of a log as text, saying how much was left out."""
    text = captured.tail.decode("utf-8", errors="replace").replace("\x00", "\ufffd")
    omitted = captured.size - len(captured.tail)
    return f"[... {omitted} bytes omitted ...]\n" + text if omitted else text
