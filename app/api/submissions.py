"""Submissions: submit a job, follow it, list them (admin)."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from typing import TypeVar

from flask import Request, jsonify, request, url_for
from flask.views import MethodView
from flask_smorest import Blueprint
from marshmallow import Schema, fields, post_dump, validate

from app import database
from app.api import requests as submission_requests
from app.api.common import bearer_token, client_address, require_admin, settings
from app.db import driver
from app.errors import NotFound, TooManyWaiters, Unauthorized
from app.models import SUBMISSION_DONE, ApiToken, Submission, SubmissionState
from app.queue import cancel, intake
from app.services import batches, listing, status, submissions, tokens
from app.services.submissions import StoredSubmission


class ClusterJobSchema(Schema):
    """The cluster job that runs (or ran) a step's last attempt."""

    scheduler = fields.String(metadata={"description": "slurm or gridengine"})
    job_id = fields.String(allow_none=True, metadata={"description": "the scheduler's job id"})
    state = fields.String(allow_none=True, metadata={"description": "the scheduler's last word on it"})
    node = fields.String(allow_none=True)
    submitted = fields.DateTime(allow_none=True)
    started = fields.DateTime(allow_none=True)
    queued_seconds = fields.Float(allow_none=True, metadata={"description": "waiting in the scheduler's queue"})


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
    cluster = fields.Nested(ClusterJobSchema, metadata={"description": "only on cluster backends"})

    @post_dump
    def _local_steps_have_no_cluster_job(self, data: dict, **_) -> dict:
        if data.get("cluster", ...) is None:
            del data["cluster"]
        return data


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
    priority = fields.String()
    created = fields.DateTime()
    finished = fields.DateTime(allow_none=True)


class SubmissionSchema(SubmissionSummarySchema):
    message = fields.String()
    config_version = fields.Integer(allow_none=True, metadata={
        "description": "the configuration version it ran under (see /api/config/versions)"})
    started = fields.DateTime(allow_none=True)
    progress = fields.Method("_progress", metadata={
        "type": "object", "properties": {"done": {"type": "integer"}, "total": {"type": "integer"}}})
    steps = fields.List(fields.Nested(StepSchema))
    results = fields.List(fields.Nested(ResultSchema))

    def _progress(self, submission: Submission) -> dict:
        done = sum(1 for s in submission.steps if s.finished is not None)
        return {"done": done, "total": len(submission.steps)}


class WaitArgs(Schema):
    wait = fields.Float(load_default=0, validate=validate.Range(
        min=0, max=60, error="must be from 0 to 60 seconds: the maximum wait is 60 s (poll again for longer)"),
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


_NOTIFY_FIELDS = {
    "email": {"type": "string", "format": "email", "description": "mailed once when it ends; never shown again"},
    "callback_url": {"type": "string", "format": "uri",
                     "description": "POSTed a signed JSON document when it ends (see the README)"},
}
_JSON_ONE = {"type": "object", "properties": {
    "job": {"type": "string"}, "name": {"type": "string"},
    "priority": {"type": "string", "enum": ["low", "normal", "high"]},
    "cache": {"type": "boolean"}, **_NOTIFY_FIELDS,
    "params": {"type": "object", "additionalProperties": True},
    "inputs": {"type": "object", "additionalProperties": {"type": "object", "properties": {
        "content": {"type": "string"}, "encoding": {"type": "string", "enum": ["utf-8", "base64"]},
        "filename": {"type": "string"}}, "required": ["content"]}}},
    "required": ["job"]}
SUBMIT_BODY = {
    "content": {
        "multipart/form-data": {"schema": {"type": "object", "properties": {
            "job": {"type": "string", "description": "a job, or several separated by commas: a batch, the upload "
                                                     "and parameters going to each (a job takes those it declares)"},
            "name": {"type": "string"},
            "priority": {"type": "string", "enum": ["low", "normal", "high"]},
            "cache": {"type": "boolean"}, **_NOTIFY_FIELDS,
            "input_data": {"type": "string", "format": "binary"}},
            "required": ["job"], "additionalProperties": True}},
        "application/json": {"schema": {"oneOf": [_JSON_ONE, {
            "type": "array", "items": _JSON_ONE, "minItems": 1, "maxItems": batches.MAX_ITEMS,
            "description": "a batch: stored in one transaction if every item is valid, else none"}]}},
    },
}
BATCH_ANSWER = {
    "description": "Created: the submission; for a batch, every submission in the items' order. A batch with "
                   "an item refused stores nothing and answers 400 (or the items' common 4xx) with "
                   "`errors` holding each refused item's error answer under its index (`\"0\"`, `\"3\"`, …)",
    "content": {"application/json": {"schema": {"oneOf": [
        {"$ref": "#/components/schemas/Submission"},
        {"type": "array", "items": {"$ref": "#/components/schemas/Submission"}}]}}},
}

blp = Blueprint("submissions", __name__, url_prefix="/api/submissions", description="Submissions of jobs")


@blp.route("")
class Submissions(MethodView):
    @blp.arguments(WaitArgs, location="query")
    @blp.doc(requestBody=SUBMIT_BODY)
    @blp.response(201, SubmissionSchema)
    @blp.doc(responses={"201": BATCH_ANSWER})
    def post(self, args):
        """Submit a job: multipart (file fields per input, parameter fields by alias) or JSON; a
        JSON array, or a form naming several jobs (`job=a,b`), is a batch."""
        token, client = _caller()
        parsed = submission_requests.read(request)
        if isinstance(parsed, submission_requests.Batch):
            return _post_batch(parsed, args["wait"], client=client, token_id=token.id if token else None)
        submission = _submit_one(parsed, token=token, client=client)
        database.session().commit()
        if args["wait"]:
            # Past the waiter cap a POST answers at once: a 503 would invite a duplicate submission.
            with contextlib.suppress(TooManyWaiters):
                submission = wait_for(submission.id, args["wait"])
        location = url_for("submissions.SubmissionItem", submission_id=submission.id)
        return submission, 201, {"Location": location}

    @blp.arguments(ListArgs, location="query")
    @blp.response(200, SubmissionSummarySchema(many=True))
    def get(self, args):
        """List submissions, newest first: all of them for an admin; with AA_REQUIRE_API_KEY, a
        token's own for any other token."""
        token = bearer_token() if settings().require_api_key else None
        if token is None or token.admin:
            require_admin()
            return listing.submissions(database.session(), **args)
        return listing.submissions(database.session(), token_id=token.id, **args)


@blp.route("/<submission_id>")
class SubmissionItem(MethodView):
    @blp.arguments(WaitArgs, location="query")
    @blp.response(200, SubmissionSchema)
    def get(self, args, submission_id: str):
        """A submission's state, steps, progress and results."""
        if not args["wait"]:
            return authorized(current_status(submission_id))
        with database.finished_listener().looking:  # a crowd of waiters arriving looks a few at a time
            current = authorized(current_status(submission_id))
        if current.state not in SUBMISSION_DONE:
            current = wait_for(current.id, args["wait"])
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


def _post_batch(batch: submission_requests.Batch, wait: float, *, client: str, token_id: int | None):
    """201 with the submissions in the items' order, or nothing stored and each refusal by index."""
    session = database.session()
    stored = batches.submit_batch(session, batch.items, submit=intake.submit, client=client, token_id=token_id,
                                  shared_params=batch.shared_params, settings=settings())
    session.commit()
    if wait:
        deadline = time.monotonic() + wait
        stored = [wait_for(s.id, max(0.0, deadline - time.monotonic())) for s in stored]
    return jsonify(SubmissionSchema(many=True).dump(stored)), 201


_Readable = TypeVar("_Readable", Submission, status.SubmissionStatus)


def _caller() -> tuple[ApiToken | None, str]:
    """This request's token and client (its token, else its address); 401 where a token is required."""
    token = bearer_token()
    if settings().require_api_key and token is None:
        raise Unauthorized("Submitting needs an API token")
    return token, f"token:{token.id}" if token else client_address()


def submit_request(read: Callable[[Request], submission_requests.SubmissionRequest]) -> StoredSubmission:
    """Submit what `read` makes of this request, as its caller (API key, quota, notifications): the
    native API's path, which the standard faces (OGC, WES) share. The caller commits."""
    token, client = _caller()
    return _submit_one(read(request), token=token, client=client)


def _submit_one(parsed: submission_requests.SubmissionRequest, *, token: ApiToken | None,
                client: str) -> StoredSubmission:
    return submissions.accept(
        database.session(), submit=intake.submit, job=parsed.job, params=parsed.params, inputs=parsed.inputs,
        name=parsed.name, priority=parsed.priority, use_cache=parsed.use_cache, email=parsed.email,
        callback_url=parsed.callback_url, client=client, token_id=token.id if token else None, settings=settings(),
    )


def readable(submission_id: str) -> Submission:
    """The submission, if this caller may read it (its id is the capability; with
    AA_REQUIRE_API_KEY, also the token that made it)."""
    return authorized(submissions.get(database.session(), submission_id))


def authorized(submission: _Readable) -> _Readable:
    required = settings().require_api_key
    if required and submission.token_id is not None and not tokens.may_read(
            bearer_token(), submission.token_id, required=required):
        raise NotFound("No such submission")
    return submission


def current_status(submission_id) -> status.SubmissionStatus:
    """The submission's status (see app.services.status), or NotFound; in a transaction of its own."""
    session = database.session()
    try:
        found = status.read(driver(session), submissions.key(submission_id))
    finally:
        session.rollback()  # a poll that follows sees what was committed meanwhile
    if found is None:
        raise NotFound("No such submission")
    return found


def wait_for(submission_id, seconds: float) -> status.SubmissionStatus:
    """The submission's status once it has ended, or after `seconds` (TooManyWaiters: 503)."""
    deadline = time.monotonic() + seconds
    listener = database.finished_listener()
    with listener.watch(str(submission_id)) as finished:
        while True:
            finished.clear()  # before looking: an end notified from here on wakes the wait below
            with listener.looking:
                current = current_status(submission_id)
            remaining = deadline - time.monotonic()
            if current.state in SUBMISSION_DONE or remaining <= 0:
                return current
            finished.wait(min(remaining, 10.0))  # 10 s: in case a network cut silenced the listener


