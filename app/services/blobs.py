"""Content-addressed file storage in PostgreSQL: each distinct content is stored once."""

from __future__ import annotations

import hashlib

from sqlalchemy import Connection, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from app.models import Blob


def put(session: Session | Connection, data: bytes) -> str:
    """Store `data` unless it is already there; return its SHA-256 (hex)."""
    sha256 = hashlib.sha256(data).hexdigest()
    session.execute(
        insert(Blob).values(sha256=sha256, size=len(data), data=data).on_conflict_do_nothing()
    )
    return sha256


def get(session: Session, sha256: str) -> bytes:
    """The contents stored under `sha256`."""
    return session.execute(select(Blob.data).where(Blob.sha256 == sha256)).scalar_one()
