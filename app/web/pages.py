"""The jobs, a job's form, this browser's submissions and its token."""

from __future__ import annotations

from flask import redirect, render_template, request, url_for
from werkzeug.wrappers import Response

from app import database
from app.api.common import client_address, settings
from app.errors import AppError, NotFound, Unauthorized
from app.queue import intake
from app.services import catalog, jobinfo, listing, rerun, submissions, tokens
from app.web import access, blp, dag, forms


@blp.get("/")
def index() -> str:
    """The runnable jobs, searchable by name and description (the search works without JavaScript)."""
    session = database.session()
    query = request.args.get("q", "").strip()
    jobs = jobinfo.describe_many(session, catalog.list_jobs(session))
    shown = [j for j in jobs if query.lower() in f"{j['name']} {j['description']}".lower()]
    return render_template("web/index.html", jobs=shown, total=len(jobs), query=query)


@blp.get("/jobs/<name>")
def job_form(name: str) -> str:
    """The job's form; `?from=<submission>` fills it with that submission's parameters and inputs."""
    job = _job(name)
    source = request.args.get("from")
    earlier = rerun.earlier(database.session(), access.readable(source), with_files=False) if source else None
    return _form(job, values=earlier.params if earlier else {}, source=source)


@blp.post("/jobs/<name>")
def job_submit(name: str) -> Response | tuple[str, int]:
    """Submit the form: a redirect to the new submission's page, or the form again with its errors."""
    job = _job(name)
    session = database.session()
    params, inputs = forms.read(job, request.form, request.files)
    source = request.form.get("from") or None
    try:
        if source:  # "run again": inputs not chosen anew are the earlier submission's
            inputs = {**rerun.earlier(session, access.readable(source)).inputs, **inputs}
        created = submit(job["name"], params, inputs, name=request.form.get("name", ""),
                         priority=request.form.get("priority") or "normal", use_cache="cache" in request.form,
                         email=request.form.get("email") or None)
    except AppError as exc:
        session.rollback()
        return _form(job, values={**request.form.to_dict(), **params}, source=source, error=exc), exc.status
    return access.remember(redirect(url_for("web.submission_page", submission_id=created), 303), created)


def submit(job: str, params: dict, inputs: dict, *, name: str = "", priority: str = "normal",
           use_cache: bool = True, email: str | None = None):
    """Submit as the API does (the same token rule and service: quota, notifications); the new submission's id."""
    session = database.session()
    token = access.token()
    if settings().require_api_key and token is None:
        raise Unauthorized("Submitting needs an API token: give yours on the token page.")
    client = f"token:{token.id}" if token else client_address()
    created = submissions.accept(session, submit=intake.submit, job=job, params=params, inputs=inputs, name=name,
                                 priority=priority, use_cache=use_cache, email=email, client=client,
                                 token_id=token.id if token else None, settings=settings())
    session.commit()
    return created.id


def _job(name: str) -> dict:
    session = database.session()
    found = catalog.get_job(session, name)
    if found is None or not found.runnable:
        raise NotFound(f"There is no job named {name!r}.")
    return jobinfo.describe_many(session, [found], with_dag=True)[0]


def _form(job: dict, *, values: dict, source: str | None, error: AppError | None = None) -> str:
    picture = dag.layout([(s["name"], s["after"], "Pending", f"task {s['task']}") for s in job["steps"]])
    shown = forms.fields(job, values)
    if settings().smtp_url:  # asked only where the service can send it
        shown.append(forms.email_field(values.get("email")))
    return render_template(
        "web/job.html", job=job, fields=shown, source=source, error=error, picture=picture,
        errors=error.errors if error else {}, values=values,
        token_needed=settings().require_api_key and access.token() is None,
    )


@blp.get("/submissions")
def mine() -> str:
    """The submissions made from this browser, and with its token, newest first."""
    token = access.token()
    found = listing.mine(database.session(), ids=access.remembered(), token_id=token.id if token else None)
    return render_template("web/mine.html", submissions=found, token=token)


@blp.route("/token", methods=["GET", "POST"])
def token_page() -> Response | tuple[str, int] | str:
    """Give this browser a token (kept in a cookie), or forget it."""
    if request.method == "GET":
        return render_template("web/token.html", token=access.token(), error="")
    value = request.form.get("token", "").strip()
    if value and tokens.find(database.session(), value) is None:
        return render_template("web/token.html", token=None, error="That token is not known here."), 400
    target = request.form.get("next") or url_for("web.index")
    if not target.startswith("/") or target.startswith("//"):
        target = url_for("web.index")
    return access.keep_token(redirect(target, 303), value)
