"""Warm Python steps: forked from the worker's zygote, yet each its own process group, timed out,
stopped and isolated as a spawned interpreter is, and never running a module older than its file."""

from __future__ import annotations

import json
import os
import signal
import threading
import time
from pathlib import Path

import pytest

from app.backends import python
from app.config import Settings
from app.services.execution import FAIL, SUCCESS, StepWork, execute

SUB = "5eed0000-0000-0000-0000-000000000000"
MODULE = "tests.unit.test_python_warm"
WARM_DEADLINE = 120  # seconds for the zygote to be built in the background on a loaded machine


def who(inputs, params, workdir):
    return {"pid": os.getpid(), "ppid": os.getppid(), "pgid": os.getpgid(0), "sid": os.getsid(0),
            "env": sorted(os.environ), "cwd": str(Path.cwd()), "params": params}


def dies(inputs, params, workdir):
    os._exit(9)


def raises(inputs, params, workdir):
    raise ValueError("no numbers here")


def sleeps(inputs, params, workdir):
    print("going to sleep", flush=True)
    time.sleep(60)


def run(tmp_path, function, *, module=MODULE, timeout=None, stop=None, params=None, warm=True):
    task = {"function": f"{module}:{function}", "executable": None, "in_globs": [], "out_globs": [".json"],
            "parameters": [], "environment": {}, "exit_codes": {}, "incomplete_outputs": "fail", "timeout": timeout,
            "stdout_glob": None, "backend": {"name": "py", "type": "python", "root_path": None}}
    work = StepWork(1, 1, SUB, "analyse", task, params or {}, [])
    settings = Settings(work_root=str(tmp_path), kill_grace_seconds=1, python_warm=warm)
    return execute(work, settings, stop=stop)


def value(outcome) -> dict:
    assert outcome.action == SUCCESS, outcome
    return json.loads(dict(outcome.outputs)[f"{SUB}.analyse.json"])


def until_warm(tmp_path, function="who", module=MODULE) -> dict:
    """Run `function` until a zygote (not this process) is its parent: the build is asynchronous."""
    deadline = time.monotonic() + WARM_DEADLINE
    while True:
        seen = value(run(tmp_path, function, module=module))
        if seen["ppid"] != os.getpid() or time.monotonic() > deadline:
            return seen
        time.sleep(0.2)


def test_a_warm_step_is_forked_into_a_process_group_and_session_of_its_own(tmp_path, monkeypatch):
    monkeypatch.setenv("DATABASE_URL", "postgresql://secret@db/aa")
    monkeypatch.setenv("PGPASSWORD", "secret")
    seen = until_warm(tmp_path)
    assert seen["ppid"] != os.getpid()  # forked by the zygote, not spawned by us
    assert seen["pgid"] == seen["pid"] == seen["sid"]  # the step's own group: killpg reaches all of it
    assert Path(seen["cwd"]).parent == tmp_path  # its working directory
    assert "DATABASE_URL" not in seen["env"] and "PGPASSWORD" not in seen["env"]
    assert "PATH" in seen["env"]
    assert value(run(tmp_path, "who", params={"n": 2}))["params"] == {"n": 2}


def test_warm_steps_report_crashes_exceptions_and_timeouts_and_the_zygote_survives_them(tmp_path):
    until_warm(tmp_path)
    died = run(tmp_path, "dies")
    assert died.action == FAIL and died.exit_status == 9
    raised = run(tmp_path, "raises")
    assert raised.message == "Step analyse raised ValueError: no numbers here"
    assert "Traceback" in raised.stderr
    timed = run(tmp_path, "sleeps", timeout=1)
    assert timed.action == FAIL and "timed out" in timed.message
    assert "going to sleep" in timed.stdout
    assert value(run(tmp_path, "who"))["ppid"] != os.getpid()  # still warm


def test_a_warm_step_stops_when_its_submission_is_cancelled(tmp_path):
    until_warm(tmp_path)
    stop = threading.Event()
    threading.Timer(1.0, stop.set).start()
    outcome = run(tmp_path, "sleeps", stop=stop)
    assert outcome.action == FAIL and outcome.message == "Step analyse was cancelled"
    assert outcome.exit_status == 128 + signal.SIGTERM


def test_an_edited_module_is_run_as_edited_without_restarting(tmp_path, monkeypatch):
    code = tmp_path / "code"
    code.mkdir()
    monkeypatch.setenv("PYTHONPATH", str(code))  # the child's path ends with the worker's PYTHONPATH
    source = code / "edited_task.py"
    source.write_text("import os\ndef who(inputs, params, workdir):\n    return {'v': 1, 'ppid': os.getppid()}\n")
    work_root = tmp_path / "work"
    work_root.mkdir()
    assert until_warm(work_root, module="edited_task")["v"] == 1
    # Another size too: CPython's bytecode cache checks a source's size and its mtime in whole seconds.
    source.write_text("import os\ndef who(inputs, params, workdir):\n    return {'v': 'two', 'ppid': os.getppid()}\n")
    assert value(run(work_root, "who", module="edited_task"))["v"] == "two"  # the first run after the edit
    assert until_warm(work_root, module="edited_task")["v"] == "two"  # and the rebuilt zygote's


@pytest.mark.parametrize("warm", [True, False])
def test_a_missing_module_fails_the_step_clearly_warm_or_cold(tmp_path, warm):
    outcome = run(tmp_path, "who", module="no_such_module_here", warm=warm)
    assert outcome.action == FAIL
    assert outcome.message == "Step analyse raised ModuleNotFoundError: No module named 'no_such_module_here'"


def test_cold_steps_still_take_their_parameters_from_a_file(tmp_path):
    seen = value(run(tmp_path, "who", params={"n": 3, "name": "x y"}, warm=False))
    assert seen["ppid"] == os.getpid() and seen["params"] == {"n": 3, "name": "x y"}


def test_inline_parameters_move_to_their_file_for_a_step_started_cold(tmp_path):
    argv = python.argv("m:f", params={"a": [1, 2]}, inputs=["in.csv"], stem="s", workdir=tmp_path, inline=True)
    assert not (tmp_path / python.PARAMS_FILE).exists()
    cold = python.params_to_file(argv, str(tmp_path))
    assert cold[3] == python.PARAMS_FILE and cold[4:] == ["s", "in.csv"]
    assert json.loads((tmp_path / python.PARAMS_FILE).read_text()) == {"a": [1, 2]}


def test_a_killed_zygote_is_replaced_and_steps_go_on(tmp_path):
    first = until_warm(tmp_path)
    os.kill(first["ppid"], signal.SIGKILL)  # its parent: the zygote
    seen = until_warm(tmp_path)
    assert seen["ppid"] not in (first["ppid"], os.getpid())


def holds(inputs, params, workdir):
    fds = []
    for fd in os.listdir("/proc/self/fd"):  # one of them is the listing's own, closed by now
        try:
            fds.append(os.readlink(f"/proc/self/fd/{fd}"))
        except OSError:
            continue
    return {"ppid": os.getppid(), "fds": fds}


class Lifeline:
    """A watchdog's side as the runner sees it: a descriptor every step must hold."""

    def __init__(self) -> None:
        self.lifeline, self._write = os.pipe()
        self.tracked: list[int] = []

    def track(self, pgid: int) -> None:
        self.tracked.append(pgid)

    def untrack(self, pgid: int) -> None:
        pass


def test_a_warm_step_holds_the_workers_lifeline_and_is_tracked(tmp_path):
    until_warm(tmp_path)
    guard = Lifeline()
    task = {"function": f"{MODULE}:holds", "executable": None, "in_globs": [], "out_globs": [".json"],
            "parameters": [], "environment": {}, "exit_codes": {}, "incomplete_outputs": "fail", "timeout": None,
            "stdout_glob": None, "backend": {"name": "py", "type": "python", "root_path": None}}
    outcome = execute(StepWork(1, 1, SUB, "analyse", task, {}, []), Settings(work_root=str(tmp_path)), guard=guard)
    seen = value(outcome)
    assert seen["ppid"] != os.getpid()  # warm
    assert os.readlink(f"/proc/self/fd/{guard.lifeline}") in seen["fds"]  # the same pipe
    assert len(guard.tracked) == 1
