"""The HTTP API: one blueprint per resource, registered on one flask-smorest Api."""

from __future__ import annotations

from flask import Flask, send_from_directory
from flask_smorest import Api

from app.api import config, health, jobs, metrics, ogc, results, schedules, submissions, wes
from app.api.common import register_error_handlers


def init_app(app: Flask) -> None:
    api = Api(app)
    for module in (jobs, submissions, results, config, health, schedules):
        api.register_blueprint(module.blp)
    app.register_blueprint(metrics.blp)  # plain Flask: Prometheus text, not part of the OpenAPI document
    register_error_handlers(app)
    app.register_blueprint(ogc.blp)  # OGC API – Processes, outside the native OpenAPI document
    app.register_blueprint(wes.blp)  # GA4GH WES, likewise
    _serve_docs_assets(app)


def _serve_docs_assets(app: Flask) -> None:
    """Swagger UI's files from the installed package: the docs need no CDN."""
    import swagger_ui_bundle

    @app.get("/api/docs/assets/<path:filename>")
    def docs_assets(filename: str):
        return send_from_directory(swagger_ui_bundle.swagger_ui_path, filename)
