"""Checks of a configuration against the machine that loads it (`aa config check/load`, PUT /api/config).

The schemas say whether a configuration is well formed; these say whether it can run here: each
program is on the PATH the workers get, each script named in a command exists, each Python
function imports and takes `inputs`, `params` and `workdir` (checked in a child interpreter with
the workers' import path, so a module's import-time code cannot touch the loader). Only tasks of
backends that run on this machine (local, python) are checked; `--no-verify` skips all of it for a
configuration meant for other machines.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

from app.backends import python as python_backend
from app.services.catalog_checks import Errors, add_error
from app.services.suggest import did_you_mean

RUNS_HERE = ("local", "python")
# Arguments with these suffixes are scripts: they must exist when the step starts.
SCRIPT_SUFFIXES = (".R", ".r", ".py", ".sh", ".bash", ".pl", ".m", ".jl", ".rb", ".awk", ".sed", ".js", ".lua")
CHILD_TIMEOUT = 120  # seconds for the child to import every module of one import path
_CHILD = Path(__file__).with_name("verify_child.py")


def check(catalog: dict[str, Any]) -> Errors:
    """Problems that would make steps fail at run time here, by document path."""
    errors: Errors = {}
    backends = {backend["name"]: backend for backend in catalog["backends"]}
    functions: dict[tuple[str, ...], list[tuple[str, str]]] = {}  # import path -> [(document path, ref)]
    for i, task in enumerate(catalog["tasks"]):
        backend = backends.get(task["backend"])
        if backend is None or backend["type"] not in RUNS_HERE:
            continue
        at = f"tasks[{i}]"
        if task["function"] is not None:
            folders = tuple(backend["options"].get("python_path", []))
            functions.setdefault(folders, []).append((f"{at}.function", task["function"]))
        elif task["executable"] is not None:
            _check_command(f"{at}.executable", task, errors)
    for folders, refs in functions.items():
        for path, message in _check_functions(folders, refs):
            add_error(errors, path, message)
    return errors


def worker_path(task: dict[str, Any]) -> str:
    """The PATH a step's program is looked up on: the task's own, else the workers' (this process's)."""
    return task["environment"].get("PATH") or os.environ.get("PATH") or os.defpath


def _check_command(at: str, task: dict[str, Any], errors: Errors) -> None:
    try:
        tokens = shlex.split(task["executable"])
    except ValueError:
        return  # reported by the schema checks
    if not tokens:
        return
    program, *arguments = tokens
    search = worker_path(task)
    if "$" in program:
        pass  # a placeholder: known only when the step runs
    elif "/" in program:
        if not os.path.isfile(program):
            add_error(errors, at, f"program {program} does not exist")
        elif not os.access(program, os.X_OK):
            add_error(errors, at, f"program {program} is not executable (chmod +x)")
    elif shutil.which(program, path=search) is None:
        hint = did_you_mean(program, _programs(search), most=1, cutoff=0.6)
        add_error(errors, at, f"program {program} is not on the workers' PATH ({search})"
                              + (f"; {hint}" if hint else ""))
    for argument in arguments:
        if "$" in argument or argument.startswith("-") or not argument.endswith(SCRIPT_SUFFIXES):
            continue
        if not os.path.isabs(argument):
            add_error(errors, at, f"script {argument} is a relative path, but a step runs in a fresh working "
                                  f"directory: give its full path, or $HERE/{argument} for a file beside the YAML")
        elif not os.path.isfile(argument):
            add_error(errors, at, f"script {argument} does not exist")


def _programs(search: str) -> list[str]:
    """The names of the programs on a PATH (for suggestions)."""
    names: set[str] = set()
    for folder in search.split(os.pathsep):
        try:
            names.update(os.listdir(folder or "."))
        except OSError:
            continue
    return sorted(names)


def _check_functions(folders: tuple[str, ...], refs: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """Import and inspect `module:function`s in a child interpreter with the workers' import path."""
    env = {**os.environ, **python_backend.environment(list(folders))}
    try:
        done = subprocess.run([sys.executable, str(_CHILD), *[ref for _, ref in refs]], env=env,
                              capture_output=True, text=True, timeout=CHILD_TIMEOUT, stdin=subprocess.DEVNULL,
                              check=False)
        found = json.loads(done.stdout.strip().splitlines()[-1])
    except subprocess.TimeoutExpired:
        return [(path, f"importing {ref} took more than {CHILD_TIMEOUT} s") for path, ref in refs]
    except (IndexError, ValueError):
        return [(path, f"could not be checked: the checking interpreter failed ({_last_line(done.stderr)})")
                for path, _ in refs]
    shown = env["PYTHONPATH"]
    return [(path, problem + (f" (import path: {shown})" if "import" in problem else ""))
            for (path, _), problem in zip(refs, found, strict=True) if problem]


def _last_line(text: str) -> str:
    lines = text.strip().splitlines()
    return lines[-1] if lines else "no output"
