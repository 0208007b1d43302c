"""Development dataset: menus, metrics, stores, workflow

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-26 23:41:51

Seed revision: runs in development. The tables below are frozen as they
were at this point in the chain (written by `seeds new`), so a later schema change
can never break replaying this seed: never import the application's models here.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from geoalchemy2 import Geometry

from app.seeds import development
from seeds import SeedContext, seed

revision: str = "0008"
down_revision: str | Sequence[str] | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_meta = sa.MetaData()

menu_items = sa.Table(
    "menu_items",
    _meta,
    sa.Column("id", sa.BigInteger(), sa.Identity(), primary_key=True),
    sa.Column("parent_id", sa.BigInteger()),
    sa.Column("menu", sa.String(length=50), nullable=False),
    sa.Column("title", sa.String(length=100), nullable=False),
    sa.Column("url", sa.String(length=500)),
    sa.Column("position", sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(["parent_id"], ["menu_items.id"]),
)

metrics = sa.Table(
    "metrics",
    _meta,
    sa.Column("id", sa.BigInteger(), sa.Identity(), primary_key=True),
    sa.Column("name", sa.String(length=100), nullable=False),
    sa.Column("day", sa.Date(), nullable=False),
    sa.Column("value", sa.Numeric(precision=12, scale=2), nullable=False),
    sa.UniqueConstraint("name", "day"),
)

events = sa.Table(
    "events",
    _meta,
    sa.Column("id", sa.BigInteger(), sa.Identity(), primary_key=True),
    sa.Column("metric_id", sa.BigInteger(), nullable=False),
    sa.Column("occurred_on", sa.Date(), nullable=False),
    sa.Column("title", sa.String(length=200), nullable=False),
    sa.Column("description", sa.Text()),
    sa.ForeignKeyConstraint(["metric_id"], ["metrics.id"]),
)

stores = sa.Table(
    "stores",
    _meta,
    sa.Column("id", sa.BigInteger(), sa.Identity(), primary_key=True),
    sa.Column("name", sa.String(length=200), nullable=False),
    sa.Column("city", sa.String(length=100), nullable=False),
    sa.Column("location", Geometry("POINT", srid=4326, spatial_index=False), nullable=False),
    sa.Column("service_area", Geometry("POLYGON", srid=4326, spatial_index=False), nullable=False),
)

workflow_items = sa.Table(
    "workflow_items",
    _meta,
    sa.Column("id", sa.BigInteger(), sa.Identity(), primary_key=True),
    sa.Column("title", sa.String(length=200), nullable=False),
    sa.Column(
        "state",
        sa.String(length=20),
        nullable=False,
        server_default=sa.text("'draft'::character varying"),
    ),
    sa.Column(
        "created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.text("now()")
    ),
    sa.Column(
        "updated_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.text("now()")
    ),
)

state_history = sa.Table(
    "state_history",
    _meta,
    sa.Column("id", sa.BigInteger(), sa.Identity(), primary_key=True),
    sa.Column("item_id", sa.BigInteger(), nullable=False),
    sa.Column("from_state", sa.String(length=20)),
    sa.Column("to_state", sa.String(length=20), nullable=False),
    sa.Column("transitioned_at", sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(["item_id"], ["workflow_items.id"]),
)


@seed(
    environments=["development"],
    tables=[menu_items, metrics, events, stores, workflow_items, state_history],
)
def upgrade(ctx: SeedContext) -> None:
    """The menu tree, metrics with weekly events, stores, workflow items with history."""
    development.menu_tree(ctx, ctx.tables)
    development.metrics_and_events(ctx, ctx.tables)
    development.stores(ctx, ctx.tables)
    development.workflow(ctx, ctx.tables)


downgrade = upgrade.downgrade
