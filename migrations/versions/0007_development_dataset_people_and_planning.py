"""Development dataset: people and planning

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-26 23:41:42

Seed revision: runs in development. The tables below are frozen as they
were at this point in the chain (written by `seeds new`), so a later schema change
can never break replaying this seed: never import the application's models here.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa

from app.seeds import development
from seeds import SeedContext, seed

revision: str = "0007"
down_revision: str | Sequence[str] | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_meta = sa.MetaData()

users = sa.Table(
    "users",
    _meta,
    sa.Column("id", sa.BigInteger(), sa.Identity(), primary_key=True),
    sa.Column("username", sa.String(length=50), nullable=False),
    sa.Column("email", sa.String(length=255), nullable=False),
    sa.Column("first_name", sa.String(length=100), nullable=False),
    sa.Column("last_name", sa.String(length=100), nullable=False),
    sa.Column("is_admin", sa.Boolean(), nullable=False, server_default=sa.text("false")),
    sa.Column(
        "created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.text("now()")
    ),
    sa.UniqueConstraint("email"),
    sa.UniqueConstraint("username"),
)

projects = sa.Table(
    "projects",
    _meta,
    sa.Column("id", sa.BigInteger(), sa.Identity(), primary_key=True),
    sa.Column("owner_id", sa.BigInteger(), nullable=False),
    sa.Column("name", sa.String(length=200), nullable=False),
    sa.Column("description", sa.Text()),
    sa.Column(
        "created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.text("now()")
    ),
    sa.ForeignKeyConstraint(["owner_id"], ["users.id"]),
)

project_members = sa.Table(
    "project_members",
    _meta,
    sa.Column("project_id", sa.BigInteger(), primary_key=True),
    sa.Column("user_id", sa.BigInteger(), primary_key=True),
    sa.Column(
        "role",
        sa.String(length=20),
        nullable=False,
        server_default=sa.text("'member'::character varying"),
    ),
    sa.ForeignKeyConstraint(["project_id"], ["projects.id"]),
    sa.ForeignKeyConstraint(["user_id"], ["users.id"]),
)

sprints = sa.Table(
    "sprints",
    _meta,
    sa.Column("id", sa.BigInteger(), sa.Identity(), primary_key=True),
    sa.Column("project_id", sa.BigInteger(), nullable=False),
    sa.Column("name", sa.String(length=100), nullable=False),
    sa.Column("starts_on", sa.Date(), nullable=False),
    sa.Column("ends_on", sa.Date(), nullable=False),
    sa.ForeignKeyConstraint(["project_id"], ["projects.id"]),
)

features = sa.Table(
    "features",
    _meta,
    sa.Column("id", sa.BigInteger(), sa.Identity(), primary_key=True),
    sa.Column("project_id", sa.BigInteger(), nullable=False),
    sa.Column("sprint_id", sa.BigInteger()),
    sa.Column("title", sa.String(length=200), nullable=False),
    sa.Column("description", sa.Text()),
    sa.ForeignKeyConstraint(["project_id"], ["projects.id"]),
    sa.ForeignKeyConstraint(["sprint_id"], ["sprints.id"]),
)

tasks = sa.Table(
    "tasks",
    _meta,
    sa.Column("id", sa.BigInteger(), sa.Identity(), primary_key=True),
    sa.Column("feature_id", sa.BigInteger(), nullable=False),
    sa.Column("assignee_id", sa.BigInteger()),
    sa.Column("title", sa.String(length=200), nullable=False),
    sa.Column(
        "status",
        sa.String(length=20),
        nullable=False,
        server_default=sa.text("'todo'::character varying"),
    ),
    sa.ForeignKeyConstraint(["assignee_id"], ["users.id"]),
    sa.ForeignKeyConstraint(["feature_id"], ["features.id"]),
)


@seed(
    environments=["development"],
    tables=[users, projects, project_members, sprints, features, tasks],
)
def upgrade(ctx: SeedContext) -> None:
    """Users, projects with owners and members, sprints, features and tasks."""
    development.people_and_planning(ctx, ctx.tables)


downgrade = upgrade.downgrade
