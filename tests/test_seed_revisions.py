"""Seed revisions in the chain: gating, the ledger, exact undo, failures (DESIGN.md rules)."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic.util import CommandError

from seeds.runtime import ledger
from tests.helpers import destructive, ledger_rows, rows, version
from tests.seedproject import FROZEN_USERS, SCHEMA_USERS, SeedProject, seed_users


@pytest.fixture
def project(tmp_path: Path, database_url: str, monkeypatch: pytest.MonkeyPatch) -> SeedProject:
    return SeedProject(tmp_path / "proj", database_url, monkeypatch)


def test_seed_applies_in_its_environment_and_is_recorded(
    project: SeedProject, engine: sa.Engine
) -> None:
    project.revision("s1", SCHEMA_USERS)
    project.revision("s2", seed_users())
    project.upgrade("head", env="development", seed="7")
    assert len(rows(engine, "users")) == 3
    assert len(rows(engine, "posts")) == 3
    [entry] = ledger_rows(engine)
    assert (entry.revision, entry.environment, entry.status) == ("s2", "development", "applied")
    assert entry.row_counts == {"users": 3, "posts": 3}
    assert entry.faker_seed == 7
    assert entry.reference_time == "2026-01-01T00:00:00+00:00"
    assert len(entry.source_checksum) == 64 and len(entry.data_checksum) == 64
    assert [t["name"] for t in entry.undo["tables"]] == ["users", "posts"]


def test_outside_its_environments_a_seed_is_a_noop_both_ways(
    project: SeedProject, engine: sa.Engine, statements: list[str]
) -> None:
    project.revision("s1", SCHEMA_USERS)
    project.revision("s2", seed_users())
    project.upgrade("head", env="staging")
    assert rows(engine, "users") == []
    [entry] = ledger_rows(engine)
    assert entry.status == "skipped"
    statements.clear()
    project.downgrade("s1", env="staging")
    assert destructive(statements) == []
    assert version(engine) == "s1"
    assert ledger_rows(engine)[0].status == "undone"


def test_downgrade_truncates_when_provably_the_same(
    project: SeedProject, engine: sa.Engine, statements: list[str]
) -> None:
    project.revision("s1", SCHEMA_USERS)
    project.revision("s2", seed_users())
    project.upgrade("head")
    statements.clear()
    project.downgrade("s1")
    truncates = [s for s in statements if s.startswith("TRUNCATE")]
    assert truncates == ["TRUNCATE users, posts RESTART IDENTITY CASCADE"]
    assert rows(engine, "users") == [] and rows(engine, "posts") == []


def test_application_rows_survive_the_seed_downgrade(
    project: SeedProject, engine: sa.Engine, statements: list[str]
) -> None:
    project.revision("s1", SCHEMA_USERS)
    project.revision("s2", seed_users())
    project.upgrade("s1")
    with engine.begin() as conn:
        conn.execute(sa.text("INSERT INTO users (username, email) VALUES ('app', 'a@x.io')"))
    project.upgrade("head")
    with engine.begin() as conn:  # an application row that points at a seeded row
        conn.execute(sa.text("INSERT INTO users (username, email) VALUES ('late', 'l@x.io')"))
    statements.clear()
    project.downgrade("s1")
    assert not any(s.startswith("TRUNCATE") for s in statements)
    assert [r[1] for r in rows(engine, "users")] == ["app", "late"]
    assert rows(engine, "posts") == []


def test_up_down_up_gives_identical_rows_and_keys(project: SeedProject, engine: sa.Engine) -> None:
    project.revision("s1", SCHEMA_USERS)
    project.revision("s2", seed_users())
    project.upgrade("head")
    first = (rows(engine, "users"), rows(engine, "posts"))
    project.downgrade("s1")
    project.upgrade("head")
    assert (rows(engine, "users"), rows(engine, "posts")) == first


def test_keyed_delete_restores_the_sequence_when_the_range_is_free(
    project: SeedProject, engine: sa.Engine
) -> None:
    project.revision("s1", SCHEMA_USERS)
    project.revision("s2", seed_users())
    project.upgrade("s1")
    with engine.begin() as conn:
        conn.execute(sa.text("INSERT INTO users (username, email) VALUES ('app', 'a@x.io')"))
    project.upgrade("head")
    seeded = rows(engine, "users")
    project.downgrade("s1")  # keyed delete: the app row stays
    project.upgrade("head")
    assert rows(engine, "users") == seeded


def test_same_seed_same_rows_other_seed_other_rows(project: SeedProject, engine: sa.Engine) -> None:
    project.revision("s1", SCHEMA_USERS)
    project.revision("s2", seed_users())
    project.upgrade("head", seed="1")
    one = rows(engine, "users")
    project.downgrade("s1")
    project.upgrade("head", seed="1")
    assert rows(engine, "users") == one
    project.downgrade("s1")
    project.upgrade("head", seed="2")
    assert rows(engine, "users") != one


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (  # NULL in a NOT NULL column: caught before the database sees it
            'ctx.insert(users, [{"username": "a", "email": "a@x"},'
            ' {"username": "b", "email": None}])',
            "seed s2: table users row 1 column email: is NOT NULL",
        ),
        (  # duplicate of an existing row: the database's refusal, explained
            'ctx.insert(users, [{"username": "ok", "email": "o@x"},'
            ' {"username": "taken", "email": "t@x"}])',
            "seed s2: table users row 1 column username: duplicate key",
        ),
        (  # a dangling foreign key
            'ctx.insert(posts, [{"user_id": 999999, "title": "orphan"}])',
            "seed s2: table posts row 0 column user_id: insert or update on table",
        ),
    ],
    ids=["not-null", "duplicate", "dangling-fk"],
)
def test_a_failing_seed_leaves_nothing_and_names_the_row(
    project: SeedProject, engine: sa.Engine, body: str, expected: str
) -> None:
    project.revision("s1", SCHEMA_USERS)
    project.revision(
        "s2",
        FROZEN_USERS
        + f"""

@seed(environments=["testing"], tables=[users, posts])
def upgrade(ctx: SeedContext) -> None:
    ctx.insert(users, [{{"username": "first", "email": "f@x"}}])
    {body}


downgrade = upgrade.downgrade
""",
    )
    project.upgrade("s1")
    with engine.begin() as conn:
        conn.execute(sa.text("INSERT INTO users (username, email) VALUES ('taken', 't@x')"))
    with pytest.raises(CommandError) as info:
        project.upgrade("head")
    assert expected in str(info.value)
    assert [r[1] for r in rows(engine, "users")] == ["taken"]
    assert version(engine) == "s1"
    with engine.connect() as conn:
        assert not ledger.exists(conn) or ledger.history(conn) == []


def test_a_later_not_null_column_does_not_break_replaying_the_seed(
    project: SeedProject, engine: sa.Engine
) -> None:
    project.revision("s1", SCHEMA_USERS)
    project.revision("s2", seed_users())
    project.revision(
        "s3",
        """
def upgrade() -> None:
    op.add_column("users", sa.Column("display_name", sa.String(100), nullable=True))
    op.execute(sa.text("UPDATE users SET display_name = username"))
    op.alter_column("users", "display_name", nullable=False)


def downgrade() -> None:
    op.drop_column("users", "display_name")
""",
    )
    project.upgrade("head")
    project.downgrade("base")
    project.upgrade("head")
    assert [r[3] for r in rows(engine, "users")] == ["user0", "user1", "user2"]
