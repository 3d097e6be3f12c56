"""Hostile bodies, generated: JSON with lone surrogates, deep nesting and huge numbers; multipart
bodies cut and corrupted anywhere; configurations mutated line by line; odd query strings. No
case may get a 5xx (SPEC §10). The cases per category are counted and printed."""

from __future__ import annotations

import json
from collections import Counter

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.runtime import example_config

EXAMPLES = 300
_TEXT = st.text(st.characters(codec=None, categories=None), max_size=40)  # surrogates included
_NUMBER = st.one_of(st.integers(), st.integers(min_value=10**300, max_value=10**420), st.floats(allow_nan=True))
_SCALAR = st.one_of(st.none(), st.booleans(), _NUMBER, _TEXT)
_VALUE = st.recursive(_SCALAR, lambda inner: st.one_of(st.lists(inner, max_size=4),
                                                       st.dictionaries(_TEXT, inner, max_size=4)), max_leaves=20)
_JOBS = st.sampled_from(["count_words", "first_lines", "text_report", "describe_csv", "nope"])


@st.composite
def _submission_json(draw) -> str:
    body = {"job": draw(st.one_of(_JOBS, _VALUE)), "params": draw(st.one_of(
        st.dictionaries(st.sampled_from(["head_lines_lines", "x", ""]), _VALUE, max_size=3), _VALUE)),
        "inputs": draw(st.one_of(st.fixed_dictionaries({"input_data": st.one_of(
            _TEXT, _VALUE, st.fixed_dictionaries({"content": _TEXT, "encoding": st.sampled_from(["utf-8", "base64", "x"]),
                                                  "filename": _TEXT}))}), _VALUE))}
    extra = draw(st.dictionaries(st.sampled_from(["name", "priority", "cache", "surprise"]), _VALUE, max_size=2))
    text = json.dumps({**body, **extra}, allow_nan=True)
    depth = draw(st.sampled_from([0, 0, 0, 5000, 100_000]))
    return "[" * depth + text + "]" * depth


@st.composite
def _multipart(draw) -> bytes:
    parts = [b'Content-Disposition: form-data; name="job"\r\n\r\n' + draw(_JOBS).encode(),
             b'Content-Disposition: form-data; name="input_data"; filename="' + draw(st.binary(max_size=20))
             + b'"\r\nContent-Type: text/plain\r\n\r\n' + draw(st.binary(max_size=200)),
             b'Content-Disposition: form-data; name="head_lines_lines"\r\n\r\n' + draw(st.binary(max_size=20))]
    body = b"".join(b"--xyz\r\n" + part + b"\r\n" for part in parts) + b"--xyz--\r\n"
    cut = draw(st.integers(0, len(body)))
    noise = draw(st.binary(max_size=30))
    at = draw(st.integers(0, len(body)))
    return (body[:at] + noise + body[at:])[: max(cut, len(body) // 2)]


@st.composite
def _config(draw) -> bytes:
    lines = example_config().splitlines()
    for _ in range(draw(st.integers(1, 6))):
        i = draw(st.integers(0, len(lines) - 1))
        action = draw(st.sampled_from(["drop", "double", "garble", "replace"]))
        if action == "drop":
            del lines[i]
        elif action == "double":
            lines.insert(i, lines[i])
        elif action == "garble" and lines[i]:
            j = draw(st.integers(0, len(lines[i]) - 1))
            lines[i] = lines[i][:j] + draw(_TEXT) + lines[i][j + 1:]
        else:
            lines[i] = draw(_TEXT)
    return "\n".join(lines).encode("utf-8", "surrogatepass")


_QUERY = st.text(st.characters(codec="latin-1"), max_size=30).map(lambda s: s.replace("#", ""))


@pytest.fixture
def fuzz(app, load_config, admin_token):
    load_config(example_config())
    client = app.test_client()
    auth = {"Authorization": f"Bearer {admin_token}"}
    counts: Counter[str] = Counter()
    errors: list[str] = []

    def call(category: str, method: str, path: str, **kwargs) -> None:
        response = getattr(client, method)(path, headers=auth, **kwargs)
        counts[category] += 1
        if response.status_code >= 500:
            errors.append(f"{category}: {method} {path} {str(kwargs)[:300]} -> {response.status_code}")

    yield call
    print(f"\nhostile bodies: {dict(counts)}; server errors: {len(errors)}")
    assert not errors, "\n".join(errors[:10])


_SETTINGS = settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck), database=None)


def test_generated_hostile_bodies_get_no_server_error(fuzz):
    @_SETTINGS
    @given(body=_submission_json())
    def json_bodies(body):
        fuzz("json submissions", "post", "/api/submissions", data=body, content_type="application/json")

    @_SETTINGS
    @given(body=_multipart())
    def multipart_bodies(body):
        fuzz("multipart submissions", "post", "/api/submissions", data=body,
             content_type="multipart/form-data; boundary=xyz")

    @_SETTINGS
    @given(document=_config())
    def configurations(document):
        fuzz("configurations", "put", "/api/config", data=document)

    @_SETTINGS
    @given(value=_QUERY, key=st.sampled_from(["wait", "page", "per_page", "since", "state", "job", "attempt"]),
           path=st.sampled_from(["/api/submissions", "/api/submissions/00000000-0000-0000-0000-000000000000",
                                 "/api/jobs/count_words"]))
    def query_strings(value, key, path):
        from urllib.parse import quote

        fuzz("query strings", "get", f"{path}?{key}={quote(value, safe='')}")

    json_bodies()
    multipart_bodies()
    configurations()
    query_strings()
