"""A batch of submissions (SPEC §6): every item validated as a single submission is, all stored in
one transaction or none, and answered per item."""

from __future__ import annotations

from collections.abc import Sequence
from http import HTTPStatus
from typing import Any, Protocol

from sqlalchemy.orm import Session

from app.config import Settings
from app.db import driver
from app.errors import AppError, InvalidInput
from app.services import catalog, submissions

MAX_ITEMS = 1000  # submissions in one request


class Item(Protocol):
    """One submission of a batch, as the API read it."""

    job: Any
    name: str
    priority: str
    use_cache: bool
    params: dict[str, Any]
    inputs: dict[str, submissions.Upload]
    email: Any
    callback_url: Any


class BatchRefused(AppError):
    """Some submissions of the batch were refused; none was stored."""

    code = "batch_refused"

    def __init__(self, message: str, *, errors: dict, status: int) -> None:
        super().__init__(message, errors=errors)
        self.status = status


def submit_batch(
    session: Session, items: Sequence[Item | AppError], *, submit: submissions.Submit, client: str = "",
    token_id: int | None = None, shared_params: bool = False, settings: Settings | None = None,
) -> list[submissions.StoredSubmission]:
    """Validate and store every item (caller commits), or store none and raise BatchRefused with
    each refused item's error under its index (an item given as an AppError was refused on reading).
    Each is stored and its root steps queued by `submit` (the queue's intake.submit).

    With `shared_params` (one form sent to several jobs, `job=a,b`), each job takes the
    parameters it declares; one that no job of the batch declares is refused for each.
    """
    if not items:
        raise InvalidInput("The batch is empty")
    if len(items) > MAX_ITEMS:
        raise InvalidInput(f"A batch holds at most {MAX_ITEMS} submissions, not {len(items)}")
    declared = _declared_params(session, items) if shared_params else None
    stored, errors = [], {}
    for index, item in enumerate(items):
        try:
            if isinstance(item, AppError):
                raise item
            params = item.params if declared is None else _taken(item.params, item.job, declared)
            stored.append(submissions.accept(
                session, submit=submit, job=item.job, params=params, inputs=item.inputs, name=item.name,
                priority=item.priority, use_cache=item.use_cache, email=item.email, callback_url=item.callback_url,
                client=client, token_id=token_id, settings=settings or Settings(),
            ))
        except AppError as exc:
            errors[str(index)] = _answer(exc)
    if errors:
        session.rollback()
        statuses = {error["code"] for error in errors.values()}
        raise BatchRefused(f"{len(errors)} of {len(items)} submissions were refused; none was stored",
                           errors=errors, status=statuses.pop() if len(statuses) == 1 else 400)
    return stored


def _answer(exc: AppError) -> dict[str, Any]:
    """An item's error, in the shape of a single submission's error answer."""
    answer = {"code": exc.status, "status": HTTPStatus(exc.status).phrase, "message": exc.message}
    if exc.errors:
        answer["errors"] = exc.errors
    return answer


def _declared_params(session: Session, items: Sequence[Item | AppError]) -> dict[str, set[str]]:
    """The parameter aliases each (known) job of the batch declares."""
    declared = {}
    for item in items:
        if isinstance(item, AppError) or item.job in declared:
            continue
        try:
            spec, tasks = catalog.runnable_job_with_tasks(driver(session), item.job)
        except AppError:
            continue  # the item itself reports it
        declared[item.job] = {p["rest_alias"] for step in spec["steps"] for p in tasks[step["task"]]["parameters"]}
    return declared


def _taken(params: dict[str, Any], job: Any, declared: dict[str, set[str]]) -> dict[str, Any]:
    """The shared parameters `job` takes: its own, and those no job declares (refused as unknown)."""
    everyone = set().union(*declared.values())
    return {k: v for k, v in params.items() if k in declared.get(job, set()) or k not in everyone}
