"""The environment a step's program gets (SPEC §4.3): minimal, documented, and free of secrets.

Nothing of the worker's own environment is passed on but the search path, the locale and the time
zone: the service's settings (`DATABASE_URL`, `AA_*`), libpq's (`PG*`) and whatever else the
operator's shell held stay in the worker. HOME and TMPDIR are the step's working directory, so a
program that writes dot-files or temporary files writes them where they are removed with it.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

DEFAULT_PATH = "/usr/local/bin:/usr/bin:/bin"
DEFAULT_LANG = "C.UTF-8"
# Passed on from the worker when it has them: where programs are found, and how text and time read.
INHERITED = ("PATH", "LANG", "LANGUAGE", "TZ")
INHERITED_PREFIX = "LC_"


def step_environment(
    workdir: Path, *, backend: Mapping[str, str] | None = None, task: Mapping[str, str] | None = None,
    inherited: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """PATH, locale and TZ from `inherited` (the worker's environment), HOME and TMPDIR in
    `workdir`, then the backend's additions, then the task's `environment` (the task wins)."""
    source = os.environ if inherited is None else inherited
    env = {name: source[name] for name in INHERITED if source.get(name)}
    env.update((name, value) for name, value in source.items() if name.startswith(INHERITED_PREFIX))
    env.setdefault("PATH", DEFAULT_PATH)
    if "LANG" not in env and "LC_ALL" not in env:
        env["LANG"] = DEFAULT_LANG
    env["HOME"] = env["TMPDIR"] = str(workdir)
    env.update(backend or {})
    env.update(task or {})
    return env
