"""`module:function` validators: only from declared modules, and only in a limited child process.

The web process here is the test process itself: a validator that could reach it would kill or
stall the test run. Each broken validator is a 503 with Retry-After; a rejection is a 400.
"""

from __future__ import annotations

import io
import os
import time

import pytest

from app.services import validator_sandbox
from tests.integration.test_submissions_api import stored

HERE = "tests.integration.test_validator_sandbox"
CONFIG = """
version: 1
validator_modules: [MODULES]
backends: [{name: local, type: local}]
tasks: [{name: t, backend: local, executable: "true", in_globs: [".txt"]}]
jobs:
""" + "".join(f"  - {{name: {name}, validators: ['{HERE}:{name}'], steps: [{{task: t}}]}}\n" for name in (
    "accept", "reject", "sleep_forever", "eat_memory", "die", "crash_hard", "leak_environment"))


def accept(data: bytes) -> bool:
    return True


def reject(data: bytes) -> bool:
    if data.startswith(b"bad"):
        raise ValueError("the first line is bad")
    return True


def sleep_forever(data: bytes) -> bool:
    time.sleep(3600)
    return True


def eat_memory(data: bytes) -> bool:
    hog = bytearray(4 * 1024 * 1024 * 1024)
    return bool(hog)


def die(data: bytes) -> bool:
    os._exit(0)  # no answer at all


def crash_hard(data: bytes) -> bool:
    os.kill(os.getpid(), 9)
    return True


def leak_environment(data: bytes) -> bool:
    return not any(n == "DATABASE_URL" or n.startswith("AA_") for n in os.environ)


@pytest.fixture
def configured(load_config, monkeypatch):
    monkeypatch.setattr(validator_sandbox, "TIMEOUT_SECONDS", 3)
    load_config(CONFIG.replace("MODULES", HERE))


def submit(client, job: str, data: bytes = b"good\n"):
    return client.post("/api/submissions", data={"job": job, "input_data": (io.BytesIO(data), "in.txt")},
                       content_type="multipart/form-data")


def test_a_declared_validator_accepts_and_rejects(client, configured):
    assert submit(client, "accept").status_code == 201
    assert submit(client, "reject").status_code == 201
    response = submit(client, "reject", b"bad\n")
    assert response.status_code == 400
    assert response.json["errors"]["input_data"] == [f"input rejected by validator '{HERE}:reject': the first line is bad"]


@pytest.mark.parametrize("job", ["sleep_forever", "eat_memory", "die", "crash_hard"])
def test_a_broken_validator_is_503_and_the_web_process_lives(client, configured, sessions, job):
    response = submit(client, job)
    assert response.status_code == 503, response.json
    assert int(response.headers["Retry-After"]) > 0
    assert "validator" in response.json["message"]
    assert stored(sessions) == (0, 0, 0)
    assert submit(client, "accept").status_code == 201


def test_a_validator_sees_no_setting_of_the_service(client, configured, monkeypatch):
    monkeypatch.setenv("AA_SECRET_SETTING", "x")
    assert submit(client, "leak_environment").status_code == 201


@pytest.mark.parametrize("validator", ["os:system", "subprocess:getoutput", "builtins:exec", f"{HERE}:accept"])
def test_an_undeclared_module_is_refused_at_load_before_any_import(client, admin_token, validator):
    document = CONFIG.replace("MODULES", "json").split("jobs:")[0] + (
        f"jobs: [{{name: j, validators: ['{validator}'], steps: [{{task: t}}]}}]\n")
    response = client.put("/api/config", data=document, headers={"Authorization": f"Bearer {admin_token}"})
    assert response.status_code == 400
    assert "is not declared in validator_modules" in response.json["message"]


def test_declared_modules_must_hold_the_validator(client, admin_token):
    document = CONFIG.replace("MODULES", f"{HERE}, json").split("jobs:")[0] + (
        f"jobs: [{{name: j, inputs: [{{name: a, validators: ['{HERE}:missing', 'json:dumps']}}], "
        f"steps: [{{task: t}}]}}]\n")
    response = client.put("/api/config", data=document, headers={"Authorization": f"Bearer {admin_token}"})
    assert response.status_code == 400
    assert response.json["errors"] == {"jobs[0].inputs[0].validators": [
        f"validator {HERE}:missing: {HERE} has no missing"]}


def test_dump_declares_the_modules_in_use(client, configured, admin_token):
    dumped = client.get("/api/config", headers={"Authorization": f"Bearer {admin_token}"}).get_data(as_text=True)
    assert f"validator_modules:\n- {HERE}\n" in dumped
    reloaded = client.put("/api/config", data=dumped, headers={"Authorization": f"Bearer {admin_token}"})
    assert reloaded.status_code == 200 and reloaded.get_data(as_text=True) == dumped
