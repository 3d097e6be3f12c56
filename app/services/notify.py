"""Notifications (SPEC §4.10): an outbox filled in the transaction that ends a submission.

A submission's `email` and `callback_url` wait in `submission_contacts` (and its `notify` flag is
set). When its state becomes final, a trigger (migration 0009) moves them into `notifications`, in that same
transaction: a rolled-back end queues nothing, a committed one queues them once. The same trigger
queues the callbacks of an OGC `subscriber` (app.services.ogc_callbacks), whose bodies are made
here just before they are sent. Senders claim
due rows by leasing them (next_attempt moves past the time a send can take), so a sender that
dies mid-send leaves its rows to be taken again after the lease, and a live one is never doubled.
"""

from __future__ import annotations

import logging
import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session, sessionmaker

from app.config import Settings
from app.db import transaction
from app.errors import InvalidInput
from app.services import delivery, ogc_callbacks

log = logging.getLogger(__name__)

LEASE_SECONDS = 120  # longer than a send can take (SMTP and HTTP both time out at 30 s)
MAX_BACKOFF_SECONDS = 3600
_EMAIL = re.compile(r"[^@\s\x00-\x1f\x7f]{1,64}@[A-Za-z0-9.-]{1,253}\.[A-Za-z]{2,63}\Z")

_REGISTER = text("""
    WITH flagged AS (UPDATE submissions SET notify = true WHERE id = :id)
    INSERT INTO submission_contacts (submission_id, email, callback_url) VALUES (:id, :email, :url)
""")
_CLAIM = text("""
    UPDATE notifications SET next_attempt = now() + make_interval(secs => :lease), attempts = attempts + 1
    WHERE id IN (SELECT id FROM notifications WHERE state = 'pending' AND next_attempt <= now()
                 ORDER BY next_attempt LIMIT :limit FOR UPDATE SKIP LOCKED)
    RETURNING id, submission_id, kind, target, payload, attempts
""")
# An email address is erased once used, whether it worked or not.
_SENT = text("""
    UPDATE notifications SET state = 'sent', sent = now(), last_error = '',
                             target = CASE WHEN kind = 'email' THEN '' ELSE target END
    WHERE id = :id AND state = 'pending'
""")
_FAILED = text("""
    UPDATE notifications
    SET state = CASE WHEN attempts >= :attempts THEN 'failed' ELSE 'pending' END,
        target = CASE WHEN kind = 'email' AND attempts >= :attempts THEN '' ELSE target END,
        next_attempt = now() + make_interval(secs => :delay), last_error = :error
    WHERE id = :id AND state = 'pending'
    RETURNING state
""")


@dataclass(frozen=True)
class Contacts:
    """Where a submission's end is to be told; both optional."""

    email: str | None = None
    callback_url: str | None = None

    def __bool__(self) -> bool:
        return bool(self.email or self.callback_url)


def check(email: Any, callback_url: Any, settings: Settings) -> Contacts:
    """The contacts a client gave, checked (SSRF included); InvalidInput names each bad field."""
    errors: dict[str, list[str]] = {}
    if email not in (None, ""):
        if not isinstance(email, str) or len(email) > 254 or not _EMAIL.match(email):
            errors["email"] = ["must be an email address"]
        elif not settings.smtp_url:
            errors["email"] = ["email notifications are not configured on this service (AA_SMTP_URL)"]
    if callback_url not in (None, ""):
        if not isinstance(callback_url, str):
            errors["callback_url"] = ["must be an http or https URL"]
        elif not settings.callback_secret:
            errors["callback_url"] = ["callbacks are not configured on this service (AA_CALLBACK_SECRET)"]
        else:
            refused = delivery.refusal(callback_url, settings.callback_allow)
            if refused:
                errors["callback_url"] = [refused]
    if errors:
        raise InvalidInput("Invalid notification settings", errors=errors)
    return Contacts(email or None, callback_url or None)


def register(session: Session, submission_id: uuid.UUID, contacts: Contacts) -> None:
    """Keep the contacts of a stored submission until it ends (the caller commits)."""
    if contacts:
        session.execute(_REGISTER, {"id": submission_id, "email": contacts.email, "url": contacts.callback_url})


def claim(session: Session, *, limit: int = 20, lease: float = LEASE_SECONDS) -> list[Any]:
    """Lease up to `limit` due notifications to this sender (committed by the caller before sending)."""
    return list(session.execute(_CLAIM, {"lease": lease, "limit": limit}).all())


def send_due(sessions: sessionmaker[Session], settings: Settings, *, limit: int = 20,
             send: Callable[[str, int, str, dict[str, Any], Settings], None] | None = None) -> int:
    """Send the notifications that are due, each lease in a transaction of its own; how many were tried."""
    send = send or delivery.send
    with transaction(sessions) as session:
        claimed = claim(session, limit=limit)
    for row in claimed:
        error, attempts = "", settings.notify_attempts
        try:
            send(row.kind, row.id, row.target, _payload(sessions, row), settings)
        except delivery.Undeliverable as exc:
            error, attempts = str(exc), 0
        except delivery.DeliveryError as exc:
            error = str(exc)
        with transaction(sessions) as session:
            if not error:
                session.execute(_SENT, {"id": row.id})
                log.info("%s notification %s sent", row.kind, row.id, extra={"submission_id": str(row.submission_id)})
                continue
            delay = min(settings.notify_backoff_seconds * 2 ** (row.attempts - 1), MAX_BACKOFF_SECONDS)
            state = session.execute(_FAILED, {"id": row.id, "attempts": attempts,
                                              "delay": delay, "error": error[:1000]}).scalar()
            log.warning("%s notification %s: attempt %d failed (%s)%s", row.kind, row.id, row.attempts, error,
                        "; given up" if state == "failed" else f"; next in {timedelta(seconds=delay)}",
                        extra={"submission_id": str(row.submission_id)})
    return len(claimed)


def _payload(sessions: sessionmaker[Session], row: Any) -> dict[str, Any]:
    """What is sent: the payload as queued, or for an OGC subscriber the document made from it."""
    if row.kind != ogc_callbacks.KIND:
        return row.payload
    with transaction(sessions) as session:
        return ogc_callbacks.body(session, row.payload)
