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

from app.backends import local, python, python_warm
from app.config import Settings
from app.services import workspace
from app.services.commands import build_argv
from app.services.parameters import ParamSpec
from app.services.step_env import step_environment

SUCCESS, TERMINATE, FAIL, RETRY = "success", "terminate", "fail", "retry"
STDOUT_FILE = ".aa/stdout"  # in the working directory, beside the Python backend's files


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
    argv: list[str] | None = None  # what ran, for admins (it may hold server paths)
    ended: str | None = None  # set when recording it ended its submission: the submission's state
    # With `ended`, where the record knew them: the submission's job and its seconds from creation.
    ended_job: tuple[str, float] | None = None


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
    warm = _is_python(task) and settings.python_warm  # forked from the worker's zygote
    try:
        staged = workspace.stage(workdir, work.files)
        # Kept apart from the program's files, so it never overwrites a staged input of the same
        # suffix (a step reading `.csv` may print `.csv`); it becomes the result <stem><stdout_glob>.
        saved = workdir / STDOUT_FILE
        saved.parent.mkdir(exist_ok=True)
        with saved.open("w+b") if stdout_glob else nullcontext() as stdout:
            argv = _argv(work, staged, workdir, warm=warm)
            result = local.run(
                argv, workdir=workdir, env=_environment(task, workdir), stdout=stdout,
                log_limit=settings.log_limit_bytes, timeout=time_limit(task, settings),
                grace=settings.kill_grace_seconds, stop=stop, guard=guard, spawn=python_warm.spawn if warm else None,
            )
            stdout_text = _tail(stdout, settings.log_limit_bytes) if stdout is not None else _text(result.stdout)
        stderr_text = _text(result.stderr)
        produced = workspace.collect(workdir, _out_globs(task), staged)
        files = {p.name: p for p in produced}
        if stdout_glob:  # a file the program wrote under the same name wins; the log keeps the output's end
            files.setdefault(f"{work.submission_id}{stdout_glob}", saved)
        outcome = judge(work.step_name, task, result, list(files), timeout=time_limit(task, settings))
        if result.start_error is not None:  # the program's name (not the command line: §4.4)
            outcome.message = (f"Step {work.step_name} could not start its program {Path(argv[0]).name}: "
                               f"{result.start_error}")
        if outcome.action == FAIL and _is_python(task) and (raised := python.error_message(workdir)):
            outcome.message = f"Step {work.step_name} raised {raised}"
        outcome.outputs = [(workspace.result_name(work.submission_id, work.step_name, name), path.read_bytes())
                           for name, path in sorted(files.items())]
        outcome.stdout, outcome.stderr, outcome.argv = stdout_text, stderr_text, argv
        return outcome
    finally:
        workspace.remove_workdir(workdir, settings.keep_workdirs)


def time_limit(task: dict[str, Any], settings: Settings) -> float | None:
    """Seconds a step may run: its task's `timeout`, else the service's default (None: no limit)."""
    return task.get("timeout") or settings.default_timeout_seconds


def _is_python(task: dict[str, Any]) -> bool:
    return task["backend"]["type"] == "python"


def _environment(task: dict[str, Any], workdir: Path) -> dict[str, str]:
    """The program's minimal environment (app.services.step_env), never the worker's own."""
    folders = task["backend"].get("options", {}).get("python_path", [])
    backend = python.environment(folders) if _is_python(task) else {}
    return step_environment(workdir, backend=backend, task=task.get("environment", {}))


def _out_globs(task: dict[str, Any]) -> list[str]:
    """A Python task's returned value (<stem>.json) is a result even when .json is not declared."""
    globs = task.get("out_globs", [])
    return [*globs, ".json"] if _is_python(task) and ".json" not in globs else globs


def _argv(work: StepWork, staged: list[str], workdir: Path, *, warm: bool = False) -> list[str]:
    task = work.task
    if _is_python(task):
        matches = [name for glob in task.get("in_globs", []) for name in workspace.matching(staged, glob)]
        inputs = list(dict.fromkeys(matches))
        return python.argv(task["function"], params=work.params, inputs=inputs, stem=work.submission_id,
                           workdir=workdir, inline=warm)
    specs = [ParamSpec.from_dict(p) for p in task.get("parameters", [])]
    return build_argv(
        task["executable"],
        inputs=[workspace.matching(staged, glob) for glob in task.get("in_globs", [])],
        out_globs=task.get("out_globs", []),
        params=[(spec, work.params.get(spec.name)) for spec in specs],
        stem=work.submission_id,
        workdir=str(workdir),
    )


def judge(
    step: str, task: dict[str, Any], result: local.ProcessResult, produced: list[str], *, timeout: float | None = None,
) -> Outcome:
    """Map an exit status and the outputs found to an action, per SPEC §4.4 and §4.5 (`timeout`:
    the limit the step ran under, the task's own if not given)."""
    status = result.exit_status
    if result.start_error is not None:
        return Outcome(FAIL, None, f"Step {step} could not start its program: {result.start_error}")
    if result.stopped:
        return Outcome(FAIL, status, f"Step {step} was cancelled")
    if result.timed_out:
        return Outcome(FAIL, status, f"Step {step} timed out after {timeout or task['timeout']:g} s and was killed")
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
