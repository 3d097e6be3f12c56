"""`aa submit`, `status`, `results`, `logs`, `jobs` and `cancel`: the service's API from a terminal.

Exit status: 0 the submission is Complete (or was accepted, without --wait), 1 the request failed,
2 the command was wrong, 3 Error, 4 Crash, 5 Cancelled, 6 not finished yet.
"""

from __future__ import annotations

import functools
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.table import Table

from app.client import progress
from app.client.http import ClientError, Service

EXIT = {"Complete": 0, "Error": 3, "Crash": 4, "Cancelled": 5}
NOT_FINISHED = 6


def client_command(function: Callable) -> Callable:
    """--url, --token and --json for a client command; a failed request is one line and exit 1."""

    @click.option("--url", envvar="AA_URL", help="the service (default: AA_URL, else http://127.0.0.1:8000)")
    @click.option("--token", envvar="AA_TOKEN", help="API token (default: AA_TOKEN)")
    @click.option("--json", "as_json", is_flag=True, help="print JSON for scripts")
    @functools.wraps(function)
    def wrapper(url: str | None, token: str | None, as_json: bool, **kwargs: Any) -> None:
        try:
            code = function(Service(url, token), as_json, **kwargs)
        except ClientError as exc:
            raise click.ClickException(str(exc)) from None
        sys.exit(code or 0)

    return wrapper


def _params(values: tuple[str, ...]) -> dict[str, str]:
    params = {}
    for value in values:
        key, sep, rest = value.partition("=")
        if not sep or not key:
            raise click.BadParameter(f"{value!r} is not ALIAS=VALUE", param_hint="--param")
        params[key] = rest
    return params


@click.command()
@click.argument("job")
@click.option("--file", "files", multiple=True, metavar="NAME=PATH",
              help="an input file (PATH alone: the job's first input); repeatable")
@click.option("--param", "params", multiple=True, metavar="ALIAS=VALUE", help="a parameter by its alias; repeatable")
@click.option("--wait", is_flag=True, help="follow the submission until it ends; exit status by how it ended")
@client_command
def submit(service: Service, as_json: bool, job: str, files: tuple[str, ...], params: tuple[str, ...],
           wait: bool) -> int:
    """Submit JOB with input files and parameters."""
    inputs = {}
    for value in files:
        name, sep, path = value.partition("=")
        if not sep:  # a bare path: the job's first input
            declared = service.job(job)["inputs"]
            if not declared:
                raise click.BadParameter(f"job {job} takes no input files", param_hint="--file")
            name, path = declared[0]["name"], value
        file = Path(path)
        if not file.is_file():
            raise click.BadParameter(f"{path}: no such file", param_hint="--file")
        inputs[name] = file
    created = service.submit(job, files=inputs, params=_params(params))
    if not wait:
        _say(as_json, created, f"submitted {created['id']} ({created['state']}): "
                               f"{service.url}/submissions/{created['id']}")
        return 0
    if as_json:
        final = created
        while final["state"] not in progress.FINISHED:
            final = service.status(final["id"], wait=30)
    else:
        click.echo(f"submitted {created['id']}: {service.url}/submissions/{created['id']}", err=True)
        final = progress.follow(service, created, console=Console(stderr=True, highlight=False))
    return _report(as_json, final)


@click.command()
@click.argument("submission_id", metavar="ID")
@client_command
def status(service: Service, as_json: bool, submission_id: str) -> int:
    """A submission's state, steps and results."""
    return _report(as_json, service.status(submission_id))


@click.command()
@click.argument("submission_id", metavar="ID")
@click.option("--out", "out", type=click.Path(file_okay=False, path_type=Path), default=Path("."),
              show_default=True, help="folder to write the results into (made if needed)")
@client_command
def results(service: Service, as_json: bool, submission_id: str, out: Path) -> int:
    """Download every result of a submission into a folder."""
    current = service.status(submission_id)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for result in current["results"]:
        target = out / _file_name(result, {p.name for p in written})
        service.download(result["url"], target)
        written.append(target)
    if as_json:
        click.echo(json.dumps([{"id": r["id"], "step": r["step"], "path": str(p)}
                               for r, p in zip(current["results"], written, strict=True)], indent=2))
    else:
        for path in written:
            click.echo(str(path))
        if current["state"] not in progress.FINISHED:
            click.echo(f"the submission is still {current['state']}: more results may come", err=True)
    return 0


def _file_name(result: dict[str, Any], taken: set[str]) -> str:
    """The result's own name, never a path; prefixed by its id if two results share it."""
    name = Path(result["name"]).name
    if name in ("", ".", ".."):
        name = f"result-{result['id']}"
    return f"{result['id']}-{name}" if name in taken else name


@click.command()
@click.argument("submission_id", metavar="ID")
@click.argument("step")
@click.option("--attempt", type=click.IntRange(min=1), help="an earlier attempt (default: the last)")
@client_command
def logs(service: Service, as_json: bool, submission_id: str, step: str, attempt: int | None) -> int:
    """A step's captured output: its stdout on stdout, its stderr on stderr."""
    log = service.log(submission_id, step, attempt=attempt)
    if as_json:
        click.echo(json.dumps(log, indent=2))
    else:
        click.echo(log["stdout"], nl=False)
        click.echo(log["stderr"], nl=False, err=True)
    return 0


@click.command()
@client_command
def jobs(service: Service, as_json: bool) -> int:
    """The jobs this service runs."""
    found = service.jobs()
    if as_json:
        click.echo(json.dumps(found, indent=2))
        return 0
    table = Table("job", "description", "inputs", "parameters", "typical run")
    for job in found:
        typical = job.get("typical_run_seconds")
        table.add_row(job["name"], job["description"], ", ".join(i["name"] for i in job["inputs"]),
                      ", ".join(p["alias"] for p in job["parameters"]),
                      f"{typical:.1f} s" if typical is not None else "")
    Console(highlight=False).print(table)
    return 0


@click.command()
@click.argument("submission_id", metavar="ID")
@client_command
def cancel(service: Service, as_json: bool, submission_id: str) -> int:
    """Cancel a submission: queued steps never start, running ones are stopped."""
    answer = service.cancel(submission_id)
    _say(as_json, answer, f"{answer['id']}: {answer['state']}")
    return 0


def _report(as_json: bool, current: dict[str, Any]) -> int:
    """Print a submission's status; the exit status for how it ended."""
    if as_json:
        click.echo(json.dumps(current, indent=2))
    else:
        table = Table("step", "state", "attempts", "message", title=f"{current['job']} {current['id']}")
        for step in current["steps"]:
            table.add_row(step["name"], step["state"], str(step["attempts"]), step["message"])
        console = Console(highlight=False)
        console.print(table)
        console.print(f"{current['state']}: {current['message']}" if current["message"] else current["state"])
        for result in current["results"]:
            console.print(f"  {result['name']}  ({result['size']} bytes, step {result['step']})")
    return EXIT.get(current["state"], NOT_FINISHED)


def _say(as_json: bool, body: dict[str, Any], line: str) -> None:
    click.echo(json.dumps(body, indent=2) if as_json else line)


def register(group: click.Group) -> None:
    """Add the client's commands to the `aa` group."""
    for command in (submit, status, results, logs, jobs, cancel):
        group.add_command(command)
