"""A throwaway Alembic project for engine tests: revisions are written by the test.

The reference chain proves the product works; this proves each rule of the engine
in isolation, including seeds that are meant to fail.
"""

from __future__ import annotations

import subprocess
import textwrap
from pathlib import Path

import pytest

from tests.helpers import Migrator, run_cli

ENV_PY = '''"""Test project env.py: the same one line a user writes."""
from seeds import run_migrations

run_migrations()
'''

ALEMBIC_INI = """[alembic]
script_location = %(here)s/migrations
path_separator = os
"""

HEADER = '''"""{doc}

Revision ID: {rev}
Revises: {down}
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from seeds import SeedContext, seed

revision = "{rev}"
down_revision = {down_repr}
branch_labels = None
depends_on = None

'''


class SeedProject(Migrator):
    """A project folder with alembic.ini, env.py and revisions written on demand."""

    def __init__(self, root: Path, url: str, monkeypatch: pytest.MonkeyPatch) -> None:
        (root / "migrations" / "versions").mkdir(parents=True)
        (root / "alembic.ini").write_text(ALEMBIC_INI)
        (root / "migrations" / "env.py").write_text(ENV_PY)
        super().__init__(url, monkeypatch, root)
        self._last: str | None = None

    def revision(self, rev: str, body: str, *, doc: str = "test revision") -> str:
        """Write revision ``rev`` after the previous one; ``body`` is dedented."""
        down = self._last
        text = HEADER.format(doc=doc, rev=rev, down=down or "", down_repr=repr(down))
        path = self.root / "migrations" / "versions" / f"{rev}.py"
        path.write_text(text + textwrap.dedent(body))
        self._last = rev
        return rev

    def cli(self, *args: str, **environ: str) -> subprocess.CompletedProcess[str]:
        """Run ``alembic ...`` or ``seeds ...`` in the project folder, on its database
        (``environ`` adds variables, e.g. ``APP_ENV="development"``)."""
        return run_cli(*args, env={"DATABASE_URL": self.url, **environ}, cwd=self.root)


# Revision bodies shared by several tests.
# The schema runs on PostgreSQL and SQLite alike: SQLite auto-assigns keys only to an
# INTEGER PRIMARY KEY (a BIGINT one would stay NULL) and ignores the Identity, hence
# the variant; PostgreSQL gets BIGINT identity columns.
SCHEMA_USERS = """
_id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "users",
        sa.Column("id", _id, sa.Identity(), primary_key=True),
        sa.Column("username", sa.String(50), nullable=False, unique=True),
        sa.Column("email", sa.String(255), nullable=False),
    )
    op.create_table(
        "posts",
        sa.Column("id", _id, sa.Identity(), primary_key=True),
        sa.Column("user_id", _id, sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
        sa.Column("title", sa.String(100), nullable=False),
    )
    # Without it every deleted user scans posts for references (undo of 50k users
    # took 100 s): index foreign keys, as the reference app does.
    op.create_index("ix_posts_user_id", "posts", ["user_id"])


def downgrade() -> None:
    op.drop_table("posts")
    op.drop_table("users")
"""

FROZEN_USERS = """
_meta = sa.MetaData()
users = sa.Table(
    "users", _meta,
    sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
    sa.Column("username", sa.String(50), nullable=False, unique=True),
    sa.Column("email", sa.String(255), nullable=False),
)
posts = sa.Table(
    "posts", _meta,
    sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
    sa.Column("user_id", sa.BigInteger, sa.ForeignKey("users.id"), nullable=False),
    sa.Column("title", sa.String(100), nullable=False),
)
"""


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


def seed_users(environments: str = '["development", "testing"]', count: int = 3) -> str:
    """A seed revision body inserting ``count`` users with one post each."""
    return (
        FROZEN_USERS
        + f"""

@seed(environments={environments}, tables=[users, posts])
def upgrade(ctx: SeedContext) -> None:
    rows = []
    for n in range({count}):
        fake = ctx.faker("users", n)
        rows.append({{"username": f"user{{n}}", "email": fake.email()}})
    ctx.insert(users, rows)
    names = [row["username"] for row in rows]
    ids = ctx.connection.execute(
        sa.select(users.c.id).where(users.c.username.in_(names)).order_by(users.c.id)
    ).scalars().all()
    ctx.insert(posts, [{{"user_id": i, "title": f"post of {{i}}"}} for i in ids])


downgrade = upgrade.downgrade
"""
    )
