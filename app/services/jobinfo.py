"""What a client needs to know about a job: its inputs, public parameters, steps and run time."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.models import Job, Submission, SubmissionState
from app.services import catalog


def describe_many(session: Session, jobs: list[Job], *, with_dag: bool = False) -> list[dict[str, Any]]:
    """Client-facing descriptions of `jobs` (two queries in all)."""
    tasks = catalog.tasks_by_name(session, {s["task"] for job in jobs for s in job.spec["steps"]})
    times = typical_run_seconds(session, [job.name for job in jobs])
    described = []
    for job in jobs:
        spec = job.spec
        info = {
            "name": job.name, "description": spec["description"], "runnable": job.runnable,
            "inputs": spec["inputs"], "steps": spec["steps"],
            "parameters": [_parameter(step["name"], p) for step in spec["steps"]
                           for p in tasks[step["task"]]["parameters"]],
            "typical_run_seconds": times.get(job.name),
        }
        if with_dag:
            info["dag"] = dag(spec["steps"])
        described.append(info)
    return described


def _parameter(step: str, p: dict[str, Any]) -> dict[str, Any]:
    return {
        "alias": p["rest_alias"], "step": step, "name": p["name"], "type": p["type"],
        "default": p["default"], "required": p["default"] is None, "choices": p["choices"],
        "min": p["min"], "max": p["max"], "pattern": p["pattern"], "description": p["description"],
    }


def dag(steps: list[dict[str, Any]]) -> dict[str, Any]:
    children: dict[str, list[str]] = {s["name"]: [] for s in steps}
    for step in steps:
        for parent in step["after"]:
            children[parent].append(step["name"])
    return {"roots": [s["name"] for s in steps if not s["after"]], "children": children}


def typical_run_seconds(session: Session, names: list[str]) -> dict[str, float]:
    """Median wall time of each job's last 1000 completed submissions."""
    if not names:
        return {}
    recent = (
        select(Submission.job_name, (func.extract("epoch", Submission.finished - Submission.created)).label("s"),
               func.row_number().over(partition_by=Submission.job_name,
                                      order_by=Submission.created.desc()).label("n"))
        .where(Submission.job_name.in_(names), Submission.state == SubmissionState.COMPLETE)
        .subquery()
    )
    rows = session.execute(
        select(recent.c.job_name, func.percentile_cont(0.5).within_group(recent.c.s))
        .where(recent.c.n <= 1000).group_by(recent.c.job_name)
    )
    return {name: round(float(seconds), 3) for name, seconds in rows}
