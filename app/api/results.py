"""Result downloads and step logs."""

from __future__ import annotations

import io

from flask import request, send_file
from flask.views import MethodView
from flask_smorest import Blueprint
from marshmallow import Schema, fields, validate
from sqlalchemy import select

from app import database
from app.api.submissions import readable
from app.errors import NotFound
from app.models import Attempt, Result
from app.services import blobs


class LogArgs(Schema):
    attempt = fields.Integer(validate=validate.Range(min=1))


class LogSchema(Schema):
    step = fields.String()
    attempt = fields.Integer()
    attempts = fields.Integer()
    exit_status = fields.Integer(allow_none=True)
    stdout = fields.String()
    stderr = fields.String()


blp = Blueprint("results", __name__, url_prefix="/api/submissions", description="Results and logs")


@blp.route("/<submission_id>/results/<int:result_id>")
class ResultItem(MethodView):
    @blp.response(200, content_type="application/octet-stream",
                  description="the exact bytes; supports ETag/If-None-Match and Range")
    def get(self, submission_id: str, result_id: int):
        """Download one result file."""
        submission = readable(submission_id)
        session = database.session()
        result = session.execute(
            select(Result).where(Result.id == result_id, Result.submission_id == submission.id)
        ).scalar_one_or_none()
        if result is None:
            raise NotFound("No such result")
        response = send_file(
            io.BytesIO(blobs.get(session, result.sha256)), mimetype=result.media_type,
            as_attachment=True, download_name=result.name, etag=result.sha256, conditional=True,
            max_age=3600,
        )
        return response.make_conditional(request) if response.status_code == 200 else response


@blp.route("/<submission_id>/steps/<step>/log")
class StepLog(MethodView):
    @blp.arguments(LogArgs, location="query")
    @blp.response(200, LogSchema)
    def get(self, args, submission_id: str, step: str):
        """A step's captured stdout and stderr (last attempt unless ?attempt=)."""
        submission = readable(submission_id)
        found = next((s for s in submission.steps if s.name == step), None)
        if found is None:
            raise NotFound("No such step")
        number = args.get("attempt", found.attempts)
        attempt = database.session().get(Attempt, (found.id, number)) if number else None
        if attempt is None:
            if "attempt" in args:
                raise NotFound("No such attempt")
            return {"step": step, "attempt": 0, "attempts": 0, "exit_status": None, "stdout": "", "stderr": ""}
        return {"step": step, "attempt": number, "attempts": found.attempts, "exit_status": attempt.exit_status,
                "stdout": attempt.stdout, "stderr": attempt.stderr}
