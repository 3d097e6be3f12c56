"""Running a submission again: its job, its parameter values by public alias, and its input files."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from app.models import Submission
from app.services import blobs
from app.services.submissions import Upload


@dataclass
class Earlier:
    """What a submission was made with, in the form a new submission takes it."""

    job: str | None
    params: dict[str, Any]
    inputs: dict[str, Upload]


def earlier(session: Session, submission: Submission, *, with_files: bool = True) -> Earlier:
    """The job, parameters (keyed by alias, from each step's task snapshot) and inputs of `submission`."""
    params: dict[str, Any] = {}
    for step in submission.steps:
        for declared in step.task.get("parameters", []):
            if declared["name"] in step.params:
                params[declared["rest_alias"]] = step.params[declared["name"]]
    inputs = {i.name: Upload(blobs.get(session, i.sha256), i.original_name) for i in submission.inputs} \
        if with_files else {}
    return Earlier(job=submission.job_name, params=params, inputs=inputs)
