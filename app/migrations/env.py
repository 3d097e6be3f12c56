"""Alembic environment: the URL comes from the caller (app.migrate), the metadata from app.models."""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine, pool

from app.db import sqlalchemy_url
from app.models import Base

config = context.config
target_metadata = Base.metadata


def include_object(obj, name, type_, reflected, compare_to) -> bool:
    """Procrastinate's own objects are managed from the SQL it ships, not by autogenerate."""
    return not (name or "").startswith(("procrastinate_", "idx_procrastinate_"))


def run_migrations_offline() -> None:
    context.configure(url=sqlalchemy_url(config.get_main_option("sqlalchemy.url")),
                      target_metadata=target_metadata, literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    engine = create_engine(sqlalchemy_url(config.get_main_option("sqlalchemy.url")), poolclass=pool.NullPool)
    with engine.connect() as connection:
        _run(connection)


def _run(connection) -> None:
    context.configure(connection=connection, target_metadata=target_metadata, include_object=include_object)
    with context.begin_transaction():
        # Several processes may start at once (aa up, tests): migrate one at a time.
        connection.exec_driver_sql("SELECT pg_advisory_xact_lock(74201)")
        context.run_migrations()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
