"""Notifications (SPEC §4.10): queued by the transaction that ends a submission, sent once by a
worker to a real SMTP server and a real HTTP receiver on loopback."""

from __future__ import annotations

import time
import uuid

import pytest
from sqlalchemy import text

from app import create_app
from app.config import Settings
from app.db import transaction
from app.services import delivery, notify
from tests.receivers import HELLO as CONFIG
from tests.receivers import callbacks, mailbox  # noqa: F401 (fixtures)

SECRET = "test-secret"


@pytest.fixture
def notifying(database_url, sessions, mailbox, callbacks, load_config):  # noqa: F811
    """Settings and an app that send to the loopback receivers."""
    load_config(CONFIG)
    values = {"database_url": database_url, "smtp_url": mailbox.url, "callback_secret": SECRET,
              "callback_allow": ("127.0.0.1",), "public_url": "http://aa.example", "poll_seconds": 0.5,
              "notify_backoff_seconds": 0.2, "housekeeping_seconds": 0.2}
    return Settings().override(values), create_app(values)


def _ids(sessions, sql: str, **params) -> list:
    with transaction(sessions) as session:
        return list(session.execute(text(sql), params).all())


def _submit(client, callbacks, **extra):  # noqa: F811
    body = {"job": "hello", "email": "someone@example.org", "callback_url": callbacks.url(), **extra}
    response = client.post("/api/submissions", json=body)
    assert response.status_code == 201, response.get_json()
    return response.get_json()["id"]


def _end(sessions, submission_id: str, state: str = "Complete") -> None:
    with transaction(sessions) as session:
        session.execute(text("UPDATE submissions SET state = :state, finished = now() WHERE id = :id"),
                        {"state": state, "id": submission_id})


def test_the_end_of_a_submission_queues_its_notifications_once_and_a_rolled_back_end_none(
        notifying, sessions, callbacks):  # noqa: F811
    _, app = notifying
    client = app.test_client()
    ended, rolled_back, running = (_submit(client, callbacks) for _ in range(3))
    assert _ids(sessions, "SELECT count(*) FROM submission_contacts")[0][0] == 3
    assert _ids(sessions, "SELECT count(*) FROM notifications")[0][0] == 0

    _end(sessions, ended)
    _end(sessions, ended, "Error")  # a second final state (not normal, but) queues nothing more
    with pytest.raises(RuntimeError), transaction(sessions) as session:
        session.execute(text("UPDATE submissions SET state = 'Complete', finished = now() WHERE id = :id"),
                        {"id": rolled_back})
        raise RuntimeError("the transaction that ended it fails")
    with transaction(sessions) as session:
        session.execute(text("UPDATE submissions SET state = 'Running' WHERE id = :id"), {"id": running})

    rows = _ids(sessions, "SELECT submission_id, kind, target, payload, state FROM notifications ORDER BY kind")
    assert [(str(r.submission_id), r.kind, r.state) for r in rows] == [
        (ended, "callback", "pending"), (ended, "email", "pending")]
    assert rows[0].payload["state"] == "Complete" and rows[1].target == "someone@example.org"
    # The contacts moved into the outbox: the address is in one place only.
    assert {str(r[0]) for r in _ids(sessions, "SELECT submission_id FROM submission_contacts")} == {
        rolled_back, running}


def test_the_address_is_never_returned(notifying, callbacks):  # noqa: F811
    _, app = notifying
    client = app.test_client()
    response = client.post("/api/submissions", data={"job": "hello", "email": "someone@example.org",
                                                     "callback_url": callbacks.url()})
    assert response.status_code == 201, response.get_json()
    submission_id = response.get_json()["id"]
    for body in (response.get_data(as_text=True), client.get(f"/api/submissions/{submission_id}").get_data(as_text=True)):
        assert "someone@example.org" not in body and "127.0.0.1" not in body


@pytest.mark.parametrize(("field", "value", "message"), [
    ("email", "not an address", "must be an email address"),
    ("email", 12, "must be an email address"),
    ("callback_url", "ftp://example.org/x", "must be an http or https URL"),
    ("callback_url", "http://127.0.0.2:9/x", "loopback, private or link-local"),
    ("callback_url", "http://10.1.2.3/x", "loopback, private or link-local"),
    ("callback_url", "http://169.254.169.254/latest/meta-data", "loopback, private or link-local"),
    ("callback_url", "http://[::1]:80/x", "loopback, private or link-local"),
    ("callback_url", "http://[fe80::1]/x", "loopback, private or link-local"),
    ("callback_url", "http://no-such-host.invalid/x", "cannot be resolved"),
])
def test_bad_or_forbidden_contacts_are_refused_and_nothing_is_stored(notifying, sessions, field, value, message):
    _, app = notifying
    response = app.test_client().post("/api/submissions", json={"job": "hello", field: value})
    assert response.status_code == 400
    assert message in response.get_json()["errors"][field][0]
    assert _ids(sessions, "SELECT count(*) FROM submissions")[0][0] == 0


def test_contacts_need_the_service_configured(database_url, sessions, load_config):
    load_config(CONFIG)
    client = create_app({"database_url": database_url}).test_client()
    response = client.post("/api/submissions", json={"job": "hello", "email": "a@example.org",
                                                     "callback_url": "http://example.org/x"})
    assert response.status_code == 400
    assert "AA_SMTP_URL" in response.get_json()["errors"]["email"][0]
    assert "AA_CALLBACK_SECRET" in response.get_json()["errors"]["callback_url"][0]


def _wait_for(predicate, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.1)


def test_a_worker_sends_the_email_and_the_signed_callback_once(
        notifying, sessions, worker, mailbox, callbacks):  # noqa: F811
    settings, app = notifying
    client = app.test_client()
    submission_id = _submit(client, callbacks, name="my run")
    worker(**{k: getattr(settings, k) for k in ("smtp_url", "callback_secret", "callback_allow", "public_url",
                                                "notify_backoff_seconds", "housekeeping_seconds")})
    _wait_for(lambda: len(mailbox.messages) == 1 and len(callbacks.received) == 1)
    time.sleep(1.5)  # a few more housekeeping rounds: nothing is sent twice
    assert len(mailbox.messages) == 1 and len(callbacks.received) == 1

    mail = mailbox.messages[0]
    assert mail["To"] == "someone@example.org" and "Complete" in mail["Subject"]
    text = mail.get_payload(decode=True).decode().replace("\r\n", "\n")
    assert f"http://aa.example/submissions/{submission_id}\n" in text  # the page, for people
    assert f"http://aa.example/api/submissions/{submission_id}\n" in text

    call = callbacks.received[0]
    headers = call["headers"]
    assert call["json"]["id"] == submission_id and call["json"]["state"] == "Complete"
    assert delivery.verify(SECRET, headers["X-AA-Timestamp"], call["body"], headers["X-AA-Signature"])
    assert not delivery.verify("another secret", headers["X-AA-Timestamp"], call["body"], headers["X-AA-Signature"])
    assert not delivery.verify(SECRET, str(int(time.time()) - 3600), call["body"], headers["X-AA-Signature"])

    rows = _ids(sessions, "SELECT kind, state, target, attempts, sent FROM notifications ORDER BY kind")
    assert [(r.kind, r.state, r.attempts) for r in rows] == [("callback", "sent", 1), ("email", "sent", 1)]
    assert rows[1].target == ""  # the address is erased once used
    everything = _ids(sessions, "SELECT row_to_json(n)::text FROM notifications n "
                                "UNION ALL SELECT row_to_json(c)::text FROM submission_contacts c")
    assert not any("someone@example.org" in row[0] for row in everything)


def test_a_failing_callback_is_retried_with_backoff_then_given_up(notifying, sessions, callbacks):  # noqa: F811
    settings, app = notifying
    settings = settings.override({"notify_attempts": 3})
    callbacks.fail_first = 100
    submission_id = _submit(app.test_client(), callbacks, email=None)
    _end(sessions, submission_id, "Error")
    deadline = time.monotonic() + 60
    while len(callbacks.received) < 3:
        notify.send_due(sessions, settings)
        assert time.monotonic() < deadline
        time.sleep(0.02)
    time.sleep(1.0)
    notify.send_due(sessions, settings)
    assert len(callbacks.received) == 3  # given up: no fourth attempt
    assert len({c["headers"]["X-AA-Delivery"] for c in callbacks.received}) == 1  # one delivery id throughout
    # Exponential: 0.2 s, then 0.4 s between attempts (lower bounds only, less the clocks' rounding;
    # a slow machine waits longer).
    at = [c["at"] for c in callbacks.received]
    assert at[1] - at[0] >= 0.19 and at[2] - at[1] >= 0.39
    row = _ids(sessions, "SELECT state, attempts, last_error FROM notifications")[0]
    assert (row.state, row.attempts, row.last_error) == ("failed", 3, "callback answered HTTP 500")


def test_a_sender_that_dies_after_claiming_leaves_the_notification_to_another(
        notifying, sessions, callbacks):  # noqa: F811
    settings, app = notifying
    submission_id = _submit(app.test_client(), callbacks, email=None)
    _end(sessions, submission_id)
    with transaction(sessions) as session:  # claimed, then the sender is gone before it sends
        assert len(notify.claim(session, lease=1.0)) == 1
    assert notify.send_due(sessions, settings) == 0  # leased: nobody else takes it meanwhile
    _wait_for(lambda: notify.send_due(sessions, settings) == 1, timeout=30)
    assert len(callbacks.received) == 1
    assert _ids(sessions, "SELECT state, attempts FROM notifications")[0] == ("sent", 2)


def test_a_purged_submission_still_gets_its_notifications(notifying, sessions, callbacks):  # noqa: F811
    _, app = notifying
    client = app.test_client()
    submission_id = _submit(client, callbacks, email=None)
    assert client.delete(f"/api/submissions/{submission_id}?purge=true").status_code == 202
    rows = _ids(sessions, "SELECT submission_id, payload->>'state' FROM notifications")
    assert [(str(r[0]), r[1]) for r in rows] == [(submission_id, "Cancelled")]
    assert uuid.UUID(submission_id)


@pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")
@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_email_through_a_server_that_needs_a_login(database_url, sessions, load_config):
    """`smtp://user:password@host:port`: the sender logs in, percent-escapes decoded."""
    from aiosmtpd.controller import Controller
    from aiosmtpd.smtp import AuthResult, LoginPassword

    from tests.receivers import Mailbox, _Handler, free_port

    def authenticate(server, session, envelope, mechanism, data):
        ok = isinstance(data, LoginPassword) and (data.login, data.password) == (b"ann", b"p@ss word")
        return AuthResult(success=ok)

    box = Mailbox(free_port())
    controller = Controller(_Handler(box), hostname="127.0.0.1", port=box.port, authenticator=authenticate,
                            auth_required=True, auth_require_tls=False)
    controller.start()
    try:
        load_config(CONFIG)
        url = f"smtp://ann:p%40ss%20word@127.0.0.1:{box.port}"
        settings = Settings().override({"database_url": database_url, "smtp_url": url})
        client = create_app({"database_url": database_url, "smtp_url": url}).test_client()
        submission_id = client.post("/api/submissions", json={"job": "hello", "email": "ann@example.org"}
                                    ).get_json()["id"]
        _end(sessions, submission_id)
        assert notify.send_due(sessions, settings) == 1
        assert _ids(sessions, "SELECT state FROM notifications") == [("sent",)]
        assert [m["To"] for m in box.messages] == ["ann@example.org"]
    finally:
        controller.stop()
