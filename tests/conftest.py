"""Shared fixtures: a real database per test, PostgreSQL + PostGIS unless a module says otherwise.

The project-local development cluster (seeds.dev.devdb) is started once per session; it
is installed first when missing. When it cannot start, every PostgreSQL test fails
with the reason; nothing is skipped.

The engine's contract holds on every backend. A contract module makes its tests run
once per backend by defining ``backend`` from ``each_backend``; a test that needs
something a backend does not have says so with ``@pytest.mark.requires(...)`` and is
deselected for that backend only, with the reason printed in the run's header.
"""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.pool import NullPool

from seeds.dev.devdb import DevDB
from tests import reliability as reliability_cases
from tests.helpers import PROJECT_ROOT, Migrator

# Per process, so two test runs on one machine never drop each other's template.
TEMPLATE_DB = f"seedchain_test_template_{os.getpid()}"

# What each backend offers beyond the contract every backend keeps.
CAPABILITIES: dict[str, frozenset[str]] = {
    # TRUNCATE ... RESTART IDENTITY for an undo that is provably the whole table; an
    # advisory lock that serialises concurrent deploys; --sql output that records the
    # keys a seed inserts (the keys come back from INSERT ... RETURNING in the SQL);
    # a dry run (seeds plan) that rolls schema changes back too.
    "postgresql": frozenset({"truncate", "deploy_lock", "offline_inserts", "dry_run"}),
    "sqlite": frozenset(),
}

_deselected = pytest.StashKey[list[str]]()


@pytest.fixture
def backend() -> str:
    """The database the test runs on: PostgreSQL, the product's database."""
    return "postgresql"


@pytest.fixture(params=list(CAPABILITIES), ids=lambda name: f"backend={name}")
def each_backend(request: pytest.FixtureRequest) -> str:
    """Every backend in turn; a contract module returns it from its ``backend`` fixture."""
    name: str = request.param
    return name


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Deselect a test run per backend where its ``requires`` marker names what is missing."""
    keep: list[pytest.Item] = []
    dropped: list[pytest.Item] = []
    reasons: list[str] = []
    for item in items:
        callspec = getattr(item, "callspec", None)
        name = callspec.params.get("each_backend") if callspec else None
        marker = item.get_closest_marker("requires")
        if marker and not name:
            # On a test that runs on one backend only the marker would decide nothing.
            raise pytest.UsageError(f"{item.nodeid}: requires needs a test run per backend")
        missing = sorted(set(marker.args) - CAPABILITIES[name]) if marker and name else []
        if missing:
            dropped.append(item)
            reasons.append(f"{item.nodeid}: {name} lacks {', '.join(missing)}")
        else:
            keep.append(item)
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = keep
    config.stash[_deselected] = reasons


def pytest_report_collectionfinish(config: pytest.Config) -> list[str]:
    """Name each test left out for a backend, and why, above the results."""
    reasons = config.stash.get(_deselected, [])
    return [f"deselected {reason}" for reason in reasons]


@pytest.fixture(scope="session")
def devdb() -> DevDB:
    """The started project-local cluster."""
    db = DevDB(PROJECT_ROOT)
    db.start()
    return db


@pytest.fixture(scope="session")
def template_database(devdb: DevDB) -> Iterator[str]:
    """A database with PostGIS installed, cloned for every test (cheaper than CREATE EXTENSION)."""
    devdb.drop_database(TEMPLATE_DB)
    devdb.create_database(TEMPLATE_DB)
    engine = sa.create_engine(devdb.url(TEMPLATE_DB), poolclass=NullPool)
    with engine.begin() as conn:
        conn.execute(sa.text("CREATE EXTENSION IF NOT EXISTS postgis"))
    engine.dispose()
    yield TEMPLATE_DB
    devdb.drop_database(TEMPLATE_DB)


@pytest.fixture
def database_url(backend: str, request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """URL of a new, empty database that is gone after the test.

    On PostgreSQL a database with PostGIS installed, dropped afterwards; on SQLite a
    file in the test's folder, so no server is needed.
    """
    if backend == "sqlite":
        yield f"sqlite:///{tmp_path / 'db.sqlite'}"
        return
    # Asked for here, not as arguments, so a SQLite test never starts the cluster.
    devdb: DevDB = request.getfixturevalue("devdb")
    template: str = request.getfixturevalue("template_database")
    with _scratch_database(devdb, template) as url:
        yield url


@pytest.fixture
def second_database_url(devdb: DevDB, template_database: str) -> Iterator[str]:
    """Another new PostgreSQL + PostGIS database, for tests that compare two."""
    with _scratch_database(devdb, template_database) as url:
        yield url


@contextlib.contextmanager
def _scratch_database(devdb: DevDB, template: str) -> Iterator[str]:
    name = f"test_{uuid.uuid4().hex[:12]}"
    devdb.create_database(name, template=template)
    try:
        yield devdb.url(name)
    finally:
        devdb.drop_database(name)


@pytest.fixture
def engine(database_url: str) -> Iterator[sa.Engine]:
    """An engine on the per-test database."""
    eng = sa.create_engine(database_url, poolclass=NullPool)
    try:
        yield eng
    finally:
        eng.dispose()


@pytest.fixture
def migrator(database_url: str, monkeypatch: pytest.MonkeyPatch) -> Migrator:
    """Alembic, in-process, on the per-test database, environment ``testing``."""
    return Migrator(database_url, monkeypatch)


@pytest.fixture
def statements(engine: sa.Engine) -> Iterator[list[str]]:
    """Every SQL statement any engine runs during the test."""
    seen: list[str] = []

    def record(
        conn: sa.Connection,
        cursor: Any,
        statement: str,
        parameters: Any,
        context: Any,
        executemany: bool,
    ) -> None:
        seen.append(statement)

    sa.event.listen(sa.engine.Engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        sa.event.remove(sa.engine.Engine, "before_cursor_execute", record)


def pytest_addoption(parser: pytest.Parser) -> None:
    """--reliability-size and --reliability-write (tests/reliability.py)."""
    reliability_cases.add_options(parser)


@pytest.fixture(scope="session")
def reliability(request: pytest.FixtureRequest) -> Iterator[reliability_cases.Reliability]:
    """Measurements of the reliability cases; RELIABILITY.md under --reliability-write."""
    yield from reliability_cases.session(request)
