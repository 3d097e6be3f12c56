"""A step is queued in exactly the transaction that makes it runnable — no earlier, no twice."""

from __future__ import annotations

import threading

import psycopg
from sqlalchemy import select, text

from app.db import driver, libpq_url, transaction
from app.models import Step, StepState
from app.queue import dag, intake, steps
from app.services.execution import SUCCESS, Outcome
from app.services.submissions import Upload

DIAMOND = """
version: 1
backends: [{name: local, type: local}]
tasks:
  - {name: t, backend: local, executable: "true", in_globs: [".txt"]}
jobs:
  - name: diamond
    steps:
      - {name: a, task: t}
      - {name: b, task: t, after: [a]}
      - {name: c, task: t, after: [a]}
      - {name: d, task: t, after: [b, c]}
"""


def queued_step_ids(session) -> list[int]:
    rows = session.execute(text(
        "SELECT (args->>'step_id')::bigint FROM procrastinate_jobs WHERE status = 'todo' ORDER BY id"))
    return [r[0] for r in rows]


def submit(sessions) -> str:
    with transaction(sessions) as session:
        sub = intake.submit(session, job="diamond", params={}, inputs={"input_data": Upload(b"x")})
        return sub.id


def step_id(sessions, sub_id, name) -> int:
    with sessions() as session:
        return session.execute(select(Step.id).where(Step.submission_id == sub_id, Step.name == name)).scalar_one()


def test_submission_rolled_back_queues_nothing(sessions, load_config):
    load_config(DIAMOND)
    with sessions() as session:
        with session.begin():
            intake.submit(session, job="diamond", params={}, inputs={"input_data": Upload(b"x")})
            assert len(queued_step_ids(session)) == 1  # visible inside the transaction...
            session.rollback()
    with sessions() as session:
        assert queued_step_ids(session) == []  # ...and gone with it
        assert session.execute(text("SELECT count(*) FROM submissions")).scalar() == 0


def test_root_step_queued_with_submission(sessions, load_config):
    load_config(DIAMOND)
    sub_id = submit(sessions)
    with sessions() as session:
        assert queued_step_ids(session) == [step_id(sessions, sub_id, "a")]


def _claim(sessions):
    with transaction(sessions) as session:
        worker_id = session.execute(text("SELECT worker_id FROM procrastinate_register_worker_v1()")).scalar()
        return steps.claim(driver(session), queues=None, worker_id=worker_id, worker="test")


def _succeed(session, claim, *, queue_job_id=None, taker=None):
    """Record a successful outcome of `claim` in the session's transaction."""
    return steps.record(driver(session), queue_job_id=queue_job_id or claim.queue_job_id, work=claim.work,
                        outcome=Outcome(SUCCESS, 0), taker=taker)


def _taker(sessions) -> dag.Taker:
    """The last registered worker (the one `_claim` registered), taking steps it makes runnable."""
    with sessions() as session:
        return dag.Taker(session.execute(text("SELECT max(id) FROM procrastinate_workers")).scalar(), "test")


def test_children_queued_only_when_parent_record_commits(sessions, load_config):
    load_config(DIAMOND)
    sub_id = submit(sessions)
    claim = _claim(sessions)
    assert claim.work.step_name == "a"
    with sessions() as session:
        session.begin()
        _succeed(session, claim)
        session.flush()
        assert len(queued_step_ids(session)) == 2
        session.rollback()
    with sessions() as session:
        assert queued_step_ids(session) == []
        assert session.get(Step, claim.work.step_id).state == StepState.RUNNING
    with transaction(sessions) as session:
        _succeed(session, claim)
    with sessions() as session:
        assert queued_step_ids(session) == [step_id(sessions, sub_id, "b"), step_id(sessions, sub_id, "c")]


def test_fan_in_child_queued_once_when_parents_finish_together(sessions, load_config):
    load_config(DIAMOND)
    submit(sessions)
    first = _claim(sessions)
    with transaction(sessions) as session:
        _succeed(session, first)
    b, c = _claim(sessions), _claim(sessions)
    barrier = threading.Barrier(2)

    def finish(claim):
        barrier.wait()
        with transaction(sessions) as session:
            _succeed(session, claim)

    threads = [threading.Thread(target=finish, args=(x,)) for x in (b, c)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    with sessions() as session:
        queued = queued_step_ids(session)
        assert len(queued) == 1
        assert session.get(Step, queued[0]).name == "d"


def test_step_recorded_twice_chains_once(sessions, load_config):
    """A duplicate delivery of an outcome (e.g. after a crash) changes nothing the second time."""
    load_config(DIAMOND)
    submit(sessions)
    claim = _claim(sessions)
    with transaction(sessions) as session:
        _succeed(session, claim)
    with sessions() as session:
        before = queued_step_ids(session)
    with transaction(sessions) as session:
        session.execute(text("SELECT procrastinate_defer_jobs_v1(ARRAY[ROW('local','run_step',0,NULL,NULL,"
                             "'{}'::jsonb,NULL)::procrastinate_job_to_defer_v1])"))
        job_id = session.execute(text("SELECT max(id) FROM procrastinate_jobs")).scalar()
        session.execute(text("UPDATE procrastinate_jobs SET status='doing' WHERE id=:id"), {"id": job_id})
    with transaction(sessions) as session:
        _succeed(session, claim, queue_job_id=job_id)
    with sessions() as session:
        assert queued_step_ids(session) == before


def test_recording_worker_takes_one_child_in_the_same_transaction(sessions, load_config):
    load_config(DIAMOND)
    sub_id = submit(sessions)
    first = _claim(sessions)
    taker = _taker(sessions)
    with sessions() as session:
        session.begin()
        _succeed(session, first, taker=taker)
        session.rollback()
    with sessions() as session:
        assert queued_step_ids(session) == []
    with transaction(sessions) as session:
        following = _succeed(session, first, taker=taker)
    assert following.work.step_name == "b" and following.work.attempt == 1
    assert following.queue_job_id == first.queue_job_id  # a's queue job, handed over to b
    with sessions() as session:
        assert queued_step_ids(session) == [step_id(sessions, sub_id, "c")]  # left for any worker
        doing = session.execute(text("SELECT (args->>'step_id')::bigint, worker_id FROM procrastinate_jobs "
                                     "WHERE status = 'doing'")).all()
        assert doing == [(step_id(sessions, sub_id, "b"), taker.worker_id)]
        assert session.get(Step, following.work.step_id).state == StepState.RUNNING
        # a's attempt is closed by the statement that hands its job over: one instant for both
        assert session.get(Step, first.work.step_id).state == StepState.COMPLETE
        closed = session.execute(text("SELECT outcome, finished FROM attempts WHERE step_id = :id"),
                                 {"id": first.work.step_id}).one()
        started = session.execute(text("SELECT started FROM attempts WHERE step_id = :id"),
                                  {"id": following.work.step_id}).scalar_one()
        assert closed.outcome == SUCCESS and closed.finished == started


def test_only_the_children_left_to_others_wake_workers(sessions, load_config, database_url):
    """The taken child goes on under its worker's queue job: no NOTIFY wakes other workers for it."""
    load_config(DIAMOND)
    submit(sessions)
    first = _claim(sessions)
    taker = _taker(sessions)
    with psycopg.connect(libpq_url(database_url), autocommit=True) as listener:
        listener.execute('LISTEN "procrastinate_any_queue_v1"')
        with transaction(sessions) as session:
            _succeed(session, first, taker=taker)
        notified = [n.payload for n in listener.notifies(timeout=1.0)]
    assert len(notified) == 1  # for c, not for b


def test_an_outcome_recorded_again_leaves_the_handed_over_job_alone(sessions, load_config):
    """If a record's commit went through unseen (the connection failed) and the worker records the
    outcome again, the queue job now running the next step must survive."""
    load_config(DIAMOND)
    submit(sessions)
    first = _claim(sessions)
    taker = _taker(sessions)
    for _ in range(2):
        with transaction(sessions) as session:
            _succeed(session, first, taker=taker)
    with sessions() as session:
        doing = session.execute(text("SELECT id FROM procrastinate_jobs WHERE status = 'doing'")).scalars().all()
    assert doing == [first.queue_job_id]


def test_a_job_requeued_meanwhile_is_not_handed_over(sessions, load_config):
    """Taken for dead, the worker finishes its step after all: its queue job was requeued ('todo')
    by a recovery, so the next step gets a job of its own, 'doing' for the worker; no one else can
    start it."""
    load_config(DIAMOND)
    submit(sessions)
    first = _claim(sessions)
    taker = _taker(sessions)
    with transaction(sessions) as session:
        session.execute(text("UPDATE procrastinate_jobs SET status = 'todo', worker_id = NULL WHERE id = :id"),
                        {"id": first.queue_job_id})
    with transaction(sessions) as session:
        following = _succeed(session, first, taker=taker)
    assert following.work.step_name == "b" and following.queue_job_id != first.queue_job_id
    with sessions() as session:
        jobs = session.execute(text("SELECT id, status, worker_id, (args->>'step_id')::bigint FROM procrastinate_jobs "
                                    "ORDER BY id")).all()
    by_id = {job_id: (status, worker, step) for job_id, status, worker, step in jobs}
    assert by_id[following.queue_job_id] == ("doing", taker.worker_id, following.work.step_id)
    assert by_id[first.queue_job_id] == ("todo", None, first.work.step_id)  # finished by whoever fetches it
    skipped = _claim(sessions)  # the requeued job names a finished step: finished, nothing run
    assert skipped.queue_job_id == first.queue_job_id and skipped.work is None
    assert _claim(sessions).work.step_name == "c"
