"""The same jobs as on the local backend, on real single-node Slurm and Grid Engine clusters.

`.ci/clusters.sh` sets both up (CI runs it). Each test runs once per scheduler, through HTTP with
real `aa worker` processes. To keep CI short, one test runs many jobs at once: a pipeline with a
fan-in, parameters, the environment, a failure, a timeout, a cancel, jobs killed outside the
service (with and without retries), while the poller's scheduler commands are counted; another
kills a worker mid-job. Where a scheduler's commands are not installed its tests are skipped,
saying so — unless AA_REQUIRE_CLUSTERS names it (CI), when they fail.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import text

COMMANDS = {"slurm": ["sbatch", "squeue", "scancel"], "gridengine": ["qsub", "qstat", "qdel", "qacct"]}
FAST = {"AA_CLUSTER_POLL_SECONDS": "0.5"}

CONFIG = """
version: 1
backends:
  - {{name: hpc, type: {kind}, root_path: "{root}", options: {{environment: {{FROM_BACKEND: "b"}}}}}}
  - {{name: here, type: local}}
tasks:
  - {{name: sort, backend: hpc, executable: "sort $I1", in_globs: [".txt"], out_globs: [".sorted"],
     stdout_glob: ".sorted", resources: {{cpus: 1, memory_mb: 64}}}}
  - {{name: sort_here, backend: here, executable: "sort $I1", in_globs: [".txt"], out_globs: [".sorted"],
     stdout_glob: ".sorted"}}
  - {{name: lines, backend: hpc, executable: "wc -l $I1", in_globs: [".sorted"], out_globs: [".lines"],
     stdout_glob: ".lines"}}
  - {{name: words, backend: hpc, executable: "wc -w $I1", in_globs: [".sorted"], out_globs: [".words"],
     stdout_glob: ".words"}}
  - {{name: report, backend: hpc, executable: "cat $I1 $I2", in_globs: [".lines", ".words"], out_globs: [".report"],
     stdout_glob: ".report"}}
  - {{name: say, backend: hpc, executable: "echo $P1", out_globs: [".said"], stdout_glob: ".said",
     parameters: [{{name: words, type: string, switchless: true, default: "plain"}}]}}
  - {{name: env, backend: hpc, executable: "env", out_globs: [".env"], stdout_glob: ".env",
     environment: {{VAR: "x y"}}}}
  - {{name: broken, backend: hpc, executable: "ls /nonexistent-{kind}"}}
  - {{name: slow, backend: hpc, executable: "sleep $P1", timeout: 600,
     parameters: [{{name: seconds, type: int, switchless: true, default: 60}}]}}
  - {{name: hasty, backend: hpc, executable: "sleep 60", timeout: 2}}
  - {{name: sturdy, backend: hpc, executable: "sleep $P1", retries: 1,
     parameters: [{{name: seconds, type: int, switchless: true, default: 60}}]}}
  - {{name: once, backend: hpc, executable: "python3 {script}", out_globs: [".once"], environment: {{{once_env}}}}}
jobs:
  - name: diamond
    steps: [{{task: sort}}, {{task: lines}}, {{task: words, after: [sort]}}, {{task: report, after: [lines, words]}}]
  - name: mixed
    steps: [{{task: sort_here}}, {{task: lines}}]
  - {{name: say, inputs: [], steps: [{{task: say}}]}}
  - {{name: env, inputs: [], steps: [{{task: env}}]}}
  - {{name: broken, inputs: [], steps: [{{task: broken}}, {{task: say}}]}}
  - {{name: slow, inputs: [], steps: [{{task: slow}}]}}
  - {{name: hasty, inputs: [], steps: [{{task: hasty}}]}}
  - {{name: sturdy, inputs: [], steps: [{{task: sturdy}}]}}
  - {{name: once, inputs: [], steps: [{{task: once}}]}}
"""
# Appends a line to the file RUNS names, then sleeps: a second run would show.
ONCE = """import os, time, pathlib
pathlib.Path(os.environ['RUNS']).open('a').write('run\\n')
time.sleep(6)
pathlib.Path(os.environ['OUT']).write_text('done')
"""


@pytest.fixture(params=["slurm", "gridengine"])
def kind(request) -> str:
    """A scheduler that answers on this machine (its tests are skipped where it is not installed)."""
    kind = request.param
    missing = [c for c in COMMANDS[kind] if shutil.which(c) is None]
    required = kind in os.environ.get("AA_REQUIRE_CLUSTERS", "").split(",")
    if missing and not required:
        pytest.skip(f"{kind} is not installed here ({', '.join(missing)} not found); .ci/clusters.sh installs it")
    assert not missing, f"{kind} is required (AA_REQUIRE_CLUSTERS) but {', '.join(missing)} not found"
    probe = ["sinfo", "-h"] if kind == "slurm" else ["qstat", "-u", "*"]
    answer = subprocess.run(probe, capture_output=True, text=True, timeout=60, check=False)
    assert answer.returncode == 0, f"{kind} is installed but does not answer: {answer.stderr.strip()}"
    return kind


@pytest.fixture
def cluster_config(api, kind, tmp_path):
    """Load the jobs on the `kind` backend; its root (the shared filesystem) is under tmp_path."""

    def load(env: dict[str, str] | None = None) -> Path:
        root = tmp_path / "root"
        script = tmp_path / "once.py"  # on the shared filesystem, as an analyst's script would be
        script.write_text(ONCE)
        once_env = ", ".join(f'{name}: "{value}"' for name, value in (env or {}).items())
        api.put_config(CONFIG.format(kind=kind, root=root, script=script, once_env=once_env))
        return root

    return load


def active_jobs(kind: str) -> set[str]:
    """The ids of the jobs the scheduler still has waiting or running."""
    if kind == "slurm":
        out = subprocess.run(["squeue", "-h", "-o", "%i"], capture_output=True, text=True, check=True).stdout
    else:
        out = subprocess.run(["qstat", "-u", "*"], capture_output=True, text=True, check=True).stdout
        out = "\n".join(line.split()[0] for line in out.splitlines()[2:] if line.strip())
    return {line.strip() for line in out.splitlines() if line.strip()}


def running(*argv: str) -> bool:
    """Whether a process runs exactly this command line."""
    return subprocess.run(["pgrep", "-f", "-x", " ".join(argv)], capture_output=True, check=False).returncode == 0


def wait_for(predicate, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.2)


def cluster_job(api, submission_id: str, step: int = 0) -> dict | None:
    return api.get(f"/api/submissions/{submission_id}").json()["steps"][step].get("cluster")


def started_job(api, submission_id: str) -> dict:
    """The step's cluster job once the scheduler has started it."""
    return wait_for(lambda: (c := cluster_job(api, submission_id)) and c["job_id"] and c["started"] and c, 90,
                    "the job to start")


def cluster_metrics(api, family: str, kind: str, sample: str | None = None) -> dict[str, float]:
    """The values of one /metrics family for the `hpc` backend of `kind`, by their `state` label."""
    values = {}
    for metric in text_string_to_metric_families(api.get("/metrics").text):
        if metric.name == family:
            for found in metric.samples:
                if found.name == (sample or family) and found.labels["backend"] == "hpc":
                    assert found.labels["scheduler"] == kind, found
                    values[found.labels.get("state", "")] = found.value
    return values


def shim(directory: Path, calls: Path, kind: str) -> str:
    """A PATH whose scheduler commands log their arguments to `calls`, then run the real ones."""
    directory.mkdir()
    for command in COMMANDS[kind]:
        real = shutil.which(command)
        (directory / command).write_text(f'#!/bin/sh\necho "{command} $*" >> {calls}\nexec {real} "$@"\n')
        (directory / command).chmod(0o755)
    return f"{directory}:{os.environ['PATH']}"


def test_same_jobs_as_on_the_local_backend(api, workers, cluster_config, kind, tmp_path, sessions):
    cluster_config()
    calls = tmp_path / "calls"
    workers(1, concurrency=2, env={**FAST, "AA_RETRY_BACKOFF_SECONDS": "0.1",
                                   "PATH": shim(tmp_path / "shims", calls, kind)})
    fruit = "pear apple\nfig\nbanana kiwi lime\n"
    hostile = "a 'b' \"c\" $(touch pwned); `id` *"
    seconds = str(4000 + os.getpid() % 1000)  # `sleep <seconds>`: the cancelled program, among the machine's
    diamond = api.submit("diamond", files={"input_data": ("fruit.txt", fruit)})
    mixed = api.submit("mixed", files={"input_data": ("fruit.txt", fruit)})  # a local step, then a cluster one
    said = api.submit("say", data={"say_words": hostile})
    env = api.submit("env")
    broken = api.submit("broken")
    hasty = api.submit("hasty")
    cancelled = api.submit("slow", data={"slow_seconds": seconds})
    lost = api.submit("slow", data={"slow_seconds": "120"})
    retried = api.submit("sturdy", data={"sturdy_seconds": "8"})
    counted = [api.submit("slow", data={"slow_seconds": "10"}) for _ in range(5)]

    # A job ended outside the service (an operator, a node failure) is the system's failure: within
    # `retries`, another attempt; beyond them, a Crash (below).
    retried_job = started_job(api, retried["id"])
    kill = "scancel" if kind == "slurm" else "qdel"
    subprocess.run([kill, retried_job["job_id"]], capture_output=True, check=True)
    wait_for(lambda: (cluster_job(api, retried["id"]) or {}).get("job_id") not in (None, retried_job["job_id"]), 60,
             "the second attempt")  # the first one recorded (for Grid Engine, after its qacct)

    # Cancel: DELETE, and the cluster job and its program are gone within seconds.
    job = started_job(api, cancelled["id"])
    wait_for(lambda: running("sleep", seconds), 30, "the program to run")
    asked = time.monotonic()
    assert requests.delete(api.url(f"/api/submissions/{cancelled['id']}"), timeout=10).status_code == 202
    wait_for(lambda: job["job_id"] not in active_jobs(kind), 30, "the cluster job to go")
    print(f"\n{kind}: DELETE to cluster job {job['job_id']} gone: {time.monotonic() - asked:.2f} s")
    wait_for(lambda: not running("sleep", seconds), 30, "the program to be killed")
    assert api.get(f"/api/submissions/{cancelled['id']}").json()["state"] == "Cancelled"

    # One scheduler command per poll round for every running job: `lost` and the `counted` ones
    # (10 s each) run while the commands are counted.
    watched = [lost, *counted]
    ids = [started_job(api, b["id"])["job_id"] for b in watched]
    calls.write_text("")
    time.sleep(3)
    lines = calls.read_text().splitlines()
    polls = [line for line in lines if line.split()[0] in ("squeue", "qstat")]
    # At most one poll per round (rounds are at least 0.5 s apart), where one per job would be 6 or
    # more per round; besides polls, only the pipelines' next steps are submitted.
    assert 0 < len(polls) <= 3 / 0.5 + 1, polls
    assert {line.split()[0] for line in lines} <= {"squeue", "qstat", "sbatch", "qsub"}, lines
    if kind == "slurm":  # each names every running job (and no others, than ones just ending)
        assert any(set(ids) <= set(line.split("--jobs=")[1].split()[0].split(",")) for line in polls), polls
    print(f"{kind}: {len(polls)} scheduler calls in 3 s (0.5 s rounds) with {len(ids)} jobs running: {polls[-1]}")

    # Operators see them in /metrics too, by the scheduler's own word for their state (RUNNING, r…).
    jobs = cluster_metrics(api, "aa_cluster_jobs", kind)
    assert sum(jobs.values()) >= len(ids) and all(jobs), jobs

    subprocess.run([kill, ids[0]], capture_output=True, check=True)
    done = api.wait_done(lost["id"], timeout=120)
    step = done["steps"][0]
    assert (done["state"], step["state"]) == ("Crash", "Crash"), done
    assert step["message"].startswith("Step slow was lost: ") and ids[0] in step["message"]
    done = api.wait_done(retried["id"], timeout=120)
    step = done["steps"][0]
    assert (done["state"], step["attempts"]) == ("Complete", 2), done
    assert step["cluster"]["job_id"] != retried_job["job_id"]
    first = api.get(f"/api/submissions/{retried['id']}/steps/sturdy/log?attempt=1").json()
    assert "was lost" in first["stderr"] and first["cluster"]["job_id"] == retried_job["job_id"]

    # Pipeline with a fan-in; every step's cluster job in its view and log.
    done = api.wait_done(diamond["id"], timeout=120)
    assert done["state"] == "Complete", done
    results = {r["step"]: api.get(r["url"]).content for r in done["results"]}
    assert results["sort"] == b"banana kiwi lime\nfig\npear apple\n"
    assert results["report"].split()[0::2] == [b"3", b"6"]  # wc -l, then wc -w, of the sorted file
    for step in done["steps"]:
        job = step["cluster"]
        assert job["scheduler"] == kind and job["job_id"] and job["node"] and job["state"], step
        assert job["queued_seconds"] is not None and job["queued_seconds"] >= 0
    log = api.get(f"/api/submissions/{diamond['id']}/steps/report/log").json()
    assert log["cluster"]["job_id"] == done["steps"][3]["cluster"]["job_id"]

    done = api.wait_done(mixed["id"], timeout=120)
    assert done["state"] == "Complete", done
    assert "cluster" not in done["steps"][0] and done["steps"][1]["cluster"]["job_id"]
    assert api.get(done["results"][-1]["url"]).text.split()[0] == "3"

    # A parameter is one argv token, never seen by a shell.
    done = api.wait_done(said["id"], timeout=120)
    assert done["state"] == "Complete", done
    assert api.get(done["results"][0]["url"]).text == f"{hostile}\n"

    # The environment: the backend's and the task's, none of the service's.
    done = api.wait_done(env["id"], timeout=120)
    assert done["state"] == "Complete", done
    variables = dict(line.split("=", 1) for line in api.get(done["results"][0]["url"]).text.splitlines()
                     if "=" in line)
    assert (variables["FROM_BACKEND"], variables["VAR"]) == ("b", "x y")
    assert "DATABASE_URL" not in variables and not any(name.startswith("AA_") for name in variables)

    # A failure: the exit status, the message, stderr in the log, the rest skipped.
    done = api.wait_done(broken["id"], timeout=120)
    assert done["state"] == "Error", done
    failed, skipped = done["steps"]
    assert (failed["state"], failed["exit_status"], skipped["state"]) == ("Error", 2, "Skipped")
    log = f"/api/submissions/{broken['id']}/steps/broken/log"
    assert failed["message"] == f"Step broken failed with exit status 2; its log: {log}"
    assert f"/nonexistent-{kind}" in api.get(log).json()["stderr"]

    # A timeout.
    done = api.wait_done(hasty["id"], timeout=120)
    assert done["state"] == "Error"
    assert done["steps"][0]["message"] == ("Step hasty timed out after 2 s and was killed; "
                                           f"its log: /api/submissions/{hasty['id']}/steps/hasty/log")
    assert done["steps"][0]["cluster"]["job_id"] not in active_jobs(kind)

    for body in counted:
        assert api.wait_done(body["id"], timeout=120)["state"] == "Complete"
    with sessions() as session:  # nothing left in the queue, no attempt left open
        assert session.execute(text("SELECT count(*) FROM procrastinate_jobs")).scalar() == 0
        assert session.execute(text("SELECT count(*) FROM attempts WHERE finished IS NULL")).scalar() == 0
    assert cluster_metrics(api, "aa_cluster_jobs", kind) == {}
    waited = cluster_metrics(api, "aa_cluster_queue_wait_seconds", kind, sample="aa_cluster_queue_wait_seconds_count")
    # every job seen started on a node: at least the diamond's 4, the 5 counted, lost, sturdy's 2, cancelled
    assert waited[""] >= 13, waited


def test_worker_killed_mid_job_is_adopted_not_resubmitted(api, workers, cluster_config, kind, tmp_path):
    runs = tmp_path / "runs"
    cluster_config(env={"RUNS": str(runs), "OUT": "x.once"})
    stall = {**FAST, "AA_STALLED_AFTER_SECONDS": "2"}
    (victim,) = workers(1, env=stall)
    body = api.submit("once")
    job = wait_for(lambda: (c := cluster_job(api, body["id"])) and c["job_id"] and c, 60, "the job's submission")
    wait_for(runs.exists, 60, "the program to start")
    os.kill(victim.pid, signal.SIGKILL)
    victim.wait()
    assert job["job_id"] in active_jobs(kind) or runs.exists()  # the job goes on without its worker
    workers(1, env=stall)
    done = api.wait_done(body["id"], timeout=120)
    assert done["state"] == "Complete", done
    step = done["steps"][0]
    assert step["attempts"] == 1 and step["cluster"]["job_id"] == job["job_id"]
    assert runs.read_text() == "run\n"  # ran once
    assert [r["name"] for r in done["results"]] == ["once.x.once"]  # <step>.<name>: named after its step


@pytest.mark.parametrize("when", ["after", "before"])
def test_a_worker_dying_around_its_submit_leaves_one_job(api, workers, cluster_config, kind, tmp_path, when):
    """The worker freezes right after sbatch/qsub answered (before it stores the job id), or just
    before it runs them, and is killed: the worker that adopts the attempt finds the job by its
    name, or submits it, once."""
    runs, ids, shims = tmp_path / "runs", tmp_path / "ids", tmp_path / "shims"
    shims.mkdir()
    submit = "sbatch" if kind == "slurm" else "qsub"
    real = f'{shutil.which(submit)} "$@" >> {ids}'
    freeze = f"echo $$ > {tmp_path / 'shim.pid'}; kill -STOP $PPID" + ("; kill -STOP $$" if when == "before" else "")
    (shims / submit).write_text(f"#!/bin/sh\n{real if when == 'after' else ''}\n{freeze}\n")
    (shims / submit).chmod(0o755)
    cluster_config(env={"RUNS": str(runs), "OUT": "x.once"})
    stall = {**FAST, "AA_STALLED_AFTER_SECONDS": "2"}
    (victim,) = workers(1, env={**stall, "PATH": f"{shims}:{os.environ['PATH']}"})
    body = api.submit("once")
    wait_for(lambda: _stopped(victim.pid), 60, "the worker to freeze")
    assert cluster_job(api, body["id"]) is None or cluster_job(api, body["id"])["job_id"] is None
    os.kill(victim.pid, signal.SIGKILL)
    victim.wait()
    if when == "before":  # the frozen shim never submits
        os.kill(int((tmp_path / "shim.pid").read_text()), signal.SIGKILL)
    workers(1, env=stall)
    done = api.wait_done(body["id"], timeout=120)
    assert done["state"] == "Complete", done
    step = done["steps"][0]
    assert step["attempts"] == 1 and runs.read_text() == "run\n"  # one attempt, run once
    if when == "after":
        (submitted,) = ids.read_text().split()
        assert step["cluster"]["job_id"] == submitted.split(";")[0]
    else:
        assert not ids.exists()


def _stopped(pid: int) -> bool:
    """Whether the process is stopped (SIGSTOP)."""
    with open(f"/proc/{pid}/stat") as stat:
        return stat.read().rsplit(")", 1)[1].split()[0] == "T"
