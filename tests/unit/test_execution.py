"""Running one attempt: argv without a shell, environment, working directories, outcomes."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from app.backends.local import ProcessResult
from app.config import Settings
from app.services.execution import FAIL, RETRY, SUCCESS, TERMINATE, StepWork, execute, judge
from tests.descriptors import many_descriptors

SUB = "1234abcd-0000-0000-0000-000000000000"


def task(executable: str, **extra) -> dict:
    base = {"executable": executable, "in_globs": [".txt"], "out_globs": [], "parameters": [],
            "environment": {}, "exit_codes": {}, "incomplete_outputs": "fail", "timeout": None,
            "stdout_glob": None, "backend": {"name": "local", "type": "local", "root_path": None}}
    return {**base, **extra}


def run(tmp_path: Path, spec: dict, files=(("in.txt", b"hello world\n"),), **settings):
    work = StepWork(step_id=1, attempt=1, submission_id=SUB, step_name="s", task=spec, params={},
                    files=list(files))
    return execute(work, Settings(work_root=str(tmp_path), **settings))



def test_environment_is_added_and_path_kept(tmp_path):
    spec = task("printenv GREETING PATH", stdout_glob=".out", out_globs=[".out"], environment={"GREETING": "hi there"})
    outcome = run(tmp_path, spec)
    assert outcome.action == SUCCESS
    greeting, path = outcome.outputs[0][1].decode().splitlines()
    assert greeting == "hi there" and path


def test_shell_syntax_in_values_is_just_text(tmp_path):
    spec = task("echo $P1", stdout_glob=".out", out_globs=[".out"],
                parameters=[{"name": "v", "type": "string", "switchless": True, "rest_alias": "v"}])
    work = StepWork(1, 1, SUB, "s", spec, {"v": "$(touch pwned); rm -rf / | cat"}, [])
    outcome = execute(work, Settings(work_root=str(tmp_path)))
    assert outcome.outputs[0][1] == b"$(touch pwned); rm -rf / | cat\n"
    assert not list(tmp_path.rglob("pwned"))


def test_workdir_is_fresh_and_removed(tmp_path):
    spec = task("ls -a", stdout_glob=".out", out_globs=[".out"])
    outcome = run(tmp_path, spec)
    listing = outcome.outputs[0][1].decode().split()
    assert "in.txt" in listing
    assert list(tmp_path.iterdir()) == []  # removed afterwards


def test_workdir_removed_whether_or_not_the_step_left_files(tmp_path):
    run(tmp_path, task("true"), files=())  # an empty directory
    run(tmp_path, task("mkdir -p left/behind"))  # a tree
    assert list(tmp_path.iterdir()) == []


def test_work_root_made_again_when_removed(tmp_path):
    root = tmp_path / "root"
    run(root, task("true"))
    root.rmdir()
    assert run(root, task("true")).action == SUCCESS


def test_workers_own_settings_are_not_inherited(tmp_path, monkeypatch):
    monkeypatch.setenv("AA_TEST_INHERITED", "yes")
    spec = task("printenv AA_TEST_INHERITED", stdout_glob=".out", out_globs=[".out"], exit_codes={"1": "continue"})
    assert run(tmp_path, spec).outputs == [(f"{SUB}.s.out", b"")]


def test_workdir_kept_when_asked(tmp_path):
    run(tmp_path, task("true"), keep_workdirs=True)
    assert len(list(tmp_path.iterdir())) == 1


def test_failure_message_names_step_and_code_not_command(tmp_path):
    outcome = run(tmp_path, task("python3 -c 'import sys; sys.exit(7)' secret-arg"))
    assert outcome.action == FAIL and outcome.exit_status == 7
    assert outcome.message == "Step s failed with exit status 7"


def test_missing_program_is_a_clean_failure(tmp_path):
    outcome = run(tmp_path, task("no-such-program-anywhere $I1"))
    assert outcome.action == FAIL and "could not start" in outcome.message


def test_timeout_kills_the_whole_process_group(tmp_path):
    pidfile = tmp_path / "grandchild.pid"
    code = (f"import subprocess, time; p = subprocess.Popen(['sleep', '60']); "
            f"open('{pidfile}', 'w').write(str(p.pid)); time.sleep(60)")
    spec = task(f'python3 -c "{code}"', timeout=1)
    started = time.monotonic()
    outcome = run(tmp_path / "work", spec, kill_grace_seconds=1)
    assert time.monotonic() - started < 10
    assert outcome.action == FAIL and "timed out" in outcome.message
    assert not alive(int(pidfile.read_text()))


def alive(pid: int) -> bool:
    """Running (a zombie waiting for init to reap it is dead)."""
    time.sleep(0.2)
    try:
        with open(f"/proc/{pid}/stat") as handle:
            return handle.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def test_logs_are_captured(tmp_path):
    outcome = run(tmp_path, task("python3 -c 'import sys; print(1); print(2, file=sys.stderr)'"))
    assert (outcome.stdout, outcome.stderr) == ("1\n", "2\n")


def test_a_long_log_keeps_its_end_and_says_what_was_left_out(tmp_path):
    # Far more than a pipe holds (64 KiB), on both streams at once: nothing may block.
    code = ("import sys; [print(i, file=sys.stderr) or print(i) for i in range(200000)]; "
            "print('end', file=sys.stderr)")
    outcome = run(tmp_path, task(f'python3 -c "{code}"'), log_limit_bytes=1000)
    assert outcome.action == SUCCESS
    assert outcome.stderr.endswith("199999\nend\n") and outcome.stdout.endswith("199999\n")
    omitted = sum(len(f"{i}\n") for i in range(200000)) + len("end\n") - 1000
    assert outcome.stderr.startswith(f"[... {omitted} bytes omitted ...]\n")
    assert len(outcome.stderr.split("\n", 1)[1]) == 1000


def test_a_step_runs_in_a_process_holding_more_descriptors_than_select_takes(tmp_path):
    with many_descriptors():
        outcome = run(tmp_path, task("python3 -c 'print(1)'"))
    assert (outcome.action, outcome.stdout) == (SUCCESS, "1\n")


def test_a_log_limit_of_nothing_keeps_nothing_but_the_count(tmp_path):
    outcome = run(tmp_path, task("python3 -c 'print(123)'"), log_limit_bytes=0)
    assert outcome.stdout == "[... 4 bytes omitted ...]\n"


def test_a_process_that_escaped_its_group_does_not_hold_the_step(tmp_path):
    # A daemon in a session of its own keeps the step's stdout open: the step still ends with its
    # program, with what was written by then.
    code = ("import subprocess, os; print('started', flush=True); "
            "subprocess.Popen(['sleep', '30'], start_new_session=True)")
    started = time.monotonic()
    outcome = run(tmp_path, task(f'python3 -c "{code}"'))
    assert time.monotonic() - started < 10
    assert outcome.action == SUCCESS and outcome.stdout == "started\n"


def test_a_process_that_escaped_its_group_and_goes_on_writing_does_not_hold_the_step(tmp_path):
    code = "import subprocess; subprocess.Popen(['yes'], start_new_session=True)"
    started = time.monotonic()
    outcome = run(tmp_path, task(f'python3 -c "{code}"'), log_limit_bytes=100)
    assert time.monotonic() - started < 10
    assert outcome.action == SUCCESS  # and `yes` dies of SIGPIPE, its reader gone


def test_a_program_that_ignores_sigterm_is_killed_while_it_writes(tmp_path):
    code = ("import signal, sys; signal.signal(signal.SIGTERM, signal.SIG_IGN); "
            "[sys.stderr.write('x' * 1000) for _ in iter(int, 1)]")
    started = time.monotonic()
    # A timeout long enough for a python3 to start and write on a loaded machine.
    outcome = run(tmp_path, task(f'python3 -c "{code}"', timeout=3), kill_grace_seconds=0.5,
                  log_limit_bytes=100)
    assert time.monotonic() - started < 20
    assert outcome.action == FAIL and "timed out" in outcome.message
    assert outcome.stderr.endswith("x" * 50)


@pytest.mark.parametrize(("status", "codes", "action"), [
    (0, {}, SUCCESS), (1, {}, FAIL), (3, {"3": "continue"}, SUCCESS), (3, {"3": "terminate"}, TERMINATE),
    (3, {"3": "fail"}, FAIL), (3, {"3": "retry"}, RETRY), (4, {"3": "continue"}, FAIL),
])
def test_exit_codes(status, codes, action):
    assert judge("s", task("x", exit_codes=codes), ProcessResult(status), []).action == action


@pytest.mark.parametrize(("policy", "action"), [("fail", FAIL), ("continue", SUCCESS), ("terminate", TERMINATE)])
def test_incomplete_outputs(policy, action):
    spec = task("x", out_globs=[".hs-pred.out", ".txt"], incomplete_outputs=policy)
    outcome = judge("s", spec, ProcessResult(0), ["a.hs-pred.out"])
    assert outcome.action == action and ".txt" in outcome.message
    assert judge("s", spec, ProcessResult(0), ["a.hs-pred.out", "b.txt"]).action == SUCCESS


def test_a_task_without_timeout_gets_the_default(tmp_path):
    started = time.monotonic()
    outcome = run(tmp_path, task("sleep 60"), default_timeout_seconds=0.5, kill_grace_seconds=0.5)
    assert time.monotonic() - started < 30
    assert outcome.action == FAIL and outcome.message == "Step s timed out after 0.5 s and was killed"


def test_a_tasks_own_timeout_wins_over_the_default(tmp_path):
    outcome = run(tmp_path, task("sleep 1", timeout=60), default_timeout_seconds=0.2)
    assert outcome.action == SUCCESS


def test_the_default_timeout_is_a_day_unless_set():
    assert Settings.from_env({}).default_timeout_seconds == 86400
    assert Settings.from_env({"AA_DEFAULT_TIMEOUT_SECONDS": "30"}).default_timeout_seconds == 30
    assert Settings.from_env({"AA_DEFAULT_TIMEOUT_SECONDS": "0"}).default_timeout_seconds is None  # no limit
