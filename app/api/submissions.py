"""Submissions: submit a job, follow it, list them (admin)."""

from __future__ import annotations

import time
from typing import TypeVar

from flask import request, url_for
from flask.views import MethodView
from flask_smorest import Blueprint
from marshmallow import Schema, fields, validate

from app import database
from app.api import requests as submission_requests
from app.api.common import bearer_token, client_address, require_admin, settings
from app.db import driver
from app.errors import NotFound, Unauthorized
from app.models import SUBMISSION_DONE, Submission, SubmissionState
from app.services import cancel, listing, status, submissions


class StepSchema(Schema):
    name = fields.String()
    task = fields.String(attribute="task_name")
    state = fields.String()
    exit_status = fields.Integer(allow_none=True)
    attempts = fields.Integer()
    started = fields.DateTime(allow_none=True)
    finished = fields.DateTime(allow_none=True)
    message = fields.String()
    cached = fields.Boolean()


class ResultSchema(Schema):
    id = fields.Integer()
    step = fields.String(attribute="step_name")
    name = fields.String()
    size = fields.Integer()
    sha256 = fields.String()
    media_type = fields.String()
    url = fields.Method("_url")

    def _url(self, result) -> str:
        return url_for("results.ResultItem", submission_id=result.submission_id, result_id=result.id)


class SubmissionSummarySchema(Schema):
    id = fields.UUID()
    job = fields.String(attribute="job_name", allow_none=True)
    name = fields.String()
    state = fields.String()
    created = fields.DateTime()
    finished = fields.DateTime(allow_none=True)


class SubmissionSchema(SubmissionSummarySchema):
    message = fields.String()
    priority = fields.String()
    started = fields.DateTime(allow_none=True)
    progress = fields.Method("_progress", metadata={
        "type": "object", "properties": {"done": {"type": "integer"}, "total": {"type": "integer"}}})
    steps = fields.List(fields.Nested(StepSchema))
    results = fields.List(fields.Nested(ResultSchema))

    def _progress(self, submission: Submission) -> dict:
        done = sum(1 for s in submission.steps if s.finished is not None)
        return {"done": done, "total": len(submission.steps)}


class WaitArgs(Schema):
    wait = fields.Float(load_default=0, validate=validate.Range(min=0, max=60),
                        metadata={"description": "answer once finished, or after this many seconds (≤ 60)"})


class CancelArgs(Schema):
    purge = fields.Boolean(load_default=False, metadata={"description": "also delete its data once stopped"})


class CancelSchema(Schema):
    id = fields.UUID()
    state = fields.String()
    purged = fields.Boolean()


class ListArgs(Schema):
    job = fields.String(validate=validate.Regexp(r"^[a-z][a-z0-9_]{0,63}$"))
    state = fields.String(validate=validate.OneOf([s.value for s in SubmissionState]))
    since = fields.DateTime()
    page = fields.Integer(load_default=1, validate=validate.Range(min=1))
    per_page = fields.Integer(load_default=50, validate=validate.Range(min=1, max=500))


SUBMIT_BODY = {
    "content": {
        "multipart/form-data": {"schema": {"type": "object", "properties": {
            "job": {"type": "string"}, "name": {"type": "string"},
            "priority": {"type": "string", "enum": ["low", "normal", "high"]},
            "cache": {"type": "boolean"},
            "input_data": {"type": "string", "format": "binary"}},
            "required": ["job"], "additionalProperties": True}},
        "application/json": {"schema": {"type": "object", "properties": {
            "job": {"type": "string"}, "name": {"type": "string"},
            "priority": {"type": "string", "enum": ["low", "normal", "high"]},
            "cache": {"type": "boolean"},
            "params": {"type": "object", "additionalProperties": True},
            "inputs": {"type": "object", "additionalProperties": {"type": "object", "properties": {
                "content": {"type": "string"}, "encoding": {"type": "string", "enum": ["utf-8", "base64"]},
                "filename": {"type": "string"}}, "required": ["content"]}}},
            "required": ["job"]}},
    },
}

blp = Blueprint("submissions", __name__, url_prefix="/api/submissions", description="Submissions of jobs")


@blp.route("")
class Submissions(MethodView):
    @blp.arguments(WaitArgs, location="query")
    @blp.doc(requestBody=SUBMIT_BODY)
    @blp.response(201, SubmissionSchema)
    def post(self, args):
        """Submit a job: multipart (file fields per input, parameter fields by alias) or JSON."""
        session = database.session()
        token = bearer_token()
        if settings().require_api_key and token is None:
            raise Unauthorized("Submitting needs an API token")
        parsed = submission_requests.read(request)
        client = f"token:{token.id}" if token else client_address()
        priority = submissions.quota_priority(session, client=client, priority=parsed.priority,
                                              soft=settings().soft_limit, hard=settings().hard_limit)
        submission = submissions.submit(
            session, job=parsed.job, params=parsed.params, inputs=parsed.inputs, name=parsed.name,
            priority=priority, use_cache=parsed.use_cache, client=client, token_id=token.id if token else None,
        )
        session.commit()
        if args["wait"]:
            submission = _wait(submission.id, args["wait"])
        location = url_for("submissions.SubmissionItem", submission_id=submission.id)
        return submission, 201, {"Location": location}

    @blp.arguments(ListArgs, location="query")
    @blp.response(200, SubmissionSummarySchema(many=True))
    def get(self, args):
        """List submissions, newest first (admin)."""
        require_admin()
        return listing.submissions(database.session(), **args)


@blp.route("/<submission_id>")
class SubmissionItem(MethodView):
    @blp.arguments(WaitArgs, location="query")
    @blp.response(200, SubmissionSchema)
    def get(self, args, submission_id: str):
        """A submission's state, steps, progress and results."""
        current = _authorized(_status(submission_id))
        if args["wait"] and current.state not in SUBMISSION_DONE:
            current = _wait(current.id, args["wait"])
        return current

    @blp.arguments(CancelArgs, location="query")
    @blp.response(202, CancelSchema)
    @blp.alt_response(409, description="the submission has already finished")
    def delete(self, args, submission_id: str):
        """Cancel: queued steps never start, running ones are killed; ?purge=true deletes its data."""
        submission = readable(submission_id)
        session = database.session()
        cancelled = cancel.cancel(session, str(submission.id), purge=args["purge"])
        session.commit()
        return {"id": submission.id, "state": submission.state, "purged": cancelled is None}


_Readable = TypeVar("_Readable", Submission, status.SubmissionStatus)


def readable(submission_id: str) -> Submission:
    """The submission, if this caller may read it (its id is the capability; with
    AA_REQUIRE_API_KEY, also the token that made it)."""
    return _authorized(submissions.get(database.session(), submission_id))


def _authorized(submission: _Readable) -> _Readable:
    if settings().require_api_key and submission.token_id is not None:
        token = bearer_token()
        if token is None or (token.id != submission.token_id and not token.admin):
            raise NotFound("No such submission")
    return submission


def _status(submission_id) -> status.SubmissionStatus:
    """The submission's status (see app.services.status), or NotFound; in a transaction of its own."""
    session = database.session()
    try:
        found = status.read(driver(session), submissions.key(submission_id))
    finally:
        session.rollback()  # a poll that follows sees what was committed meanwhile
    if found is None:
        raise NotFound("No such submission")
    return found


def _wait(submission_id, seconds: float) -> status.SubmissionStatus:
    """The submission's status once it has ended, or after `seconds`."""
    deadline = time.monotonic() + seconds
    with database.finished_listener().watch(str(submission_id)) as finished:
        while True:
            current = _status(submission_id)
            remaining = deadline - time.monotonic()
            if current.state in SUBMISSION_DONE or remaining <= 0:
                return current
            finished.wait(min(remaining, 1.0))


