"""Malformed and hostile requests get a 4xx in the usual error shape, never a 500 (SPEC §10).

Each case below once answered 500; the error mapping catches their classes of error (bad Unicode,
nesting too deep, numbers too large, malformed multipart, unsafe header values) at the boundary.
"""

from __future__ import annotations

import json

import pytest
from sqlalchemy import text

from tests.integration.test_submissions_api import CONFIG, stored

GOOD = {"job": "count", "params": {"count_label": "a.txt"}, "inputs": {"input_data": {"content": "x"}}}


@pytest.fixture
def configured(load_config):
    load_config(CONFIG)


def post_raw(client, raw: bytes | str, content_type: str = "application/json"):
    return client.post("/api/submissions", data=raw, content_type=content_type)


def assert_4xx(response, status: int = 400) -> None:
    assert response.status_code == status, response.get_data(as_text=True)[:500]
    assert set(response.json) >= {"code", "status", "message"}
    assert response.json["code"] == status


# A JSON escape for a lone surrogate decodes to a str that no UTF-8 encoder accepts.
@pytest.mark.parametrize("raw", [
    '{"job": "\\udcff"}',
    json.dumps({**GOOD, "name": "PLACEHOLDER"}).replace("PLACEHOLDER", "a\\udcffb"),
    json.dumps({**GOOD, "inputs": {"input_data": {"content": "x", "filename": "PLACEHOLDER"}}}).replace(
        "PLACEHOLDER", "\\ud800.txt"),
    json.dumps({**GOOD, "inputs": {"input_data": {"content": "PLACEHOLDER"}}}).replace("PLACEHOLDER", "\\udcff"),
    json.dumps({**GOOD, "params": {"count_label": "PLACEHOLDER"}}).replace("PLACEHOLDER", "\\udcff.txt"),
    '{"job": "count", "params": {"\\udcff": 1}}',
])
def test_lone_surrogates_are_400(client, configured, sessions, raw):
    assert_4xx(post_raw(client, raw))
    assert stored(sessions) == (0, 0, 0)


@pytest.mark.parametrize("depth", [1_000, 100_000])
def test_json_nested_very_deep_is_400(client, configured, sessions, depth):
    assert_4xx(post_raw(client, "[" * depth + "]" * depth))
    assert_4xx(post_raw(client, '{"job": "count", "params": ' + '{"a": ' * depth + "1" + "}" * depth + "}"))
    assert stored(sessions) == (0, 0, 0)


@pytest.mark.parametrize("value", ["1" + "0" * 400, "-1" + "0" * 400, "1e400"])
def test_a_float_too_large_for_a_double_is_400(client, configured, sessions, value):
    raw = json.dumps({**GOOD, "params": {"count_label": "a.txt", "count_scale": "X"}}).replace('"X"', value)
    response = post_raw(client, raw)
    assert_4xx(response)
    assert "count_scale" in response.json.get("errors", {}) or "number" in response.json["message"]
    form = {"job": "count", "count_label": "a.txt", "count_scale": value}
    assert_4xx(client.post("/api/submissions", data=form, content_type="multipart/form-data"))
    assert stored(sessions) == (0, 0, 0)


def _multipart(*parts: bytes, boundary: str = "xyz") -> bytes:
    return b"".join(b"--" + boundary.encode() + b"\r\n" + part + b"\r\n" for part in parts) + b"--xyz--\r\n"


@pytest.mark.parametrize("part", [
    b'Content-Disposition: form-data\r\n\r\nvalue',                       # no name
    b'Content-Disposition: form-data; name="unterminated\r\n\r\nvalue',   # unterminated name
    b'Content-Disposition: form-data; name=\r\n\r\nvalue',                # empty name
    b'Content-Disposition: form-data; name="input_data"; filename="a\xed\xb3\xbf.txt"\r\n\r\nx',  # surrogate bytes
    b'Content-Disposition: form-data; name="\xff\xfe"\r\n\r\nvalue',      # not UTF-8
    b'Content-Disposition: form-data; name="input_data"; filename="\r\n\r\nx',  # unterminated filename
    b'garbage without headers',
])
def test_malformed_multipart_parts_are_4xx(client, configured, sessions, part):
    body = _multipart(b'Content-Disposition: form-data; name="job"\r\n\r\ncount', part,
                      b'Content-Disposition: form-data; name="surprise"\r\n\r\nunknown field')
    response = post_raw(client, body, "multipart/form-data; boundary=xyz")
    assert 400 <= response.status_code < 500, response.get_data(as_text=True)[:500]
    assert stored(sessions) == (0, 0, 0)


def test_truncated_and_boundaryless_multipart_is_400(client, configured, sessions):
    assert_4xx(post_raw(client, b"--xyz\r\nContent-Disposition: form-data; name=\"job\"\r\n\r\ncou",
                        "multipart/form-data; boundary=xyz"))
    assert_4xx(post_raw(client, b"anything", "multipart/form-data"))
    assert stored(sessions) == (0, 0, 0)


def test_a_result_whose_name_has_a_newline_downloads(client, configured, sessions):
    created = post_raw(client, json.dumps(GOOD))
    assert created.status_code == 201, created.json
    with sessions.begin() as session:
        session.execute(text("INSERT INTO blobs (sha256, size, data) VALUES (repeat('a', 64), 2, 'ok')"))
        result_id = session.execute(text(
            "INSERT INTO results (submission_id, step_id, step_name, name, sha256, size, media_type) "
            "SELECT submission_id, id, name, E'evil\\r\\nSet-Cookie: x=1\\n.txt', repeat('a', 64), 2, 'text/plain' "
            "FROM steps RETURNING id")).scalar_one()
    response = client.get(f"/api/submissions/{created.json['id']}/results/{result_id}")
    assert response.status_code == 200
    assert response.data == b"ok"
    assert "Set-Cookie" not in response.headers
    assert "\n" not in response.headers["Content-Disposition"]


@pytest.mark.parametrize("header", [{"Authorization": "Bearer \udcff"}, {"Authorization": "Bearer " + "a" * 100_000}])
def test_strange_tokens_are_401(client, configured, header):
    assert_4xx(client.get("/api/config", headers={k: v.encode("utf-8", "surrogateescape").decode("latin-1")
                                                  for k, v in header.items()}), 401)


@pytest.mark.parametrize("document", ['tasks: [{name: "\\udcff", backend: x}]', "[" * 100_000,
                                      "version: 1" + "0" * 400])
def test_hostile_configurations_are_400(client, configured, admin_token, document):
    response = client.put("/api/config", data=document.encode(), headers={"Authorization": f"Bearer {admin_token}"})
    assert_4xx(response)


@pytest.mark.parametrize("path", ["/api/submissions/%ED%B3%BF", "/api/jobs/%ff%fe", "/api/submissions?page=1" + "0" * 400,
                                  "/api/submissions?since=%ED%B3%BF", "/api/submissions?job=%00"])
def test_hostile_query_strings_and_paths_are_4xx(client, configured, admin_token, path):
    response = client.get(path, headers={"Authorization": f"Bearer {admin_token}"})
    assert 400 <= response.status_code < 500, response.get_data(as_text=True)[:300]


@pytest.mark.parametrize("wait", ["1e400", "nan", "-1", "61"])
def test_hostile_waits_are_4xx(client, configured, sessions, wait):
    response = client.post(f"/api/submissions?wait={wait}", data=json.dumps(GOOD), content_type="application/json")
    assert 400 <= response.status_code < 500, response.get_data(as_text=True)[:300]
    assert stored(sessions) == (0, 0, 0)
