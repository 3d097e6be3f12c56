"""Jobs: what can be run, with its inputs, parameters and steps."""

from __future__ import annotations

from flask.views import MethodView
from flask_smorest import Blueprint, abort
from marshmallow import Schema, fields

from app import database
from app.services import catalog, jobinfo


class InputSchema(Schema):
    name = fields.String()
    glob = fields.String()
    validators = fields.List(fields.String())
    required = fields.Boolean()


class ParameterSchema(Schema):
    alias = fields.String(metadata={"description": "the field name to send"})
    step = fields.String()
    name = fields.String()
    type = fields.String()
    default = fields.Raw(allow_none=True)
    required = fields.Boolean()
    choices = fields.List(fields.Raw())
    min = fields.Float(allow_none=True)
    max = fields.Float(allow_none=True)
    pattern = fields.String(allow_none=True)
    description = fields.String()


class JobStepSchema(Schema):
    name = fields.String()
    task = fields.String()
    after = fields.List(fields.String())


class JobSchema(Schema):
    name = fields.String()
    description = fields.String()
    runnable = fields.Boolean()
    inputs = fields.List(fields.Nested(InputSchema))
    parameters = fields.List(fields.Nested(ParameterSchema))
    steps = fields.List(fields.Nested(JobStepSchema))
    typical_run_seconds = fields.Float(allow_none=True, metadata={"description": "median of recent successful runs"})


class JobDetailSchema(JobSchema):
    dag = fields.Dict(metadata={"description": "edges parent -> children, and the root steps"})


blp = Blueprint("jobs", __name__, url_prefix="/api/jobs", description="Jobs that can be submitted")


@blp.route("")
class Jobs(MethodView):
    @blp.response(200, JobSchema(many=True))
    def get(self):
        """List the runnable jobs."""
        session = database.session()
        return jobinfo.describe_many(session, catalog.list_jobs(session))


@blp.route("/<name>")
class JobItem(MethodView):
    @blp.response(200, JobDetailSchema)
    def get(self, name: str):
        """One job, with its step DAG."""
        session = database.session()
        job = catalog.get_job(session, name)
        if job is None or not job.runnable:
            abort(404, message=f"There is no job named {name!r}")
        return jobinfo.describe_many(session, [job], with_dag=True)[0]
