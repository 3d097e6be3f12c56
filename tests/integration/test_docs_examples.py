"""The manual's examples that need a database: its SQL queries, its backup and restore commands, and
its list of HTTP endpoints (every one the OpenAPI document has under /api)."""

from __future__ import annotations

import os
import re
import subprocess
import uuid
from pathlib import Path

import psycopg
from sqlalchemy import text

from app.db import libpq_url
from tests.unit.test_docs import DOCS, blocks

CONFIG = (DOCS / "files.md").read_text().split("```yaml\n")[1].split("```")[0]


def test_every_sql_example_runs(load_config, client, engine):
    load_config(CONFIG)
    assert client.post("/api/submissions", json={"job": "report", "inputs": {"input_data": "a,b\n"}}).status_code == 201
    statements = [s.strip() for _, block in blocks("sql") for s in block.split(";\n") if s.strip()]
    assert len(statements) >= 3
    with engine.connect() as connection:
        for statement in statements:
            connection.execute(text(statement.rstrip(";"))).fetchall()
    with engine.connect() as connection:
        assert connection.execute(text("SELECT count(*) FROM config_versions")).scalar() == 1


def test_every_endpoint_is_in_the_api_page(client):
    documented = (DOCS / "api.md").read_text()
    paths = client.get("/api/openapi.json").json["paths"]
    missing = [f"{method.upper()} {path}" for path, operations in paths.items() if path.startswith("/api/")
               for method in operations if method != "parameters"
               if f"`{method.upper()} {path}" not in documented]
    assert not missing, f"document {missing} in docs/api.md"


def test_the_backup_example_restores_the_database(load_config, database_url, tmp_path):
    load_config(CONFIG)
    [(_, script)] = [(w, b) for w, b in blocks("sh", [DOCS / "operations.md"]) if "pg_dump" in b]
    source = libpq_url(database_url)
    target_name = f"aa_restore_{uuid.uuid4().hex[:10]}"
    admin = re.sub(r"/[^/?]+(\?|$)", r"/postgres\1", source, count=1)
    with psycopg.connect(admin, autocommit=True) as connection:
        connection.execute(f'CREATE DATABASE "{target_name}"')
    target = re.sub(r"/[^/?]+(\?|$)", rf"/{target_name}\1", source, count=1)
    try:
        tools = _server_programs(source)
        env = {**os.environ, "DATABASE_URL": source, "RESTORE_URL": target,
               "PATH": f"{tools}{os.pathsep}{os.environ.get('PATH', '')}"}
        done = subprocess.run(["bash", "-euo", "pipefail", "-c", script], cwd=tmp_path, env=env, capture_output=True,
                              text=True, timeout=300, check=False)
        assert done.returncode == 0, done.stderr
        with psycopg.connect(target) as connection:
            assert connection.execute("SELECT name FROM jobs").fetchall() == [("report",)]
            assert connection.execute("SELECT count(*) FROM config_versions").fetchone() == (1,)
    finally:
        with psycopg.connect(admin, autocommit=True) as connection:
            connection.execute(f'DROP DATABASE IF EXISTS "{target_name}" WITH (FORCE)')


def _server_programs(url: str) -> Path:
    """The folder of the test server's own programs (pg_dump must be of its version or newer): found
    from the executable of the backend serving this connection (the server runs on this machine)."""
    with psycopg.connect(url) as connection:  # read while the backend lives: it exits with the connection
        pid = connection.execute("SELECT pg_backend_pid()").fetchone()[0]
        return Path(os.readlink(f"/proc/{pid}/exe")).parent
