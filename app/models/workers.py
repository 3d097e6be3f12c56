"""What each live worker serves; its row goes when Procrastinate prunes or unregisters the worker."""

from __future__ import annotations

from datetime import datetime
from typing import Optional

from sqlalchemy import BigInteger, String, text
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base, utcnow


class WorkerInfo(Base):
    __tablename__ = "worker_info"

    # References procrastinate_workers(id) ON DELETE CASCADE (declared in the migration: that
    # table belongs to Procrastinate's schema, not to our metadata).
    worker_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    name: Mapped[str] = mapped_column(String(128))
    queues: Mapped[Optional[list[str]]] = mapped_column(ARRAY(String(128)), comment="NULL: every queue")
    concurrency: Mapped[int] = mapped_column(server_default=text("1"))
    started: Mapped[datetime] = mapped_column(default=utcnow)
