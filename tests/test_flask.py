"""`flask seed all | undo | status` on the same chain and ledger."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import sqlalchemy as sa
from flask import Flask
from sqlalchemy.engine import make_url

from seeds.integrations.flask import seed_cli
from tests.helpers import rows, version
from tests.seedproject import SCHEMA_USERS, SeedProject, seed_users


@pytest.fixture
def project(tmp_path: Path, database_url: str, monkeypatch: pytest.MonkeyPatch) -> SeedProject:
    p = SeedProject(tmp_path / "proj", database_url, monkeypatch)
    p.revision("s1", SCHEMA_USERS)
    p.revision("s2", seed_users())
    monkeypatch.chdir(p.root)
    return p


@pytest.fixture
def app() -> Flask:
    flask_app = Flask("seeded")
    flask_app.config["SEEDS_ENV"] = "development"
    flask_app.cli.add_command(seed_cli())
    return flask_app


def test_seed_all_then_undo(project: SeedProject, app: Flask, engine: sa.Engine) -> None:
    runner = app.test_cli_runner()
    result = runner.invoke(args=["seed", "all"])
    assert result.exit_code == 0, result.output
    assert len(rows(engine, "users")) == 3
    status = runner.invoke(args=["seed", "status"])
    assert "s2" in status.output and "applied" in status.output
    undo = runner.invoke(args=["seed", "undo"])
    assert undo.exit_code == 0, undo.output
    assert "undid seed s2" in undo.output
    assert rows(engine, "users") == [] and version(engine) == "s1"
    assert "no applied seed revision" in runner.invoke(args=["seed", "undo"]).output


def test_undo_will_not_take_back_schema_silently(
    project: SeedProject, app: Flask, engine: sa.Engine
) -> None:
    project.revision(
        "s3",
        """
def upgrade() -> None:
    op.add_column("users", sa.Column("nickname", sa.String(50)))


def downgrade() -> None:
    op.drop_column("users", "nickname")
""",
    )
    runner = app.test_cli_runner()
    assert runner.invoke(args=["seed", "all"]).exit_code == 0
    refused = runner.invoke(args=["seed", "undo"])
    assert refused.exit_code != 0
    assert "would also take back schema revisions s3" in refused.output
    assert version(engine) == "s3"
    done = runner.invoke(args=["seed", "undo", "--with-schema"])
    assert done.exit_code == 0, done.output
    assert version(engine) == "s1"


def test_app_config_names_the_database(
    project: SeedProject, app: Flask, engine: sa.Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("DATABASE_URL")
    app.config["SQLALCHEMY_DATABASE_URI"] = make_url(project.url)  # a URL object works too
    before = dict(os.environ)
    runner = app.test_cli_runner()
    result = runner.invoke(args=["seed", "all"])
    assert result.exit_code == 0, result.output
    assert len(rows(engine, "users")) == 3
    assert "applied" in runner.invoke(args=["seed", "status"]).output
    assert dict(os.environ) == before  # handed to Alembic, not put into the environment


def test_app_env_wins_over_seeds_env(
    project: SeedProject, app: Flask, engine: sa.Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("APP_ENV", "production")  # s2 runs in development and testing only
    result = app.test_cli_runner().invoke(args=["seed", "all"])
    assert result.exit_code == 0, result.output
    assert version(engine) == "s2" and rows(engine, "users") == []


def test_app_database_without_an_environment_fails_closed(
    project: SeedProject, app: Flask, engine: sa.Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("DATABASE_URL")
    del app.config["SEEDS_ENV"]
    app.config["SQLALCHEMY_DATABASE_URI"] = project.url
    result = app.test_cli_runner().invoke(args=["seed", "all"])
    assert result.exit_code != 0
    assert "SQLALCHEMY_DATABASE_URI names the database but no environment" in result.output
    assert "alembic_version" not in sa.inspect(engine).get_table_names()  # nothing ran


def test_unknown_seeds_env_is_named(project: SeedProject, app: Flask) -> None:
    app.config["SEEDS_ENV"] = "prod"
    result = app.test_cli_runner().invoke(args=["seed", "all"])
    assert result.exit_code != 0
    assert "unknown environment 'prod' (from SEEDS_ENV in the app config)" in result.output
