"""A connection passed in ``config.attributes["connection"]``: Alembic's recipe for
running commands programmatically, and what pytest-alembic hands env.py.

It names the database, as DATABASE_URL does, and wins over it; the environment
must still be declared, exactly as for DATABASE_URL.
"""

from __future__ import annotations

import argparse
import io
from typing import Any

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.util import CommandError

from seeds.runtime.ledger import TABLE_NAMES as LEDGER_TABLES
from tests.helpers import PROJECT_ROOT, rows, version


@pytest.fixture(autouse=True)
def _nothing_from_the_process_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("DATABASE_URL", "APP_ENV", "SCHEMA"):
        monkeypatch.delenv(name, raising=False)


def _config(connection: Any, **x_args: str) -> Config:
    config = Config(str(PROJECT_ROOT / "alembic.ini"), stdout=io.StringIO())
    config.cmd_opts = argparse.Namespace(x=[f"{k}={v}" for k, v in x_args.items()])
    config.attributes["configure_logger"] = False
    config.attributes["connection"] = connection
    return config


def _tables(engine: sa.Engine) -> set[str]:
    with engine.connect() as conn:
        return set(sa.inspect(conn).get_table_names()) - {"spatial_ref_sys"}


def test_an_engine_is_used_and_wins_over_database_url(
    engine: sa.Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A database that does not exist: connecting to it would fail the run.
    elsewhere = engine.url.set(database="not_the_given_one")
    monkeypatch.setenv("DATABASE_URL", elsewhere.render_as_string(hide_password=False))
    command.upgrade(_config(engine, env="development"), "head")
    assert version(engine) == "0010"
    assert len(rows(engine, "users")) == 51  # development: the admin and 50 more
    with engine.connect() as conn:  # the caller's engine is still the caller's
        assert conn.scalar(sa.text("SELECT 1")) == 1


def test_a_connection_is_used_and_left_open(engine: sa.Engine) -> None:
    with engine.connect() as conn:
        command.upgrade(_config(conn, env="testing"), "0006")
        assert not conn.closed and not conn.in_transaction()  # as it was given
        assert version(engine) == "0006"  # committed
        command.downgrade(_config(conn, env="testing"), "base")
    assert _tables(engine) == {"alembic_version", *LEDGER_TABLES}
    assert rows(engine, "alembic_version") == []


def test_without_an_environment_fails_closed(engine: sa.Engine) -> None:
    """Unlike the project-local database, which defaults to development."""
    with pytest.raises(CommandError) as failed:
        command.upgrade(_config(engine), "head")
    message = str(failed.value)
    assert "config.attributes['connection'] names the database" in message
    assert "no environment is declared" in message and "nothing was run" in message
    assert _tables(engine) == set()


def test_read_only_commands_need_no_environment(engine: sa.Engine) -> None:
    command.upgrade(_config(engine, env="production"), "0006")
    config = _config(engine)
    command.current(config)
    assert isinstance(config.stdout, io.StringIO)
    assert "0006" in config.stdout.getvalue()


def test_a_connection_inside_a_transaction_is_refused(engine: sa.Engine) -> None:
    """The run commits each revision itself; it would commit the caller's work too."""
    with engine.connect() as conn:
        conn.execute(sa.text("SELECT 1"))  # begins a transaction (SQLAlchemy 2 autobegin)
        with pytest.raises(CommandError, match="inside a transaction"):
            command.upgrade(_config(conn, env="testing"), "head")
    assert _tables(engine) == set()


def test_anything_else_is_refused(engine: sa.Engine) -> None:
    url = engine.url.render_as_string(hide_password=False)
    with pytest.raises(CommandError, match="is a str; pass a SQLAlchemy Connection or Engine"):
        command.upgrade(_config(url, env="testing"), "head")
