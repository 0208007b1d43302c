"""Workflow: publishable items and their state history.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-26 23:34:00.000000

Schema revision. It must keep working when the models change, so it never imports
app.models: columns, constraints and their names are written out here (op.f(...)
marks a name as final, so the naming convention does not rename it again).
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = "0005"
down_revision: str | Sequence[str] | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The workflow states as they are at this revision, frozen on purpose: a later
# revision that adds a state alters these CHECKs instead of editing this file.
_STATES_SQL = "('draft', 'review', 'approved', 'published')"


def upgrade() -> None:
    """Create ``workflow_items`` and ``state_history``, both CHECKed against the states."""
    op.create_table(
        "workflow_items",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("title", sa.String(200), nullable=False),
        sa.Column("state", sa.String(20), server_default="draft", nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.func.now(),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.func.now(),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_workflow_items")),
        sa.CheckConstraint("state IN " + _STATES_SQL, name=op.f("ck_workflow_items_state")),
    )
    op.create_table(
        "state_history",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("item_id", sa.BigInteger(), nullable=False),
        sa.Column("from_state", sa.String(20), nullable=True),
        sa.Column("to_state", sa.String(20), nullable=False),
        sa.Column("transitioned_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_state_history")),
        sa.ForeignKeyConstraint(
            ["item_id"],
            ["workflow_items.id"],
            name=op.f("fk_state_history_item_id_workflow_items"),
            ondelete="CASCADE",
        ),
        # NULL passes a CHECK, so the first transition (no from_state) is allowed.
        sa.CheckConstraint(
            "from_state IN " + _STATES_SQL, name=op.f("ck_state_history_from_state")
        ),
        sa.CheckConstraint("to_state IN " + _STATES_SQL, name=op.f("ck_state_history_to_state")),
    )
    op.create_index(op.f("ix_state_history_item_id"), "state_history", ["item_id"])


def downgrade() -> None:
    """Drop the tables in reverse order; their indexes and constraints go with them."""
    op.drop_table("state_history")
    op.drop_table("workflow_items")
