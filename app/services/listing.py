"""Listing submissions for operators."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.models import Submission


def submissions(
    session: Session, *, job: str | None = None, state: str | None = None, since: datetime | None = None,
    page: int = 1, per_page: int = 50,
) -> list[Submission]:
    """Newest first, filtered by job, state and creation time."""
    query = select(Submission).order_by(Submission.created.desc())
    if job:
        query = query.where(Submission.job_name == job)
    if state:
        query = query.where(Submission.state == state)
    if since:
        query = query.where(Submission.created >= since)
    return list(session.execute(query.offset((page - 1) * per_page).limit(per_page)).scalars())
