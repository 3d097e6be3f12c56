"""The real thing: the web server (app.webserver) serving HTTP and `aa worker` processes running real subprocesses."""

from __future__ import annotations

import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
import requests

from app import runtime


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@contextmanager
def web_server(database_url: str) -> Iterator[tuple[str, subprocess.Popen]]:
    """A web server serving the app on a free port (its settings from this environment): its base URL
    and process, once healthy; stopped on the way out."""
    port = free_port()
    process = runtime.serve(database_url, host="127.0.0.1", port=port, processes=1)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_healthy(base, process)
        yield base, process
    finally:
        stop(process)


@pytest.fixture
def service(database_url, sessions):
    """Base URL of the web server serving the app on a free port."""
    with web_server(database_url) as (base, _):
        yield base


def wait_healthy(base: str, process: subprocess.Popen, timeout: float = 30) -> None:
    """Wait until the service at `base` answers its health check."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            if requests.get(f"{base}/api/health", timeout=5).status_code == 200:
                return
        except (requests.ConnectionError, requests.Timeout):  # not up yet, or slow to import on a busy machine
            pass
        assert process.poll() is None, "the web server exited"
        assert time.monotonic() < deadline, "service did not become healthy"
        time.sleep(0.1)


@pytest.fixture
def workers(database_url, sessions):
    """Start `aa worker` processes: workers(n, concurrency=2, env={...})."""
    started: list[subprocess.Popen] = []

    def start(n: int = 1, concurrency: int = 2, env: dict[str, str] | None = None) -> list[subprocess.Popen]:
        settings = {"AA_HEARTBEAT_SECONDS": "0.5", "AA_POLL_SECONDS": "0.5", **(env or {})}
        new = [runtime.spawn_worker(database_url, concurrency=concurrency, env=settings) for _ in range(n)]
        started.extend(new)
        return new

    yield start
    for process in started:
        stop(process)


@pytest.fixture
def api(service, admin_token):
    """A small HTTP client for the tests."""
    return Client(service, admin_token)


class Client:
    def __init__(self, base: str, admin_token: str) -> None:
        self.base = base
        self.admin = {"Authorization": f"Bearer {admin_token}"}

    def url(self, path: str) -> str:
        return path if path.startswith("http") else self.base + path

    def put_config(self, document: str) -> requests.Response:
        response = requests.put(self.url("/api/config"), data=document.encode(), headers=self.admin, timeout=30)
        assert response.status_code == 200, response.text
        return response

    def submit(self, job: str, *, files: dict | None = None, data: dict | None = None, wait: float = 0):
        response = requests.post(self.url(f"/api/submissions?wait={wait}"), data={"job": job, **(data or {})},
                                 files=files or {}, timeout=90)
        assert response.status_code == 201, response.text
        return response.json()

    def get(self, path: str, **kwargs) -> requests.Response:
        return requests.get(self.url(path), timeout=30, **kwargs)

    def wait_done(self, submission_id: str, timeout: float = 60) -> dict:
        deadline = time.monotonic() + timeout
        while True:
            body = self.get(f"/api/submissions/{submission_id}?wait=5").json()
            if body["state"] in ("Complete", "Error", "Crash", "Cancelled"):
                return body
            assert time.monotonic() < deadline, f"still {body['state']}"
