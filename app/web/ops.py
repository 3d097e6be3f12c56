"""The operator's page (admin), and what every page shares: its headers and its error pages."""

from __future__ import annotations

from flask import Response, render_template, request
from werkzeug.exceptions import HTTPException

from app import database
from app.api.common import settings
from app.errors import AppError
from app.services import config_versions, ops
from app.web import access, blp


@blp.get("/ops")
def ops_page() -> str:
    """Queue depth, live workers and what they run, recent failures, the last hour's throughput, and the
    configuration versions."""
    access.require_admin()
    overview = ops.overview(database.session(), stalled_after=settings().stalled_after_seconds)
    return render_template("web/ops.html", **overview)


@blp.get("/ops/config/<int:number>")
def config_version_page(number: int) -> str:
    """A configuration version: when, who, what it changed, and its YAML diff against the one before."""
    access.require_admin()
    compared = config_versions.against_previous(database.session(), number)
    return render_template("web/config_version.html", compared=compared, version=compared.version,
                           summary=config_versions.describe(compared.version.changes))


@blp.after_request
def _protect(response: Response) -> Response:
    """Pages load nothing from elsewhere and run no inline script; no other site may frame them."""
    response.headers.setdefault("Content-Security-Policy", "default-src 'self'; frame-ancestors 'none'; "
                                "form-action 'self'; base-uri 'none'")
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("Referrer-Policy", "same-origin")
    return response


@blp.errorhandler(HTTPException)
def _http_error(exc: HTTPException) -> tuple[str, int]:
    code = exc.code or 500
    if code in (401, 403):
        return render_template("web/token.html", token=access.token(), next=request.path, status=code,
                               error="This page needs an admin token." if code == 403 else ""), code
    return render_template("web/error.html", title=exc.name, message=exc.description, errors={}), code


@blp.errorhandler(AppError)
def _app_error(exc: AppError) -> tuple[str, int]:
    if exc.status == 401:
        return render_template("web/token.html", token=None, next=request.path, status=401, error=exc.message), 401
    return render_template("web/error.html", title="Not found" if exc.status == 404 else "Error",
                           message=exc.message, errors=exc.errors), exc.status
