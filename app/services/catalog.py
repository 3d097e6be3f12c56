"""The catalog in the database: atomic load of a configuration, dump, and look-ups."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg
from sqlalchemy import delete, select, text
from sqlalchemy.orm import Session

from app.db import run
from app.errors import ConfigError, Forbidden, InvalidInput
from app.models import Backend, Job, Task
from app.models.base import utcnow
from app.services import config_versions
from app.services import verify as verify_here
from app.services.catalog_dump import dump_config
from app.services.catalog_schema import config_error, parse_config
from app.services.suggest import did_you_mean


def read_file(path: Path) -> str:
    """A configuration file's text, with `$HERE` replaced by the file's folder (scripts kept beside it)."""
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise ConfigError(f"{path} is not UTF-8 text") from None
    return text.replace("$HERE", str(path.resolve().parent))


@dataclass
class Loaded:
    """What a load did (or, dry, would do): the new catalog, its changes, the version stored."""

    catalog: dict[str, Any]
    changes: config_versions.Changes
    version: int | None = None
    warnings: list[str] = field(default_factory=list)  # what would fail here (verify="warn")

    def summary(self) -> list[str]:
        return config_versions.describe(self.changes)


def load(session: Session, document: str | bytes | dict, *, clear: bool = False) -> dict[str, Any]:
    """Replace the whole catalog with `document`, inside the caller's transaction (see load_version)."""
    return load_version(session, document, clear=clear).catalog


def load_version(
    session: Session, document: str | bytes | dict | list, *, author: str = "", folder: Path | None = None,
    dry_run: bool = False, clear: bool = False, verify: bool | str = False,
) -> Loaded:
    """Replace the whole catalog with `document` as a new version, inside the caller's transaction.

    Jobs and tasks that disappear are deleted; their old submissions keep their job's name. An
    empty document is refused unless `clear`. With `folder` (the file's), Python backends that
    name no `python_path` get that folder, so a module beside the YAML is importable.
    `verify` also checks programs, scripts and Python functions on this machine (app.services.verify):
    True refuses what would fail here, "warn" only reports it in `warnings`; `dry_run` only
    computes what would change.
    """
    catalog = parse_config(document)
    if not clear and not any(catalog[kind] for kind in ("backends", "tasks", "jobs")):
        raise ConfigError("The configuration is empty; loading it would remove everything. To do that, ask "
                          "for clearing (aa config load --clear, PUT /api/config?clear=true)")
    if folder is not None:
        add_python_path(catalog, folder)
    warnings = []
    if verify == "warn":
        problems = verify_here.check(catalog)
        labels = config_error(problems, catalog).labels if problems else {}
        warnings = [f"{labels[path]}: {message}" for path, messages in problems.items() for message in messages]
    elif verify:
        check_here(catalog)
    # One loader at a time (a row lock on `jobs` would lock nothing while the catalog is empty).
    session.execute(text("SELECT pg_advisory_xact_lock(74202)"))
    found = config_versions.changes(current(session), catalog)
    if dry_run:
        return Loaded(catalog, found, warnings=warnings)
    _replace(session, catalog)
    dumped = dump_config(catalog)
    source = document.decode("utf-8") if isinstance(document, bytes) else document  # UTF-8: parse checked
    version = config_versions.record(session, text=source if isinstance(source, str) else dumped, dump=dumped,
                                     author=author, found=found)
    return Loaded(catalog, found, version.number, warnings)


def check_here(catalog: dict[str, Any]) -> None:
    """Refuse a configuration whose steps could not start on this machine (ConfigError by path)."""
    problems = verify_here.check(catalog)
    if problems:
        raise config_error(problems, catalog)


def load_file(session: Session, path: Path, **options: Any) -> Loaded:
    """Load a configuration file (`$HERE` is its folder, which Python backends import from)."""
    return load_version(session, read_file(path), folder=path.parent, **options)


def check_file(path: Path, *, verify: bool = True) -> dict[str, Any]:
    """A configuration file parsed and (with `verify`) checked against this machine, not loaded."""
    catalog = parse_config(read_file(path))
    add_python_path(catalog, path.parent)
    if verify:
        check_here(catalog)
    return catalog


def add_python_path(catalog: dict[str, Any], folder: Path) -> None:
    """Give Python backends that name no import path the configuration file's folder."""
    for backend in catalog["backends"]:
        if backend["type"] == "python" and "python_path" not in backend["options"]:
            backend["options"]["python_path"] = [str(folder.resolve())]


def _replace(session: Session, catalog: dict[str, Any]) -> None:
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


_RUNNABLE_NAMES = "SELECT name FROM jobs WHERE runnable ORDER BY position"


def runnable_job_with_tasks(
    connection: psycopg.Connection, name: Any,
) -> tuple[dict[str, Any], dict[str, dict[str, Any]]]:
    """The spec of a job a client wants to run and its tasks' specs, or a 4xx error saying why not."""
    if not isinstance(name, str) or not name:
        raise InvalidInput("A job name is required", errors={"job": ["is required"]})
    row = run(connection, _JOB_WITH_TASKS, {"name": name}).fetchone()  # on the hot path: psycopg directly
    if row is None:
        names = [job for (job,) in run(connection, _RUNNABLE_NAMES, {})]
        hint = did_you_mean(name, names) or (
            f"the jobs are {', '.join(names)}" if names else "no jobs are configured")
        raise InvalidInput(f"There is no job named {name!r}; {hint}", errors={"job": [f"unknown job; {hint}"]})
    if not row.runnable:
        raise Forbidden(f"Job {name} is present but currently disabled")
    return row.spec, row.tasks or {}


def tasks_by_name(session: Session, names: set[str]) -> dict[str, dict[str, Any]]:
    """Task specs with their backend spec embedded under `backend`, as steps snapshot them."""
    rows = session.execute(
        select(Task, Backend).join(Backend, Task.backend_name == Backend.name).where(Task.name.in_(names))
    ).all()
    return {task.name: {**task.spec, "backend": backend.spec} for task, backend in rows}
