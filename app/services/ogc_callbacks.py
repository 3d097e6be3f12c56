"""OGC API – Processes `subscriber` callbacks, sent through the notification outbox (app.services.notify).

A job executed with a `subscriber` keeps its URIs in its face request, with the root URL the client
reached the service at, and has its `notify` flag set (`register`). From then on the outbox trigger
(migration 0012) queues an `ogc` notification in the transaction that changes the job's state:
inProgressUri when it goes Running, successUri when it ends Complete, failedUri when it ends in
any other way (an error, a crash, a dismissal) — each at most once, with a snapshot of the status
at that moment. The sender makes the body (`body`) just before each attempt: the statusInfo of
that snapshot, or for successUri the results document as GET /ogc/jobs/{id}/results answers it.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import datetime
from types import SimpleNamespace
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

from app.db import driver
from app.models import SubmissionState
from app.services import blobs, delivery, faces, ogc_documents, status

KIND = "ogc"  # notifications.kind
URIS = ("successUri", "inProgressUri", "failedUri")

_FLAG = text("UPDATE submissions SET notify = true WHERE id = :id")


def refusals(subscriber: dict[str, str], refuse: Callable[[str], str | None]) -> dict[str, list[str]]:
    """The subscriber URIs that may not be called (by the callback rules `refuse` applies), by key."""
    found = {}
    for key, uri in subscriber.items():
        reason = refuse(uri)
        if reason:
            found[f"subscriber.{key}"] = [reason]
    return found


def register(session: Session, submission_id: uuid.UUID, subscriber: dict[str, str]) -> None:
    """Have the outbox trigger look at this submission (its URIs are in its face request; the caller commits)."""
    if subscriber:
        session.execute(_FLAG, {"id": submission_id})


def body(session: Session, payload: dict[str, Any]) -> dict[str, Any]:
    """The document to POST for a queued `ogc` notification; Undeliverable when it can no longer be made."""
    base = payload["root"] + ogc_documents.PREFIX
    snapshot = payload["status"]
    if payload["uri"] != "successUri":
        return ogc_documents.status_info(_row(snapshot), base)
    found = status.read(driver(session), uuid.UUID(snapshot["id"]))
    if found is None or found.state != SubmissionState.COMPLETE:
        raise delivery.Undeliverable("the job's results were deleted before they could be sent")
    wanted = payload.get("outputs")
    grouped = ogc_documents.chosen(*faces.definition(session, found.job_name), found.results, wanted)
    return ogc_documents.results(
        grouped, wanted, read=lambda result: blobs.get(session, result.sha256),
        href=lambda result: payload["root"] + faces.download_path(found.id, result.id))


def _row(snapshot: dict[str, Any]) -> SimpleNamespace:
    """What ogc_documents.status_info reads, from the trigger's snapshot (times as ISO 8601 text)."""
    times = {key: datetime.fromisoformat(snapshot[key]) if snapshot.get(key) else None
             for key in ("created", "started", "finished")}
    return SimpleNamespace(id=snapshot["id"], job_name=snapshot.get("job_name"),
                           state=SubmissionState(snapshot["state"]), message=snapshot.get("message") or "",
                           done=snapshot.get("done") or 0, total=snapshot.get("total") or 0, **times)
