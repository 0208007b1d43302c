"""The `seeds` command as a user (or a pipeline reading --json) meets it."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
import sqlalchemy as sa

from seeds.runtime import ledger
from tests.helpers import rows, run_cli, version
from tests.seedproject import SCHEMA_USERS, SeedProject, seed_users


@pytest.fixture
def project(tmp_path: Path, database_url: str, monkeypatch: pytest.MonkeyPatch) -> SeedProject:
    p = SeedProject(tmp_path / "proj", database_url, monkeypatch)
    p.revision("s1", SCHEMA_USERS)
    p.revision("s2", seed_users('["production", "development"]'), doc="two users")
    p.revision("s3", seed_users('["development"]', count=2).replace("user{n}", "dev{n}"))
    return p


def seeds(
    project: SeedProject, *args: str, app_env: str = "development"
) -> subprocess.CompletedProcess[str]:
    return project.cli("seeds", *args, APP_ENV=app_env)


def test_status_json_reports_applied_skipped_and_pending(project: SeedProject) -> None:
    project.upgrade("s2", env="production")
    result = seeds(project, "status", "--json")
    assert result.returncode == 0, result.stderr
    by_rev = {s["revision"]: s for s in json.loads(result.stdout)}
    assert by_rev["s2"]["state"] == "applied"
    assert by_rev["s2"]["environment"] == "production"
    assert by_rev["s2"]["row_counts"] == {"users": 3, "posts": 3}
    assert by_rev["s2"]["drift"] is False
    assert by_rev["s3"]["state"] == "pending"
    project.upgrade("head", env="production")
    by_rev = {s["revision"]: s for s in json.loads(seeds(project, "status", "--json").stdout)}
    assert by_rev["s3"]["state"] == "skipped"


def test_an_edited_applied_seed_is_drift_in_status_and_verify(project: SeedProject) -> None:
    project.upgrade("head", env="development")
    assert seeds(project, "verify").returncode == 0
    path = project.root / "migrations" / "versions" / "s2.py"
    path.write_text(path.read_text().replace("post of", "a post of"))
    status = seeds(project, "status")
    assert status.returncode == 3
    assert "drift" in status.stdout and "seed s2 was edited" in status.stderr
    verify = seeds(project, "verify")
    assert verify.returncode == 1
    assert "FAIL seed sources unchanged" in verify.stdout
    assert "2 passed, 1 failed" in verify.stdout


def test_plan_is_exact_and_changes_nothing(project: SeedProject, engine: sa.Engine) -> None:
    project.upgrade("s1", env="development")
    up = seeds(project, "plan", "--json")
    assert up.returncode == 0, up.stderr
    assert [(o["revision"], o["action"], o["rows"]) for o in json.loads(up.stdout)["outcomes"]] == [
        ("s2", "insert", {"users": 3, "posts": 3}),
        ("s3", "insert", {"users": 2, "posts": 2}),
    ]
    assert version(engine) == "s1" and rows(engine, "users") == []
    with engine.connect() as conn:
        assert not ledger.Ledger.on(conn).exists()
    # The dry run's inserts drew keys from the sequences; it gave them back.
    project.upgrade("s2", env="development")
    assert [r[0] for r in rows(engine, "users")] == [1, 2, 3]

    project.upgrade("head", env="development")
    down = seeds(project, "plan", "--downgrade", "s1", "--json")
    assert down.returncode == 0, down.stderr
    plans = json.loads(down.stdout)["outcomes"]
    # s3 goes first: its users share the table with s2's, so only a keyed delete is exact;
    # then s2's rows are all that is left, and TRUNCATE is provably the same.
    assert [(p["revision"], p["method"]) for p in plans] == [
        ("s3", "delete"),
        ("s2", "truncate"),
    ], plans
    assert plans[1]["rows"] == {"users": 3, "posts": 3}
    assert version(engine) == "s3" and len(rows(engine, "users")) == 5
    # A relative target, as alembic takes it.
    relative = seeds(project, "plan", "--downgrade", "-1", "--json")
    assert relative.returncode == 0, relative.stderr
    relative_plan = json.loads(relative.stdout)
    assert [p["revision"] for p in relative_plan["outcomes"]] == ["s3"]
    # The plan names where -1 leads.
    assert relative_plan["steps"] == ["s3 -> s2, test revision"]
    assert relative_plan["environment"] == "development"


def test_plan_without_an_environment_uses_the_database_stamp(
    project: SeedProject, engine: sa.Engine
) -> None:
    fresh = project.cli("seeds", "plan")
    assert fresh.returncode == 1
    assert "no environment is declared and the database has no stamp" in fresh.stderr
    project.upgrade("s2", env="testing")
    result = project.cli("seeds", "plan", "--downgrade", "-1")
    assert result.returncode == 0, result.stderr
    assert "environment testing (the database's stamp)" in result.stdout
    assert "downgrade: s2 -> s1, two users" in result.stdout
    assert version(engine) == "s2"


def test_plan_shows_a_production_refusal(project: SeedProject, engine: sa.Engine) -> None:
    project.upgrade("head", env="production")
    result = seeds(project, "plan", "--downgrade", "s1", app_env="production")
    assert result.returncode == 1
    assert "refusing to downgrade" in result.stderr
    assert version(engine) == "s3"


def test_new_writes_a_seed_revision_with_frozen_tables(
    project: SeedProject, engine: sa.Engine
) -> None:
    project.upgrade("head", env="development")
    result = seeds(
        project, "new", "More posts", "--env", "development,testing", "--tables", "users,posts"
    )
    assert result.returncode == 0, result.stderr
    path = Path(result.stdout.split("wrote ", 1)[1].strip())
    source = path.read_text()
    assert path.name == "more_posts.py" or path.name.endswith("_more_posts.py")
    assert 'down_revision: str | Sequence[str] | None = "s3"' in source
    assert 'sa.Column("username", sa.String(length=50), nullable=False)' in source
    assert 'sa.ForeignKeyConstraint(["user_id"], ["users.id"])' in source
    # The file is as a formatter would leave it.
    assert max(len(line) for line in source.splitlines()) <= 100
    assert "import app" not in source and "from app" not in source
    # It is a working revision: it runs (inserting nothing) and undoes cleanly.
    project.upgrade("head", env="development")
    project.downgrade("s3", env="development")
    assert version(engine) == "s3"


def test_new_refuses_a_database_behind_head(project: SeedProject) -> None:
    project.upgrade("s1", env="development")
    result = seeds(project, "new", "x", "--env", "development", "--tables", "users")
    assert result.returncode == 1
    assert "run `alembic upgrade head` first" in result.stderr


def test_plan_warns_about_an_unindexed_foreign_key(project: SeedProject, engine: sa.Engine) -> None:
    project.upgrade("s2", env="development")
    with engine.begin() as conn:  # an app row forces the keyed delete
        conn.execute(sa.text("INSERT INTO users (username, email) VALUES ('app', 'a@x')"))
        conn.execute(sa.text("DROP INDEX ix_posts_user_id"))
    result = seeds(project, "plan", "--downgrade", "s1", "--json")
    assert result.returncode == 0, result.stderr
    [plan] = json.loads(result.stdout)["outcomes"]
    assert plan["method"] == "delete"
    assert plan["warnings"] == [
        "posts.user_id references users without an index; the delete scans posts once per "
        "removed row (add an index)"
    ]


def test_devdb_install_with_everything_installed_does_nothing() -> None:
    # This machine has PostgreSQL and PostGIS (the suite's database runs on them).
    result = run_cli("seeds", "devdb", "install")
    assert result.returncode == 0, result.stderr
    assert (result.stdout, result.stderr) == ("", "")
