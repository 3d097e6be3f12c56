"""The `slurm` backend's scheduler commands: sbatch, squeue (one call for many jobs), scancel.

`squeue --states=all` lists finished jobs too for as long as slurmctld keeps them (MinJobAge,
300 s by default), and asks the controller only: no slurmdbd is needed. A job it has forgotten is
judged by the exit file its script wrote.
"""

from __future__ import annotations

import math
from datetime import datetime

from app.backends.cluster import (
    AA_DIR,
    CANCELLED,
    ENDED,
    LOST,
    MEMORY,
    RUNNING,
    SCHEDULER_LOG,
    TIMEOUT,
    WAITING,
    JobSpec,
    JobStatus,
    Scheduler,
    SchedulerError,
    extra_args,
)

_WAITING = {"PENDING", "CONFIGURING", "REQUEUED", "REQUEUE_HOLD", "REQUEUE_FED", "RESV_DEL_HOLD", "SUSPENDED"}
_RUNNING = {"RUNNING", "COMPLETING", "RESIZING", "SIGNALING", "STAGE_OUT", "STOPPED"}
# Ended by the scheduler rather than by the program (COMPLETED and FAILED: the program's exit).
_FAILURES = {
    "TIMEOUT": TIMEOUT, "DEADLINE": TIMEOUT, "OUT_OF_MEMORY": MEMORY, "CANCELLED": CANCELLED,
    "NODE_FAIL": LOST, "BOOT_FAIL": LOST, "PREEMPTED": LOST, "REVOKED": LOST,
}
_FORMAT = "%i|%T|%N|%V|%S"  # id, state, nodes, submitted, started
_FORGOTTEN = "Invalid job id specified"  # squeue's answer when it knows none of the ids


class Slurm(Scheduler):
    kind = "slurm"
    commands = ("sbatch", "squeue", "scancel")

    def submit(self, job: JobSpec) -> str:
        options = job.options
        argv = ["sbatch", "--parsable", f"--job-name={job.name}", f"--chdir={job.workdir}",
                f"--output={job.workdir / AA_DIR / SCHEDULER_LOG}", "--export=NONE", "--no-requeue"]
        if job.time_limit:
            argv.append(f"--time={math.ceil(job.time_limit / 60)}")
        for option, flag in (("partition", "--partition"), ("account", "--account"), ("qos", "--qos")):
            if options.get(option):
                argv.append(f"{flag}={options[option]}")
        if job.resources.get("cpus"):
            argv.append(f"--cpus-per-task={int(job.resources['cpus'])}")
        if job.resources.get("memory_mb"):
            argv.append(f"--mem={int(job.resources['memory_mb'])}M")
        argv += [*extra_args(options), str(job.script)]
        return self.run(argv).strip().split(";")[0]

    def poll(self, job_ids: list[str]) -> dict[str, JobStatus]:
        if not job_ids:
            return {}
        try:
            out = self.run(["squeue", "--noheader", "--states=all", f"--jobs={','.join(job_ids)}",
                            f"--format={_FORMAT}"])
        except SchedulerError as exc:
            if _FORGOTTEN in str(exc):
                return {}
            raise
        statuses = {}
        for line in out.splitlines():
            parts = line.split("|")
            if len(parts) == 5:
                statuses[parts[0]] = _status(*parts[1:])
        return statuses

    def find(self, names: list[str]) -> dict[str, str]:
        if not names:
            return {}
        out = self.run(["squeue", "--noheader", "--states=all", f"--name={','.join(names)}", "--format=%j|%i"])
        return dict(line.split("|", 1) for line in out.splitlines() if "|" in line)

    def cancel(self, job_ids: list[str]) -> None:
        if job_ids:
            # scancel: TERM then KILL after KillWait to every process of the job; an already finished
            # job is not an error worth failing for.
            self.run(["scancel", *job_ids], ok=(0, 1))


def _status(state: str, node: str, submitted: str, started: str) -> JobStatus:
    state = state.split()[0] if state else "UNKNOWN"
    phase = WAITING if state in _WAITING else RUNNING if state in _RUNNING else ENDED
    return JobStatus(state=state, phase=phase, node=node if node and node != "(null)" else None,
                     submitted=_time(submitted), started=_time(started) if phase != WAITING else None,
                     failure=_FAILURES.get(state))


def _time(value: str) -> datetime | None:
    """squeue's local time (no zone given) as an aware datetime."""
    try:
        return datetime.fromisoformat(value).astimezone()
    except ValueError:
        return None  # N/A, Unknown
