"""The engine on SQLite: a small non-spatial chain, the contract rules that apply there.

A real SQLite file per test, no PostgreSQL (``database_url`` is overridden below).
What differs from PostgreSQL, and is proved here: undo is always the keyed DELETE
(no TRUNCATE); foreign keys are enforced only because the engine switches them on
for a seed's own work, and back off for schema revisions (Alembic's batch mode needs
them off); keys come back on up, down, up through max(key) + 1, or through
``sqlite_sequence`` for AUTOINCREMENT tables; constraint errors name the row although
SQLite's messages do not; ``--sql`` refuses seeds that insert.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic.util import CommandError

from seeds.runtime import ledger
from tests.helpers import destructive, ledger_rows, rows, run_cli, version
from tests.seedproject import FROZEN_USERS, SeedProject, seed_users

# The PostgreSQL chain's schema, made portable: SQLite auto-assigns keys only to an
# INTEGER PRIMARY KEY (a BIGINT one would stay NULL), hence the variant.
SCHEMA_USERS_SQLITE = """
_id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "users",
        sa.Column("id", _id, primary_key=True),
        sa.Column("username", sa.String(50), nullable=False, unique=True),
        sa.Column("email", sa.String(255), nullable=False),
    )
    op.create_table(
        "posts",
        sa.Column("id", _id, primary_key=True),
        sa.Column("user_id", _id, sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
        sa.Column("title", sa.String(100), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("posts")
    op.drop_table("users")
"""


@pytest.fixture
def database_url(tmp_path: Path) -> str:
    """A new SQLite file per test. Overrides conftest's PostgreSQL database, so its
    ``engine`` and ``statements`` fixtures work on this file and no server is needed."""
    return f"sqlite:///{tmp_path / 'db.sqlite'}"


@pytest.fixture
def project(tmp_path: Path, database_url: str, monkeypatch: pytest.MonkeyPatch) -> SeedProject:
    p = SeedProject(tmp_path / "proj", database_url, monkeypatch)
    p.revision("s1", SCHEMA_USERS_SQLITE)
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
    assert len(entry.source_checksum) == 64 and len(entry.data_checksum) == 64
    assert [t["name"] for t in entry.undo["tables"]] == ["users", "posts"]
    with engine.connect() as conn:
        keys = conn.execute(sa.select(ledger.ledger_keys.c.table_name, ledger.ledger_keys.c.key))
        assert sorted(keys) == [
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


def test_downgrade_deletes_exactly_the_seeded_rows(
    project: SeedProject, engine: sa.Engine, statements: list[str]
) -> None:
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
    ]
    assert [r[1] for r in rows(engine, "users")] == ["app", "late"]
    assert rows(engine, "posts") == []
    with engine.connect() as conn:
        assert conn.scalar(sa.select(sa.func.count()).select_from(ledger.ledger_keys)) == 0
    assert ledger_rows(engine)[0].status == "undone"


def test_downgrade_cascades_like_the_foreign_key_says(
    project: SeedProject, engine: sa.Engine
) -> None:
    """Rule 6: the seed's rows plus what the foreign keys cascade from them."""
    project.revision("s2", seed_users())
    project.upgrade("head")
    with engine.begin() as conn:  # an application row hanging off a seeded user
        conn.execute(sa.text("INSERT INTO posts (user_id, title) VALUES (1, 'app post')"))
    project.downgrade("s1")
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


def test_downgrade_refuses_to_orphan_application_rows(
    project: SeedProject, engine: sa.Engine
) -> None:
    """A plain (NO ACTION) foreign key from an application row stops the undo whole."""
    project.revision("s2", COMMENTS)
    project.revision("s3", seed_users())
    project.upgrade("head")
    with engine.begin() as conn:
        conn.execute(sa.text("INSERT INTO comments (user_id) VALUES (2)"))
    with pytest.raises(CommandError) as info:
        project.downgrade("s2")
    assert "seed s3: cannot delete its rows from users: FOREIGN KEY constraint failed" in str(
        info.value
    )
    assert version(engine) == "s3"
    assert len(rows(engine, "users")) == 3 and len(rows(engine, "posts")) == 3
    assert ledger_rows(engine)[0].status == "applied"


@pytest.mark.parametrize("autoincrement", [False, True], ids=["rowid", "autoincrement"])
def test_up_down_up_gives_identical_rows_and_keys(
    tmp_path: Path,
    database_url: str,
    monkeypatch: pytest.MonkeyPatch,
    engine: sa.Engine,
    autoincrement: bool,
) -> None:
    project = SeedProject(tmp_path / "proj", database_url, monkeypatch)
    schema = SCHEMA_USERS_SQLITE
    if autoincrement:  # keys never reused: the engine restores sqlite_sequence
        schema = schema.replace(
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
    post through ON DELETE CASCADE. It also proves rule 4 on SQLite: the seed replays
    on an empty database after a later revision changed its table.
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
            "seed s2: table users row 1 column email: is NOT NULL",
        ),
        (  # duplicate of an existing row: SQLite's refusal, explained
            'ctx.insert(users, [{"username": "ok", "email": "o@x"}, '
            '{"username": "taken", "email": "t@x"}])',
            "seed s2: table users row 1 column username: UNIQUE constraint failed: "
            "users.username (username='taken' already exists); the row already exists",
        ),
        (  # a dangling foreign key: refused because the engine enforces foreign keys
            'ctx.insert(posts, [{"user_id": 1, "title": "fine"}, '
            '{"user_id": 999999, "title": "orphan"}])',
            "seed s2: table posts row 1 column user_id: FOREIGN KEY constraint failed "
            "(user_id=999999 has no row in users(id)); seed the referenced row first",
        ),
    ],
    ids=["not-null", "duplicate", "dangling-fk"],
)
def test_a_failing_seed_leaves_nothing_and_names_the_row(
    project: SeedProject, engine: sa.Engine, body: str, expected: str
) -> None:
    project.revision("s2", FAILING.format(body=body))
    project.upgrade("s1")
    with engine.begin() as conn:
        conn.execute(sa.text("INSERT INTO users (username, email) VALUES ('taken', 't@x')"))
    with pytest.raises(CommandError) as info:
        project.upgrade("head")
    assert expected in str(info.value)
    assert [r[1] for r in rows(engine, "users")] == ["taken"]
    assert rows(engine, "posts") == []
    assert version(engine) == "s1"
    with engine.connect() as conn:
        assert not ledger.exists(conn) or ledger.history(conn) == []


ENSURE = (
    FROZEN_USERS
    + """

@seed(environments=["production", "testing"], tables=[users])
def upgrade(ctx: SeedContext) -> None:
    ctx.ensure(users, [
        {"username": "admin", "email": "admin@example.org"},
        {"username": "ops", "email": "ops@example.org"},
    ], key=["username"])


downgrade = upgrade.downgrade
"""
)


def test_reserved_keys_do_not_overlap_before_they_are_written(
    project: SeedProject, engine: sa.Engine
) -> None:
    # Without a sequence, max(id) cannot see keys handed out but not yet written.
    project.revision(
        "s2",
        FROZEN_USERS
        + """

@seed(environments=["testing"], tables=[users, posts])
def upgrade(ctx: SeedContext) -> None:
    first = ctx.reserve_keys(users, 2)
    second = ctx.reserve_keys(users, 2)
    rows = [{"id": k, "username": f"u{k}", "email": f"{k}@x"} for k in first + second]
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


class TestProtection:
    """A database first seeded as production guards itself on SQLite too."""

    @pytest.fixture
    def project(self, project: SeedProject) -> SeedProject:
        project.revision("s2", seed_users('["production", "development"]'))
        project.revision("s3", seed_users('["development"]', count=2).replace("user{n}", "dev{n}"))
        return project

    def test_database_name_is_the_url_path(self, project: SeedProject, engine: sa.Engine) -> None:
        project.upgrade("s2", env="production")
        with engine.connect() as conn:
            assert ledger.read_stamp(conn) == "production"
            [stamp] = conn.execute(sa.select(ledger.events.c.database)).scalars()
        assert stamp == engine.url.database and stamp.endswith("db.sqlite")

    def test_development_run_is_refused(self, project: SeedProject, engine: sa.Engine) -> None:
        project.upgrade("s2", env="production")
        with pytest.raises(CommandError) as info:
            project.upgrade("head", env="development")
        message = str(info.value)
        assert "marked production" in message
        assert f"-x allow_unsafe={engine.url.database}" in message
        assert version(engine) == "s2"
        assert [r[1] for r in rows(engine, "users")] == ["user0", "user1", "user2"]
        with pytest.raises(CommandError, match="names another database"):
            project.upgrade("head", env="development", allow_unsafe="db.sqlite")
        project.upgrade("head", env="development", allow_unsafe=engine.url.database)
        assert version(engine) == "s3"

    def test_any_downgrade_is_refused_without_override(
        self, project: SeedProject, engine: sa.Engine, statements: list[str]
    ) -> None:
        project.upgrade("s2", env="production")
        statements.clear()
        with pytest.raises(CommandError) as info:
            project.downgrade("s1", env="production")
        assert "refusing to downgrade" in str(info.value)
        assert destructive(statements) == []
        assert version(engine) == "s2"
        project.downgrade("s1", env="production", allow_unsafe=engine.url.database)
        assert version(engine) == "s1"
        assert rows(engine, "users") == []
        with engine.connect() as conn:
            events = [(r.kind, r.detail) for r in conn.execute(sa.select(ledger.events))]
        assert any(kind == "override" and "downgrade" in detail for kind, detail in events)

    def test_changed_rows_are_never_deleted_silently(
        self, project: SeedProject, engine: sa.Engine
    ) -> None:
        """Row hashes are computed in Python on SQLite: at seed time and at undo time."""
        project.upgrade("s2", env="production")
        with engine.begin() as conn:
            conn.execute(sa.text("UPDATE users SET email = 'c@x.io' WHERE username = 'user1'"))
        db = engine.url.database
        with pytest.raises(CommandError) as info:
            project.downgrade("s1", env="production", allow_unsafe=db)
        assert "changed since (users: 1)" in str(info.value)
        assert len(rows(engine, "users")) == 3
        project.downgrade("s1", env="production", allow_unsafe=db, allow_changed=db)
        assert rows(engine, "users") == [] and rows(engine, "posts") == []
