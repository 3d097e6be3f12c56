"""The request size limit, applied so that the client's connection survives a 413.

A body refused unread stays in the socket: a kept-alive connection then fails on its next request
("Remote end closed connection without response"), and a server may drop any `Connection: close` the
app sets. So the unread rest of every body is drained after the response. A chunked body (no
Content-Length) is spooled up to the limit first: Werkzeug would otherwise cut it silently at the
limit and the app would see a truncated body (a 400 for bad JSON instead of a 413).
"""

from __future__ import annotations

import io
import tempfile
from collections.abc import Iterable

from werkzeug.wsgi import ClosingIterator

TOO_LARGE = "aa.body_too_large"
_CHUNK = 64 * 1024
_SPOOL_IN_MEMORY = 1024 * 1024  # a chunked body larger than this is spooled to a temporary file
_MAX_DRAIN = 1024 * 1024 * 1024  # past this much unread body, reading it costs more than a reconnect


class BodyLimit:
    """WSGI middleware: spool chunked bodies up to `max_bytes`, drain what the app left unread."""

    def __init__(self, app, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    def __call__(self, environ: dict, start_response) -> Iterable[bytes]:
        stream = environ.get("wsgi.input")
        if stream is None:
            return self.app(environ, start_response)
        after = [lambda: _drain(stream)]
        if "chunked" in environ.get("HTTP_TRANSFER_ENCODING", "").lower():
            # Kept open for the app to read; closed with the response.
            spool = tempfile.SpooledTemporaryFile(max_size=_SPOOL_IN_MEMORY)  # noqa: SIM115
            after.append(spool.close)
            self._spool(environ, stream, spool)
        return ClosingIterator(self.app(environ, start_response), after)

    def _spool(self, environ: dict, stream, spool) -> None:
        size = 0
        while size <= self.max_bytes and (chunk := stream.read(_CHUNK)):
            spool.write(chunk)
            size += len(chunk)
        if size > self.max_bytes:
            environ[TOO_LARGE] = True
            environ["wsgi.input"], size = io.BytesIO(), 0
        else:
            spool.seek(0)
            environ["wsgi.input"] = spool
        environ["CONTENT_LENGTH"] = str(size)
        environ.pop("HTTP_TRANSFER_ENCODING", None)


def _drain(stream) -> None:
    """Read and drop what is left of the request body (the server bounds it by its framing)."""
    drained = 0
    try:
        while drained < _MAX_DRAIN and (chunk := stream.read(_CHUNK)):
            drained += len(chunk)
    except (OSError, ValueError):  # the client went away; nothing to keep alive
        pass
