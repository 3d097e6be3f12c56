"""API tokens: made once, shown once, stored only as their SHA-256 (with a prefix to tell them apart)."""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta

from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session

from app.errors import InvalidInput, NotFound
from app.models import ApiToken
from app.models.base import utcnow

PREFIX_LENGTH = 10  # "aa_" and 7 characters of the secret: enough to tell tokens apart, not to guess one
LAST_USE_RESOLUTION = timedelta(minutes=1)  # last use is written at most this often per token


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def create(session: Session, *, name: str = "", admin: bool = False, expires_days: float | None = None) -> str:
    """A new token; the caller must show it now, as it cannot be recovered."""
    if len(name) > 128:
        raise InvalidInput("The name is too long (at most 128 characters)")
    if expires_days is not None and expires_days <= 0:
        raise InvalidInput("--expires must be a positive number of days")
    token = "aa_" + secrets.token_urlsafe(32)
    expires = utcnow() + timedelta(days=expires_days) if expires_days is not None else None
    session.add(ApiToken(name=name, token_hash=_hash(token), admin=admin, prefix=token[:PREFIX_LENGTH],
                         expires=expires))
    session.flush()
    return token


def find(session: Session, token: str) -> ApiToken | None:
    """The valid (not revoked, not expired) token with this secret."""
    return session.execute(
        select(ApiToken).where(ApiToken.token_hash == _hash(token), ApiToken.revoked.is_(None),
                               or_(ApiToken.expires.is_(None), ApiToken.expires > utcnow()))
    ).scalar_one_or_none()


def needs_touch(token: ApiToken) -> bool:
    """Whether the token's last use is older than the resolution it is kept at."""
    return token.last_used is None or utcnow() - token.last_used > LAST_USE_RESOLUTION


def touch(session: Session, token_id: int) -> None:
    """Note a token's use now (at most once a minute: a busy client does not write on every request)."""
    now = utcnow()
    session.execute(update(ApiToken).where(
        ApiToken.id == token_id, or_(ApiToken.last_used.is_(None), ApiToken.last_used < now - LAST_USE_RESOLUTION)
    ).values(last_used=now))


def listing(session: Session) -> list[ApiToken]:
    """Every token, oldest first (the secrets are not stored, so they cannot be shown)."""
    return list(session.execute(select(ApiToken).order_by(ApiToken.id)).scalars())


def revoke(session: Session, which: str) -> ApiToken:
    """Revoke the token with this id or prefix (a revoked token answers 401 from now on)."""
    query = select(ApiToken).where(ApiToken.revoked.is_(None))
    if which.isdecimal():  # what int() reads (isdigit also takes "²")
        matches = session.execute(query.where(ApiToken.id == int(which))).scalars().all()
    elif len(which) >= 6:
        matches = session.execute(query.where(ApiToken.prefix.startswith(which, autoescape=True))).scalars().all()
    else:
        raise InvalidInput("Give a token's id or at least 6 characters of its prefix")
    if not matches:
        raise NotFound(f"No active token {which}")
    if len(matches) > 1:
        raise InvalidInput(f"{which} matches {len(matches)} tokens; give its id")
    matches[0].revoked = utcnow()
    return matches[0]


def may_read(token: ApiToken | None, owner_token_id: int | None, *, required: bool) -> bool:
    """Whether a caller with `token` may read a submission made with `owner_token_id` (SPEC §6: the id
    is the capability; with AA_REQUIRE_API_KEY, so is the token that made it, or an admin's)."""
    if not required or owner_token_id is None:
        return True
    return token is not None and (token.id == owner_token_id or token.admin)
