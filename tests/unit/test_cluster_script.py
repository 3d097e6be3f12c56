"""The cluster job script, run by /bin/sh as a scheduler would run it (no scheduler needed)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from app.backends import cluster
from app.backends.gridengine import GridEngine
from app.backends.slurm import _status


def run_script(tmp_path: Path, argv: list[str], *, started_with: dict[str, str] | None = None,
               **kwargs) -> tuple[Path, subprocess.CompletedProcess]:
    options = {"env": {}, "stdout": None, "timeout": None, "grace": 1, "header": "a test", **kwargs}
    script = cluster.write_script(tmp_path, argv=argv, **options)
    # A job is a process group of its own, as under slurmstepd or Grid Engine's shepherd.
    return script, subprocess.run([str(script)], start_new_session=True, capture_output=True, timeout=60,
                                  check=False, env=started_with)


def test_every_value_is_quoted(tmp_path):
    hostile = ["a 'b' \"c\"", "$(touch pwned)", "`touch pwned`", "; touch pwned", "*", "$HOME", ""]
    _, done = run_script(tmp_path, ["printf", "[%s]", *hostile], env={"X": "$(touch pwned) 'q'"}, stdout="out.txt")
    assert done.returncode == 0
    assert (tmp_path / "out.txt").read_text() == "".join(f"[{value}]" for value in hostile)
    assert not (tmp_path / "pwned").exists()
    assert cluster.exit_status(tmp_path) == 0 and not cluster.timed_out(tmp_path)
    node, started = cluster.started(tmp_path)
    assert node and started is not None


def test_environment_is_exactly_the_given_one(tmp_path):
    # What Grid Engine's execution daemon passes on: its own environment, secrets included.
    daemon = {"PATH": "/usr/bin:/bin", "DATABASE_URL": "postgresql://secret", "AA_SMTP_URL": "smtp://pw@h",
              "HOME": "/root", "MULTI": "line\nAA_X=1", "SLURM_JOB_ID": "7", "JOB_ID": "8", "NSLOTS": "1"}
    run_script(tmp_path, ["/usr/bin/env"], env={"PATH": "/usr/bin:/bin", "X": "x y", "Q": "'$(id)'"},
               started_with=daemon)
    variables = dict(line.split("=", 1) for line in (tmp_path / ".aa/stdout").read_text().splitlines())
    scheduler = {"SLURM_JOB_ID": "7", "JOB_ID": "8", "NSLOTS": "1"}
    assert variables == {"PATH": "/usr/bin:/bin", "X": "x y", "Q": "'$(id)'", **scheduler}


def test_exit_status_and_stderr_are_recorded(tmp_path):
    _, done = run_script(tmp_path, ["ls", str(tmp_path / "missing")])
    assert done.returncode == cluster.exit_status(tmp_path) == 2
    assert "missing" in (tmp_path / ".aa/stderr").read_text()


def test_timeout_terms_the_group_and_marks_it(tmp_path):
    # A grandchild in the background too: the whole group goes, the script records 143.
    _, done = run_script(tmp_path, ["sh", "-c", "sleep 30 & sleep 30"], timeout=1, grace=1)
    assert cluster.timed_out(tmp_path) and cluster.exit_status(tmp_path) == 143
    assert done.returncode == 143


def test_timeout_kills_a_program_that_ignores_term(tmp_path):
    _, done = run_script(tmp_path, ["sh", "-c", "trap '' TERM; sleep 30"], timeout=1, grace=1)
    assert done.returncode == -9  # the group, script included, after the grace: only the mark tells
    assert cluster.timed_out(tmp_path) and cluster.exit_status(tmp_path) is None


def test_a_program_ending_within_its_timeout_is_not_marked(tmp_path):
    _, done = run_script(tmp_path, ["sh", "-c", "exit 124"], timeout=30)
    assert done.returncode == cluster.exit_status(tmp_path) == 124
    assert not cluster.timed_out(tmp_path)


@pytest.mark.parametrize(("state", "phase", "failure"), [
    ("PENDING", cluster.WAITING, None), ("RUNNING", cluster.RUNNING, None), ("COMPLETING", cluster.RUNNING, None),
    ("COMPLETED", cluster.ENDED, None), ("FAILED", cluster.ENDED, None), ("TIMEOUT", cluster.ENDED, cluster.TIMEOUT),
    ("OUT_OF_MEMORY", cluster.ENDED, cluster.MEMORY), ("NODE_FAIL", cluster.ENDED, cluster.LOST),
    ("CANCELLED", cluster.ENDED, cluster.CANCELLED), ("PREEMPTED", cluster.ENDED, cluster.LOST),
])
def test_slurm_states(state, phase, failure):
    status = _status(state, "node1", "2026-12-01T07:43:27", "2026-12-01T07:43:28")
    assert (status.phase, status.failure) == (phase, failure)
    assert status.submitted is not None and (status.started is None) == (phase == cluster.WAITING)


def test_gridengine_lists_jobs_from_one_qstat(monkeypatch):
    xml = """<?xml version='1.0'?><job_info><queue_info>
      <job_list state="running"><JB_job_number>2</JB_job_number><JB_name>aa-x-1-1</JB_name><state>r</state>
        <JAT_start_time>2026-12-01T07:49:14</JAT_start_time><queue_name>all.q@node1</queue_name></job_list>
      </queue_info><job_info>
      <job_list state="pending"><JB_job_number>3</JB_job_number><JB_name>aa-x-2-1</JB_name><state>qw</state>
        <JB_submission_time>2026-12-01T07:49:15</JB_submission_time><queue_name></queue_name></job_list>
      <job_list state="pending"><JB_job_number>4</JB_job_number><JB_name>aa-x-3-1</JB_name><state>Eqw</state>
        <queue_name></queue_name></job_list>
    </job_info></job_info>"""
    scheduler = GridEngine()
    monkeypatch.setattr(scheduler, "run", lambda argv, **_: xml)
    statuses = scheduler.poll(["2", "3", "4", "5"])
    assert {k: (s.phase, s.node, s.failure) for k, s in statuses.items()} == {
        "2": (cluster.RUNNING, "node1", None), "3": (cluster.WAITING, None, None), "4": (cluster.ENDED, None, cluster.LOST),
    }
    assert scheduler.find(["aa-x-2-1", "aa-x-9-1"]) == {"aa-x-2-1": "3"}
