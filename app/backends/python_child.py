"""Runs in the child process: call the function, store its value, report its exception.

Run as a script by its path, and importing nothing of the `app` package: a child interpreter's
start is most of a Python step's cost, and the package's imports were half of it.
"""

from __future__ import annotations

import importlib
import json
import sys
from pathlib import Path

ERROR_FILE = ".aa/error.json"  # in the working directory; read back by app.backends.python
INLINE = "json:"  # a parameters argument that is the parameters themselves, not their file


def main(args: list[str]) -> int:
    function_ref, params_file, stem, *inputs = args
    try:
        module_name, _, attribute = function_ref.partition(":")
        target = importlib.import_module(module_name)
        for part in attribute.split("."):
            target = getattr(target, part)
        inline = params_file.startswith(INLINE)
        params = json.loads(params_file[len(INLINE):] if inline else Path(params_file).read_text())
        value = target(inputs=[Path(i).resolve() for i in inputs], params=params, workdir=Path.cwd())
        if value is not None:
            Path(f"{stem}.json").write_text(json.dumps(value, allow_nan=False))
    except BaseException as exc:  # noqa: BLE001 - everything, SystemExit included, becomes a step error
        if isinstance(exc, SystemExit) and exc.code in (0, None):
            return 0
        from app.backends.python_traceback import hide_workdir, user_traceback

        sys.stderr.write(user_traceback(exc, child_file=__file__))
        message = hide_workdir(str(exc)) if not isinstance(exc, SystemExit) else f"exit status {exc.code}"
        Path(ERROR_FILE).parent.mkdir(exist_ok=True)
        Path(ERROR_FILE).write_text(json.dumps({"type": type(exc).__name__, "message": message[:1000]}))
        return 1
    return 0


if __name__ == "__main__":
    del sys.path[0]  # this file's folder, which is not the user's: their modules come by PYTHONPATH
    sys.exit(main(sys.argv[1:]))
