"""What the standard faces' views share: the caller, the native submission path, and one reading
of any error (the native API's rules) that each face then writes in its standard's shape."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any

import psycopg
from flask import request
from sqlalchemy.exc import DataError, OperationalError
from werkzeug.exceptions import HTTPException

from app import database
from app.api.common import bearer_token, client_address, settings
from app.api.requests import SubmissionRequest
from app.api.submissions import authorized, current_status, submit_request
from app.errors import AppError, NotFound
from app.services import delivery, faces, remote
from app.services.submissions import StoredSubmission

log = logging.getLogger(__name__)


@dataclass
class Problem:
    status: int
    message: str
    errors: dict[str, Any] = field(default_factory=dict)
    retry_after: int | None = None

    @property
    def title(self) -> str:
        return HTTPStatus(self.status).phrase


def problem(exc: Exception) -> Problem:
    """Any error raised while serving a face, read as the native API reads it (never a traceback)."""
    if isinstance(exc, AppError):
        return Problem(exc.status, exc.message, exc.errors, getattr(exc, "retry_after", None))
    if isinstance(exc, HTTPException):
        data = getattr(exc, "data", None) or {}
        return Problem(exc.code or 500, data.get("message") or exc.description or "")
    if isinstance(exc, (DataError, psycopg.DataError)):
        log.info("value refused by the database: %s", getattr(exc, "orig", exc))
        return Problem(400, "A value in the request cannot be stored or searched for")
    if isinstance(exc, (OperationalError, psycopg.OperationalError)):
        log.warning("database unavailable: %s", getattr(exc, "orig", exc))
        return Problem(503, "The database is unavailable; try again shortly")
    log.exception("unhandled error")
    return Problem(500, "Internal error; it has been logged")


def caller() -> faces.Caller:
    """Who is asking (a wrong token is a 401), for listings."""
    token = bearer_token()
    return faces.Caller(token.id if token else None, bool(token and token.admin), client_address())


def submit(job: str, *, read: Any, face: str, recorded: Any, stored: Any = None) -> StoredSubmission:
    """Submit through the native path (auth, quotas, validation); `read()` returns (params, inputs)
    once the caller is known to be allowed; `recorded(params)` is what the face keeps; `stored(session,
    id)`, if given, runs before the commit (in the submission's transaction). Commits."""
    def parsed(_request) -> SubmissionRequest:
        params, inputs = read()
        return SubmissionRequest(job=job, params=params, inputs=inputs)

    submission = submit_request(parsed)
    session = database.session()
    faces.record(session, submission.id, face, recorded())
    if stored is not None:
        stored(session, submission.id)
    session.commit()
    return submission


def fetch(url: str) -> tuple[bytes, str]:
    """An input given by reference, fetched under the SSRF rules and the upload limit."""
    current = settings()
    return remote.fetch(url, limit_bytes=current.max_upload_mb * 1024 * 1024, allow=current.callback_allow)


def refusal(url: str) -> str | None:
    """Why a callback URL may not be called (the SSRF rules of AA_CALLBACK_ALLOW), or None."""
    return delivery.refusal(url, settings().callback_allow)


def base_url(prefix: str) -> str:
    """The absolute URL of a face's root, as this request reached it."""
    return request.host_url.rstrip("/") + prefix


def download_url(submission_id: Any, result_id: int) -> str:
    """The native API's download URL of a result (the faces give results by reference there)."""
    return base_url(faces.download_path(submission_id, result_id))


def readable_status(submission_id: str, missing: type[NotFound], what: str) -> Any:
    """A submission's status if this caller may read it; else `missing` (a face's own 404)."""
    try:
        return authorized(current_status(submission_id))
    except NotFound:
        raise missing(f"There is no {what} {submission_id!r}") from None
