"""The `python` backend: `module:callable` run in a child Python process.

The child is an ordinary process group started by the local runner, so timeouts, cancellation
and the watchdog treat it like any command; a crash, a leak or `sys.exit` cannot reach the worker.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

from app.backends import python_child
from app.backends.python_child import ERROR_FILE

PARAMS_FILE = ".aa/params.json"


def argv(function: str, *, params: dict[str, Any], inputs: list[str], stem: str, workdir: Path) -> list[str]:
    """The command that calls `function` in a child interpreter (the parameters go in a file)."""
    (workdir / PARAMS_FILE).parent.mkdir(exist_ok=True)
    (workdir / PARAMS_FILE).write_text(json.dumps(params))
    return [sys.executable, python_child.__file__, function, PARAMS_FILE, stem, *inputs]


def environment() -> dict[str, str]:
    """Let the child import the modules the worker can (its working directory first)."""
    paths = [os.getcwd(), *sys.path[1:], os.environ.get("PYTHONPATH", "")]
    return {"PYTHONPATH": os.pathsep.join(p for p in paths if p)}


def error_message(workdir: Path) -> str | None:
    """`Type: message` of the exception the function raised, if it raised one."""
    try:
        error = json.loads((workdir / ERROR_FILE).read_text())
    except (OSError, ValueError):
        return None
    return f"{error.get('type', 'Exception')}: {error.get('message', '')}".rstrip(": ")
