"""What every endpoint shares: the error format, authentication and settings."""

from __future__ import annotations

import logging
from http import HTTPStatus

import psycopg
from flask import Flask, current_app, jsonify, request
from flask_smorest import abort
from sqlalchemy.exc import DataError, OperationalError
from werkzeug.exceptions import HTTPException

from app import database
from app.api import boundary
from app.config import Settings
from app.db import transaction
from app.errors import AppError
from app.models import ApiToken
from app.services import forwarded, tokens

log = logging.getLogger(__name__)


def settings() -> Settings:
    return current_app.config["SETTINGS"]


def error_body(status: int, message: str, errors: dict | None = None):
    """The one error shape: {code, status, message, errors}."""
    body = {"code": status, "status": HTTPStatus(status).phrase, "message": message}
    if errors:
        body["errors"] = errors
    return jsonify(body), status


def register_error_handlers(app: Flask) -> None:
    @app.errorhandler(AppError)
    def _app_error(exc: AppError):
        response, status = error_body(exc.status, exc.message, exc.errors)
        if getattr(exc, "retry_after", None):
            response.headers["Retry-After"] = str(exc.retry_after)
        return response, status

    # Each database error twice: from SQLAlchemy, and from psycopg itself (the hot paths' SQL).
    @app.errorhandler(DataError)
    @app.errorhandler(psycopg.DataError)
    def _bad_value(exc: DataError | psycopg.DataError):
        # Values the database cannot hold (NUL characters, out-of-range numbers) that got past
        # the schemas: the client's fault, not ours.
        log.info("value refused by the database: %s", getattr(exc, "orig", exc))
        return error_body(400, "A value in the request cannot be stored or searched for")

    @app.errorhandler(OperationalError)
    @app.errorhandler(psycopg.OperationalError)
    def _database_down(exc: OperationalError | psycopg.OperationalError):
        log.warning("database unavailable: %s", getattr(exc, "orig", exc))
        return error_body(503, "The database is unavailable; try again shortly")

    @app.errorhandler(HTTPException)
    def _http_error(exc: HTTPException):
        data = getattr(exc, "data", None) or {}
        messages = data.get("messages")
        errors = _flatten(messages) if messages else None
        # A refused argument says what is wrong in the message too, not only in `errors`.
        said = "; ".join(f"{field}: {problems[0]}" for field, problems in errors.items()
                         if isinstance(problems, list) and problems and isinstance(problems[0], str)) if errors else ""
        response, status = error_body(exc.code or 500, data.get("message") or said or exc.description or "", errors)
        for name, value in exc.get_headers():  # Allow (405), Retry-After, WWW-Authenticate...
            if name.lower() != "content-type":
                response.headers[name] = value
        return response, status

    boundary.init_app(app)

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception):
        message = boundary.client_error(exc)
        if message is not None:
            log.info("request refused at the boundary: %r", exc)
            return error_body(400, message)
        log.exception("unhandled error")
        return error_body(500, "Internal error; it has been logged")


def _flatten(messages: dict) -> dict:
    """webargs nests errors by location (json/form/query); clients want them by field."""
    flat: dict = {}
    for value in messages.values():
        if isinstance(value, dict):
            flat.update(value)
    return flat or messages


def bearer_token() -> ApiToken | None:
    """The valid token sent with this request, if any; a wrong token is a 401."""
    header = request.headers.get("Authorization", "")
    if not header:
        return None
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        abort(401, message="Use 'Authorization: Bearer <token>'")
    token = tokens.find(database.session(), value.strip())
    if token is None:
        abort(401, message="Unknown, revoked or expired token")
    if tokens.needs_touch(token):  # in a transaction of its own: most requests commit nothing
        with transaction(current_app.extensions["aa_sessions"]) as session:
            tokens.touch(session, token.id)
    return token


def require_admin() -> ApiToken:
    token = bearer_token()
    if token is None:
        abort(401, message="This endpoint needs an admin token (aa token create --admin)")
    if not token.admin:
        abort(403, message="This endpoint needs an admin token")
    return token


def client_address() -> str:
    """The client's address for fair use: the peer's, or the one a trusted proxy forwarded."""
    return forwarded.client_address(request.remote_addr or "", request.headers.getlist("X-Forwarded-For"),
                                    settings().trusted_proxies)
