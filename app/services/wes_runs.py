"""GA4GH WES 1.1 over the jobs: a run request read into a submission, and the run's documents.

A job is a workflow of type CWL v1.2 whose `workflow_url` names it: the URL of its descriptor
(`…/workflows/<job>.cwl`, a CWL `Operation` that lists its inputs and outputs without an
implementation), `<job>.cwl`, or just `<job>`. No other CWL is run: this service is not a CWL engine.
"""

from __future__ import annotations

import json
import re
import uuid
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import and_, select
from sqlalchemy.orm import Session

from app.errors import InvalidInput
from app.models import Attempt, Job, Step
from app.services.faces import WES_STATE, Field, fields, group_results, outputs
from app.services.ogc_execute import Fetch, is_http_url
from app.services.submissions import Upload

WORKFLOW_TYPE = "CWL"
WORKFLOW_TYPE_VERSION = "v1.2"
_JOB = re.compile(r"[a-z][a-z0-9_]{0,63}\Z")
_CWL_TYPES = {"boolean": "boolean", "integer": "int", "number": "double", "string": "string"}


def job_name(workflow_url: Any) -> str:
    """The job a `workflow_url` names (its last path segment, without `.cwl`)."""
    if not isinstance(workflow_url, str) or not workflow_url:
        raise InvalidInput("workflow_url is required: the URL of a job's descriptor, or the job's name")
    try:
        path = urlsplit(workflow_url).path
    except ValueError:
        raise InvalidInput("workflow_url is not a valid URL") from None
    name = path.rstrip("/").rsplit("/", 1)[-1].removesuffix(".cwl")
    if not _JOB.match(name):
        raise InvalidInput(f"workflow_url must name one of this service's jobs (see service-info), not {name!r}")
    return name


def check_type(workflow_type: Any, version: Any) -> None:
    if workflow_type != WORKFLOW_TYPE or version != WORKFLOW_TYPE_VERSION:
        raise InvalidInput(f"workflow_type must be {WORKFLOW_TYPE} and workflow_type_version "
                           f"{WORKFLOW_TYPE_VERSION} (the jobs' descriptors)")


def json_object(text: Any, name: str) -> dict[str, Any]:
    """A form field holding a JSON object (absent: empty)."""
    if text in (None, ""):
        return {}
    try:
        value = json.loads(text) if isinstance(text, str) else text
    except (ValueError, RecursionError):
        raise InvalidInput(f"{name} is not valid JSON", errors={name: ["is not valid JSON"]}) from None
    if not isinstance(value, dict):
        raise InvalidInput(f"{name} must be a JSON object", errors={name: ["must be a JSON object"]})
    return value


def read_params(values: dict[str, Any], declared: list[Field], attachments: dict[str, bytes],
                fetch: Fetch) -> tuple[dict[str, Any], dict[str, Upload]]:
    """`workflow_params` into parameter values and input files. A file is an attachment's name (or
    a CWL File object whose `location`/`path` is one), an http(s) URL, or a File with `contents`."""
    by_id = {f.id: f for f in declared}
    params: dict[str, Any] = {}
    inputs: dict[str, Upload] = {}
    errors: dict[str, list[str]] = {}
    for key, value in values.items():
        field = by_id.get(key)
        if field is None or field.kind != "file":
            params[key] = value
            continue
        try:
            inputs[key] = _file(value, attachments, fetch)
        except InvalidInput as exc:
            errors[key] = [exc.message]
    if errors:
        raise InvalidInput("Some inputs cannot be read", errors=errors)
    return params, inputs


def _file(value: Any, attachments: dict[str, bytes], fetch: Fetch) -> Upload:
    if isinstance(value, dict):
        if isinstance(value.get("contents"), str):
            return Upload(value["contents"].encode("utf-8"), str(value.get("basename") or ""))
        value = value.get("location") or value.get("path")
    if not isinstance(value, str) or not value:
        raise InvalidInput("give an attachment's name, an http(s) URL, or a File {location} or {contents}")
    name = value.removeprefix("file://")
    for candidate in (name, name.rsplit("/", 1)[-1]):
        if candidate in attachments:
            return Upload(attachments[candidate], candidate)
    if is_http_url(value):
        data, _ = fetch(value)
        return Upload(data, urlsplit(value).path.rsplit("/", 1)[-1])
    raise InvalidInput(f"{value!r} is not an attached file (workflow_attachment) nor an http(s) URL")


def attachments_by_name(files: list[tuple[str, bytes]]) -> dict[str, bytes]:
    """Attached files by name and by base name (clients send paths relative to their folder)."""
    found: dict[str, bytes] = {}
    for filename, data in files:
        found.setdefault(filename, data)
        found.setdefault(filename.replace("\\", "/").rsplit("/", 1)[-1], data)
    return found


def _time(value: Any) -> str | None:
    return value.strftime("%Y-%m-%dT%H:%M:%SZ") if value is not None else None


def summary(row: Any, tags: dict[str, str]) -> dict[str, Any]:
    found = {"run_id": str(row.id), "state": WES_STATE[row.state], "tags": tags}
    for key, value in (("start_time", _time(row.started)), ("end_time", _time(row.finished))):
        if value is not None:
            found[key] = value
    return found


def last_attempts(session: Session, submission_id: uuid.UUID) -> dict[str, Attempt]:
    """Each step's last attempt (its exit code and captured output), by step name."""
    rows = session.execute(
        select(Step.name, Attempt).join(Attempt, and_(Attempt.step_id == Step.id, Attempt.number == Step.attempts))
        .where(Step.submission_id == submission_id)).all()
    return {name: attempt for name, attempt in rows}


def task_log(step: Any, attempt: Attempt | None, base: str) -> dict[str, Any]:
    """A step as a WES task: timing, exit code, and URLs of its stdout and stderr (never its command)."""
    log = {"id": step.name, "name": step.task_name, "stdout": f"{base}/tasks/{step.name}/stdout",
           "stderr": f"{base}/tasks/{step.name}/stderr", "system_logs": [m for m in (step.message,) if m]}
    for key, value in (("start_time", _time(step.started)), ("end_time", _time(step.finished))):
        if value is not None:
            log[key] = value
    exit_code = attempt.exit_status if attempt is not None else step.exit_status
    if exit_code is not None:
        log["exit_code"] = exit_code
    return log


def run_log(status: Any, request: dict[str, Any], attempts: dict[str, Attempt], job_spec: dict | None,
            tasks: dict[str, dict], *, base: str, download: Any) -> dict[str, Any]:
    """The RunLog: the request as sent, the state, the run's log, its tasks and its outputs (URLs)."""
    run_base = f"{base}/runs/{status.id}"
    run = {"name": status.job_name or "", "stdout": f"{run_base}/stdout", "stderr": f"{run_base}/stderr",
           "system_logs": [m for m in (status.message,) if m]}
    for key, value in (("start_time", _time(status.started)), ("end_time", _time(status.finished))):
        if value is not None:
            run[key] = value
    declared = outputs(job_spec, tasks) if job_spec else []
    found = {key: [download(r) for r in items] for key, items in group_results(declared, status.results).items()}
    return {
        "run_id": str(status.id), "request": request, "state": WES_STATE[status.state], "run_log": run,
        "task_logs_url": f"{run_base}/tasks",
        "task_logs": [task_log(step, attempts.get(step.name), run_base) for step in status.steps],
        "outputs": {key: urls[0] if len(urls) == 1 else urls for key, urls in found.items()},
    }


def workflow(job: Job, tasks: dict[str, dict], base: str) -> dict[str, Any]:
    """A job in service-info: how to name it, and its parameters as one JSON Schema."""
    declared = fields(job.spec, tasks)
    return {
        "name": job.name, "description": job.spec.get("description") or "",
        "workflow_url": f"{base}/workflows/{job.name}.cwl", "workflow_type": WORKFLOW_TYPE,
        "workflow_type_version": WORKFLOW_TYPE_VERSION,
        "workflow_params": {"type": "object", "additionalProperties": False,
                            "required": [f.id for f in declared if f.required],
                            "properties": {f.id: {**f.schema, "description": f.description} for f in declared}},
        "outputs": [o.id for o in outputs(job.spec, tasks)],
    }


def cwl_operation(job: Job, tasks: dict[str, dict]) -> dict[str, Any]:
    """The job as a CWL v1.2 `Operation`: its inputs and outputs, no implementation."""
    inputs = {}
    for f in fields(job.spec, tasks):
        if f.kind == "file":
            kind: Any = "File"
        elif "enum" in f.schema:
            kind = {"type": "enum", "symbols": [str(c) for c in f.schema["enum"]]}
        else:
            kind = _CWL_TYPES[f.schema["type"]]
        entry: dict[str, Any] = {"type": kind if f.required else ["null", kind], "doc": f.description}
        if "default" in f.schema:
            entry["default"] = f.schema["default"]
        inputs[f.id] = entry
    return {"cwlVersion": WORKFLOW_TYPE_VERSION, "class": "Operation", "id": job.name,
            "doc": job.spec.get("description") or "", "inputs": inputs,
            "outputs": {o.id: {"type": "File[]"} for o in outputs(job.spec, tasks)}}
