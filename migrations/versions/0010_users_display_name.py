"""Users get a display name (NOT NULL, backfilled from first and last name).

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-26 23:50:00.000000

A schema revision after the seed revisions that write ``users``. The seeds keep
replaying on an empty database because they write the table as it was at their
point in the chain; this revision then fills the new column for their rows (and any
others) before making it NOT NULL.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | Sequence[str] | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The table as this revision sees it (never app.models).
users = sa.table(
    "users",
    sa.column("first_name", sa.String),
    sa.column("last_name", sa.String),
    sa.column("display_name", sa.String),
)


def upgrade() -> None:
    """Add display_name, backfill it, then require it."""
    op.add_column("users", sa.Column("display_name", sa.String(200), nullable=True))
    op.execute(users.update().values(display_name=users.c.first_name + " " + users.c.last_name))
    op.alter_column("users", "display_name", nullable=False)


def downgrade() -> None:
    """Drop display_name."""
    op.drop_column("users", "display_name")
