"""GET /metrics: Prometheus text, computed from the database at each scrape."""

from __future__ import annotations

from flask import Blueprint, Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

from app import database
from app.api.common import settings
from app.services import metrics

blp = Blueprint("metrics", __name__)


class _Snapshot:
    """A registry's collector over metric families already read."""

    def __init__(self, families: list) -> None:
        self.families = families

    def collect(self):
        return iter(self.families)


@blp.get("/metrics")
def scrape() -> Response:
    session = database.session()
    try:
        families = list(metrics.collect(session, stalled_after_seconds=settings().stalled_after_seconds))
    finally:
        session.rollback()
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Snapshot(families))
    return Response(generate_latest(registry), mimetype=CONTENT_TYPE_LATEST)
