"""Result caching (SPEC §4.9): a step identical to an earlier successful one reuses its results."""

from __future__ import annotations

import hashlib
import json

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.models import Result, Step, StepState, Submission


def key(step: Step, files: list[tuple[str, str]], stem: str) -> str | None:
    """The cache key of a cacheable step: its task definition, parameter values and input hashes."""
    if not step.task.get("cache"):
        return None
    definition = {k: v for k, v in step.task.items() if k != "description"}
    inputs = [(name.replace(stem, "", 1), sha) for name, sha in files]
    payload = json.dumps({"task": definition, "params": step.params, "inputs": inputs}, sort_keys=True)
    return hashlib.sha256(payload.encode()).hexdigest()


def find(session: Session, cache_key: str) -> Step | None:
    """The latest successful step with this key."""
    return session.execute(
        select(Step).where(Step.cache_key == cache_key, Step.state == StepState.COMPLETE)
        .order_by(Step.finished.desc()).limit(1)
    ).scalar_one_or_none()


def reuse(session: Session, submission: Submission, step: Step, source: Step) -> None:
    """Give `step` the results of `source` (same contents, names under the new submission's stem)."""
    old_stem, new_stem = str(source.submission_id), str(submission.id)
    for result in session.execute(select(Result).where(Result.step_id == source.id).order_by(Result.id)).scalars():
        session.add(Result(
            submission_id=submission.id, step_id=step.id, step_name=step.name,
            name=result.name.replace(old_stem, new_stem, 1), sha256=result.sha256, size=result.size,
            media_type=result.media_type,
        ))
    step.cached = True
    step.exit_status = source.exit_status
    step.message = f"Reused the results of an identical earlier run ({source.submission_id})"
