"""What the standard faces (OGC API – Processes, GA4GH WES) share: states, the typed fields and
outputs of a job, what each face was asked, and which submissions a caller may list."""

from __future__ import annotations

import mimetypes
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, and_, func, select
from sqlalchemy.orm import Session

from app.errors import NotFound
from app.models import FaceRequest, Job, Step, StepState, Submission, SubmissionState
from app.services import catalog

# SPEC §6: one state machine, three vocabularies.
OGC_STATUS = {
    SubmissionState.SUBMITTED: "accepted", SubmissionState.RUNNING: "running",
    SubmissionState.COMPLETE: "successful", SubmissionState.ERROR: "failed",
    SubmissionState.CRASH: "failed", SubmissionState.CANCELLED: "dismissed",
}
WES_STATE = {
    SubmissionState.SUBMITTED: "QUEUED", SubmissionState.RUNNING: "RUNNING",
    SubmissionState.COMPLETE: "COMPLETE", SubmissionState.ERROR: "EXECUTOR_ERROR",
    SubmissionState.CRASH: "SYSTEM_ERROR", SubmissionState.CANCELLED: "CANCELED",
}
_VALIDATOR_MEDIA = {"json": "application/json", "csv": "text/csv", "numeric_csv": "text/csv", "png": "image/png",
                    "jpeg": "image/jpeg", "gif": "image/gif"}
_PARAM_TYPES = {"bool": "boolean", "int": "integer", "float": "number", "string": "string"}


@dataclass(frozen=True)
class Field:
    """One thing a client sets when it runs a job: an input file or a parameter (by its alias)."""

    id: str
    kind: str  # "file" | "parameter"
    schema: dict[str, Any]
    required: bool
    description: str
    media_type: str = ""


@dataclass(frozen=True)
class Output:
    """One kind of result a job produces: a step's out_glob."""

    id: str
    step: str
    glob: str
    media_type: str


def is_text(media_type: str) -> bool:
    """Whether content of this type travels as a string (else as base64)."""
    kind = media_type.split(";")[0].strip()
    return kind.startswith("text/") or kind in ("application/json", "application/xml", "application/yaml")


def guess_media_type(suffix: str) -> str:
    guessed, _ = mimetypes.guess_type(f"file{suffix}")
    return guessed or ""


def input_media_type(declaration: dict[str, Any]) -> str:
    """The media type a job input expects: by its validators, else by its suffix, else text."""
    for validator in declaration.get("validators") or ():
        if validator in _VALIDATOR_MEDIA:
            return _VALIDATOR_MEDIA[validator]
    return guess_media_type(declaration.get("glob") or "") or "text/plain"


def fields(spec: dict[str, Any], tasks: dict[str, dict[str, Any]]) -> list[Field]:
    """The job's inputs, then its steps' parameters, each with its JSON Schema."""
    found = []
    for declaration in spec["inputs"]:
        media = input_media_type(declaration)
        schema: dict[str, Any] = {"type": "string", "format": "binary", "contentMediaType": media}
        if not is_text(media):
            schema["contentEncoding"] = "base64"
        found.append(Field(declaration["name"], "file", schema, bool(declaration["required"]),
                           f"A {declaration.get('glob') or ''} file".replace("A  file", "A file"), media))
    for step in spec["steps"]:
        for p in tasks[step["task"]]["parameters"]:
            found.append(Field(p["rest_alias"], "parameter", parameter_schema(p), p["default"] is None,
                               p.get("description") or ""))
    return found


def parameter_schema(p: dict[str, Any]) -> dict[str, Any]:
    """A task parameter's declaration as a JSON Schema (OpenAPI 3.0 subset: no type lists)."""
    schema: dict[str, Any] = {}
    if p["type"] == "choice":
        choices = list(p.get("choices") or [])
        kinds = {_json_type(c) for c in choices}
        if len(kinds) == 1:
            schema["type"] = kinds.pop()
        schema["enum"] = choices
    else:
        schema["type"] = _PARAM_TYPES[p["type"]]
    low, high = p.get("min"), p.get("max")
    if p["type"] in ("int", "float"):
        if low is not None:
            schema["minimum"] = _number(low)
        if high is not None:
            schema["maximum"] = _number(high)
    if p["type"] == "string":
        if low is not None:
            schema["minLength"] = int(low)
        if high is not None:
            schema["maxLength"] = int(high)
        if p.get("pattern"):
            schema["pattern"] = p["pattern"]
    if p["default"] is not None:
        schema["default"] = p["default"]
    return schema


def _json_type(value: Any) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    return "string"


def _number(value: float) -> int | float:
    return int(value) if float(value).is_integer() else value


def outputs(spec: dict[str, Any], tasks: dict[str, dict[str, Any]]) -> list[Output]:
    """Each step's out_globs (and its stdout file; a Python task's returned value is `.json`)."""
    found = []
    for step in spec["steps"]:
        task = tasks[step["task"]]
        globs = list(task.get("out_globs") or [])
        for extra in (task.get("stdout_glob"), ".json" if task.get("function") else None):
            if extra and extra not in globs:
                globs.append(extra)
        found.extend(Output(f"{step['name']}{glob}", step["name"], glob, guess_media_type(glob)) for glob in globs)
    return found


def download_path(submission_id: Any, result_id: int) -> str:
    """Where the native API serves a result (the faces give results by reference there)."""
    return f"/api/submissions/{submission_id}/results/{result_id}"


def group_results(declared: list[Output], results: list[Any]) -> dict[str, list[Any]]:
    """Results (anything with `step_name` and `name`) by output id, in the outputs' order; a
    result that no output declares is listed under `<step>.<its name>`."""
    grouped: dict[str, list[Any]] = {o.id: [] for o in declared}
    for result in results:
        candidates = [o for o in declared if o.step == result.step_name and result.name.endswith(o.glob)]
        if candidates:
            grouped[max(candidates, key=lambda o: len(o.glob)).id].append(result)
        else:
            grouped.setdefault(f"{result.step_name}.{result.name}", []).append(result)
    return {key: found for key, found in grouped.items() if found}


def runnable_jobs(session: Session, name: str | None = None) -> list[tuple[Job, dict[str, dict]]]:
    """Runnable jobs (or the one named, else NotFound) with their tasks' specs."""
    if name is not None:
        job = catalog.get_job(session, name) if isinstance(name, str) else None
        if job is None or not job.runnable:
            raise NotFound(f"There is no job named {name!r}")
        jobs = [job]
    else:
        jobs = catalog.list_jobs(session)
    tasks = catalog.tasks_by_name(session, {s["task"] for job in jobs for s in job.spec["steps"]})
    return [(job, {s["task"]: tasks[s["task"]] for s in job.spec["steps"]}) for job in jobs]


def definition(session: Session, name: str | None) -> tuple[dict[str, Any] | None, dict[str, dict]]:
    """A job's spec and tasks while it still exists and is runnable, else (None, {}): the
    submissions of a job deleted since stay readable, without their outputs' declarations."""
    if name is None:
        return None, {}
    try:
        job, tasks = runnable_jobs(session, name)[0]
    except NotFound:
        return None, {}
    return job.spec, tasks


def record(session: Session, submission_id: uuid.UUID, face: str, request: dict[str, Any]) -> None:
    """Keep what the face was asked, with the submission (the caller commits)."""
    session.add(FaceRequest(submission_id=submission_id, face=face, request=request))


def recorded(session: Session, submission_id: uuid.UUID) -> dict[str, Any] | None:
    row = session.get(FaceRequest, submission_id)
    return row.request if row is not None else None


@dataclass(frozen=True)
class Caller:
    """Whose submissions a listing shows: an admin sees all, a token its own, anyone else the
    submissions made without a token from the same address (SPEC §4.8's client)."""

    token_id: int | None
    admin: bool
    address: str

    def condition(self) -> ColumnElement[bool] | None:
        if self.admin:
            return None
        if self.token_id is not None:
            return Submission.token_id == self.token_id
        return and_(Submission.token_id.is_(None), Submission.client == self.address[:128])


@dataclass(frozen=True)
class ListFilter:
    jobs: tuple[str, ...] = ()
    states: tuple[str, ...] = ()
    created_from: datetime | None = None
    created_to: datetime | None = None
    min_duration: float | None = None
    max_duration: float | None = None


def listing(session: Session, caller: Caller, wanted: ListFilter, *, limit: int, offset: int) -> list[Any]:
    """Submissions the caller may see, newest first, with their steps done and total."""
    done = (select(func.count()).select_from(Step)
            .where(Step.submission_id == Submission.id, Step.state.in_(_FINISHED_STEPS)).scalar_subquery())
    total = select(func.count()).select_from(Step).where(Step.submission_id == Submission.id).scalar_subquery()
    query = select(Submission.id, Submission.job_name, Submission.state, Submission.message, Submission.created,
                   Submission.started, Submission.finished, done.label("done"), total.label("total"))
    conditions = [c for c in (caller.condition(),) if c is not None]
    if wanted.jobs:
        conditions.append(Submission.job_name.in_(wanted.jobs))
    if wanted.states:
        conditions.append(Submission.state.in_(wanted.states))
    if wanted.created_from is not None:
        conditions.append(Submission.created >= wanted.created_from)
    if wanted.created_to is not None:
        conditions.append(Submission.created <= wanted.created_to)
    if wanted.min_duration is not None or wanted.max_duration is not None:
        # Running jobs last until now; jobs that have not started have no duration and are left out.
        seconds = func.extract("epoch", func.coalesce(Submission.finished, func.now()) - Submission.started)
        conditions.append(Submission.started.is_not(None))
        if wanted.min_duration is not None:
            conditions.append(seconds >= wanted.min_duration)
        if wanted.max_duration is not None:
            conditions.append(seconds <= wanted.max_duration)
    query = query.where(*conditions).order_by(Submission.created.desc(), Submission.id)
    return list(session.execute(query.offset(offset).limit(limit)))


_FINISHED_STEPS = [StepState.COMPLETE, StepState.ERROR, StepState.CRASH, StepState.CANCELLED, StepState.SKIPPED]


def state_counts(session: Session, caller: Caller) -> dict[str, int]:
    """How many submissions the caller may see are in each state."""
    query = select(Submission.state, func.count()).group_by(Submission.state)
    condition = caller.condition()
    if condition is not None:
        query = query.where(condition)
    return {state: count for state, count in session.execute(query)}
