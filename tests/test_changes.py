"""Change detection on undo: bulk-loaded rows are hashed, volatile columns are not.

Part of the engine's contract: every test runs once per backend (PostgreSQL hashes
on the server, SQLite in Python).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from alembic.util import CommandError

from seeds import ConfigurationError, seed
from seeds.runtime import ledger
from tests.helpers import database_name, rows, version
from tests.seedproject import SeedProject


@pytest.fixture
def backend(each_backend: str) -> str:
    """Every test here runs on each backend."""
    return each_backend


SCHEMA = """
_id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "users",
        sa.Column("id", _id, sa.Identity(), primary_key=True),
        sa.Column("username", sa.String(50), nullable=False, unique=True),
        sa.Column("email", sa.String(255), nullable=False),
        sa.Column("last_seen", sa.String(40)),
    )
    op.create_table(
        "devices",
        sa.Column("id", _id, sa.Identity(), primary_key=True),
        sa.Column("user_id", _id, sa.ForeignKey("users.id"), nullable=False),
        sa.Column("name", sa.String(50), nullable=False),
        sa.Column("last_seen", sa.String(40)),
    )
    op.create_index("ix_devices_user_id", "devices", ["user_id"])


def downgrade() -> None:
    op.drop_table("devices")
    op.drop_table("users")
"""

FROZEN = """
_meta = sa.MetaData()
users = sa.Table(
    "users", _meta,
    sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
    sa.Column("username", sa.String(50), nullable=False, unique=True),
    sa.Column("email", sa.String(255), nullable=False),
    sa.Column("last_seen", sa.String(40)),
)
devices = sa.Table(
    "devices", _meta,
    sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
    sa.Column("user_id", sa.BigInteger, sa.ForeignKey("users.id"), nullable=False),
    sa.Column("name", sa.String(50), nullable=False),
    sa.Column("last_seen", sa.String(40)),
)
"""


def bulk_seed(count: int = 20, volatile: str = "") -> str:
    """Users written with ensure(), their devices (``count`` per user) with bulk()."""
    declaration = f", volatile={volatile}" if volatile else ""
    return (
        FROZEN
        + f"""

@seed(environments=["production", "development"], tables=[users, devices]{declaration})
def upgrade(ctx: SeedContext) -> None:
    ctx.ensure(users, [
        {{"username": f"user{{n}}", "email": f"user{{n}}@example.com", "last_seen": None}}
        for n in range(3)
    ], key=["username"])
    owners = ctx.connection.execute(sa.select(users.c.id).order_by(users.c.id)).scalars().all()
    keys = ctx.reserve_keys(devices, {count} * len(owners))
    ctx.bulk(devices, ["id", "user_id", "name", "last_seen"], (
        (key, owners[n % len(owners)], f"device{{n}}", "2026-01-01")
        for n, key in enumerate(keys)
    ))


downgrade = upgrade.downgrade
"""
    )


@pytest.fixture
def project(tmp_path: Path, database_url: str, monkeypatch: pytest.MonkeyPatch) -> SeedProject:
    p = SeedProject(tmp_path / "proj", database_url, monkeypatch)
    p.revision("s1", SCHEMA)
    return p


def _execute(engine: sa.Engine, statement: str, **params: Any) -> None:
    with engine.begin() as conn:
        conn.execute(sa.text(statement), params)


def _device_keys(engine: sa.Engine) -> list[int]:
    return [row[0] for row in rows(engine, "devices")]


# -- bulk rows ------------------------------------------------------------------------
def test_bulk_row_changed_in_production_is_refused_until_allowed(
    project: SeedProject, engine: sa.Engine
) -> None:
    project.revision("s2", bulk_seed())
    project.upgrade("head", env="production")
    keys = _device_keys(engine)
    assert len(keys) == 60
    _execute(
        engine, "UPDATE devices SET name = 'renamed' WHERE id IN (:a, :b)", a=keys[3], b=keys[7]
    )
    db = database_name(engine)
    with pytest.raises(CommandError) as info:
        project.downgrade("s1", env="production", allow_unsafe=db)
    assert "changed since (devices: 2)" in str(info.value)
    assert f"-x allow_changed={db}" in str(info.value)
    assert version(engine) == "s2" and len(rows(engine, "devices")) == 60
    project.downgrade("s1", env="production", allow_unsafe=db, allow_changed=db)
    assert version(engine) == "s1"
    assert rows(engine, "devices") == [] and rows(engine, "users") == []


def test_bulk_row_changed_outside_production_is_deleted_with_a_warning(
    project: SeedProject, engine: sa.Engine, caplog: pytest.LogCaptureFixture
) -> None:
    project.revision("s2", bulk_seed())
    project.upgrade("head", env="development")
    _execute(engine, "UPDATE devices SET name = 'renamed' WHERE id = :k", k=_device_keys(engine)[0])
    project.downgrade("s1", env="development")
    assert rows(engine, "devices") == []
    assert "changed since they were seeded (devices: 1)" in caplog.text


def test_bulk_rows_the_seed_left_alone_are_not_changes(
    project: SeedProject, engine: sa.Engine
) -> None:
    """Every bulk row is hashed once; the application's own rows are not the seed's."""
    project.revision("s2", bulk_seed())
    project.upgrade("head", env="production")
    _execute(engine, "INSERT INTO users (username, email) VALUES ('app', 'app@example.com')")
    with engine.connect() as conn:
        record = ledger.Ledger.on(conn).latest("s2")
        assert record is not None
        devices = record.undo["tables"][1]
        assert devices["bulk"] and devices["hashed"] == ["user_id", "name", "last_seen"]
        h = ledger.ledger_hashes.c
        [packed] = conn.scalars(sa.select(h.hashes).where(h.table_name == "devices"))
        assert len(packed) == 60 and None not in packed  # every key's row was hashed
    db = database_name(engine)
    project.downgrade("s1", env="production", allow_unsafe=db)
    assert [r[1] for r in rows(engine, "users")] == ["app"]
    assert rows(engine, "devices") == []


# -- volatile columns -----------------------------------------------------------------
VOLATILE = '{"users": ["last_seen"], "devices": ["last_seen"]}'


def test_volatile_columns_updated_by_the_application_are_not_changes(
    project: SeedProject, engine: sa.Engine
) -> None:
    project.revision("s2", bulk_seed(volatile=VOLATILE))
    project.upgrade("head", env="production")
    # A login: the application stamps last_seen on seeded users and their devices.
    _execute(engine, "UPDATE users SET last_seen = '2026-05-01T10:00'")
    _execute(engine, "UPDATE devices SET last_seen = '2026-05-01T10:00'")
    with engine.connect() as conn:
        record = ledger.Ledger.on(conn).latest("s2")
    assert record is not None
    recorded = {t["name"]: (t["hashed"], t["volatile"]) for t in record.undo["tables"]}
    assert recorded == {
        "users": (["username", "email"], ["last_seen"]),
        "devices": (["user_id", "name"], ["last_seen"]),
    }
    project.downgrade("s1", env="production", allow_unsafe=database_name(engine))
    assert version(engine) == "s1"
    assert rows(engine, "users") == [] and rows(engine, "devices") == []


@pytest.mark.parametrize(
    ("statement", "summary"),
    [
        ("UPDATE users SET email = 'moved@example.com' WHERE username = 'user1'", "users: 1"),
        ("UPDATE devices SET name = 'renamed' WHERE name = 'device4'", "devices: 1"),
    ],
    ids=["inserted-row", "bulk-row"],
)
def test_a_non_volatile_column_of_the_same_table_is_still_a_change(
    project: SeedProject, engine: sa.Engine, statement: str, summary: str
) -> None:
    project.revision("s2", bulk_seed(volatile=VOLATILE))
    project.upgrade("head", env="production")
    _execute(engine, "UPDATE users SET last_seen = '2026-05-01T10:00'")
    _execute(engine, "UPDATE devices SET last_seen = '2026-05-01T10:00'")
    _execute(engine, statement)
    with pytest.raises(CommandError) as info:
        project.downgrade("s1", env="production", allow_unsafe=database_name(engine))
    assert f"changed since ({summary})" in str(info.value)
    assert version(engine) == "s2"


def test_adopted_rows_leave_volatile_columns_out_of_their_hash(
    project: SeedProject, engine: sa.Engine
) -> None:
    project.revision(
        "s2",
        FROZEN
        + """

@seed(environments=["production"], tables=[users], volatile={"users": ["last_seen"]})
def upgrade(ctx: SeedContext) -> None:
    ctx.connection.execute(sa.insert(users).values(username="orm", email="orm@example.com"))
    key = ctx.connection.scalar(sa.select(users.c.id).where(users.c.username == "orm"))
    ctx.adopt(users, [(key,)])


downgrade = upgrade.downgrade
""",
    )
    project.upgrade("head", env="production")
    _execute(engine, "UPDATE users SET last_seen = '2026-05-01T10:00'")
    project.downgrade("s1", env="production", allow_unsafe=database_name(engine))
    assert rows(engine, "users") == []


_TABLE = sa.Table(
    "users",
    sa.MetaData(),
    sa.Column("id", sa.BigInteger, primary_key=True),
    sa.Column("last_seen", sa.String(40)),
)


@pytest.mark.parametrize(
    ("volatile", "expected"),
    [
        ({"accounts": ["last_seen"]}, "names table 'accounts', which is not among tables=[users]"),
        ({"users": ["last_login"]}, "names column users.last_login, which table users does not"),
        ({"users": ["id"]}, "names column users.id, part of the primary key"),
        ({"users": "last_seen"}, "is the string 'last_seen'; give a list of column names"),
    ],
    ids=["unknown-table", "unknown-column", "key-column", "string-not-list"],
)
def test_volatile_names_are_checked_at_declaration(
    backend: str, volatile: dict[str, Any], expected: str
) -> None:
    with pytest.raises(ConfigurationError) as info:
        seed(environments=["testing"], tables=[_TABLE], volatile=volatile)
    assert expected in str(info.value)


# -- the plan ---------------------------------------------------------------------------
def _plan(project: SeedProject, *args: str) -> str:
    result = project.cli("seeds", "plan", "s1", "--downgrade", *args, APP_ENV="development")
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def _twelve_devices_and_one_user_changed(
    project: SeedProject, engine: sa.Engine
) -> tuple[int, list[int]]:
    """Seed in development, change twelve bulk rows and one inserted row; return the
    changed user's key and the changed devices' keys."""
    project.revision("s2", bulk_seed())
    project.upgrade("head", env="development")
    changed = _device_keys(engine)[5:17]
    _execute(
        engine,
        "UPDATE devices SET name = 'renamed' WHERE id BETWEEN :a AND :b",
        a=changed[0],
        b=changed[-1],
    )
    _execute(engine, "UPDATE users SET email = 'moved@example.com' WHERE username = 'user2'")
    user2 = next(r[0] for r in rows(engine, "users") if r[1] == "user2")
    return user2, changed


@pytest.mark.requires("dry_run")
def test_plan_downgrade_json_lists_the_first_changed_keys(
    project: SeedProject, engine: sa.Engine
) -> None:
    user2, changed = _twelve_devices_and_one_user_changed(project, engine)
    [outcome] = json.loads(_plan(project, "--json"))["outcomes"]
    assert outcome["changed"] == {"users": 1, "devices": 12}
    # Twelve changed rows: the plan names the first ten by key.
    assert outcome["changed_keys"] == {"users": [[user2]], "devices": [[k] for k in changed[:10]]}


@pytest.mark.requires("dry_run")
def test_plan_downgrade_table_lists_the_first_changed_keys(
    project: SeedProject, engine: sa.Engine
) -> None:
    user2, changed = _twelve_devices_and_one_user_changed(project, engine)
    text = _plan(project)
    assert f"s2: users: 1 row changed since seeded (keys {user2})\n" in text
    shown = ", ".join(str(k) for k in changed[:10])
    assert f"s2: devices: 12 rows changed since seeded (keys first 10: {shown})\n" in text


@pytest.mark.requires("dry_run")
def test_plan_downgrade_changes_nothing(project: SeedProject, engine: sa.Engine) -> None:
    _twelve_devices_and_one_user_changed(project, engine)
    _plan(project, "--json")
    assert version(engine) == "s2"
    assert len(rows(engine, "devices")) == 60
