"""Optional Flask integration: ``flask seed all | undo | status`` on the same chain.

Install the extra (``pip install seedchain[flask]``) and register the group::

    from seeds.integrations.flask import seed_cli

    app.cli.add_command(seed_cli())

- ``flask seed all``: ``alembic upgrade head`` (schema and the environment's seeds).
- ``flask seed undo``: downgrade to just below the newest applied seed revision,
  removing exactly its rows. It refuses when that would also take back schema
  revisions above the seed, unless ``--with-schema``.
- ``flask seed status``: the table of ``seeds status``.

The database is ``DATABASE_URL``, else the app's ``SQLALCHEMY_DATABASE_URI``, else the
project-local one. The environment is ``-x env``, else ``APP_ENV``, else ``SEEDS_ENV``
in the app config, else development on the project-local database. The app's values
are handed to the in-process Alembic run; the process environment is left alone.
"""

from __future__ import annotations

from collections.abc import Callable

import click
import sqlalchemy as sa
from alembic import command
from alembic.script import ScriptDirectory
from alembic.util import CommandError
from flask import current_app
from flask.cli import AppGroup

from seeds.errors import ConfigurationError, SeedError
from seeds.integrations import render
from seeds.runtime.database import connect
from seeds.runtime.project import AppConfig, alembic_config, parse_x_pairs, target_for
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
