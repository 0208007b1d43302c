"""The project a command runs in: its folder, its Alembic config, its database.

Shared by the ``seeds`` command and the Flask group, so both find the project,
read ``-x`` pairs and pick the database exactly as ``alembic`` does.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from alembic.config import Config

from seeds.errors import ConfigurationError, EnvironmentNotDeclared
from seeds.runtime.database import Target, alembic_ini, find_project_root, resolve_target
from seeds.runtime.environment import Environment, resolve_environment

APP_CONFIG = "seeds.app_config"
"""Key of :class:`AppConfig` in Alembic's ``config.attributes``, read by env.py."""


@dataclass(frozen=True)
class AppConfig:
    """What a host application configured, for commands run through it (``flask seed``).

    Each value only fills a gap: ``DATABASE_URL`` wins over ``database_url``, and
    ``-x env`` and ``APP_ENV`` win over ``environment``.

    Attributes:
        database_url: The app's database (Flask's ``SQLALCHEMY_DATABASE_URI``).
        environment: The app's environment name (``SEEDS_ENV`` in the Flask config).
    """

    database_url: str | None = None
    environment: str | None = None


def resolve_run(
    x_args: Mapping[str, str],
    environ: Mapping[str, str],
    root: Path,
    *,
    offline: bool,
    app: AppConfig | None = None,
) -> tuple[Target, Environment]:
    """The database and environment of one Alembic run.

    The database: ``DATABASE_URL``, else the app's, else the project-local one. The
    environment: ``-x env``, ``APP_ENV``, the app's, else development for the
    project-local database only.

    Raises:
        ConfigurationError: an unusable URL, schema or environment name, or a database
            named by URL with no environment declared.
    """
    app = app or AppConfig()
    target = resolve_target(
        x_args, environ, root, start_devdb=not offline, app_url=app.database_url
    )
    declared = x_args.get("env") or environ.get("APP_ENV")
    if app.environment and not declared:
        return target, Environment.parse(app.environment, "SEEDS_ENV in the app config")
    from_app = not environ.get("DATABASE_URL", "").strip() and not target.local_devdb
    if from_app and not declared:
        names = "|".join(e.value for e in Environment)
        raise EnvironmentNotDeclared(
            "the app's SQLALCHEMY_DATABASE_URI names the database but no environment is "
            f"declared: set SEEDS_ENV in the app config or APP_ENV, or pass -x env={names}; "
            "nothing was run"
        )
    return target, resolve_environment(x_args, environ, local_devdb=target.local_devdb)


def project_root() -> Path:
    """The project folder (see :func:`seeds.runtime.database.find_project_root`)."""
    return find_project_root()


def target_for(schema: str | None, app: AppConfig | None = None) -> Target:
    """The database of this command (DATABASE_URL, else the app's, else the local one)."""
    x_args = {"schema": schema} if schema else {}
    app_url = app.database_url if app else None
    return resolve_target(x_args, os.environ, project_root(), app_url=app_url)


def parse_x_pairs(pairs: tuple[str, ...]) -> dict[str, str]:
    """``("env=production", ...)`` as a dictionary, like ``alembic -x``."""
    parsed = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise ConfigurationError(f"-x {pair!r} is not KEY=VALUE; e.g. -x env=production")
        parsed[key.strip()] = value.strip()
    return parsed


def alembic_config(x_args: dict[str, str], app: AppConfig | None = None) -> Config:
    """The project's Alembic config, carrying ``x_args`` as if given with ``-x``.

    ``app`` travels in ``config.attributes`` to env.py, which runs in this process.
    """
    config = load_alembic_config(alembic_ini(project_root()))
    config.cmd_opts = argparse.Namespace(x=[f"{k}={v}" for k, v in x_args.items()])
    if app is not None:
        config.attributes[APP_CONFIG] = app
    return config


def load_alembic_config(ini: Path) -> Config:
    """The Alembic config in ``ini``, its revisions beside it when it names none.

    Flask-Migrate's ``migrations/alembic.ini`` has no ``script_location``: Flask-Migrate
    sets it to the folder of the file at run time, and so does this.
    """
    config = Config(str(ini))
    if not config.get_main_option("script_location"):
        config.set_main_option("script_location", str(ini.parent))
    return config
