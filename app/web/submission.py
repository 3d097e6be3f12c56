"""A submission's page: its DAG, steps, logs and results, with cancel and run again."""

from __future__ import annotations

import io

from flask import abort, jsonify, redirect, render_template, send_file, url_for
from werkzeug.wrappers import Response

from app import database
from app.api.submissions import SubmissionSchema
from app.db import driver
from app.errors import AppError
from app.models import SUBMISSION_DONE, Attempt
from app.queue import cancel
from app.services import blobs, rerun, status
from app.web import access, blp, dag, pages, previews

PREVIEWED = 12  # results previewed inline; the rest are listed for download


@blp.get("/submissions/<submission_id>")
def submission_page(submission_id: str) -> str:
    """Live progress (the DAG, each step), the results with previews, and what can be done next."""
    session = database.session()
    found = access.readable(submission_id)
    picture = dag.layout([(s.name, list(s.after), s.state, s.state) for s in found.steps])
    shown = [(r, previews.preview(session, name=r.name, media_type=r.media_type, sha256=r.sha256, size=r.size)
              if n < PREVIEWED else None) for n, r in enumerate(found.results)]
    return render_template("web/submission.html", submission=found, picture=picture, results=shown,
                           done=found.state in SUBMISSION_DONE, inputs=found.inputs)


@blp.get("/submissions/<submission_id>/status.json")
def submission_status(submission_id: str) -> Response:
    """The API's status of the submission, for the page's script (with the browser's token)."""
    found = access.readable(submission_id)
    try:
        current = status.read(driver(database.session()), found.id)
    finally:
        database.session().rollback()  # the next poll sees what was committed meanwhile
    response = jsonify(SubmissionSchema().dump(current))
    response.headers["Cache-Control"] = "no-store"
    return response


@blp.get("/submissions/<submission_id>/results/<int:result_id>")
def result_file(submission_id: str, result_id: int) -> Response:
    """A result's bytes, always as an attachment: a result is never a page of this site."""
    found = access.readable(submission_id)
    result = next((r for r in found.results if r.id == result_id), None)
    if result is None:
        abort(404)
    response = send_file(io.BytesIO(blobs.get(database.session(), result.sha256)), mimetype=result.media_type,
                         as_attachment=True, download_name=result.name, etag=result.sha256, max_age=3600)
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Content-Security-Policy"] = "default-src 'none'; sandbox"
    return response


@blp.get("/submissions/<submission_id>/steps/<step>/log")
def step_log(submission_id: str, step: str) -> str:
    """A step's captured output, attempt by attempt."""
    found = access.readable(submission_id)
    chosen = next((s for s in found.steps if s.name == step), None)
    if chosen is None:
        abort(404)
    attempts = [database.session().get(Attempt, (chosen.id, n)) for n in range(chosen.attempts, 0, -1)]
    return render_template("web/log.html", submission=found, step=chosen, attempts=[a for a in attempts if a])


@blp.post("/submissions/<submission_id>/cancel")
def cancel_submission(submission_id: str) -> Response:
    """Cancel, then back to the page (which says so); cancelling a finished one changes nothing."""
    found = access.readable(submission_id)
    session = database.session()
    try:
        cancel.cancel(session, str(found.id))
        session.commit()
    except AppError:  # already finished: the page shows how it ended
        session.rollback()
    return redirect(url_for("web.submission_page", submission_id=found.id), 303)


@blp.post("/submissions/<submission_id>/again")
def run_again(submission_id: str) -> Response | tuple[str, int]:
    """Submit the same job with the same inputs and parameters; off to the new submission."""
    session = database.session()
    found = access.readable(submission_id)
    earlier = rerun.earlier(session, found)
    try:
        created = pages.submit(earlier.job or "", earlier.params, earlier.inputs, name=found.name,
                               priority=found.priority, use_cache=found.use_cache)
    except AppError as exc:  # the job changed or went; its form says what it needs now
        session.rollback()
        return render_template("web/error.html", title="Cannot run again", message=exc.message,
                               errors=exc.errors), exc.status
    return access.remember(redirect(url_for("web.submission_page", submission_id=created), 303), created)


