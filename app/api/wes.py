"""GA4GH WES 1.1 under /ga4gh/wes/v1: every runnable job is a workflow, every step a task.

Runs go through the native submission path (validation, API keys, quotas); states map one to one
(SPEC §6). Errors are WES's `{msg, status_code}`.
"""

from __future__ import annotations

import contextlib
import json
from typing import Any

from flask import Blueprint, Response, current_app, request

from app import __version__, database
from app.api import faces as face
from app.api.wes_openapi import document as openapi_document
from app.errors import Conflict, InvalidInput, NotFound
from app.models import SUBMISSION_DONE
from app.queue import cancel
from app.services import catalog, faces, wes_runs

PREFIX = "/ga4gh/wes/v1"
blp = Blueprint("wes", __name__, url_prefix=PREFIX)
_FORM_FIELDS = ("workflow_params", "workflow_type", "workflow_type_version", "tags", "workflow_engine",
                "workflow_engine_version", "workflow_engine_parameters", "workflow_url")


@blp.errorhandler(Exception)
def _error(exc: Exception):
    found = face.problem(exc)
    body: dict[str, Any] = {"msg": found.message, "status_code": found.status}
    if found.errors:
        body["errors"] = found.errors
    response = _json(body, found.status)
    if found.retry_after:
        response.headers["Retry-After"] = str(found.retry_after)
    return response


def _json(document: Any, status: int = 200) -> Response:
    return current_app.response_class(json.dumps(document), status=status, mimetype="application/json")


def _base() -> str:
    return face.base_url(PREFIX)


@blp.get("/service-info", strict_slashes=False)
def service_info():
    session = database.session()
    counts = faces.state_counts(session, face.caller())
    by_state: dict[str, int] = {}
    for state, count in counts.items():
        by_state[faces.WES_STATE[state]] = by_state.get(faces.WES_STATE[state], 0) + count
    base = _base()
    return _json({
        "id": "org.analytics-automated.wes", "name": "Analytics Automated",
        "type": {"group": "org.ga4gh", "artifact": "wes", "version": "1.1.0"},
        "description": "The configured analysis jobs as WES workflows (see `workflows`)",
        "organization": {"name": "Analytics Automated", "url": request.host_url},
        "version": __version__,
        "documentationUrl": f"{base}/openapi.json",
        "workflow_type_versions": {wes_runs.WORKFLOW_TYPE: {"workflow_type_version": [wes_runs.WORKFLOW_TYPE_VERSION]}},
        "supported_wes_versions": ["1.1.0"],
        "supported_filesystem_protocols": ["http", "https"],
        "workflow_engine_versions": {"analytics-automated": {"workflow_engine_version": [__version__]}},
        "default_workflow_engine_parameters": [],
        "system_state_counts": by_state,
        "auth_instructions_url": request.host_url.rstrip("/") + "/api/docs",
        "tags": {"workflows": "see the `workflows` member: each job, its workflow_url and workflow_params schema"},
        "workflows": [wes_runs.workflow(job, tasks, base) for job, tasks in faces.runnable_jobs(session)],
    })


@blp.get("/workflows/<name>.cwl", strict_slashes=False)
def workflow_descriptor(name: str):
    """A job's descriptor (a CWL Operation): what `workflow_url` points at."""
    job, tasks = faces.runnable_jobs(database.session(), name)[0]
    return _json(wes_runs.cwl_operation(job, tasks))


def _page() -> tuple[int, int]:
    size, token = request.args.get("page_size", "50"), request.args.get("page_token") or "0"
    # isdecimal, not isdigit: int() reads exactly the former ("²" is a digit it refuses); the lengths
    # keep int() from very long numbers (it refuses past 4,300 digits)
    if not (size.isdecimal() and len(size) <= 4 and 1 <= int(size) <= 1000):
        raise InvalidInput("page_size must be an integer from 1 to 1000")
    if not token.isdecimal() or len(token) > 9:
        raise InvalidInput("page_token is not one this service gave")
    return int(size), int(token)


@blp.get("/runs", strict_slashes=False)
def list_runs():
    size, offset = _page()
    session = database.session()
    rows = faces.listing(session, face.caller(), faces.ListFilter(), limit=size + 1, offset=offset)
    tags = {row.id: (faces.recorded(session, row.id) or {}).get("tags") or {} for row in rows[:size]}
    return _json({"runs": [wes_runs.summary(row, tags[row.id]) for row in rows[:size]],
                  "next_page_token": str(offset + size) if len(rows) > size else ""})


@blp.post("/runs", strict_slashes=False)
def run_workflow():
    form = _form()
    wes_runs.check_type(form.get("workflow_type"), form.get("workflow_type_version"))
    name = wes_runs.job_name(form.get("workflow_url"))
    try:
        job, tasks = faces.runnable_jobs(database.session(), name)[0]
    except NotFound:
        raise InvalidInput(f"workflow_url names no job of this service ({name!r}); see service-info") from None
    tags = {str(k): str(v) for k, v in wes_runs.json_object(form.get("tags"), "tags").items()}
    values = wes_runs.json_object(form.get("workflow_params"), "workflow_params")

    def read():
        files = [(upload.filename or "", upload.read()) for upload in request.files.getlist("workflow_attachment")]
        return wes_runs.read_params(values, faces.fields(job.spec, tasks), wes_runs.attachments_by_name(files),
                                    face.fetch)

    def recorded():
        request_record: dict[str, Any] = {k: form[k] for k in ("workflow_type", "workflow_type_version",
                                                               "workflow_url", "workflow_engine",
                                                               "workflow_engine_version") if form.get(k)}
        return {**request_record, "workflow_params": values, "tags": tags}

    submission = face.submit(name, read=read, face="wes", recorded=recorded)
    return _json({"run_id": str(submission.id)})


def _form() -> dict[str, Any]:
    """The run request: multipart form fields (the standard), or the same as a JSON object."""
    if request.is_json:
        body = request.get_json(silent=True)
        if not isinstance(body, dict):
            raise InvalidInput("The body must be a JSON object (a RunRequest)")
        return {k: (json.dumps(v) if isinstance(v, (dict, list)) else v) for k, v in body.items()}
    if request.mimetype not in ("multipart/form-data", "application/x-www-form-urlencoded"):
        raise InvalidInput("Send the run request as multipart/form-data")
    return {k: request.form.get(k) for k in _FORM_FIELDS if k in request.form}


def _run(run_id: str) -> Any:
    return face.readable_status(run_id, NotFound, "run")


@blp.get("/runs/<run_id>", strict_slashes=False)
def run_log(run_id: str):
    status = _run(run_id)
    session = database.session()
    request_record = faces.recorded(session, status.id) or {
        "workflow_type": wes_runs.WORKFLOW_TYPE, "workflow_type_version": wes_runs.WORKFLOW_TYPE_VERSION,
        "workflow_url": f"{_base()}/workflows/{status.job_name}.cwl", "workflow_params": {}}
    request_record.pop("tags", None)
    spec, tasks = faces.definition(session, status.job_name)
    return _json(wes_runs.run_log(
        status, request_record, wes_runs.last_attempts(session, status.id), spec, tasks, base=_base(),
        download=lambda result: face.download_url(status.id, result.id)))


@blp.get("/runs/<run_id>/status", strict_slashes=False)
def run_status(run_id: str):
    status = _run(run_id)
    return _json({"run_id": str(status.id), "state": faces.WES_STATE[status.state]})


@blp.post("/runs/<run_id>/cancel", strict_slashes=False)
def cancel_run(run_id: str):
    """Cancel a run; a run that has already ended is left as it is (WES declares no conflict)."""
    status = _run(run_id)
    if status.state not in SUBMISSION_DONE:
        session = database.session()
        with contextlib.suppress(Conflict):  # it ended meanwhile
            cancel.cancel(session, str(status.id))
        session.commit()
    return _json({"run_id": str(status.id)})


@blp.get("/runs/<run_id>/tasks", strict_slashes=False)
def list_tasks(run_id: str):
    status = _run(run_id)
    size, offset = _page()
    attempts = wes_runs.last_attempts(database.session(), status.id)
    steps = status.steps[offset:offset + size]
    base = f"{_base()}/runs/{status.id}"
    return _json({"task_logs": [wes_runs.task_log(step, attempts.get(step.name), base) for step in steps],
                  "next_page_token": str(offset + size) if offset + size < len(status.steps) else ""})


def _step(status: Any, task_id: str) -> Any:
    found = next((s for s in status.steps if s.name == task_id), None)
    if found is None:
        raise NotFound(f"There is no task {task_id!r} in this run")
    return found


@blp.get("/runs/<run_id>/tasks/<task_id>", strict_slashes=False)
def get_task(run_id: str, task_id: str):
    status = _run(run_id)
    step = _step(status, task_id)
    attempt = wes_runs.last_attempts(database.session(), status.id).get(step.name)
    return _json(wes_runs.task_log(step, attempt, f"{_base()}/runs/{status.id}"))


@blp.get("/runs/<run_id>/tasks/<task_id>/<any(stdout, stderr):stream>", strict_slashes=False)
def task_output(run_id: str, task_id: str, stream: str):
    """What a task's last attempt wrote to stdout or stderr, as text."""
    status = _run(run_id)
    step = _step(status, task_id)
    attempt = wes_runs.last_attempts(database.session(), status.id).get(step.name)
    return _text(getattr(attempt, stream) if attempt is not None else "")


@blp.get("/runs/<run_id>/<any(stdout, stderr):stream>", strict_slashes=False)
def run_output(run_id: str, stream: str):
    """Every task's stdout (or stderr), in step order, each under a header line."""
    status = _run(run_id)
    attempts = wes_runs.last_attempts(database.session(), status.id)
    parts = [f"== {step.name}\n{getattr(attempts[step.name], stream)}" for step in status.steps
             if step.name in attempts]
    return _text("\n".join(parts))


def _text(text: str) -> Response:
    return current_app.response_class(text, mimetype="text/plain")


@blp.get("/openapi.json", strict_slashes=False)
def api_definition():
    return _json(openapi_document(_base(), [job.name for job in catalog.list_jobs(database.session())]))


@blp.route("/<path:rest>", methods=["GET", "POST", "PUT", "PATCH", "DELETE"])
def unknown(rest: str):
    raise NotFound(f"There is no resource {request.path!r}")
