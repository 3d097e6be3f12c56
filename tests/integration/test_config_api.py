"""Configuration through HTTP and the CLI: atomic load, identical dumps, admin only."""

from __future__ import annotations

from click.testing import CliRunner
from sqlalchemy import text

from app.cli import main
from app.db import transaction
from app.runtime import example_config
from app.services import catalog


def examples_document() -> str:
    return example_config()


def test_dump_load_dump_is_identical(sessions, load_config, engine):
    load_config(examples_document())
    with sessions() as session:
        first = catalog.dump(session)
    with engine.begin() as connection:
        connection.execute(text("TRUNCATE jobs, tasks, backends CASCADE"))
    load_config(first)
    with sessions() as session:
        assert catalog.dump(session) == first


def test_put_and_get_config_need_an_admin_token(client, sessions):
    from app.services import tokens

    with transaction(sessions) as session:
        user = tokens.create(session, admin=False)
    assert client.get("/api/config").status_code == 401
    assert client.get("/api/config", headers={"Authorization": "Bearer nope"}).status_code == 401
    assert client.get("/api/config", headers={"Authorization": f"Bearer {user}"}).status_code == 403
    assert client.get("/api/submissions", headers={"Authorization": f"Bearer {user}"}).status_code == 403


def test_put_config_is_atomic_and_names_the_path(client, admin_token, load_config, sessions):
    load_config(examples_document())
    with sessions() as session:
        before = catalog.dump(session)
    auth = {"Authorization": f"Bearer {admin_token}"}
    bad = before.replace("type: int", "type: integer", 1)
    response = client.put("/api/config", data=bad, headers=auth)
    assert response.status_code == 400
    assert any(".type" in path and path.startswith("tasks[") for path in response.json["errors"])
    with sessions() as session:
        assert catalog.dump(session) == before
    response = client.put("/api/config", data="version: 1\nbackends: [\n", headers=auth)
    assert response.status_code == 400
    response = client.put("/api/config", data=b"\xff\xfe\x00", headers=auth)
    assert response.status_code == 400
    good = "version: 1\nbackends: [{name: local, type: local}]\ntasks: []\njobs: []\n"
    response = client.put("/api/config", data=good, headers=auth)
    assert response.status_code == 200
    assert client.get("/api/jobs").json == []


def test_deleting_a_job_keeps_its_submissions_readable(client, admin_token, load_config, sessions):
    load_config(examples_document())
    created = client.post("/api/submissions", json={"job": "count_words", "inputs": {"input_data": "a b"}})
    assert created.status_code == 201
    auth = {"Authorization": f"Bearer {admin_token}"}
    refused = client.put("/api/config", data="version: 1\n", headers=auth)
    assert refused.status_code == 400 and "clear" in refused.json["message"]
    assert client.put("/api/config?clear=true", data="version: 1\n", headers=auth).status_code == 200
    response = client.get(f"/api/submissions/{created.json['id']}")
    assert response.status_code == 200
    assert response.json["job"] == "count_words"  # the job is gone; its name is kept
    listed = client.get("/api/submissions", headers=auth)
    assert listed.status_code == 200 and len(listed.json) == 1


def test_cli_config_check_load_dump_and_token(database_url, sessions, tmp_path, monkeypatch):
    monkeypatch.setenv("DATABASE_URL", database_url)
    runner = CliRunner()
    path = tmp_path / "config.yaml"
    path.write_text(examples_document())
    # --no-verify: the examples name Rscript and octave-cli, which this machine may lack
    assert runner.invoke(main, ["config", "check", "--no-verify", str(path)]).exit_code == 0
    bad = tmp_path / "bad.yaml"
    bad.write_text("version: 1\ntasks: [{name: x, backend: nowhere, executable: 'wc > out'}]\n")
    result = runner.invoke(main, ["config", "check", str(bad)])
    assert result.exit_code == 1 and "tasks[0]" in result.output and "Traceback" not in result.output
    assert runner.invoke(main, ["config", "load", "--no-verify", str(path)]).exit_code == 0
    dumped = runner.invoke(main, ["config", "dump"])
    assert dumped.exit_code == 0 and "count_words" in dumped.output
    token = runner.invoke(main, ["token", "create", "--admin"])
    assert token.exit_code == 0 and token.output.startswith("aa_")
    with sessions() as session:
        stored = session.execute(text("SELECT token_hash FROM api_tokens")).scalar()
    assert token.output.strip() not in stored and "count_words" not in stored


def test_openapi_docs_and_health(client, load_config):
    spec = client.get("/api/openapi.json")
    assert spec.status_code == 200
    assert "/api/submissions/{submission_id}/results/{result_id}" in spec.json["paths"]
    docs = client.get("/api/docs")
    assert docs.status_code == 200 and b"/api/docs/assets/swagger-ui-bundle.js" in docs.data
    assert b"cdn" not in docs.data.lower()
    assert client.get("/api/docs/assets/swagger-ui-bundle.js").status_code == 200
    health = client.get("/api/health")
    assert health.status_code == 200
    assert health.json["migrations_current"] is True and health.json["database"] is True
