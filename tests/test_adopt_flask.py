"""A Flask-Migrate application adopts Seedchain the way the README tells a user to.

The application lives in a temporary folder with its own `app` package, models (one
table is the reserved word `user`), migrations made by `flask db migrate`, and tests of
its own. Seedchain comes in with `seeds init` and `seeds new`; the only hand edit is the
seed's body. Every command runs as a subprocess, as the user would type it.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from seeds.dev.devdb import DevDB
from tests.helpers import run_cli

APP_INIT = """
import os

from flask import Flask
from flask_migrate import Migrate
from flask_sqlalchemy import SQLAlchemy

db = SQLAlchemy()
migrate = Migrate()


def create_app(url=None):
    app = Flask(__name__)
    app.config["SQLALCHEMY_DATABASE_URI"] = url or os.environ["DATABASE_URL"]
    db.init_app(app)
    migrate.init_app(app, db)
    from app import models  # noqa: F401

    return app
"""

APP_MODELS = """
from app import db


class User(db.Model):
    __tablename__ = "user"
    id = db.Column(db.Integer, primary_key=True)
    email = db.Column(db.String(120), nullable=False, unique=True, index=True)
    name = db.Column(db.String(80), nullable=False)


class Post(db.Model):
    id = db.Column(db.Integer, primary_key=True)
    user_id = db.Column(db.Integer, db.ForeignKey("user.id"), nullable=False, index=True)
    title = db.Column(db.String(200), nullable=False)
"""

APP_TESTS = """
from app import create_app, db
from app.models import Post, User


def test_a_post_belongs_to_its_user():
    app = create_app("sqlite://")
    with app.app_context():
        db.create_all()
        user = User(email="a@example.com", name="A")
        db.session.add(user)
        db.session.flush()
        db.session.add(Post(user_id=user.id, title="hello"))
        db.session.commit()
        assert Post.query.one().user_id == user.id
"""

PYPROJECT = """
[project]
name = "blog"
version = "0.1.0"

[tool.pytest.ini_options]
pythonpath = ["."]
"""

SEED_BODY = """\
    count = ctx.setting("users", 1)
    rows = [
        {"email": f"user{i}@example.com", "name": ctx.faker(user, i).name()}
        for i in range(count)
    ]
    ctx.insert(user, rows)
"""

# The last comment line of the body `seeds new` writes; the seed's code goes after it.
TEMPLATE_LAST_LINE = (
    "    # instead of the clock. The downgrade removes exactly the rows inserted here.\n"
)


def make_app(root: Path) -> None:
    (root / "app").mkdir()
    (root / "tests").mkdir()
    (root / "app" / "__init__.py").write_text(textwrap.dedent(APP_INIT).lstrip())
    (root / "app" / "models.py").write_text(textwrap.dedent(APP_MODELS).lstrip())
    (root / "tests" / "test_models.py").write_text(textwrap.dedent(APP_TESTS).lstrip())
    (root / "pyproject.toml").write_text(textwrap.dedent(PYPROJECT).lstrip())


def emails(url: str) -> list[str]:
    engine = sa.create_engine(url)
    with engine.connect() as conn:
        found = conn.execute(sa.text('SELECT email FROM "user" ORDER BY id')).scalars().all()
    engine.dispose()
    return list(found)


def run_env(extra: dict[str, str | None]) -> dict[str, str]:
    merged = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "APP_ENV"}}
    merged.update({k: v for k, v in extra.items() if v is not None})
    return merged


@pytest.fixture
def app_database(devdb: DevDB) -> Iterator[str]:
    """The application's own database: plain PostgreSQL, no PostGIS yet."""
    name = f"blog_{uuid.uuid4().hex[:12]}"
    devdb.create_database(name)
    try:
        yield devdb.url(name)
    finally:
        devdb.drop_database(name)


def test_flask_migrate_app_adopts_seedchain(tmp_path: Path, app_database: str) -> None:
    database_url = app_database
    root = tmp_path / "blog"
    root.mkdir()
    make_app(root)
    env: dict[str, str | None] = {"DATABASE_URL": database_url, "FLASK_APP": "app"}

    def run(*args: str, **more: str) -> subprocess.CompletedProcess[str]:
        result = run_cli(*args, cwd=root, env={**env, **more})
        assert result.returncode == 0, f"{args}: {result.stdout}{result.stderr}"
        return result

    # The application as it was before Seedchain: Flask-Migrate's own commands.
    run("flask", "db", "init")
    run("flask", "db", "migrate", "-m", "initial")
    run("flask", "db", "upgrade")
    versions = root / "migrations" / "versions"
    schema_files = sorted(versions.glob("*.py"))

    # Later the team adds PostGIS: its tables are in the database and in no model.
    engine = sa.create_engine(database_url)
    with engine.begin() as conn:
        conn.execute(sa.text("CREATE EXTENSION postgis"))
    engine.dispose()

    # Adoption: one command wires it, a second changes nothing.
    wired = run("seeds", "init")
    assert "updated migrations/env.py" in wired.stdout
    assert "already wired" in run("seeds", "init").stdout
    (root / "pyproject.toml").write_text(
        (root / "pyproject.toml").read_text().replace("# users = 50", "users = 4")
    )

    new = run("seeds", "new", "first users", "--env", "development", "--tables", "user")
    seed_file = Path(new.stdout.split("wrote ", 1)[1].strip())
    source = seed_file.read_text()
    assert '"user",' in source and 'sa.Index("ix_user_email", "email", unique=True)' in source
    seed_file.write_text(source.replace(TEMPLATE_LAST_LINE, TEMPLATE_LAST_LINE + SEED_BODY))

    # A database named by URL and no environment: one line, nothing run.
    refused = run_cli("flask", "db", "upgrade", cwd=root, env=env)
    assert refused.returncode != 0
    assert "no environment is declared" in refused.stdout + refused.stderr
    assert "Traceback" not in refused.stdout + refused.stderr
    assert emails(database_url) == []

    run("flask", "db", "upgrade", APP_ENV="development")
    assert emails(database_url) == [f"user{i}@example.com" for i in range(4)]

    # The application writes a row of its own.
    app_row = (
        "from app import create_app, db\nfrom app.models import User\n"
        "with create_app().app_context():\n"
        "    db.session.add(User(email='customer@blog.example', name='C'))\n"
        "    db.session.commit()\n"
    )
    subprocess.run(
        [sys.executable, "-c", app_row],
        cwd=root,
        env=run_env(env),
        check=True,
        capture_output=True,
    )

    # Autogenerate sees neither the ledger nor PostGIS: no file is written.
    migrate = run("flask", "db", "migrate", "-m", "nothing")
    assert "No changes in schema detected" in migrate.stdout + migrate.stderr
    assert sorted(versions.glob("*.py")) == sorted([*schema_files, seed_file])

    # Read-only commands need no environment; the plan names its target.
    assert seed_file.stem.split("_")[0] in run("flask", "db", "current").stdout
    plan = run("seeds", "plan", "--downgrade", "-1", APP_ENV="development")
    assert "user" in plan.stdout and "4" in plan.stdout

    run("flask", "db", "downgrade", APP_ENV="development")
    assert emails(database_url) == ["customer@blog.example"]

    # One database for every command: no project-local cluster was ever started.
    assert not (root / ".devdb").exists() and not (root / "migrations" / ".devdb").exists()
    assert ".devdb/" in (root / ".gitignore").read_text().splitlines()

    # The application's own tests import its own `app`, under plain pytest.
    tests = run_cli("pytest", "-q", "-p", "no:cacheprovider", cwd=root, env=env)
    assert tests.returncode == 0, tests.stdout + tests.stderr
    assert "1 passed" in tests.stdout
