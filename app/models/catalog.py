"""The configured catalog: backends, tasks and jobs.

Each row keeps its normalised YAML definition (`spec`, see app.services.catalog_schema), so a dump
gives back exactly what was loaded; the columns that are queried or joined on are real columns.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, String, Text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base, utcnow


class Backend(Base):
    __tablename__ = "backends"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    type: Mapped[str] = mapped_column(String(32))
    position: Mapped[int]
    spec: Mapped[dict[str, Any]] = mapped_column(JSONB)


class Task(Base):
    __tablename__ = "tasks"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    backend_name: Mapped[str] = mapped_column(ForeignKey("backends.name", onupdate="CASCADE"))
    position: Mapped[int]
    spec: Mapped[dict[str, Any]] = mapped_column(JSONB)


class Job(Base):
    __tablename__ = "jobs"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    runnable: Mapped[bool]
    position: Mapped[int]
    spec: Mapped[dict[str, Any]] = mapped_column(JSONB)
    updated: Mapped[datetime] = mapped_column(default=utcnow)


class ConfigVersion(Base):
    """One load of the configuration: its text as given, its normalised dump, and what it changed."""

    __tablename__ = "config_versions"

    number: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    created: Mapped[datetime] = mapped_column(default=utcnow)
    author: Mapped[str] = mapped_column(String(128))
    sha256: Mapped[str] = mapped_column(String(64))
    text: Mapped[str] = mapped_column(Text)
    dump: Mapped[str] = mapped_column(Text)
    changes: Mapped[dict[str, Any]] = mapped_column(JSONB)
