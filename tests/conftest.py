"""Shared fixtures: a real PostgreSQL + PostGIS, a fresh database per test.

The project-local development cluster (seeds.dev.devdb) is started once per session; it
is installed first when missing. When it cannot start, every database test fails
with the reason; nothing is skipped.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator, Mapping
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from sqlalchemy.pool import NullPool

from seeds.dev.devdb import DevDB

PROJECT_ROOT = Path(__file__).resolve().parents[1]
# Per process, so two test runs on one machine never drop each other's template.
TEMPLATE_DB = f"seedchain_test_template_{os.getpid()}"


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
def database_url(devdb: DevDB, template_database: str) -> Iterator[str]:
    """URL of a new, empty database (PostGIS installed) that is dropped after the test."""
    name = f"test_{uuid.uuid4().hex[:12]}"
    devdb.create_database(name, template=template_database)
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


class Migrator:
    """Runs Alembic commands in-process against one database, as the CLI would.

    Args:
        url: The database.
        monkeypatch: Sets DATABASE_URL for the test.
        root: The project folder holding alembic.ini (default: this repository).
    """

    def __init__(
        self, url: str, monkeypatch: pytest.MonkeyPatch, root: Path = PROJECT_ROOT
    ) -> None:
        self.url = url
        self.root = root
        monkeypatch.setenv("DATABASE_URL", url)
        monkeypatch.delenv("APP_ENV", raising=False)
        monkeypatch.delenv("SCHEMA", raising=False)

    def config(self, **x_args: str) -> Config:
        cfg = Config(str(self.root / "alembic.ini"))
        x = {"env": "testing", **x_args}
        cfg.cmd_opts = argparse.Namespace(x=[f"{k}={v}" for k, v in x.items()])
        # pytest owns logging; env.py must not reconfigure it on every run.
        cfg.attributes["configure_logger"] = False
        return cfg

    def upgrade(self, revision: str = "head", **x_args: str) -> None:
        command.upgrade(self.config(**x_args), revision)

    def downgrade(self, revision: str = "base", **x_args: str) -> None:
        command.downgrade(self.config(**x_args), revision)

    def revisions(self) -> list[str]:
        """Every revision id from base to head, in order."""
        from alembic.script import ScriptDirectory

        script = ScriptDirectory.from_config(self.config())
        return [rev.revision for rev in reversed(list(script.walk_revisions()))]


@pytest.fixture
def migrator(database_url: str, monkeypatch: pytest.MonkeyPatch) -> Migrator:
    """Alembic, in-process, on the per-test database, environment ``testing``."""
    return Migrator(database_url, monkeypatch)


def run_cli(
    *args: str, env: Mapping[str, str | None] | None = None, cwd: Path = PROJECT_ROOT
) -> subprocess.CompletedProcess[str]:
    """Run a console command (``alembic ...``, ``seeds ...``) as a user would."""
    full_env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "APP_ENV"}}
    for key, value in (env or {}).items():
        if value is None:
            full_env.pop(key, None)
        else:
            full_env[key] = value
    modules = {"alembic": "alembic", "seeds": "seeds"}
    cmd = [sys.executable, "-m", modules[args[0]], *args[1:]]
    return subprocess.run(cmd, cwd=cwd, env=full_env, capture_output=True, text=True, timeout=300)


@pytest.fixture
def statements(engine: sa.Engine) -> Iterator[list[str]]:
    """Every SQL statement any engine runs during the test."""
    seen: list[str] = []

    def record(conn, cursor, statement, parameters, context, executemany) -> None:
        seen.append(statement)

    sa.event.listen(sa.engine.Engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        sa.event.remove(sa.engine.Engine, "before_cursor_execute", record)
