"""The Python task the `pyfull` measurement runs: it does nothing, so only our overhead is timed."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def noop(inputs: list[Path], params: dict[str, Any], workdir: Path) -> None:
    """Do nothing and return nothing (so the step stores no result file).

    Called as `bench.noop:noop` by the `python` backend, in a child interpreter whose working
    directory is `workdir`, with no inputs and no parameters.
    """
    return None
