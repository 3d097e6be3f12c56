"""Python-function tasks run in a child process: values, files, exceptions, crashes, timeouts."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

from app.config import Settings
from app.services.execution import FAIL, SUCCESS, StepWork, execute

SUB = "feedbeef-0000-0000-0000-000000000000"


def returns_summary(inputs, params, workdir):
    text = Path(inputs[0]).read_text()
    (workdir / "upper.txt").write_text(text.upper())
    return {"words": len(text.split()), "scale": params["scale"], "workdir_is_cwd": Path.cwd() == workdir}


def raises(inputs, params, workdir):
    raise ValueError("the data has no numbers")


def exits(inputs, params, workdir):
    raise SystemExit(3)


def dies(inputs, params, workdir):
    os._exit(9)


def sleeps(inputs, params, workdir):
    time.sleep(60)


def unserialisable(inputs, params, workdir):
    return {"value": object()}


def run(tmp_path, function, *, out_globs=(".json",), timeout=None, params=None):
    task = {"function": f"tests.unit.test_python_backend:{function}", "executable": None,
            "in_globs": [".txt"], "out_globs": list(out_globs), "parameters": [], "environment": {},
            "exit_codes": {}, "incomplete_outputs": "fail", "timeout": timeout, "stdout_glob": None,
            "backend": {"name": "py", "type": "python", "root_path": None}}
    work = StepWork(1, 1, SUB, "analyse", task, params or {"scale": 2.5}, [("in.txt", b"one two three")])
    return execute(work, Settings(work_root=str(tmp_path), kill_grace_seconds=1))


def test_returned_value_and_written_files_are_results(tmp_path):
    outcome = run(tmp_path, "returns_summary", out_globs=(".json", ".txt"))
    assert outcome.action == SUCCESS, outcome
    results = dict(outcome.outputs)
    # Named after the step too, so that no two results of a submission share a name.
    assert json.loads(results[f"{SUB}.analyse.json"]) == {"words": 3, "scale": 2.5, "workdir_is_cwd": True}
    assert results["analyse.upper.txt"] == b"ONE TWO THREE"
    assert "in.txt" not in results and "analyse.in.txt" not in results  # staged inputs are not results


def test_exception_names_type_and_message_with_traceback_in_log(tmp_path):
    outcome = run(tmp_path, "raises")
    assert outcome.action == FAIL
    assert outcome.message == "Step analyse raised ValueError: the data has no numbers"
    assert "Traceback" in outcome.stderr and "Traceback" not in outcome.message


def test_sys_exit_and_hard_crash_fail_the_step_not_the_worker(tmp_path):
    assert run(tmp_path, "exits").message == "Step analyse raised SystemExit: exit status 3"
    died = run(tmp_path, "dies")
    assert died.action == FAIL and died.exit_status == 9


def test_unserialisable_value_fails_clearly(tmp_path):
    outcome = run(tmp_path, "unserialisable")
    assert outcome.action == FAIL and "TypeError" in outcome.message


def test_timeout_applies_to_python_tasks(tmp_path):
    started = time.monotonic()
    outcome = run(tmp_path, "sleeps", timeout=1)
    assert outcome.action == FAIL and "timed out" in outcome.message
    assert time.monotonic() - started < 10
