"""A Python task's traceback keeps the user's frames but not the server's paths (issue 13)."""

from __future__ import annotations

from pathlib import Path

from app.config import Settings
from app.services.execution import FAIL, StepWork, execute

REPO = str(Path(__file__).resolve().parents[2])


def opens_a_missing_file(inputs, params, workdir):
    return _helper(workdir)


def _helper(workdir):
    return (workdir / "missing.txt").read_text()


def test_the_traceback_names_user_frames_relative_and_hides_the_workdir(tmp_path):
    task = {"function": "tests.unit.test_python_traceback:opens_a_missing_file", "executable": None,
            "in_globs": [], "out_globs": [], "parameters": [], "environment": {}, "exit_codes": {},
            "incomplete_outputs": "fail", "timeout": None, "stdout_glob": None,
            "backend": {"name": "py", "type": "python", "root_path": None}}
    outcome = execute(StepWork(1, 1, "feed0000-0000", "s", task, {}, []), Settings(work_root=str(tmp_path)))
    assert outcome.action == FAIL
    log = outcome.stderr
    assert 'File "tests/unit/test_python_traceback.py"' in log and "in _helper" in log, log
    assert "python_child" not in log
    assert REPO not in log and str(tmp_path) not in log and "/tmp/" not in log, log
    assert outcome.message.endswith("No such file or directory: './missing.txt'"), outcome.message
