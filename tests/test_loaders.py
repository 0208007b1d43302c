"""Loaders: bulk COPY with keys assigned first, validation before insert, timing report."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic.util import CommandError

from seeds.dialects.base import hash_number
from seeds.runtime import ledger
from seeds.runtime.ledger.tables import HASH_BLOCK
from tests.helpers import rows, run_cli, version
from tests.seedproject import FROZEN_USERS, SCHEMA_USERS, SeedProject

BULK_SEED = (
    FROZEN_USERS
    + """
from seeds.data.factories import Factory, Lazy, Sequence


class People(Factory):
    table = "users"
    username = Sequence("bulk{n}")
    email = Lazy(lambda r: f"{r['username']}@example.com")


@seed(environments=["development"], tables=[users, posts])
def upgrade(ctx: SeedContext) -> None:
    count = ctx.setting("users", 10)
    keys = ctx.reserve_keys(users, count)
    # A generator end to end: rows are built while COPY streams them, never all
    # in memory, and no ORM session holds them either.
    people = People.iter_batch(count, seed=ctx.parameters.seed)
    ctx.bulk(users, ["id", "username", "email"],
             ((key, p["username"], p["email"]) for key, p in zip(keys, people)))
    post_keys = ctx.reserve_keys(posts, count)
    ctx.bulk(posts, ["id", "user_id", "title"],
             ((pk, uk, "hello") for pk, uk in zip(post_keys, keys)))


downgrade = upgrade.downgrade
"""
)


@pytest.fixture
def project(tmp_path: Path, database_url: str, monkeypatch: pytest.MonkeyPatch) -> SeedProject:
    p = SeedProject(tmp_path / "proj", database_url, monkeypatch)
    p.revision("s1", SCHEMA_USERS)
    return p


def test_bulk_copy_with_reserved_keys_records_ranges_and_undoes(
    project: SeedProject, engine: sa.Engine
) -> None:
    project.revision("s2", BULK_SEED)
    project.upgrade("head", env="development", users="50000")
    with engine.connect() as conn:
        assert conn.scalar(sa.text("SELECT count(*) FROM users")) == 50_000
        assert (
            conn.scalar(sa.text("SELECT count(*) FROM posts p JOIN users u ON u.id = p.user_id"))
            == 50_000
        )
        # 50,000 consecutive keys per table are one range row each (the key set the
        # undo counts and deletes by) and no row per key: the rows' hashes are packed
        # into blocks of HASH_BLOCK keys, one 64-bit number a row, in key order.
        keys, hashes = ledger.ledger_keys, ledger.ledger_hashes
        assert conn.scalar(sa.select(sa.func.count()).select_from(keys)) == 2
        blocks = conn.execute(
            sa.select(hashes.c.table_name, hashes.c.first_key, hashes.c.last_key, hashes.c.hashes)
        ).all()
        per_table = -(-50_000 // HASH_BLOCK)
        assert sorted(b.table_name for b in blocks) == ["posts"] * per_table + ["users"] * per_table
        assert all(len(b.hashes) == b.last_key - b.first_key + 1 for b in blocks)
        assert sum(len(b.hashes) for b in blocks) == 100_000
        assert all(None not in b.hashes for b in blocks)
        # The number at a key's place is the first 64 bits of the server's row hash.
        first = min((b for b in blocks if b.table_name == "users"), key=lambda b: b.first_key)
        row_hash = conn.scalar(
            sa.text(
                "SELECT md5(json_build_array(username, email)::text) FROM users WHERE id = :id"
            ),
            {"id": first.first_key},
        )
        assert first.hashes[0] == hash_number(row_hash)
        record = ledger.Ledger.on(conn).latest("s2")
    assert record is not None
    assert record.row_counts == {"users": 50_000, "posts": 50_000}
    with engine.begin() as conn:  # the application adds a row: it must survive
        conn.execute(sa.text("INSERT INTO users (username, email) VALUES ('app', 'a@x')"))
    project.downgrade("s1", env="development")
    assert [r[1] for r in rows(engine, "users")] == ["app"]
    assert rows(engine, "posts") == []


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (
            'ctx.insert(users, [{"username": "x" * 51, "email": "e@x"}])',
            "row 0 column username: value of 51 characters exceeds the column's 50",
        ),
        (
            'ctx.insert(users, [{"username": "a", "email": "e@x", "nick": "n"}])',
            "row 0 column nick: no such column(s) ['nick']",
        ),
        (
            'ctx.insert(users, [{"username": "a", "email": "1"}, {"username": "a", "email": "2"}])',
            "row 1 column username: duplicates row 0 on unique ['username']",
        ),
        (
            'ctx.insert(users, [{"username": "a", "email": "1"}, {"username": "b"}])',
            "row 1: sets columns ['username'] but row 0 sets ['email', 'username']",
        ),
        ('ctx.insert("nope", [{"id": 1}])', "table nope: is not declared by this seed revision"),
    ],
    ids=["too-long", "unknown-column", "duplicate-in-batch", "ragged-rows", "undeclared-table"],
)
def test_validation_names_row_column_and_fix(
    project: SeedProject, engine: sa.Engine, body: str, expected: str
) -> None:
    project.revision(
        "s2",
        FROZEN_USERS
        + f"""

@seed(environments=["testing"], tables=[users, posts])
def upgrade(ctx: SeedContext) -> None:
    {body}


downgrade = upgrade.downgrade
""",
    )
    with pytest.raises(CommandError) as info:
        project.upgrade("head", env="testing")
    assert expected in str(info.value)
    assert version(engine) == "s1"
    assert rows(engine, "users") == []


def test_plan_reports_rows_per_second(project: SeedProject) -> None:
    project.revision("s2", BULK_SEED)
    result = run_cli(
        "seeds",
        "plan",
        "-x",
        "users=2000",
        "--json",
        env={"DATABASE_URL": project.url, "APP_ENV": "development"},
        cwd=project.root,
    )
    assert result.returncode == 0, result.stderr
    [outcome] = json.loads(result.stdout)["outcomes"]
    assert outcome["rows"] == {"users": 2000, "posts": 2000}
    assert outcome["rows_per_second"]["users"] > 0
