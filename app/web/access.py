"""Who is looking: the token a browser gave (kept in a cookie) and the submissions it made."""

from __future__ import annotations

import uuid

from flask import Response, abort, request

from app import database
from app.api.common import settings
from app.models import ApiToken, Submission
from app.services import submissions, tokens

TOKEN_COOKIE = "aa_token"
MINE_COOKIE = "aa_mine"
MINE_KEPT = 50  # ids a browser remembers (about 1.9 kB of cookie)


def token() -> ApiToken | None:
    """The browser's token, if it gave a valid one."""
    value = request.cookies.get(TOKEN_COOKIE, "").strip()
    return tokens.find(database.session(), value) if value else None


def readable(submission_id: str) -> Submission:
    """The submission if this browser may read it; 404 otherwise, as the API answers."""
    found = submissions.get(database.session(), submission_id)
    required = settings().require_api_key
    if required and found.token_id is not None and not tokens.may_read(token(), found.token_id, required=required):
        abort(404)
    return found


def require_admin() -> ApiToken:
    """The browser's admin token; 403 (the page says how to give one) otherwise."""
    current = token()
    if current is None or not current.admin:
        abort(403)
    return current


def remembered() -> list[uuid.UUID]:
    """The ids of the submissions made from this browser, newest first."""
    ids = []
    for part in request.cookies.get(MINE_COOKIE, "").split("."):
        try:
            ids.append(uuid.UUID(part))
        except ValueError:
            continue
    return ids


def remember(response: Response, submission_id: uuid.UUID) -> Response:
    """Add a submission to this browser's list. The ids are capabilities the browser already holds,
    so a plain cookie is enough: editing it can only show what its holder could already read."""
    kept = [submission_id] + [i for i in remembered() if i != submission_id]
    response.set_cookie(MINE_COOKIE, ".".join(str(i) for i in kept[:MINE_KEPT]), max_age=365 * 86400,
                        httponly=True, samesite="Lax")
    return response


def keep_token(response: Response, value: str) -> Response:
    """Keep (or, given "", forget) the browser's token. Strict: no other site's form may use it."""
    if value:
        response.set_cookie(TOKEN_COOKIE, value, max_age=30 * 86400, httponly=True, samesite="Strict",
                            secure=request.is_secure)
    else:
        response.delete_cookie(TOKEN_COOKIE)
    return response
