"""Where a running `aa up` says which database it uses, so a second terminal's `aa config load`
finds it instead of starting a new, empty embedded server."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

import platformdirs


@dataclass(frozen=True)
class Service:
    """A live `aa up`: its process id, database and base URL."""

    pid: int
    database_url: str
    service_url: str


def _folder() -> Path:
    return Path(platformdirs.user_state_dir("analytics-automated")) / "running"


def _record_path(pid: int) -> Path:
    return _folder() / f"{pid}.json"


def record(*, database_url: str, service_url: str) -> None:
    """Say that this process serves `service_url` on `database_url` (readable by this user only)."""
    folder = _folder()
    folder.mkdir(parents=True, exist_ok=True)
    path = _record_path(os.getpid())
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w") as out:
        json.dump({"pid": os.getpid(), "database_url": database_url, "service_url": service_url}, out)


def forget() -> None:
    """Remove this process's record (it stops)."""
    _record_path(os.getpid()).unlink(missing_ok=True)


def services() -> list[Service]:
    """The `aa up` processes alive now; records left by dead ones are removed."""
    found = []
    for path in sorted(_folder().glob("*.json")) if _folder().is_dir() else []:
        try:
            service = Service(**json.loads(path.read_text()))
        except (OSError, ValueError, TypeError):
            continue
        if _alive(service.pid):
            found.append(service)
        else:
            path.unlink(missing_ok=True)
    return found


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
