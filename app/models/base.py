"""The declarative base, with a constraint naming convention, and shared column helpers."""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum

from sqlalchemy import CheckConstraint, DateTime, MetaData
from sqlalchemy.orm import DeclarativeBase

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map = {datetime: DateTime(timezone=True)}


def utcnow() -> datetime:
    return datetime.now(UTC)


def state_check(column: str, states: type[StrEnum], name: str) -> CheckConstraint:
    """A CHECK constraint that keeps a text state column within its enum."""
    allowed = ", ".join(f"'{s.value}'" for s in states)
    return CheckConstraint(f"{column} IN ({allowed})", name=name)
