"""An OGC API – Processes execute request, read into what `intake.submit` takes.

Both shapes clients send are accepted: the 1.0 standard's (`inputs`, `outputs`, `response`,
`subscriber`, and the drafts' `mode`) and the later one without `response`. Input ids are the native
API's names: job inputs (files) and parameter aliases.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from app.errors import InvalidInput
from app.services import ogc_callbacks
from app.services.faces import Field, Output, is_text
from app.services.remote import TooLarge
from app.services.submissions import Upload

Fetch = Callable[[str], tuple[bytes, str]]
Refuse = Callable[[str], str | None]  # why a callback URL may not be called, or None
_KEYS = {"inputs", "outputs", "response", "subscriber", "mode"}
SUBSCRIBER_KEYS = ("successUri", "inProgressUri", "failedUri")


@dataclass
class Execution:
    params: dict[str, Any] = field(default_factory=dict)
    inputs: dict[str, Upload] = field(default_factory=dict)
    response: str = "document"
    outputs: dict[str, str] | None = None  # output id -> transmission mode; None: every output, by value
    subscriber: dict[str, str] = field(default_factory=dict)
    mode: str | None = None


def parse(body: Any, fields: list[Field], outputs: list[Output], *, fetch: Fetch, refuse: Refuse) -> Execution:
    """Read an execute request; every problem is reported at once, by input id. `refuse` applies the
    callback rules (app.services.delivery.refusal) to the subscriber URIs."""
    if not isinstance(body, dict):
        raise InvalidInput("The body must be a JSON object (an execute request)")
    errors: dict[str, list[str]] = {}
    unknown = sorted(set(body) - _KEYS)
    for key in unknown:
        errors[key] = ["unknown member of an execute request"]
    execution = Execution()
    raw_inputs = body.get("inputs")
    raw_inputs = {} if raw_inputs is None else raw_inputs
    if not isinstance(raw_inputs, dict):
        errors["inputs"] = ["must be an object keyed by input id"]
        raw_inputs = {}
    by_id = {f.id: f for f in fields}
    for key, value in raw_inputs.items():
        try:
            _read_input(execution, key, value, by_id.get(key), fetch)
        except TooLarge:
            raise
        except InvalidInput as exc:
            errors[key] = [exc.message]
    execution.outputs = _outputs(body.get("outputs"), outputs, errors)
    execution.response = _choice(body, "response", ("document", "raw"), "document", errors)
    execution.mode = _choice(body, "mode", ("sync", "async", "auto"), None, errors)
    execution.subscriber = subscriber(body.get("subscriber"), errors)
    errors.update(ogc_callbacks.refusals(execution.subscriber, refuse))
    if errors:
        raise InvalidInput("The execute request is not valid", errors=errors)
    return execution


def _read_input(execution: Execution, key: str, value: Any, declared: Field | None, fetch: Fetch) -> None:
    if isinstance(value, list):
        # An input may always come as an array (/req/core/process-execute-input-array); ours take one value.
        if len(value) != 1:
            raise InvalidInput("takes exactly one value")
        value = value[0]
    if declared is not None and declared.kind == "file":
        execution.inputs[key] = _file(value, declared, fetch)
        return
    if isinstance(value, dict) and "href" in value:
        data, _ = fetch(_href(value))
        try:
            value = data.decode("utf-8").strip()
        except UnicodeDecodeError:
            raise InvalidInput("the referenced value is not UTF-8 text") from None
    elif isinstance(value, dict) and "value" in value:
        value = value["value"]
    # Unknown ids and values of the wrong type are refused by the submission, with its messages.
    execution.params[key] = value


def _file(value: Any, declared: Field, fetch: Fetch) -> Upload:
    if isinstance(value, dict) and "href" in value:
        data, _ = fetch(_href(value))
        return Upload(data, _name(value["href"]))
    encoding = None
    if isinstance(value, dict) and "value" in value:
        encoding = value.get("encoding") or value.get("contentEncoding")
        value = value["value"]
        if not isinstance(value, str) and declared.media_type == "application/json":
            return Upload(json.dumps(value).encode())
    if not isinstance(value, str):
        raise InvalidInput("a file is given as a string, a qualified value {\"value\": ...} or a reference "
                           "{\"href\": ...}")
    if encoding == "base64" or (encoding is None and not is_text(declared.media_type)):
        try:
            return Upload(base64.b64decode(value, validate=True))
        except (binascii.Error, ValueError):
            raise InvalidInput("is not valid base64") from None
    if encoding not in (None, "utf-8", "utf8", "8bit", "binary"):
        raise InvalidInput("encoding must be base64 or utf-8")
    try:
        return Upload(value.encode("utf-8"))
    except UnicodeEncodeError:
        raise InvalidInput("is not valid UTF-8") from None


def _href(value: dict[str, Any]) -> str:
    href = value["href"]
    if not isinstance(href, str) or not href:
        raise InvalidInput("href must be a URL")
    return href


def _name(href: str) -> str:
    return urlsplit(href).path.rsplit("/", 1)[-1][:255]


def _outputs(requested: Any, declared: list[Output], errors: dict[str, list[str]]) -> dict[str, str] | None:
    if requested is None:
        return None
    if not isinstance(requested, dict):
        errors["outputs"] = ["must be an object keyed by output id"]
        return None
    known = {o.id for o in declared}
    chosen = {}
    for key, options in requested.items():
        if key not in known:
            errors[f"outputs.{key}"] = ["unknown output"]
            continue
        mode = (options or {}).get("transmissionMode", "value") if isinstance(options, dict) else None
        if mode not in ("value", "reference"):
            errors[f"outputs.{key}"] = ["transmissionMode must be value or reference"]
            continue
        chosen[key] = mode
    return chosen


def _choice(body: dict[str, Any], key: str, allowed: tuple[str, ...], default: str | None,
            errors: dict[str, list[str]]) -> Any:
    value = body.get(key, default)
    if value is not default and value not in allowed:
        errors[key] = [f"must be one of {', '.join(allowed)}"]
        return default
    return value


def subscriber(value: Any, errors: dict[str, list[str]]) -> dict[str, str]:
    """The callback URIs (http or https); 1.0's schema misspells one as `successUrl`, also accepted."""
    if value is None:
        return {}
    if not isinstance(value, dict):
        errors["subscriber"] = ["must be an object with successUri, inProgressUri and/or failedUri"]
        return {}
    if "successUrl" in value and "successUri" not in value:
        value = {**value, "successUri": value["successUrl"]}
    found = {}
    for key in SUBSCRIBER_KEYS:
        uri = value.get(key)
        if uri is None:
            continue
        if not is_http_url(uri):
            errors[f"subscriber.{key}"] = ["must be an http or https URL"]
            continue
        found[key] = uri
    return found


def is_http_url(value: Any) -> bool:
    """Whether `value` is an absolute http(s) URL with a host (and of a sane length)."""
    if not isinstance(value, str) or len(value) > 2000:
        return False
    try:
        parts = urlsplit(value)
        return parts.scheme in ("http", "https") and bool(parts.hostname)
    except ValueError:
        return False
