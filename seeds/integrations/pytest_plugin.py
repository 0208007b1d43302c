"""pytest fixtures: a migrated, seeded database per session, a rolled-back transaction per test.

Installed with seedchain (entry point ``pytest11``: ``seeds``), so every pytest run
loads it; it does nothing until a test asks for one of its fixtures. Then, once per
session, it runs ``alembic -x env=testing upgrade head`` in-process against the test
database, and gives each test a connection (``seed_connection``) or an ORM session
(``seed_session``) inside a transaction that is rolled back after the test::

    import sqlalchemy as sa

    def test_admin_exists(seed_session):
        assert seed_session.scalar(sa.text("SELECT count(*) FROM users")) == 1

Which database (first that applies):

- ``--seed-db-url URL``;
- the environment variable ``SEEDS_TEST_DATABASE_URL``;
- a new database in the project-local development cluster (``seeds devdb``), created
  for the session and dropped at its end.

A database given by URL is migrated where it is and never dropped; it should be empty
or a database of earlier test runs.

Options: ``--seed-env`` (default ``testing``), ``--seed-revision`` (default ``head``),
and the ini option ``seeds_x_args`` for Alembic ``-x`` pairs (``seeds_x_args = seed=1
users=5`` in pytest.ini, a list under ``[tool.pytest.ini_options]``, or ``-o
seeds_x_args="seed=1"`` for one run). Each fixture can be overridden in a
``conftest.py``; its docstring shows how.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
import sqlalchemy as sa
from alembic.util import CommandError
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool

# SeedDatabaseError is also importable from here, where the plugin's users met it first.
from seeds.errors import ConfigurationError, SeedError
from seeds.errors import SeedDatabaseError as SeedDatabaseError
from seeds.runtime.database import (
    alembic_ini,
    find_project_root,
    normalise_url,
    search_path_statement,
    validate_schema,
)
from seeds.runtime.environment import Environment

# Loaded by every pytest run of anyone who installs seedchain: what only a fixture
# needs (alembic.command through alembic.config, the ORM, devdb) is imported there.
if TYPE_CHECKING:
    from alembic.config import Config
    from sqlalchemy.orm import Session

log = logging.getLogger(__name__)

URL_ENV_VAR = "SEEDS_TEST_DATABASE_URL"
DEFAULT_ENVIRONMENT = "testing"
DEFAULT_REVISION = "head"
# Databases the plugin creates in the development cluster start with this, so a
# leftover of a killed run is recognisable (and safe to drop).
DATABASE_PREFIX = "seeds_test_"


# -- options ------------------------------------------------------------------------


def pytest_addoption(parser: pytest.Parser) -> None:
    """Register ``--seed-db-url``, ``--seed-env``, ``--seed-revision`` and ``seeds_x_args``."""
    group = parser.getgroup("seeds", "seedchain: a migrated, seeded test database")
    group.addoption(
        "--seed-db-url",
        dest="seed_db_url",
        default=None,
        metavar="URL",
        help=f"database the seed_* fixtures migrate and use (else ${URL_ENV_VAR}, else a "
        "new database in the project-local cluster, dropped at the end)",
    )
    group.addoption(
        "--seed-env",
        dest="seed_env",
        default=None,
        metavar="NAME",
        help=f"environment of the seeds run for the tests (default: {DEFAULT_ENVIRONMENT})",
    )
    group.addoption(
        "--seed-revision",
        dest="seed_revision",
        default=None,
        metavar="REV",
        help=f"revision the test database is upgraded to (default: {DEFAULT_REVISION})",
    )
    parser.addini(
        "seeds_x_args",
        type="args",
        default=[],
        help="alembic -x KEY=VALUE pairs for the test database's upgrade, e.g. seed=1 users=5",
    )


def _x_pairs(config: pytest.Config) -> dict[str, str]:
    from seeds.runtime.project import parse_x_pairs

    raw: list[str] = config.getini("seeds_x_args")
    try:
        return parse_x_pairs(tuple(raw))
    except ConfigurationError as err:
        raise ConfigurationError(f"ini option seeds_x_args: {err}") from err


def _environment(config: pytest.Config, x_args: dict[str, str]) -> str:
    option: str | None = config.getoption("seed_env")
    if option:
        return Environment.parse(option, "--seed-env").value
    if x_args.get("env"):
        return Environment.parse(x_args["env"], "seeds_x_args env=").value
    return DEFAULT_ENVIRONMENT


def _revision(config: pytest.Config) -> str:
    option: str | None = config.getoption("seed_revision")
    return option or DEFAULT_REVISION


def _database_url_option(config: pytest.Config) -> str | None:
    option: str | None = config.getoption("seed_db_url")
    raw = option or os.environ.get(URL_ENV_VAR, "")
    return raw.strip() or None


def _project_root(config: pytest.Config) -> Path:
    starts = [config.rootpath, config.invocation_params.dir]
    for start in starts:
        with contextlib.suppress(ConfigurationError):
            return find_project_root(start)
    where = " or ".join(dict.fromkeys(str(s) for s in starts))
    raise ConfigurationError(
        f"no alembic.ini in {where} or any folder above; run pytest from the "
        "project, or override the seed_config fixture (see its docstring)"
    )


def _config_x_args(config: Config) -> dict[str, str]:
    from seeds.runtime.project import parse_x_pairs

    pairs = getattr(config.cmd_opts, "x", None) or []
    return parse_x_pairs(tuple(pairs))


# -- running Alembic ----------------------------------------------------------------


def upgrade_database(config: Config, url: str, revision: str = DEFAULT_REVISION) -> None:
    """Run ``alembic upgrade <revision>`` in-process against ``url``, as the CLI would.

    The project's env.py reads ``DATABASE_URL``; it is set for the duration of the
    upgrade only. The environment comes from ``config``'s ``-x env=`` (see
    :func:`seed_config`). Use it in an overridden :func:`seed_database_url`.

    Args:
        config: The project's Alembic config (``cmd_opts.x`` carries the ``-x`` pairs).
        url: The database to migrate.
        revision: The target revision.

    Raises:
        SeedDatabaseError: the upgrade failed; the message holds Alembic's (for a seed:
            the revision, table, row and column, and what to fix).
    """
    from alembic import command

    # pytest owns logging; env.py must not reconfigure it from alembic.ini.
    config.attributes.setdefault("configure_logger", False)
    shown = make_url(url).render_as_string(hide_password=True)
    x_opts = [f"-x {k}={v}" for k, v in _config_x_args(config).items()]
    command_line = " ".join(["alembic", *x_opts, "upgrade", revision])
    log.info("%s on %s", command_line, shown)
    try:
        with pytest.MonkeyPatch.context() as patch:
            patch.setenv("DATABASE_URL", url)
            command.upgrade(config, revision)
    except Exception as err:
        # Every failure, Alembic's own or a revision's, must reach the tests that need
        # this database as one readable reason; the original stays chained.
        reason = str(err) if isinstance(err, SeedError | CommandError) else repr(err)
        msg = f"{command_line} failed on {shown}: {reason}"
        raise SeedDatabaseError(msg, revision=revision, database=shown) from err


@contextlib.contextmanager
def _failing_cleanly(fixture: str) -> Iterator[None]:
    """Report Seedchain's own errors as one line each, as the ``alembic`` CLI does.

    They already say what went wrong and what to fix; a traceback through Alembic,
    repeated for every test that uses the fixture, would bury that. Anything else (a
    bug in a revision, say) keeps its traceback.
    """
    try:
        yield
    except SeedError as err:
        if isinstance(err, SeedDatabaseError) and not isinstance(
            err.__cause__, SeedError | CommandError
        ):
            raise
        # from None: the chain would repeat the same message once per wrapper.
        raise pytest.fail.Exception(f"{fixture}: {err}", pytrace=False) from None


@contextlib.contextmanager
def _session_database(url: str | None, project_root: Path) -> Iterator[str]:
    """The given URL, or a new database in the project-local cluster, dropped after."""
    if url is not None:
        yield normalise_url(url).render_as_string(hide_password=False)
        return
    from seeds.dev.devdb import DevDB  # imported late, as in seeds.runtime.database

    devdb = DevDB(project_root)
    devdb.start()
    name = f"{DATABASE_PREFIX}{uuid.uuid4().hex[:12]}"
    devdb.create_database(name)
    log.info("created test database %s in the project-local cluster", name)
    try:
        # Like the cluster's application database, so migrations that expect PostGIS
        # to be there behave the same in tests.
        devdb.install_postgis(name)
        yield devdb.url(name)
    finally:
        devdb.drop_database(name)
        log.info("dropped test database %s", name)


# -- fixtures -----------------------------------------------------------------------


@pytest.fixture(scope="session")
def seed_config(request: pytest.FixtureRequest) -> Config:
    """The project's Alembic config for the test database's upgrade.

    The project is the nearest folder holding ``alembic.ini`` at or above pytest's
    rootdir, else the working folder. The config carries ``-x env=`` (``--seed-env``,
    default ``testing``) and the ``seeds_x_args`` ini pairs in ``cmd_opts.x``, and
    ``attributes["configure_logger"] = False`` so env.py leaves pytest's logging alone.

    Override it in a ``conftest.py`` to add ``-x`` pairs, or to use another ini file:

    Examples:
        >>> @pytest.fixture(scope="session")
        ... def seed_config(seed_config):
        ...     seed_config.cmd_opts.x.append("users=5")
        ...     return seed_config

        >>> @pytest.fixture(scope="session")
        ... def seed_config():
        ...     config = alembic.config.Config("db/alembic.ini")
        ...     config.cmd_opts = argparse.Namespace(x=["env=testing", "seed=1"])
        ...     config.attributes["configure_logger"] = False
        ...     return config

    When no ``alembic.ini`` is found, an ``-x`` pair is not ``KEY=VALUE`` or the
    environment is not one of the four, every test that needs it errors with one line
    saying so.
    """
    from seeds.runtime.project import load_alembic_config

    with _failing_cleanly("seed_config"):
        x_args = _x_pairs(request.config)
        environment = _environment(request.config, x_args)
        root = _project_root(request.config)
    x_args = {"env": environment, **{k: v for k, v in x_args.items() if k != "env"}}
    config = load_alembic_config(alembic_ini(root))
    config.cmd_opts = argparse.Namespace(x=[f"{k}={v}" for k, v in x_args.items()])
    config.attributes["configure_logger"] = False
    return config


@pytest.fixture(scope="session")
def seed_database_url(request: pytest.FixtureRequest, seed_config: Config) -> Iterator[str]:
    """URL of the test database, migrated and seeded once per session.

    The database is ``--seed-db-url``, else ``$SEEDS_TEST_DATABASE_URL``, else a new
    database in the project-local development cluster (dropped at the end of the
    session). It is upgraded to ``--seed-revision`` (default ``head``) in-process with
    :func:`upgrade_database` and :func:`seed_config`. A failed upgrade errors every
    test that uses the database, with Alembic's one-line message (a revision's own
    bug: its traceback); nothing is skipped, and the upgrade is not retried.

    Override it to bring your own database (a container, say), reusing the upgrade:

    Examples:
        >>> @pytest.fixture(scope="session")
        ... def seed_database_url(seed_config, postgresql_container):
        ...     url = postgresql_container.get_connection_url()
        ...     seeds.integrations.pytest_plugin.upgrade_database(seed_config, url)
        ...     return url
    """
    with _failing_cleanly("seed_database_url"):
        config_file = seed_config.config_file_name
        root = Path(config_file).resolve().parent if config_file else _project_root(request.config)
        with _session_database(_database_url_option(request.config), root) as url:
            upgrade_database(seed_config, url, _revision(request.config))
            yield url


@pytest.fixture(scope="session")
def seed_engine(seed_database_url: str, seed_config: Config) -> Iterator[sa.Engine]:
    """An engine on the test database (``NullPool``), disposed of after the session.

    When the upgrade used a schema (``-x schema=`` or ``SCHEMA``), every connection
    gets it first on its search_path, as the migrations had.

    Override it for engine options of your own:

    Examples:
        >>> @pytest.fixture(scope="session")
        ... def seed_engine(seed_database_url):
        ...     engine = sqlalchemy.create_engine(seed_database_url, echo=True)
        ...     yield engine
        ...     engine.dispose()
    """
    engine = sa.create_engine(seed_database_url, poolclass=NullPool)
    with _failing_cleanly("seed_engine"):
        schema = _config_x_args(seed_config).get("schema") or os.environ.get("SCHEMA") or None
        if schema is not None:
            _put_schema_first(engine, schema)
    try:
        yield engine
    finally:
        engine.dispose()


def _put_schema_first(engine: sa.Engine, schema: str) -> None:
    # The "connect" event only has the driver's connection, so the statement is
    # compiled here for the engine's dialect, its value a bound parameter.
    statement = search_path_statement(engine.dialect, validate_schema(schema))
    compiled = statement.compile(dialect=engine.dialect)
    args: Any = compiled.params
    if compiled.positional:  # e.g. pg8000: the values in order, not by name
        args = tuple(args[name] for name in compiled.positiontup or ())

    def set_search_path(dbapi_connection: Any, connection_record: Any) -> None:
        # Outside any transaction, so the setting survives the tests' rollbacks.
        autocommit = dbapi_connection.autocommit
        dbapi_connection.autocommit = True
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute(str(compiled), args)
        finally:
            cursor.close()
            dbapi_connection.autocommit = autocommit

    sa.event.listen(engine, "connect", set_search_path, insert=True)


@pytest.fixture
def seed_connection(seed_engine: sa.Engine) -> Iterator[sa.Connection]:
    """A connection inside a transaction that is rolled back after the test.

    Whatever the test writes through it, or through a ``Session`` bound to it with
    ``join_transaction_mode="create_savepoint"`` (SQLAlchemy's recipe for joining a
    session into an external transaction; :func:`seed_session` does this), is gone for
    the next test: the session's ``commit()`` releases a SAVEPOINT and its
    ``rollback()`` rolls back to one, while the outer transaction stays open. Nested
    work of your own goes in ``seed_connection.begin_nested()``.

    Never call ``seed_connection.commit()``: it would commit the outer transaction
    and the rows would stay for every later test. If that happens, the test fails at
    teardown, naming the problem. Work done through other engines (the application's
    own) is not rolled back; bind it to this connection instead.

    Override it, e.g. to set something for each test's transaction:

    Examples:
        >>> @pytest.fixture
        ... def seed_connection(seed_connection):
        ...     seed_connection.execute(sqlalchemy.text("SET LOCAL timezone = 'UTC'"))
        ...     return seed_connection
    """
    committed: list[bool] = []
    connection = seed_engine.connect()
    sa.event.listen(connection, "commit", lambda conn: committed.append(True))
    transaction = connection.begin()
    try:
        yield connection
    finally:
        if transaction.is_active:
            transaction.rollback()
        connection.close()
    if committed:
        pytest.fail(
            "seed_connection.commit() committed the test transaction, so its rows stay "
            "in the test database for later tests; commit a Session bound with "
            'join_transaction_mode="create_savepoint" (seed_session) or use '
            "seed_connection.begin_nested() instead",
            pytrace=False,
        )


@pytest.fixture
def seed_session(seed_connection: sa.Connection) -> Iterator[Session]:
    """An ORM session on :func:`seed_connection`; its commits are rolled back after the test.

    Bound with ``join_transaction_mode="create_savepoint"``: ``commit()`` makes rows
    visible to the rest of the test and releases a SAVEPOINT, never the outer
    transaction. Closed after the test.

    Override it to use the application's session class or options:

    Examples:
        >>> @pytest.fixture
        ... def seed_session(seed_connection):
        ...     session = app.db.SessionLocal(
        ...         bind=seed_connection, join_transaction_mode="create_savepoint"
        ...     )
        ...     yield session
        ...     session.close()
    """
    from sqlalchemy.orm import Session

    session = Session(bind=seed_connection, join_transaction_mode="create_savepoint")
    try:
        yield session
    finally:
        session.close()
