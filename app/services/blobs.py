"""Content-addressed file storage in PostgreSQL: each distinct content is stored once."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

from sqlalchemy import Connection, delete, func, select, text
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


_UNREFERENCED = text(
    "SELECT b.sha256 FROM blobs b WHERE b.sha256 = ANY(:hashes) "
    "AND NOT EXISTS (SELECT 1 FROM submission_inputs i WHERE i.sha256 = b.sha256) "
    "AND NOT EXISTS (SELECT 1 FROM results r WHERE r.sha256 = b.sha256) FOR UPDATE"
)


def delete_unreferenced(session: Session, hashes: Iterable[str]) -> int:
    """Delete those of `hashes` that no input or result uses any more; how many were deleted."""
    hashes = list(hashes)
    if not hashes:
        return 0
    unused = session.execute(_UNREFERENCED, {"hashes": hashes}).scalars().all()
    if unused:
        session.execute(delete(Blob).where(Blob.sha256.in_(unused)))
    return len(unused)


def head(session: Session, sha256: str, limit: int) -> bytes:
    """The first `limit` bytes stored under `sha256` (a preview need not load a large file whole)."""
    return session.execute(select(func.substring(Blob.data, 1, limit)).where(Blob.sha256 == sha256)).scalar_one()
