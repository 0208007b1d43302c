"""One project root for every entry point: where pyproject.toml is, not where alembic.ini is."""

from __future__ import annotations

import json
from pathlib import Path

import sqlalchemy as sa

from seeds.runtime.database import alembic_ini, find_project_root, project_root_of
from tests.helpers import run_cli
from tests.seedproject import ENV_PY, HEADER, SCHEMA_USERS

SEED = """
_meta = sa.MetaData()
users = sa.Table("users", _meta, sa.Column("id", sa.BigInteger, primary_key=True),
                 sa.Column("username", sa.String(50), nullable=False, unique=True),
                 sa.Column("email", sa.String(255), nullable=False))


@seed(environments=["development"], tables=[users])
def upgrade(ctx: SeedContext) -> None:
    count = ctx.setting("users", 200)
    ctx.insert(users, [{"username": f"u{n}", "email": "e"} for n in range(count)])


downgrade = upgrade.downgrade
"""


def _flask_migrate_layout(root: Path) -> Path:
    """A project laid out like Flask-Migrate's: migrations/alembic.ini, settings at the root."""
    migrations = root / "migrations"
    (migrations / "versions").mkdir(parents=True)
    (root / "pyproject.toml").write_text(
        '[project]\nname = "blog"\n\n[tool.seeds.development]\nusers = 20\n'
    )
    (migrations / "alembic.ini").write_text(
        "[alembic]\nscript_location = %(here)s\npath_separator = os\n"
    )
    (migrations / "env.py").write_text(ENV_PY)
    for rev, down, body in (("s1", None, SCHEMA_USERS), ("s2", "s1", SEED)):
        header = HEADER.format(doc="test", rev=rev, down=down or "", down_repr=repr(down))
        (migrations / "versions" / f"{rev}.py").write_text(header + body)
    return root


def test_the_project_is_where_pyproject_is(tmp_path: Path) -> None:
    root = _flask_migrate_layout(tmp_path / "blog")
    assert find_project_root(root) == root.resolve()
    assert find_project_root(root / "migrations" / "versions") == root.resolve()
    assert project_root_of(root / "migrations") == root.resolve()
    assert alembic_ini(root) == root / "migrations" / "alembic.ini"


def test_alembic_from_migrations_reads_the_root_settings(tmp_path: Path, database_url: str) -> None:
    """Before, migrations/ was taken for the project: [tool.seeds] was not found there and
    200 users were seeded where the project configured 20 (and a second local cluster
    started in migrations/.devdb)."""
    root = _flask_migrate_layout(tmp_path / "blog")
    env = {"DATABASE_URL": database_url, "APP_ENV": "development"}
    up = run_cli("alembic", "-c", "migrations/alembic.ini", "upgrade", "head", env=env, cwd=root)
    assert up.returncode == 0, up.stderr
    engine = sa.create_engine(database_url)
    with engine.connect() as conn:
        assert conn.scalar(sa.text("SELECT count(*) FROM users")) == 20
    engine.dispose()
    assert not (root / "migrations" / ".devdb").exists()
    status = run_cli("seeds", "status", "--json", env=env, cwd=root)
    assert status.returncode == 0, status.stderr
    [seeded] = [s for s in json.loads(status.stdout) if s["revision"] == "s2"]
    assert seeded["state"] == "applied"
