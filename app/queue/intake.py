"""Intake: a submission stored and its root steps queued, in the caller's one transaction."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from app.db import driver
from app.models import StepState
from app.queue.chain import Deferral, defer
from app.queue.dag import queue_name
from app.services.submissions import StoredSubmission, Upload, store


def submit(
    session: Session, *, job: Any, params: dict[str, Any], inputs: dict[str, Upload],
    name: str = "", priority: str = "normal", client: str = "", token_id: int | None = None,
    use_cache: bool = True,
) -> StoredSubmission:
    """Validate a submission fully, then store it and queue its root steps (caller commits).

    The hot path of the API: the statements of `store`, then one for the root steps' queue jobs.
    """
    submission = store(session, job=job, params=params, inputs=inputs, name=name, priority=priority,
                       client=client, token_id=token_id, use_cache=use_cache)
    roots = [s for s in submission.steps if not s.after]
    deferrals = [Deferral(s.id, str(submission.id), queue_name(s)) for s in roots]
    job_ids, queued = defer(driver(session), deferrals, priority=priority)
    for step in roots:
        step.state, step.queue_job_id, step.queued = StepState.QUEUED, job_ids[step.id], queued
    return submission
