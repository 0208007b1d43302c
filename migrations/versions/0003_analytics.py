"""Analytics: daily metrics and the events linked to them.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-26 23:32:00.000000

Schema revision. It must keep working when the models change, so it never imports
app.models: columns, constraints and their names are written out here (op.f(...)
marks a name as final, so the naming convention does not rename it again).
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = "0003"
down_revision: str | Sequence[str] | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Create ``metrics`` (one value per name and day) and ``events``."""
    op.create_table(
        "metrics",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("value", sa.Numeric(12, 2), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_metrics")),
        sa.UniqueConstraint("name", "day", name=op.f("uq_metrics_name_day")),
    )
    op.create_table(
        "events",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("metric_id", sa.BigInteger(), nullable=False),
        sa.Column("occurred_on", sa.Date(), nullable=False),
        sa.Column("title", sa.String(200), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_events")),
        sa.ForeignKeyConstraint(
            ["metric_id"],
            ["metrics.id"],
            name=op.f("fk_events_metric_id_metrics"),
            ondelete="CASCADE",
        ),
    )
    op.create_index(op.f("ix_events_metric_id"), "events", ["metric_id"])


def downgrade() -> None:
    """Drop the tables in reverse order; their indexes and constraints go with them."""
    op.drop_table("events")
    op.drop_table("metrics")
