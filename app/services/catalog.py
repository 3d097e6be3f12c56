"""The catalog in the database: atomic load of a configuration, dump, and look-ups."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import psycopg
from sqlalchemy import delete, select, text
from sqlalchemy.orm import Session

from app.db import run
from app.errors import ConfigError, Forbidden, InvalidInput
from app.models import Backend, Job, Task
from app.models.base import utcnow
from app.services.catalog_dump import dump_config
from app.services.catalog_schema import parse_config


def read_file(path: Path) -> str:
    """A configuration file's text, with `$HERE` replaced by the file's folder (scripts kept beside it)."""
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise ConfigError(f"{path} is not UTF-8 text") from None
    return text.replace("$HERE", str(path.resolve().parent))


def load(session: Session, document: str | bytes | dict) -> dict[str, Any]:
    """Replace the whole catalog with `document`, inside the caller's transaction.

    Jobs and tasks that disappear are deleted; their old submissions stay readable (job → null).
    """
    catalog = parse_config(document)
    # One loader at a time (a row lock on `jobs` would lock nothing while the catalog is empty).
    session.execute(text("SELECT pg_advisory_xact_lock(74202)"))
    kinds = [
        (Backend, catalog["backends"], lambda i, spec: Backend(
            name=spec["name"], type=spec["type"], position=i, spec=spec)),
        (Task, catalog["tasks"], lambda i, spec: Task(
            name=spec["name"], backend_name=spec["backend"], position=i, spec=spec)),
        (Job, catalog["jobs"], lambda i, spec: Job(
            name=spec["name"], runnable=spec["runnable"], position=i, spec=spec, updated=utcnow())),
    ]
    for _model, specs, build in kinds:  # referenced rows first
        for position, spec in enumerate(specs):
            session.merge(build(position, spec))
        session.flush()
    for model, specs, _build in reversed(kinds):  # referencing rows first
        session.execute(delete(model).where(model.name.not_in([spec["name"] for spec in specs])))
    return catalog


def current(session: Session) -> dict[str, Any]:
    """The catalog as a normalised configuration dict."""
    def specs(model: type) -> list[dict]:
        return [row.spec for row in session.execute(select(model).order_by(model.position)).scalars()]

    return {"version": 1, "backends": specs(Backend), "tasks": specs(Task), "jobs": specs(Job)}


def dump(session: Session) -> str:
    """The catalog as YAML; loading it into an empty database gives the same dump."""
    return dump_config(current(session))


def is_empty(session: Session) -> bool:
    return session.execute(select(Job.name).limit(1)).first() is None


def list_jobs(session: Session) -> list[Job]:
    """The runnable jobs, in configuration order."""
    return list(session.execute(select(Job).where(Job.runnable).order_by(Job.position)).scalars())


def get_job(session: Session, name: str) -> Job | None:
    return session.get(Job, name)


# A job with the specs of its tasks (each with its backend's spec under `backend`), in one query.
_JOB_WITH_TASKS = """
    SELECT j.runnable, j.spec,
           (SELECT jsonb_object_agg(t.name, t.spec || jsonb_build_object('backend', b.spec))
            FROM tasks t JOIN backends b ON b.name = t.backend_name
            WHERE t.name IN (SELECT step->>'task' FROM jsonb_array_elements(j.spec->'steps') AS step)) AS tasks
    FROM jobs j WHERE j.name = %(name)s
"""


def runnable_job_with_tasks(
    connection: psycopg.Connection, name: Any,
) -> tuple[dict[str, Any], dict[str, dict[str, Any]]]:
    """The spec of a job a client wants to run and its tasks' specs, or a 4xx error saying why not."""
    if not isinstance(name, str) or not name:
        raise InvalidInput("A job name is required", errors={"job": ["is required"]})
    row = run(connection, _JOB_WITH_TASKS, {"name": name}).fetchone()  # on the hot path: psycopg directly
    if row is None:
        raise InvalidInput(f"There is no job named {name!r}", errors={"job": ["unknown job"]})
    if not row.runnable:
        raise Forbidden(f"Job {name} is present but currently disabled")
    return row.spec, row.tasks or {}


def tasks_by_name(session: Session, names: set[str]) -> dict[str, dict[str, Any]]:
    """Task specs with their backend spec embedded under `backend`, as steps snapshot them."""
    rows = session.execute(
        select(Task, Backend).join(Backend, Task.backend_name == Backend.name).where(Task.name.in_(names))
    ).all()
    return {task.name: {**task.spec, "backend": backend.spec} for task, backend in rows}
