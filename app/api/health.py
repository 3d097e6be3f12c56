"""Health: is the database reachable and migrated, and which workers are alive."""

from __future__ import annotations

from flask import current_app
from flask.views import MethodView
from flask_smorest import Blueprint
from marshmallow import Schema, fields
from sqlalchemy.exc import DBAPIError

from app import database
from app.api.common import settings
from app.migrate import is_current
from app.services import health


class HealthSchema(Schema):
    status = fields.String()
    database = fields.Boolean()
    migrations_current = fields.Boolean()
    workers = fields.Integer(metadata={"description": "workers with a recent heartbeat"})
    queues = fields.Dict(metadata={"description": "per queue: live workers, queued steps, running steps"})


blp = Blueprint("health", __name__, url_prefix="/api/health", description="Service health")


@blp.route("")
class Health(MethodView):
    @blp.response(200, HealthSchema)
    @blp.alt_response(503, schema=HealthSchema)
    def get(self):
        """200 once the database answers and is migrated; 503 otherwise."""
        try:
            current = is_current(current_app.extensions["aa_engine"])
            report = health.report(database.session(), settings().stalled_after_seconds)
        except DBAPIError:
            return {"status": "unavailable", "database": False, "migrations_current": False,
                    "workers": 0, "queues": {}}, 503
        status = "ok" if current else "migrations pending"
        return {"status": status, "database": True, "migrations_current": current, **report}, 200 if current else 503
