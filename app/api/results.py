"""Result downloads and step logs."""

from __future__ import annotations

import io
import re

from flask import request, send_file
from flask.views import MethodView
from flask_smorest import Blueprint
from marshmallow import Schema, fields, validate
from sqlalchemy import select

from app import database
from app.api.common import bearer_token
from app.api.submissions import ClusterJobSchema, readable
from app.errors import NotFound
from app.models import Attempt, Result, Step
from app.services import archive, blobs


class LogArgs(Schema):
    attempt = fields.Integer(validate=validate.Range(min=1))


class LogSchema(Schema):
    step = fields.String()
    attempt = fields.Integer()
    attempts = fields.Integer()
    exit_status = fields.Integer(allow_none=True)
    stdout = fields.String()
    stderr = fields.String()
    argv = fields.List(fields.String(), metadata={
        "description": "the command the attempt ran (admins only: it may hold server paths)"})
    cluster = fields.Nested(ClusterJobSchema, allow_none=True, metadata={"description": "on cluster backends"})


_CONTROL = re.compile(r"[\x00-\x1f\x7f]")

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
            as_attachment=True, download_name=_download_name(result.name), etag=result.sha256, conditional=True,
            max_age=3600,
        )
        if "charset=" in result.media_type.lower():  # as stored; werkzeug would add a second charset
            response.headers["Content-Type"] = result.media_type
        return response.make_conditional(request) if response.status_code == 200 else response


def _download_name(name: str) -> str:
    """The name offered for saving: control characters (a newline would end the header) become `_`."""
    return _CONTROL.sub("_", name) or "result"


@blp.route("/<submission_id>/results.zip")
class ResultsZip(MethodView):
    @blp.response(200, content_type="application/zip", description="every result, by its name")
    def get(self, submission_id: str):
        """Download every result of a submission as one zip file."""
        submission = readable(submission_id)
        return send_file(archive.results_zip(database.session(), submission), mimetype="application/zip",
                         as_attachment=True, download_name=f"{submission.id}.zip")


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
        log = {"step": step, "attempt": number, "attempts": found.attempts, "exit_status": attempt.exit_status,
               "stdout": attempt.stdout, "stderr": attempt.stderr, "cluster": _cluster_job(found, attempt)}
        token = bearer_token()
        if token is not None and token.admin and attempt.argv is not None:
            log["argv"] = attempt.argv
        return log


def _cluster_job(step: Step, attempt: Attempt) -> dict | None:
    """The attempt's cluster job, as the step's status shows it."""
    if attempt.cluster_workdir is None:
        return None
    started, submitted = attempt.cluster_started, attempt.cluster_submitted
    end = started or attempt.finished
    return {"scheduler": step.task["backend"]["type"], "job_id": attempt.cluster_job_id,
            "state": attempt.cluster_state, "node": attempt.cluster_node, "submitted": submitted, "started": started,
            "queued_seconds": max(0.0, (end - submitted).total_seconds()) if end and submitted else None}
