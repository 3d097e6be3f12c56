"""Forwarded addresses, callback URL checks and signatures, JSON logs: no database needed."""

from __future__ import annotations

import json
import logging
import time

import pytest

from app import logs
from app.services import delivery
from app.services.forwarded import client_address

PROXIES = ("10.0.0.1", "192.168.0.0/16")


@pytest.mark.parametrize(("peer", "forwarded", "expected"), [
    ("203.0.113.9", [], "203.0.113.9"),
    ("203.0.113.9", ["198.51.100.1"], "203.0.113.9"),  # an untrusted peer's header is ignored
    ("10.0.0.1", ["198.51.100.1"], "198.51.100.1"),
    ("10.0.0.1", ["6.6.6.6, 198.51.100.1"], "198.51.100.1"),  # the client wrote 6.6.6.6 itself
    ("10.0.0.1", ["198.51.100.1, 192.168.4.4"], "198.51.100.1"),  # through two trusted proxies
    ("10.0.0.1", ["198.51.100.1", "192.168.4.4"], "198.51.100.1"),  # as two header lines
    ("10.0.0.1", ["garbage"], "10.0.0.1"),
    ("10.0.0.1", ["192.168.4.4"], "192.168.4.4"),  # nothing but proxies: the farthest one
    ("10.0.0.2", ["198.51.100.1"], "10.0.0.2"),
])
def test_a_forwarded_address_counts_only_behind_a_trusted_proxy(peer, forwarded, expected):
    assert client_address(peer, forwarded, PROXIES) == expected


def test_without_trusted_proxies_the_peer_is_the_client():
    assert client_address("10.0.0.1", ["198.51.100.1"], ()) == "10.0.0.1"


@pytest.mark.parametrize(("url", "allow", "refused"), [
    ("http://127.0.0.1:8080/x", (), "loopback"),
    ("http://127.0.0.1:8080/x", ("127.0.0.1",), None),
    ("http://127.0.0.1:8080/x", ("127.0.0.0/8",), None),
    ("http://localhost:8080/x", ("localhost",), None),
    ("http://localhost:8080/x", ("local*",), None),
    ("http://192.168.1.10/x", ("127.0.0.1",), "private"),
    ("http://[::ffff:127.0.0.1]/x", (), "loopback"),
    ("http://0.0.0.0/x", (), "loopback"),
    ("gopher://example.org/x", (), "http or https"),
    ("http:///x", (), "http or https"),
    ("http://example.org:99999/x", (), "not a valid URL"),
])
def test_callback_targets(url, allow, refused):
    answer = delivery.refusal(url, allow)
    assert (answer is None) if refused is None else (refused in answer)


def test_signatures_bind_the_body_and_the_time():
    body, now = b'{"id": "x"}', str(int(time.time()))
    signed = delivery.signature("k", now, body)
    assert signed.startswith("sha256=") and len(signed) == 7 + 64
    assert delivery.verify("k", now, body, signed)
    assert not delivery.verify("k", now, body + b" ", signed)
    assert not delivery.verify("k", str(int(now) + 1), body, signed)
    assert not delivery.verify("k", "soon", body, signed)


@pytest.fixture
def json_lines(capsys):
    """A callable giving the log lines written so far, parsed; logging restored afterwards.
    (Each test configures JSON logging itself: the standard error that capsys captures during the test
    is not the one in place while fixtures are set up.)"""
    root = logging.getLogger()
    saved = root.handlers[:], root.level
    yield lambda: [json.loads(line) for line in capsys.readouterr().err.splitlines()]
    root.handlers[:] = saved[0]
    root.setLevel(saved[1])


def test_json_logs_carry_the_ids(json_lines):
    logger = logging.getLogger("app.test_json")
    logs.configure("json")
    with logs.context(submission_id="s-1"):
        logger.info("step %s done", "count", extra={"step_id": 7})
    logger.warning("plain")
    first, second = json_lines()
    assert first["message"] == "step count done" and first["level"] == "INFO"
    assert (first["submission_id"], first["step_id"]) == ("s-1", "7")
    assert "submission_id" not in second and second["logger"] == "app.test_json"


def test_a_bound_thread_tags_its_records_until_unbound(json_lines):
    logger = logging.getLogger("app.test_bind")
    logs.configure("json")
    logs.bind(submission_id="s-2", step_id=9)
    logger.info("running")
    logs.unbind()
    logger.info("idle")
    running, idle = json_lines()
    assert (running["submission_id"], running["step_id"]) == ("s-2", "9") and "step_id" not in idle
