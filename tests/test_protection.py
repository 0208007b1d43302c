"""Protected environments, the override, changed rows, the deploy lock.

Part of the engine's contract: every test runs once per backend; the deploy lock and
--sql output that records inserted keys are PostgreSQL's (see ``requires``).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic.util import CommandError

from seeds.runtime import ledger
from tests.helpers import database_name, destructive, ledger_rows, rows, run_cli, version
from tests.seedproject import SCHEMA_USERS, SeedProject, seed_users


@pytest.fixture
def backend(each_backend: str) -> str:
    """Every test here runs on each backend."""
    return each_backend


def _project(root: Path, url: str, monkeypatch: pytest.MonkeyPatch) -> SeedProject:
    p = SeedProject(root, url, monkeypatch)
    p.revision("s1", SCHEMA_USERS)
    p.revision("s2", seed_users('["production", "development"]'))
    p.revision("s3", seed_users('["development"]', count=2).replace("user{n}", "dev{n}"))
    return p


@pytest.fixture
def project(tmp_path: Path, database_url: str, monkeypatch: pytest.MonkeyPatch) -> SeedProject:
    return _project(tmp_path / "proj", database_url, monkeypatch)


@pytest.fixture
def offline_project(tmp_path: Path, backend: str, monkeypatch: pytest.MonkeyPatch) -> SeedProject:
    """The same project on a URL that --sql never connects to, so no database is made."""
    urls = {
        "postgresql": "postgresql://nowhere.invalid/db",
        "sqlite": f"sqlite:///{tmp_path / 'never-created.sqlite'}",
    }
    return _project(tmp_path / "proj", urls[backend], monkeypatch)


def _events(engine: sa.Engine) -> list[tuple[str, str]]:
    with engine.connect() as conn:
        return [
            (r.kind, r.detail)
            for r in conn.execute(sa.select(ledger.events).order_by(ledger.events.c.id))
        ]


def test_first_seed_stamps_the_database(project: SeedProject, engine: sa.Engine) -> None:
    project.upgrade("s2", env="production")
    with engine.connect() as conn:
        assert ledger.Ledger.on(conn).stamp() == "production"
        [stamped] = conn.execute(sa.select(ledger.events.c.database)).scalars()
    # The name an override must repeat: the database name, or SQLite's file path.
    assert stamped == database_name(engine)


def test_development_run_against_production_is_refused(
    project: SeedProject, engine: sa.Engine
) -> None:
    project.upgrade("s2", env="production")
    with pytest.raises(CommandError) as info:
        project.upgrade("head", env="development")
    message = str(info.value)
    assert "marked production" in message and f"-x allow_unsafe={database_name(engine)}" in message
    assert version(engine) == "s2"
    assert [r[1] for r in rows(engine, "users")] == ["user0", "user1", "user2"]


def test_override_must_name_this_database(project: SeedProject, engine: sa.Engine) -> None:
    project.upgrade("s2", env="production")
    with pytest.raises(CommandError, match="names another database"):
        project.upgrade("head", env="development", allow_unsafe="some_other_db")
    assert version(engine) == "s2"


def test_override_runs_and_is_recorded(project: SeedProject, engine: sa.Engine) -> None:
    project.upgrade("s2", env="production")
    project.upgrade("head", env="development", allow_unsafe=database_name(engine))
    assert version(engine) == "s3"
    assert ("override", "ran development against production") in _events(engine)
    with engine.connect() as conn:
        record = ledger.Ledger.on(conn).latest("s3")
    assert record is not None and record.override == database_name(engine)


def test_any_downgrade_of_production_is_refused_without_override(
    project: SeedProject, engine: sa.Engine, statements: list[str]
) -> None:
    project.upgrade("s2", env="production")
    statements.clear()
    with pytest.raises(CommandError) as info:
        project.downgrade("s1", env="production")
    assert "refusing to downgrade" in str(info.value)
    assert destructive(statements) == []
    assert version(engine) == "s2"
    project.downgrade("s1", env="production", allow_unsafe=database_name(engine))
    assert version(engine) == "s1"
    assert rows(engine, "users") == []
    assert any(kind == "override" and "downgrade" in detail for kind, detail in _events(engine))
    [record] = [row for row in ledger_rows(engine) if row.revision == "s2"]
    # The ledger row says the undo happened under the override, not only the event.
    assert record.status == ledger.Status.UNDONE.value
    assert record.override == database_name(engine)


@pytest.mark.requires("dry_run")
def test_a_plan_under_the_override_records_nothing(project: SeedProject, engine: sa.Engine) -> None:
    project.upgrade("s2", env="production")
    before = _events(engine)
    db = database_name(engine)
    for args in (("--downgrade", "s1"), ("head",)):
        env = "production" if args[0] == "--downgrade" else "development"
        result = project.cli("seeds", "plan", *args, "-x", f"allow_unsafe={db}", APP_ENV=env)
        assert result.returncode == 0, result.stderr
    assert _events(engine) == before
    assert version(engine) == "s2"


def test_changed_rows_are_never_deleted_silently_in_production(
    project: SeedProject, engine: sa.Engine
) -> None:
    """Row hashes taken at seed time are compared at undo time (in Python on SQLite)."""
    project.upgrade("s2", env="production")
    with engine.begin() as conn:
        conn.execute(sa.text("UPDATE users SET email = 'changed@x.io' WHERE username = 'user1'"))
    db = database_name(engine)
    with pytest.raises(CommandError) as info:
        project.downgrade("s1", env="production", allow_unsafe=db)
    assert "changed since (users: 1)" in str(info.value)
    assert f"-x allow_changed={db}" in str(info.value)
    assert len(rows(engine, "users")) == 3
    project.downgrade("s1", env="production", allow_unsafe=db, allow_changed=db)
    assert rows(engine, "users") == [] and rows(engine, "posts") == []


def test_changed_rows_outside_production_are_deleted_with_a_warning(
    project: SeedProject, engine: sa.Engine, caplog: pytest.LogCaptureFixture
) -> None:
    project.upgrade("s2", env="development")
    with engine.begin() as conn:
        conn.execute(sa.text("UPDATE users SET email = 'changed@x.io' WHERE username = 'user1'"))
    project.downgrade("s1", env="development")
    assert rows(engine, "users") == []
    assert "changed since they were seeded (users: 1)" in caplog.text


@pytest.mark.requires("deploy_lock")
def test_deploy_lock_is_skipped_at_head(
    project: SeedProject, engine: sa.Engine, statements: list[str]
) -> None:
    project.upgrade("head", env="development")
    statements.clear()
    project.upgrade("head", env="development")
    assert not any("advisory" in s for s in statements)
    project.downgrade("s2", env="development")
    statements.clear()
    project.upgrade("head", env="development")
    assert any("pg_try_advisory_lock" in s for s in statements)


@pytest.mark.requires("deploy_lock")
def test_concurrent_upgrades_seed_exactly_once(project: SeedProject, engine: sa.Engine) -> None:
    env = {**os.environ, "DATABASE_URL": project.url, "APP_ENV": "development"}
    cmd = [sys.executable, "-m", "alembic", "upgrade", "head"]
    runs = [
        subprocess.Popen(
            cmd,
            cwd=project.root,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for _ in range(2)
    ]
    outputs = [run.communicate(timeout=120)[0] for run in runs]
    assert [run.returncode for run in runs] == [0, 0], outputs
    assert len(rows(engine, "users")) == 5
    with engine.connect() as conn:
        applied = [r.revision for r in ledger.Ledger.on(conn).history() if r.status == "applied"]
    assert applied == ["s2", "s3"]


@pytest.mark.requires("offline_inserts")
def test_offline_sql_renders_seeds_the_same_every_time(offline_project: SeedProject) -> None:
    body = (
        seed_users('["production"]').split("    names = ")[0]
        + "\n\ndowngrade = upgrade.downgrade\n"
    )
    (offline_project.root / "migrations" / "versions" / "s2.py").write_text(
        (offline_project.root / "migrations" / "versions" / "s2.py").read_text().split("_meta =")[0]
        + "_meta ="
        + body.split("_meta =", 1)[1]
    )
    (offline_project.root / "migrations" / "versions" / "s3.py").unlink()
    env = {"DATABASE_URL": offline_project.url, "APP_ENV": "production"}
    first = run_cli("alembic", "upgrade", "head", "--sql", env=env, cwd=offline_project.root)
    second = run_cli("alembic", "upgrade", "head", "--sql", env=env, cwd=offline_project.root)
    assert first.returncode == 0, first.stderr
    assert first.stdout == second.stdout
    assert "INSERT INTO users (username, email) VALUES ('user0'" in first.stdout
    assert "INSERT INTO seed_ledger_keys" in first.stdout


# Without offline inserts a seed stops at its first insert, before it reads
# (test_sqlite.py proves that refusal).
@pytest.mark.requires("offline_inserts")
def test_offline_sql_stops_clearly_for_a_seed_that_reads(offline_project: SeedProject) -> None:
    env = {"DATABASE_URL": offline_project.url, "APP_ENV": "development"}
    result = run_cli("alembic", "upgrade", "head", "--sql", env=env, cwd=offline_project.root)
    assert result.returncode != 0
    assert "Traceback" not in result.stderr + result.stdout
    assert "FAILED: seed s2 needs to read the database, which --sql cannot do" in result.stdout
