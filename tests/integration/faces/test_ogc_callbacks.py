"""OGC API – Processes 1.0, requirements class Callback: a job's `subscriber` URIs are called
through the notification outbox (queued by the transaction that changes its state, sent once) by
a real worker or sender to a real HTTP receiver on loopback; the bodies are validated against the
standard's schemas."""

from __future__ import annotations

import time

import pytest
from sqlalchemy import text

from app.config import Settings
from app.db import transaction
from app.services import delivery, notify
from tests.integration.faces.conftest import wait_ogc
from tests.integration.faces.test_ogc_core import ASYNC, CONF, execute, problem
from tests.receivers import callbacks  # noqa: F401 (fixture)
from tests.standards_check import assert_ogc

SECRET = "subscriber-secret"
FAST = {"callback_allow": ("127.0.0.1",), "notify_backoff_seconds": 0.2, "housekeeping_seconds": 0.2}


def subscriber(box, *keys: str) -> dict[str, str]:
    paths = {"successUri": "/ok", "failedUri": "/failed", "inProgressUri": "/running"}
    return {key: box.url(paths[key]) for key in keys or paths}


def submit(client, box, process: str = "echo", inputs: dict | None = None, *keys: str) -> str:
    response = execute(client, process, {"stringInput": "hello"} if inputs is None else inputs, ASYNC,
                       subscriber=subscriber(box, *keys))
    assert response.status_code == 201, response.get_data(as_text=True)
    return response.get_json()["jobID"]


def rows(sessions, sql: str, **params) -> list:
    with transaction(sessions) as session:
        return list(session.execute(text(sql), params).all())


def set_state(sessions, job_id: str, state: str) -> None:
    with transaction(sessions) as session:
        session.execute(text("UPDATE submissions SET state = :state WHERE id = :id"), {"state": state, "id": job_id})


def wait_received(box, count: int, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while len(box.received) < count:
        assert time.monotonic() < deadline, f"{len(box.received)} callbacks received, expected {count}"
        time.sleep(0.1)


def by_path(box) -> dict[str, list[dict]]:
    found: dict[str, list[dict]] = {}
    for call in box.received:
        found.setdefault(call["path"], []).append(call)
    return found


def test_callback_class_is_declared(face):
    assert CONF + "callback" in face.get("/ogc/conformance").get_json()["conformsTo"]


def test_a_successful_job_calls_in_progress_then_success_once(face, sessions, worker, callbacks):  # noqa: F811
    job = submit(face, callbacks)
    worker(callback_secret=SECRET, **FAST)
    wait_received(callbacks, 2)
    time.sleep(1.5)  # a few more housekeeping rounds: nothing is sent twice
    calls = by_path(callbacks)
    assert sorted(calls) == ["/ok", "/running"] and all(len(c) == 1 for c in calls.values())

    running = calls["/running"][0]["json"]
    assert_ogc("statusInfo", running)
    assert (running["jobID"], running["processID"], running["status"]) == (job, "echo", "running")

    done = calls["/ok"][0]
    assert_ogc("results", done["json"])
    assert done["json"] == face.get(f"/ogc/jobs/{job}/results").get_json()  # what a client would GET
    assert done["json"]["echo.echo.txt"]["value"] == "hello"
    for call in (calls["/running"][0], done):
        headers = call["headers"]
        assert delivery.verify(SECRET, headers["X-AA-Timestamp"], call["body"], headers["X-AA-Signature"])
    assert [(r.kind, r.state, r.attempts) for r in rows(sessions, "SELECT kind, state, attempts FROM notifications")] \
        == [("ogc", "sent", 1)] * 2


def test_a_failed_job_calls_the_failed_uri_with_its_status_info(face, sessions, worker, callbacks):  # noqa: F811
    job = submit(face, callbacks, "fails", {}, "successUri", "failedUri")
    worker(**FAST)
    assert wait_ogc(face, f"/ogc/jobs/{job}")["status"] == "failed"
    wait_received(callbacks, 1)
    time.sleep(1.0)
    assert [c["path"] for c in callbacks.received] == ["/failed"]
    body = callbacks.received[0]["json"]
    assert_ogc("statusInfo", body)
    assert (body["jobID"], body["status"]) == (job, "failed")
    assert body == {**face.get(f"/ogc/jobs/{job}").get_json(), "progress": body["progress"]}


def test_a_dismissed_job_calls_the_failed_uri(face, sessions, callbacks):  # noqa: F811
    job = submit(face, callbacks, "echo", None, "successUri", "failedUri")
    assert face.delete(f"/ogc/jobs/{job}").status_code == 200  # still queued: cancelled
    assert notify.send_due(sessions, Settings().override(FAST)) == 1
    assert [c["path"] for c in callbacks.received] == ["/failed"]
    body = callbacks.received[0]["json"]
    assert_ogc("statusInfo", body)
    assert body["status"] == "dismissed"


def test_in_progress_is_queued_once_and_never_by_a_rolled_back_change(face, sessions, callbacks):  # noqa: F811
    job = submit(face, callbacks, "echo", None, "inProgressUri")
    with pytest.raises(RuntimeError), transaction(sessions) as session:
        session.execute(text("UPDATE submissions SET state = 'Running' WHERE id = :id"), {"id": job})
        raise RuntimeError("the transaction that started it fails")
    assert rows(sessions, "SELECT count(*) FROM notifications")[0][0] == 0
    set_state(sessions, job, "Running")
    set_state(sessions, job, "Submitted")  # as a recovery might put it back
    set_state(sessions, job, "Running")
    queued = rows(sessions, "SELECT kind, target, payload FROM notifications")
    assert [(r.kind, r.target, r.payload["uri"], r.payload["status"]["state"]) for r in queued] == [
        ("ogc", callbacks.url("/running"), "inProgressUri", "Running")]
    set_state(sessions, job, "Complete")  # no successUri or failedUri given: nothing more
    assert rows(sessions, "SELECT count(*) FROM notifications")[0][0] == 1


def test_the_in_progress_body_is_the_status_when_it_started(face, sessions, callbacks):  # noqa: F811
    job = submit(face, callbacks, "echo", None, "inProgressUri")
    set_state(sessions, job, "Running")
    set_state(sessions, job, "Complete")  # ended before the sender came round
    notify.send_due(sessions, Settings().override(FAST))
    assert callbacks.received[0]["json"]["status"] == "running"


def test_the_signature_is_sent_only_with_a_secret(face, sessions, callbacks):  # noqa: F811
    first, second = (submit(face, callbacks, "echo", None, "failedUri") for _ in range(2))
    set_state(sessions, first, "Error")
    notify.send_due(sessions, Settings().override(FAST))
    set_state(sessions, second, "Error")
    notify.send_due(sessions, Settings().override({**FAST, "callback_secret": SECRET}))
    unsigned, signed = (c["headers"] for c in callbacks.received)
    assert "X-AA-Signature" not in unsigned and unsigned["X-AA-Delivery"] and unsigned["X-AA-Timestamp"]
    assert delivery.verify(SECRET, signed["X-AA-Timestamp"], callbacks.received[1]["body"], signed["X-AA-Signature"])


def test_a_sender_that_dies_after_claiming_leaves_the_callback_to_another(face, sessions, callbacks):  # noqa: F811
    job = submit(face, callbacks, "echo", None, "failedUri")
    set_state(sessions, job, "Crash")
    with transaction(sessions) as session:  # claimed, then the sender is gone before it sends
        assert len(notify.claim(session, lease=1.0)) == 1
    settings = Settings().override(FAST)
    assert notify.send_due(sessions, settings) == 0  # leased: nobody else takes it meanwhile
    deadline = time.monotonic() + 30
    while notify.send_due(sessions, settings) == 0:
        assert time.monotonic() < deadline
        time.sleep(0.1)
    assert len(callbacks.received) == 1
    assert rows(sessions, "SELECT state, attempts FROM notifications")[0] == ("sent", 2)


def test_results_deleted_before_sending_give_the_success_callback_up(face, sessions, callbacks):  # noqa: F811
    job = submit(face, callbacks, "echo", None, "successUri")
    set_state(sessions, job, "Complete")
    assert face.delete(f"/ogc/jobs/{job}").status_code == 200  # finished: its data is deleted
    notify.send_due(sessions, Settings().override(FAST))
    assert callbacks.received == []
    row = rows(sessions, "SELECT state, attempts, last_error FROM notifications")[0]
    assert (row.state, row.attempts) == ("failed", 1) and "deleted" in row.last_error


@pytest.mark.parametrize("uri", [
    "http://10.1.2.3/hook", "http://169.254.169.254/latest/meta-data", "http://127.0.0.2:9/hook",
    "http://[::1]:9/hook", "http://no-such-host.invalid/hook", "ftp://127.0.0.1/hook",
])
def test_a_uri_the_callback_rules_refuse_is_a_400_and_nothing_is_stored(face, sessions, uri):
    response = execute(face, "echo", {"stringInput": "x"}, ASYNC,
                       subscriber={"successUri": "http://127.0.0.1:9/ok", "failedUri": uri})
    body = problem(response, 400, "InvalidParameterValue")
    assert list(body["errors"]) == ["subscriber.failedUri"]
    assert rows(sessions, "SELECT (SELECT count(*) FROM submissions), (SELECT count(*) FROM face_requests)")[0] \
        == (0, 0)
