"""Uploaded input files: held in memory (a JSON body's) or in a file (a multipart body's), and
stored in the database in chunks, so that storing an upload of any size costs the web process
`CHUNK` bytes, not the upload's size.

A multipart upload arrives in a temporary file (the web server spools the body to disk, and the
form parser spools each file part); it is hashed in one pass over that file and written to the
`blobs` table in a second, through a binary COPY whose one row is sent a chunk at a time.
Validators that read the content (text, JSON, CSV...) see it through a read-only memory map of the
file: file-backed pages the kernel may drop, not a copy on the heap.
"""

from __future__ import annotations

import hashlib
import mmap
import struct
from collections.abc import Iterator
from dataclasses import dataclass
from typing import BinaryIO

import psycopg

CHUNK = 1024 * 1024
_SIGNATURE = b"PGCOPY\n\xff\r\n\x00" + struct.pack("!ii", 0, 0)
_TRAILER = struct.pack("!h", -1)
_COPY = "COPY blobs (sha256, size, data) FROM STDIN (FORMAT BINARY)"
# Two identical uploads at once: the second waits for the first's transaction, then finds its row.
_LOCK = "SELECT pg_advisory_xact_lock(74203, hashtext(%(sha256)s))"
_EXISTS = "SELECT 1 FROM blobs WHERE sha256 = %(sha256)s"


@dataclass(frozen=True)
class Upload:
    """One input file as the client sent it: `data` in memory, or `file` (read in chunks from its
    start); `filename` is metadata only."""

    data: bytes = b""
    filename: str = ""
    file: BinaryIO | None = None

    @property
    def size(self) -> int:
        if self.file is None:
            return len(self.data)
        self.file.seek(0, 2)
        return self.file.tell()

    def chunks(self) -> Iterator[bytes]:
        """The content, `CHUNK` bytes at a time."""
        if self.file is None:
            yield from (self.data[i:i + CHUNK] for i in range(0, len(self.data), CHUNK))
            return
        self.file.seek(0)
        while chunk := self.file.read(CHUNK):
            yield chunk

    def content(self) -> bytes | mmap.mmap:
        """The whole content for a validator: the bytes, or a read-only map of the file."""
        if self.file is None:
            return self.data
        if self.size < CHUNK:  # small: a copy costs less than a map (and keeps a spooled file in memory)
            self.file.seek(0)
            return self.file.read()
        self.file.flush()
        return mmap.mmap(self.file.fileno(), 0, access=mmap.ACCESS_READ)


def store(connection: psycopg.Connection, upload: Upload) -> str:
    """Store the upload's content in `blobs` unless it is there already; return its SHA-256."""
    digest = hashlib.sha256()
    for chunk in upload.chunks():
        digest.update(chunk)
    sha256 = digest.hexdigest()
    connection.execute(_LOCK, {"sha256": sha256})
    if connection.execute(_EXISTS, {"sha256": sha256}).fetchone() is not None:
        return sha256
    size = upload.size
    with connection.cursor().copy(_COPY) as copy:
        key = sha256.encode()
        copy.write(_SIGNATURE + struct.pack("!hi", 3, len(key)) + key + struct.pack("!iqi", 8, size, size))
        for chunk in upload.chunks():
            copy.write(chunk)
        copy.write(_TRAILER)
    return sha256
