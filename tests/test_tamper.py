"""A tampered ledger: protection that does not rest on the stamp alone, and an undo
that checks the ledger's keys against what the run recorded before deleting anything.

Part of the engine's contract: every test runs once per backend; rendering --sql that
records inserted keys is PostgreSQL's (see ``requires``).
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic.util import CommandError

from seeds.data.pseudonyms import parse_rules
from seeds.errors import ConfigurationError, EnvironmentBlocked
from seeds.runtime import ledger
from seeds.runtime.environment import Environment
from seeds.tools.anonymize import anonymize, restamp
from tests.helpers import database_name, destructive, rows, run_cli, version
from tests.reliability import Reliability
from tests.seedproject import FROZEN_USERS, SCHEMA_USERS, SeedProject, seed_users

KEY = b"0123456789abcdef-tamper-test-key"
EMAILS = parse_rules({"users.email": "email"})


@pytest.fixture
def backend(each_backend: str) -> str:
    """Every test here runs on each backend."""
    return each_backend


@pytest.fixture
def project(tmp_path: Path, database_url: str, monkeypatch: pytest.MonkeyPatch) -> SeedProject:
    """Schema, a production seed of 3 users (s2) and a development-only seed (s3)."""
    p = SeedProject(tmp_path / "proj", database_url, monkeypatch)
    p.revision("s1", SCHEMA_USERS)
    p.revision("s2", seed_users('["production", "development"]'))
    p.revision("s3", seed_users('["development"]', count=2).replace("user{n}", "dev{n}"))
    return p


def _execute(engine: sa.Engine, statement: str) -> int:
    """Run one hand-written statement, as someone editing the ledger would."""
    with engine.begin() as conn:
        return int(conn.execute(sa.text(statement)).rowcount)


def _protection(engine: sa.Engine) -> ledger.Protection:
    with engine.connect() as conn:
        return ledger.Ledger.on(conn).protection(database_name(engine))


def _anonymize_copy(engine: sa.Engine) -> None:
    with engine.connect() as conn:
        anonymize(conn, EMAILS, KEY, mark_copy=database_name(engine))


def _event(engine: sa.Engine, kind: ledger.EventKind, environment: str, database: str) -> None:
    with engine.connect() as conn:
        ledger.Ledger.on(conn).record_event(kind, environment, database, "written by the test")
        conn.commit()


# -- protection cross-checks the stamp with the ledger's rows ------------------------------


@pytest.mark.parametrize(
    "tamper",
    [
        "DELETE FROM seed_ledger_events WHERE kind = 'stamp'",
        "UPDATE seed_ledger_events SET environment = 'development' WHERE kind = 'stamp'",
    ],
    ids=["stamp-deleted", "stamp-rewritten"],
)
def test_a_tampered_stamp_still_refuses_development_runs_and_downgrades(
    project: SeedProject,
    engine: sa.Engine,
    statements: list[str],
    reliability: Reliability,
    tamper: str,
) -> None:
    project.upgrade("s2", env="production")
    assert _execute(engine, tamper) == 1
    db = database_name(engine)
    before = set(rows(engine, "users") + rows(engine, "posts"))
    statements.clear()
    started = time.monotonic()
    with pytest.raises(CommandError) as info:
        project.downgrade("s1", env="development")
    seconds = time.monotonic() - started
    message = str(info.value)
    after = set(rows(engine, "users") + rows(engine, "posts"))
    reliability.record(
        "tampered-stamp",
        lost=len(before - after),
        leaked=len(after - before),
        seconds=seconds,
        seen=f"FAILED: {message}",
    )
    assert "marked production" in message and f"-x allow_unsafe={db}" in message
    assert "\n" not in message
    assert destructive(statements) == []
    assert version(engine) == "s2"
    assert [r[1] for r in rows(engine, "users")] == ["user0", "user1", "user2"]
    assert len(rows(engine, "posts")) == 3
    with pytest.raises(CommandError, match="refusing to run development seeds"):
        project.upgrade("head", env="development")
    assert version(engine) == "s2"
    assert [r[1] for r in rows(engine, "users")] == ["user0", "user1", "user2"]
    # A production downgrade without the override is refused as before.
    with pytest.raises(CommandError, match="refusing to downgrade"):
        project.downgrade("s1", env="production")
    assert version(engine) == "s2"


def test_undone_production_runs_keep_the_database_production(
    project: SeedProject, engine: sa.Engine
) -> None:
    project.upgrade("s2", env="production")
    project.downgrade("s1", env="production", allow_unsafe=database_name(engine))
    _execute(engine, "DELETE FROM seed_ledger_events WHERE kind = 'stamp'")
    assert [r.status for r in ledger_rows(engine)] == ["undone"]
    found = _protection(engine)
    assert found.environment is Environment.PRODUCTION
    assert "seed s2 ran under production" in found.reason
    with pytest.raises(CommandError, match="marked production"):
        project.upgrade("head", env="development")
    assert version(engine) == "s1"


def test_a_development_database_stays_unprotected(project: SeedProject, engine: sa.Engine) -> None:
    project.upgrade("head", env="development")
    assert _protection(engine).environment is Environment.DEVELOPMENT
    project.downgrade("s1", env="development")
    assert rows(engine, "users") == []


def test_an_anonymized_copy_can_be_restamped_and_then_runs_development(
    project: SeedProject, engine: sa.Engine
) -> None:
    project.upgrade("s2", env="production")
    db = database_name(engine)
    _anonymize_copy(engine)
    with engine.connect() as conn:
        report = restamp(conn, Environment.STAGING, db)
    assert report.previous is Environment.PRODUCTION
    found = _protection(engine)
    assert found.environment is Environment.STAGING
    assert "re-stamped" in found.reason
    project.upgrade("head", env="development")
    assert version(engine) == "s3"
    assert [r[1] for r in rows(engine, "users")] == ["user0", "user1", "user2", "dev0", "dev1"]
    project.downgrade("s2", env="development")
    assert version(engine) == "s2"
    # Production seeds run after the re-stamp make it production again.
    project.upgrade("head", env="production")
    assert _protection(engine).environment is Environment.PRODUCTION
    with pytest.raises(CommandError, match="marked production"):
        project.downgrade("s1", env="development")


def test_a_restamp_without_a_completed_anonymize_is_refused(
    project: SeedProject, engine: sa.Engine
) -> None:
    project.upgrade("s2", env="production")
    db = database_name(engine)
    with engine.connect() as conn, pytest.raises(EnvironmentBlocked) as info:
        restamp(conn, Environment.STAGING, db)
    assert f"seeds anonymize --mark-copy {db}" in str(info.value)
    # A copy mark alone is not enough either.
    _event(engine, ledger.EventKind.COPY, "production", db)
    with engine.connect() as conn, pytest.raises(EnvironmentBlocked):
        restamp(conn, Environment.STAGING, db)
    with engine.connect() as conn, pytest.raises(ConfigurationError, match="names another"):
        restamp(conn, Environment.STAGING, "some_other_db")
    with engine.connect() as conn:
        kinds = [row.kind for row in conn.execute(sa.select(ledger.events))]
    assert "restamp" not in kinds
    # A re-stamp event written by hand, with no anonymize after the mark, counts for nothing.
    _event(engine, ledger.EventKind.RESTAMP, "staging", db)
    assert _protection(engine).environment is Environment.PRODUCTION
    with pytest.raises(CommandError, match="marked production"):
        project.upgrade("head", env="development")
    assert version(engine) == "s2"


@pytest.mark.parametrize("order", ["anonymize-before-mark", "restamp-names-another-database"])
def test_restamps_that_do_not_follow_the_rules_count_for_nothing(
    project: SeedProject, engine: sa.Engine, order: str
) -> None:
    project.upgrade("s2", env="production")
    db = database_name(engine)
    if order == "anonymize-before-mark":
        _event(engine, ledger.EventKind.ANONYMIZE, "production", db)
        _event(engine, ledger.EventKind.COPY, "production", db)
        _event(engine, ledger.EventKind.RESTAMP, "staging", db)
    else:
        _anonymize_copy(engine)
        _event(engine, ledger.EventKind.RESTAMP, "staging", "some_other_db")
    assert _protection(engine).environment is Environment.PRODUCTION
    with pytest.raises(CommandError, match="marked production"):
        project.downgrade("s1", env="development")
    assert len(rows(engine, "users")) == 3


def test_seeds_restamp_command(project: SeedProject, engine: sa.Engine) -> None:
    project.upgrade("s2", env="production")
    db = database_name(engine)
    env = {"DATABASE_URL": project.url}
    refused = run_cli("seeds", "restamp", "staging", "--database", db, env=env)
    assert refused.returncode == 1
    assert "refusing to re-stamp" in refused.stderr and "Traceback" not in refused.stderr
    _anonymize_copy(engine)
    done = run_cli("seeds", "restamp", "staging", "--database", db, env=env)
    assert done.returncode == 0, done.stderr
    assert "now protected as staging (was production" in " ".join(done.stdout.split())
    assert _protection(engine).environment is Environment.STAGING


# -- the undo checks the ledger's keys first -----------------------------------------------


def ledger_rows(engine: sa.Engine) -> list[sa.Row[object]]:
    with engine.connect() as conn:
        return ledger.Ledger.on(conn).history()


@pytest.fixture
def seeded(project: SeedProject, engine: sa.Engine) -> SeedProject:
    """20 development users with a post each (s2), keys 1..20."""
    (project.root / "migrations" / "versions" / "s2.py").write_text(
        (project.root / "migrations" / "versions" / "s2.py")
        .read_text()
        .replace("range(3)", "range(20)")
    )
    project.upgrade("s2", env="development")
    assert len(rows(engine, "users")) == 20
    return project


def test_a_run_records_its_key_counts_and_checksums(seeded: SeedProject, engine: sa.Engine) -> None:
    [record] = ledger_rows(engine)
    recorded = record.undo[ledger.RECORDED]
    # The sum is twice the sum of the integer keys: 2 * (1 + ... + 20).
    assert recorded["users"]["count"] == recorded["posts"]["count"] == 20
    assert recorded["users"]["sum"] == recorded["posts"]["sum"] == 20 * 21
    assert recorded["users"]["checksum"] == 0  # no composite keys
    seeded.downgrade("s1", env="development")
    assert rows(engine, "users") == [] and rows(engine, "posts") == []


@pytest.mark.parametrize(
    ("tamper", "expected", "found"),
    [
        (
            "DELETE FROM seed_ledger_keys WHERE table_name = 'users' AND first_key > 10",
            "count 20",
            "count 10",
        ),
        (
            "UPDATE seed_ledger_keys SET last_key = last_key - 1 WHERE table_name = 'users'",
            "count 20",
            "count 0",
        ),
        (
            "UPDATE seed_ledger_keys SET first_key = first_key + 100, last_key = last_key + 100 "
            "WHERE table_name = 'users' AND first_key = 20",
            "sum 420",
            "sum 620",
        ),
        (
            "INSERT INTO seed_ledger_keys (ledger_id, table_name, first_key, last_key) "
            "SELECT ledger_id, table_name, 1000, 1000 FROM seed_ledger_keys "
            "WHERE table_name = 'users' AND first_key = 1",
            "count 20",
            "count 21",
        ),
    ],
    ids=["keys-deleted", "ranges-shortened", "range-moved", "key-added"],
)
def test_a_tampered_key_ledger_refuses_the_undo_and_deletes_nothing(
    seeded: SeedProject,
    engine: sa.Engine,
    statements: list[str],
    tamper: str,
    expected: str,
    found: str,
) -> None:
    assert _execute(engine, tamper) >= 1
    statements.clear()
    with pytest.raises(CommandError) as info:
        seeded.downgrade("s1", env="development")
    message = str(info.value)
    assert "seed s2:" in message and "table users" in message
    recorded, now = message.split("; found ", 1)
    assert expected in recorded.split("(recorded ", 1)[1] and found in now
    assert "restore seed_ledger_keys" in message and "\n" not in message
    assert destructive(statements) == []
    assert version(engine) == "s2"
    assert len(rows(engine, "users")) == 20 and len(rows(engine, "posts")) == 20
    assert [r.status for r in ledger_rows(engine)] == ["applied"]


def test_a_tampered_key_ledger_refuses_a_production_downgrade_with_the_override(
    project: SeedProject, engine: sa.Engine
) -> None:
    """The measured case: a production database, the override given, ten keys deleted."""
    (project.root / "migrations" / "versions" / "s2.py").write_text(
        (project.root / "migrations" / "versions" / "s2.py")
        .read_text()
        .replace("range(3)", "range(20)")
    )
    project.upgrade("s2", env="production")
    _execute(engine, "DELETE FROM seed_ledger_keys WHERE table_name = 'users' AND first_key > 10")
    with pytest.raises(CommandError, match=r"table users .*recorded count 20.*found count 10"):
        project.downgrade("s1", env="production", allow_unsafe=database_name(engine))
    assert len(rows(engine, "users")) == 20 and version(engine) == "s2"


def test_the_command_line_downgrade_fails_with_one_line(
    seeded: SeedProject, engine: sa.Engine, reliability: Reliability
) -> None:
    _execute(engine, "DELETE FROM seed_ledger_keys WHERE table_name = 'posts' AND first_key <= 5")
    env = {"DATABASE_URL": seeded.url, "APP_ENV": "development"}
    before = set(rows(engine, "users") + rows(engine, "posts"))
    started = time.monotonic()
    result = run_cli("alembic", "downgrade", "s1", env=env, cwd=seeded.root)
    seconds = time.monotonic() - started
    assert result.returncode != 0
    assert "Traceback" not in result.stdout + result.stderr
    assert "FAILED: seed s2: the ledger's keys of table posts" in result.stdout
    assert len(rows(engine, "posts")) == 20
    [failed] = [line for line in result.stdout.splitlines() if line.startswith("FAILED:")]
    after = set(rows(engine, "users") + rows(engine, "posts"))
    reliability.record(
        "tampered-ledger-keys",
        lost=len(before - after),
        leaked=len(after - before),
        seconds=seconds,
        seen=failed,
    )


def test_a_ledger_closed_before_key_counts_is_undone_as_before(
    seeded: SeedProject, engine: sa.Engine
) -> None:
    """Runs recorded before the counts existed have no ``recorded``: nothing to compare."""
    [record] = ledger_rows(engine)
    undo = {k: v for k, v in record.undo.items() if k != ledger.RECORDED}
    with engine.begin() as conn:
        conn.execute(ledger.ledger.update().values(undo=undo))
    seeded.downgrade("s1", env="development")
    assert rows(engine, "users") == []


COMPOSITE = """
_meta = sa.MetaData()
tags = sa.Table(
    "tags", _meta,
    sa.Column("owner", sa.Integer, primary_key=True),
    sa.Column("name", sa.String(20), primary_key=True),
)


def upgrade() -> None:
    op.create_table(
        "tags",
        sa.Column("owner", sa.Integer, primary_key=True),
        sa.Column("name", sa.String(20), primary_key=True),
    )


def downgrade() -> None:
    op.drop_table("tags")
"""

COMPOSITE_SEED = """
_meta = sa.MetaData()
tags = sa.Table(
    "tags", _meta,
    sa.Column("owner", sa.Integer, primary_key=True),
    sa.Column("name", sa.String(20), primary_key=True),
)


@seed(environments=["development"], tables=[tags])
def upgrade(ctx: SeedContext) -> None:
    ctx.insert(tags, [{"owner": n % 3, "name": f"tag{n}"} for n in range(6)])


downgrade = upgrade.downgrade
"""


def test_an_edited_composite_key_is_caught_by_its_checksum(
    tmp_path: Path, database_url: str, monkeypatch: pytest.MonkeyPatch, engine: sa.Engine
) -> None:
    p = SeedProject(tmp_path / "composite", database_url, monkeypatch)
    p.revision("c1", COMPOSITE)
    p.revision("c2", COMPOSITE_SEED)
    p.upgrade("head", env="development")
    [record] = ledger_rows(engine)
    assert record.undo[ledger.RECORDED]["tags"]["count"] == 6
    assert record.undo[ledger.RECORDED]["tags"]["checksum"] > 0
    keys = ledger.ledger_keys
    with engine.begin() as conn:
        first = conn.execute(sa.select(keys.c.key).limit(1)).scalar_one()
        # Same number of keys, one of them now names a row the seed never wrote.
        conn.execute(keys.update().where(keys.c.key == first).values(key=[first[0], "other"]))
    with pytest.raises(CommandError, match=r"table tags .*recorded count 6.*checksum"):
        p.downgrade("c1", env="development")
    assert len(rows(engine, "tags")) == 6


def test_a_bulk_range_shortened_by_one_is_caught(
    project: SeedProject, engine: sa.Engine, statements: list[str]
) -> None:
    bulk = project.root / "migrations" / "versions" / "s2.py"
    bulk.write_text(
        bulk.read_text().split("_meta =")[0]
        + FROZEN_USERS.split("\n", 1)[1]
        + """

@seed(environments=["development"], tables=[users])
def upgrade(ctx: SeedContext) -> None:
    keys = ctx.reserve_keys(users, 30)
    ctx.bulk(users, ["id", "username", "email"],
             ((key, f"bulk{key}", f"bulk{key}@example.com") for key in keys))


downgrade = upgrade.downgrade
"""
    )
    project.upgrade("s2", env="development")
    keys = ledger.ledger_keys
    with engine.connect() as conn:
        ranges = sa.select(sa.func.count()).where(keys.c.last_key.is_not(None))
        assert conn.scalar(ranges) == 1  # one range (plus a hash row per bulk row)
    shorten = "UPDATE seed_ledger_keys SET last_key = last_key - 1 WHERE last_key IS NOT NULL"
    assert _execute(engine, shorten) == 1
    statements.clear()
    with pytest.raises(CommandError, match=r"table users .*recorded count 30.*found count 29"):
        project.downgrade("s1", env="development")
    assert destructive(statements) == []
    assert len(rows(engine, "users")) == 30


OFFLINE_SEED = (
    FROZEN_USERS
    + """

@seed(environments=["production"], tables=[users])
def upgrade(ctx: SeedContext) -> None:
    ctx.insert(users, [{"username": f"user{n}", "email": f"u{n}@example.com"} for n in range(4)])


downgrade = upgrade.downgrade
"""
)


@pytest.mark.requires("offline_inserts")
def test_offline_sql_records_key_counts_when_it_runs(
    tmp_path: Path, database_url: str, monkeypatch: pytest.MonkeyPatch, engine: sa.Engine
) -> None:
    """The --sql text computes the counts when it runs, and renders the same every time."""
    p = SeedProject(tmp_path / "offline", database_url, monkeypatch)
    p.revision("s1", SCHEMA_USERS)
    p.revision("s2", OFFLINE_SEED)
    env = {"DATABASE_URL": p.url, "APP_ENV": "production"}
    first = run_cli("alembic", "upgrade", "head", "--sql", env=env, cwd=p.root)
    second = run_cli("alembic", "upgrade", "head", "--sql", env=env, cwd=p.root)
    assert first.returncode == 0, first.stderr
    assert first.stdout == second.stdout
    assert '"recorded": {' in first.stdout
    with engine.connect() as conn:
        conn.exec_driver_sql(first.stdout)
        conn.commit()
    [record] = ledger_rows(engine)
    assert record.undo[ledger.RECORDED]["users"] == {"checksum": 0, "count": 4, "sum": 20}
    assert _protection(engine).environment is Environment.PRODUCTION
    db = database_name(engine)
    _execute(engine, "DELETE FROM seed_ledger_keys WHERE first_key = 4")
    with pytest.raises(CommandError, match=r"table users .*recorded count 4.*found count 3"):
        p.downgrade("s1", env="production", allow_unsafe=db)
    assert len(rows(engine, "users")) == 4


def test_seeds_verify_finds_a_tampered_key_ledger_before_any_undo(
    seeded: SeedProject, engine: sa.Engine
) -> None:
    clean = seeded.cli("seeds", "verify", APP_ENV="development")
    assert clean.returncode == 0 and "ok   ledger keys intact" in clean.stdout, clean.stdout
    _execute(engine, "DELETE FROM seed_ledger_keys WHERE table_name = 'users' AND first_key > 10")
    damaged = seeded.cli("seeds", "verify", APP_ENV="development")
    assert damaged.returncode == 1
    assert "FAIL ledger keys intact" in damaged.stdout
    assert "seed s2:" in damaged.stdout and "table users" in damaged.stdout
