"""The standard faces driven by independent, unmodified clients from PyPI, over real HTTP (waitress)
with real workers: OWSLib for OGC API – Processes, the `wes-service` package's WESClient for WES."""

from __future__ import annotations

import http.client
import json
import time
from urllib.parse import urlsplit

import requests
from owslib.ogcapi.processes import Processes
from wes_client.util import WESClient

from app.runtime import example_config
from tests.standards_check import assert_ogc


def test_owslib_lists_describes_executes_and_fetches_results(api, workers):
    api.put_config(example_config())
    workers(1)
    ogc = Processes(f"{api.base}/ogc")
    assert {"echo", "count_words", "text_report"} <= {p["id"] for p in ogc.processes()}
    described = ogc.process("first_lines")
    assert described["inputs"]["head_lines_lines"]["schema"]["type"] == "integer"
    assert ogc.conformance()["conformsTo"]
    assert ogc.api()["openapi"].startswith("3.0")

    results = ogc.execute("first_lines", {"input_data": "a\nb\nc\n", "head_lines_lines": 2})  # synchronous
    assert_ogc("results", results)
    assert results["head_lines.head.txt"]["value"] == "a\nb\n"

    status = ogc.execute("echo", {"stringInput": "asynchronously"}, async_=True)
    assert status["status"] == "accepted"
    location = ogc.response_headers["Location"]
    deadline = time.monotonic() + 90
    # OWSLib adds a slash to the job's URL: /ogc/jobs/<id>/ must be the job too.
    while (status := Processes(location).response)["status"] not in ("successful", "failed", "dismissed"):
        assert status["jobID"] and time.monotonic() < deadline
        time.sleep(0.3)
    assert status["status"] == "successful"
    results_link = next(link["href"] for link in status["links"] if link["rel"].endswith("/results"))
    assert Processes(results_link).response == {"echo.echo.txt": {"value": "asynchronously", "mediaType": "text/plain"}}


def test_wes_client_submits_polls_and_reads_logs(api, workers, tmp_path, monkeypatch):
    api.put_config(example_config())
    workers(1)
    monkeypatch.chdir(tmp_path)  # the client saves a fetched descriptor in the working directory
    (tmp_path / "words.txt").write_text("the quick brown fox\n")
    client = WESClient({"auth": {}, "proto": "http", "host": urlsplit(api.base).netloc})
    info = client.get_service_info()
    descriptor = next(w["workflow_url"] for w in info["workflows"] if w["name"] == "count_words")

    run_id = client.run(descriptor, json.dumps({"input_data": "words.txt"}), [str(tmp_path / "words.txt")])["run_id"]
    deadline = time.monotonic() + 90
    while (state := client.get_run_status(run_id)["state"]) not in ("COMPLETE", "EXECUTOR_ERROR", "SYSTEM_ERROR"):
        assert time.monotonic() < deadline
        time.sleep(0.3)
    assert state == "COMPLETE"
    log = client.get_run_log(run_id)
    assert log["request"]["workflow_type"] == "CWL" and log["request"]["workflow_url"] == descriptor
    task = log["task_logs"][0]
    assert task["exit_code"] == 0
    assert requests.get(task["stdout"], timeout=30).text.split()[0] == "4"
    assert requests.get(log["outputs"]["wordcount.count"], timeout=30).text.split()[0] == "4"
    assert run_id in {r["run_id"] for r in client.list_runs()["runs"]}

    waiting = client.run(f"{api.base}/ga4gh/wes/v1/workflows/echo.cwl",
                         json.dumps({"stringInput": "x", "pause": 30}), [])["run_id"]
    assert client.cancel(waiting) == {"run_id": waiting}
    assert client.get_run_status(waiting)["state"] == "CANCELED"


def test_the_faces_speak_http_1_1(service):
    """OGC /conf/core/http: the server conforms to HTTP 1.1."""
    host = urlsplit(service)
    connection = http.client.HTTPConnection(host.hostname, host.port, timeout=30)
    connection.request("GET", "/ogc/conformance")
    response = connection.getresponse()
    assert response.status == 200 and response.version == 11
