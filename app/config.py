"""Settings, read once from the environment (`AA_*`, `DATABASE_URL`)."""

from __future__ import annotations

import os
from dataclasses import dataclass, fields, replace
from typing import Any


def _flag(value: str | None) -> bool:
    return (value or "").strip().lower() in {"1", "true", "yes", "on"}


def _int(value: str | None) -> int | None:
    return int(value) if value not in (None, "") else None


@dataclass(frozen=True)
class Settings:
    """Everything the service can be told from outside its code."""

    database_url: str | None = None
    max_upload_mb: int = 100
    keep_workdirs: bool = False
    work_root: str | None = None
    heartbeat_seconds: float = 2.0
    stalled_after_seconds: float = 20.0
    poll_seconds: float = 1.0
    kill_grace_seconds: float = 5.0
    retry_backoff_seconds: float = 1.0
    soft_limit: int | None = None
    hard_limit: int | None = None
    require_api_key: bool = False
    log_limit_bytes: int = 1_000_000

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> Settings:
        """Read the settings from the process environment."""
        env = dict(os.environ if env is None else env)
        return cls(
            database_url=env.get("DATABASE_URL") or None,
            max_upload_mb=_int(env.get("AA_MAX_UPLOAD_MB")) or 100,
            keep_workdirs=_flag(env.get("AA_KEEP_WORKDIRS")),
            work_root=env.get("AA_WORK_ROOT") or None,
            heartbeat_seconds=float(env.get("AA_HEARTBEAT_SECONDS") or 2.0),
            stalled_after_seconds=float(env.get("AA_STALLED_AFTER_SECONDS") or 20.0),
            poll_seconds=float(env.get("AA_POLL_SECONDS") or 1.0),
            kill_grace_seconds=float(env.get("AA_KILL_GRACE_SECONDS") or 5.0),
            retry_backoff_seconds=float(env.get("AA_RETRY_BACKOFF_SECONDS") or 1.0),
            soft_limit=_int(env.get("AA_SOFT_LIMIT")),
            hard_limit=_int(env.get("AA_HARD_LIMIT")),
            require_api_key=_flag(env.get("AA_REQUIRE_API_KEY")),
        )

    def override(self, values: dict[str, Any] | None) -> Settings:
        """A copy with the given (lower-case) settings replaced."""
        if not values:
            return self
        unknown = set(values) - {f.name for f in fields(self)}
        if unknown:
            raise ValueError(f"unknown settings: {', '.join(sorted(unknown))}")
        return replace(self, **values)
