"""What only SQLite does; the contract it shares with PostgreSQL runs in
test_seed_revisions.py and test_protection.py on both.

A real SQLite file per test, no PostgreSQL server. Proved here: foreign keys are
enforced only for a seed's own work and are off again for schema revisions (Alembic's
batch mode copies tables and needs them off); AUTOINCREMENT keys come back on up,
down, up through ``sqlite_sequence``; the database's name is the file's whole path;
``--sql`` refuses seeds that insert.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic.util import CommandError

from seeds.runtime import ledger
from tests.helpers import rows, run_cli, version
from tests.seedproject import ENSURE, SCHEMA_USERS, SeedProject, seed_users


@pytest.fixture
def backend() -> str:
    return "sqlite"


@pytest.fixture
def project(tmp_path: Path, database_url: str, monkeypatch: pytest.MonkeyPatch) -> SeedProject:
    p = SeedProject(tmp_path / "proj", database_url, monkeypatch)
    p.revision("s1", SCHEMA_USERS)
    return p


def test_up_down_up_gives_identical_autoincrement_keys(
    tmp_path: Path, database_url: str, monkeypatch: pytest.MonkeyPatch, engine: sa.Engine
) -> None:
    """AUTOINCREMENT keys are never reused, so the undo must restore sqlite_sequence."""
    project = SeedProject(tmp_path / "proj", database_url, monkeypatch)
    schema = SCHEMA_USERS.replace(
        "nullable=False),\n    )", "nullable=False),\n        sqlite_autoincrement=True,\n    )"
    )
    assert schema.count("sqlite_autoincrement") == 2
    project.revision("s1", schema)
    project.revision("s2", seed_users())
    project.upgrade("s1")
    with engine.begin() as conn:  # an application row first: the seed's keys start at 2
        conn.execute(sa.text("INSERT INTO users (username, email) VALUES ('app', 'a@x.io')"))
    project.upgrade("head")
    first = (rows(engine, "users"), rows(engine, "posts"))
    assert [r[0] for r in first[0]] == [1, 2, 3, 4]
    project.downgrade("s1")
    assert [r[1] for r in rows(engine, "users")] == ["app"]
    project.upgrade("head")
    assert (rows(engine, "users"), rows(engine, "posts")) == first


BATCH_NOT_NULL_COLUMN = """
def upgrade() -> None:
    with op.batch_alter_table("users") as batch:
        batch.add_column(sa.Column("display_name", sa.String(100), nullable=True))
    op.execute(sa.text("UPDATE users SET display_name = username"))
    # SQLite cannot ALTER a column: batch mode copies the table, DROPs users and
    # renames the copy. posts references users ON DELETE CASCADE.
    with op.batch_alter_table("users") as batch:
        batch.alter_column("display_name", existing_type=sa.String(100), nullable=False)


def downgrade() -> None:
    with op.batch_alter_table("users") as batch:
        batch.drop_column("display_name")
"""


def test_foreign_keys_are_off_again_for_a_batch_schema_revision(
    project: SeedProject, engine: sa.Engine
) -> None:
    """The seed switched enforcement on; a later batch revision must not cascade.

    With enforcement still on, the batch copy's DROP TABLE users would delete every
    post through ON DELETE CASCADE, on the first upgrade and on the replay.
    """
    project.revision("s2", seed_users())
    project.revision("s3", BATCH_NOT_NULL_COLUMN)
    project.upgrade("head")
    assert len(rows(engine, "posts")) == 3
    assert [r[3] for r in rows(engine, "users")] == ["user0", "user1", "user2"]
    project.downgrade("base")
    project.upgrade("head")
    assert len(rows(engine, "posts")) == 3
    assert [r[3] for r in rows(engine, "users")] == ["user0", "user1", "user2"]


def test_offline_sql_refuses_a_seed_that_inserts(project: SeedProject) -> None:
    """Only PostgreSQL records the inserted keys in the SQL itself; SQLite says so."""
    project.revision("s2", ENSURE)
    env = {"DATABASE_URL": project.url, "APP_ENV": "production"}
    result = run_cli("alembic", "upgrade", "head", "--sql", env=env, cwd=project.root)
    assert result.returncode != 0
    assert "Traceback" not in result.stderr + result.stdout
    assert (
        "FAILED: seed s2: --sql on sqlite cannot record which rows it inserts into users"
        in result.stdout
    )


def test_the_database_name_is_the_whole_file_path(project: SeedProject, engine: sa.Engine) -> None:
    """The stamp and the override name the file by its path; its base name is not enough."""
    project.revision("s2", seed_users('["production", "development"]'))
    project.revision("s3", seed_users('["development"]', count=2).replace("user{n}", "dev{n}"))
    project.upgrade("s2", env="production")
    with engine.connect() as conn:
        [stamp] = conn.execute(sa.select(ledger.events.c.database)).scalars()
    assert stamp == engine.url.database and stamp.endswith("db.sqlite")
    with pytest.raises(CommandError, match="names another database"):
        project.upgrade("head", env="development", allow_unsafe="db.sqlite")
    assert version(engine) == "s2"


def test_a_plan_is_refused_because_sqlite_commits_schema_changes_at_once(
    project: SeedProject, engine: sa.Engine
) -> None:
    """A dry run rolls everything back; SQLite (through Python's driver) commits DDL
    as it runs, so a plan there would leave tables behind: it is refused instead."""
    project.revision("s2", seed_users())
    plan = project.cli("seeds", "plan", "--json", "-x", "env=development")
    assert plan.returncode == 1
    assert "sqlite cannot do for schema changes" in plan.stderr
    assert "run the migration on a copy of the database" in plan.stderr
    assert sa.inspect(engine).get_table_names() == []
