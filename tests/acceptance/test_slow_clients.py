"""Slow clients and `?wait=` waiters cost no request thread (issue 13, item 3).

The real web server (app.webserver, one process, default settings) gets 200 connections that
trickle their request and 200 waiters on one submission; meanwhile health and a POST must still be
answered (within a generous bound), and one cancel must wake all 200 waiters through the process's
one listener. No worker runs: the submission waits until it is cancelled.
"""

from __future__ import annotations

import json
import select
import socket
import time

import requests

from tests.acceptance.conftest import web_server

CONFIG = """
version: 1
backends: [{name: local, type: local}]
tasks: [{name: count, backend: local, executable: "wc -w $I1", in_globs: [".txt"], stdout_glob: ".count"}]
jobs: [{name: count, steps: [{task: count}]}]
"""
SLOW, WAITERS = 200, 200
PROMPTLY = 20  # seconds: a bound for a loaded 2-core machine, not a timing measurement
BODY = json.dumps({"job": "count", "inputs": {"input_data": {"content": "a b c"}}})


def _connect(base: str) -> socket.socket:
    host, port = base.removeprefix("http://").split(":")
    sock = socket.create_connection((host, int(port)), timeout=60)
    return sock


def _slow_requests(base: str) -> list[socket.socket]:
    """Half stop in the middle of their headers, half in the middle of their body."""
    sockets = []
    for n in range(SLOW):
        sock = _connect(base)
        if n % 2:
            sock.sendall(b"POST /api/submissions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n")
        else:
            sock.sendall(b"POST /api/submissions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                         b"Content-Length: 100000\r\n\r\n{\"job\": ")
        sockets.append(sock)
    return sockets


def _read_response(sock: socket.socket) -> tuple[int, dict]:
    data = b""
    while True:
        chunk = sock.recv(65536)
        if not chunk:
            break
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    return int(head.split()[1]), json.loads(body)


def test_slow_clients_and_waiters_leave_the_api_answering(api, service):
    api.put_config(CONFIG)
    submission = requests.post(f"{service}/api/submissions", data=BODY, timeout=30,
                               headers={"Content-Type": "application/json"}).json()["id"]
    slow = _slow_requests(service)
    waiters = []
    for _ in range(WAITERS):
        sock = _connect(service)
        sock.sendall(f"GET /api/submissions/{submission}?wait=60 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
                     .encode())
        waiters.append(sock)
    try:
        started = time.monotonic()
        health = requests.get(f"{service}/api/health", timeout=PROMPTLY)
        health_seconds = time.monotonic() - started
        started = time.monotonic()
        posted = requests.post(f"{service}/api/submissions", data=BODY, timeout=PROMPTLY,
                               headers={"Content-Type": "application/json"})
        post_seconds = time.monotonic() - started
        assert health.status_code == 200 and posted.status_code == 201, (health.text, posted.text)
        started = time.monotonic()
        assert requests.delete(f"{service}/api/submissions/{submission}", timeout=PROMPTLY).status_code == 202
        answers = [_read_response(sock) for sock in waiters]
        woken_seconds = time.monotonic() - started
        assert [status for status, _ in answers] == [200] * WAITERS
        assert {body["state"] for _, body in answers} == {"Cancelled"}
        print(f"\nwith {SLOW} slow connections and {WAITERS} waiters: health {health_seconds * 1000:.0f} ms, "
              f"POST {post_seconds * 1000:.0f} ms; all waiters answered {woken_seconds * 1000:.0f} ms after the cancel")
    finally:
        for sock in slow + waiters:
            sock.close()


def test_past_the_waiter_cap_a_wait_is_503_and_a_post_answers_at_once(api, database_url, monkeypatch):
    monkeypatch.setenv("AA_MAX_WAITERS", "2")
    with web_server(database_url) as (base, _):
        api.put_config(CONFIG)
        submission = requests.post(f"{base}/api/submissions", data=BODY, timeout=30,
                                   headers={"Content-Type": "application/json"}).json()["id"]
        held: list[socket.socket] = []
        deadline = time.monotonic() + 60
        while True:  # two waiters held (again, if one ended: a shared server may be short of connections)
            for sock in [sock for sock in held if select.select([sock], [], [], 0)[0]]:
                held.remove(sock)
                sock.close()
            while len(held) < 2:
                held.append(_connect(base))
                held[-1].sendall(f"GET /api/submissions/{submission}?wait=60 HTTP/1.1\r\nHost: x\r\n\r\n".encode())
            third = requests.get(f"{base}/api/submissions/{submission}?wait=1", timeout=30)
            if third.status_code == 503 and "Retry-After" in third.headers or time.monotonic() > deadline:
                break
        assert third.status_code == 503, (third.status_code, third.text[:300])
        assert int(third.headers["Retry-After"]) > 0
        # No worker runs, so a POST that waited would take its 60 s and outlast the client's timeout.
        posted = requests.post(f"{base}/api/submissions?wait=60", data=BODY, timeout=45,
                               headers={"Content-Type": "application/json"})
        assert posted.status_code == 201 and posted.json()["state"] == "Submitted"
        for sock in held:
            sock.close()
