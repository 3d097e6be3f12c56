"""`module:function` validators, kept out of the web process (SPEC §10, issue 13).

A configuration names the modules its validators may come from (`validator_modules:`); any other
`module:function` is refused when it is loaded, before anything is imported. Declared validators
are imported and called only in a child interpreter with a memory and CPU-time limit, a wall-clock
timeout and the minimal step environment (no settings, no secrets): a slow, leaking, crashing or
malicious validator costs one child, never a web worker. A rejection (a falsy return or an
exception) is the client's 400; a validator that broke (killed, out of memory or time, unreadable
answer) is a 503 from `ValidatorBroken`.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import signal
import subprocess
import sys
import tempfile
from collections.abc import Iterable
from pathlib import Path

from app.errors import ValidationFailed, ValidatorBroken
from app.services import validator_child
from app.services.step_env import step_environment

log = logging.getLogger(__name__)

REFERENCE = re.compile(r"([A-Za-z_]\w*(?:\.[A-Za-z_]\w*)*):([A-Za-z_]\w*(?:\.[A-Za-z_]\w*)*)\Z", re.ASCII)
TIMEOUT_SECONDS = 20
MEMORY_MB = 1024
CHECK_TIMEOUT_SECONDS = 60


def is_reference(name: str) -> bool:
    """Whether `name` has the form `module.path:function`."""
    return REFERENCE.match(name) is not None


def declared(name: str, modules: Iterable[str]) -> bool:
    """Whether the reference's module is one of `modules` or inside one of them (a package)."""
    module = name.partition(":")[0]
    return any(module == allowed or module.startswith(allowed + ".") for allowed in modules)


def problems(refs: Iterable[str], modules: Iterable[str]) -> dict[str, str]:
    """Why each unusable reference cannot be used: undeclared (nothing imported), or not importable
    or callable (found out in a sandboxed child)."""
    modules = list(modules)
    refs = list(dict.fromkeys(refs))
    found = {ref: f"its module {ref.partition(':')[0]} is not declared in validator_modules"
             for ref in refs if not declared(ref, modules)}
    importable = [ref for ref in refs if ref not in found]
    if importable:
        answer = _child(["check", *importable], b"", timeout=CHECK_TIMEOUT_SECONDS)
        if not isinstance(answer, dict):
            raise ValidatorBroken("The validators could not be checked")
        found.update({str(k): str(v) for k, v in answer.items()})
    return found


def catalog_problems(jobs: list[dict | None], modules: list[str]) -> dict[str, list[str]]:
    """Errors by document path for the `module:function` validators of `jobs` (those of the jobs and
    of their inputs) that `problems` refuses."""
    places = [(f"jobs[{i}].validators", job["validators"]) for i, job in enumerate(jobs) if job is not None]
    places += [(f"jobs[{i}].inputs[{k}].validators", item["validators"] or [])
               for i, job in enumerate(jobs) if job is not None for k, item in enumerate(job["inputs"] or [])]
    refs = [name for _, names in places for name in names if is_reference(name)]
    if not refs:
        return {}
    found = problems(refs, modules)
    errors: dict[str, list[str]] = {}
    for path, names in places:
        for name in names:
            if name in found:
                errors.setdefault(path, []).append(f"validator {name}: {found[name]}")
    return errors


def validate(name: str, data: bytes) -> None:
    """Run the validator `name` on `data` in a child: ValidationFailed if it rejects the data,
    ValidatorBroken if it could not give an answer."""
    answer = _child(["run", name], data, timeout=TIMEOUT_SECONDS)
    if not isinstance(answer, dict) or not ("ok" in answer or "rejected" in answer):
        raise ValidatorBroken(f"The input validator {name} failed; try again later")
    if "rejected" in answer:
        detail = str(answer["rejected"])
        if answer.get("own"):
            raise ValidationFailed(detail)
        raise ValidationFailed(f"input rejected by validator {name!r}" + (f": {detail}" if detail else ""))


def _child(args: list[str], data: bytes, *, timeout: float) -> object:
    """The JSON a validator child answered with, or ValidatorBroken."""
    argv = [sys.executable, validator_child.__file__, args[0], str(MEMORY_MB), str(int(timeout)), *args[1:]]
    with tempfile.TemporaryDirectory(prefix="aa-validator-") as workdir:
        paths = [os.getcwd(), *sys.path[1:]]
        env = step_environment(Path(workdir), backend={"PYTHONPATH": os.pathsep.join(p for p in paths if p),
                                                       "OPENBLAS_NUM_THREADS": "1"})
        child = subprocess.Popen(  # noqa: S603 - argv list, no shell
            argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=workdir, env=env,
            start_new_session=True,
        )
        try:
            out, err = child.communicate(data, timeout=timeout)
        except subprocess.TimeoutExpired:
            _kill(child)
            log.warning("validator %s ran out of time (%s s)", args[1:], timeout)
            raise ValidatorBroken("An input validator took too long; try again later") from None
        finally:
            _kill(child)
    if child.returncode != 0:
        log.warning("validator %s broke (exit status %s): %s", args[1:], child.returncode,
                    err.decode(errors="replace")[-2000:])
        raise ValidatorBroken("An input validator failed; try again later")
    try:
        return json.loads(out)
    except ValueError:
        raise ValidatorBroken("An input validator gave no answer; try again later") from None


def _kill(child: subprocess.Popen) -> None:
    """The child's whole process group, whatever it started."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(child.pid, signal.SIGKILL)
    child.wait()
