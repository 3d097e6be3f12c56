"""A step's program sees a minimal environment: never the service's settings or secrets (SPEC §4.3)."""

from __future__ import annotations

import os

import pytest

from app.config import Settings
from app.services.execution import SUCCESS, StepWork, execute
from app.services.step_env import step_environment

SUB = "5eed0000-0000-0000-0000-000000000000"
SECRETS = {"DATABASE_URL": "postgresql://aa:hunter2@db/aa", "AA_REQUIRE_API_KEY": "1", "AA_SMTP_URL": "smtp://u:pw@x",
           "PGPASSWORD": "hunter2", "MY_SERVICE_PASSWORD": "hunter2", "AWS_SECRET_ACCESS_KEY": "k"}


def dump_environment(inputs, params, workdir) -> dict[str, str]:
    """A Python task that returns its whole environment."""
    return dict(os.environ)


def _spec(backend: dict, **extra) -> dict:
    return {"in_globs": [], "out_globs": [], "parameters": [], "environment": {"TASK_SETTING": "on"},
            "exit_codes": {}, "incomplete_outputs": "fail", "timeout": None, "stdout_glob": None,
            "backend": backend, **extra}


def _dumped(tmp_path, spec) -> dict[str, str]:
    outcome = execute(StepWork(1, 1, SUB, "s", spec, {}, []), Settings(work_root=str(tmp_path)))
    assert outcome.action == SUCCESS, outcome.message + outcome.stderr
    text = dict(outcome.outputs)[f"{SUB}.s.env" if spec.get("stdout_glob") else f"{SUB}.s.json"].decode()
    if spec.get("stdout_glob"):
        return dict(line.split("=", 1) for line in text.splitlines() if "=" in line)
    import json

    return json.loads(text)


def _assert_minimal(env: dict[str, str], tmp_path) -> None:
    leaked = sorted(n for n in env if n.startswith(("AA_", "PG")) or n in SECRETS or "PASSWORD" in n.upper())
    assert not leaked, leaked
    assert not any("hunter2" in value for value in env.values())
    assert env["TASK_SETTING"] == "on" and env["PATH"]
    assert env["HOME"] == env["TMPDIR"] and env["HOME"].startswith(str(tmp_path.resolve()))


@pytest.fixture
def secrets(monkeypatch):
    for name, value in SECRETS.items():
        monkeypatch.setenv(name, value)


def test_a_local_program_sees_no_secret_of_the_worker(tmp_path, secrets):
    spec = _spec({"name": "local", "type": "local", "root_path": None}, executable="env", stdout_glob=".env",
                 out_globs=[".env"])
    _assert_minimal(_dumped(tmp_path, spec), tmp_path)


def test_a_python_function_sees_no_secret_of_the_worker(tmp_path, secrets):
    spec = _spec({"name": "py", "type": "python", "root_path": None},
                 function="tests.unit.test_step_env:dump_environment")
    env = _dumped(tmp_path, spec)
    _assert_minimal(env, tmp_path)
    assert env["PYTHONPATH"]  # the backend's addition: the worker's importable modules


def test_the_locale_and_path_pass_and_the_task_wins(tmp_path):
    env = step_environment(tmp_path, backend={"B": "1", "X": "backend"}, task={"X": "task"},
                           inherited={"PATH": "/opt/bin", "LC_ALL": "de_DE.UTF-8", "DATABASE_URL": "x", "USER": "aa"})
    assert env == {"PATH": "/opt/bin", "LC_ALL": "de_DE.UTF-8", "HOME": str(tmp_path), "TMPDIR": str(tmp_path),
                   "B": "1", "X": "task"}


def test_defaults_when_the_worker_has_no_path_or_locale(tmp_path):
    env = step_environment(tmp_path, inherited={})
    assert env["PATH"] == "/usr/local/bin:/usr/bin:/bin" and env["LANG"] == "C.UTF-8"
