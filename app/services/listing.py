"""Listing submissions for operators."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import false, or_, select
from sqlalchemy.orm import Session

from app.models import Submission


def submissions(
    session: Session, *, job: str | None = None, state: str | None = None, since: datetime | None = None,
    page: int = 1, per_page: int = 50, token_id: int | None = None,
) -> list[Submission]:
    """Newest first, filtered by job, state, creation time and (if given) the token that made them."""
    query = select(Submission).order_by(Submission.created.desc())
    if token_id is not None:
        query = query.where(Submission.token_id == token_id)
    if job:
        query = query.where(Submission.job_name == job)
    if state:
        query = query.where(Submission.state == state)
    if since:
        query = query.where(Submission.created >= since)
    return list(session.execute(query.offset((page - 1) * per_page).limit(per_page)).scalars())


def mine(session: Session, *, ids: list[uuid.UUID], token_id: int | None, limit: int = 100) -> list[Submission]:
    """A client's submissions, newest first: those whose ids it kept, and those made with its token."""
    chosen = Submission.id.in_(ids) if ids else false()
    if token_id is not None:
        chosen = or_(chosen, Submission.token_id == token_id)
    return list(session.execute(
        select(Submission).where(chosen).order_by(Submission.created.desc()).limit(limit)).scalars())
