"""API tokens; only their SHA-256 is stored."""

from __future__ import annotations

from datetime import datetime
from typing import Optional

from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base, utcnow


class ApiToken(Base):
    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(128), default="")
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    admin: Mapped[bool] = mapped_column(default=False)
    created: Mapped[datetime] = mapped_column(default=utcnow)
    prefix: Mapped[str] = mapped_column(String(16), default="")  # shown by `aa token list`
    last_used: Mapped[Optional[datetime]]
    expires: Mapped[Optional[datetime]]
    revoked: Mapped[Optional[datetime]]
