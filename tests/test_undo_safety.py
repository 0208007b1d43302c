"""The undo never harms what the application wrote, on the keyed path with application rows.

Every test here puts an application row into the database first, so the undo cannot
take the TRUNCATE shortcut and has to remove exactly the seed's rows by key.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic.util import CommandError

from tests.helpers import database_name, rows, version
from tests.seedproject import SCHEMA_USERS, SeedProject, seed_users

# users with three kinds of application tables hanging off them.
SCHEMA = """
def upgrade() -> None:
    op.create_table("users", sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
                    sa.Column("username", sa.String(50), nullable=False, unique=True))
    op.create_table("posts", sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
                    sa.Column("user_id", sa.BigInteger,
                              sa.ForeignKey("users.id", ondelete="RESTRICT"), nullable=False),
                    sa.Column("title", sa.String(100), nullable=False))
    op.create_index("ix_posts_user_id", "posts", ["user_id"])
    op.create_table("likes", sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
                    sa.Column("user_id", sa.BigInteger,
                              sa.ForeignKey("users.id", ondelete="SET NULL")))
    op.create_table("invoices", sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
                    sa.Column("user_id", sa.BigInteger,
                              sa.ForeignKey("users.id", ondelete="RESTRICT"), nullable=False))


def downgrade() -> None:
    for name in ("invoices", "likes", "posts", "users"):
        op.drop_table(name)
"""

# posts is touched first (its keys reserved before the users'): the undo must still
# delete posts before users, which a RESTRICT key insists on.
SEED = """
_meta = sa.MetaData()
users = sa.Table("users", _meta, sa.Column("id", sa.BigInteger, primary_key=True),
                 sa.Column("username", sa.String(50), nullable=False, unique=True))
posts = sa.Table("posts", _meta, sa.Column("id", sa.BigInteger, primary_key=True),
                 sa.Column("user_id", sa.BigInteger, sa.ForeignKey("users.id"), nullable=False),
                 sa.Column("title", sa.String(100), nullable=False))


@seed(environments=["testing"], tables=[posts, users])
def upgrade(ctx: SeedContext) -> None:
    post_keys = ctx.reserve_keys(posts, 3)
    user_keys = ctx.reserve_keys(users, 3)
    ctx.bulk(users, ["id", "username"], [(k, f"user{n}") for n, k in enumerate(user_keys)])
    ctx.insert(posts, [{"id": p, "user_id": u, "title": "seeded"}
                       for p, u in zip(post_keys, user_keys)])


downgrade = upgrade.downgrade
"""


@pytest.fixture
def project(tmp_path: Path, database_url: str, monkeypatch: pytest.MonkeyPatch) -> SeedProject:
    p = SeedProject(tmp_path / "proj", database_url, monkeypatch)
    p.revision("s1", SCHEMA)
    p.revision("s2", SEED)
    return p


def _app(engine: sa.Engine, *statements: str) -> None:
    with engine.begin() as conn:
        for statement in statements:
            conn.execute(sa.text(statement))


def _users(engine: sa.Engine) -> list[str]:
    return [r[1] for r in rows(engine, "users")]


def test_restrict_keys_between_seeded_tables_are_deleted_children_first(
    project: SeedProject, engine: sa.Engine
) -> None:
    project.upgrade("head")
    _app(engine, "INSERT INTO users (username) VALUES ('app')")
    project.downgrade("s1")
    assert _users(engine) == ["app"] and rows(engine, "posts") == []


def test_every_referencing_application_row_is_listed_and_kept(
    project: SeedProject, engine: sa.Engine
) -> None:
    project.upgrade("head")
    seeded = {name: key for key, name in rows(engine, "users")}
    _app(
        engine,
        f"INSERT INTO likes (user_id) VALUES ({seeded['user0']})",
        f"INSERT INTO invoices (user_id) VALUES ({seeded['user1']})",
        f"INSERT INTO invoices (user_id) VALUES ({seeded['user2']})",
    )
    with pytest.raises(CommandError) as info:
        project.downgrade("s1")
    message = str(info.value)
    assert "invoices: 2 rows through invoices_user_id_fkey -> users (ON DELETE RESTRICT)" in message
    assert "likes: 1 rows through likes_user_id_fkey -> users (ON DELETE SET NULL)" in message
    assert len(rows(engine, "users")) == 3 and len(rows(engine, "posts")) == 3
    assert [r[1] for r in rows(engine, "likes")] == [seeded["user0"]]
    assert version(engine) == "s2"

    plan = project.cli("seeds", "plan", "s1", "--downgrade", "--json", "-x", "env=testing")
    assert plan.returncode == 0, plan.stderr
    [undo] = json.loads(plan.stdout)["outcomes"]
    assert {(b["table"], b["on_delete"], b["rows"]) for b in undo["blocked_by"]} == {
        ("invoices", "RESTRICT", 2),
        ("likes", "SET NULL", 1),
    }
    assert undo["order"] == ["posts", "users"]
    assert len(rows(engine, "users")) == 3  # the plan changed nothing

    override = database_name(engine)
    with pytest.raises(CommandError, match="refuse deletes .*invoices: 2 rows"):
        project.downgrade("s1", allow_cascade=override)
    _app(engine, "DELETE FROM invoices")  # the application moves its own rows away
    project.downgrade("s1", allow_cascade=override)
    assert rows(engine, "users") == [] and rows(engine, "posts") == []
    assert [r[1] for r in rows(engine, "likes")] == [None]  # SET NULL did what it says


CYCLE_SCHEMA = """
def upgrade() -> None:
    op.create_table("teams", sa.Column("id", sa.Integer, primary_key=True),
                    sa.Column("name", sa.String(50), nullable=False),
                    sa.Column("lead_id", sa.Integer))
    op.create_table("people", sa.Column("id", sa.Integer, primary_key=True),
                    sa.Column("name", sa.String(50), nullable=False),
                    sa.Column("team_id", sa.Integer,
                              sa.ForeignKey("teams.id", ondelete="RESTRICT"), nullable=False))
    with op.batch_alter_table("teams") as batch:
        batch.create_foreign_key("fk_teams_lead", "people", ["lead_id"], ["id"],
                                 ondelete="RESTRICT")


def downgrade() -> None:
    with op.batch_alter_table("teams") as batch:
        batch.drop_constraint("fk_teams_lead", type_="foreignkey")
    op.drop_table("people")
    op.drop_table("teams")
"""

CYCLE_SEED = """
_meta = sa.MetaData()
teams = sa.Table("teams", _meta, sa.Column("id", sa.Integer, primary_key=True),
                 sa.Column("name", sa.String(50), nullable=False),
                 sa.Column("lead_id", sa.Integer, sa.ForeignKey("people.id", name="fk_teams_lead")))
people = sa.Table("people", _meta, sa.Column("id", sa.Integer, primary_key=True),
                  sa.Column("name", sa.String(50), nullable=False),
                  sa.Column("team_id", sa.Integer, sa.ForeignKey("teams.id"), nullable=False))


@seed(environments=["testing"], tables=[people, teams])
def upgrade(ctx: SeedContext) -> None:
    ctx.load({
        people: [{"id": 1, "name": "ann", "team_id": 10}, {"id": 2, "name": "ben", "team_id": 10}],
        teams: [{"id": 10, "name": "core", "lead_id": 2}],
    })


downgrade = upgrade.downgrade
"""


@pytest.mark.parametrize("backend", ["postgresql", "sqlite"], ids=lambda n: f"backend={n}")
def test_a_cycle_is_undone_by_key_the_way_it_was_loaded(
    tmp_path: Path, database_url: str, monkeypatch: pytest.MonkeyPatch, engine: sa.Engine
) -> None:
    project = SeedProject(tmp_path / "proj", database_url, monkeypatch)
    project.revision("c1", CYCLE_SCHEMA)
    project.revision("c2", CYCLE_SEED)
    project.upgrade("head")
    assert rows(engine, "teams") == [(10, "core", 2)]
    _app(engine, "INSERT INTO teams (id, name) VALUES (99, 'app team')")
    project.downgrade("c1")
    assert rows(engine, "teams") == [(99, "app team", None)] and rows(engine, "people") == []


@pytest.fixture
def share_lock(engine: sa.Engine) -> Iterator[sa.Connection]:
    """Another session, holding whatever the test takes in its open transaction."""
    with engine.connect() as conn:
        conn.begin()
        try:
            yield conn
        finally:
            conn.rollback()


@pytest.mark.parametrize(
    "locked",
    [
        "SELECT * FROM posts WHERE title = 'post of 2' FOR SHARE",  # the first delete
        "SELECT * FROM users WHERE username = 'user1' FOR SHARE",  # the second one
    ],
    ids=["at-posts", "at-users"],
)
def test_an_undo_stopped_by_a_lock_leaves_every_sequence_ahead_of_the_rows(
    tmp_path: Path,
    database_url: str,
    monkeypatch: pytest.MonkeyPatch,
    engine: sa.Engine,
    share_lock: sa.Connection,
    locked: str,
) -> None:
    project = SeedProject(tmp_path / "proj", database_url, monkeypatch)
    project.revision("s1", SCHEMA_USERS)
    project.revision("s2", seed_users())
    project.upgrade("head")
    _app(engine, "INSERT INTO users (username, email) VALUES ('app', 'app@x')")
    # Whichever delete meets the lock, the whole undo rolls back, earlier deletes included.
    share_lock.execute(sa.text(locked))
    with pytest.raises(CommandError, match="seed s2: the undo stopped: .*lock timeout"):
        project.downgrade("s1", lock_timeout="500ms")
    share_lock.rollback()
    assert len(rows(engine, "users")) == 4 and len(rows(engine, "posts")) == 3
    # The application's next insert into every seeded table still gets a free key.
    _app(
        engine,
        "INSERT INTO users (username, email) VALUES ('app2', 'b@x')",
        "INSERT INTO posts (user_id, title) VALUES (1, 'app post')",
    )
    assert len(rows(engine, "posts")) == 4


def test_a_schema_step_behind_a_reader_fails_within_lock_timeout(
    tmp_path: Path,
    database_url: str,
    monkeypatch: pytest.MonkeyPatch,
    engine: sa.Engine,
    share_lock: sa.Connection,
) -> None:
    project = SeedProject(tmp_path / "proj", database_url, monkeypatch)
    project.revision("s1", SCHEMA_USERS)
    project.revision(
        "s2",
        """
def upgrade() -> None:
    op.add_column("users", sa.Column("nick", sa.String(20)))


def downgrade() -> None:
    op.drop_column("users", "nick")
""",
    )
    project.upgrade("head")
    share_lock.execute(sa.text("SELECT count(*) FROM users"))  # a long reader
    down = project.cli(
        "alembic", "-x", "env=testing", "-x", "lock_timeout=500ms", "downgrade", "s1"
    )
    assert down.returncode != 0
    # A schema step's own failure is one FAILED line too, not a traceback.
    assert "FAILED: the migration stopped: canceling statement due to lock timeout" in down.stdout
    assert "Traceback" not in down.stdout + down.stderr
    share_lock.rollback()
    assert version(engine) == "s2"


BIG_SEED = """
_meta = sa.MetaData()
users = sa.Table("users", _meta, sa.Column("id", sa.BigInteger, primary_key=True),
                 sa.Column("username", sa.String(50), nullable=False, unique=True),
                 sa.Column("email", sa.String(255), nullable=False))


@seed(environments=["testing"], tables=[users])
def upgrade(ctx: SeedContext) -> None:
    ctx.insert(users, [{"username": f"u{n}", "email": f"u{n}@x"} for n in range(100_000)])


downgrade = upgrade.downgrade
"""


def test_a_100k_row_keyed_undo_plans_within_a_tight_statement_timeout(
    tmp_path: Path, database_url: str, monkeypatch: pytest.MonkeyPatch, engine: sa.Engine
) -> None:
    """One ledger key row per seeded row: matched by a hash join, not a nested loop
    (which took minutes here). The timeout bounds planning and deleting alike."""
    project = SeedProject(tmp_path / "proj", database_url, monkeypatch)
    project.revision("s1", SCHEMA_USERS)
    project.revision("s2", BIG_SEED)
    project.upgrade("head")
    _app(engine, "INSERT INTO users (username, email) VALUES ('app', 'app@x')")
    project.downgrade("s1", statement_timeout="20s")
    assert [r[1] for r in rows(engine, "users")] == ["app"]
