from __future__ import annotations

import pytest

from app.config import Settings
from app.queue.worker import Worker


@pytest.fixture
def worker(sessions):
    """A worker in this process (real threads, real subprocesses, real queue)."""
    started = []

    def start(concurrency: int = 2, **settings) -> Worker:
        config = Settings(**{"poll_seconds": 0.5, "heartbeat_seconds": 0.5, **settings})
        w = Worker(sessions=sessions, settings=config, concurrency=concurrency)
        w.start()
        started.append(w)
        return w

    yield start
    for w in started:
        w.stop(10)
