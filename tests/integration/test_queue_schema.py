"""What the migrations leave on Procrastinate's queue table: the NOTIFY triggers, not the event log."""

from __future__ import annotations

from sqlalchemy import text

from app.db import driver, transaction
from app.queue import steps


def _triggers(session) -> set[str]:
    return set(session.execute(text(
        "SELECT tgname FROM pg_trigger WHERE tgrelid = 'procrastinate_jobs'::regclass AND NOT tgisinternal"
    )).scalars())


def test_workers_are_still_notified_but_no_events_are_logged(sessions):
    with sessions() as session:
        triggers = _triggers(session)
    assert "procrastinate_jobs_notify_queue_job_inserted_v1" in triggers
    assert "procrastinate_jobs_notify_queue_job_aborted_v1" in triggers
    assert not {t for t in triggers if "events" in t}
    with transaction(sessions) as session:
        job_id = session.execute(text(
            "SELECT unnest(procrastinate_defer_jobs_v1(ARRAY[ROW('local', 'run_step', 0, NULL, NULL, "
            "jsonb_build_object('step_id', 7), now() + interval '1 s')::procrastinate_job_to_defer_v1]))")).scalar()
        session.execute(text("UPDATE procrastinate_jobs SET status = 'doing' WHERE id = :id"), {"id": job_id})
        session.execute(text("UPDATE procrastinate_jobs SET abort_requested = true WHERE id = :id"), {"id": job_id})
        assert session.execute(text("SELECT count(*) FROM procrastinate_events")).scalar() == 0
        steps.finish_queue_job(driver(session), job_id, 7)
    with sessions() as session:
        assert session.execute(text("SELECT count(*) FROM procrastinate_events")).scalar() == 0
        assert session.execute(text("SELECT count(*) FROM procrastinate_jobs")).scalar() == 0
