"""`seeds new` freezes what the table promises: unique indexes, checks, defaults; any name."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic.util import CommandError

from tests.helpers import rows, version
from tests.seedproject import SeedProject

# A reserved-word table and column, a unique INDEX (not a constraint), a CHECK and a
# server default: what a real application's migrations often have.
SCHEMA = """
def upgrade() -> None:
    op.create_table(
        "user",
        sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
        sa.Column("email", sa.String(120), nullable=False),
        sa.Column("order", sa.Integer, nullable=False, server_default=sa.text("0")),
        sa.CheckConstraint('"order" >= 0', name="ck_user_order"),
    )
    op.create_index("ix_user_email", "user", ["email"], unique=True)


def downgrade() -> None:
    op.drop_table("user")
"""


@pytest.fixture
def project(tmp_path: Path, database_url: str, monkeypatch: pytest.MonkeyPatch) -> SeedProject:
    p = SeedProject(tmp_path / "proj", database_url, monkeypatch)
    p.revision("s1", SCHEMA)
    return p


def test_new_freezes_unique_indexes_checks_and_defaults(
    project: SeedProject, engine: sa.Engine
) -> None:
    project.upgrade("head", env="development")
    result = project.cli(
        "seeds", "new", "people", "--env", "development", "--tables", "user", APP_ENV="development"
    )
    assert result.returncode == 0, result.stderr
    path = Path(result.stdout.split("wrote ", 1)[1].strip())
    source = path.read_text()
    assert 'sa.Index("ix_user_email", "email", unique=True)' in source
    # Quoted as ruff format would: single quotes around text holding double ones.
    assert """sa.CheckConstraint(sa.text('"order" >= 0'), name="ck_user_order")""" in source
    assert 'server_default=sa.text("0")' in source

    # The frozen unique index catches a duplicate within the call, before the database.
    end = "    # instead of the clock. The downgrade removes exactly the rows inserted here.\n"
    assert end in source

    def with_body(line: str) -> str:
        return source.replace(end, end + line + "\n")

    path.write_text(with_body('    ctx.insert(user, [{"email": "a@x"}, {"email": "a@x"}])'))
    with pytest.raises(CommandError, match=r"table user row 1 column email: duplicates row 0"):
        project.upgrade("head", env="development")
    assert version(engine) == "s1"

    # A reserved-word table and column seed and undo like any other.
    path.write_text(with_body('    ctx.insert(user, [{"email": "a@x", "order": 2}])'))
    project.upgrade("head", env="development")
    assert [r[1:] for r in rows(engine, "user")] == [("a@x", 2)]
    project.downgrade("s1", env="development")
    assert rows(engine, "user") == []


# Table names a Python variable cannot be: keywords, names the revision file uses
# itself (seed, revision), a leading digit, characters a name cannot hold.
NAMES = ["class", "seed", "revision", "2fa", "order line", "order-line"]
ANY_NAMES = f"""
NAMES = {NAMES!r}


def upgrade() -> None:
    for name in NAMES:
        op.create_table(
            name,
            sa.Column("id", sa.Integer, primary_key=True),
            sa.Column("from", sa.Text, nullable=False),
        )


def downgrade() -> None:
    for name in NAMES:
        op.drop_table(name)
"""


def test_new_gives_any_table_a_variable_python_can_hold(
    tmp_path: Path, database_url: str, monkeypatch: pytest.MonkeyPatch, engine: sa.Engine
) -> None:
    project = SeedProject(tmp_path / "names", database_url, monkeypatch)
    project.revision("s1", ANY_NAMES)
    project.upgrade("head", env="development")
    result = project.cli(
        "seeds",
        "new",
        "any names",
        "--env",
        "development",
        "--tables",
        ",".join(NAMES),
        APP_ENV="development",
    )
    assert result.returncode == 0, result.stderr
    path = Path(result.stdout.split("wrote ", 1)[1].strip())
    source = path.read_text()
    variables = ["class_", "seed_", "revision_", "_2fa", "order_line", "order_line_"]
    assert f"tables=[{', '.join(variables)}]" in source
    end = "    # instead of the clock. The downgrade removes exactly the rows inserted here.\n"
    inserts = "".join(f'    ctx.insert({v}, [{{"from": {v!r}}}])\n' for v in variables)
    path.write_text(source.replace(end, end + inserts))

    project.upgrade("head", env="development")
    assert [rows(engine, name) for name in NAMES] == [[(1, v)] for v in variables]
    project.downgrade("s1", env="development")
    assert [rows(engine, name) for name in NAMES] == [[] for _ in NAMES]
