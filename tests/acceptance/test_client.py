"""The `aa` client against a real service (waitress) and real workers, as a user runs it: a subprocess."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from app.runtime import example_config

# Beside the examples (their `local` backend), a job that fails and one that runs until cancelled.
EXTRA = """
---
version: 1
tasks:
  - {name: failing, backend: local, executable: "sh -c 'echo about to fail >&2; exit 7'", in_globs: [".txt"]}
  - {name: sleeping, backend: local, executable: "sleep 300", in_globs: [".txt"]}
jobs:
  - {name: fails, steps: [{task: failing}]}
  - {name: sleeps, steps: [{task: sleeping}]}
"""


def aa(*args: str, url: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    """Run `aa ARGS` as a user would; AA_URL tells it where the service is."""
    environment = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "AA_TOKEN")}
    environment.update({"AA_URL": url, "COLUMNS": "120", **(env or {})})
    return subprocess.run([sys.executable, "-m", "app", *args], capture_output=True, text=True, timeout=180,
                          env=environment, check=False)


@pytest.fixture
def configured(api):
    api.put_config(example_config() + EXTRA)
    return api


def test_submit_wait_status_results_logs(configured, workers, service, tmp_path):
    workers(1)
    text = tmp_path / "fruit.txt"
    text.write_text("pear apple\nfig\nbanana kiwi lime\n")
    listed = aa("jobs", "--json", url=service)
    assert listed.returncode == 0 and "text_report" in {j["name"] for j in json.loads(listed.stdout)}
    assert "text_report" in aa("jobs", url=service).stdout

    run = aa("submit", "text_report", "--file", f"input_data={text}", "--param", "sort_lines_reverse=true",
             "--wait", url=service)
    assert run.returncode == 0, run.stderr
    assert "4/4" in run.stderr  # the progress bar's last state: every step finished
    assert "Complete" in run.stdout
    submission_id = run.stderr.split("submitted ", 1)[1].split(":", 1)[0]

    shown = aa("status", submission_id, "--json", url=service)
    assert shown.returncode == 0 and json.loads(shown.stdout)["state"] == "Complete"

    out = tmp_path / "out"
    fetched = aa("results", submission_id, "--out", str(out), url=service)
    assert fetched.returncode == 0, fetched.stderr
    files = {p.name: p.read_text() for p in out.iterdir()}
    assert files[f"{submission_id}.sort_lines.sorted.txt"] == "pear apple\nfig\nbanana kiwi lime\n"
    assert files[f"{submission_id}.report.report"].split()[0] == "3"  # lines, then words

    log = aa("logs", submission_id, "sort_lines", url=service)
    assert log.returncode == 0 and log.stdout.startswith("pear apple")


def test_exit_status_says_how_it_ended(configured, workers, service, tmp_path):
    workers(1)
    text = tmp_path / "t.txt"
    text.write_text("x\n")
    failed = aa("submit", "fails", "--file", str(text), "--wait", "--json", url=service)
    assert failed.returncode == 3, failed.stderr
    body = json.loads(failed.stdout)
    assert body["state"] == "Error" and "7" in body["steps"][0]["message"]
    assert aa("logs", body["id"], "failing", url=service).stderr == "about to fail\n"

    started = aa("submit", "sleeps", "--file", f"input_data={text}", "--json", url=service)
    assert started.returncode == 0
    sleeping = json.loads(started.stdout)["id"]
    assert aa("status", sleeping, url=service).returncode == 6  # not finished yet
    cancelled = aa("cancel", sleeping, url=service)
    assert cancelled.returncode == 0 and "Cancelled" in cancelled.stdout
    assert aa("status", sleeping, url=service).returncode == 5


def test_mistakes_are_one_line_errors(configured, service, tmp_path):
    text = tmp_path / "t.txt"
    text.write_text("x\n")
    cases = [
        (("submit", "first_lines", "--file", str(text), "--param", "head_lines_lines=0"),
         "head_lines_lines: must be at least 1"),
        (("submit", "no_such_job", "--file", f"input_data={text}"), "no_such_job"),
        (("submit", "count_words", "--file", f"input_data={tmp_path / 'missing.txt'}"), "no such file"),
        (("submit", "count_words", "--param", "novalue"), "ALIAS=VALUE"),
        (("status", "00000000-0000-0000-0000-000000000000"), "No such submission"),
        (("logs", "../../etc", "x"), "not a valid id"),
    ]
    for args, expected in cases:
        result = aa(*args, url=service)
        assert result.returncode in (1, 2), (args, result.stderr)
        assert expected in result.stderr and "Traceback" not in result.stderr, (args, result.stderr)
    down = aa("jobs", url="http://127.0.0.1:9")
    assert down.returncode == 1 and "cannot reach the service" in down.stderr
