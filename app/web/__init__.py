"""Pages for people: the jobs, a form per job, a submission's live progress, and the operator's view."""

from __future__ import annotations

from flask import Blueprint, Flask

blp = Blueprint("web", __name__, template_folder="templates", static_folder="static", static_url_path="/assets")


def init_app(app: Flask) -> None:
    """Register the pages (their views are imported here so that the blueprint is complete first)."""
    from app.web import filters, ops, pages, submission  # noqa: F401

    app.register_blueprint(blp)
