"""A Python task's traceback as its submission's holders see it: the user's frames, no server paths.

Imported by the child (app.backends.python_child) only when the function raised. The child's own
frame is left out; every other file is named relative to the import path it was found on
(`app/analytics/stats.py`, `numpy/core/fromnumeric.py`), and the working directory is `.`.
"""

from __future__ import annotations

import os
import sys
import traceback
from pathlib import Path


def user_traceback(exc: BaseException, *, child_file: str) -> str:
    """The traceback of `exc` without the frames of `child_file`, its paths trimmed."""
    frames = traceback.extract_tb(exc.__traceback__)
    kept = traceback.StackSummary.from_list([frame for frame in frames if frame.filename != child_file])
    for frame in kept:
        frame.filename = short_path(frame.filename)
    lines = ["Traceback (most recent call last):\n", *kept.format(), *traceback.format_exception_only(exc)]
    return hide_workdir("".join(lines))


def short_path(path: str) -> str:
    """`path` relative to the longest import path holding it (its file name if none does)."""
    roots = sorted((os.path.abspath(p) for p in sys.path if p), key=len, reverse=True)
    for root in roots:
        if path.startswith(root + os.sep):
            return path[len(root) + 1:]
    return os.path.basename(path)


def hide_workdir(text: str) -> str:
    """`text` with the step's working directory (the current one) written as `.`."""
    workdir = str(Path.cwd())
    return text.replace(workdir + os.sep, "./").replace(workdir, ".")
