"""`--sql` scripts: the same data as online, whole or not at all, and honest bookkeeping."""

from __future__ import annotations

import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
import sqlalchemy as sa

from seeds.dev.devdb import DevDB
from tests.helpers import ledger_rows, rows
from tests.reliability import Reliability
from tests.seedproject import FROZEN_USERS, SCHEMA_USERS, SeedProject, seed_users

ODD_STRINGS = (
    FROZEN_USERS
    + """

@seed(environments=["production"], tables=[users])
def upgrade(ctx: SeedContext) -> None:
    ctx.insert(users, [
        {"username": "tab", "email": "a\\tb"},
        {"username": "quotes", "email": "it's \\"quoted\\" \\\\ back"},
        {"username": "unicode", "email": "snow \\u2603 and \\U0001f600"},
        {"username": "lines", "email": "one\\ntwo"},
    ])


downgrade = upgrade.downgrade
"""
)

# The rows ODD_STRINGS writes, as Python sees them.
ODD_STRING_ROWS = [
    ("tab", "a\tb"),
    ("quotes", 'it\'s "quoted" \\ back'),
    ("unicode", "snow \u2603 and \U0001f600"),
    ("lines", "one\ntwo"),
]


LOGGING_INI = """
[loggers]
keys = root

[handlers]
keys = console

[formatters]
keys = generic

[logger_root]
level = WARNING
handlers = console

[handler_console]
class = StreamHandler
args = (sys.stderr,)
formatter = generic

[formatter_generic]
format = %(levelname)-5.5s [%(name)s] %(message)s
"""


@pytest.fixture
def project(tmp_path: Path, database_url: str, monkeypatch: pytest.MonkeyPatch) -> SeedProject:
    return SeedProject(tmp_path / "proj", database_url, monkeypatch)


@pytest.fixture
def script_database(devdb: DevDB, template_database: str) -> Iterator[str]:
    """A second database, where the rendered script is applied."""
    name = f"script_{uuid.uuid4().hex[:12]}"
    devdb.create_database(name, template=template_database)
    try:
        yield devdb.url(name)
    finally:
        devdb.drop_database(name)


def apply_script(url: str, script: str) -> None:
    """Run a rendered script as psql would: statement by statement, in its own BEGIN."""
    dsn = sa.make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(script.encode())


def data(url: str) -> list[tuple[Any, ...]]:
    engine = sa.create_engine(url)
    try:
        return rows(engine, "users")
    finally:
        engine.dispose()


def test_a_script_writes_the_same_bytes_as_an_online_run(
    project: SeedProject, script_database: str, reliability: Reliability
) -> None:
    project.revision("s1", SCHEMA_USERS)
    project.revision("s2", ODD_STRINGS)
    started = time.monotonic()
    rendered = project.cli("alembic", "upgrade", "head", "--sql", APP_ENV="production")
    assert rendered.returncode == 0, rendered.stderr
    assert "a\tb" in rendered.stdout  # the tab itself, not four spaces
    project.upgrade("head", env="production")

    apply_script(script_database, rendered.stdout)
    assert data(script_database) == data(project.url)
    assert ("tab", "a\tb") in [row[1:] for row in data(script_database)]
    # Byte for byte what the seed file says, in both databases.
    written = set(ODD_STRING_ROWS)
    found = [{row[1:] for row in data(url)} for url in (project.url, script_database)]
    reliability.record(
        "odd-strings",
        lost=sum(len(written - rows) for rows in found),
        leaked=sum(len(rows - written) for rows in found),
        seconds=time.monotonic() - started,
    )


def test_a_scripted_ledger_row_carries_its_counts(
    project: SeedProject, script_database: str
) -> None:
    project.revision("s1", SCHEMA_USERS)
    project.revision("s2", ODD_STRINGS)
    rendered = project.cli("alembic", "upgrade", "head", "--sql", APP_ENV="production")
    apply_script(script_database, rendered.stdout)
    engine = sa.create_engine(script_database)
    [row] = ledger_rows(engine)
    engine.dispose()
    assert row.row_counts == {"users": 4}
    status = project.cli("seeds", "status", "--json", DATABASE_URL=script_database)
    assert '"users": 4' in status.stdout, status.stdout + status.stderr


def test_a_seed_that_cannot_be_rendered_leaves_no_sql_behind(project: SeedProject) -> None:
    project.revision("s1", SCHEMA_USERS)
    project.revision(
        "s2",
        FROZEN_USERS
        + """

@seed(environments=["production"], tables=[users])
def upgrade(ctx: SeedContext) -> None:
    ctx.connection.execute(sa.select(users.c.id)).all()


downgrade = upgrade.downgrade
""",
    )
    # Logging as `alembic init` sets it up: warnings and errors to stderr.
    (project.root / "alembic.ini").write_text(
        (project.root / "alembic.ini").read_text() + LOGGING_INI
    )
    result = project.cli("alembic", "upgrade", "head", "--sql", APP_ENV="production")
    assert result.returncode != 0
    # Not even s1's CREATE TABLE: a half script must never be there to run.
    assert "CREATE TABLE" not in result.stdout and "BEGIN" not in result.stdout
    # stdout is where the script is redirected to; the error shows on the terminal.
    assert "seed s2 needs to read the database" in result.stderr
    assert "no SQL was written" in result.stderr


def psql(url: str, script: str) -> subprocess.CompletedProcess[str]:
    """Apply a script the way a DBA does: plain psql -f, which goes on after errors."""
    uri = sa.make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
    return subprocess.run(
        ["psql", "-X", "-q", uri], input=script, capture_output=True, text=True, check=False
    )


def test_a_script_applied_twice_changes_nothing(project: SeedProject, script_database: str) -> None:
    project.revision("s1", SCHEMA_USERS)
    project.revision("s2", ODD_STRINGS)
    project.revision("s3", seed_users('["development"]'))  # skipped in production
    rendered = project.cli("alembic", "upgrade", "head", "--sql", APP_ENV="production")
    assert rendered.returncode == 0, rendered.stderr
    first = psql(script_database, rendered.stdout)
    assert first.returncode == 0 and "ERROR" not in first.stderr, first.stderr
    engine = sa.create_engine(script_database)
    before = (rows(engine, "users"), ledger_rows(engine))
    second = psql(script_database, rendered.stdout)
    # The guard is the first error; the rest of the one transaction never applies.
    errors = [line for line in second.stderr.splitlines() if "ERROR" in line]
    assert "script refused: it starts from an empty database" in errors[0], second.stderr
    assert (rows(engine, "users"), ledger_rows(engine)) == before
    engine.dispose()


def test_a_partial_script_checks_where_it_starts(
    project: SeedProject, script_database: str
) -> None:
    project.revision("s1", SCHEMA_USERS)
    project.revision("s2", ODD_STRINGS)
    schema = project.cli("alembic", "upgrade", "s1", "--sql", APP_ENV="production")
    seeds = project.cli("alembic", "upgrade", "s1:head", "--sql", APP_ENV="production")
    assert seeds.returncode == 0, seeds.stderr
    assert psql(script_database, schema.stdout).returncode == 0
    first = psql(script_database, seeds.stdout)
    assert "ERROR" not in first.stderr, first.stderr
    again = psql(script_database, seeds.stdout)
    assert "script refused: it upgrades from revision s1" in again.stderr, again.stderr
    engine = sa.create_engine(script_database)
    assert len(rows(engine, "users")) == 4 and len(ledger_rows(engine)) == 1
    engine.dispose()
