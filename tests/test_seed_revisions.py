"""Seed revisions in the chain: gating, the ledger, exact undo, failures.

This is the engine's contract, so every test runs once per backend
(``backend=postgresql``, ``backend=sqlite``). Where the backends differ only in
wording, the test names the expected text per backend; where a backend lacks a
feature, ``requires`` says which. What only SQLite does is in test_sqlite.py.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic.util import CommandError

from seeds.runtime import ledger
from tests.helpers import database_name, destructive, ledger_rows, recorded_keys, rows, version
from tests.seedproject import ENSURE, FROZEN_USERS, SCHEMA_USERS, SeedProject, seed_users


@pytest.fixture
def backend(each_backend: str) -> str:
    """Every test here runs on each backend."""
    return each_backend


@pytest.fixture
def project(tmp_path: Path, database_url: str, monkeypatch: pytest.MonkeyPatch) -> SeedProject:
    p = SeedProject(tmp_path / "proj", database_url, monkeypatch)
    p.revision("s1", SCHEMA_USERS)
    return p


def test_seed_applies_in_its_environment_and_is_recorded(
    project: SeedProject, engine: sa.Engine
) -> None:
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
    assert recorded_keys(engine) == [
        ("posts", [1]),
        ("posts", [2]),
        ("posts", [3]),
        ("users", [1]),
        ("users", [2]),
        ("users", [3]),
    ]
    assert version(engine) == "s2"


def test_outside_its_environments_a_seed_is_a_noop_both_ways(
    project: SeedProject, engine: sa.Engine, statements: list[str]
) -> None:
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


@pytest.mark.requires("truncate")
def test_downgrade_truncates_when_provably_the_same(
    project: SeedProject, engine: sa.Engine, statements: list[str]
) -> None:
    project.revision("s2", seed_users())
    project.upgrade("head")
    statements.clear()
    project.downgrade("s1")
    truncates = [s for s in statements if s.startswith("TRUNCATE")]
    assert truncates == ["TRUNCATE users, posts RESTART IDENTITY CASCADE"]
    assert rows(engine, "users") == [] and rows(engine, "posts") == []


def test_downgrade_deletes_exactly_the_seeded_rows(
    project: SeedProject, engine: sa.Engine, statements: list[str]
) -> None:
    """Application rows written before and after the seed survive its undo."""
    project.revision("s2", seed_users())
    project.upgrade("s1")
    with engine.begin() as conn:
        conn.execute(sa.text("INSERT INTO users (username, email) VALUES ('app', 'a@x.io')"))
    project.upgrade("head")
    with engine.begin() as conn:
        conn.execute(sa.text("INSERT INTO users (username, email) VALUES ('late', 'l@x.io')"))
    statements.clear()
    project.downgrade("s1")
    assert not any("TRUNCATE" in s.upper() for s in statements)
    assert [s.split(" WHERE")[0] for s in destructive(statements)] == [
        "DELETE FROM posts",
        "DELETE FROM users",
        "DELETE FROM seed_ledger_keys",
        "DELETE FROM seed_ledger_hashes",
    ]
    assert [r[1] for r in rows(engine, "users")] == ["app", "late"]
    assert rows(engine, "posts") == []
    with engine.connect() as conn:
        assert conn.scalar(sa.select(sa.func.count()).select_from(ledger.ledger_keys)) == 0
    assert ledger_rows(engine)[0].status == "undone"


def test_an_application_row_behind_a_cascade_key_stops_the_undo(
    project: SeedProject, engine: sa.Engine
) -> None:
    """ON DELETE CASCADE would take the application's row along: refused, listed, kept."""
    project.revision("s2", seed_users())
    project.upgrade("head")
    with engine.begin() as conn:  # an application row hanging off a seeded user
        conn.execute(sa.text("INSERT INTO posts (user_id, title) VALUES (1, 'app post')"))
    with pytest.raises(CommandError) as info:
        project.downgrade("s1")
    message = str(info.value)
    assert "seed s2: rows it did not insert reference its rows (posts: 1 rows through" in message
    assert "-> users (ON DELETE CASCADE)" in message
    assert f"-x allow_cascade={database_name(engine)}" in message
    assert len(rows(engine, "users")) == 3 and len(rows(engine, "posts")) == 4
    assert version(engine) == "s2"
    # Named, the override lets the foreign key do what it says.
    project.downgrade("s1", allow_cascade=database_name(engine))
    assert rows(engine, "users") == [] and rows(engine, "posts") == []


COMMENTS = """
def upgrade() -> None:
    op.create_table(
        "comments",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("user_id", sa.Integer, sa.ForeignKey("users.id"), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("comments")
"""


def test_every_application_row_that_references_seeded_rows_is_listed_at_once(
    project: SeedProject, engine: sa.Engine
) -> None:
    """A NO ACTION key and a CASCADE key: one refusal names both, even with the override
    (rows behind a key that refuses deletes can only be moved by their owner)."""
    project.revision("s2", COMMENTS)
    project.revision("s3", seed_users())
    project.upgrade("head")
    with engine.begin() as conn:
        conn.execute(sa.text("INSERT INTO comments (user_id) VALUES (2)"))
        conn.execute(sa.text("INSERT INTO comments (user_id) VALUES (3)"))
        conn.execute(sa.text("INSERT INTO posts (user_id, title) VALUES (1, 'app post')"))
    with pytest.raises(CommandError) as info:
        project.downgrade("s2")
    message = str(info.value)
    assert "comments: 2 rows through" in message and "(ON DELETE NO ACTION)" in message
    assert "posts: 1 rows through" in message and "(ON DELETE CASCADE)" in message
    with pytest.raises(CommandError, match="refuse deletes .*comments: 2 rows"):
        project.downgrade("s2", allow_cascade=database_name(engine))
    assert version(engine) == "s3"
    assert len(rows(engine, "users")) == 3 and len(rows(engine, "posts")) == 4
    assert ledger_rows(engine)[0].status == "applied"


def test_up_down_up_gives_identical_rows_and_keys(project: SeedProject, engine: sa.Engine) -> None:
    project.revision("s2", seed_users())
    project.upgrade("head")
    first = (rows(engine, "users"), rows(engine, "posts"))
    project.downgrade("s1")
    project.upgrade("head")
    assert (rows(engine, "users"), rows(engine, "posts")) == first


def test_keyed_delete_restores_the_keys_when_the_range_is_free(
    project: SeedProject, engine: sa.Engine
) -> None:
    project.revision("s2", seed_users())
    project.upgrade("s1")
    with engine.begin() as conn:  # an application row first: the seed's keys start at 2
        conn.execute(sa.text("INSERT INTO users (username, email) VALUES ('app', 'a@x.io')"))
    project.upgrade("head")
    first = (rows(engine, "users"), rows(engine, "posts"))
    assert [r[0] for r in first[0]] == [1, 2, 3, 4]
    project.downgrade("s1")  # keyed delete: the app row stays
    assert [r[1] for r in rows(engine, "users")] == ["app"]
    project.upgrade("head")
    assert (rows(engine, "users"), rows(engine, "posts")) == first


def test_same_seed_same_rows_other_seed_other_rows(project: SeedProject, engine: sa.Engine) -> None:
    project.revision("s2", seed_users())
    project.upgrade("head", seed="1")
    one = rows(engine, "users")
    project.downgrade("s1")
    project.upgrade("head", seed="1")
    assert rows(engine, "users") == one
    project.downgrade("s1")
    project.upgrade("head", seed="2")
    assert rows(engine, "users") != one


FAILING = (
    FROZEN_USERS
    + """

@seed(environments=["testing"], tables=[users, posts])
def upgrade(ctx: SeedContext) -> None:
    ctx.insert(users, [{{"username": "first", "email": "f@x"}}])
    {body}


downgrade = upgrade.downgrade
"""
)


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (  # NULL in a NOT NULL column: caught before the database sees it
            'ctx.insert(users, [{"username": "a", "email": "a@x"}, '
            '{"username": "b", "email": None}])',
            {
                "postgresql": "seed s2: table users row 1 column email: is NOT NULL",
                "sqlite": "seed s2: table users row 1 column email: is NOT NULL",
            },
        ),
        (  # duplicate of an existing row: the database's refusal, explained
            'ctx.insert(users, [{"username": "ok", "email": "o@x"}, '
            '{"username": "taken", "email": "t@x"}])',
            {
                "postgresql": "seed s2: table users row 1 column username: duplicate key",
                "sqlite": "seed s2: table users row 1 column username: UNIQUE constraint failed: "
                "users.username (username='taken' already exists); the row already exists",
            },
        ),
        (  # a dangling foreign key; SQLite refuses it only because the engine enforces them
            'ctx.insert(posts, [{"user_id": 1, "title": "fine"}, '
            '{"user_id": 999999, "title": "orphan"}])',
            {
                "postgresql": "seed s2: table posts row 1 column user_id: "
                "insert or update on table",
                "sqlite": "seed s2: table posts row 1 column user_id: FOREIGN KEY constraint "
                "failed (user_id=999999 has no row in users(id)); seed the referenced row first",
            },
        ),
    ],
    ids=["not-null", "duplicate", "dangling-fk"],
)
def test_a_failing_seed_leaves_nothing_and_names_the_row(
    project: SeedProject, engine: sa.Engine, backend: str, body: str, expected: dict[str, str]
) -> None:
    project.revision("s2", FAILING.format(body=body))
    project.upgrade("s1")
    with engine.begin() as conn:
        conn.execute(sa.text("INSERT INTO users (username, email) VALUES ('taken', 't@x')"))
    with pytest.raises(CommandError) as info:
        project.upgrade("head")
    assert expected[backend] in str(info.value)
    assert [r[1] for r in rows(engine, "users")] == ["taken"]
    assert rows(engine, "posts") == []
    assert version(engine) == "s1"
    with engine.connect() as conn:
        assert not ledger.Ledger.on(conn).exists() or ledger.Ledger.on(conn).history() == []


# Batch mode is how a revision alters a column portably: plain ALTERs on PostgreSQL,
# a copy of the table on SQLite (which cannot ALTER a column).
LATER_NOT_NULL_COLUMN = """
def upgrade() -> None:
    with op.batch_alter_table("users") as batch:
        batch.add_column(sa.Column("display_name", sa.String(100), nullable=True))
    op.execute(sa.text("UPDATE users SET display_name = username"))
    with op.batch_alter_table("users") as batch:
        batch.alter_column("display_name", existing_type=sa.String(100), nullable=False)


def downgrade() -> None:
    with op.batch_alter_table("users") as batch:
        batch.drop_column("display_name")
"""


def test_a_later_not_null_column_does_not_break_replaying_the_seed(
    project: SeedProject, engine: sa.Engine
) -> None:
    """The seed writes through its frozen tables, so it replays on the changed schema."""
    project.revision("s2", seed_users())
    project.revision("s3", LATER_NOT_NULL_COLUMN)
    project.upgrade("head")
    project.downgrade("base")
    project.upgrade("head")
    assert [r[3] for r in rows(engine, "users")] == ["user0", "user1", "user2"]


def test_reserved_keys_do_not_overlap_before_they_are_written(
    project: SeedProject, engine: sa.Engine
) -> None:
    # Two reservations before any insert: a backend without a sequence cannot read
    # the first one back from max(id), so the engine must remember it.
    project.revision(
        "s2",
        FROZEN_USERS
        + """

@seed(environments=["testing"], tables=[users, posts])
def upgrade(ctx: SeedContext) -> None:
    first = ctx.reserve_keys(users, 2)
    second = ctx.reserve_keys(users, 2)
    rows = [{"id": k, "username": f"u{k}", "email": f"{k}@x"} for k in [*first, *second]]
    ctx.insert(users, rows)


downgrade = upgrade.downgrade
""",
    )
    project.upgrade("head", env="testing")
    assert [r[0] for r in rows(engine, "users")] == [1, 2, 3, 4]


def test_ensure_is_idempotent_against_an_existing_row(
    project: SeedProject, engine: sa.Engine
) -> None:
    project.revision("s2", ENSURE)
    project.upgrade("s1")
    with engine.begin() as conn:  # the admin is already there, with its own e-mail
        conn.execute(sa.text("INSERT INTO users (username, email) VALUES ('admin', 'me@corp')"))
    project.upgrade("head")
    assert [r[1:] for r in rows(engine, "users")] == [
        ("admin", "me@corp"),
        ("ops", "ops@example.org"),
    ]
    [entry] = ledger_rows(engine)
    assert entry.row_counts == {"users": 1}
    project.downgrade("s1")  # removes only what the seed inserted
    assert [r[1:] for r in rows(engine, "users")] == [("admin", "me@corp")]
    project.upgrade("head")  # and again: still one admin
    assert [r[1] for r in rows(engine, "users")] == ["admin", "ops"]
