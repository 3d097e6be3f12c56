"""Analytics Automated: analysis programs as asynchronous web services, configured in YAML."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from app.config import Settings

if TYPE_CHECKING:
    from flask import Flask

__version__ = "0.1.0"


def create_app(test_config: dict[str, Any] | None = None) -> Flask:
    """Build the WSGI app; nothing connects to the database until a request needs it."""
    # Imported here so that processes that only need the package (a Python task's child process,
    # the worker's watchdog) start without loading Flask.
    from flask import Flask

    app = Flask(__name__)
    settings = Settings.from_env().override(test_config)
    if not settings.database_url:
        raise RuntimeError("DATABASE_URL is not set (use `aa up` or `aa serve`, which start the embedded server)")
    app.config.update(
        SETTINGS=settings,
        MAX_CONTENT_LENGTH=settings.max_upload_mb * 1024 * 1024,
        API_TITLE="Analytics Automated",
        API_VERSION=__version__,
        OPENAPI_VERSION="3.0.3",
        OPENAPI_URL_PREFIX="/api",
        OPENAPI_JSON_PATH="openapi.json",
        OPENAPI_SWAGGER_UI_PATH="docs",
        OPENAPI_SWAGGER_UI_URL="/api/docs/assets/",
        API_SPEC_OPTIONS={
            "info": {"description": "Run configured analysis pipelines over HTTP."},
            "components": {"securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}}},
            # A token is optional everywhere (admin endpoints and AA_REQUIRE_API_KEY need one): so
            # declared, Swagger UI sends the one given to its Authorize button with every operation.
            "security": [{"bearer": []}, {}],
        },
    )
    from app import database

    database.init_app(app, settings)
    from app.api import init_app as init_api

    init_api(app)
    from app import web

    web.init_app(app)
    _limit_bodies(app, settings.max_upload_mb * 1024 * 1024)
    logging.getLogger("app").setLevel(logging.INFO)
    return app


def _limit_bodies(app: Flask, max_bytes: int) -> None:
    """413 for bodies over the limit, chunked ones included, with the connection left usable."""
    from flask import request
    from werkzeug.exceptions import RequestEntityTooLarge

    from app.body_limit import TOO_LARGE, BodyLimit

    app.wsgi_app = BodyLimit(app.wsgi_app, max_bytes)

    @app.before_request
    def _refuse_too_large() -> None:
        if request.environ.get(TOO_LARGE):
            raise RequestEntityTooLarge()
