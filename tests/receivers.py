"""Real receivers on loopback for notification tests: an SMTP server (aiosmtpd) and an HTTP server
that records callbacks, both on free ports; and the one-step job these tests submit."""

from __future__ import annotations

import email
import json
import socket
import threading
import time
from dataclasses import dataclass, field
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

HELLO = """
version: 1
backends: [{name: local, type: local}]
tasks:
  - {name: hello, backend: local, executable: "echo hello", stdout_glob: ".txt"}
jobs:
  - {name: hello, inputs: [], steps: [{task: hello}]}
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Mailbox:
    port: int
    messages: list[Message] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"smtp://127.0.0.1:{self.port}"


class _Handler:
    def __init__(self, box: Mailbox) -> None:
        self.box = box

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 (aiosmtpd's name)
        self.box.messages.append(email.message_from_bytes(envelope.content))
        return "250 OK"


@pytest.fixture
def mailbox():
    """An SMTP server on loopback; `mailbox.messages` are the emails it received."""
    from aiosmtpd.controller import Controller

    box = Mailbox(free_port())
    controller = Controller(_Handler(box), hostname="127.0.0.1", port=box.port)
    controller.start()
    yield box
    controller.stop()


@dataclass
class Callbacks:
    port: int
    received: list[dict] = field(default_factory=list)  # {"path", "headers", "body", "json", "at"}
    fail_first: int = 0  # answer 500 to this many requests first
    lock: threading.Lock = field(default_factory=threading.Lock)

    def url(self, path: str = "/hook") -> str:
        return f"http://127.0.0.1:{self.port}{path}"


@pytest.fixture
def callbacks():
    """An HTTP server on loopback recording every POST; `fail_first` makes it answer 500 at first."""
    box = Callbacks(free_port())

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802 (http.server's name)
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            with box.lock:
                box.received.append({"path": self.path, "headers": dict(self.headers), "body": body, "json": json.loads(body),
                                     "at": time.time()})
                failing = box.fail_first > 0
                box.fail_first -= 1 if failing else 0
            self.send_response(500 if failing else 204)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", box.port), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield box
    server.shutdown()
    server.server_close()
