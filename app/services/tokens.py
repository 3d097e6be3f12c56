"""API tokens: made once, shown once, stored only as their SHA-256."""

from __future__ import annotations

import hashlib
import secrets

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.models import ApiToken


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def create(session: Session, *, name: str = "", admin: bool = False) -> str:
    """A new token; the caller must show it now, as it cannot be recovered."""
    token = "aa_" + secrets.token_urlsafe(32)
    session.add(ApiToken(name=name, token_hash=_hash(token), admin=admin))
    return token


def find(session: Session, token: str) -> ApiToken | None:
    return session.execute(select(ApiToken).where(ApiToken.token_hash == _hash(token))).scalar_one_or_none()
