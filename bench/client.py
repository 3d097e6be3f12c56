"""A lean HTTP/1.1 client for the load generators: one kept-alive connection per thread.

The load runs on the same two cores as the service, so the client's own CPU is taken from the
server's. `requests` spends about a millisecond of CPU per call here (sessions, adapters, cookie
jars, header merging); `http.client` on a kept-alive connection spends a fraction of that, as a
load generator such as wrk would.
"""

from __future__ import annotations

import http.client
import json
import threading
from typing import Any
from urllib.parse import urlsplit


class Client:
    """JSON requests to one server, each thread on its own kept-alive connection."""

    def __init__(self, base: str, timeout: float = 120.0) -> None:
        parts = urlsplit(base)
        self.host, self.port = parts.hostname, parts.port
        self.timeout = timeout
        self._local = threading.local()

    def request(self, method: str, path: str, body: Any = None) -> tuple[int, bytes]:
        """Send the request (body as JSON); the status and the body of the answer."""
        payload = json.dumps(body).encode() if body is not None else None
        headers = {"Content-Type": "application/json"} if payload is not None else {}
        for attempt in (1, 2):  # a kept-alive connection the server has closed meanwhile: once more
            connection = self._connection()
            try:
                connection.request(method, path, body=payload, headers=headers)
                response = connection.getresponse()
                return response.status, response.read()
            except (OSError, http.client.HTTPException) as exc:
                connection.close()  # whatever state it was left in, the next request starts afresh
                self._local.connection = None
                closed = isinstance(exc, (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError))
                if attempt == 2 or not closed:
                    raise
        raise AssertionError("unreachable")

    def post_json(self, path: str, body: Any) -> tuple[int, Any]:
        status, data = self.request("POST", path, body)
        return status, _decode(data)

    def get_json(self, path: str) -> tuple[int, Any]:
        status, data = self.request("GET", path)
        return status, _decode(data)

    def _connection(self) -> http.client.HTTPConnection:
        connection = getattr(self._local, "connection", None)
        if connection is None:
            connection = self._local.connection = http.client.HTTPConnection(
                self.host, self.port, timeout=self.timeout)
        return connection


def _decode(data: bytes) -> Any:
    try:
        return json.loads(data)
    except ValueError:
        return data.decode("utf-8", errors="replace")
