"""The `gridengine` backend's scheduler commands: qsub, qstat (one call for all jobs), qdel, qacct.

`qstat -xml -u '*'` lists every pending and running job with its name, so one call answers for
all of a worker's jobs, and finds a job by its name. A finished job leaves the list; its script's
exit file says how the program ended, and only a job that ended without one (deleted, killed at
its h_rt, failed to start) costs a `qacct` call of its own.
"""

from __future__ import annotations

import math
import xml.etree.ElementTree as ET  # noqa: S405 - our own scheduler's output, not untrusted XML
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

# qacct's `failed` codes that say the scheduler ended the job (sge_execd's "failed" reasons).
_FAILED_TIMEOUT = {"37"}  # qmaster enforced h_rt, h_cpu or h_vmem limit
_FAILED_CANCELLED = {"100"}  # "assumedly after job": ended by a signal, as qdel does


class GridEngine(Scheduler):
    kind = "gridengine"
    commands = ("qsub", "qstat", "qdel", "qacct")

    def submit(self, job: JobSpec) -> str:
        options = job.options
        log = str(job.workdir / AA_DIR / SCHEDULER_LOG)
        argv = ["qsub", "-terse", "-N", job.name, "-wd", str(job.workdir), "-o", log, "-j", "y", "-S", "/bin/sh",
                "-r", "n"]
        if job.time_limit:
            argv += ["-l", f"h_rt={math.ceil(job.time_limit)}"]
        if options.get("queue"):
            argv += ["-q", str(options["queue"])]
        if options.get("account"):
            argv += ["-A", str(options["account"])]
        if options.get("project"):
            argv += ["-P", str(options["project"])]
        cpus = int(job.resources.get("cpus") or 1)
        if cpus > 1 and options.get("parallel_environment"):
            argv += ["-pe", str(options["parallel_environment"]), str(cpus)]
        if job.resources.get("memory_mb") and options.get("memory_resource"):  # h_vmem, mem_free…: site rules
            argv += ["-l", f"{options['memory_resource']}={int(job.resources['memory_mb'])}M"]
        argv += [*extra_args(options), str(job.script)]
        return self.run(argv).strip().split(".")[0]

    def _list(self) -> list[tuple[str, str, JobStatus]]:
        """Every job qstat lists: (id, name, status)."""
        root = ET.fromstring(self.run(["qstat", "-xml", "-u", "*"]))  # noqa: S314
        jobs = []
        for job in root.iter("job_list"):
            state = job.findtext("state") or ""
            running = "r" in state or "t" in state
            queue = job.findtext("queue_name") or ""
            failed = "E" in state  # Eqw: the job can never start (bad working directory, script…)
            status = JobStatus(
                state=state, phase=ENDED if failed else RUNNING if running else WAITING,
                node=queue.partition("@")[2] or None, submitted=_time(job.findtext("JB_submission_time")),
                started=_time(job.findtext("JAT_start_time")) if running else None, failure=LOST if failed else None,
            )
            jobs.append((job.findtext("JB_job_number") or "", job.findtext("JB_name") or "", status))
        return jobs

    def poll(self, job_ids: list[str]) -> dict[str, JobStatus]:
        if not job_ids:
            return {}
        wanted = set(job_ids)
        return {job_id: status for job_id, _, status in self._list() if job_id in wanted}

    def find(self, names: list[str]) -> dict[str, str]:
        if not names:
            return {}
        wanted = set(names)
        return {name: job_id for job_id, name, _ in self._list() if name in wanted}

    def cancel(self, job_ids: list[str]) -> None:
        if job_ids:
            self.run(["qdel", *job_ids], ok=(0, 1))  # 1: some were already gone

    def ended(self, job_id: str) -> JobStatus | None:
        try:
            out = self.run(["qacct", "-j", job_id])
        except SchedulerError:
            return None  # not in the accounting file yet (it is written every flush_time)
        fields = {}
        for line in out.splitlines():
            key, _, value = line.partition(" ")
            fields.setdefault(key, value.strip())
        failed = fields.get("failed", "0").split()[0]
        status = fields.get("exit_status", "").split()[0] if fields.get("exit_status") else None
        failure = (TIMEOUT if failed in _FAILED_TIMEOUT else CANCELLED if failed in _FAILED_CANCELLED
                   else LOST if failed != "0" else None)
        if failure is None and status == "137":
            failure = MEMORY if "h_vmem" in out else CANCELLED
        return JobStatus(state=f"failed {failed}" if failed != "0" else "done", phase=ENDED,
                         node=fields.get("hostname"), failure=failure,
                         exit_status=int(status) if status and status.isdigit() else None)


def _time(value: str | None) -> datetime | None:
    """qstat's local time (no zone given) as an aware datetime."""
    try:
        return datetime.fromisoformat(value).astimezone() if value else None
    except ValueError:
        return None
