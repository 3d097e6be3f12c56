"""What runs the service unattended: schedules and the notification outbox."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Optional

from sqlalchemy import BigInteger, CheckConstraint, ForeignKey, Index, String, Text, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base, utcnow


class Schedule(Base):
    """A job's cron schedule and its last run (kept in step with the jobs by app.services.schedules)."""

    __tablename__ = "schedules"

    job_name: Mapped[str] = mapped_column(String(64), primary_key=True)
    cron: Mapped[str] = mapped_column(String(128))
    timezone: Mapped[str] = mapped_column(String(64), default="UTC")
    params: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict)
    next_run: Mapped[datetime]
    last_run: Mapped[Optional[datetime]]
    last_submission_id: Mapped[Optional[uuid.UUID]]
    last_error: Mapped[str] = mapped_column(Text, default="")
    runs: Mapped[int] = mapped_column(default=0)


class SubmissionContact(Base):
    """Where to tell that a submission has ended; moved into the outbox when it ends."""

    __tablename__ = "submission_contacts"

    submission_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("submissions.id", ondelete="CASCADE"),
                                                     primary_key=True)
    email: Mapped[Optional[str]] = mapped_column(String(254))
    callback_url: Mapped[Optional[str]] = mapped_column(Text)


class Notification(Base):
    """One email or callback to send (the outbox); `target` of an email is erased once used. An `ogc`
    callback goes to an OGC `subscriber` URI, its body made when sent (app.services.ogc_callbacks)."""

    __tablename__ = "notifications"
    __table_args__ = (
        CheckConstraint("kind IN ('email', 'callback', 'ogc')", name="kind"),
        CheckConstraint("state IN ('pending', 'sent', 'failed')", name="state"),
        Index("ix_notifications_due", "next_attempt", postgresql_where=text("state = 'pending'")),
        Index("ix_notifications_submission", "submission_id"),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    submission_id: Mapped[uuid.UUID]
    kind: Mapped[str] = mapped_column(String(8))
    target: Mapped[str] = mapped_column(Text)
    payload: Mapped[dict[str, Any]] = mapped_column(JSONB)
    state: Mapped[str] = mapped_column(String(8), default="pending")
    attempts: Mapped[int] = mapped_column(default=0)
    next_attempt: Mapped[datetime] = mapped_column(default=utcnow)
    last_error: Mapped[str] = mapped_column(Text, default="")
    created: Mapped[datetime] = mapped_column(default=utcnow)
    sent: Mapped[Optional[datetime]]
