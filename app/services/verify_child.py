"""Run in a child interpreter by app.services.verify: import each `module:function` and inspect it.

Prints one JSON list: for each reference, "" when it is usable, else what is wrong. Imports
nothing of the `app` package, so the child's import path is exactly the workers'.
"""

from __future__ import annotations

import difflib
import importlib
import inspect
import io
import json
import sys
from contextlib import redirect_stdout

KEYWORDS = ("inputs", "params", "workdir")


def problem(ref: str) -> str:
    """What stops `ref` from being called as function(inputs=..., params=..., workdir=...), or ""."""
    module_name, _, attribute = ref.partition(":")
    try:
        target = importlib.import_module(module_name)
    except BaseException as exc:  # noqa: BLE001 - any failure at import is the answer
        return f"module {module_name} cannot be imported: {type(exc).__name__}: {exc}"
    parts = attribute.split(".")
    for n, part in enumerate(parts):
        if not hasattr(target, part):
            owner = module_name if n == 0 else f"{module_name}:{'.'.join(parts[:n])}"
            names = [name for name in dir(target) if not name.startswith("_")]
            close = difflib.get_close_matches(part, names, n=1)
            return f"{owner} has no {part}" + (f"; did you mean {close[0]}?" if close else "")
        target = getattr(target, part)
    if not callable(target):
        return f"{ref} is not callable"
    try:
        signature = inspect.signature(target)
    except (TypeError, ValueError):
        return ""  # a builtin without a signature: trust it
    try:
        signature.bind(**{name: None for name in KEYWORDS})
    except TypeError:
        return (f"{ref} must accept the keyword arguments inputs, params and workdir "
                f"(def {attribute.split('.')[-1]}(inputs, params, workdir)); its signature is {signature}")
    return ""


def main(refs: list[str]) -> None:
    with redirect_stdout(io.StringIO()):  # a module that prints at import must not garble the answer
        found = [problem(ref) for ref in refs]
    print(json.dumps(found))


if __name__ == "__main__":
    del sys.path[0]  # this file's folder, which is not the user's: their modules come by PYTHONPATH
    main(sys.argv[1:])
