"""Submitting a job: validate everything, then store it (the queue's intake.submit queues its root
steps in the same transaction)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from psycopg.types.json import Jsonb
from sqlalchemy import Connection, func, insert, select
from sqlalchemy.orm import Session, selectinload

from app.config import Settings
from app.db import driver
from app.errors import Forbidden, InvalidInput, NotFound, ParameterError, TooManyRequests, ValidationFailed
from app.models import StepState, Submission, SubmissionInput, SubmissionState
from app.models.base import utcnow
from app.services import catalog, notify, uploads, validators
from app.services.commands import alone_parameters
from app.services.parameters import ParamSpec, resolve_values
from app.services.suggest import did_you_mean
from app.services.uploads import Upload

PRIORITIES = ("low", "normal", "high")
RUNNABLE_BACKENDS = {"local", "python", "slurm", "gridengine"}


@dataclass
class StoredStep:
    """A step as `submit` stored it (what the API answers with; ORM objects cost more to build)."""

    id: int
    name: str
    task_name: str
    task: dict[str, Any]
    after: list[str]
    state: str = StepState.PENDING
    queue_job_id: int | None = None
    queued: datetime | None = None
    attempts: int = 0
    exit_status: int | None = None
    message: str = ""
    cached: bool = False
    started: datetime | None = None
    finished: datetime | None = None


@dataclass
class StoredSubmission:
    """A submission as `submit` stored it."""

    id: uuid.UUID
    job_name: str
    name: str
    priority: str
    created: datetime
    steps: list[StoredStep]
    state: str = SubmissionState.SUBMITTED
    message: str = ""
    started: datetime | None = None
    finished: datetime | None = None
    results: list = field(default_factory=list)


class Submit(Protocol):
    """What stores a submission and queues its root steps (the queue's intake.submit), handed to the
    services that submit (batches, schedules) by their callers, since services never queue."""

    def __call__(
        self, session: Session, *, job: Any, params: dict[str, Any], inputs: dict[str, Upload],
        name: str = "", priority: str = "normal", client: str = "", token_id: int | None = None,
        use_cache: bool = True,
    ) -> StoredSubmission: ...


# The submission and its steps (from one JSON document) in one statement.
_INSERT = """
    WITH submission AS (
        INSERT INTO submissions (id, job_name, name, state, message, priority, client, token_id, use_cache, params,
                                 created)
        VALUES (%(id)s, %(job_name)s, %(name)s, 'Submitted', '', %(priority)s, %(client)s, %(token_id)s,
                %(use_cache)s, %(params)s, %(created)s)
    )
    INSERT INTO steps (submission_id, position, name, task_name, task, params, after, waiting_for, state, attempts,
                       message, cached)
    SELECT %(id)s, position - 1, step->>'name', step->>'task', step->'spec', step->'params',
           ARRAY(SELECT jsonb_array_elements_text(step->'after')), jsonb_array_length(step->'after'),
           'Pending', 0, '', false
    FROM jsonb_array_elements(%(steps)s) WITH ORDINALITY AS t(step, position)
    RETURNING position, id
"""


def store(
    session: Session, *, job: Any, params: dict[str, Any], inputs: dict[str, Upload],
    name: str = "", priority: str = "normal", client: str = "", token_id: int | None = None,
    use_cache: bool = True,
) -> StoredSubmission:
    """Validate a submission fully, then store it, its steps Pending (caller queues and commits).

    This is the hot path of the API: plain statements on the psycopg connection (the job's
    definition; the submission with its steps), plus one per input file.
    """
    connection = driver(session)
    spec, tasks = catalog.runnable_job_with_tasks(connection, job)
    if len(name) > 128:
        raise InvalidInput("The name is too long", errors={"name": ["must be at most 128 characters"]})
    if priority not in PRIORITIES:
        raise InvalidInput("Invalid priority", errors={"priority": [f"must be one of {', '.join(PRIORITIES)}"]})
    unrunnable = sorted({t["backend"]["type"] for t in tasks.values()} - RUNNABLE_BACKENDS)
    if unrunnable:
        raise Forbidden(f"Job {spec['name']} uses the {', '.join(unrunnable)} backend, which this service "
                        "cannot run yet")
    _check_inputs(spec, inputs)
    values = _resolve_params(spec, tasks, params)
    submission = StoredSubmission(id=uuid.uuid4(), job_name=spec["name"], name=name, priority=priority,
                                  created=utcnow(), steps=[])
    step_specs = spec["steps"]
    ids = dict(connection.execute(_INSERT, {
        "id": submission.id, "job_name": submission.job_name, "name": name, "priority": priority,
        "client": client[:128], "token_id": token_id, "use_cache": use_cache, "params": Jsonb(values),
        "created": submission.created,
        "steps": Jsonb([{"name": step["name"], "task": step["task"], "spec": _snapshot(step, tasks),
                         "params": values.get(step["name"], {}), "after": step["after"]} for step in step_specs]),
    }).fetchall())
    _store_inputs(session.connection(), submission.id, spec, inputs)
    submission.steps = [StoredStep(id=ids[position], name=step["name"], task_name=step["task"],
                                   task=_snapshot(step, tasks), after=step["after"])
                        for position, step in enumerate(step_specs)]
    return submission


def accept(
    session: Session, *, submit: Submit, job: Any, params: dict[str, Any], inputs: dict[str, Upload],
    settings: Settings, name: str = "", priority: str = "normal", use_cache: bool = True, email: Any = None,
    callback_url: Any = None, client: str = "", token_id: int | None = None,
) -> StoredSubmission:
    """Take a submission as its caller makes it (caller commits): its contacts checked, its priority
    after the caller's quota, then `submit` (the queue's intake.submit, from the caller), and the
    contacts kept until it ends. The one path of the API, the standard faces, batches and the pages'
    form."""
    contacts = notify.check(email, callback_url, settings)
    priority = quota_priority(session, client=client, priority=priority, soft=settings.soft_limit,
                              hard=settings.hard_limit)
    submission = submit(session, job=job, params=params, inputs=inputs, name=name, priority=priority,
                        use_cache=use_cache, client=client, token_id=token_id)
    notify.register(session, submission.id, contacts)
    return submission


def _snapshot(step: dict[str, Any], tasks: dict[str, dict]) -> dict[str, Any]:
    """What a step row keeps of its task (and backend); with the step's `inputs_from` when it names one."""
    task = tasks[step["task"]]
    return task if step.get("inputs_from") is None else {**task, "inputs_from": step["inputs_from"]}


def _check_inputs(spec: dict[str, Any], inputs: dict[str, Upload]) -> None:
    declared = {i["name"]: i for i in spec["inputs"]}
    errors: dict[str, list[str]] = {}
    for unknown in sorted(set(inputs) - set(declared)):
        errors[unknown] = [unknown_name("input", unknown, list(declared))]
    for input_name, declaration in declared.items():
        upload = inputs.get(input_name)
        if upload is None:
            if declaration["required"]:
                errors[input_name] = ["is required"]
            continue
        try:
            validators.validate_all(declaration["validators"], upload.content())
        except ValidationFailed as exc:
            errors[input_name] = [exc.message]
    if errors:
        raise InvalidInput("Some inputs are missing, unknown or invalid", errors=errors)


def _resolve_params(spec: dict[str, Any], tasks: dict[str, dict], given: dict[str, Any]) -> dict[str, dict]:
    """Typed parameter values per step name; unknown aliases and bad values are 400s."""
    values: dict[str, dict] = {}
    errors: dict[str, list[str]] = {}
    known: set[str] = set()
    for step in spec["steps"]:
        task = tasks[step["task"]]
        specs = [ParamSpec.from_dict(p) for p in task["parameters"]]
        known.update(s.rest_alias for s in specs)
        try:
            values[step["name"]] = resolve_values(specs, given, alone=alone_parameters(task.get("executable"), specs))
        except ParameterError as exc:
            errors.update(exc.errors)
    for alias in sorted(set(given) - known):
        errors[alias] = [unknown_name("parameter", alias, sorted(known))]
    if errors:
        raise ParameterError("Some parameters are missing or invalid", errors=errors)
    return values


def unknown_name(kind: str, name: str, known: list[str]) -> str:
    """`unknown parameter; did you mean r_plot_threshold?`, else the names there are."""
    hint = did_you_mean(name, known)
    if hint:
        return f"unknown {kind}; {hint}"
    return f"unknown {kind}; " + (f"the {kind}s are {', '.join(known)}" if known else f"there are no {kind}s")


def _store_inputs(connection: Connection, submission_id: uuid.UUID, spec: dict[str, Any],
                  inputs: dict[str, Upload]) -> None:
    stem = str(submission_id)
    rows = []
    for position, declaration in enumerate(spec["inputs"]):
        upload = inputs.get(declaration["name"])
        if upload is None:
            continue
        infix = "" if position == 0 else f".{declaration['name']}"
        rows.append({
            "submission_id": submission_id, "position": position, "name": declaration["name"],
            "filename": f"{stem}{infix}{declaration['glob']}", "original_name": (upload.filename or "")[:255],
            "sha256": uploads.store(connection.connection.driver_connection, upload), "size": upload.size,
        })
    if rows:
        connection.execute(insert(SubmissionInput), rows)


def key(submission_id: Any) -> uuid.UUID:
    """A submission id as a client gave it, as a UUID; NotFound if it cannot be one."""
    try:
        return uuid.UUID(str(submission_id))
    except ValueError:
        raise NotFound("No such submission") from None


def get(session: Session, submission_id: Any, *, lock: bool = False) -> Submission:
    """A submission with its steps and results (its row locked if asked), or NotFound."""
    query = select(Submission).where(Submission.id == key(submission_id)).options(
        selectinload(Submission.steps), selectinload(Submission.results))
    if lock:
        query = query.with_for_update(of=Submission).execution_options(populate_existing=True)
    submission = session.execute(query).scalar_one_or_none()
    if submission is None:
        raise NotFound("No such submission")
    return submission


def quota_priority(session: Session, *, client: str, priority: str, soft: int | None, hard: int | None) -> str:
    """The priority a client's next submission gets (SPEC §4.8): `low` past the soft limit of
    unfinished submissions; past the hard limit, TooManyRequests. An unset limit is off."""
    if soft is None and hard is None:
        return priority
    active = session.execute(
        select(func.count()).select_from(Submission).where(Submission.client == client, Submission.finished.is_(None))
    ).scalar_one()
    if hard is not None and active >= hard:
        raise TooManyRequests(f"You have {active} unfinished submissions; the limit is {hard}")
    return "low" if soft is not None and active >= soft else priority
