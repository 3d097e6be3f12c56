"""What the cluster backends share: the job script, the scheduler interface, and its commands.

A cluster step runs as a batch job whose script we generate. Every value in it (the argv, the
environment) is quoted for the shell that runs the script, so no parameter can become a command;
the scheduler's own commands are argv lists run without a shell. The script records the program's
exit status in a file of the working directory: the scheduler says whether the job is waiting,
running or gone, the file says how the program ended (as Nextflow's grid executors do).
"""

from __future__ import annotations

import math
import shlex
import shutil
import subprocess
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

AA_DIR = ".aa"  # the job's own files in its working directory, never results
SCRIPT, STDOUT, STDERR, EXIT, TIMED_OUT, SCHEDULER_LOG, STARTED = (
    "job.sh", "stdout", "stderr", "exit", "timed_out", "scheduler.log", "started")
COMMAND_TIMEOUT = 60.0  # seconds a scheduler command may take before it counts as unreachable
# The variables a scheduler gives its jobs, which the program keeps (shell patterns): everything else
# the job starts with (Grid Engine passes on its execution daemon's environment) is dropped.
SCHEDULER_VARIABLES = ("SLURM_*", "SGE_*", "JOB_ID", "JOB_NAME", "NSLOTS", "NHOSTS", "NQUEUES", "PE",
                       "PE_HOSTFILE", "QUEUE", "REQNAME", "RESTARTED")

# Where a job is, in our words; the scheduler's own word is kept as JobStatus.state.
WAITING, RUNNING, ENDED = "waiting", "running", "ended"
# Why a job ended other than by its program's exit (JobStatus.failure).
TIMEOUT, MEMORY, LOST, CANCELLED = "timeout", "memory", "lost", "cancelled"


class SchedulerError(Exception):
    """A scheduler command failed or did not answer."""


@dataclass(frozen=True)
class JobStatus:
    """What the scheduler says about one job."""

    state: str  # the scheduler's word (PENDING, RUNNING, COMPLETED, r, qw…)
    phase: str  # WAITING, RUNNING or ENDED
    node: str | None = None
    submitted: datetime | None = None
    started: datetime | None = None
    failure: str | None = None  # TIMEOUT, MEMORY, LOST or CANCELLED when the scheduler ended it
    exit_status: int | None = None


@dataclass(frozen=True)
class JobSpec:
    """A job to submit: its script, name and working directory, and the task's resources."""

    script: Path
    name: str
    workdir: Path
    resources: dict[str, Any]
    options: dict[str, Any]
    time_limit: int | None  # seconds, the scheduler's backstop to the script's own timeout


class Scheduler:
    """One scheduler's commands. Each method is ONE command, whatever the number of jobs."""

    kind = ""
    commands: tuple[str, ...] = ()  # what it runs, all of which a worker must have to wait for its jobs

    def __init__(self) -> None:
        self.calls = 0  # commands run, for the poller's log and the tests

    def installed(self) -> bool:
        """Whether this machine has the scheduler's commands."""
        return all(shutil.which(command) for command in self.commands)

    def submit(self, job: JobSpec) -> str:
        """Submit the job; its id."""
        raise NotImplementedError

    def poll(self, job_ids: list[str]) -> dict[str, JobStatus]:
        """The status of each job the scheduler still knows (the others are absent)."""
        raise NotImplementedError

    def find(self, names: list[str]) -> dict[str, str]:
        """The ids of the jobs with these names that the scheduler knows, by name."""
        raise NotImplementedError

    def cancel(self, job_ids: list[str]) -> None:
        """Kill or dequeue the jobs."""
        raise NotImplementedError

    def ended(self, job_id: str) -> JobStatus | None:
        """How a job the scheduler no longer lists ended, from its accounting, if it has any."""
        return None

    def run(self, argv: list[str], *, ok: tuple[int, ...] = (0,)) -> str:
        """Run one scheduler command; its standard output."""
        self.calls += 1
        try:
            done = subprocess.run(argv, capture_output=True, text=True, timeout=COMMAND_TIMEOUT,  # noqa: S603
                                  stdin=subprocess.DEVNULL, check=False)
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise SchedulerError(f"{argv[0]}: {exc}") from exc
        if done.returncode not in ok:
            raise SchedulerError(f"{argv[0]} exited with {done.returncode}: {done.stderr.strip()[:500]}")
        return done.stdout


def extra_args(options: dict[str, Any]) -> list[str]:
    """The backend's `extra_args` option: a list of argv tokens, or a string split as shell words."""
    value = options.get("extra_args") or []
    return shlex.split(value) if isinstance(value, str) else [str(token) for token in value]


def write_script(workdir: Path, *, argv: list[str], env: dict[str, str], stdout: str | None,
                 timeout: float | None, grace: float, header: str) -> Path:
    """The job script: run `argv` in `workdir` with `env`, within `timeout`, and record its end.

    The program stays in the script's process group (the group a scheduler's job is, and that Grid
    Engine's qdel kills; coreutils' `timeout` would make one of its own). At the timeout a timer
    marks it, sends TERM to the group (the script itself outlives it, to record the exit status),
    and KILL after the grace (then only the mark tells).
    """
    aa = workdir / AA_DIR
    aa.mkdir(exist_ok=True)
    exports = " ".join(f"{name}={shlex.quote(value)}" for name, value in env.items())
    run = f"{shlex.join(argv)} </dev/null >{shlex.quote(stdout or f'{AA_DIR}/{STDOUT}')} 2>{AA_DIR}/{STDERR}"
    lines = [
        "#!/bin/sh",
        f"# {header}",
        "# Generated by Analytics Automated: every value below is quoted.",
        f"cd {shlex.quote(str(workdir))} || exit 111",
        # Where and when it started, for a job too short for any poll to see it running.
        f'echo "$(uname -n) $(date +%s)" >{AA_DIR}/{STARTED}',
        # The program's environment is the step's (SPEC §4.3), whatever the scheduler started with.
        "for name in $(env | sed -n 's/^\\([A-Za-z_][A-Za-z0-9_]*\\)=.*/\\1/p'); do",
        # PATH stays for the script's own commands until the step's replaces it (it always has one).
        f'  case "$name" in PATH|{"|".join(SCHEDULER_VARIABLES)}) ;; *) unset "$name" 2>/dev/null ;; esac',
        "done",
        f"export {exports}" if exports else "",
    ]
    if timeout:
        limit, kill_after = max(1, math.ceil(timeout)), max(1, math.ceil(grace))
        lines += [
            "trap : TERM",
            f"{run} &",
            "child=$!",
            "( trap : TERM; trap 'kill $nap 2>/dev/null; exit 0' USR1",
            f"  sleep {limit} & nap=$!; wait $nap",
            f"  : >{AA_DIR}/{TIMED_OUT}; kill -TERM 0",
            f"  sleep {kill_after} & nap=$!; wait $nap; kill -KILL 0 ) &",
            "timer=$!",
            # A wait that a TERM interrupts returns early: wait again while the program lives.
            'while :; do wait "$child"; status=$?; kill -0 "$child" 2>/dev/null || break; done',
            'kill -USR1 "$timer" 2>/dev/null',
        ]
    else:
        lines += [run, "status=$?"]
    lines += [f'echo "$status" >{AA_DIR}/{EXIT}.part && mv {AA_DIR}/{EXIT}.part {AA_DIR}/{EXIT}', 'exit "$status"']
    script = aa / SCRIPT
    script.write_text("\n".join(line for line in lines if line) + "\n")
    script.chmod(0o700)
    return script


def exit_status(workdir: Path) -> int | None:
    """The program's exit status as its job script recorded it; None if it has not ended."""
    try:
        return int((workdir / AA_DIR / EXIT).read_text().strip())
    except (OSError, ValueError):
        return None


def started(workdir: Path) -> tuple[str | None, datetime | None]:
    """The node the job script started on, and when, as it recorded them."""
    try:
        node, seconds = (workdir / AA_DIR / STARTED).read_text().split()
        return node, datetime.fromtimestamp(int(seconds), UTC)
    except (OSError, ValueError):
        return None, None


def timed_out(workdir: Path) -> bool:
    return (workdir / AA_DIR / TIMED_OUT).exists()
