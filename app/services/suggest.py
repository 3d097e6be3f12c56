"""`did you mean …?`: the one place that picks close names for a message."""

from __future__ import annotations

import difflib
from collections.abc import Iterable


def close_names(name: str, known: Iterable[str], *, most: int = 3, cutoff: float = 0.75) -> list[str]:
    """The known names closest to `name`. The default cutoff is strict: our names share prefixes."""
    return difflib.get_close_matches(name, list(known), n=most, cutoff=cutoff)


def did_you_mean(name: str, known: Iterable[str], *, most: int = 3, cutoff: float = 0.75) -> str:
    """`did you mean a or b?`, or "" when nothing is close."""
    close = close_names(name, known, most=most, cutoff=cutoff)
    return f"did you mean {' or '.join(close)}?" if close else ""
