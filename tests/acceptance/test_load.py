"""2,000 submissions of a 3-step job posted concurrently: all end, none lost, none run twice."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests
from sqlalchemy import text

CONFIG = """
version: 1
backends: [{name: local, type: local}]
tasks:
  - {name: one, backend: local, executable: "true"}
  - {name: two, backend: local, executable: "true"}
  - {name: three, backend: local, executable: "true"}
jobs:
  - {name: noop, inputs: [], steps: [{task: one}, {task: two}, {task: three}]}
"""
N = 2000


@pytest.mark.slow
def test_two_thousand_concurrent_submissions(api, workers, sessions):
    api.put_config(CONFIG)
    workers(2, concurrency=4)
    http = requests.Session()
    http.mount("http://", requests.adapters.HTTPAdapter(pool_maxsize=16))

    def submit(i: int) -> str:
        response = http.post(api.url("/api/submissions"), json={"job": "noop", "name": f"load-{i}"}, timeout=60)
        assert response.status_code == 201, response.text
        return response.json()["id"]

    with ThreadPoolExecutor(16) as pool:
        ids = set(pool.map(submit, range(N)))
    assert len(ids) == N
    deadline = time.monotonic() + 300
    with sessions() as session:
        while session.execute(text("SELECT count(*) FROM submissions WHERE finished IS NULL")).scalar():
            assert time.monotonic() < deadline, "submissions still unfinished"
            session.rollback()
            time.sleep(0.5)
        states = dict(session.execute(text("SELECT state, count(*) FROM submissions GROUP BY state")).all())
        assert states == {"Complete": N}
        steps = session.execute(text(
            "SELECT count(*), count(*) FILTER (WHERE state = 'Complete' AND attempts = 1) FROM steps")).one()
        assert tuple(steps) == (3 * N, 3 * N)
        assert session.execute(text("SELECT count(*) FROM attempts")).scalar() == 3 * N
        assert session.execute(text("SELECT count(DISTINCT name) FROM submissions")).scalar() == N
        assert session.execute(text("SELECT count(*) FROM procrastinate_jobs")).scalar() == 0
