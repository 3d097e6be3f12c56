"""The boundary between clients and the app: classes of error that only bad input causes.

A request can carry text no encoder accepts (a JSON escape of a lone surrogate, `"\\udcff"`),
structures nested deeper than any parser's recursion, or numbers no double holds. Whichever
function first trips over such a value, the error is the client's: these classes are mapped to a
400 here, once, instead of case by case in every parser and schema. JSON bodies are also checked
as they are read, so the message can say exactly what is wrong.
"""

from __future__ import annotations

import re
from typing import Any

from flask import Flask
from flask.json.provider import DefaultJSONProvider
from sqlalchemy.exc import StatementError
from werkzeug.exceptions import BadRequest

# Messages by class of error (the first matching class, in this order, wins).
CLIENT_ERRORS: tuple[tuple[type[BaseException], str], ...] = (
    (UnicodeError, "Text in the request is not valid Unicode (a lone surrogate such as \\udcff, or bytes "
                   "that are not UTF-8)"),
    (RecursionError, "The request is nested too deeply"),
    (OverflowError, "A number in the request is too large"),
)
_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F]")


def client_error(exc: BaseException) -> str | None:
    """The client-facing message if `exc` (or the error a SQLAlchemy one wraps) is of a class only
    bad input causes; None otherwise."""
    if isinstance(exc, StatementError) and exc.orig is not None:
        exc = exc.orig
    return next((message for kind, message in CLIENT_ERRORS if isinstance(exc, kind)), None)


class JSONProvider(DefaultJSONProvider):
    """Flask's JSON, refusing what a client's body may hold but nothing downstream can handle."""

    def loads(self, s: str | bytes, **kwargs: Any) -> Any:
        try:
            value = super().loads(s, **kwargs)
        except RecursionError:
            raise BadRequest("The JSON body is nested too deeply") from None
        # A lone surrogate can only arrive as a \uD8xx-\uDFxx escape: look further only then.
        raw = s.encode("utf-8", "surrogatepass") if isinstance(s, str) else s
        if _SURROGATE_ESCAPE.search(raw) and _has_lone_surrogate(value):
            raise BadRequest("The JSON body holds a lone surrogate (such as \\udcff), which is not valid Unicode")
        return value


def _has_lone_surrogate(value: Any) -> bool:
    stack = [value]
    while stack:  # iterative: the nesting was already bounded by the parser, but not by much
        item = stack.pop()
        if isinstance(item, str):
            try:
                item.encode("utf-8")
            except UnicodeEncodeError:
                return True
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return False


def init_app(app: Flask) -> None:
    """Read JSON bodies with `JSONProvider`."""
    app.json_provider_class = JSONProvider
    app.json = JSONProvider(app)
