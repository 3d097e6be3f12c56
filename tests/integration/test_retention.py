"""Retention (SPEC §9): finished submissions past AA_RETENTION_DAYS are purged in bounded batches,
with the contents only they used, while the service goes on."""

from __future__ import annotations

import hashlib
import io
import statistics
import threading
import time

from sqlalchemy import text

from app.config import Settings
from app.db import transaction
from app.queue.housekeeping import _Scheduler
from app.services import retention

CONFIG = """
version: 1
backends: [{name: local, type: local}]
tasks:
  - {name: hello, backend: local, executable: "cat $I1", in_globs: [".txt"], stdout_glob: ".out"}
jobs:
  - {name: hello, steps: [{task: hello}]}
"""
OLD = 100_000  # the size the issue names: the purge is shown at that scale, not on a toy table
UNIQUE = 1_000  # old submissions whose result nothing else uses
SHARED = hashlib.sha256(b"shared").hexdigest()  # the content of every other result, and of the recent inputs

# 10^5 old finished submissions, each with a step, an attempt and a result, inserted by SQL.
# Their results share one content with a recent submission, except UNIQUE of them.
_OLD_ROWS = """
INSERT INTO blobs (sha256, size, data)
SELECT 'old' || lpad(g::text, 61, '0'), 4, 'old!'::bytea FROM generate_series(1, :unique) g
UNION ALL SELECT :shared, 6, 'shared'::bytea
ON CONFLICT DO NOTHING;
INSERT INTO submissions (id, job_name, name, state, message, priority, client, use_cache, params, created,
                         started, finished)
SELECT gen_random_uuid(), 'hello', 'old ' || g, 'Complete', '', 'normal', 'old', true, '{}',
       now() - interval '40 days', now() - interval '40 days', now() - interval '40 days' + g * interval '1 ms'
FROM generate_series(1, :old) g;
INSERT INTO steps (submission_id, position, name, task_name, task, params, after, waiting_for, state, attempts,
                   message, cached, started, finished)
SELECT id, 0, 'hello', 'hello', '{}', '{}', '{}', 0, 'Complete', 1, '', false, started, finished
FROM submissions WHERE client = 'old';
INSERT INTO attempts (step_id, number, worker, outcome, stdout, stderr, started, finished)
SELECT st.id, 1, 'w', 'done', 'out', '', st.started, st.finished FROM steps st
JOIN submissions s ON s.id = st.submission_id WHERE s.client = 'old';
INSERT INTO results (submission_id, step_id, step_name, name, sha256, size, media_type)
SELECT st.submission_id, st.id, 'hello', 'r.out',
       CASE WHEN row_number() OVER (ORDER BY st.id) <= :unique
            THEN 'old' || lpad((row_number() OVER (ORDER BY st.id))::text, 61, '0')
            ELSE :shared END, 4, 'text/plain'
FROM steps st JOIN submissions s ON s.id = st.submission_id WHERE s.client = 'old';
-- one old submission that never finished: kept, as only finished ones are purged
INSERT INTO submissions (id, job_name, name, state, message, priority, client, use_cache, params, created)
VALUES (gen_random_uuid(), 'hello', 'old unfinished', 'Running', '', 'normal', 'old', true, '{}',
        now() - interval '40 days');
ANALYZE submissions;
ANALYZE steps;
ANALYZE attempts;
ANALYZE results;
ANALYZE blobs
"""


def _insert_old(connection, old: int) -> None:
    for statement in _OLD_ROWS.split(";\n"):
        if statement.strip():
            connection.execute(text(statement), {"old": old, "unique": min(old, UNIQUE), "shared": SHARED})


def _count(sessions, sql: str):
    with transaction(sessions) as session:
        return session.execute(text(sql)).scalar_one()


def _post_and_read(client) -> float:
    """The hot path as a client sees it: a POST and a read of the submission (seconds)."""
    started = time.perf_counter()
    response = client.post("/api/submissions", data={"job": "hello", "input_data": (_file(), "x.txt")})
    assert response.status_code == 201, response.get_json()
    assert client.get(f"/api/submissions/{response.get_json()['id']}").status_code == 200
    return time.perf_counter() - started


def _file() -> io.BytesIO:
    return io.BytesIO(b"shared")


def test_old_submissions_are_purged_in_bounded_batches_while_the_service_goes_on(
        client, sessions, engine, load_config):
    load_config(CONFIG)
    recent = [_post_and_read(client) for _ in range(20)]  # their input is the content 'shared' too
    before = statistics.median(recent[5:])
    started = time.perf_counter()
    with engine.begin() as connection:
        _insert_old(connection, OLD)
    inserted = time.perf_counter() - started
    assert _count(sessions, "SELECT count(*) FROM submissions") == OLD + 21
    with_old = statistics.median(_post_and_read(client) for _ in range(15))

    # One batch held open (as if slow): the service still submits and reads meanwhile, as the
    # purge locks only the rows of its batch, never a table.
    batch_open, release = threading.Event(), threading.Event()

    def slow_batch() -> None:
        with transaction(sessions) as session:
            retention.purge_batch(session, days=30, batch=5_000)
            batch_open.set()
            release.wait(120)

    holder = threading.Thread(target=slow_batch)
    holder.start()
    assert batch_open.wait(120)
    during = [_post_and_read(client) for _ in range(3)]
    release.set()
    holder.join(120)

    started = time.perf_counter()
    purged = retention.purge(sessions, days=30, batch=10_000)
    took = time.perf_counter() - started
    after = statistics.median(_post_and_read(client) for _ in range(15))
    print(f"\nretention: {OLD} old submissions inserted in {inserted:.1f} s; purged in {purged.batches} batches "
          f"of at most 10,000 in {took:.1f} s ({purged.blobs} contents); POST+GET median: {before * 1000:.1f} ms "
          f"before, {with_old * 1000:.1f} ms with them, {max(during) * 1000:.1f} ms worst during an open batch, "
          f"{after * 1000:.1f} ms after")

    assert purged.submissions == OLD - 5_000 and purged.batches == 10  # 9 full batches, then a short one
    assert _count(sessions, "SELECT count(*) FROM submissions WHERE client = 'old'") == 1  # the unfinished one
    assert _count(sessions, "SELECT count(*) FROM submissions") == 1 + 20 + 15 + 3 + 15
    for table in ("steps", "attempts", "results"):  # only those of the recent submissions are left
        assert _count(sessions, f"SELECT count(*) FROM {table} t WHERE NOT EXISTS ("
                                f"SELECT 1 FROM submissions s WHERE s.client <> 'old' AND s.id = "
                                f"{'t.submission_id' if table != 'attempts' else '(SELECT submission_id FROM steps WHERE steps.id = t.step_id)'})") == 0
    # contents used only by purged submissions are gone; the one a recent input uses stays
    assert _count(sessions, "SELECT count(*) FROM blobs WHERE sha256 LIKE 'old%'") == 0
    assert _count(sessions, f"SELECT count(*) FROM blobs WHERE sha256 = '{SHARED}'") == 1
    assert retention.purge(sessions, days=30).submissions == 0


def test_the_workers_purge_on_their_schedule(sessions, load_config):
    load_config(CONFIG)
    with transaction(sessions) as session:
        _insert_old(session, 3)
        session.execute(text(
            "INSERT INTO notifications (submission_id, kind, target, payload, state, created) "
            "SELECT id, 'callback', 'http://x', '{}', 'sent', now() - interval '40 days' FROM submissions"))
    _Scheduler(sessions, Settings())()  # without AA_RETENTION_DAYS, nothing is purged
    assert _count(sessions, "SELECT count(*) FROM submissions") == 4
    _Scheduler(sessions, Settings(retention_days=30))()
    assert _count(sessions, "SELECT name FROM submissions") == "old unfinished"
    assert _count(sessions, "SELECT count(*) FROM notifications") == 0
    assert _count(sessions, "SELECT count(*) FROM blobs WHERE sha256 LIKE 'old%'") == 0
