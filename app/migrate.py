"""Schema migrations through Alembic, driven from code (no alembic.ini needed)."""

from __future__ import annotations

import functools
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine

MIGRATIONS = Path(__file__).resolve().parent / "migrations"  # inside the package, so a wheel has them


def alembic_config(url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def upgrade(url: str, revision: str = "head") -> None:
    """Bring the database schema up to `revision`."""
    command.upgrade(alembic_config(url), revision)


@functools.cache
def head_revision() -> str | None:
    """The newest revision shipped with this code (read once: the files do not change under us)."""
    return ScriptDirectory.from_config(alembic_config("postgresql://")).get_current_head()


def is_current(engine: Engine) -> bool:
    """Whether the database is at the newest revision."""
    head = head_revision()
    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision() == head
