"""An upload is streamed to the database in chunks: the web process's peak memory grows by far
less than the upload's size (issue 13, item 6). Measured on the real web server (one process),
as its peak resident set (VmHWM) before and after a 64 MiB multipart upload."""

from __future__ import annotations

import os

import requests
from sqlalchemy import text

from tests.acceptance.conftest import web_server

CONFIG = """
version: 1
backends: [{name: local, type: local}]
tasks: [{name: keep, backend: local, executable: "true", in_globs: [".bin"]}]
jobs:
  - {name: keep, inputs: [{name: data, glob: .bin, validators: []}], steps: [{task: keep}]}
  - {name: keep_png, inputs: [{name: data, glob: .bin, validators: [png]}], steps: [{task: keep}]}
"""
SIZE = 64 * 1024 * 1024


def _peak_kib(pid: int) -> int:
    with open(f"/proc/{pid}/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith("VmHWM:"))


def test_a_large_upload_does_not_pass_through_memory_whole(api, database_url, sessions, monkeypatch):
    monkeypatch.setenv("AA_MAX_UPLOAD_MB", "200")
    with web_server(database_url) as (base, process):
        api.put_config(CONFIG)
        warm = requests.post(f"{base}/api/submissions", files={"data": ("w.bin", b"\x89PNG\r\n\x1a\n" * 1000)},
                             data={"job": "keep"}, timeout=60)
        assert warm.status_code == 201, warm.text
        figures = {}
        for job in ("keep", "keep_png"):
            before = _peak_kib(process.pid)
            content = b"\x89PNG\r\n\x1a\n" + os.urandom(SIZE - 8)
            response = requests.post(f"{base}/api/submissions", files={"data": ("big.bin", content)},
                                     data={"job": job}, timeout=300)
            assert response.status_code == 201, response.text
            figures[job] = (_peak_kib(process.pid) - before) / 1024
            del content
        with sessions() as session:
            assert session.execute(text("SELECT count(*) FROM blobs WHERE size = :size"), {"size": SIZE}).scalar() == 2
        print(f"\npeak memory growth of the web process for a {SIZE // 2**20} MiB upload: "
              + ", ".join(f"{job} {mib:.1f} MiB" for job, mib in figures.items()))
        assert all(mib < SIZE / 2**20 / 4 for mib in figures.values()), figures
