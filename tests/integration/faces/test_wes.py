"""GA4GH WES 1.1 over the jobs: every response checked against the standard's OpenAPI document
(tests/standards/wes-1.1.0), states mapped as SPEC §6 says, errors in WES's shape."""

from __future__ import annotations

import io
import json

import pytest

from tests.integration.faces.conftest import wait_wes
from tests.standards_check import assert_wes

W = "/ga4gh/wes/v1"


def run(client, job: str, params: dict, files: dict[str, bytes] | None = None, **form):
    data = {"workflow_url": job, "workflow_type": "CWL", "workflow_type_version": "v1.2",
            "workflow_params": json.dumps(params), **form}
    if files:
        data["workflow_attachment"] = [(io.BytesIO(content), name) for name, content in files.items()]
    return client.post(f"{W}/runs", data=data, content_type="multipart/form-data")


def test_service_info_lists_the_jobs_as_workflows_with_their_parameter_schemas(face):
    info = assert_wes("/service-info", "get", face.get(f"{W}/service-info"))
    assert info["workflow_type_versions"] == {"CWL": {"workflow_type_version": ["v1.2"]}}
    assert info["supported_wes_versions"] == ["1.1.0"]
    workflows = {w["name"]: w for w in info["workflows"]}
    echo = workflows["echo"]
    assert echo["workflow_url"].endswith(f"{W}/workflows/echo.cwl")
    assert echo["workflow_params"]["required"] == ["stringInput"]
    assert echo["workflow_params"]["properties"]["pause"]["maximum"] == 60
    descriptor = face.get(f"{W}/workflows/echo.cwl").get_json()
    assert descriptor["cwlVersion"] == "v1.2" and descriptor["class"] == "Operation"
    assert set(descriptor["inputs"]) == {"pause", "stringInput"}


def test_a_run_with_an_attachment_completes_with_its_log_tasks_and_outputs(face, worker):
    worker()
    response = run(face, "text_report", {"input_data": "fruit.txt", "sort_lines_reverse": True},
                   {"fruit.txt": b"pear apple\nfig\n"}, tags=json.dumps({"project": "p1"}))
    run_id = assert_wes("/runs", "post", response)["run_id"]
    assert wait_wes(face, run_id) == "COMPLETE"
    status = assert_wes("/runs/{run_id}/status", "get", face.get(f"{W}/runs/{run_id}/status"))
    assert status == {"run_id": run_id, "state": "COMPLETE"}
    log = assert_wes("/runs/{run_id}", "get", face.get(f"{W}/runs/{run_id}"))
    assert log["request"]["workflow_params"] == {"input_data": "fruit.txt", "sort_lines_reverse": True}
    assert [t["id"] for t in log["task_logs"]] == ["sort_lines", "line_count", "word_count_sorted", "report"]
    assert all(t["exit_code"] == 0 for t in log["task_logs"])
    sorted_url = log["outputs"]["sort_lines.sorted.txt"]
    assert face.get(sorted_url.removeprefix("http://localhost")).get_data() == b"pear apple\nfig\n"  # reversed
    tasks = assert_wes("/runs/{run_id}/tasks", "get", face.get(f"{W}/runs/{run_id}/tasks?page_size=3"))
    assert len(tasks["task_logs"]) == 3 and tasks["next_page_token"]
    rest = face.get(f"{W}/runs/{run_id}/tasks?page_size=3&page_token={tasks['next_page_token']}").get_json()
    assert [t["id"] for t in rest["task_logs"]] == ["report"] and rest["next_page_token"] == ""
    task = assert_wes("/runs/{run_id}/tasks/{task_id}", "get", face.get(f"{W}/runs/{run_id}/tasks/report"))
    stdout = face.get(task["stdout"].removeprefix("http://localhost"))
    assert stdout.mimetype == "text/plain" and stdout.get_data(as_text=True).split()[0] == "2"
    listed = assert_wes("/runs", "get", face.get(f"{W}/runs"))
    assert listed["runs"][0]["run_id"] == run_id and listed["runs"][0]["tags"] == {"project": "p1"}


def test_inputs_by_url_and_by_file_contents(face, worker, served):
    worker()
    url = served(b"one two three\n")
    by_url = assert_wes("/runs", "post", run(face, "count_words", {"input_data": url}))["run_id"]
    literal = assert_wes("/runs", "post", run(face, "count_words", {
        "input_data": {"class": "File", "contents": "four five"}}))["run_id"]
    for run_id, words in ((by_url, "3"), (literal, "2")):
        assert wait_wes(face, run_id) == "COMPLETE"
        log = face.get(f"{W}/runs/{run_id}").get_json()
        output = face.get(log["outputs"]["wordcount.count"].removeprefix("http://localhost")).get_data(as_text=True)
        assert output.split()[0] == words


def test_states_map_one_to_one(face, worker):
    queued = assert_wes("/runs", "post", run(face, "echo", {"stringInput": "later", "pause": 30}))["run_id"]
    assert face.get(f"{W}/runs/{queued}/status").get_json()["state"] == "QUEUED"  # no worker yet
    assert_wes("/runs/{run_id}/cancel", "post", face.post(f"{W}/runs/{queued}/cancel"))
    assert face.get(f"{W}/runs/{queued}/status").get_json()["state"] == "CANCELED"
    worker()
    failed = assert_wes("/runs", "post", run(face, "fails", {}))["run_id"]
    assert wait_wes(face, failed) == "EXECUTOR_ERROR"
    log = face.get(f"{W}/runs/{failed}").get_json()
    assert log["task_logs"][0]["exit_code"] == 1 and log["run_log"]["system_logs"]
    # Cancelling a run that has ended changes nothing (WES declares no conflict).
    assert face.post(f"{W}/runs/{failed}/cancel").status_code == 200
    assert face.get(f"{W}/runs/{failed}/status").get_json()["state"] == "EXECUTOR_ERROR"


@pytest.mark.parametrize("form, message", [
    ({"workflow_type": "WDL"}, "workflow_type must be CWL"),
    ({"workflow_url": "https://example.org/other.cwl"}, "names no job"),
    ({"workflow_url": "../../etc/passwd"}, "names no job"),
    ({"workflow_url": "file:///Bad Name!.cwl"}, "must name one of this service's jobs"),
    ({"workflow_params": "{not json"}, "workflow_params is not valid JSON"),
    ({"workflow_params": "[1]"}, "must be a JSON object"),
    ({"workflow_params": json.dumps({"input_data": "missing.txt"})}, "Some inputs cannot be read"),
    ({"workflow_params": json.dumps({"input_data": "a.txt", "nope": 1})}, "parameters are missing or invalid"),
    ({"tags": "[]"}, "tags must be a JSON object"),
])
def test_bad_run_requests_are_400s_in_the_wes_shape(face, form, message):
    base = {"workflow_url": "count_words", "workflow_type": "CWL", "workflow_type_version": "v1.2",
            "workflow_params": json.dumps({"input_data": "a.txt"}),
            "workflow_attachment": [(io.BytesIO(b"some words"), "a.txt")]}
    response = face.post(f"{W}/runs", data={**base, **form}, content_type="multipart/form-data")
    body = assert_wes("/runs", "post", response)
    assert response.status_code == 400 and body["status_code"] == 400 and message in body["msg"]


def test_unknown_runs_and_paths_are_404s_in_the_wes_shape(face):
    for path in ("/runs/0c6b4a3e-4d0c-4a61-8f0e-5f43c7a1b111", "/runs/not-a-uuid"):
        response = face.get(W + path)
        assert assert_wes("/runs/{run_id}", "get", response)["status_code"] == 404
    assert face.get(f"{W}/no/such/thing").get_json() == {
        "msg": f"There is no resource '{W}/no/such/thing'", "status_code": 404}
    for size in ("0", "²", "1" * 5000):  # "²" is a digit that int() refuses
        assert face.get(f"{W}/runs?page_size={size}").status_code == 400
    assert face.get(f"{W}/runs?page_token=²").status_code == 400


def test_with_api_keys_runs_need_a_token_and_are_seen_only_with_it(face_app, face, sessions):
    from app.db import transaction
    from app.services import tokens

    with transaction(sessions) as session:
        mine, theirs = tokens.create(session, name="a"), tokens.create(session, name="b")
    face_app.config["SETTINGS"] = face_app.config["SETTINGS"].override({"require_api_key": True})
    try:
        response = run(face, "echo", {"stringInput": "x"})
        assert assert_wes("/runs", "post", response)["status_code"] == 401
        response = face.post(f"{W}/runs", headers={"Authorization": f"Bearer {mine}"}, data={
            "workflow_url": "echo", "workflow_type": "CWL", "workflow_type_version": "v1.2",
            "workflow_params": json.dumps({"stringInput": "x"})}, content_type="multipart/form-data")
        run_id = response.get_json()["run_id"]
        assert face.get(f"{W}/runs/{run_id}", headers={"Authorization": f"Bearer {theirs}"}).status_code == 404
        assert face.get(f"{W}/runs/{run_id}", headers={"Authorization": f"Bearer {mine}"}).status_code == 200
        assert face.get(f"{W}/runs", headers={"Authorization": f"Bearer {theirs}"}).get_json()["runs"] == []
        assert len(face.get(f"{W}/runs", headers={"Authorization": f"Bearer {mine}"}).get_json()["runs"]) == 1
    finally:
        face_app.config["SETTINGS"] = face_app.config["SETTINGS"].override({"require_api_key": False})
