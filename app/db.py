"""Engine and sessions. Nothing connects at import time."""

from __future__ import annotations

import select
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import psycopg
from psycopg.pq import ConnStatus
from psycopg.rows import namedtuple_row
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.orm import Session, sessionmaker


def sqlalchemy_url(url: str) -> str:
    """Normalise a PostgreSQL URL to the psycopg 3 driver."""
    for prefix in ("postgresql+psycopg://", "postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix):]
    return url


def libpq_url(url: str) -> str:
    """The same URL as libpq (psycopg.connect) understands it."""
    return url.replace("postgresql+psycopg://", "postgresql://", 1)


def make_engine(url: str, *, plan_once: bool = False, **kwargs) -> Engine:
    """An engine that survives a database restart: a pooled connection the server has closed
    is replaced when it is checked out (see `_check_alive`). With `plan_once`, its connections
    plan each prepared statement once (see PLAN_ONCE)."""
    kwargs.setdefault("pool_size", 10)
    kwargs.setdefault("max_overflow", 20)
    if plan_once:
        kwargs["connect_args"] = {**kwargs.get("connect_args", {}), "options": PLAN_ONCE}
    engine = create_engine(sqlalchemy_url(url), **kwargs)
    event.listen(engine, "checkout", _check_alive)
    return engine


def _check_alive(dbapi_connection: psycopg.Connection, _record, _proxy) -> None:
    """Refuse a pooled connection that is closed, broken, or has something to read.

    An idle connection (it never LISTENs) has nothing to read unless the server said goodbye:
    a restart or a terminated backend sends an error and closes the socket. Looking costs a
    syscall, where SQLAlchemy's pre-ping costs a round trip on every checkout (a fifth of a POST's
    time here). The pool replaces a refused connection (up to three tries); a connection lost
    without a word (a network cut) fails its first statement instead, and the pool is reset.
    """
    if dbapi_connection.closed or dbapi_connection.pgconn.status != ConnStatus.OK or _readable(dbapi_connection):
        raise DisconnectionError("the server closed this connection")


def _readable(connection: psycopg.Connection) -> bool:
    """Whether the socket has something to read (or is closed), without waiting. poll, not
    select: a busy process may hold more than select's 1,024 descriptors."""
    poller = select.poll()
    poller.register(connection.fileno(), select.POLLIN)
    return bool(poller.poll(0))


def make_sessionmaker(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)


@contextmanager
def transaction(factory: sessionmaker[Session]) -> Iterator[Session]:
    """A session whose work is committed on success and rolled back on error."""
    with factory() as session, session.begin():
        yield session


# --- the hot path: psycopg directly ---------------------------------------------------------------
# A step's life cycle is a few short statements per transaction; SQLAlchemy's session, pool and
# result layers cost more CPU than the statements themselves (about 1 ms a transaction on a 2-core
# machine), so app.queue.dag and app.queue.steps run plain SQL on the psycopg connection.


def driver(session: Session) -> psycopg.Connection:
    """The psycopg connection under a session, in the session's transaction."""
    return session.connection().connection.driver_connection


def run(connection: psycopg.Connection, query: str, params: dict[str, Any] | None = None) -> psycopg.Cursor:
    """Execute `query` (psycopg's %(name)s placeholders); its rows have attribute access."""
    return connection.cursor(row_factory=namedtuple_row).execute(query, params)


# The service's statements are short lookups by key, by design (tests/integration/
# test_query_plans.py). Once psycopg has prepared them (after a few executions on a connection),
# PostgreSQL would still plan some of them afresh on every execution, the statements with a JSON
# document for a parameter above all: with the document's rows in view, a custom plan looks
# cheaper than the generic one. Planning the deferral took 0.3-0.4 ms, more than running it. So
# the connections of the API and of the worker plan each statement once. And never as a scan: a
# generic plan made while a table is nearly empty (a fresh database, before autoanalyze) would
# scan it for the connection's life, however large it grows (the deferral's cost grew with every
# step stored: 0.14 ms at 600 submissions, 0.9 ms at 6,000). Where no index serves, PostgreSQL
# still scans: enable_seqscan only prices scans out of the choice.
PLAN_SETTINGS = {"plan_cache_mode": "force_generic_plan", "enable_seqscan": "off"}
PLAN_ONCE = " ".join(f"-c {name}={value}" for name, value in PLAN_SETTINGS.items())  # libpq's options


class DirectConnection:
    """A connection owned by one thread, for short transactions; reconnected after a failure.

    Its statements are prepared by psycopg after a few executions, as it lives as long as the
    thread, and planned once (see PLAN_ONCE). (psycopg's pipeline mode was tried
    here: it cost 20% more CPU per step than it saved in waiting.)
    """

    def __init__(self, url: str) -> None:
        self.dsn = libpq_url(sqlalchemy_url(url))
        self._connection: psycopg.Connection | None = None

    @contextmanager
    def transaction(self) -> Iterator[psycopg.Connection]:
        """A transaction committed on success and rolled back on error."""
        if self._connection is None or self._connection.closed:
            self._connection = psycopg.connect(self.dsn, autocommit=True, options=PLAN_ONCE)
        try:
            with self._connection.transaction():
                yield self._connection
        except psycopg.OperationalError:
            self.close()
            raise

    def close(self) -> None:
        if self._connection is not None:
            self._connection.close()
            self._connection = None
