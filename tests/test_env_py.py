"""migrations/env.py as a user meets it: the alembic command in a subprocess."""

from __future__ import annotations

import socket
import subprocess

import sqlalchemy as sa
from sqlalchemy.pool import NullPool

from seeds.runtime.ledger import TABLE_NAMES as LEDGER_TABLES
from tests.helpers import run_cli


def _tables(url: str, schema: str | None = None) -> set[str]:
    engine = sa.create_engine(url, poolclass=NullPool)
    try:
        with engine.connect() as conn:
            return set(sa.inspect(conn).get_table_names(schema=schema)) - {"spatial_ref_sys"}
    finally:
        engine.dispose()


def _schemas(url: str) -> set[str]:
    engine = sa.create_engine(url, poolclass=NullPool)
    try:
        with engine.connect() as conn:
            return set(sa.inspect(conn).get_schema_names())
    finally:
        engine.dispose()


def _one_error_line(result: subprocess.CompletedProcess[str]) -> str:
    """The run failed with exactly one line saying why, and no traceback."""
    output = result.stdout + result.stderr
    assert result.returncode != 0
    assert "Traceback" not in output, output
    failed = [line for line in output.splitlines() if line.startswith("FAILED")]
    assert len(failed) == 1, output
    reason = failed[0].removeprefix("FAILED: ")
    assert sum(reason in line for line in output.splitlines()) == 1, output
    line: str = failed[0]
    return line


def test_url_without_environment_fails_before_anything_runs(database_url: str) -> None:
    result = run_cli("alembic", "upgrade", "head", env={"DATABASE_URL": database_url})
    line = _one_error_line(result)
    assert "no environment is declared" in line
    assert "-x env=" in line and "APP_ENV" in line
    assert _tables(database_url) == set()


def test_unknown_environment_names_the_valid_ones(database_url: str) -> None:
    result = run_cli(
        "alembic", "upgrade", "head", env={"DATABASE_URL": database_url, "APP_ENV": "prod"}
    )
    line = _one_error_line(result)
    assert "'prod'" in line and "APP_ENV" in line
    assert "production, staging, development, testing" in line
    assert _tables(database_url) == set()


def test_declared_environment_migrates_to_head(database_url: str) -> None:
    result = run_cli(
        "alembic",
        "-x",
        "env=testing",
        "upgrade",
        "head",
        env={"DATABASE_URL": database_url, "APP_ENV": "production"},
    )
    assert result.returncode == 0, result.stderr
    # -x env wins over APP_ENV, and the run says which environment it used.
    assert "environment testing" in result.stderr
    assert {"users", "stores", "alembic_version"} <= _tables(database_url)


def test_schema_with_quotes_spaces_and_semicolon_is_one_quoted_identifier(
    database_url: str,
) -> None:
    schema = 'tenant "a"; DROP TABLE users; --'
    result = run_cli(
        "alembic",
        "upgrade",
        "head",
        env={"DATABASE_URL": database_url, "APP_ENV": "testing", "SCHEMA": schema},
    )
    assert result.returncode == 0, result.stderr
    assert schema in _schemas(database_url)
    tables = _tables(database_url, schema)
    assert {"users", "projects", "stores", "alembic_version"} <= tables
    assert _tables(database_url, "public") == set()

    down = run_cli(
        "alembic",
        "downgrade",
        "base",
        env={"DATABASE_URL": database_url, "APP_ENV": "testing", "SCHEMA": schema},
    )
    assert down.returncode == 0, down.stderr
    # The ledger stays (it is the history of what was seeded and undone).
    assert _tables(database_url, schema) == {"alembic_version", *LEDGER_TABLES}


def test_unreachable_database_is_one_line_naming_where(database_url: str) -> None:
    with socket.socket() as sock:  # a port on loopback that nothing listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    result = run_cli(
        "alembic",
        "upgrade",
        "head",
        env={
            "DATABASE_URL": f"postgresql://nobody@127.0.0.1:{port}/nowhere",
            "APP_ENV": "testing",
        },
    )
    line = _one_error_line(result)
    assert f"127.0.0.1:{port}" in line
    assert "'nowhere'" in line
    assert "DATABASE_URL" in line


def test_offline_sql_needs_no_server_and_is_stable() -> None:
    # A production deploy rendered for review: schema, the essentials seed (insert-
    # only), and the other seeds recorded as skipped.
    env = {"DATABASE_URL": None, "APP_ENV": "production"}
    first = run_cli("alembic", "upgrade", "head", "--sql", env=env)
    second = run_cli("alembic", "upgrade", "head", "--sql", env=env)
    assert first.returncode == 0, first.stderr
    assert "CREATE TABLE users" in first.stdout
    assert "INSERT INTO users" in first.stdout and "'admin'" in first.stdout
    assert first.stdout == second.stdout


def test_offline_sql_stops_at_a_seed_that_reads_the_database() -> None:
    result = run_cli(
        "alembic", "upgrade", "head", "--sql", env={"DATABASE_URL": None, "APP_ENV": "development"}
    )
    assert result.returncode != 0
    assert "Traceback" not in result.stdout + result.stderr
    # stdout, where the script goes, holds Alembic's FAILED line and no SQL at all;
    # the terminal (stderr) gets the reason once.
    [line] = result.stdout.splitlines()
    reason = "seed 0007 needs to read the database, which --sql cannot do"
    assert line.startswith(f"FAILED: {reason}")
    assert sum(reason in line for line in result.stderr.splitlines()) == 1, result.stderr
