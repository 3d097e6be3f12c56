"""Runs in the validator sandbox's child process: import, check, or call `module:function` validators.

Run as a script by its path, importing nothing of the `app` package (a validator module may, at
its own cost). Its memory and CPU time are limited before any validator's module is imported.

    validator_child.py check REF...   -> stdout: JSON {ref: problem} for the unusable ones
    validator_child.py run REF        -> stdin: the data; stdout: JSON {"ok": true} or {"rejected": message}
"""

from __future__ import annotations

import importlib
import json
import os
import resource
import sys


def _limit(memory_mb: int, cpu_seconds: int) -> None:
    memory = memory_mb * 1024 * 1024
    resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
    resource.setrlimit(resource.RLIMIT_CPU, (cpu_seconds, cpu_seconds + 1))


def _target(ref: str) -> object:
    module_name, _, attribute = ref.partition(":")
    target: object = importlib.import_module(module_name)
    for part in attribute.split("."):
        target = getattr(target, part)
    return target


def _check(refs: list[str]) -> dict[str, str]:
    problems = {}
    for ref in refs:
        try:
            target = _target(ref)
        except ImportError as exc:
            problems[ref] = f"cannot import {ref.partition(':')[0]} ({exc})"
        except AttributeError:
            problems[ref] = f"{ref.partition(':')[0]} has no {ref.partition(':')[2]}"
        except Exception as exc:  # noqa: BLE001 - a module that fails to import is as unusable as a missing one
            problems[ref] = f"importing {ref.partition(':')[0]} failed: {type(exc).__name__}: {exc}"[:300]
        else:
            if not callable(target):
                problems[ref] = f"{ref} is not callable"
    return problems


def _first_line(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    return lines[0][:200] if lines else ""


def _run(ref: str, data: bytes) -> dict[str, object]:
    target = _target(ref)
    try:
        result = target(data)
    except BaseException as exc:  # noqa: BLE001 - SystemExit included: a rejection, in the validator's words
        if isinstance(exc, MemoryError):
            raise
        if type(exc).__name__ == "ValidationFailed":  # app.errors.ValidationFailed: its message as it is
            return {"rejected": getattr(exc, "message", str(exc)), "own": True}
        return {"rejected": _first_line(exc)}
    # any falsy non-None result rejects, so numpy.bool_(False) counts like False
    return {"rejected": ""} if result is not None and not result else {"ok": True}


def main(args: list[str]) -> int:
    mode, memory_mb, cpu_seconds, *refs = args
    _limit(int(memory_mb), int(cpu_seconds))
    data = sys.stdin.buffer.read() if mode == "run" else b""
    # The answer goes to the real standard output; whatever the validator prints goes to stderr.
    answer_fd = os.dup(1)
    os.dup2(2, 1)
    answer: object = _check(refs) if mode == "check" else _run(refs[0], data)
    os.write(answer_fd, json.dumps(answer).encode())
    return 0


if __name__ == "__main__":
    del sys.path[0]  # this file's folder, which is not the user's: their modules come by PYTHONPATH
    sys.exit(main(sys.argv[1:]))
