"""Pooled connections: one the server has closed is replaced at checkout, not handed out."""

from __future__ import annotations

import time

from sqlalchemy import text

from app.db import make_engine
from tests.descriptors import many_descriptors


def _backend_pid(engine) -> int:
    with engine.connect() as connection:
        return connection.execute(text("SELECT pg_backend_pid()")).scalar_one()


def test_a_connection_the_server_closed_is_replaced_at_checkout(database_url, engine):
    pooled = make_engine(database_url, pool_size=1, max_overflow=0)
    try:
        first = _backend_pid(pooled)
        assert _backend_pid(pooled) == first  # the pool hands out the same connection again
        with engine.connect() as admin:
            assert admin.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": first}).scalar_one()
        time.sleep(0.2)  # the server's goodbye reaches the idle connection's socket
        second = _backend_pid(pooled)  # no error: the dead connection was refused and replaced
        assert second != first
    finally:
        pooled.dispose()


def test_checkout_works_with_more_descriptors_than_select_takes(database_url):
    with many_descriptors():
        pooled = make_engine(database_url, pool_size=1, max_overflow=0)
        try:
            first = _backend_pid(pooled)
            assert _backend_pid(pooled) == first
        finally:
            pooled.dispose()
