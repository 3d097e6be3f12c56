"""OGC API – Processes 1.0, requirements class Core: one test per abstract test of the standard's
suite (core/abstract_tests/core/ATS_*.adoc), each response validated against the standard's own
schemas (tests/standards). Where an abstract test covers a kind of input or output no process
here has (bbox, mixed oneOf, object), the test checks that none is declared and that such a
value is refused with the standard's error."""

from __future__ import annotations

import base64

import pytest
from openapi_spec_validator import validate as validate_openapi

from tests.integration.faces.conftest import wait_ogc
from tests.standards_check import assert_ogc

E = "http://www.opengis.net/def/exceptions/ogcapi-processes-1/1.0/"
CONF = "http://www.opengis.net/spec/ogcapi-processes-1/1.0/conf/"
ASYNC = {"Prefer": "respond-async"}


def links(document: dict, rel: str) -> list[str]:
    return [link["href"] for link in document["links"] if link["rel"] == rel]


def path(url: str) -> str:
    return url.removeprefix("http://localhost")


def problem(response, status: int, kind: str | None = None) -> dict:
    assert response.status_code == status, response.get_data(as_text=True)
    body = response.get_json(force=True)
    assert_ogc("exception", body)
    if kind is not None:
        assert body["type"] == kind
    return body


def execute(client, process: str, inputs: dict, headers: dict | None = None, **request):
    return client.post(f"/ogc/processes/{process}/execution", json={"inputs": inputs, **request},
                       headers=headers or {})


def run_async(client, process: str, inputs: dict, **request) -> dict:
    response = execute(client, process, inputs, ASYNC, **request)
    assert response.status_code == 201, response.get_data(as_text=True)
    assert_ogc("statusInfo", response.get_json())
    return wait_ogc(client, path(response.headers["Location"]))


def test_landingpage_op(face):
    assert face.get("/ogc/").status_code == 200


def test_landingpage_success(face):
    body = face.get("/ogc/").get_json()
    assert_ogc("landingPage", body)
    assert links(body, "service-desc") and links(body, "service-doc")
    assert links(body, "http://www.opengis.net/def/rel/ogc/1.0/conformance")
    assert links(body, "http://www.opengis.net/def/rel/ogc/1.0/processes")
    html = face.get(path(links(body, "alternate")[0]))
    assert html.status_code == 200 and html.mimetype == "text/html"


def test_api_definition_op(face):
    body = face.get("/ogc/").get_json()
    response = face.get(path(links(body, "service-desc")[0]))
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "application/vnd.oai.openapi+json;version=3.0"
    assert face.get(path(links(body, "service-doc")[0])).mimetype == "text/html"


def test_api_definition_success(face):
    validate_openapi(face.get("/ogc/api").get_json())  # a valid OpenAPI 3.0 document


def test_conformance_op(face):
    body = face.get("/ogc/").get_json()
    for url in links(body, "http://www.opengis.net/def/rel/ogc/1.0/conformance") + ["/ogc/conformance"]:
        assert face.get(path(url)).status_code == 200


def test_conformance_success(face):
    body = face.get("/ogc/conformance").get_json()
    assert_ogc("confClasses", body)
    assert set(body["conformsTo"]) == {CONF + c for c in (
        "core", "ogc-process-description", "json", "html", "oas30", "job-list", "callback", "dismiss")}


def test_http(face):
    # HTTP 1.1 itself is checked through waitress in tests/acceptance/test_face_clients.py; here, that
    # every advertised path answers.
    for url in [link["href"] for link in face.get("/ogc/").get_json()["links"]]:
        assert face.get(path(url)).status_code == 200, url


def test_process_list_op(face):
    assert face.get("/ogc/processes").status_code == 200


def test_process_list_success(face):
    body = face.get("/ogc/processes").get_json()
    assert_ogc("processList", body)
    assert {"echo", "count_words", "text_report"} <= {p["id"] for p in body["processes"]}


def test_process_list_links(face):
    body = face.get("/ogc/processes").get_json()
    assert links(body, "self") and links(body, "alternate")
    assert face.get(path(links(body, "alternate")[0])).mimetype == "text/html"


def test_process_list_limit_definition(face):
    for bad in ("0", "10001", "x", "-1"):
        problem(face.get(f"/ogc/processes?limit={bad}"), 400, E + "invalid-query-parameter-value")


def test_process_list_limit_response(face):
    body = face.get("/ogc/processes?limit=2").get_json()
    assert len(body["processes"]) == 2
    following = face.get(path(links(body, "next")[0])).get_json()
    assert {p["id"] for p in following["processes"]}.isdisjoint({p["id"] for p in body["processes"]})


def test_process_description_op(face):
    for summary in face.get("/ogc/processes").get_json()["processes"]:
        assert face.get(f"/ogc/processes/{summary['id']}").status_code == 200


def test_process_description_success(face):
    for summary in face.get("/ogc/processes").get_json()["processes"]:
        assert_ogc("process", face.get(f"/ogc/processes/{summary['id']}").get_json())
    echo = face.get("/ogc/processes/echo").get_json()
    assert echo["inputs"]["stringInput"]["schema"] == {"type": "string", "maxLength": 10000}
    assert echo["inputs"]["pause"]["schema"] == {"type": "integer", "minimum": 0, "maximum": 60, "default": 0}
    assert echo["inputs"]["pause"]["minOccurs"] == 0 and echo["inputs"]["stringInput"]["minOccurs"] == 1
    words = face.get("/ogc/processes/count_words").get_json()
    assert words["inputs"]["input_data"]["schema"] == {
        "type": "string", "format": "binary", "contentMediaType": "text/plain"}
    assert "wordcount.count" in words["outputs"]


def test_process_exception_no_such_process(face):
    problem(face.get("/ogc/processes/no_such_thing"), 404, E + "no-such-process")
    problem(execute(face, "no_such_thing", {}), 404, E + "no-such-process")


def test_process_execute_op(face, worker):
    worker()
    assert execute(face, "echo", {"stringInput": "hello there"}).status_code == 200


def test_process_execute_request(face, worker):
    worker()  # the 1.0 shape (outputs with transmissionMode, response) and the later one (neither)
    old = execute(face, "echo", {"stringInput": "a b"}, outputs={"echo.echo.txt": {"transmissionMode": "value"}},
                  response="document")
    new = execute(face, "echo", {"stringInput": "a b"})
    assert old.get_json() == new.get_json() == {"echo.echo.txt": {"value": "a b", "mediaType": "text/plain"}}


def test_process_execute_default_execution_mode(face, worker):
    worker()  # no Prefer: synchronous, since every process may run either way
    response = execute(face, "echo", {"stringInput": "sync please"})
    assert response.status_code == 200
    assert_ogc("results", response.get_json())


def test_process_execute_auto_execution_mode(face, worker):
    worker()
    response = execute(face, "echo", {"stringInput": "sync please"}, {"Prefer": "respond-sync"})
    assert response.status_code == 200
    response = execute(face, "echo", {"stringInput": "later"}, ASYNC)
    assert response.status_code == 201 and response.headers["Preference-Applied"] == "respond-async"


def test_process_execute_default_outputs(face, worker):
    worker()
    response = execute(face, "text_report", {"input_data": "pear apple\nfig\n"})
    assert set(response.get_json()) == set(face.get("/ogc/processes/text_report").get_json()["outputs"])


def test_process_execute_input_array(face, worker):
    worker()
    assert execute(face, "echo", {"stringInput": ["in an array"]}).get_json()["echo.echo.txt"]["value"] == "in an array"
    problem(execute(face, "echo", {"stringInput": ["one", "two"]}), 400, "InvalidParameterValue")


def test_process_execute_input_inline_bbox(face):
    for summary in face.get("/ogc/processes").get_json()["processes"]:
        inputs = face.get(f"/ogc/processes/{summary['id']}").get_json()["inputs"]
        assert not any("bbox" in str(i["schema"]) for i in inputs.values())
    body = problem(execute(face, "echo", {"stringInput": {"bbox": [0, 0, 1, 1]}}), 400, "InvalidParameterValue")
    assert "stringInput" in body["errors"]


def test_process_execute_input_inline_binary(face, worker):
    worker()
    encoded = base64.b64encode(b"one two three four").decode()
    response = execute(face, "count_words", {"input_data": {"value": encoded, "encoding": "base64"}})
    assert response.get_json()["wordcount.count"]["value"].startswith("4 ")


def test_process_execute_input_inline_mixed(face):
    for summary in face.get("/ogc/processes").get_json()["processes"]:
        inputs = face.get(f"/ogc/processes/{summary['id']}").get_json()["inputs"]
        assert not any("oneOf" in i["schema"] for i in inputs.values())  # no mixed-type inputs here


def test_process_execute_input_inline_object(face):
    for summary in face.get("/ogc/processes").get_json()["processes"]:
        inputs = face.get(f"/ogc/processes/{summary['id']}").get_json()["inputs"]
        assert not any(i["schema"].get("type") == "object" for i in inputs.values())
    problem(execute(face, "first_lines", {"input_data": "a\n", "head_lines_lines": {"value": {"n": 1}}}), 400)


def test_process_execute_input_inline(face, worker):
    worker()
    response = execute(face, "first_lines", {"input_data": "1\n2\n3\n", "head_lines_lines": 2})
    assert response.get_json()["head_lines.head.txt"]["value"] == "1\n2\n"


def test_process_execute_input_ref(face, worker, served):
    worker()
    url = served(b"alpha beta gamma\n")
    response = execute(face, "count_words", {"input_data": {"href": url, "type": "text/plain"}})
    assert response.get_json()["wordcount.count"]["value"].startswith("3 ")
    # A private address that AA_CALLBACK_ALLOW does not name is not fetched from (SSRF).
    body = problem(execute(face, "count_words", {"input_data": {"href": "http://10.255.255.1/x.txt"}}), 400)
    assert "not a public address" in body["errors"]["input_data"][0]


def test_process_execute_input_validation(face):
    body = problem(execute(face, "echo", {"pause": 61, "stringInput": 5}), 400, "InvalidParameterValue")
    assert set(body["errors"]) == {"pause"}  # 5 is a fine string; 61 is above the maximum
    body = problem(execute(face, "echo", {"pause": "soon"}), 400, "InvalidParameterValue")
    assert set(body["errors"]) == {"pause", "stringInput"}  # not an integer; required but missing
    problem(execute(face, "count_words", {"input_data": "\x00binary"}), 400, "InvalidParameterValue")


def test_process_execute_inputs(face, worker, served):
    worker()  # by value and by reference, in one request
    url = served(b"3")
    response = execute(face, "first_lines", {"input_data": "a\nb\nc\nd\n", "head_lines_lines": {"href": url}})
    assert response.get_json()["head_lines.head.txt"]["value"] == "a\nb\nc\n"


def test_process_execute_success_async(face, worker):
    worker()
    response = execute(face, "echo", {"stringInput": "async"}, ASYNC)
    assert response.status_code == 201
    assert response.headers["Location"].endswith(f"/ogc/jobs/{response.get_json()['jobID']}")
    assert_ogc("statusInfo", response.get_json())


def test_process_execute_success_sync_document(face, worker):
    worker()
    response = execute(face, "echo", {"stringInput": "doc"}, response="document")
    assert response.status_code == 200 and response.mimetype == "application/json"
    assert_ogc("results", response.get_json())


def test_process_execute_success_sync_raw_value_one(face, worker):
    worker()
    response = execute(face, "echo", {"stringInput": "raw bytes"}, response="raw")
    assert response.status_code == 200 and response.get_data() == b"raw bytes"
    assert response.mimetype == "text/plain"


def test_process_execute_success_sync_raw_value_multi(face, worker):
    worker()  # several outputs raw would be multipart: answered as a results document instead
    response = execute(face, "text_report", {"input_data": "b a\n"}, response="raw")
    assert response.status_code == 200 and len(response.get_json()) == 4
    assert_ogc("results", response.get_json())


def test_process_execute_success_sync_raw_ref(face, worker):
    worker()
    response = execute(face, "echo", {"stringInput": "by reference"}, response="raw",
                       outputs={"echo.echo.txt": {"transmissionMode": "reference"}})
    reference = response.get_json()["echo.echo.txt"]
    assert_ogc("results", response.get_json())
    assert face.get(path(reference["href"])).get_data() == b"by reference"


def test_process_execute_success_sync_raw_mixed_multi(face, worker):
    worker()
    response = execute(face, "text_report", {"input_data": "b a\n"}, response="raw", outputs={
        "report.report": {"transmissionMode": "value"}, "sort_lines.sorted.txt": {"transmissionMode": "reference"}})
    body = response.get_json()
    assert set(body) == {"report.report", "sort_lines.sorted.txt"}
    assert "value" in body["report.report"] and "href" in body["sort_lines.sorted.txt"]


def test_job_op(face, worker):
    worker()
    response = execute(face, "echo", {"stringInput": "x y"}, ASYNC)
    assert face.get(path(response.headers["Location"])).status_code == 200


def test_job_success(face, worker):
    worker()
    status = run_async(face, "echo", {"stringInput": "x y"})
    assert_ogc("statusInfo", status)
    assert status["status"] == "successful" and status["progress"] == 100 and status["processID"] == "echo"


def test_job_exception_no_such_job(face):
    problem(face.get("/ogc/jobs/0c6b4a3e-4d0c-4a61-8f0e-5f43c7a1b111"), 404, E + "no-such-job")
    problem(face.get("/ogc/jobs/not-even-a-uuid"), 404, E + "no-such-job")


def test_job_results_op(face, worker):
    worker()
    status = run_async(face, "echo", {"stringInput": "results"})
    response = face.get(f"/ogc/jobs/{status['jobID']}/results")
    assert response.status_code == 200
    assert response.get_json() == {"echo.echo.txt": {"value": "results", "mediaType": "text/plain"}}


def test_job_results_exception_no_such_job(face):
    problem(face.get("/ogc/jobs/0c6b4a3e-4d0c-4a61-8f0e-5f43c7a1b111/results"), 404, E + "no-such-job")


def test_job_results_exception_results_not_ready(face):
    # No worker: the job stays accepted.
    job = execute(face, "echo", {"stringInput": "wait", "pause": 5}, ASYNC).get_json()["jobID"]
    problem(face.get(f"/ogc/jobs/{job}/results"), 404, E + "result-not-ready")


def test_job_results_failed(face, worker):
    worker()
    status = run_async(face, "fails", {})
    assert status["status"] == "failed"
    body = problem(face.get(f"/ogc/jobs/{status['jobID']}/results"), 409, "NoApplicableCode")
    assert "failed" in body["detail"]


def test_job_results_success_sync(face, worker):
    worker()
    response = execute(face, "echo", {"stringInput": "monitored"})
    monitor = response.headers["Link"].split(";")[0].strip("<>")
    status = face.get(path(monitor)).get_json()
    assert_ogc("statusInfo", status)
    assert status["status"] == "successful"


def test_job_results_success_async_document(face, worker):
    worker()
    status = run_async(face, "echo", {"stringInput": "async doc"}, response="document")
    body = face.get(f"/ogc/jobs/{status['jobID']}/results").get_json()
    assert_ogc("results", body)
    assert body["echo.echo.txt"]["value"] == "async doc"


def test_job_results_success_async_raw_value_one(face, worker):
    worker()
    status = run_async(face, "echo", {"stringInput": "async raw"}, response="raw")
    assert face.get(f"/ogc/jobs/{status['jobID']}/results").get_data() == b"async raw"


def test_job_results_success_async_raw_value_multi(face, worker):
    worker()
    status = run_async(face, "text_report", {"input_data": "b a\n"}, response="raw")
    body = face.get(f"/ogc/jobs/{status['jobID']}/results").get_json()
    assert len(body) == 4 and all("value" in v for v in body.values())


def test_job_results_success_async_raw_ref(face, worker):
    worker()
    status = run_async(face, "echo", {"stringInput": "ref"}, response="raw",
                       outputs={"echo.echo.txt": {"transmissionMode": "reference"}})
    body = face.get(f"/ogc/jobs/{status['jobID']}/results").get_json()
    assert face.get(path(body["echo.echo.txt"]["href"])).get_data() == b"ref"


def test_job_results_success_async_raw_mixed_multi(face, worker):
    worker()
    status = run_async(face, "text_report", {"input_data": "b a\n"}, response="raw", outputs={
        "report.report": {"transmissionMode": "value"}, "line_count.lines": {"transmissionMode": "reference"}})
    body = face.get(f"/ogc/jobs/{status['jobID']}/results").get_json()
    assert set(body) == {"report.report", "line_count.lines"}
    assert "value" in body["report.report"] and "href" in body["line_count.lines"]


@pytest.mark.parametrize("body", [[], "text", {"inputs": []}, {"inputs": {}, "response": "bogus"},
                                  {"inputs": {}, "outputs": {"nope": {}}}, {"extra": 1}])
def test_process_execute_malformed_requests(face, body):
    problem(face.post("/ogc/processes/echo/execution", json=body), 400, "InvalidParameterValue")
