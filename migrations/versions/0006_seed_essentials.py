"""Seed: production essentials (admin user, default settings).

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-26 23:40:00.000000

Seed revision. Runs in every environment; idempotent on natural keys, so it is safe
against a database that already has the admin user or some of the settings. The
tables are frozen as they are at this revision, never taken from app.models.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa

from app.seeds.essentials import ADMIN_USER, DEFAULT_SETTINGS
from seeds import SeedContext, seed

revision: str = "0006"
down_revision: str | Sequence[str] | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_meta = sa.MetaData()
users = sa.Table(
    "users",
    _meta,
    sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
    sa.Column("username", sa.String(50), nullable=False, unique=True),
    sa.Column("email", sa.String(255), nullable=False, unique=True),
    sa.Column("first_name", sa.String(100), nullable=False),
    sa.Column("last_name", sa.String(100), nullable=False),
    sa.Column("is_admin", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column(
        "created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
    ),
)
settings = sa.Table(
    "settings",
    _meta,
    sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
    sa.Column("key", sa.String(100), nullable=False, unique=True),
    sa.Column("value", sa.Text, nullable=False),
    sa.Column("description", sa.Text),
)


@seed(environments=["production", "staging", "development", "testing"], tables=[users, settings])
def upgrade(ctx: SeedContext) -> None:
    """Ensure the admin user and the default settings exist."""
    ctx.ensure(users, [{**ADMIN_USER, "created_at": ctx.now}], key=["username"])
    ctx.ensure(settings, DEFAULT_SETTINGS, key=["key"])


downgrade = upgrade.downgrade
