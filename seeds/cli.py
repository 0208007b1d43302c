"""The ``seeds`` command. Human output is printed here and nowhere else.

Exit codes: 0 success, 1 a check failed or the command could not do its work,
2 bad usage (click's own code).
"""

from __future__ import annotations

import json
import logging
import os
import sys
from pathlib import Path

import click
import sqlalchemy as sa
from rich.console import Console
from rich.table import Table
from sqlalchemy.pool import NullPool

from seeds.database import Target, describe_connect_error, find_project_root, resolve_target
from seeds.errors import SeedError
from seeds.inspection import table_row_counts

console = Console()
err_console = Console(stderr=True)


class _SeedErrorsAsMessages(click.Group):
    """Turn expected errors into one red line and exit code 1, not a traceback."""

    def invoke(self, ctx: click.Context) -> object:
        try:
            return super().invoke(ctx)
        except SeedError as err:
            err_console.print(f"[red]error:[/red] {err}", highlight=False)
            sys.exit(1)


@click.group(cls=_SeedErrorsAsMessages)
@click.option("-v", "--verbose", count=True, help="Log at INFO (DEBUG with -vv).")
def main(verbose: int) -> None:
    """Seedchain: seed data in the Alembic version chain."""
    level = {0: logging.WARNING, 1: logging.INFO}.get(verbose, logging.DEBUG)
    logging.basicConfig(level=level, format="%(levelname)-5.5s [%(name)s] %(message)s")


def _project_root() -> Path:
    return find_project_root()


def _target(schema: str | None) -> Target:
    x_args = {"schema": schema} if schema else {}
    return resolve_target(x_args, os.environ, _project_root())


@main.group()
def devdb() -> None:
    """The project-local PostgreSQL + PostGIS development database."""


@devdb.command("start")
def devdb_start() -> None:
    """Start it (installing PostgreSQL/PostGIS if missing); print its URL."""
    from seeds.devdb import DevDB

    click.echo(DevDB(_project_root()).start())


@devdb.command("stop")
def devdb_stop() -> None:
    """Stop it, if it runs."""
    from seeds.devdb import DevDB

    stopped = DevDB(_project_root()).stop()
    click.echo("stopped" if stopped else "not running")


@devdb.command("status")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def devdb_status(as_json: bool) -> None:
    """Say whether it runs, where, and on which port. Exit 1 when it is not running."""
    from seeds.devdb import DevDB

    status = DevDB(_project_root()).status()
    fields = {
        "running": status.running,
        "pid": status.pid,
        "data_dir": str(status.data_dir),
        "port": status.port,
        "url": status.url,
    }
    if as_json:
        click.echo(json.dumps(fields))
    else:
        for key, value in fields.items():
            click.echo(f"{key:9} {value}")
    sys.exit(0 if status.running else 1)


@devdb.command("url")
def devdb_url() -> None:
    """Print its SQLAlchemy URL (for DATABASE_URL)."""
    from seeds.devdb import DevDB

    click.echo(DevDB(_project_root()).url())


@main.command()
@click.option("--schema", envvar="SCHEMA", default=None, help="PostgreSQL schema to count.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def summary(schema: str | None, as_json: bool) -> None:
    """Rows per table and the Alembic revision of the database."""
    target = _target(schema)
    engine = sa.create_engine(target.url, poolclass=NullPool)
    try:
        with engine.connect() as conn:
            revision, counts = table_row_counts(conn, target.schema)
    except sa.exc.OperationalError as err:
        raise SeedError(describe_connect_error(target, err)) from err
    finally:
        engine.dispose()
    if as_json:
        click.echo(json.dumps({"database": target.display, "revision": revision, "tables": counts}))
        return
    table = Table(title=f"{target.display} at revision {revision or '(none)'}")
    table.add_column("table")
    table.add_column("rows", justify="right")
    for name, count in counts.items():
        table.add_row(name, f"{count:,}")
    console.print(table)
