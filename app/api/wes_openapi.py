"""The WES face's API definition (OpenAPI 3.0), served at /ga4gh/wes/v1/openapi.json."""

from __future__ import annotations

from typing import Any

from app import __version__

_REF = "#/components/schemas/"
_STATE = {"type": "string", "enum": ["UNKNOWN", "QUEUED", "INITIALIZING", "RUNNING", "PAUSED", "COMPLETE",
                                     "EXECUTOR_ERROR", "SYSTEM_ERROR", "CANCELED", "CANCELING", "PREEMPTED"]}
_LOG = {"type": "object", "properties": {
    "name": {"type": "string"}, "cmd": {"type": "array", "items": {"type": "string"}},
    "start_time": {"type": "string"}, "end_time": {"type": "string"}, "stdout": {"type": "string"},
    "stderr": {"type": "string"}, "exit_code": {"type": "integer"},
    "system_logs": {"type": "array", "items": {"type": "string"}}}}
_TASK = {"allOf": [{"$ref": _REF + "Log"}, {"type": "object", "required": ["id", "name"],
                                             "properties": {"id": {"type": "string"}}}]}
_RUN_ID = {"type": "object", "properties": {"run_id": {"type": "string"}}}
_RUN_STATUS = {"type": "object", "required": ["run_id"],
               "properties": {"run_id": {"type": "string"}, "state": {"$ref": _REF + "State"}}}
_ERROR = {"type": "object", "properties": {"msg": {"type": "string"}, "status_code": {"type": "integer"}}}


def _ok(schema: dict[str, Any], description: str, media: str = "application/json") -> dict[str, Any]:
    return {"description": description, "content": {media: {"schema": schema}}}


def _errors(*codes: int) -> dict[str, Any]:
    reasons = {400: "the request is malformed", 401: "the request is unauthorized", 403: "not allowed",
               404: "not found", 409: "the run has already finished", 413: "too large",
               429: "too many unfinished runs", 503: "the database is unavailable"}
    return {str(code): _ok({"$ref": _REF + "ErrorResponse"}, reasons[code]) for code in codes}


def _run_id() -> dict[str, Any]:
    return {"name": "run_id", "in": "path", "required": True, "schema": {"type": "string"}}


def _paging() -> list[dict[str, Any]]:
    return [{"name": "page_size", "in": "query", "required": False,
             "schema": {"type": "integer", "minimum": 1, "maximum": 1000}},
            {"name": "page_token", "in": "query", "required": False, "schema": {"type": "string"}}]


def document(base: str, jobs: list[str]) -> dict[str, Any]:
    """The API definition, with `base` (this face's absolute URL) as its server and the jobs'
    names among the values `workflow_url` may take."""
    task_id = {"name": "task_id", "in": "path", "required": True, "schema": {"type": "string"}}
    stream = {"name": "stream", "in": "path", "required": True,
              "schema": {"type": "string", "enum": ["stdout", "stderr"]}}
    run_request = {"type": "object", "required": ["workflow_type", "workflow_type_version", "workflow_url"],
                   "properties": {
                       "workflow_params": {"type": "string", "description": "a JSON object: parameters by alias, "
                                           "files by attachment name, URL or CWL File object"},
                       "workflow_type": {"type": "string", "enum": ["CWL"]},
                       "workflow_type_version": {"type": "string", "enum": ["v1.2"]},
                       "tags": {"type": "string", "description": "a JSON object of strings"},
                       "workflow_engine": {"type": "string"}, "workflow_engine_version": {"type": "string"},
                       "workflow_engine_parameters": {"type": "string"},
                       "workflow_url": {"anyOf": [{"type": "string", "enum": jobs}, {"type": "string"}]
                                        if jobs else {"type": "string"},
                                        "description": "a job's descriptor URL, or its name"},
                       "workflow_attachment": {"type": "array", "items": {"type": "string", "format": "binary"}}}}
    paths = {
        "/service-info": {"get": {"summary": "the service, its jobs as workflows with their parameter schemas",
                                  "responses": {"200": _ok({"type": "object"}, "service info"),
                                                **_errors(401, 503)}}},
        "/runs": {
            "get": {"summary": "runs (an admin token sees all; a token its own; no token, those made from "
                               "your address without one)", "parameters": _paging(),
                    "responses": {"200": _ok({"$ref": _REF + "RunListResponse"}, "runs"), **_errors(400, 401, 503)}},
            "post": {"summary": "run a job", "requestBody": {"required": True, "content": {
                "multipart/form-data": {"schema": run_request}}},
                     "responses": {"200": _ok(_RUN_ID, "the run's id"),
                                   **_errors(400, 401, 403, 413, 429, 503)}}},
        "/runs/{run_id}": {"get": {"summary": "a run's log", "parameters": [_run_id()], "responses": {
            "200": _ok({"type": "object"}, "the run log"), **_errors(401, 404, 503)}}},
        "/runs/{run_id}/status": {"get": {"summary": "a run's state", "parameters": [_run_id()], "responses": {
            "200": _ok({"$ref": _REF + "RunStatus"}, "its state"), **_errors(401, 404, 503)}}},
        "/runs/{run_id}/cancel": {"post": {"summary": "cancel a run (its running steps are killed)",
                                           "parameters": [_run_id()], "responses": {
            "200": _ok(_RUN_ID, "cancelled"), **_errors(401, 404, 409, 503)}}},
        "/runs/{run_id}/tasks": {"get": {"summary": "a run's steps as tasks", "parameters": [_run_id(), *_paging()],
                                         "responses": {"200": _ok({"$ref": _REF + "TaskListResponse"}, "tasks"),
                                                       **_errors(400, 401, 404, 503)}}},
        "/runs/{run_id}/tasks/{task_id}": {"get": {"summary": "one task", "parameters": [_run_id(), task_id],
                                                   "responses": {"200": _ok({"$ref": _REF + "TaskLog"}, "the task"),
                                                                 **_errors(401, 404, 503)}}},
        "/runs/{run_id}/tasks/{task_id}/{stream}": {"get": {
            "summary": "a task's stdout or stderr (last attempt)", "parameters": [_run_id(), task_id, stream],
            "responses": {"200": _ok({"type": "string"}, "the text", "text/plain"), **_errors(401, 404, 503)}}},
        "/runs/{run_id}/{stream}": {"get": {
            "summary": "every task's stdout or stderr", "parameters": [_run_id(), stream],
            "responses": {"200": _ok({"type": "string"}, "the text", "text/plain"), **_errors(401, 404, 503)}}},
        "/workflows/{name}.cwl": {"get": {
            "summary": "a job's descriptor: a CWL v1.2 Operation (inputs and outputs only)",
            "parameters": [{"name": "name", "in": "path", "required": True, "schema": {"type": "string"}}],
            "responses": {"200": _ok({"type": "object"}, "the descriptor"), **_errors(404, 503)}}},
    }
    return {
        "openapi": "3.0.3",
        "info": {"title": "Analytics Automated – GA4GH WES", "version": __version__,
                 "description": "GA4GH Workflow Execution Service 1.1 over the configured jobs."},
        "servers": [{"url": base}],
        "paths": paths,
        "components": {
            "schemas": {
                "State": _STATE, "Log": _LOG, "TaskLog": _TASK, "RunStatus": _RUN_STATUS, "ErrorResponse": _ERROR,
                "RunListResponse": {"type": "object", "properties": {
                    "runs": {"type": "array", "items": {"$ref": _REF + "RunStatus"}},
                    "next_page_token": {"type": "string"}}},
                "TaskListResponse": {"type": "object", "properties": {
                    "task_logs": {"type": "array", "items": {"$ref": _REF + "TaskLog"}},
                    "next_page_token": {"type": "string"}}},
            },
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
        "security": [{}, {"bearer": []}],
    }
