"""Retention (SPEC §9): finished submissions older than AA_RETENTION_DAYS are purged.

In bounded batches, each its own short transaction, oldest first: rows are locked one batch at a
time (SKIP LOCKED, so a submission being read for update is left to a later batch), never a
table. The cascade takes each submission's steps, attempts, inputs and results; contents that
nothing uses any more go next; sent or failed notifications of the same age go too.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from sqlalchemy import text
from sqlalchemy.orm import Session, sessionmaker

from app.db import transaction
from app.services import blobs

log = logging.getLogger(__name__)

_BATCH = text("""
    WITH doomed AS (
        SELECT id FROM submissions WHERE finished IS NOT NULL AND finished < now() - make_interval(secs => :age)
        ORDER BY finished LIMIT :batch FOR UPDATE SKIP LOCKED
    ), hashes AS (
        SELECT sha256 FROM submission_inputs WHERE submission_id IN (SELECT id FROM doomed)
        UNION SELECT sha256 FROM results WHERE submission_id IN (SELECT id FROM doomed)
    ), gone AS (
        DELETE FROM submissions WHERE id IN (SELECT id FROM doomed) RETURNING id
    )
    SELECT (SELECT count(*) FROM gone) AS purged, ARRAY(SELECT sha256 FROM hashes) AS hashes
""")
_OLD_NOTIFICATIONS = text("""
    DELETE FROM notifications WHERE id IN (
        SELECT id FROM notifications WHERE state <> 'pending' AND created < now() - make_interval(secs => :age)
        LIMIT :batch)
""")


@dataclass
class Purged:
    submissions: int = 0
    blobs: int = 0
    notifications: int = 0
    batches: int = 0


def purge_batch(session: Session, *, days: float, batch: int) -> Purged:
    """Purge at most `batch` of the oldest expired submissions, and what only they used."""
    age = days * 86400
    row = session.execute(_BATCH, {"age": age, "batch": batch}).one()
    deleted_blobs = blobs.delete_unreferenced(session, row.hashes)
    notifications = session.execute(_OLD_NOTIFICATIONS, {"age": age, "batch": batch}).rowcount
    return Purged(row.purged, deleted_blobs, notifications, 1)


def purge(sessions: sessionmaker[Session], *, days: float, batch: int = 1000) -> Purged:
    """Purge every expired submission, a batch per transaction, until a batch comes back short."""
    total = Purged()
    while True:
        with transaction(sessions) as session:
            done = purge_batch(session, days=days, batch=batch)
        total.submissions += done.submissions
        total.blobs += done.blobs
        total.notifications += done.notifications
        total.batches += 1
        if done.submissions < batch and done.notifications < batch:
            if total.submissions:
                log.info("retention: purged %d submissions older than %g days (%d contents, %d batches)",
                         total.submissions, days, total.blobs, total.batches)
            return total
