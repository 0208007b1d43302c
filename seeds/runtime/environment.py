"""Which environment a migration run belongs to, and how that is decided.

Resolution order: ``-x env=NAME``, else ``APP_ENV``, else ``development``
but only for the project-local development database. A database named by
``DATABASE_URL`` with no environment declared fails closed, before any revision runs,
so a deploy pipeline that forgot to say "production" never gets development data.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping

from seeds.errors import EnvironmentNotDeclared, UnknownEnvironment


class Environment(enum.StrEnum):
    """The four environments a database can belong to."""

    PRODUCTION = "production"
    STAGING = "staging"
    DEVELOPMENT = "development"
    TESTING = "testing"

    @classmethod
    def parse(cls, name: str, source: str) -> Environment:
        """Return the environment called ``name``; ``source`` is named in the error."""
        try:
            return cls(name.strip().lower())
        except ValueError:
            raise UnknownEnvironment(name, source, tuple(e.value for e in cls)) from None


def resolve_environment(
    x_args: Mapping[str, str], environ: Mapping[str, str], *, local_devdb: bool
) -> Environment:
    """Decide the environment of this run.

    Args:
        x_args: Alembic ``-x`` arguments as a dictionary.
        environ: The process environment (``APP_ENV`` is read from it).
        local_devdb: True when the run targets the project-local development
            database, the only case where an undeclared environment is allowed.

    Raises:
        UnknownEnvironment: a name that is not one of :class:`Environment`.
        EnvironmentNotDeclared: ``DATABASE_URL`` named a database and nothing
            declared its environment.
    """
    if x_args.get("env"):
        return Environment.parse(x_args["env"], "-x env")
    if environ.get("APP_ENV"):
        return Environment.parse(environ["APP_ENV"], "APP_ENV")
    if local_devdb:
        return Environment.DEVELOPMENT
    names = "|".join(e.value for e in Environment)
    raise EnvironmentNotDeclared(
        "DATABASE_URL is set but no environment is declared: "
        f"pass -x env={names} or set APP_ENV; nothing was run"
    )
