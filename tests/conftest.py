"""Shared fixtures. Everything that touches data uses a real PostgreSQL:
TEST_DATABASE_URL when set, else the embedded server in a temporary directory."""

from __future__ import annotations

import os
import tempfile
import uuid
from pathlib import Path

import psycopg
import pytest
from sqlalchemy import text

from app.db import libpq_url, make_engine, make_sessionmaker, sqlalchemy_url

TABLES = (
    "face_requests, results, attempts, submission_inputs, steps, submissions, blobs, api_tokens, jobs, tasks, "
    "backends, config_versions, worker_info, schedules, submission_contacts, notifications, "
    "procrastinate_events, procrastinate_periodic_defers, procrastinate_jobs, procrastinate_workers"
)


@pytest.fixture(scope="session")
def server_url():
    """A PostgreSQL server: the one named by TEST_DATABASE_URL, or an embedded one."""
    url = os.environ.get("TEST_DATABASE_URL")
    if url:
        yield sqlalchemy_url(url)
        return
    from app.embedded import start_embedded

    with tempfile.TemporaryDirectory(prefix="aa-test-pg-") as tmp:
        url, server = start_embedded(Path(tmp) / "pgdata", cleanup="delete")
        yield url
        server.cleanup()


@pytest.fixture(scope="session")
def database_url(server_url):
    """A fresh, migrated database for this test run, dropped at the end."""
    from app import migrate

    name = f"aa_test_{uuid.uuid4().hex[:10]}"
    admin = libpq_url(server_url)
    with psycopg.connect(admin, autocommit=True) as connection:
        connection.execute(f'CREATE DATABASE "{name}"')
    url = _with_database(server_url, name)
    migrate.upgrade(url)
    yield url
    with psycopg.connect(admin, autocommit=True) as connection:
        connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _with_database(url: str, name: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).set(database=name).render_as_string(hide_password=False)


@pytest.fixture(scope="session")
def engine(database_url):
    engine = make_engine(database_url)
    yield engine
    engine.dispose()


@pytest.fixture
def sessions(engine):
    """A session factory on a clean database (every table emptied after the test)."""
    yield make_sessionmaker(engine)
    with engine.begin() as connection:
        connection.execute(text(f"TRUNCATE {TABLES} RESTART IDENTITY CASCADE"))


@pytest.fixture
def app(database_url, sessions):
    from app import create_app

    return create_app({"database_url": database_url, "poll_seconds": 0.5})


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def load_config(sessions):
    """Load a YAML configuration into the database."""
    from app.db import transaction
    from app.services import catalog

    def load(document: str) -> dict:
        with transaction(sessions) as session:
            return catalog.load(session, document)

    return load


@pytest.fixture
def admin_token(sessions):
    from app.db import transaction
    from app.services import tokens

    with transaction(sessions) as session:
        return tokens.create(session, name="test", admin=True)
