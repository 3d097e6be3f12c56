"""Fixtures and helpers the standard faces' tests share."""

from __future__ import annotations

import http.server
import threading
import time

import pytest

from app.runtime import example_config

# A job that fails at run time, for the failed-job requirements.
FAILING = """
version: 1
tasks:
  - {name: always_fails, backend: local, executable: "false"}
jobs:
  - {name: fails, description: Always fails, inputs: [], steps: [{task: always_fails}]}
"""
DONE = {"successful", "failed", "dismissed"}


@pytest.fixture(scope="module")
def face_app(database_url):
    """One app per test module (each app keeps a pool and a listening connection): inputs by
    reference may come from this machine (tests serve them on 127.0.0.1)."""
    from app import create_app

    app = create_app({"database_url": database_url, "poll_seconds": 0.5, "callback_allow": ("127.0.0.1",)})
    yield app
    app.extensions["aa_engine"].dispose()


@pytest.fixture
def face(face_app, load_config):
    """A client of the app, with the example jobs (echo among them) and a failing job loaded."""
    load_config(example_config() + "\n---\n" + FAILING)
    return face_app.test_client()


@pytest.fixture
def served():
    """Serve bytes over HTTP on 127.0.0.1: served(b"...") -> URL."""
    servers = []

    def serve(body: bytes, content_type: str = "text/plain") -> str:
        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                self.send_response(200)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return f"http://127.0.0.1:{server.server_address[1]}/input.txt"

    yield serve
    for server in servers:
        server.shutdown()
        server.server_close()


def wait_ogc(client, job_url: str, timeout: float = 90) -> dict:
    """Poll a job's status until it has ended (generous: the machine may be busy)."""
    deadline = time.monotonic() + timeout
    while True:
        body = client.get(job_url).get_json()
        if body["status"] in DONE:
            return body
        assert time.monotonic() < deadline, f"job still {body['status']}"
        time.sleep(0.2)


def wait_wes(client, run_id: str, timeout: float = 90) -> str:
    deadline = time.monotonic() + timeout
    while True:
        state = client.get(f"/ga4gh/wes/v1/runs/{run_id}/status").get_json()["state"]
        if state in ("COMPLETE", "EXECUTOR_ERROR", "SYSTEM_ERROR", "CANCELED"):
            return state
        assert time.monotonic() < deadline, f"run still {state}"
        time.sleep(0.2)
