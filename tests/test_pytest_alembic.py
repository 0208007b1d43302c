"""pytest-alembic's four built-in tests on the reference app, on a seeded database.

pytest-alembic's own collector is switched off (``-p no:pytest_alembic`` in
pyproject.toml, see the README's Tests section), so its built-in tests are taken from
``pytest_alembic.tests`` as plain functions and collected here, and the three fixtures
its plugin would provide are defined here. The runner hands the per-test database's
engine to env.py in ``config.attributes["connection"]``; ``run_migrations`` runs on
it, in ``development``, so the seed revisions insert their rows and the downgrades
take them back out. The ledger and PostGIS's tables stay in the database: keeping them
out of the comparison is ``run_migrations``' job, not this module's.
"""

from __future__ import annotations

import argparse
from collections.abc import Iterator

import pytest
import sqlalchemy as sa
from alembic.config import Config
from pytest_alembic import MigrationContext, runner
from pytest_alembic import tests as builtin
from pytest_alembic.config import Config as RunnerConfig

from seeds.runtime.ledger import TABLE_NAMES as LEDGER_TABLES
from tests.helpers import PROJECT_ROOT, ledger_rows, rows

test_single_head_revision = builtin.test_single_head_revision
test_upgrade = builtin.test_upgrade
test_model_definitions_match_ddl = builtin.test_model_definitions_match_ddl
test_up_down_consistency = builtin.test_up_down_consistency


@pytest.fixture
def alembic_config() -> Config:
    """The reference app's Alembic config, as ``alembic -x env=development``."""
    config = Config(str(PROJECT_ROOT / "alembic.ini"))
    config.cmd_opts = argparse.Namespace(x=["env=development"])
    # pytest owns logging; env.py must not reconfigure it on every run.
    config.attributes["configure_logger"] = False
    return config


@pytest.fixture
def alembic_engine(engine: sa.Engine, monkeypatch: pytest.MonkeyPatch) -> sa.Engine:
    """The per-test database. Nothing in the process environment names another one or
    an environment: the engine and ``-x env`` decide."""
    for name in ("DATABASE_URL", "APP_ENV", "SCHEMA"):
        monkeypatch.delenv(name, raising=False)
    return engine


@pytest.fixture
def alembic_runner(alembic_config: Config, alembic_engine: sa.Engine) -> Iterator[MigrationContext]:
    """What pytest-alembic's plugin would provide, from the two fixtures above."""
    with runner(config=RunnerConfig.from_raw_config(alembic_config), engine=alembic_engine) as ctx:
        yield ctx


def _tables(engine: sa.Engine) -> set[str]:
    with engine.connect() as conn:
        return set(sa.inspect(conn).get_table_names())


def test_the_runner_seeds_its_database_and_takes_it_back_to_base(
    alembic_runner: MigrationContext, engine: sa.Engine
) -> None:
    """What the built-ins take for granted: the runner's migrations reach the per-test
    database, seed it, and ``base`` leaves only the ledger's history and PostGIS."""
    alembic_runner.migrate_up_to("heads", return_current=False)
    assert alembic_runner.current == alembic_runner.heads[0]
    assert len(rows(engine, "users")) == 51  # the admin and the development dataset's 50
    assert len(rows(engine, "stores")) > 0

    alembic_runner.migrate_down_to("base", return_current=False)
    assert alembic_runner.current == "base"
    assert _tables(engine) == {"spatial_ref_sys", "alembic_version", *LEDGER_TABLES}
    assert rows(engine, "alembic_version") == []
    history = ledger_rows(engine)
    assert history and {row.status for row in history} == {"undone"}
