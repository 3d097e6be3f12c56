"""Submitting a job: validate everything, then store it and queue its root steps in one go."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session, selectinload
from sqlalchemy.orm.attributes import set_committed_value

from app.errors import Forbidden, InvalidInput, NotFound, ParameterError, TooManyRequests, ValidationFailed
from app.models import Step, StepState, Submission, SubmissionInput
from app.queue.chain import Deferral, defer
from app.services import blobs, catalog, validators
from app.services.parameters import ParamSpec, resolve_values

PRIORITIES = ("low", "normal", "high")
RUNNABLE_BACKENDS = {"local", "python"}  # slurm and gridengine are accepted in the configuration only


@dataclass(frozen=True)
class Upload:
    """One input file as the client sent it; `filename` is metadata only."""

    data: bytes
    filename: str = ""


def submit(
    session: Session, *, job: Any, params: dict[str, Any], inputs: dict[str, Upload],
    name: str = "", priority: str = "normal", client: str = "", token_id: int | None = None,
    use_cache: bool = True,
) -> Submission:
    """Validate a submission fully, then store it and queue its root steps (caller commits)."""
    job_row = catalog.runnable_job(session, job)
    spec = job_row.spec
    if len(name) > 128:
        raise InvalidInput("The name is too long", errors={"name": ["must be at most 128 characters"]})
    if priority not in PRIORITIES:
        raise InvalidInput("Invalid priority", errors={"priority": [f"must be one of {', '.join(PRIORITIES)}"]})
    tasks = catalog.tasks_by_name(session, {step["task"] for step in spec["steps"]})
    unrunnable = sorted({t["backend"]["type"] for t in tasks.values()} - RUNNABLE_BACKENDS)
    if unrunnable:
        raise Forbidden(f"Job {job_row.name} uses the {', '.join(unrunnable)} backend, which this service "
                        "cannot run yet")
    _check_inputs(spec, inputs)
    values = _resolve_params(spec, tasks, params)
    submission = Submission(
        id=uuid.uuid4(), job_name=job_row.name, name=name, priority=priority, client=client[:128],
        token_id=token_id, use_cache=use_cache, params=values,
    )
    session.add(submission)
    _store_inputs(session, submission, spec, inputs)
    for position, step in enumerate(spec["steps"]):
        submission.steps.append(Step(
            position=position, name=step["name"], task_name=step["task"], task=tasks[step["task"]],
            params=values.get(step["name"], {}), after=step["after"], waiting_for=len(step["after"]),
        ))
    session.flush()
    roots = [s for s in submission.steps if not s.after]
    job_ids, queued = defer(session.connection(), [Deferral(s.id, str(submission.id), s.task["backend"]["name"])
                                                   for s in roots], priority=priority)
    set_committed_value(submission, "results", [])  # new: nothing to load
    for step in roots:  # written by the deferral itself; tell the session without another UPDATE
        set_committed_value(step, "state", StepState.QUEUED)
        set_committed_value(step, "queue_job_id", job_ids[step.id])
        set_committed_value(step, "queued", queued)
    return submission


def _check_inputs(spec: dict[str, Any], inputs: dict[str, Upload]) -> None:
    declared = {i["name"]: i for i in spec["inputs"]}
    errors: dict[str, list[str]] = {}
    for unknown in sorted(set(inputs) - set(declared)):
        errors[unknown] = [f"unknown input; this job takes {', '.join(declared) or 'no inputs'}"]
    for input_name, declaration in declared.items():
        upload = inputs.get(input_name)
        if upload is None:
            if declaration["required"]:
                errors[input_name] = ["is required"]
            continue
        try:
            validators.validate_all(declaration["validators"], upload.data)
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
        specs = [ParamSpec.from_dict(p) for p in tasks[step["task"]]["parameters"]]
        known.update(s.rest_alias for s in specs)
        try:
            values[step["name"]] = resolve_values(specs, given)
        except ParameterError as exc:
            errors.update(exc.errors)
    for alias in sorted(set(given) - known):
        errors[alias] = ["unknown parameter"]
    if errors:
        raise ParameterError("Some parameters are missing or invalid", errors=errors)
    return values


def _store_inputs(session: Session, submission: Submission, spec: dict[str, Any], inputs: dict[str, Upload]) -> None:
    stem = str(submission.id)
    for position, declaration in enumerate(spec["inputs"]):
        upload = inputs.get(declaration["name"])
        if upload is None:
            continue
        infix = "" if position == 0 else f".{declaration['name']}"
        submission.inputs.append(SubmissionInput(
            position=position, name=declaration["name"], filename=f"{stem}{infix}{declaration['glob']}",
            original_name=(upload.filename or "")[:255], sha256=blobs.put(session, upload.data),
            size=len(upload.data),
        ))


def get(session: Session, submission_id: Any, *, lock: bool = False) -> Submission:
    """A submission with its steps and results (its row locked if asked), or NotFound."""
    try:
        key = uuid.UUID(str(submission_id))
    except ValueError:
        raise NotFound("No such submission") from None
    query = select(Submission).where(Submission.id == key).options(
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
