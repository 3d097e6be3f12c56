"""Dead workers are judged by the database's clock, by any live worker however young; a worker that
could not reach the database itself does not take the others' silence for death."""

from __future__ import annotations

import time

from sqlalchemy import text

from app.config import Settings
from app.db import make_engine, make_sessionmaker, transaction
from app.queue.worker import Worker
from tests.acceptance.conftest import free_port


def _worker(sessions, **settings) -> Worker:
    """A worker that is not started: the tests call its heartbeat themselves."""
    return Worker(sessions=sessions, settings=Settings(**{"heartbeat_seconds": 0.5, **settings}))


def _peer(sessions, silent_for: float) -> int:
    """Another worker's row, last heard `silent_for` seconds ago by the database's clock."""
    with transaction(sessions) as session:
        worker_id = session.execute(text("SELECT procrastinate_register_worker_v1()")).scalar_one()
        session.execute(text("UPDATE procrastinate_workers SET last_heartbeat = now() - make_interval(secs => :s) "
                             "WHERE id = :id"), {"s": silent_for, "id": worker_id})
    return worker_id


def _registered(sessions) -> set[int]:
    with sessions() as session:
        return set(session.execute(text("SELECT id FROM procrastinate_workers")).scalars())


def _server_age(sessions) -> float:
    with sessions() as session:
        return float(session.execute(text("SELECT extract(epoch FROM now() - pg_postmaster_start_time())"))
                     .scalar_one())


def test_a_worker_younger_than_the_stall_limit_judges_the_dead(sessions):
    """Under churn no worker is old: the bound (stall + one heartbeat) must not wait for one to be."""
    # Silence from before the server started does not count (app.queue.recovery): against a server
    # started moments ago (the embedded one, for this run), the stall limit must be shorter than its age.
    while (age := _server_age(sessions)) < 2:
        time.sleep(0.2)
    dead = _peer(sessions, silent_for=120)
    judge = _worker(sessions, stalled_after_seconds=min(60.0, age - 1))
    judge._register()
    assert judge.beat()
    assert dead not in _registered(sessions) and judge.worker_id in _registered(sessions)


def test_a_worker_cut_off_from_the_database_pardons_those_heard_meanwhile(sessions, database_url):
    unreachable = make_sessionmaker(make_engine(f"postgresql://nobody@127.0.0.1:{free_port()}/none", pool_size=1))
    long_dead = _peer(sessions, silent_for=120)
    assert long_dead in _registered(sessions)
    judge = _worker(sessions, stalled_after_seconds=2)
    cut_off_too = _peer(sessions, silent_for=0)
    judge._register()
    # An outage of 3 s for everyone: nobody is heard; the judge's heartbeat fails.
    judge.sessions = unreachable
    assert not judge.beat()
    time.sleep(3)
    judge.sessions = sessions
    assert judge.beat()
    assert _registered(sessions) == {judge.worker_id, cut_off_too}  # the long dead is judged all the same
    # The pardoned worker still has to be heard within a stall period: now it is silence, not outage.
    time.sleep(2.5)
    assert judge.beat()
    assert _registered(sessions) == {judge.worker_id}


def test_without_an_outage_of_its_own_a_worker_judges_by_silence_alone(sessions):
    judge = _worker(sessions, stalled_after_seconds=2)
    silent = _peer(sessions, silent_for=0)
    judge._register()
    time.sleep(3)
    assert judge.beat()
    assert _registered(sessions) == {judge.worker_id}
    assert silent not in _registered(sessions)


def test_a_silent_worker_is_judged_as_its_stall_limit_passes_not_at_the_next_heartbeat(sessions, worker):
    """The bound on recovery is the stall limit, not the stall limit plus a heartbeat."""
    while _server_age(sessions) < 4:
        time.sleep(0.2)  # silence from before the server's start does not count
    silent = _peer(sessions, silent_for=1.0)
    started = time.monotonic()
    judge = worker(concurrency=1, heartbeat_seconds=30, stalled_after_seconds=2)
    while silent in _registered(sessions) and time.monotonic() - started < 20:
        time.sleep(0.05)
    judged_after = time.monotonic() - started
    assert silent not in _registered(sessions) and judge.worker_id in _registered(sessions)
    # It had 1 s left of its stall limit; the judge's first beat is 30 s away.
    assert judged_after < 5, judged_after
