"""Issue 13's smaller items over the API: Allow on 405, one charset, no silent wipe of the catalog."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import text

from tests.integration.test_submissions_api import CONFIG


@pytest.fixture
def configured(load_config):
    load_config(CONFIG)


@pytest.mark.parametrize(("method", "path", "allowed"), [
    ("put", "/api/jobs", {"GET", "HEAD", "OPTIONS"}),
    ("delete", "/api/health", {"GET", "HEAD", "OPTIONS"}),
    ("patch", "/api/submissions", {"GET", "HEAD", "OPTIONS", "POST"}),
    ("post", "/api/config", {"GET", "HEAD", "OPTIONS", "PUT"}),
])
def test_405_says_what_is_allowed(client, configured, method, path, allowed):
    response = getattr(client, method)(path)
    assert response.status_code == 405
    assert set(response.headers["Allow"].replace(" ", "").split(",")) == allowed
    assert response.json["code"] == 405


@pytest.mark.parametrize(("name", "media_type"), [("r.txt", "text/plain"), ("r.count", "text/plain; charset=utf-8"),
                                                  ("r.csv", "text/csv"), ("r.json", "application/json")])
def test_text_results_have_one_charset(client, configured, sessions, name, media_type):
    created = client.post("/api/submissions", data=json.dumps(
        {"job": "count", "params": {"count_label": "a.txt"}, "inputs": {"input_data": "x"}}),
        content_type="application/json")
    with sessions.begin() as session:
        session.execute(text("INSERT INTO blobs (sha256, size, data) VALUES (repeat('b', 64), 3, 'é!')"))
        result_id = session.execute(text(
            "INSERT INTO results (submission_id, step_id, step_name, name, sha256, size, media_type) "
            "SELECT submission_id, id, name, :name, repeat('b', 64), 3, :media_type FROM steps RETURNING id"),
            {"name": name, "media_type": media_type}).scalar_one()
    response = client.get(f"/api/submissions/{created.json['id']}/results/{result_id}")
    assert response.status_code == 200
    content_type = response.headers["Content-Type"]
    assert content_type.lower().count("charset") == (1 if content_type.startswith("text/") else 0), content_type


@pytest.mark.parametrize("document", [b"", b"null", b"~", b"version: 1\n", b"---\n...\n", b"backends: []\njobs: null\n"])
def test_an_empty_configuration_is_refused_unless_clearing_is_asked(client, configured, admin_token, document):
    auth = {"Authorization": f"Bearer {admin_token}"}
    before = client.get("/api/config", headers=auth).get_data()
    refused = client.put("/api/config", data=document, headers=auth)
    assert refused.status_code == 400
    assert "clear=true" in refused.json["message"]
    assert client.get("/api/config", headers=auth).get_data() == before
    cleared = client.put("/api/config?clear=true", data=document, headers=auth)
    assert cleared.status_code == 200
    assert client.get("/api/jobs").json == []
