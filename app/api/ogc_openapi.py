"""The OGC face's API definition (OpenAPI 3.0, conformance class `oas30`), served at /ogc/api."""

from __future__ import annotations

from typing import Any

from app import __version__

_REF = "#/components/schemas/"
_LINK = {"type": "object", "required": ["href"], "properties": {
    "href": {"type": "string"}, "rel": {"type": "string"}, "type": {"type": "string"}, "title": {"type": "string"}}}
_STATUS_INFO = {"type": "object", "required": ["jobID", "status", "type"], "properties": {
    "type": {"type": "string", "enum": ["process"]}, "jobID": {"type": "string"}, "processID": {"type": "string"},
    "status": {"type": "string", "enum": ["accepted", "running", "successful", "failed", "dismissed"]},
    "message": {"type": "string"}, "created": {"type": "string", "format": "date-time"},
    "started": {"type": "string", "format": "date-time"}, "finished": {"type": "string", "format": "date-time"},
    "updated": {"type": "string", "format": "date-time"},
    "progress": {"type": "integer", "minimum": 0, "maximum": 100},
    "links": {"type": "array", "items": {"$ref": _REF + "link"}}}}
_EXCEPTION = {"type": "object", "required": ["type"], "properties": {
    "type": {"type": "string"}, "title": {"type": "string"}, "status": {"type": "integer"},
    "detail": {"type": "string"}, "instance": {"type": "string"}, "errors": {"type": "object"}}}
_EXECUTE = {"type": "object", "properties": {
    "inputs": {"type": "object", "additionalProperties": True,
               "description": "by input id: a value, a qualified value {value, mediaType, encoding}, "
                              "a reference {href}, or an array of one of these"},
    "outputs": {"type": "object", "additionalProperties": {"type": "object", "properties": {
        "transmissionMode": {"type": "string", "enum": ["value", "reference"]}}}},
    "response": {"type": "string", "enum": ["document", "raw"], "default": "document"},
    "mode": {"type": "string", "enum": ["sync", "async", "auto"]},
    "subscriber": {"type": "object", "properties": {
        "successUri": {"type": "string", "format": "uri"}, "inProgressUri": {"type": "string", "format": "uri"},
        "failedUri": {"type": "string", "format": "uri"}}}}}


def _json(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _problems(*codes: int) -> dict[str, Any]:
    reasons = {400: "invalid request", 401: "a valid bearer token is needed", 403: "not allowed",
               404: "not found", 409: "the job did not succeed", 413: "too large",
               429: "too many unfinished jobs (see Retry-After)", 503: "the database is unavailable"}
    return {str(code): {"description": reasons[code],
                        "content": {"application/problem+json": {"schema": {"$ref": _REF + "exception"}}}}
            for code in codes}


def _query(name: str, schema: dict[str, Any], description: str = "") -> dict[str, Any]:
    return {"name": name, "in": "query", "required": False, "schema": schema, "description": description}


_F = _query("f", {"type": "string", "enum": ["json", "html"]}, "the response's format")
_LIMIT = _query("limit", {"type": "integer", "minimum": 1, "maximum": 10000})
_OFFSET = _query("offset", {"type": "integer", "minimum": 0}, "how many to skip (the `next` links use it)")
_STRINGS = {"type": "array", "items": {"type": "string"}}


def _get(summary: str, ok: dict[str, Any], *problems: int, parameters: list | None = None) -> dict[str, Any]:
    return {"get": {"summary": summary, "parameters": parameters or [_F],
                    "responses": {"200": ok, **_problems(400, 503, *problems)}}}


def document(base: str, processes: list[str]) -> dict[str, Any]:
    """The API definition, with `base` (this face's absolute URL) as its server and the processes'
    ids as the known values of `processID` (any other is a 404)."""
    job_id = {"name": "jobID", "in": "path", "required": True, "schema": {"type": "string"}}
    process_id = {"name": "processID", "in": "path", "required": True,
                  "schema": {"anyOf": [{"type": "string", "enum": processes}, {"type": "string"}]}
                  if processes else {"type": "string"}}
    prefer = {"name": "Prefer", "in": "header", "required": False, "schema": {"type": "string"},
              "description": "respond-async: answer 201 at once; wait=N: wait up to N s (at most 60) for the end"}
    paths = {
        "/": _get("landing page", _json({"$ref": _REF + "landingPage"}, "links to the API's parts")),
        "/conformance": _get("conformance classes", _json({"$ref": _REF + "confClasses"}, "the classes")),
        "/processes": _get("the processes (runnable jobs)", _json({"$ref": _REF + "processList"}, "processes"),
                           parameters=[_F, _LIMIT, _OFFSET]),
        "/processes/{processID}": {"get": {
            "summary": "a process: its inputs and outputs as JSON Schema", "parameters": [process_id, _F],
            "responses": {"200": _json({"type": "object"}, "the process description"), **_problems(400, 404, 503)}}},
        "/processes/{processID}/execution": {"post": {
            "summary": "execute a process: synchronously (200 with its results) or, with Prefer: respond-async "
                       "or when it takes longer than the wait, asynchronously (201, Location: the job)",
            "parameters": [process_id, prefer],
            "requestBody": {"required": True, "content": {"application/json": {"schema": {"$ref": _REF + "execute"}}}},
            "responses": {"200": _json({"type": "object"}, "the results (a raw single result has its own type)"),
                          "201": {"description": "the job was created", "headers": {
                              "Location": {"schema": {"type": "string"}, "description": "the job"}},
                                  "content": {"application/json": {"schema": {"$ref": _REF + "statusInfo"}}}},
                          **_problems(400, 401, 403, 404, 409, 413, 429, 503)}}},
        "/jobs": _get("jobs (an admin token sees all; a token its own; no token, those made from your address "
                      "without one)", _json({"$ref": _REF + "jobList"}, "jobs"), 401, parameters=[
                          _F, _LIMIT, _OFFSET, _query("type", _STRINGS), _query("processID", _STRINGS),
                          _query("status", {"type": "array", "items": {"type": "string", "enum": [
                              "accepted", "running", "successful", "failed", "dismissed"]}}),
                          _query("datetime", {"type": "string"}, "an RFC 3339 instant or interval a/b (.. open)"),
                          _query("minDuration", {"type": "integer", "minimum": 0}),
                          _query("maxDuration", {"type": "integer", "minimum": 0})]),
        "/jobs/{jobID}": {
            **_get("a job's status", _json({"$ref": _REF + "statusInfo"}, "its status"), 404,
                   parameters=[job_id, _F]),
            "delete": {"summary": "dismiss: cancel a job still running (its data kept), or delete a finished "
                                  "job's data", "parameters": [job_id],
                       "responses": {"200": _json({"$ref": _REF + "statusInfo"}, "dismissed"),
                                     **_problems(400, 404, 503)}}},
        "/jobs/{jobID}/results": _get("a job's results", _json({"type": "object"}, "results by output id"),
                                      404, 409, parameters=[job_id]),
        "/api": _get("this API definition", {"description": "the OpenAPI 3.0 document", "content": {
            "application/vnd.oai.openapi+json;version=3.0": {"schema": {"type": "object"}},
            "text/html": {"schema": {"type": "string"}}}}),
    }
    return {
        "openapi": "3.0.3",
        "info": {"title": "Analytics Automated – OGC API – Processes", "version": __version__,
                 "description": "OGC API – Processes – Part 1: Core 1.0 over the configured jobs."},
        "servers": [{"url": base}],
        "paths": paths,
        "components": {
            "schemas": {
                "link": _LINK, "statusInfo": _STATUS_INFO, "exception": _EXCEPTION, "execute": _EXECUTE,
                "landingPage": {"type": "object", "required": ["links"], "properties": {
                    "title": {"type": "string"}, "description": {"type": "string"},
                    "links": {"type": "array", "items": {"$ref": _REF + "link"}}}},
                "confClasses": {"type": "object", "required": ["conformsTo"],
                                "properties": {"conformsTo": _STRINGS}},
                "processList": {"type": "object", "required": ["processes", "links"], "properties": {
                    "processes": {"type": "array", "items": {"type": "object"}},
                    "links": {"type": "array", "items": {"$ref": _REF + "link"}}}},
                "jobList": {"type": "object", "required": ["jobs", "links"], "properties": {
                    "jobs": {"type": "array", "items": {"$ref": _REF + "statusInfo"}},
                    "links": {"type": "array", "items": {"$ref": _REF + "link"}}}},
            },
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
        "security": [{}, {"bearer": []}],
    }
