"""Submissions, their steps, attempts, inputs and results."""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum
from typing import Any, Optional

from sqlalchemy import BigInteger, ForeignKey, Index, String, Text, false, text
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.models.base import Base, state_check, utcnow


class SubmissionState(StrEnum):
    SUBMITTED = "Submitted"
    RUNNING = "Running"
    COMPLETE = "Complete"
    ERROR = "Error"
    CRASH = "Crash"
    CANCELLED = "Cancelled"


class StepState(StrEnum):
    PENDING = "Pending"
    QUEUED = "Queued"
    RUNNING = "Running"
    COMPLETE = "Complete"
    ERROR = "Error"
    CRASH = "Crash"
    CANCELLED = "Cancelled"
    SKIPPED = "Skipped"


SUBMISSION_DONE = frozenset(
    {SubmissionState.COMPLETE, SubmissionState.ERROR, SubmissionState.CRASH, SubmissionState.CANCELLED}
)
STEP_DONE = frozenset(
    {StepState.COMPLETE, StepState.ERROR, StepState.CRASH, StepState.CANCELLED, StepState.SKIPPED}
)


class Submission(Base):
    __tablename__ = "submissions"
    __table_args__ = (
        state_check("state", SubmissionState, "state"),
        Index("ix_submissions_created", "created"),
        Index("ix_submissions_job_state", "job_name", "state"),
        Index("ix_submissions_client_active", "client", postgresql_where=text("finished IS NULL")),
        Index("ix_submissions_finished", "finished", postgresql_where=text("finished IS NOT NULL")),
        Index("ix_submissions_token_created", "token_id", "created", postgresql_where=text("token_id IS NOT NULL")),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    # Not a foreign key: a job removed from the configuration leaves its submissions its name.
    job_name: Mapped[Optional[str]] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(128), default="")
    state: Mapped[str] = mapped_column(String(16), default=SubmissionState.SUBMITTED)
    message: Mapped[str] = mapped_column(Text, default="")
    priority: Mapped[str] = mapped_column(String(8), default="normal")
    client: Mapped[str] = mapped_column(String(128), default="")
    token_id: Mapped[Optional[int]] = mapped_column(ForeignKey("api_tokens.id", ondelete="SET NULL"))
    use_cache: Mapped[bool] = mapped_column(default=True)
    notify: Mapped[bool] = mapped_column(default=False, server_default=false())  # has contacts (notify.py)
    params: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict)
    # The configuration version current when it was stored (a default, so every insert path sets it).
    config_version: Mapped[Optional[int]] = mapped_column(server_default=text("aa_config_version_v1()"))
    created: Mapped[datetime] = mapped_column(default=utcnow)
    started: Mapped[Optional[datetime]]
    finished: Mapped[Optional[datetime]]

    steps: Mapped[list[Step]] = relationship(
        back_populates="submission", order_by="Step.position", cascade="all, delete-orphan"
    )
    inputs: Mapped[list[SubmissionInput]] = relationship(
        order_by="SubmissionInput.position", cascade="all, delete-orphan"
    )
    results: Mapped[list[Result]] = relationship(order_by="Result.id", cascade="all, delete-orphan")


class Step(Base):
    """One step of one submission; `task` is a snapshot of the task and backend it runs."""

    __tablename__ = "steps"
    __table_args__ = (
        state_check("state", StepState, "state"),
        Index("ix_steps_submission_position", "submission_id", "position", unique=True),
        Index("ix_steps_cache_key", "cache_key", postgresql_where=text("cache_key IS NOT NULL")),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    submission_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("submissions.id", ondelete="CASCADE"))
    position: Mapped[int]
    name: Mapped[str] = mapped_column(String(64))
    task_name: Mapped[str] = mapped_column(String(64))
    task: Mapped[dict[str, Any]] = mapped_column(JSONB)
    params: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict)
    after: Mapped[list[str]] = mapped_column(ARRAY(String(64)), default=list)
    waiting_for: Mapped[int] = mapped_column(default=0)
    state: Mapped[str] = mapped_column(String(16), default=StepState.PENDING)
    attempts: Mapped[int] = mapped_column(default=0)
    exit_status: Mapped[Optional[int]]
    message: Mapped[str] = mapped_column(Text, default="")
    cached: Mapped[bool] = mapped_column(default=False)
    cache_key: Mapped[Optional[str]] = mapped_column(String(64))
    queue_job_id: Mapped[Optional[int]] = mapped_column(BigInteger)
    queued: Mapped[Optional[datetime]]
    started: Mapped[Optional[datetime]]
    finished: Mapped[Optional[datetime]]

    submission: Mapped[Submission] = relationship(back_populates="steps")


class Attempt(Base):
    """One run of a step: its exit status and captured output."""

    __tablename__ = "attempts"

    step_id: Mapped[int] = mapped_column(ForeignKey("steps.id", ondelete="CASCADE"), primary_key=True)
    number: Mapped[int] = mapped_column(primary_key=True)
    worker: Mapped[str] = mapped_column(String(128), default="")
    exit_status: Mapped[Optional[int]]
    outcome: Mapped[str] = mapped_column(String(16), default="")
    stdout: Mapped[str] = mapped_column(Text, default="")
    stderr: Mapped[str] = mapped_column(Text, default="")
    argv: Mapped[Optional[list[str]]] = mapped_column(JSONB)  # what ran; shown to admins only
    started: Mapped[datetime] = mapped_column(default=utcnow)
    finished: Mapped[Optional[datetime]]
    # An attempt on a cluster backend (migration 0010): where and as what the scheduler runs it.
    cluster_workdir: Mapped[Optional[str]] = mapped_column(Text)
    cluster_job_id: Mapped[Optional[str]] = mapped_column(String(64))
    cluster_state: Mapped[Optional[str]] = mapped_column(String(32))
    cluster_node: Mapped[Optional[str]] = mapped_column(String(255))
    cluster_submitted: Mapped[Optional[datetime]]
    cluster_started: Mapped[Optional[datetime]]


class Blob(Base):
    """File contents, addressed by their SHA-256 and stored once."""

    __tablename__ = "blobs"

    sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    size: Mapped[int] = mapped_column(BigInteger)
    data: Mapped[bytes]


class SubmissionInput(Base):
    __tablename__ = "submission_inputs"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    submission_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("submissions.id", ondelete="CASCADE"), index=True
    )
    position: Mapped[int]
    name: Mapped[str] = mapped_column(String(64))
    filename: Mapped[str] = mapped_column(String(255))
    original_name: Mapped[str] = mapped_column(String(255), default="")
    sha256: Mapped[str] = mapped_column(ForeignKey("blobs.sha256"), index=True)
    size: Mapped[int] = mapped_column(BigInteger)


class Result(Base):
    __tablename__ = "results"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    submission_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("submissions.id", ondelete="CASCADE"), index=True
    )
    step_id: Mapped[int] = mapped_column(ForeignKey("steps.id", ondelete="CASCADE"), index=True)
    step_name: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(255))
    sha256: Mapped[str] = mapped_column(ForeignKey("blobs.sha256"), index=True)
    size: Mapped[int] = mapped_column(BigInteger)
    media_type: Mapped[str] = mapped_column(String(128))
