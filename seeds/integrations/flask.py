"""Optional Flask integration: ``flask seed all | undo | status`` on the same chain.

Install the extra (``pip install seedchain[flask]``) and register the group::

    from seeds.integrations.flask import seed_cli

    app.cli.add_command(seed_cli())

- ``flask seed all``: ``alembic upgrade head`` (schema and the environment's seeds).
- ``flask seed undo``: downgrade to just below the newest applied seed revision,
  removing exactly its rows. It refuses when that would also take back schema
  revisions above the seed, unless ``--with-schema``.
- ``flask seed status``: the table of ``seeds status``.

Flask-Migrate's own ``migrations/env.py`` calls :func:`run_migrations` from here (``seeds
init`` wires it in), so ``flask db upgrade`` and ``flask seed all`` run the same way.

The database is ``DATABASE_URL``, else the app's ``SQLALCHEMY_DATABASE_URI``, else the
project-local one. The environment is ``-x env``, else ``APP_ENV``, else ``SEEDS_ENV``
in the app config, else development on the project-local database. The app's values
are handed to the in-process Alembic run; the process environment is left alone.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterator
from typing import Any

import click
import sqlalchemy as sa
from alembic import command, context
from alembic.script import ScriptDirectory
from alembic.util import CommandError
from flask import current_app
from flask.cli import AppGroup

from seeds.errors import ConfigurationError, SeedError
from seeds.integrations import render
from seeds.runtime import env
from seeds.runtime.database import connect
from seeds.runtime.project import (
    APP_CONFIG,
    AppConfig,
    alembic_config,
    parse_x_pairs,
    target_for,
)
from seeds.runtime.run import RunResult
from seeds.tools.status import collect, current_heads, seed_revisions


def _app_config() -> AppConfig:
    config = current_app.config
    url, environment = config.get("SQLALCHEMY_DATABASE_URI"), config.get("SEEDS_ENV")
    if isinstance(url, sa.URL):  # str() of a URL object would mask the password
        url = url.render_as_string(hide_password=False)
    return AppConfig(
        database_url=str(url) if url else None,
        environment=str(environment) if environment else None,
    )


def run_migrations(target_metadata: sa.MetaData | None = None, **configure_args: Any) -> RunResult:
    """:func:`seeds.run_migrations` for a Flask app's ``migrations/env.py``.

    The same run, with the app's ``SQLALCHEMY_DATABASE_URI`` and ``SEEDS_ENV`` filling
    the gaps ``DATABASE_URL`` and ``APP_ENV`` leave, as for ``flask seed``. Call it
    inside the app context Flask-Migrate's ``flask db`` provides.
    """
    context.config.attributes.setdefault(APP_CONFIG, _app_config())
    return env.run_migrations(target_metadata, **configure_args)


@contextlib.contextmanager
def loaded_app() -> Iterator[AppConfig]:
    """The project's Flask app, loaded as ``flask`` loads it (``FLASK_APP``, else
    ``app.py`` or ``wsgi.py``), inside its app context; yields what it configured.

    ``seeds`` uses it in a Flask-Migrate project: that env.py reads ``current_app``,
    and the app names the database, as under ``flask db``.
    """
    from flask.cli import NoAppException, ScriptInfo, load_dotenv

    load_dotenv()  # .flaskenv and .env, as `flask` reads them (when python-dotenv is there)
    try:
        app = ScriptInfo(app_import_path=os.environ.get("FLASK_APP")).load_app()
    except NoAppException as err:
        first = str(err).strip().splitlines()[0]
        raise ConfigurationError(
            f"this project's env.py is Flask-Migrate's and needs the Flask app, which "
            f"could not be loaded ({first}); set FLASK_APP as for `flask db`"
        ) from err
    with app.app_context():
        yield _app_config()


def _run(action: Callable[[], None]) -> None:
    try:
        action()
    except (SeedError, CommandError) as err:
        # Alembic wraps env.py's refusals in CommandError; either is one line, as in `seeds`.
        raise click.ClickException(str(err)) from err


def seed_cli(name: str = "seed") -> AppGroup:
    """A Flask CLI group mapping ``seed all|undo|status`` onto the Alembic chain.

    The project folder (with alembic.ini) is found from the working folder, as for
    ``alembic`` and ``seeds``.

    Args:
        name: The group's name under ``flask``.
    """
    group = AppGroup(name, help="Seed data in the Alembic chain (Seedchain).")

    x_option = click.option("-x", "x_pairs", multiple=True, metavar="KEY=VALUE")

    @group.command("all")
    @x_option
    def seed_all(x_pairs: tuple[str, ...]) -> None:
        """Upgrade to head: schema and this environment's seeds."""
        app = _app_config()
        _run(lambda: command.upgrade(alembic_config(parse_x_pairs(x_pairs), app), "head"))

    @group.command("undo")
    @x_option
    @click.option("--with-schema", is_flag=True, help="Also take back schema revisions above it.")
    def seed_undo(x_pairs: tuple[str, ...], with_schema: bool) -> None:
        """Undo the newest applied seed revision (exactly its rows)."""
        app = _app_config()

        def undo() -> None:
            config = alembic_config(parse_x_pairs(x_pairs), app)
            script = ScriptDirectory.from_config(config)
            target = target_for(None, app)
            with connect(target) as conn:
                applied = [s for s in collect(conn, script, target.schema) if s.state == "applied"]
                heads = current_heads(conn, target.schema)
            if not applied:
                click.echo("no applied seed revision to undo")
                return
            newest = applied[-1].revision
            seeds = {rev.revision for rev, _ in seed_revisions(script)}
            above = [
                rev.revision
                for rev in script.iterate_revisions(heads, newest)
                if rev.revision != newest and rev.revision not in seeds
            ]
            if above and not with_schema:
                raise ConfigurationError(
                    f"undoing seed {newest} would also take back schema revisions "
                    f"{', '.join(above)}; pass --with-schema to do that"
                )
            down = script.get_revision(newest).down_revision
            command.downgrade(config, "base" if down is None else str(down))
            click.echo(f"undid seed {newest}")

        _run(undo)

    @group.command("status")
    def seed_status() -> None:
        """Where every seed revision stands."""
        app = _app_config()

        def show() -> None:
            target = target_for(None, app)
            script = ScriptDirectory.from_config(alembic_config({}))
            with connect(target) as conn:
                render.status(collect(conn, script, target.schema))

        _run(show)

    return group
