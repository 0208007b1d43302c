"""`seeds init` wires an existing Alembic project, keeping its env.py, and nothing else.

The env.py files are the real templates of the installed Alembic and Flask-Migrate,
made the way a project makes them (`alembic init`, Flask-Migrate's template folder).
"""

from __future__ import annotations

import ast
import hashlib
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import flask_migrate  # type: ignore[import-untyped]  # ships no types
import pytest
import sqlalchemy as sa

from seeds.errors import ConfigurationError
from seeds.tools.adoption import plan_init, wire_env
from tests.helpers import run_cli

FLASK_ENV_PY = Path(flask_migrate.__file__).parent / "templates" / "flask" / "env.py"


def alembic_init(folder: Path, template: str = "generic") -> Path:
    """A project as `alembic init` makes it; returns its env.py."""
    subprocess.run(
        [sys.executable, "-m", "alembic", "init", "-t", template, "migrations"],
        cwd=folder,
        check=True,
        capture_output=True,
    )
    return folder / "migrations" / "env.py"


def calls(source: str, owner: str, name: str) -> list[ast.Call]:
    return [
        node
        for node in ast.walk(ast.parse(source))
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute | ast.Name)
        and (node.func.attr if isinstance(node.func, ast.Attribute) else node.func.id) == name
        and (
            owner == ""
            or (
                isinstance(node.func, ast.Attribute)
                and isinstance(node.func.value, ast.Name)
                and node.func.value.id == owner
            )
        )
    ]


def test_alembic_template_keeps_everything_but_the_connection_block(tmp_path: Path) -> None:
    env_py = alembic_init(tmp_path)
    source = env_py.read_text()
    wired = wire_env(source, flask=False)

    assert "from seeds import run_migrations\n" in wired
    assert not calls(wired, "context", "configure")
    assert not calls(wired, "context", "run_migrations")
    # Both modes now hand the project's metadata to Seedchain, and nothing else.
    runs = calls(wired, "", "run_migrations")
    assert [[k.arg for k in call.keywords] for call in runs] == [["target_metadata"]] * 2
    # The engine the template built from sqlalchemy.url, and its imports, are gone.
    assert "engine_from_config" not in wired and "import pool" not in wired
    # The rest of the file is the project's own, line for line.
    kept = ["fileConfig(config.config_file_name)", "target_metadata = None"]
    kept += ["if context.is_offline_mode():", "    run_migrations_online()"]
    assert all(line in wired for line in kept)
    compile(wired, "env.py", "exec")
    assert wire_env(wired, flask=False) == wired


def test_flask_migrate_template_keeps_its_revision_directives(tmp_path: Path) -> None:
    source = FLASK_ENV_PY.read_text()
    wired = wire_env(source, flask=True)

    assert "from seeds.integrations.flask import run_migrations\n" in wired
    online = [
        c for c in calls(wired, "", "run_migrations") if any(k.arg is None for k in c.keywords)
    ]
    assert len(online) == 1  # run_migrations(target_metadata=get_metadata(), **conf_args)
    # What makes `flask db migrate` say "No changes in schema detected" is still there.
    assert "def process_revision_directives(context, revision, directives):" in wired
    assert 'conf_args["process_revision_directives"] = process_revision_directives' in wired
    assert "config.set_main_option('sqlalchemy.url', get_engine_url())" in wired
    assert "connectable" not in wired
    assert not calls(wired, "context", "configure")
    compile(wired, "env.py", "exec")
    assert wire_env(wired, flask=True) == wired


def test_async_template_is_refused_with_the_way_forward(tmp_path: Path) -> None:
    env_py = alembic_init(tmp_path, "async")
    with pytest.raises(ConfigurationError, match="async engine.*run_migrations"):
        wire_env(env_py.read_text(), flask=False)


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ("from alembic import context\nprint(context)\n", "never calls context.configure"),
        (
            "from alembic import context\n"
            "def go():\n"
            "    context.configure(url='x', version_table_schema='audit')\n"
            "    with context.begin_transaction():\n"
            "        context.run_migrations()\n",
            r"version_table_schema=\.\.\.\) at line 3",
        ),
        (
            "from alembic import context\n"
            "def go():\n"
            "    context.configure(url='x')\n"
            "def later():\n"
            "    context.run_migrations()\n",
            "not followed by context.run_migrations",
        ),
        (
            "from alembic import context\n"
            "def run_migrations(): pass\n"
            "context.configure(url='x')\n"
            "with context.begin_transaction():\n"
            "    context.run_migrations()\n",
            "already defines a name run_migrations",
        ),
    ],
    ids=["no-configure", "owned-argument", "split-block", "name-taken"],
)
def test_env_py_shapes_it_cannot_rewrite_are_refused(source: str, message: str) -> None:
    with pytest.raises(ConfigurationError, match=message):
        wire_env(source, flask=False)


def _snapshot(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def test_init_dry_run_diff_then_write_then_nothing(tmp_path: Path) -> None:
    alembic_init(tmp_path)
    (tmp_path / "pyproject.toml").write_text('[project]\nname = "shop"\nversion = "1"\n')
    (tmp_path / ".gitignore").write_text("__pycache__/\n")
    before = _snapshot(tmp_path)

    dry = run_cli("seeds", "init", "--dry-run", cwd=tmp_path)
    assert dry.returncode == 0, dry.stderr
    assert _snapshot(tmp_path) == before  # a dry run writes nothing
    for header in ("+++ b/migrations/env.py", "+++ b/migrations/seed.py.mako"):
        assert header in dry.stdout
    assert "+[tool.seeds]" in dry.stdout and "+.devdb/" in dry.stdout
    assert "-    connectable = engine_from_config(" in dry.stdout

    done = run_cli("seeds", "init", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "updated migrations/env.py" in done.stdout
    pyproject = tomllib.loads((tmp_path / "pyproject.toml").read_text())
    assert pyproject["project"]["name"] == "shop" and "seeds" in pyproject["tool"]
    assert (tmp_path / ".gitignore").read_text().splitlines()[0] == "__pycache__/"
    assert ".devdb/" in (tmp_path / ".gitignore").read_text().splitlines()
    assert (tmp_path / "migrations" / "seed.py.mako").is_file()
    # The alembic.ini's placeholder URL is not the database: nothing to warn about.
    assert "sqlalchemy.url" not in done.stderr

    wired = _snapshot(tmp_path)
    again = run_cli("seeds", "init", cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    assert "already wired" in again.stdout
    assert _snapshot(tmp_path) == wired


def test_init_keeps_existing_settings_ignore_and_template(tmp_path: Path) -> None:
    alembic_init(tmp_path)
    (tmp_path / "pyproject.toml").write_text("[tool.seeds.development]\nusers = 3\n")
    (tmp_path / ".gitignore").write_text("/.devdb\n")
    (tmp_path / "migrations" / "seed.py.mako").write_text("# our own template\n")
    plan = plan_init(tmp_path)
    assert [c.path.name for c in plan.changes] == ["env.py"]


def test_init_names_a_url_it_will_not_use(tmp_path: Path) -> None:
    alembic_init(tmp_path)
    ini = tmp_path / "alembic.ini"
    ini.write_text(
        ini.read_text().replace(
            "driver://user:pass@localhost/dbname", "postgresql://app@db.internal/shop"
        )
    )
    result = run_cli("seeds", "init", "--dry-run", cwd=tmp_path)
    assert "postgresql://app@db.internal/shop" in result.stderr
    assert "DATABASE_URL" in result.stderr


def test_init_refusal_changes_nothing(tmp_path: Path) -> None:
    env_py = alembic_init(tmp_path, "async")
    before = _snapshot(tmp_path)
    result = run_cli("seeds", "init", cwd=tmp_path)
    assert result.returncode == 1
    assert f"{env_py} runs its revisions on an async engine" in result.stderr
    assert _snapshot(tmp_path) == before


def test_wired_alembic_project_seeds_and_undoes_beside_app_rows(
    tmp_path: Path, database_url: str
) -> None:
    """A plain Alembic project, wired by `seeds init`: schema, seed, app row, undo."""
    alembic_init(tmp_path)
    (tmp_path / "pyproject.toml").write_text(
        '[project]\nname = "shop"\nversion = "1"\n\n[tool.seeds.development]\ncustomers = 4\n'
    )
    assert run_cli("seeds", "init", cwd=tmp_path).returncode == 0
    versions = tmp_path / "migrations" / "versions"
    (versions / "0001_schema.py").write_text(
        'revision = "0001"\ndown_revision = None\n'
        "import sqlalchemy as sa\nfrom alembic import op\n\n"
        "def upgrade():\n"
        '    op.create_table("customer", sa.Column("id", sa.Integer, primary_key=True),'
        ' sa.Column("email", sa.Text, nullable=False, unique=True))\n\n'
        "def downgrade():\n"
        '    op.drop_table("customer")\n'
    )
    env = {"DATABASE_URL": database_url}
    schema = run_cli("alembic", "upgrade", "head", cwd=tmp_path, env=env)
    assert schema.returncode != 0 and "no environment is declared" in schema.stdout
    env["APP_ENV"] = "development"
    assert run_cli("alembic", "upgrade", "head", cwd=tmp_path, env=env).returncode == 0

    new = run_cli(
        "seeds", "new", "customers", "--env", "development", "--tables", "customer",
        cwd=tmp_path, env=env,
    )  # fmt: skip
    assert new.returncode == 0, new.stderr
    seed_file = next(versions.glob("*_customers.py"))
    seed_file.write_text(
        seed_file.read_text().replace(
            "    # instead of the clock. The downgrade removes exactly the rows inserted here.\n",
            "    count = ctx.setting('customers', 1)\n"
            "    ctx.insert(customer, [{'email': f'c{i}@example.com'} for i in range(count)])\n",
        )
    )
    upgraded = run_cli("alembic", "upgrade", "head", cwd=tmp_path, env=env)
    assert upgraded.returncode == 0, upgraded.stderr
    engine = sa.create_engine(database_url)
    with engine.begin() as conn:
        conn.execute(sa.text("INSERT INTO customer (email) VALUES ('real@shop.example')"))
    current = run_cli("alembic", "current", cwd=tmp_path, env={"DATABASE_URL": database_url})
    assert current.returncode == 0, current.stderr  # reading needs no environment

    down = run_cli("alembic", "downgrade", "-1", cwd=tmp_path, env=env)
    assert down.returncode == 0, down.stderr
    with engine.connect() as conn:
        emails = conn.execute(sa.text("SELECT email FROM customer")).scalars().all()
    engine.dispose()
    assert emails == ["real@shop.example"]


def test_init_needs_an_alembic_project(tmp_path: Path) -> None:
    shutil.rmtree(tmp_path, ignore_errors=True)
    tmp_path.mkdir()
    result = run_cli("seeds", "init", cwd=tmp_path)
    assert result.returncode == 1
    assert "no alembic.ini" in result.stderr
