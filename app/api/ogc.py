"""OGC API – Processes – Part 1: Core 1.0 under /ogc: every runnable job is a process.

Executing goes through the native submission path (validation, API keys, quotas); job status,
results and dismiss read and change the same submissions. Errors are RFC 7807 problem documents
with the standard's exception types.
"""

from __future__ import annotations

import json
import re
from types import SimpleNamespace
from typing import Any

from flask import Blueprint, Response, current_app, request

from app import database
from app.api import faces as face
from app.api import ogc_html
from app.api.ogc_openapi import document as openapi_document
from app.api.ogc_query import InvalidQuery, job_filter, limit_offset
from app.api.submissions import current_status, wait_for
from app.errors import AppError, Conflict, InvalidInput, NotFound
from app.models import SUBMISSION_DONE, SubmissionState
from app.queue import cancel
from app.services import blobs, catalog, faces, ogc_callbacks, ogc_documents, ogc_execute

PREFIX = ogc_documents.PREFIX
SYNC_WAIT_SECONDS = 60  # a synchronous execution not finished by then is answered as asynchronous (201)
EXCEPTIONS = "http://www.opengis.net/def/exceptions/ogcapi-processes-1/1.0/"
_OPENAPI_TYPE = "application/vnd.oai.openapi+json;version=3.0"

# strict_slashes=False on every route: OWSLib adds a slash to the URLs it is given (a job's Location).
blp = Blueprint("ogc", __name__, url_prefix=PREFIX)


class NoSuchProcess(NotFound):
    """There is no such process."""

    type_uri = EXCEPTIONS + "no-such-process"


class NoSuchJob(NotFound):
    """There is no such job."""

    type_uri = EXCEPTIONS + "no-such-job"


class ResultNotReady(NotFound):
    """The job has not finished yet."""

    type_uri = EXCEPTIONS + "result-not-ready"


class JobFailed(Conflict):
    """The job did not succeed, so it has no results."""

    type_uri = "NoApplicableCode"  # the OWS exception code for a process that failed


@blp.errorhandler(Exception)
def _problem(exc: Exception):
    found = face.problem(exc)
    kind = getattr(exc, "type_uri", None) or ("InvalidParameterValue" if found.status == 400 else "about:blank")
    body: dict[str, Any] = {"type": kind, "title": found.title, "status": found.status, "detail": found.message,
                            "instance": request.path}
    if found.errors:
        body["errors"] = found.errors
    response = _json(body, found.status, "application/problem+json")
    if found.retry_after:
        response.headers["Retry-After"] = str(found.retry_after)
    return response


def _json(document: Any, status: int = 200, mimetype: str = "application/json") -> Response:
    return current_app.response_class(json.dumps(document), status=status, mimetype=mimetype)


def _answer(document: dict[str, Any], title: str, status: int = 200) -> Response:
    """JSON, or HTML when asked for with ?f=html or an Accept header preferring it."""
    wanted = request.args.get("f")
    if wanted not in (None, "json", "html"):
        raise InvalidQuery("f must be json or html", errors={"f": ["must be json or html"]})
    html = wanted == "html" or (wanted is None and request.accept_mimetypes.best_match(
        ["application/json", "text/html"]) == "text/html")
    if html:
        return current_app.response_class(ogc_html.page(title, document), status=status, mimetype="text/html")
    return _json(document, status)


def _base() -> str:
    return face.base_url(PREFIX)


@blp.get("")
@blp.get("/")
def landing():
    base = _base()
    return _answer({
        "title": "Analytics Automated (OGC API – Processes)",
        "description": "The configured analysis jobs as OGC API – Processes 1.0 processes",
        "links": [
            {"href": f"{base}/", "rel": "self", "type": "application/json", "title": "this document"},
            {"href": f"{base}/?f=html", "rel": "alternate", "type": "text/html", "title": "this document as HTML"},
            {"href": f"{base}/api", "rel": "service-desc", "type": _OPENAPI_TYPE, "title": "the API definition"},
            {"href": f"{base}/api?f=html", "rel": "service-doc", "type": "text/html", "title": "the API documentation"},
            {"href": f"{base}/conformance", "rel": "http://www.opengis.net/def/rel/ogc/1.0/conformance",
             "type": "application/json", "title": "conformance classes"},
            {"href": f"{base}/processes", "rel": "http://www.opengis.net/def/rel/ogc/1.0/processes",
             "type": "application/json", "title": "processes"},
            {"href": f"{base}/jobs", "rel": "http://www.opengis.net/def/rel/ogc/1.0/job-list",
             "type": "application/json", "title": "jobs"},
        ],
    }, "Analytics Automated")


@blp.get("/conformance", strict_slashes=False)
def conformance():
    return _answer({"conformsTo": ogc_documents.CONFORMANCE}, "Conformance")


@blp.get("/api", strict_slashes=False)
def api_definition():
    if request.args.get("f") == "html":
        return current_app.response_class(ogc_html.swagger("OGC API – Processes", f"{_base()}/api"),
                                          mimetype="text/html")
    processes = [job.name for job in catalog.list_jobs(database.session())]
    return _json(openapi_document(_base(), processes), mimetype=_OPENAPI_TYPE)


@blp.get("/processes", strict_slashes=False)
def processes():
    limit, offset = limit_offset(request.args, default=100)
    base = _base()
    jobs = [job for job, _tasks in faces.runnable_jobs(database.session())]
    page = jobs[offset:offset + limit]
    links = [{"href": f"{base}/processes", "rel": "self", "type": "application/json", "title": "this list"},
             {"href": f"{base}/processes?f=html", "rel": "alternate", "type": "text/html", "title": "as HTML"}]
    if offset + limit < len(jobs):
        links.append({"href": f"{base}/processes?limit={limit}&offset={offset + limit}", "rel": "next",
                      "type": "application/json", "title": "next page"})
    return _answer({"processes": [ogc_documents.summary(job, base) for job in page], "links": links}, "Processes")


def _process(process_id: str) -> tuple[Any, dict[str, dict]]:
    try:
        return faces.runnable_jobs(database.session(), process_id)[0]
    except NotFound:
        raise NoSuchProcess(f"There is no process {process_id!r}") from None


@blp.get("/processes/<process_id>", strict_slashes=False)
def process(process_id: str):
    job, tasks = _process(process_id)
    return _answer(ogc_documents.description(job, tasks, _base()), f"Process {job.name}")


@blp.post("/processes/<process_id>/execution", strict_slashes=False)
def execute(process_id: str):
    job, tasks = _process(process_id)
    fields, outputs = faces.fields(job.spec, tasks), faces.outputs(job.spec, tasks)
    asked: dict[str, ogc_execute.Execution] = {}

    def read():
        if not request.is_json:
            raise InvalidInput("Send the execute request as application/json")
        asked["execution"] = ogc_execute.parse(request.get_json(silent=True), fields, outputs, fetch=face.fetch,
                                               refuse=face.refusal)
        return asked["execution"].params, asked["execution"].inputs

    def recorded():
        execution = asked["execution"]
        kept = {"subscriber": execution.subscriber, "outputs": execution.outputs, "response": execution.response}
        if execution.subscriber:  # the callbacks' links go where this client reached the service
            kept["root"] = face.base_url("")
        return kept

    def stored(session, submission_id):
        ogc_callbacks.register(session, submission_id, asked["execution"].subscriber)

    submission = face.submit(job.name, read=read, face="ogc", recorded=recorded, stored=stored)
    execution = asked["execution"]
    preferences = _prefer()
    location = f"{_base()}/jobs/{submission.id}"
    if "respond-async" in preferences or execution.mode == "async":
        return _status_response(current_status(submission.id), 201, location, "respond-async")
    wait = min(_seconds(preferences.get("wait")) or SYNC_WAIT_SECONDS, SYNC_WAIT_SECONDS)
    status = wait_for(submission.id, wait)
    if status.state not in SUBMISSION_DONE:  # too long for a synchronous answer: the job goes on
        return _status_response(status, 201, location, None)
    response = _results_response(status, execution.outputs, execution.response)
    response.headers["Link"] = f'<{location}>; rel="monitor"'
    if "wait" in preferences:
        response.headers["Preference-Applied"] = f"wait={wait:g}"
    return response


def _prefer() -> dict[str, str | None]:
    """The Prefer header's preferences (RFC 7240), e.g. {"respond-async": None, "wait": "10"}."""
    found: dict[str, str | None] = {}
    for header in request.headers.getlist("Prefer"):
        for item in header.split(","):
            name, _, value = item.split(";")[0].strip().partition("=")
            if name:
                found[name.lower()] = value.strip().strip('"') or None
    return found


def _seconds(value: str | None) -> float | None:
    return float(value) if value and re.fullmatch(r"\d{1,6}(\.\d+)?", value) else None


def _status_row(status: Any) -> SimpleNamespace:
    done = sum(1 for s in status.steps if s.finished is not None)
    return SimpleNamespace(id=status.id, job_name=status.job_name, state=status.state, message=status.message,
                           created=status.created, started=status.started, finished=status.finished,
                           done=done, total=len(status.steps))


def _status_response(status: Any, code: int, location: str, applied: str | None) -> Response:
    response = _json(ogc_documents.status_info(_status_row(status), _base()), code)
    response.headers["Location"] = location
    if applied:
        response.headers["Preference-Applied"] = applied
    return response


def _job(job_id: str) -> Any:
    return face.readable_status(job_id, NoSuchJob, "job")


@blp.get("/jobs", strict_slashes=False)
def jobs():
    limit, offset = limit_offset(request.args, default=50)
    wanted = job_filter(request.args)
    rows = [] if wanted is None else faces.listing(database.session(), face.caller(), wanted, limit=limit + 1,
                                                   offset=offset)
    base = _base()
    query = request.query_string.decode("utf-8", "replace")
    links = [{"href": f"{base}/jobs" + (f"?{query}" if query else ""), "rel": "self", "type": "application/json",
              "title": "this list"},
             {"href": f"{base}/jobs?f=html", "rel": "alternate", "type": "text/html", "title": "as HTML"}]
    if len(rows) > limit:
        kept = [(k, v) for k, v in request.args.items(multi=True) if k not in ("offset", "limit", "f")]
        rest = "".join(f"&{k}={v}" for k, v in kept)
        links.append({"href": f"{base}/jobs?limit={limit}&offset={offset + limit}{rest}", "rel": "next",
                      "type": "application/json", "title": "next page"})
    return _answer({"jobs": [ogc_documents.status_info(row, base) for row in rows[:limit]], "links": links}, "Jobs")


@blp.get("/jobs/<job_id>", strict_slashes=False)
def job(job_id: str):
    return _answer(ogc_documents.status_info(_status_row(_job(job_id)), _base()), "Job")


@blp.delete("/jobs/<job_id>", strict_slashes=False)
def dismiss(job_id: str):
    """Dismiss: a job still queued or running is cancelled (its data kept); a finished job's data
    (inputs, results, logs) is deleted. Either way the answer is its status info, `dismissed`."""
    status = _job(job_id)
    session = database.session()
    finished = status.state in SUBMISSION_DONE
    try:
        cancel.cancel(session, str(status.id), purge=finished)
    except NotFound:
        raise NoSuchJob(f"There is no job {job_id!r}") from None
    session.commit()
    if not finished:
        return _json(ogc_documents.status_info(_status_row(current_status(status.id)), _base()))
    status.state, status.message = SubmissionState.CANCELLED, "Dismissed: its data has been deleted"
    return _json(ogc_documents.status_info(_status_row(status), _base()))


@blp.get("/jobs/<job_id>/results", strict_slashes=False)
def results(job_id: str):
    status = _job(job_id)
    kept = faces.recorded(database.session(), status.id) or {}
    return _results_response(status, kept.get("outputs"), kept.get("response") or "document")


def _results_response(status: Any, wanted: dict[str, str] | None, mode: str) -> Response:
    if status.state not in SUBMISSION_DONE:
        raise ResultNotReady(f"The job is {faces.OGC_STATUS[status.state]}; its results are not ready")
    if status.state != SubmissionState.COMPLETE:
        raise JobFailed(f"The job {faces.OGC_STATUS[status.state]}: {status.message}")
    session = database.session()
    grouped = ogc_documents.chosen(*faces.definition(session, status.job_name), status.results, wanted)
    only = [items[0] for key, items in grouped.items() if len(items) == 1 and (wanted or {}).get(key) != "reference"]
    if mode == "raw" and len(grouped) == 1 and len(only) == 1:
        return current_app.response_class(blobs.get(session, only[0].sha256), content_type=only[0].media_type)
    return _json(ogc_documents.results(
        grouped, wanted, read=lambda result: blobs.get(session, result.sha256),
        href=lambda result: face.download_url(status.id, result.id)))


@blp.route("/<path:rest>", methods=["GET", "POST", "PUT", "PATCH", "DELETE"])
def unknown(rest: str):
    """Anything else under /ogc: a 404 (or 405) in the standard's shape."""
    adapter = current_app.url_map.bind("")
    for method in ("GET", "POST", "DELETE"):
        try:
            endpoint, _ = adapter.match(f"{PREFIX}/{rest}", method=method)
        except Exception:  # no rule for this method here (werkzeug raises NotFound, MethodNotAllowed...)
            continue
        if endpoint != "ogc.unknown" and method != request.method:
            return _problem(MethodNotAllowed(f"{request.method} is not allowed here"))
    raise NotFound(f"There is no resource {request.path!r}")


class MethodNotAllowed(AppError):
    """That method is not allowed on this resource."""

    status = 405
    code = "method_not_allowed"
