"""Schedules (SPEC §4.11): a job's `schedule.cron` submits it at each tick, exactly once.

The `schedules` table holds each scheduled job's next tick. Whoever runs the schedules (every
worker does) locks a due row with SKIP LOCKED, submits the job through the same path as any
submission, and moves the row to its next tick, in one transaction: a tick that is submitted has
moved on for everyone, and one whose transaction rolls back is still due. So a tick runs once
however many processes look. A tick missed while everything was down runs once on start (not once
per missed tick), or is skipped with AA_SCHEDULE_MISSED=skip.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from croniter import croniter
from sqlalchemy import delete, func, select, text
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session, sessionmaker

from app.config import Settings
from app.db import transaction
from app.errors import AppError
from app.models import Schedule
from app.services import submissions

log = logging.getLogger(__name__)

CLIENT = "schedule"  # the `client` of scheduled submissions (fair use counts them apart)
_SCHEDULED_JOBS = text("SELECT name, spec->'schedule' FROM jobs WHERE jsonb_typeof(spec->'schedule') = 'object'")


def _cron(expression: str, zone: str, start: datetime) -> croniter:
    """A croniter on the schedule's own time zone (6 fields: seconds first)."""
    return croniter(expression, start.astimezone(ZoneInfo(zone)),
                    second_at_beginning=len(expression.split()) == 6)


def next_tick(expression: str, zone: str, after: datetime) -> datetime:
    """The first tick strictly after `after`."""
    return _cron(expression, zone, after).get_next(datetime)


def last_tick(expression: str, zone: str, at: datetime) -> datetime:
    """The last tick at or before `at`."""
    return _cron(expression, zone, at + timedelta(microseconds=1)).get_prev(datetime)


def db_now(session: Session) -> datetime:
    """The database's clock: every process judges ticks by the same one."""
    return session.execute(select(func.now())).scalar_one()


def sync(session: Session) -> None:
    """Make the schedules follow the jobs' `schedule` (added, changed or removed); cheap when
    nothing changed, as it writes only differences."""
    wanted = {name: spec for name, spec in session.execute(_SCHEDULED_JOBS)}
    have = {row.job_name: row for row in session.execute(select(Schedule)).scalars()}
    gone = set(have) - set(wanted)
    if gone:
        session.execute(delete(Schedule).where(Schedule.job_name.in_(gone)))
    now = None
    for name, spec in wanted.items():
        zone = spec.get("timezone") or "UTC"
        params = spec.get("params") or {}
        row = have.get(name)
        if row is not None and (row.cron, row.timezone, row.params) == (spec["cron"], zone, params):
            continue
        now = now or db_now(session)
        if row is None:
            session.execute(insert(Schedule).values(
                job_name=name, cron=spec["cron"], timezone=zone, params=params,
                next_run=next_tick(spec["cron"], zone, now)).on_conflict_do_nothing())
        elif (row.cron, row.timezone) != (spec["cron"], zone):
            row.cron, row.timezone, row.params = spec["cron"], zone, params
            row.next_run = next_tick(spec["cron"], zone, now)
        else:
            row.params = params
    session.flush()


def run_due(sessions: sessionmaker[Session], settings: Settings, *, submit: submissions.Submit) -> list[uuid.UUID]:
    """Submit every job whose tick has come, each in a transaction of its own, through `submit`
    (the queue's intake.submit); the submissions made."""
    made = []
    while True:
        with transaction(sessions) as session:
            schedule = session.execute(
                select(Schedule).where(Schedule.next_run <= func.now()).order_by(Schedule.next_run).limit(1)
                .with_for_update(skip_locked=True)
            ).scalar_one_or_none()
            if schedule is None:
                return made
            submission_id = fire(session, schedule, settings, submit=submit)
        if submission_id is not None:
            made.append(submission_id)


def fire(session: Session, schedule: Schedule, settings: Settings, *, submit: submissions.Submit) -> uuid.UUID | None:
    """Submit the job for its latest due tick (the caller holds the row's lock and commits)."""
    now = db_now(session)
    tick = last_tick(schedule.cron, schedule.timezone, now)
    # Late by more than the grace: the service was down (or stopped) when the tick came.
    missed = now - schedule.next_run > timedelta(seconds=settings.schedule_grace_seconds)
    schedule.next_run = next_tick(schedule.cron, schedule.timezone, now)
    if missed and settings.schedule_missed == "skip":
        log.info("schedule of %s: tick %s missed, skipped (AA_SCHEDULE_MISSED=skip)", schedule.job_name, tick)
        return None
    schedule.last_run, schedule.runs = tick, schedule.runs + 1
    try:
        with session.begin_nested():
            submission = submit(
                session, job=schedule.job_name, params=dict(schedule.params), inputs={},
                name=f"schedule {tick.isoformat()}", client=CLIENT)
    except AppError as exc:
        schedule.last_error = exc.message + "".join(
            f"; {field}: {', '.join(messages)}" for field, messages in exc.errors.items())
        log.warning("schedule of %s: tick %s not submitted: %s", schedule.job_name, tick, schedule.last_error)
        return None
    schedule.last_submission_id, schedule.last_error = submission.id, ""
    log.info("schedule of %s: tick %s submitted", schedule.job_name, tick,
             extra={"submission_id": str(submission.id)})
    return submission.id


@dataclass
class ScheduleView:
    """A scheduled job as the API shows it."""

    job: str
    cron: str
    timezone: str
    params: dict[str, Any]
    next_run: datetime
    last_run: datetime | None
    last_submission_id: uuid.UUID | None
    last_error: str
    runs: int


def listing(session: Session) -> list[ScheduleView]:
    """Every scheduled job, with its next and last run (a job loaded a moment ago, before any
    worker has taken its schedule up, shows the next run it will get)."""
    rows = {row.job_name: row for row in session.execute(select(Schedule)).scalars()}
    now = db_now(session)
    views = []
    for name, spec in session.execute(_SCHEDULED_JOBS):
        zone = spec.get("timezone") or "UTC"
        row = rows.get(name)
        current = row is not None and (row.cron, row.timezone) == (spec["cron"], zone)
        views.append(ScheduleView(
            job=name, cron=spec["cron"], timezone=zone, params=spec.get("params") or {},
            next_run=row.next_run if current else next_tick(spec["cron"], zone, now),
            last_run=row.last_run if row else None, last_submission_id=row.last_submission_id if row else None,
            last_error=row.last_error if row else "", runs=row.runs if row else 0))
    return sorted(views, key=lambda v: v.job)
