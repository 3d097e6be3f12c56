"""The standard faces' pure parts: SSRF rule, execute-request reading, WES names, JSON Schemas."""

from __future__ import annotations

import base64

import pytest

from app.errors import InvalidInput
from app.services import faces, ogc_execute, remote, wes_runs

FIELDS = [
    faces.Field("input_data", "file", {}, True, "", "text/plain"),
    faces.Field("picture", "file", {}, False, "", "image/png"),
    faces.Field("lines", "parameter", {"type": "integer"}, False, ""),
]
OUTPUTS = [faces.Output("count.count", "count", ".count", "")]


def no_fetch(url: str) -> tuple[bytes, str]:
    raise AssertionError(f"fetched {url}")


def no_refusal(url: str) -> str | None:
    return None


@pytest.mark.parametrize("address, allow, expected", [
    ("93.184.216.34", (), True), ("127.0.0.1", (), False), ("10.1.2.3", (), False), ("169.254.169.254", (), False),
    ("::1", (), False), ("fe80::1%eth0", (), False), ("224.0.0.1", (), False), ("100.64.0.1", (), False),
    ("127.0.0.1", ("127.0.0.1",), True), ("10.1.2.3", ("10.0.0.0/8",), True), ("10.1.2.3", ("internal",), False),
])
def test_only_public_addresses_are_fetched_unless_allowed(address, allow, expected):
    assert remote.allowed("host", address, allow) is expected


def test_a_host_named_in_the_allow_list_is_fetched():
    assert remote.allowed("internal", "10.1.2.3", ("internal",))


@pytest.mark.parametrize("url", ["ftp://example.org/x", "file:///etc/passwd", "http://[::1", "no scheme", ""])
def test_only_http_urls_are_fetched(url):
    with pytest.raises(InvalidInput):
        remote.fetch(url, limit_bytes=10)


def test_inputs_by_value_in_every_shape():
    png = base64.b64encode(b"\x89PNG").decode()
    execution = ogc_execute.parse({"inputs": {
        "input_data": {"value": "some text", "mediaType": "text/plain"}, "picture": [png], "lines": {"value": 3},
    }, "outputs": {"count.count": {"transmissionMode": "reference"}}, "response": "raw",
        "subscriber": {"successUrl": "https://example.org/done"}}, FIELDS, OUTPUTS, fetch=no_fetch,
        refuse=no_refusal)
    assert execution.inputs["input_data"].data == b"some text"
    assert execution.inputs["picture"].data == b"\x89PNG"  # binary media: a plain string is base64
    assert execution.params == {"lines": 3}
    assert execution.outputs == {"count.count": "reference"} and execution.response == "raw"
    assert execution.subscriber == {"successUri": "https://example.org/done"}  # 1.0's misspelling accepted


def test_inputs_by_reference_are_fetched():
    fetched = {"https://example.org/in.txt": b"fetched", "https://example.org/n": b" 7\n"}
    execution = ogc_execute.parse({"inputs": {"input_data": {"href": "https://example.org/in.txt"},
                                              "lines": {"href": "https://example.org/n"}}},
                                  FIELDS, OUTPUTS, fetch=lambda url: (fetched[url], "text/plain"),
                                  refuse=no_refusal)
    assert execution.inputs["input_data"].data == b"fetched" and execution.params == {"lines": "7"}


@pytest.mark.parametrize("body, key", [
    ({"inputs": {"input_data": 5}}, "input_data"), ({"inputs": {"picture": "not base64!"}}, "picture"),
    ({"inputs": {"input_data": {"value": "x", "encoding": "gzip"}}}, "input_data"),
    ({"inputs": {"lines": [1, 2]}}, "lines"), ({"inputs": []}, "inputs"), ({"outputs": {"x": {}}}, "outputs.x"),
    ({"outputs": {"count.count": {"transmissionMode": "later"}}}, "outputs.count.count"),
    ({"response": "both"}, "response"), ({"mode": "now"}, "mode"), ({"subscriber": "x"}, "subscriber"),
    ({"subscriber": {"failedUri": "javascript:alert(1)"}}, "subscriber.failedUri"), ({"surprise": 1}, "surprise"),
])
def test_bad_execute_requests_name_what_is_wrong(body, key):
    with pytest.raises(InvalidInput) as caught:
        ogc_execute.parse(body, FIELDS, OUTPUTS, fetch=no_fetch, refuse=no_refusal)
    assert key in caught.value.errors


def test_subscriber_uris_go_by_the_callback_rules():
    body = {"subscriber": {"successUri": "https://example.org/ok", "failedUri": "http://10.0.0.1/x"}}
    with pytest.raises(InvalidInput) as caught:
        ogc_execute.parse(body, FIELDS, OUTPUTS, fetch=no_fetch,
                          refuse=lambda url: "a private address" if "10.0.0.1" in url else None)
    assert caught.value.errors == {"subscriber.failedUri": ["a private address"]}


@pytest.mark.parametrize("url, name", [
    ("count_words", "count_words"), ("count_words.cwl", "count_words"),
    ("https://host/ga4gh/wes/v1/workflows/text_report.cwl", "text_report"), ("echo/", "echo"),
])
def test_workflow_urls_name_jobs(url, name):
    assert wes_runs.job_name(url) == name


@pytest.mark.parametrize("url", ["", None, "Capitals", "a b", "https://host/", "x" * 70])
def test_other_workflow_urls_are_refused(url):
    with pytest.raises(InvalidInput):
        wes_runs.job_name(url)


@pytest.mark.parametrize("declared, schema", [
    ({"type": "int", "default": 10, "min": 1.0, "max": 100000}, {"type": "integer", "default": 10, "minimum": 1,
                                                                  "maximum": 100000}),
    ({"type": "float", "default": None, "min": 0.5, "max": None}, {"type": "number", "minimum": 0.5}),
    ({"type": "string", "default": None, "min": 1, "max": 5, "pattern": "[a-z]+"},
     {"type": "string", "minLength": 1, "maxLength": 5, "pattern": "[a-z]+"}),
    ({"type": "choice", "default": "a", "choices": ["a", "b"]}, {"type": "string", "enum": ["a", "b"], "default": "a"}),
    ({"type": "choice", "default": None, "choices": [1, "b"]}, {"enum": [1, "b"]}),
    ({"type": "bool", "default": False}, {"type": "boolean", "default": False}),
])
def test_parameters_as_json_schema(declared, schema):
    assert faces.parameter_schema({"min": None, "max": None, "pattern": None, **declared}) == schema


def test_results_are_grouped_by_the_longest_matching_output():
    class R:
        def __init__(self, step, name):
            self.step_name, self.name = step, name

    declared = [faces.Output("s.txt", "s", ".txt", ""), faces.Output("s.sorted.txt", "s", ".sorted.txt", "")]
    grouped = faces.group_results(declared, [R("s", "id.sorted.txt"), R("s", "id.txt"), R("t", "id.json")])
    assert {k: [r.name for r in v] for k, v in grouped.items()} == {
        "s.txt": ["id.txt"], "s.sorted.txt": ["id.sorted.txt"], "t.id.json": ["id.json"]}
