"""Where the database is: URL normalisation, the local default, schema names.

``DATABASE_URL`` selects the database (any SQLAlchemy URL; ``postgres://`` and
``postgresql://`` mean psycopg 3). Unset, the database a host application configured
is used when a command runs through it (Flask's ``SQLALCHEMY_DATABASE_URI``), else
the project-local development database, started on demand.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError
from sqlalchemy.pool import NullPool

from seeds.dialects import dialect_class
from seeds.errors import ConfigurationError, first_line

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection

log = logging.getLogger(__name__)

# Heroku-style and bare URLs name no driver; SQLAlchemy would pick psycopg2, which
# this project does not install.
_DRIVERLESS = {"postgres", "postgresql"}
_SUPPORTED = {"postgres", "postgresql", "sqlite"}


def normalise_url(raw: str, source: str = "DATABASE_URL") -> URL:
    """Parse a database URL, mapping ``postgres://``/``postgresql://`` to psycopg 3.

    ``source`` names where the URL came from in the error message.
    """
    example = "expected e.g. postgresql://user:password@host:5432/dbname"
    try:
        url = make_url(raw.strip())
        url.port  # noqa: B018  # parsed on first use: a bad port raises here, not later
    except (ArgumentError, ValueError) as err:
        raise ConfigurationError(f"{source} is not a database URL ({err}); {example}") from err
    if url.get_backend_name() not in _SUPPORTED:
        raise ConfigurationError(
            f"{source} names a {url.get_backend_name()} database; Seedchain runs on "
            f"PostgreSQL (and SQLite); {example}"
        )
    if url.drivername in _DRIVERLESS:
        url = url.set(drivername="postgresql+psycopg")
    return url


def validate_schema(name: str) -> str:
    """Check a schema name; any text PostgreSQL accepts as a quoted identifier is fine.

    The name is always quoted by SQLAlchemy's identifier preparer, so quotes, spaces
    and semicolons are data, never SQL. What PostgreSQL itself refuses is refused here
    with a message instead of a server error.
    """
    if not name:
        raise ConfigurationError("SCHEMA is empty; unset it or name a schema")
    if "\x00" in name:
        raise ConfigurationError("SCHEMA contains a NUL character, which PostgreSQL refuses")
    if len(name.encode()) > 63:
        raise ConfigurationError(
            f"SCHEMA {name!r} is {len(name.encode())} bytes; PostgreSQL identifiers "
            "are at most 63 bytes (longer ones are silently truncated), choose a shorter name"
        )
    return name


@dataclass(frozen=True)
class Target:
    """The database a run talks to.

    Attributes:
        url: SQLAlchemy URL (driver normalised).
        schema: PostgreSQL schema for every table, the ledger and alembic_version,
            or None for the connection's default.
        local_devdb: True when this is the project-local development database.
    """

    url: URL
    schema: str | None
    local_devdb: bool

    @property
    def display(self) -> str:
        """The URL with the password hidden, for messages and logs."""
        return self.url.render_as_string(hide_password=True)


def resolve_target(
    x_args: Mapping[str, str],
    environ: Mapping[str, str],
    project_root: Path,
    *,
    start_devdb: bool = True,
    app_url: str | None = None,
) -> Target:
    """Find the database of this run: ``DATABASE_URL``, else ``app_url``, else the local one.

    Args:
        x_args: Alembic ``-x`` arguments (``schema=`` is read from them).
        environ: The process environment (``DATABASE_URL``, ``SCHEMA``).
        project_root: Folder that holds the project-local development database.
        start_devdb: Start the local database when it is the target. Offline
            (``--sql``) runs pass False: they need a dialect, not a server.
        app_url: The database the host application configured (Flask's
            ``SQLALCHEMY_DATABASE_URI``), for commands run through it.
    """
    raw_schema = x_args.get("schema") or environ.get("SCHEMA") or None
    schema = validate_schema(raw_schema) if raw_schema is not None else None
    raw_url = environ.get("DATABASE_URL", "").strip()
    if raw_url:
        return Target(normalise_url(raw_url), schema, local_devdb=False)
    if app_url and app_url.strip():
        app = normalise_url(app_url, "the app's SQLALCHEMY_DATABASE_URI")
        return Target(app, schema, local_devdb=False)
    if not start_devdb:
        return Target(make_url("postgresql+psycopg://"), schema, local_devdb=True)
    from seeds.dev.devdb import DevDB  # imported late: only the local default needs it

    url = DevDB(project_root).start()
    log.info("DATABASE_URL is unset: using the project-local database %s", url)
    return Target(make_url(url), schema, local_devdb=True)


def search_path_statement(dialect: sa.Dialect, schema: str) -> sa.Select[Any]:
    """The statement that puts ``schema`` first on the session's search path."""
    return dialect_class(dialect.name).search_path_statement(dialect, schema)


@contextlib.contextmanager
def connect(target: Target) -> Iterator[Connection]:
    """A connection to the target with its schema on the search path.

    Raises:
        ConfigurationError: the database cannot be reached (one line, what to check).
    """
    engine = sa.create_engine(target.url, poolclass=NullPool)
    try:
        try:
            conn = engine.connect()
        except sa.exc.OperationalError as err:
            raise ConfigurationError(describe_connect_error(target, err)) from err
        with conn:
            if target.schema:
                conn.execute(search_path_statement(conn.dialect, target.schema))
                conn.commit()
            yield conn
    finally:
        engine.dispose()


# Where a project keeps its Alembic config: plain Alembic at the root, Flask-Migrate
# in migrations/.
_ALEMBIC_INI = ("alembic.ini", "migrations/alembic.ini")


def find_project_root(start: Path | None = None) -> Path:
    """The project folder: the nearest folder at or above ``start`` (default: cwd)
    holding ``alembic.ini`` or ``migrations/alembic.ini`` (Flask-Migrate), raised to the
    folder of its ``pyproject.toml`` when that is above it."""
    here = (start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        if any((folder / name).is_file() for name in _ALEMBIC_INI):
            return project_root_of(folder)
    raise ConfigurationError(
        f"no alembic.ini (or migrations/alembic.ini) in {here} or any folder above it; "
        "run from the project folder"
    )


def project_root_of(config_folder: Path) -> Path:
    """The project an Alembic config folder belongs to: the nearest folder at or above
    it with a pyproject.toml (so ``migrations/alembic.ini`` and ``alembic.ini`` give
    the same project, one local database and one ``[tool.seeds]``), else the folder."""
    folder = config_folder.resolve()
    for candidate in (folder, *folder.parents):
        if (candidate / "pyproject.toml").is_file():
            return candidate
    return folder


def alembic_ini(root: Path) -> Path:
    """The project's Alembic config file."""
    for name in _ALEMBIC_INI:
        if (root / name).is_file():
            return root / name
    raise ConfigurationError(f"no alembic.ini or migrations/alembic.ini in {root}")


def describe_connect_error(target: Target, err: sa.exc.OperationalError) -> str:
    """One line naming where we tried to connect and what to check."""
    url = target.url
    host = url.query.get("host") or url.host or "the default socket"
    where = f"{host}:{url.port or 5432}" if not str(host).startswith("/") else f"socket {host}"
    first = first_line(err)
    hint = (
        "start it with `seeds devdb start`"
        if target.local_devdb
        else "check that the server is running and DATABASE_URL is right"
    )
    return f"cannot connect to database {url.database!r} at {where}: {first}; {hint}"
