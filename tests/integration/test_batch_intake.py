"""Batches on POST /api/submissions (SPEC §6): a JSON array, or one form sent to several jobs
(`job=a,b`), stored in one transaction when every item is valid, else nothing stored and each
refused item answered under its index."""

from __future__ import annotations

import io
import json

import pytest
from sqlalchemy import text

CONFIG = """
version: 1
backends: [{name: local, type: local}]
tasks:
  - name: count
    backend: local
    executable: "wc $P $I1"
    in_globs: [".txt"]
    out_globs: [".count"]
    stdout_glob: ".count"
    parameters:
      - {name: width, flag: "-w", type: int, default: 3, min: 1, max: 10}
  - name: upper
    backend: local
    executable: "tr a-z A-Z"
    in_globs: [".txt"]
    parameters:
      - {name: mode, type: choice, choices: [fast, slow], default: fast}
jobs:
  - {name: count, validators: [text], steps: [{task: count}]}
  - {name: upper, steps: [{task: upper}]}
  - {name: hidden, runnable: false, steps: [{task: count}]}
"""


@pytest.fixture
def configured(load_config):
    load_config(CONFIG)


def stored(sessions) -> tuple[int, int, int]:
    with sessions() as session:
        return tuple(session.execute(text(
            "SELECT (SELECT count(*) FROM submissions), (SELECT count(*) FROM steps), "
            "(SELECT count(*) FROM procrastinate_jobs)")).one())


def post_json(client, body):
    return client.post("/api/submissions", data=json.dumps(body), content_type="application/json")


def item(job="count", text_="one two\n", **extra):
    return {"job": job, "inputs": {"input_data": {"content": text_}}, **extra}


def test_a_json_array_stores_every_submission_and_answers_them_in_order(client, configured, sessions):
    response = post_json(client, [item(name="a"), item("upper", name="b", params={"upper_mode": "slow"}),
                                  item(name="c", params={"count_width": 7})])
    assert response.status_code == 201, response.json
    body = response.json
    assert [s["name"] for s in body] == ["a", "b", "c"]
    assert [s["job"] for s in body] == ["count", "upper", "count"]
    assert all(s["state"] == "Submitted" and s["steps"][0]["state"] == "Queued" for s in body)
    assert stored(sessions) == (3, 3, 3)
    for submission in body:  # each is readable on its own
        assert client.get(f"/api/submissions/{submission['id']}").json["name"] == submission["name"]
    with sessions() as session:
        widths = session.execute(text("SELECT name, params FROM submissions ORDER BY name")).all()
    assert widths[2].params == {"count": {"width": 7}}


def test_one_refused_item_stores_nothing_and_each_refusal_is_answered_by_index(client, configured, sessions):
    response = post_json(client, [
        item(), item("nosuchjob"), item(params={"count_width": 99}), "not an object", {"job": "count"},
    ])
    assert response.status_code == 400
    body = response.json
    assert body["message"] == "4 of 5 submissions were refused; none was stored"
    errors = body["errors"]
    assert set(errors) == {"1", "2", "3", "4"}
    assert errors["1"]["code"] == 400 and errors["1"]["errors"]["job"][0].startswith("unknown job")
    assert "count_width" in errors["2"]["errors"]
    assert errors["3"]["message"] == "The body must be a JSON object"
    assert errors["4"]["status"] == "Bad Request" and errors["4"]["errors"] == {"input_data": ["is required"]}
    assert stored(sessions) == (0, 0, 0)


def test_a_batch_refused_for_one_reason_answers_with_its_status(client, configured, sessions):
    response = post_json(client, [item("hidden"), item("hidden")])
    assert response.status_code == 403
    assert set(response.json["errors"]) == {"0", "1"}
    assert stored(sessions) == (0, 0, 0)


@pytest.mark.parametrize("body", [[], [item()] * 1001])
def test_an_empty_or_oversized_batch_is_refused(client, configured, sessions, body):
    response = post_json(client, body)
    assert response.status_code == 400
    assert stored(sessions) == (0, 0, 0)


def test_one_upload_to_several_jobs_each_taking_the_parameters_it_declares(client, configured, sessions):
    response = client.post("/api/submissions", content_type="multipart/form-data", data={
        "job": "count,upper", "name": "both", "count_width": "5", "upper_mode": "slow",
        "input_data": (io.BytesIO(b"some words\n"), "words.txt")})
    assert response.status_code == 201, response.json
    assert [s["job"] for s in response.json] == ["count", "upper"]
    assert all(s["name"] == "both" for s in response.json)
    with sessions() as session:
        rows = session.execute(text(
            "SELECT s.job_name, s.params, i.sha256 FROM submissions s JOIN submission_inputs i "
            "ON i.submission_id = s.id ORDER BY s.job_name")).all()
    assert [(r.job_name, r.params) for r in rows] == [("count", {"count": {"width": 5}}),
                                                      ("upper", {"upper": {"mode": "slow"}})]
    assert rows[0].sha256 == rows[1].sha256  # the one upload, stored once


def test_several_jobs_refuse_a_parameter_none_declares(client, configured, sessions):
    response = client.post("/api/submissions", content_type="multipart/form-data", data={
        "job": "count,upper", "count_widht": "5", "input_data": (io.BytesIO(b"words\n"), "w.txt")})
    assert response.status_code == 400
    assert response.json["errors"]["0"]["errors"] ["count_widht"][0].startswith("unknown parameter")
    assert response.json["errors"]["1"]["errors"] ["count_widht"][0].startswith("unknown parameter")
    assert stored(sessions) == (0, 0, 0)


def test_the_openapi_document_describes_the_batch(client):
    post = client.get("/api/openapi.json").json["paths"]["/api/submissions"]["post"]
    body = post["requestBody"]["content"]["application/json"]["schema"]
    assert body["oneOf"][1]["type"] == "array"
    answer = post["responses"]["201"]["content"]["application/json"]["schema"]
    assert answer["oneOf"][1]["type"] == "array"
