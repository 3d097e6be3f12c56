"""Template filters: durations, times and sizes as people read them."""

from __future__ import annotations

from datetime import datetime

from app.web import blp


@blp.app_template_filter("duration")
def duration(seconds: float | None) -> str:
    """1.2 s, 3 min 4 s, 2 h 5 min; an em dash for nothing."""
    if seconds is None:
        return "—"
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, rest = divmod(int(seconds), 60)
    if minutes < 60:
        return f"{minutes} min {rest} s"
    return f"{minutes // 60} h {minutes % 60} min"


@blp.app_template_filter("between")
def between(start: datetime | None, end: datetime | None) -> str:
    """The duration from start to end (an em dash if it has not started)."""
    if start is None:
        return "—"
    return duration(((end or datetime.now(start.tzinfo)) - start).total_seconds())


@blp.app_template_filter("when")
def when(moment: datetime | None) -> str:
    return moment.strftime("%Y-%m-%d %H:%M:%S UTC") if moment else "—"


@blp.app_template_filter("size")
def size(count: int) -> str:
    for unit in ("bytes", "kB", "MB", "GB"):
        if count < 1024 or unit == "GB":
            return f"{count} {unit}" if unit == "bytes" else f"{count:.1f} {unit}"
        count /= 1024
    return f"{count} bytes"
