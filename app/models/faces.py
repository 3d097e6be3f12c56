"""What a standard face (OGC API – Processes, GA4GH WES) was asked, kept beside the submission."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, String
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base, utcnow


class FaceRequest(Base):
    """The request as the face received it: WES echoes it back in a run log (with its tags), OGC
    keeps the `subscriber` URIs and the requested outputs."""

    __tablename__ = "face_requests"

    submission_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("submissions.id", ondelete="CASCADE"), primary_key=True)
    face: Mapped[str] = mapped_column(String(8))
    request: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict)
    created: Mapped[datetime] = mapped_column(default=utcnow)
