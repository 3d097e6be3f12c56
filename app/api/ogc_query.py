"""The OGC face's query parameters (limit, offset and the job-list filters), read strictly: a bad
value is a 400 with the standard's `invalid-query-parameter-value` type."""

from __future__ import annotations

import re
from datetime import UTC, datetime

from werkzeug.datastructures import MultiDict

from app.errors import InvalidInput
from app.services.faces import OGC_STATUS, ListFilter

EXCEPTIONS = "http://www.opengis.net/def/exceptions/ogcapi-processes-1/1.0/"
MAX_LIMIT = 10000
_NATIVE = {}
for _state, _status in OGC_STATUS.items():
    _NATIVE.setdefault(_status, []).append(_state)


class InvalidQuery(InvalidInput):
    """A query parameter is not valid."""

    type_uri = EXCEPTIONS + "invalid-query-parameter-value"


def _bad(name: str, message: str) -> InvalidQuery:
    return InvalidQuery(f"{name} {message}", errors={name: [message]})


def _integer(args: MultiDict, name: str, default: int | None, low: int, high: int) -> int | None:
    value = args.get(name)
    if value is None:
        return default
    if not re.fullmatch(r"\d{1,9}", value) or not low <= int(value) <= high:
        raise _bad(name, f"must be an integer from {low} to {high}")
    return int(value)


def limit_offset(args: MultiDict, *, default: int) -> tuple[int, int]:
    """`limit` (1 to 10000) and `offset` (0 up)."""
    return (_integer(args, "limit", default, 1, MAX_LIMIT) or default,
            _integer(args, "offset", 0, 0, 10**9) or 0)


def _list(args: MultiDict, name: str) -> list[str]:
    """An array parameter, repeated (`?a=1&a=2`) or comma-separated (`?a=1,2`)."""
    return [item.strip() for value in args.getlist(name) for item in value.split(",") if item.strip()]


def job_filter(args: MultiDict) -> ListFilter | None:
    """The job-list filters; None when they select nothing (a `type` other than `process`)."""
    types = _list(args, "type")
    statuses = _list(args, "status")
    unknown = sorted(set(statuses) - set(_NATIVE))
    if unknown:
        raise _bad("status", f"must be among {', '.join(_NATIVE)}")
    created_from, created_to = _interval(args.get("datetime"))
    low = _integer(args, "minDuration", None, 0, 10**9)
    high = _integer(args, "maxDuration", None, 0, 10**9)
    if types and "process" not in types:
        return None  # every job here is a process execution
    processes = tuple(p for p in _list(args, "processID") if len(p) <= 64)
    if args.getlist("processID") and not processes:
        return None
    return ListFilter(jobs=processes, states=tuple(s for status in statuses for s in _NATIVE[status]),
                      created_from=created_from, created_to=created_to, min_duration=low, max_duration=high)


def _interval(value: str | None) -> tuple[datetime | None, datetime | None]:
    """`datetime`: an instant, or `start/end` with `..` or nothing for an open end (RFC 3339)."""
    if value is None:
        return None, None
    if "/" not in value:
        instant = _instant(value)
        return instant, instant
    start, _, end = value.partition("/")
    found = (None if start in ("", "..") else _instant(start), None if end in ("", "..") else _instant(end))
    if found == (None, None):
        raise _bad("datetime", "must give at least one end of the interval")
    return found


def _instant(text: str) -> datetime:
    try:
        parsed = datetime.fromisoformat(text.replace("z", "Z"))
    except ValueError:
        raise _bad("datetime", "must be an RFC 3339 date-time or an interval start/end") from None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)
