"""Claims and records in batches: up to k steps claimed in one statement, outcomes recorded
together in one transaction, with the guarantees of one at a time (nothing lost, nothing twice)."""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import text

from app.db import driver, transaction
from app.models import Step, StepState, Submission, SubmissionState
from app.queue import dag, intake, steps
from app.services.execution import FAIL, SUCCESS, Outcome

CONFIG = """
version: 1
backends: [{name: local, type: local}, {name: other, type: local}]
tasks:
  - {name: t, backend: local, executable: "true"}
  - {name: o, backend: other, executable: "true"}
jobs:
  - name: pair
    inputs: []
    steps: [{name: a, task: t}, {name: b, task: t, after: [a]}]
  - name: wide
    inputs: []
    steps: [{name: a, task: t, after: []}, {name: b, task: t, after: []}, {name: c, task: t, after: []}]
  - name: elsewhere
    inputs: []
    steps: [{name: a, task: o}]
"""


@pytest.fixture
def configured(load_config):
    load_config(CONFIG)


def submit(sessions, job: str, priority: str = "normal") -> str:
    with transaction(sessions) as session:
        return str(intake.submit(session, job=job, params={}, inputs={}, priority=priority).id)


def register(sessions) -> int:
    with transaction(sessions) as session:
        return session.execute(text("SELECT worker_id FROM procrastinate_register_worker_v1()")).scalar()


def claim_many(sessions, worker_id: int, limit: int, queues=None) -> list[steps.Claim]:
    with transaction(sessions) as session:
        return steps.claim_many(driver(session), queues=queues, worker_id=worker_id, worker="test", limit=limit)


def states(sessions) -> dict[tuple[str, str], str]:
    with sessions() as session:
        rows = session.execute(text(
            "SELECT s.job_name, st.name, st.state FROM steps st JOIN submissions s ON s.id = st.submission_id"))
        return {(r.job_name, r.name): r.state for r in rows}


def test_up_to_k_steps_are_claimed_at_once_in_the_queues_order(sessions, configured):
    low = submit(sessions, "pair", "low")
    wide = submit(sessions, "wide")
    high = submit(sessions, "pair", "high")
    worker_id = register(sessions)
    claims = claim_many(sessions, worker_id, 3)
    assert [(c.work.submission_id, c.work.step_name) for c in claims] == [(high, "a"), (wide, "a"), (wide, "b")]
    assert all(c.work.attempt == 1 for c in claims)
    with sessions() as session:
        doing = session.execute(text("SELECT id, worker_id FROM procrastinate_jobs WHERE status = 'doing'")).all()
        assert sorted(doing) == sorted((c.queue_job_id, worker_id) for c in claims)
        assert {s.state for s in session.query(Step).filter(Step.id.in_([c.work.step_id for c in claims]))} == {
            StepState.RUNNING}
        attempts = session.execute(text("SELECT count(*) FROM attempts")).scalar()
        assert attempts == 3
    rest = claim_many(sessions, worker_id, 5)  # what is left, however many are asked for
    assert [(c.work.submission_id, c.work.step_name) for c in rest] == [(wide, "c"), (low, "a")]
    assert claim_many(sessions, worker_id, 5) == []


def test_claims_keep_to_the_workers_queues_and_skip_rows_others_hold(sessions, configured):
    submit(sessions, "elsewhere")
    wide = submit(sessions, "wide")
    worker_id = register(sessions)
    with sessions() as holder:
        holder.begin()  # another worker's fetch in progress: the first row of our queue is locked
        held = holder.execute(text("SELECT id FROM procrastinate_jobs WHERE queue_name = 'local' ORDER BY id "
                                   "LIMIT 1 FOR UPDATE")).scalar()
        claims = claim_many(sessions, worker_id, 10, queues=["local"])
        holder.rollback()
    assert held not in [c.queue_job_id for c in claims]
    assert [(c.work.submission_id, c.work.step_name) for c in claims] == [(wide, "b"), (wide, "c")]


def test_a_cancelled_submissions_job_is_finished_not_run(sessions, configured):
    gone = submit(sessions, "pair")
    kept = submit(sessions, "pair")
    with transaction(sessions) as session:
        session.execute(text("UPDATE submissions SET state = 'Cancelled' WHERE id = :id"), {"id": gone})
    claims = claim_many(sessions, register(sessions), 2)
    assert [c.work is None for c in claims] == [True, False] and claims[1].work.submission_id == kept
    with sessions() as session:
        assert session.execute(text("SELECT count(*) FROM procrastinate_jobs WHERE status = 'doing'")).scalar() == 1


def _pending(claim, action=SUCCESS, taker=None) -> steps.Pending:
    return steps.Pending(claim.queue_job_id, claim.work, Outcome(action, 0 if action == SUCCESS else 1), taker)


def test_outcomes_recorded_together_chain_and_hand_over_as_one_by_one(sessions, configured):
    first, second, third = (submit(sessions, "pair") for _ in range(3))
    worker_id = register(sessions)
    claims = claim_many(sessions, worker_id, 3)
    taker = dag.Taker(worker_id, "test")
    with transaction(sessions) as session:
        following = steps.record_many(driver(session), [
            _pending(claims[2], taker=taker), _pending(claims[0]), _pending(claims[1], FAIL)])
    taken, left, failed = following
    assert taken.work.step_name == "b" and taken.work.submission_id == claims[2].work.submission_id
    assert taken.queue_job_id == claims[2].queue_job_id  # handed over, as by record
    assert left is None and failed is None
    with sessions() as session:
        by_id = {str(s.id): s.state for s in session.query(Submission)}
        assert by_id[claims[1].work.submission_id] == SubmissionState.ERROR
        queued = session.execute(text(
            "SELECT args->>'submission_id' FROM procrastinate_jobs WHERE status = 'todo'")).scalars().all()
        assert queued == [claims[0].work.submission_id]  # its b, for any worker
    assert {first, second, third} == {c.work.submission_id for c in claims}


def test_a_group_rolled_back_records_nothing_and_can_be_recorded_again(sessions, configured):
    submit(sessions, "pair")
    submit(sessions, "pair")
    claims = claim_many(sessions, register(sessions), 2)
    with sessions() as session:
        session.begin()
        steps.record_many(driver(session), [_pending(c) for c in claims])
        session.rollback()
    assert set(states(sessions).values()) == {StepState.RUNNING, StepState.PENDING}
    with transaction(sessions) as session:
        steps.record_many(driver(session), [_pending(c) for c in claims])
    with transaction(sessions) as session:  # a second time (a commit that went through unseen): no change
        assert steps.record_many(driver(session), [_pending(c) for c in claims]) == [None, None]
    with sessions() as session:
        assert session.execute(text("SELECT count(*) FROM procrastinate_jobs WHERE status = 'todo'")).scalar() == 2
        assert session.execute(text("SELECT count(*) FROM attempts")).scalar() == 2


def test_groups_locking_the_same_submissions_in_any_order_do_not_deadlock(sessions, configured):
    """Each group locks its submissions in ascending order, whatever order its outcomes came in."""
    for _ in range(2):
        submit(sessions, "wide")
    worker_id = register(sessions)
    claims = claim_many(sessions, worker_id, 6)
    by_submission: dict[str, list[steps.Claim]] = {}
    for claim in claims:
        by_submission.setdefault(claim.work.submission_id, []).append(claim)
    one, two = by_submission.values()
    groups = [[one[0], two[0], one[1]], [two[1], one[2], two[2]]]  # opposite orders
    errors: list[BaseException] = []
    barrier = threading.Barrier(2)

    def record(group):
        try:
            with transaction(sessions) as session:
                barrier.wait(30)
                steps.record_many(driver(session), [_pending(c) for c in group])
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=record, args=(g,)) for g in groups]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert errors == []
    with sessions() as session:
        assert {s.state for s in session.query(Submission)} == {SubmissionState.COMPLETE}


def test_a_worker_claiming_for_its_idle_runners_runs_every_step_once(sessions, configured, worker):
    """Wide submissions queued before the worker starts: its runners, idle, are claimed for in
    batches; each step runs exactly once and every submission completes (no timing asserted)."""
    ids = [submit(sessions, "wide") for _ in range(6)] + [submit(sessions, "pair") for _ in range(4)]
    started = worker(concurrency=4)
    deadline_checks = 0
    while True:
        with sessions() as session:
            done = session.execute(text("SELECT count(*) FROM submissions WHERE finished IS NOT NULL")).scalar()
        if done == len(ids) or deadline_checks > 1200:
            break
        deadline_checks += 1
        threading.Event().wait(0.1)
    started.stop(10)
    with sessions() as session:
        assert {s.state for s in session.query(Submission)} == {SubmissionState.COMPLETE}
        assert session.execute(text("SELECT count(*), count(DISTINCT step_id) FROM attempts")).one() == (26, 26)
        assert session.execute(text("SELECT count(*) FROM procrastinate_jobs WHERE status IN ('todo', 'doing')")
                               ).scalar() == 0
