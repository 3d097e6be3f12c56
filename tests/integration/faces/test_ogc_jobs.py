"""OGC API – Processes 1.0, requirements classes Job list, Dismiss and Callback: one test per
abstract test (core/abstract_tests/{job-list,dismiss}/ATS_*.adoc), responses validated against
the standard's schemas; plus who may list which jobs. The callbacks themselves: test_ogc_callbacks."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import update

from app.db import transaction
from app.models import Submission
from tests.integration.faces.conftest import wait_ogc
from tests.integration.faces.test_ogc_core import ASYNC, E, execute, links, path, problem
from tests.standards_check import assert_ogc


def submit(client, process: str = "echo", **inputs) -> str:
    response = execute(client, process, inputs or {"stringInput": "x"}, ASYNC)
    assert response.status_code == 201, response.get_data(as_text=True)
    return response.get_json()["jobID"]


def listed(client, query: str = "") -> list[dict]:
    response = client.get(f"/ogc/jobs{query}")
    assert response.status_code == 200, response.get_data(as_text=True)
    body = response.get_json()
    assert_ogc("jobList", body)
    return body["jobs"]


def test_job_list_op(face):
    assert face.get("/ogc/jobs").status_code == 200


def test_job_list_success(face):
    submit(face)
    assert len(listed(face)) == 1


def test_job_list_links(face):
    body = face.get("/ogc/jobs").get_json()
    assert links(body, "self") and face.get(path(links(body, "alternate")[0])).mimetype == "text/html"


def test_job_list_limit_definition(face):
    for bad in ("0", "10001", "ten"):
        problem(face.get(f"/ogc/jobs?limit={bad}"), 400, E + "invalid-query-parameter-value")


def test_job_list_limit_response(face):
    made = {submit(face) for _ in range(3)}
    first = face.get("/ogc/jobs?limit=2").get_json()
    assert len(first["jobs"]) == 2
    rest = face.get(path(links(first, "next")[0])).get_json()
    assert {j["jobID"] for j in first["jobs"] + rest["jobs"]} == made and not links(rest, "next")


def test_job_list_processid_definition(face):
    submit(face)
    assert listed(face, "?processID=echo&processID=count_words") == listed(face, "?processID=echo,count_words")


def test_job_list_processid_mandatory(face):
    submit(face)
    submit(face, "first_lines", input_data="a\n")
    assert all(job["processID"] for job in listed(face))


def test_job_list_processid_response(face):
    echo = submit(face)
    submit(face, "first_lines", input_data="a\n")
    assert [j["jobID"] for j in listed(face, "?processID=echo")] == [echo]
    assert listed(face, "?processID=nothing_like_it") == []


def test_job_list_status_definition(face):
    problem(face.get("/ogc/jobs?status=finished"), 400, E + "invalid-query-parameter-value")
    assert listed(face, "?status=accepted&status=running") == listed(face, "?status=accepted,running")


def test_job_list_status_response(face, worker):
    waiting = submit(face, stringInput="x", pause=30)
    worker()
    done = wait_ogc(face, f"/ogc/jobs/{submit(face)}")["jobID"]
    face.delete(f"/ogc/jobs/{waiting}")
    assert [j["jobID"] for j in listed(face, "?status=successful")] == [done]
    assert [j["jobID"] for j in listed(face, "?status=dismissed")] == [waiting]
    assert len(listed(face, "?status=successful,dismissed")) == 2


def test_job_list_type_definition(face):
    submit(face)
    assert len(listed(face, "?type=process")) == 1


def test_job_list_type_response(face):
    submit(face)
    assert len(listed(face)) == 1 and listed(face, "?type=wps") == []


def test_job_list_datetime_definition(face):
    for bad in ("yesterday", "../..", "2026-01-01T00:00:00Z/tomorrow"):
        problem(face.get(f"/ogc/jobs?datetime={bad}"), 400, E + "invalid-query-parameter-value")


def test_job_list_datetime_response(face, sessions):
    old, new = submit(face), submit(face)
    with transaction(sessions) as session:
        session.execute(update(Submission).where(Submission.id == old)
                        .values(created=datetime(2020, 1, 1, tzinfo=UTC)))
    assert [j["jobID"] for j in listed(face, "?datetime=2021-01-01T00:00:00Z/..")] == [new]
    assert [j["jobID"] for j in listed(face, "?datetime=../2021-01-01T00:00:00Z")] == [old]
    assert [j["jobID"] for j in listed(face, "?datetime=2019-12-31T00:00:00Z/2020-01-02T00:00:00Z")] == [old]
    assert [j["jobID"] for j in listed(face, "?datetime=2020-01-01T00:00:00Z")] == [old]


def test_job_list_duration_definition(face):
    for bad in ("minDuration=-1", "maxDuration=x"):
        problem(face.get(f"/ogc/jobs?{bad}"), 400, E + "invalid-query-parameter-value")


def test_job_list_duration_response(face, sessions):
    short, long, never = submit(face), submit(face), submit(face)
    start = datetime(2026, 1, 1, tzinfo=UTC)
    with transaction(sessions) as session:
        for job, seconds in ((short, 5), (long, 500)):
            session.execute(update(Submission).where(Submission.id == job).values(
                started=start, finished=start + timedelta(seconds=seconds), state="Complete"))
    assert [j["jobID"] for j in listed(face, "?minDuration=100")] == [long]
    assert [j["jobID"] for j in listed(face, "?maxDuration=100")] == [short]
    assert {j["jobID"] for j in listed(face, "?minDuration=1&maxDuration=1000")} == {short, long}
    assert never not in {j["jobID"] for j in listed(face, "?minDuration=0")}  # never started: no duration


def test_job_dismiss_op(face, worker):
    job = submit(face, stringInput="x", pause=30)
    worker()
    response = face.delete(f"/ogc/jobs/{job}")
    assert response.status_code == 200


def test_job_dismiss_success(face, worker):
    running = submit(face, stringInput="x", pause=30)
    body = face.delete(f"/ogc/jobs/{running}").get_json()
    assert_ogc("statusInfo", body)
    assert body["status"] == "dismissed" and face.get(f"/ogc/jobs/{running}").get_json()["status"] == "dismissed"
    # A finished job's dismissal deletes its data: then it is gone.
    worker()
    finished = wait_ogc(face, f"/ogc/jobs/{submit(face)}")["jobID"]
    body = face.delete(f"/ogc/jobs/{finished}").get_json()
    assert_ogc("statusInfo", body)
    assert body["status"] == "dismissed"
    problem(face.get(f"/ogc/jobs/{finished}"), 404, E + "no-such-job")
    problem(face.delete(f"/ogc/jobs/{finished}"), 404, E + "no-such-job")


def test_callback_subscriber_is_accepted_and_kept(face, sessions):
    from app.services import faces

    # Checked by the callback rules: these tests' app allows 127.0.0.1 (test_ogc_callbacks has the rest).
    subscriber = {"successUri": "http://127.0.0.1:9/ok", "failedUri": "http://127.0.0.1:9/failed",
                  "inProgressUri": "http://127.0.0.1:9/running"}
    job = execute(face, "echo", {"stringInput": "x"}, ASYNC, subscriber=subscriber).get_json()["jobID"]
    with sessions() as session:
        assert faces.recorded(session, job)["subscriber"] == subscriber
    body = problem(execute(face, "echo", {"stringInput": "x"}, ASYNC, subscriber={"successUri": "ftp://x/y"}), 400)
    assert "subscriber.successUri" in body["errors"]


def test_who_sees_which_jobs(face_app, face, sessions):
    from app.services import tokens

    with transaction(sessions) as session:
        admin, mine = tokens.create(session, name="admin", admin=True), tokens.create(session, name="me")
    anonymous = submit(face)
    response = face.post("/ogc/processes/echo/execution", json={"inputs": {"stringInput": "x"}},
                         headers={**ASYNC, "Authorization": f"Bearer {mine}"})
    with_token = response.get_json()["jobID"]
    assert [j["jobID"] for j in listed(face)] == [anonymous]  # no token: those made here without one
    assert [j["jobID"] for j in face.get("/ogc/jobs", headers={"Authorization": f"Bearer {mine}"})
            .get_json()["jobs"]] == [with_token]
    assert len(face.get("/ogc/jobs", headers={"Authorization": f"Bearer {admin}"}).get_json()["jobs"]) == 2
    problem(face.get("/ogc/jobs", headers={"Authorization": "Bearer wrong"}), 401)


def test_html_renderings(face):
    for url in ("/ogc/?f=html", "/ogc/conformance?f=html", "/ogc/processes?f=html", "/ogc/processes/echo?f=html",
                "/ogc/jobs?f=html", "/ogc/api?f=html"):
        response = face.get(url)
        assert response.status_code == 200 and response.mimetype == "text/html", url
    page = face.get("/ogc/processes/echo", headers={"Accept": "text/html"}).get_data(as_text=True)
    assert "<h1>Process echo</h1>" in page and "stringInput" in page
    problem(face.get("/ogc/processes?f=xml"), 400, E + "invalid-query-parameter-value")


def test_quotas_apply_as_in_the_native_api(face_app, face):
    face_app.config["SETTINGS"] = face_app.config["SETTINGS"].override({"hard_limit": 1})
    try:
        submit(face)
        response = execute(face, "echo", {"stringInput": "x"}, ASYNC)
        problem(response, 429)
        assert response.headers["Retry-After"]
        wes = face.post("/ga4gh/wes/v1/runs", data={"workflow_url": "echo", "workflow_type": "CWL",
                                                    "workflow_type_version": "v1.2",
                                                    "workflow_params": '{"stringInput": "x"}'})
        assert wes.status_code == 429 and wes.get_json()["status_code"] == 429 and wes.headers["Retry-After"]
    finally:
        face_app.config["SETTINGS"] = face_app.config["SETTINGS"].override({"hard_limit": None})
