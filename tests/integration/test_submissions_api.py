"""POST /api/submissions validates everything before storing anything."""

from __future__ import annotations

import base64
import io
import json

import pytest
from sqlalchemy import text

CONFIG = """
version: 1
validator_modules: [tests.integration]
backends: [{name: local, type: local}]
tasks:
  - name: count
    backend: local
    executable: "wc $P $I1"
    in_globs: [".txt"]
    out_globs: [".count"]
    stdout_glob: ".count"
    parameters:
      - {name: lines, flag: "-l", type: bool, default: false}
      - {name: width, flag: "-w", type: int, default: 3, min: 1, max: 10}
      - {name: label, type: string, pattern: "[a-z_ ]+\\\\.txt"}
      - {name: mode, type: choice, choices: [fast, slow], default: fast}
      - {name: scale, type: float, default: 1.5}
  - {name: image, backend: local, executable: "true", in_globs: [".png"]}
jobs:
  - {name: count, validators: [text], steps: [{task: count}]}
  - {name: hidden, runnable: false, steps: [{task: count}]}
  - {name: picture, validators: [png], steps: [{task: image}]}
  - name: checked
    validators: ["tests.integration.test_submissions_api:exploding_validator"]
    steps: [{task: image}]
"""


def exploding_validator(data: bytes) -> bool:
    raise RuntimeError("boom")


def stored(sessions) -> tuple[int, int, int]:
    with sessions() as session:
        return tuple(session.execute(text(
            "SELECT (SELECT count(*) FROM submissions), (SELECT count(*) FROM steps), "
            "(SELECT count(*) FROM procrastinate_jobs)")).one())


@pytest.fixture
def configured(load_config):
    load_config(CONFIG)


def post_json(client, body):
    return client.post("/api/submissions", data=json.dumps(body), content_type="application/json")


def test_json_submission_is_stored_with_typed_defaults(client, configured, sessions):
    response = post_json(client, {"job": "count", "params": {"count_label": "my file.txt", "count_width": "-5"},
                                  "inputs": {"input_data": {"content": "a b"}}})
    assert response.status_code == 400
    assert response.json["errors"] == {"count_width": ["must be at least 1"]}
    response = post_json(client, {"job": "count", "params": {"count_label": "my file.txt", "count_scale": "1e-3"},
                                  "inputs": {"input_data": {"content": "a b"}}})
    assert response.status_code == 201, response.json
    assert response.headers["Location"].endswith(response.json["id"])
    assert response.json["state"] == "Submitted"
    assert response.json["steps"][0]["state"] == "Queued"
    with sessions() as session:
        params = session.execute(text("SELECT params FROM steps")).scalar()
    assert params == {"lines": False, "width": 3, "label": "my file.txt", "mode": "fast", "scale": 0.001}


def test_multipart_submission(client, configured):
    response = client.post("/api/submissions", data={
        "job": "count", "count_label": "a_b.txt", "count_lines": "YES",
        "input_data": (io.BytesIO(b"one two"), "notes.txt")}, content_type="multipart/form-data")
    assert response.status_code == 201, response.json


@pytest.mark.parametrize(("body", "status", "field"), [
    ({"job": "nope", "inputs": {"input_data": "x"}}, 400, "job"),
    ({"inputs": {"input_data": "x"}}, 400, "job"),
    ({"job": "count", "params": {"count_label": "a.txt"}}, 400, "input_data"),
    ({"job": "count", "params": {}, "inputs": {"input_data": "x"}}, 400, "count_label"),
    ({"job": "count", "params": {"count_label": "A;rm -rf /"}, "inputs": {"input_data": "x"}}, 400, "count_label"),
    ({"job": "count", "params": {"count_label": "a.txt", "count_mode": "medium"},
      "inputs": {"input_data": "x"}}, 400, "count_mode"),
    ({"job": "count", "params": {"count_label": "a.txt", "bogus": 1}, "inputs": {"input_data": "x"}}, 400, "bogus"),
    ({"job": "count", "params": {"count_label": "a.txt"}, "inputs": {"other": "x", "input_data": "x"}}, 400, "other"),
    ({"job": "count", "params": {"count_label": "a.txt"},
      "inputs": {"input_data": {"content": base64.b64encode(b"\xff\xfe").decode(), "encoding": "base64"}}},
     400, "input_data"),
    ({"job": "count", "params": {"count_label": "a.txt"}, "inputs": {"input_data": {"content": "!!",
      "encoding": "base64"}}}, 400, "input_data"),
    ({"job": "count", "params": {"count_label": "a.txt"}, "inputs": {"input_data": "x"}, "priority": "urgent"},
     400, "priority"),
    ({"job": "picture", "inputs": {"input_data": "not a png"}}, 400, "input_data"),
    ({"job": "checked", "inputs": {"input_data": "x"}}, 400, "input_data"),
    ({"job": "count", "surprise": 1}, 400, "surprise"),
])
def test_bad_submissions_are_4xx_and_store_nothing(client, configured, sessions, body, status, field):
    response = post_json(client, body)
    assert response.status_code == status, response.json
    assert set(response.json) >= {"code", "status", "message"}
    assert field in response.json.get("errors", {}), response.json
    assert stored(sessions) == (0, 0, 0)


@pytest.mark.parametrize("body", [{"job": "co\u0000unt"}, {"job": "count", "name": "a\u0000b",
                                   "params": {"count_label": "a.txt"}, "inputs": {"input_data": "x"}}])
def test_values_the_database_cannot_hold_are_400(client, configured, sessions, body):
    response = post_json(client, body)
    assert response.status_code == 400, response.json
    assert stored(sessions) == (0, 0, 0)


def test_disabled_job_is_403(client, configured, sessions):
    response = post_json(client, {"job": "hidden", "params": {"count_label": "a.txt"}, "inputs": {"input_data": "x"}})
    assert response.status_code == 403
    assert stored(sessions) == (0, 0, 0)


@pytest.mark.parametrize("raw", [b"not json", b"[1,2]", b'"text"', b"\xff\xfe"])
def test_malformed_bodies_are_400(client, configured, raw):
    assert client.post("/api/submissions", data=raw, content_type="application/json").status_code == 400


def test_other_content_types_are_400(client, configured):
    assert client.post("/api/submissions", data=b"job=count", content_type="text/plain").status_code == 400


def test_upload_over_the_limit_is_413(database_url, sessions, load_config):
    from app import create_app

    load_config(CONFIG)
    client = create_app({"database_url": database_url, "max_upload_mb": 1}).test_client()
    response = client.post("/api/submissions", data={
        "job": "count", "count_label": "a.txt", "input_data": (io.BytesIO(b"a" * (2 * 1024 * 1024)), "big.txt"),
    }, content_type="multipart/form-data")
    assert response.status_code == 413
    assert response.json["code"] == 413
    assert stored(sessions) == (0, 0, 0)


def test_unknown_and_malformed_ids_are_404(client, configured):
    for path in ("/api/submissions/00000000-0000-0000-0000-000000000000", "/api/submissions/not-a-uuid",
                 "/api/submissions/not-a-uuid/results/1", "/api/jobs/nope", "/api/jobs/hidden",
                 "/api/submissions/00000000-0000-0000-0000-000000000000/steps/x/log"):
        response = client.get(path)
        assert response.status_code == 404, path
        assert response.json["status"] == "Not Found"


def test_jobs_listing_describes_inputs_and_parameters(client, configured):
    jobs = {j["name"]: j for j in client.get("/api/jobs").json}
    assert set(jobs) == {"count", "picture", "checked"}
    params = {p["alias"]: p for p in jobs["count"]["parameters"]}
    assert params["count_width"] == {**params["count_width"], "type": "int", "default": 3, "min": 1, "max": 10,
                                     "required": False}
    assert params["count_label"]["required"] is True
    assert jobs["count"]["inputs"] == [{"name": "input_data", "glob": ".txt", "validators": ["text"],
                                        "required": True}]
    detail = client.get("/api/jobs/count").json
    assert detail["dag"] == {"roots": ["count"], "children": {"count": []}}


def test_jobs_on_cluster_backends_are_queued_for_their_backend(client, load_config, sessions):
    load_config("""
version: 1
backends: [{name: cluster, type: slurm, options: {partition: short}}]
tasks: [{name: big, backend: cluster, executable: "true"}]
jobs: [{name: big, inputs: [], steps: [{task: big}]}]
""")
    response = post_json(client, {"job": "big"})
    assert response.status_code == 201, response.json
    with sessions() as session:
        queues = session.execute(text("SELECT queue_name FROM procrastinate_jobs")).scalars().all()
    assert queues == ["cluster"]


def test_quotas_lower_priority_then_refuse(database_url, load_config, sessions):
    from app import create_app

    load_config(CONFIG)
    client = create_app({"database_url": database_url, "soft_limit": 1, "hard_limit": 2}).test_client()
    body = {"job": "count", "params": {"count_label": "a.txt"}, "inputs": {"input_data": "x"}, "priority": "high"}
    first, second, third = (post_json(client, body) for _ in range(3))
    assert (first.status_code, second.status_code, third.status_code) == (201, 201, 429)
    assert (first.json["priority"], second.json["priority"]) == ("high", "low")
    assert int(third.headers["Retry-After"]) > 0
    assert stored(sessions)[0] == 2


def test_required_api_key_scopes_submissions_to_their_token(database_url, load_config, sessions):
    from app import create_app
    from app.db import transaction
    from app.services import tokens

    load_config(CONFIG)
    with transaction(sessions) as session:
        mine, theirs = tokens.create(session), tokens.create(session)
    client = create_app({"database_url": database_url, "require_api_key": True}).test_client()
    body = json.dumps({"job": "count", "params": {"count_label": "a.txt"}, "inputs": {"input_data": "x"}})
    assert client.post("/api/submissions", data=body, content_type="application/json").status_code == 401
    created = client.post("/api/submissions", data=body, content_type="application/json",
                          headers={"Authorization": f"Bearer {mine}"})
    assert created.status_code == 201
    path = f"/api/submissions/{created.json['id']}"
    assert client.get(path).status_code == 404
    assert client.get(path, headers={"Authorization": f"Bearer {theirs}"}).status_code == 404
    assert client.get(path, headers={"Authorization": f"Bearer {mine}"}).status_code == 200
