"""Configuration: settings and the menu tree.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-26 23:31:00.000000

Schema revision. It must keep working when the models change, so it never imports
app.models: columns, constraints and their names are written out here (op.f(...)
marks a name as final, so the naming convention does not rename it again).
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = "0002"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Create ``settings`` (natural key ``key``) and the self-referencing ``menu_items``."""
    op.create_table(
        "settings",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("key", sa.String(100), nullable=False),
        sa.Column("value", sa.Text(), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_settings")),
        # The natural key: production seeds upsert on it.
        sa.UniqueConstraint("key", name=op.f("uq_settings_key")),
    )
    op.create_table(
        "menu_items",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("parent_id", sa.BigInteger(), nullable=True),
        sa.Column("menu", sa.String(50), nullable=False),
        sa.Column("title", sa.String(100), nullable=False),
        sa.Column("url", sa.String(500), nullable=True),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_menu_items")),
        sa.ForeignKeyConstraint(
            ["parent_id"],
            ["menu_items.id"],
            name=op.f("fk_menu_items_parent_id_menu_items"),
            ondelete="CASCADE",
        ),
    )
    op.create_index(op.f("ix_menu_items_parent_id"), "menu_items", ["parent_id"])


def downgrade() -> None:
    """Drop the tables in reverse order; their indexes and constraints go with them."""
    op.drop_table("menu_items")
    op.drop_table("settings")
