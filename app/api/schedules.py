"""Schedules: each scheduled job's cron, next run and last run."""

from __future__ import annotations

from flask.views import MethodView
from flask_smorest import Blueprint
from marshmallow import Schema, fields

from app import database
from app.api.common import bearer_token
from app.services import schedules


class ScheduleSchema(Schema):
    job = fields.String()
    cron = fields.String()
    timezone = fields.String()
    next_run = fields.DateTime()
    last_run = fields.DateTime(allow_none=True, metadata={"description": "the tick last submitted"})
    last_submission = fields.UUID(
        attribute="last_submission_id", allow_none=True,
        metadata={"description": "the submission of the last run (admin tokens only: its id reads it)"})
    last_error = fields.String(metadata={"description": "why the last tick could not be submitted, if so"})
    runs = fields.Integer(metadata={"description": "ticks submitted so far"})


blp = Blueprint("schedules", __name__, url_prefix="/api/schedules", description="Periodic runs of jobs")


@blp.route("")
class Schedules(MethodView):
    @blp.response(200, ScheduleSchema(many=True))
    def get(self):
        """Every scheduled job with its next run, last run and (for admins) last submission."""
        session = database.session()
        try:
            views = schedules.listing(session)
        finally:
            session.rollback()
        token = bearer_token()
        if token is None or not token.admin:  # a submission's id is the capability to read it
            for view in views:
                view.last_submission_id = None
        return views
