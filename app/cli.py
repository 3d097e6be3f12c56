"""The `aa` command: thin wrappers over app.runtime and the services."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import click
import psycopg

from app import logs, runtime
from app.client.commands import register as register_client
from app.errors import AppError, ConfigError


class OneLineErrors(click.Group):
    """Every failure of a command is one line saying what to do, never a traceback (AA_DEBUG=1 shows it)."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except (click.ClickException, click.exceptions.Exit, click.Abort, KeyboardInterrupt):
            raise
        except AppError as exc:
            raise click.ClickException(describe_error(exc)) from None
        except Exception as exc:
            if os.environ.get("AA_DEBUG"):
                raise
            raise click.ClickException(_unexpected_text(exc)) from None


def _unexpected_text(exc: Exception) -> str:
    from sqlalchemy.exc import DBAPIError

    cause = exc.orig if isinstance(exc, DBAPIError) and exc.orig is not None else exc
    first = (str(cause).strip().splitlines() or [type(cause).__name__])[0]
    if isinstance(cause, psycopg.OperationalError):
        return (f"cannot reach the database ({first}). Is it running? The service's database is found "
                "from DATABASE_URL, else the running `aa up`, else the embedded server in AA_DATA_DIR")
    return f"{type(cause).__name__}: {first} (AA_DEBUG=1 shows the traceback)"


@click.group(cls=OneLineErrors, help="Analytics Automated: analysis programs as web services.")
@click.version_option(package_name="analytics-automated", prog_name="aa")
def main() -> None:
    logs.configure(os.environ.get("AA_LOG_FORMAT", "text").strip().lower())


@main.command()
@click.option("--config", "config_file", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="YAML configuration to load (default: the examples, if nothing is configured)")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=int)
@click.option("--workers", default=2, show_default=True, type=click.IntRange(min=0), help="worker processes")
@click.option("--concurrency", default=4, show_default=True, type=click.IntRange(min=1), help="steps per worker")
@click.option("--grace", default=30.0, show_default=True, type=click.FloatRange(min=0),
              help="seconds the running steps get to finish when stopping, before they are killed")
def up(config_file: Path | None, host: str, port: int, workers: int, concurrency: int, grace: float) -> None:
    """Everything on one machine, supervised: database, migrations, web server and workers."""
    sys.exit(runtime.up(config_file=config_file, host=host, port=port, workers=workers,
                        concurrency=concurrency, grace_seconds=grace))


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=int)
@click.option("--processes", default=2, show_default=True, type=int)
def serve(host: str, port: int, processes: int) -> None:
    """Serve the HTTP API with the production web server (waitress, see app.webserver)."""
    url = runtime.database_url()
    sys.exit(runtime.serve(url, host=host, port=port, processes=processes).wait())


@main.command()
@click.option("--queues", default="", help="comma-separated queue (backend) names; default: all")
@click.option("--concurrency", default=4, show_default=True, type=click.IntRange(min=1))
def worker(queues: str, concurrency: int) -> None:
    """Run steps from the queue until stopped (SIGTERM/Ctrl-C finish the running steps first)."""
    names = [q.strip() for q in queues.split(",") if q.strip()]
    runtime.run_worker(runtime.database_url(), queues=names, concurrency=concurrency)


@main.group()
def db() -> None:
    """Database schema."""


@db.command("upgrade")
def db_upgrade() -> None:
    """Apply every pending migration."""
    from app import migrate

    migrate.upgrade(runtime.database_url(create=False))
    click.echo("database is up to date")


@main.group()
def config() -> None:
    """Load, dump or check the YAML configuration."""


CONFIG_FILE = click.Path(exists=True, dir_okay=False, path_type=Path)


NO_VERIFY = click.option("--no-verify", is_flag=True,
                         help="do not check programs, scripts and Python functions on this machine "
                              "(for a configuration meant for other machines)")


@config.command("check")
@click.argument("file", type=CONFIG_FILE)
@NO_VERIFY
def config_check(file: Path, no_verify: bool) -> None:
    """Validate a configuration file without loading it (and check it can run here)."""
    from app.services import catalog

    _or_fail(lambda: catalog.check_file(file, verify=not no_verify))
    click.echo("configuration is valid" + (" (not checked against this machine)" if no_verify else
                                           "; its programs, scripts and Python functions are present here"))


@config.command("load")
@click.argument("file", type=CONFIG_FILE)
@NO_VERIFY
@click.option("--dry-run", is_flag=True, help="only print what loading would add, change and remove")
@click.option("--clear", is_flag=True, help="allow an empty configuration (removes every job)")
def config_load(file: Path, no_verify: bool, dry_run: bool, clear: bool) -> None:
    """Replace the configuration with FILE, atomically, as a new version (`$HERE` in it is FILE's folder)."""
    import getpass

    from app.services import catalog

    with runtime.session_scope() as session:
        loaded = _or_fail(lambda: catalog.load_file(session, file, author=f"cli:{getpass.getuser()}",
                                                    verify=not no_verify, dry_run=dry_run, clear=clear))
    for line in loaded.summary():
        click.echo(line)
    counts = (f"{len(loaded.catalog['backends'])} backends, {len(loaded.catalog['tasks'])} tasks, "
              f"{len(loaded.catalog['jobs'])} jobs")
    click.echo(f"dry run: nothing loaded ({counts} checked)" if dry_run else
               f"loaded version {loaded.version}: {counts}")


@config.command("versions")
def config_versions() -> None:
    """List every loaded configuration version, newest first."""
    from app.services import config_versions as versions

    with runtime.session_scope() as session:
        for version in versions.all_versions(session):
            click.echo(f"{version.number}\t{version.created:%Y-%m-%d %H:%M:%S%z}\t{version.author or '-'}\t"
                       f"{version.sha256[:12]}\t{', '.join(versions.describe(version.changes))}")


@config.command("diff")
@click.argument("old", type=int)
@click.argument("new", type=int)
def config_diff(old: int, new: int) -> None:
    """Show what changed between two configuration versions (a unified diff of their dumps)."""
    from app.services import config_versions as versions

    with runtime.session_scope() as session:
        click.echo(_or_fail(lambda: versions.diff(session, old, new)) or "no differences\n", nl=False)


@config.command("dump")
def config_dump() -> None:
    """Write the configuration as YAML to standard output."""
    from app.services import catalog

    with runtime.session_scope() as session:
        click.echo(catalog.dump(session), nl=False)


@main.group()
def token() -> None:
    """API tokens."""


@token.command("create")
@click.option("--admin", is_flag=True, help="may change the configuration and list every submission")
@click.option("--name", default="", help="a note on who holds it")
@click.option("--expires", "expires_days", type=click.FloatRange(min=0, min_open=True), default=None,
              help="days until it stops working (default: never)")
def token_create(admin: bool, name: str, expires_days: float | None) -> None:
    """Create a token and print it (it is stored hashed and cannot be shown again)."""
    from app.services import tokens

    with runtime.session_scope() as session:
        click.echo(_or_fail(lambda: tokens.create(session, name=name, admin=admin, expires_days=expires_days)))


@token.command("list")
def token_list() -> None:
    """Every token: id, prefix, name, admin, created, last use, expiry, revocation (never the secret)."""
    from app.services import tokens

    def when(moment) -> str:
        return moment.strftime("%Y-%m-%d %H:%M") if moment else "-"

    with runtime.session_scope() as session:
        rows = [(str(t.id), (t.prefix or "?") + "…", t.name or "-", "admin" if t.admin else "user", when(t.created),
                 when(t.last_used), when(t.expires), when(t.revoked)) for t in tokens.listing(session)]
    header = ("ID", "PREFIX", "NAME", "ROLE", "CREATED", "LAST USED", "EXPIRES", "REVOKED")
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    for row in [header, *rows]:
        click.echo("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip())


@token.command("revoke")
@click.argument("token_ref", metavar="ID_OR_PREFIX")
def token_revoke(token_ref: str) -> None:
    """Revoke a token, named by its id or prefix (as `aa token list` shows them)."""
    from app.services import tokens

    with runtime.session_scope() as session:
        revoked = _or_fail(lambda: tokens.revoke(session, token_ref.rstrip("…")))
        click.echo(f"revoked token {revoked.id} ({revoked.prefix}…{', ' + revoked.name if revoked.name else ''})")


# The client commands (submit, status, results, logs, jobs, cancel): HTTP only, see app/client.
register_client(main)


def _or_fail(action):
    try:
        return action()
    except AppError as exc:
        raise click.ClickException(describe_error(exc)) from None


def describe_error(exc: AppError) -> str:
    """An error for a terminal: each problem once, on its own line, items named as well as placed."""
    if not exc.errors or list(exc.errors) == [""]:
        return exc.message
    labels = getattr(exc, "labels", {})
    count = sum(len(messages) for messages in exc.errors.values())
    head = "Invalid configuration" if isinstance(exc, ConfigError) else exc.message
    lines = [f"{head} ({count} problem{'s' if count > 1 else ''}):"]
    lines += [f"  {labels.get(path, path)}: {message}" for path, messages in exc.errors.items() for message in messages]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
