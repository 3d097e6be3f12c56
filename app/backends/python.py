"""The `python` backend: `module:callable` run in a child Python process.

The child is an ordinary process group started by the local runner, so timeouts, cancellation
and the watchdog treat it like any command; a crash, a leak or `sys.exit` cannot reach the worker.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from app.backends import python_child
from app.backends.python_child import ERROR_FILE, INLINE

PARAMS_FILE = ".aa/params.json"
_SETTINGS = ("DATABASE_URL", "TEST_DATABASE_URL")
_SETTING_PREFIXES = ("AA_", "PG")  # ours, and libpq's (PGPASSWORD, PGHOST, …)


def argv(
    function: str, *, params: dict[str, Any], inputs: list[str], stem: str, workdir: Path, inline: bool = False,
) -> list[str]:
    """The command that calls `function` in a child interpreter. The parameters go in a file, or
    `inline` in the argv itself, for a child forked from a zygote (its argv is never on a command
    line: the file's directory and write were most of a warm step's cost on this disk)."""
    if inline:
        return [sys.executable, python_child.__file__, function, INLINE + json.dumps(params), stem, *inputs]
    (workdir / PARAMS_FILE).parent.mkdir(exist_ok=True)
    (workdir / PARAMS_FILE).write_text(json.dumps(params))
    return [sys.executable, python_child.__file__, function, PARAMS_FILE, stem, *inputs]


def params_to_file(argv: list[str], workdir: str) -> list[str]:
    """The same command with inline parameters moved to their file (a step started cold after all)."""
    if not argv[3].startswith(INLINE):
        return argv
    path = Path(workdir) / PARAMS_FILE
    path.parent.mkdir(exist_ok=True)
    path.write_text(argv[3][len(INLINE):])
    return [*argv[:3], PARAMS_FILE, *argv[4:]]


def environment(folders: list[str] | tuple[str, ...] = ()) -> dict[str, str]:
    """Let the child import the modules the worker can: the backend's `python_path` folders first
    (by default the configuration file's folder), then the worker's working directory and path."""
    paths = [*folders, os.getcwd(), *sys.path[1:], os.environ.get("PYTHONPATH", "")]
    return {"PYTHONPATH": os.pathsep.join(p for p in paths if p)}


def without_settings(env: Mapping[str, str]) -> dict[str, str]:
    """`env` without the service's own settings: a Python step (forked from a zygote or not) gets
    no database address or password from its worker."""
    return {k: v for k, v in env.items() if k not in _SETTINGS and not k.startswith(_SETTING_PREFIXES)}


def error_message(workdir: Path) -> str | None:
    """`Type: message` of the exception the function raised, if it raised one."""
    try:
        error = json.loads((workdir / ERROR_FILE).read_text())
    except (OSError, ValueError):
        return None
    return f"{error.get('type', 'Exception')}: {error.get('message', '')}".rstrip(": ")
