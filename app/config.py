"""Settings, read once from the environment (`AA_*`, `DATABASE_URL`)."""

from __future__ import annotations

import os
from dataclasses import dataclass, fields, replace
from typing import Any


def _flag(value: str | None) -> bool:
    return (value or "").strip().lower() in {"1", "true", "yes", "on"}


def _int(value: str | None) -> int | None:
    return int(value) if value not in (None, "") else None


def _list(value: str | None) -> tuple[str, ...]:
    return tuple(item.strip() for item in (value or "").split(",") if item.strip())


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
    # A task without `timeout:` is killed after a day: far longer than any analysis a web service
    # runs, short enough that a hung program gives its worker's slot back (None: never).
    default_timeout_seconds: float | None = 86400.0
    soft_limit: int | None = None
    hard_limit: int | None = None
    require_api_key: bool = False
    log_limit_bytes: int = 1_000_000
    max_waiters: int = 200  # `?wait=` requests one web process holds at once (503 + Retry-After past it)
    # Running unattended: schedules, notifications, retention, logs, proxies.
    schedule_missed: str = "run"  # a tick missed while everything was down: run (once) | skip
    schedule_grace_seconds: float = 60.0  # a tick this late counts as missed
    smtp_url: str | None = None
    mail_from: str = "analytics-automated@localhost"
    public_url: str = "http://127.0.0.1:8000"  # the links in emails
    callback_secret: str | None = None
    callback_allow: tuple[str, ...] = ()
    notify_attempts: int = 8
    notify_backoff_seconds: float = 2.0
    retention_days: float | None = None
    retention_batch: int = 1000
    retention_every_seconds: float = 600.0
    housekeeping_seconds: float = 1.0
    log_format: str = "text"
    trusted_proxies: tuple[str, ...] = ()
    # Speed (issue 12): Python steps forked from a warm interpreter per worker (off: each starts cold)
    python_warm: bool = True
    # Cluster backends (slurm, gridengine): how often a worker's poller asks the schedulers.
    cluster_poll_seconds: float = 5.0

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
            default_timeout_seconds=float(env.get("AA_DEFAULT_TIMEOUT_SECONDS") or 86400.0) or None,
            soft_limit=_int(env.get("AA_SOFT_LIMIT")),
            hard_limit=_int(env.get("AA_HARD_LIMIT")),
            require_api_key=_flag(env.get("AA_REQUIRE_API_KEY")),
            max_waiters=_int(env.get("AA_MAX_WAITERS")) or 200,
            schedule_missed=(env.get("AA_SCHEDULE_MISSED") or "run").strip().lower(),
            schedule_grace_seconds=float(env.get("AA_SCHEDULE_GRACE_SECONDS") or 60.0),
            smtp_url=env.get("AA_SMTP_URL") or None,
            mail_from=env.get("AA_MAIL_FROM") or "analytics-automated@localhost",
            public_url=(env.get("AA_PUBLIC_URL") or "http://127.0.0.1:8000").rstrip("/"),
            callback_secret=env.get("AA_CALLBACK_SECRET") or None,
            callback_allow=_list(env.get("AA_CALLBACK_ALLOW")),
            notify_attempts=_int(env.get("AA_NOTIFY_ATTEMPTS")) or 8,
            notify_backoff_seconds=float(env.get("AA_NOTIFY_BACKOFF_SECONDS") or 2.0),
            retention_days=float(env["AA_RETENTION_DAYS"]) if env.get("AA_RETENTION_DAYS") else None,
            retention_batch=_int(env.get("AA_RETENTION_BATCH")) or 1000,
            retention_every_seconds=float(env.get("AA_RETENTION_EVERY_SECONDS") or 600.0),
            housekeeping_seconds=float(env.get("AA_HOUSEKEEPING_SECONDS") or 1.0),
            log_format=(env.get("AA_LOG_FORMAT") or "text").strip().lower(),
            trusted_proxies=_list(env.get("AA_TRUSTED_PROXIES")),
            python_warm=_flag(env.get("AA_PYTHON_WARM") or "1"),
            cluster_poll_seconds=float(env.get("AA_CLUSTER_POLL_SECONDS") or 5.0),
        )

    def override(self, values: dict[str, Any] | None) -> Settings:
        """A copy with the given (lower-case) settings replaced."""
        if not values:
            return self
        unknown = set(values) - {f.name for f in fields(self)}
        if unknown:
            raise ValueError(f"unknown settings: {', '.join(sorted(unknown))}")
        return replace(self, **values)
