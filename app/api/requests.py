"""Reading a submission from a multipart form or a JSON body into plain values."""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass, field
from typing import Any

from flask import Request

from app.errors import InvalidInput
from app.services.submissions import Upload

_RESERVED = {"job", "name", "priority", "cache", "email", "callback_url", "params", "inputs"}
_NOT_YET = {"email": "email notifications are not available yet",
            "callback_url": "callbacks are not available yet"}


@dataclass
class SubmissionRequest:
    job: Any = None
    name: str = ""
    priority: str = "normal"
    use_cache: bool = True
    params: dict[str, Any] = field(default_factory=dict)
    inputs: dict[str, Upload] = field(default_factory=dict)


def read(request: Request) -> SubmissionRequest:
    """Parse the body of POST /api/submissions; malformed bodies are 400s."""
    if request.is_json:
        return _from_json(request.get_json(silent=True))
    if request.mimetype in ("multipart/form-data", "application/x-www-form-urlencoded"):
        return _from_form(request)
    raise InvalidInput("Send multipart/form-data or application/json")


def _from_form(request: Request) -> SubmissionRequest:
    form = request.form
    _refuse_unsupported(form)
    inputs = {}
    for key, upload in request.files.items(multi=False):
        inputs[key] = Upload(data=upload.read(), filename=upload.filename or "")
    params = {k: v for k, v in form.items(multi=False) if k not in _RESERVED}
    return SubmissionRequest(
        job=form.get("job"), name=form.get("name", ""), priority=form.get("priority", "normal"),
        use_cache=_flag(form.get("cache", "true"), "cache"), params=params, inputs=inputs,
    )


def _from_json(body: Any) -> SubmissionRequest:
    if not isinstance(body, dict):
        raise InvalidInput("The body must be a JSON object")
    _refuse_unsupported(body)
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


def _refuse_unsupported(fields: Any) -> None:
    errors = {k: [message] for k, message in _NOT_YET.items() if fields.get(k)}
    if errors:
        raise InvalidInput("; ".join(m[0] for m in errors.values()), errors=errors)
