"""A body over AA_MAX_UPLOAD_MB gets a 413, and the client's kept-alive connection still works after it."""

from __future__ import annotations

import json

import pytest
import requests

from tests.acceptance.conftest import web_server

OVER_THE_LIMIT = 3 * 1024 * 1024 // 2  # the app below allows 1 MiB (its web server buffers up to 3 MiB)


@pytest.fixture
def small_limit_service(database_url, sessions, monkeypatch):
    monkeypatch.setenv("AA_MAX_UPLOAD_MB", "1")
    with web_server(database_url) as (base, _):
        yield base


def _multipart(session: requests.Session, base: str) -> requests.Response:
    return session.post(f"{base}/api/submissions", data={"job": "count_words"},
                        files={"input_data": ("big.txt", b"x" * OVER_THE_LIMIT)}, timeout=60)


def _json(session: requests.Session, base: str) -> requests.Response:
    body = json.dumps({"job": "count_words", "inputs": {"input_data": {"content": "x" * OVER_THE_LIMIT}}})
    return session.post(f"{base}/api/submissions", data=body, headers={"Content-Type": "application/json"},
                        timeout=60)


def _chunked_json(session: requests.Session, base: str) -> requests.Response:
    body = json.dumps({"job": "count_words", "inputs": {"input_data": {"content": "x" * OVER_THE_LIMIT}}}).encode()
    chunks = (body[i:i + 65536] for i in range(0, len(body), 65536))  # no Content-Length: chunked
    return session.post(f"{base}/api/submissions", data=chunks, headers={"Content-Type": "application/json"},
                        timeout=60)


@pytest.mark.parametrize("send", [_multipart, _json, _chunked_json], ids=["multipart", "json", "chunked"])
def test_413_then_the_same_connection_answers_again(small_limit_service, send):
    with requests.Session() as session:
        refused = send(session, small_limit_service)
        assert refused.status_code == 413, refused.text
        assert refused.json()["code"] == 413
        again = session.get(f"{small_limit_service}/api/health", timeout=30)
        assert again.status_code == 200


def test_an_absurd_body_is_refused_by_the_web_server_and_the_client_can_go_on(small_limit_service):
    with requests.Session() as session:
        refused = session.post(f"{small_limit_service}/api/submissions", data={"job": "count_words"},
                               files={"input_data": ("big.txt", b"x" * (16 * 1024 * 1024))}, timeout=60)
        assert refused.status_code == 413
        assert session.get(f"{small_limit_service}/api/health", timeout=30).status_code == 200


def test_a_chunked_body_under_the_limit_is_read_whole(small_limit_service, api):
    api.put_config("""
version: 1
backends: [{name: local, type: local}]
tasks: [{name: wordcount, backend: local, executable: "wc -w $I1", in_globs: [".txt"], stdout_glob: ".count"}]
jobs: [{name: count_words, steps: [{task: wordcount}]}]
""")
    body = json.dumps({"job": "count_words", "inputs": {"input_data": {"content": "one two " * 50_000}}}).encode()
    chunks = (body[i:i + 65536] for i in range(0, len(body), 65536))
    response = requests.post(f"{small_limit_service}/api/submissions", data=chunks,
                             headers={"Content-Type": "application/json"}, timeout=60)
    assert response.status_code == 201, response.text
