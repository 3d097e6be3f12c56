"""Reading a submission from a multipart form or a JSON body into plain values."""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass, field, replace
from typing import Any

from flask import Request

from app.errors import AppError, InvalidInput
from app.services.submissions import Upload

_RESERVED = {"job", "name", "priority", "cache", "email", "callback_url", "params", "inputs"}


@dataclass
class SubmissionRequest:
    job: Any = None
    name: str = ""
    priority: str = "normal"
    use_cache: bool = True
    params: dict[str, Any] = field(default_factory=dict)
    inputs: dict[str, Upload] = field(default_factory=dict)
    email: Any = None  # checked by app.services.notify.check
    callback_url: Any = None


@dataclass
class Batch:
    """Several submissions in one request: a JSON array (each item read as a single JSON
    submission; one that cannot be read is its error), or a form naming several jobs (`job=a,b`),
    whose upload and parameters go to each job."""

    items: list[SubmissionRequest | AppError]
    shared_params: bool = False


def read(request: Request) -> SubmissionRequest | Batch:
    """Parse the body of POST /api/submissions; malformed bodies are 400s."""
    if request.is_json:
        body = request.get_json(silent=True)
        return Batch([_item(raw) for raw in body]) if isinstance(body, list) else _from_json(body)
    if request.mimetype in ("multipart/form-data", "application/x-www-form-urlencoded"):
        single = _from_form(request)
        if isinstance(single.job, str) and "," in single.job:
            return Batch([replace(single, job=job.strip()) for job in single.job.split(",")], shared_params=True)
        return single
    raise InvalidInput("Send multipart/form-data or application/json")


def _item(raw: Any) -> SubmissionRequest | AppError:
    try:
        return _from_json(raw)
    except AppError as exc:
        return exc


def _from_form(request: Request) -> SubmissionRequest:
    form = request.form
    # An empty field is an absent one: Swagger UI's "Try it out" and HTML forms send every field they
    # show, filled or not, so an empty optional field takes its default.
    inputs = {}
    for key, upload in request.files.items(multi=False):
        if upload.filename or _has_content(upload.stream):
            inputs[key] = Upload(file=upload.stream, filename=upload.filename or "")  # read in chunks when stored
    params = {k: v for k, v in form.items(multi=False) if k not in _RESERVED and v != ""}
    return SubmissionRequest(
        job=form.get("job"), name=form.get("name", ""), priority=form.get("priority") or "normal",
        use_cache=_flag(form.get("cache") or "true", "cache"), params=params, inputs=inputs,
        email=form.get("email") or None, callback_url=form.get("callback_url") or None,
    )


def _from_json(body: Any) -> SubmissionRequest:
    if not isinstance(body, dict):
        raise InvalidInput("The body must be a JSON object")
    unknown = sorted(set(body) - _RESERVED)
    if unknown:
        raise InvalidInput("Unknown fields", errors={k: ["unknown field"] for k in unknown})
    params = body.get("params") or {}
    if not isinstance(params, dict):
        raise InvalidInput("params must be an object", errors={"params": ["must be an object"]})
    raw_inputs = body.get("inputs") or {}
    if not isinstance(raw_inputs, dict):
        raise InvalidInput("inputs must be an object", errors={"inputs": ["must be an object"]})
    name = body.get("name") or ""
    if not isinstance(name, str):
        raise InvalidInput("name must be a string", errors={"name": ["must be a string"]})
    return SubmissionRequest(
        job=body.get("job"), name=name, priority=body.get("priority") or "normal",
        use_cache=_flag(body.get("cache", True), "cache"), params=params,
        inputs={key: _decode(key, value) for key, value in raw_inputs.items()},
        email=body.get("email"), callback_url=body.get("callback_url"),
    )


def _decode(key: str, value: Any) -> Upload:
    """`{"content": "...", "encoding": "utf-8"|"base64", "filename": "..."}` → bytes."""
    if isinstance(value, str):
        value = {"content": value}
    if not isinstance(value, dict) or not isinstance(value.get("content"), str):
        raise InvalidInput("Invalid input", errors={key: ["must be an object with a string `content`"]})
    encoding = value.get("encoding", "utf-8")
    filename = value.get("filename") or ""
    if encoding == "utf-8":
        try:
            return Upload(value["content"].encode("utf-8"), str(filename))
        except UnicodeEncodeError:
            raise InvalidInput("Invalid input", errors={key: ["is not valid UTF-8"]}) from None
    if encoding == "base64":
        try:
            return Upload(base64.b64decode(value["content"], validate=True), str(filename))
        except (binascii.Error, ValueError):
            raise InvalidInput("Invalid input", errors={key: ["is not valid base64"]}) from None
    raise InvalidInput("Invalid input", errors={key: ["encoding must be utf-8 or base64"]})


def _flag(value: Any, key: str) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("1", "true", "yes", "on"):
        return True
    if text in ("0", "false", "no", "off"):
        return False
    raise InvalidInput(f"{key} must be true or false", errors={key: ["must be true or false"]})


def _has_content(stream) -> bool:
    """Whether an uploaded part holds any bytes (its stream left at the start)."""
    stream.seek(0, 2)
    size = stream.tell()
    stream.seek(0)
    return size > 0
