"""Dependency order from the foreign-key graph, cycles, and checkpoints."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic.util import CommandError

from seeds.runtime.ordering import load_order
from tests.helpers import database_name, rows, version
from tests.seedproject import FROZEN_USERS, SCHEMA_USERS, SeedProject

CYCLE_SCHEMA = """
def upgrade() -> None:
    op.create_table("teams", sa.Column("id", sa.Integer, primary_key=True),
                    sa.Column("name", sa.String(50), nullable=False),
                    sa.Column("lead_id", sa.Integer, nullable={lead_nullable}))
    op.create_table("people", sa.Column("id", sa.Integer, primary_key=True),
                    sa.Column("name", sa.String(50), nullable=False),
                    sa.Column("team_id", sa.Integer, nullable=False))
    op.create_foreign_key("fk_people_team", "people", "teams", ["team_id"], ["id"])
    op.create_foreign_key("fk_teams_lead", "teams", "people", ["lead_id"], ["id"],
                          deferrable={deferrable}, initially="IMMEDIATE")


def downgrade() -> None:
    op.drop_constraint("fk_teams_lead", "teams")
    op.drop_table("people")
    op.drop_table("teams")
"""

CYCLE_SEED = """
_meta = sa.MetaData()
teams = sa.Table("teams", _meta, sa.Column("id", sa.Integer, primary_key=True),
                 sa.Column("name", sa.String(50), nullable=False),
                 sa.Column("lead_id", sa.Integer, nullable={lead_nullable}),
                 sa.ForeignKeyConstraint(["lead_id"], ["people.id"], name="fk_teams_lead",
                                         deferrable={deferrable}))
people = sa.Table("people", _meta, sa.Column("id", sa.Integer, primary_key=True),
                  sa.Column("name", sa.String(50), nullable=False),
                  sa.Column("team_id", sa.Integer, sa.ForeignKey("teams.id"), nullable=False))


@seed(environments=["production"], tables=[teams, people])
def upgrade(ctx: SeedContext) -> None:
    # Given children first on purpose: the order comes from the foreign keys.
    ctx.load({{
        people: [{{"id": 1, "name": "ann", "team_id": 10}},
                 {{"id": 2, "name": "ben", "team_id": 10}}],
        teams: [{{"id": 10, "name": "core", "lead_id": 2}}],
    }})


downgrade = upgrade.downgrade
"""


@pytest.fixture
def project(tmp_path: Path, database_url: str, monkeypatch: pytest.MonkeyPatch) -> SeedProject:
    return SeedProject(tmp_path / "proj", database_url, monkeypatch)


def _cycle(project: SeedProject, *, lead_nullable: bool, deferrable: bool) -> None:
    opts = {"lead_nullable": lead_nullable, "deferrable": deferrable}
    project.revision("c1", CYCLE_SCHEMA.format(**opts))
    project.revision("c2", CYCLE_SEED.format(**opts))


@pytest.mark.parametrize(
    ("lead_nullable", "deferrable"),
    [(True, False), (False, True)],
    ids=["null-then-update", "deferred"],
)
def test_a_cycle_loads_and_undoes_exactly(
    project: SeedProject, engine: sa.Engine, lead_nullable: bool, deferrable: bool
) -> None:
    _cycle(project, lead_nullable=lead_nullable, deferrable=deferrable)
    project.upgrade("head", env="production")
    assert rows(engine, "teams") == [(10, "core", 2)]
    assert [r[0] for r in rows(engine, "people")] == [1, 2]
    # Production refuses to delete rows changed since seeding: the UPDATE the load
    # itself made must not count as a change.
    project.downgrade("c1", env="production", allow_unsafe=database_name(engine))
    assert rows(engine, "teams") == [] and rows(engine, "people") == []


def test_a_cycle_that_cannot_be_broken_names_it(project: SeedProject, engine: sa.Engine) -> None:
    _cycle(project, lead_nullable=False, deferrable=False)
    with pytest.raises(
        CommandError, match="foreign-key cycle between people, teams cannot be loaded"
    ):
        project.upgrade("head", env="production")
    assert version(engine) == "c1"
    assert rows(engine, "teams") == []


def test_order_comes_from_the_graph() -> None:
    meta = sa.MetaData()
    a = sa.Table("a", meta, sa.Column("id", sa.Integer, primary_key=True))
    tree = sa.Table(
        "tree",
        meta,
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("parent_id", sa.ForeignKey("tree.id")),
        sa.Column("a_id", sa.ForeignKey("a.id")),
    )
    c = sa.Table(
        "c",
        meta,
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("tree_id", sa.ForeignKey("tree.id")),
    )
    order = load_order([c, tree, a])
    assert [t.name for t in order.tables] == ["a", "tree", "c"]
    assert order.nulled == [] and order.deferred == []  # a self-reference is no cycle


CHECKPOINT_SEED = (
    FROZEN_USERS
    + """

@seed(environments=["testing"], tables=[users, posts])
def upgrade(ctx: SeedContext) -> None:
    ctx.insert(users, [{"id": 1, "username": "kept", "email": "k@x"}])
    with ctx.checkpoint("optional posts") as cp:
        ctx.insert(posts, [{"user_id": 1, "title": "discarded"}])
        cp.rollback()  # back to the checkpoint, and carry on
        ctx.insert(posts, [{"user_id": 1, "title": "kept post"}])
    with ctx.checkpoint("broken extra", recover=True):
        ctx.insert(users, [{"id": 2, "username": "extra", "email": "e@x"}])
        ctx.insert(posts, [{"user_id": 999, "title": "dangling"}])  # fails: rolled back
    ctx.insert(users, [{"id": 3, "username": "after", "email": "a@x"}])


downgrade = upgrade.downgrade
"""
)


def test_checkpoints_roll_back_and_continue(project: SeedProject, engine: sa.Engine) -> None:
    project.revision("s1", SCHEMA_USERS)
    project.revision("s2", CHECKPOINT_SEED)
    project.upgrade("head", env="testing")
    assert [r[1] for r in rows(engine, "users")] == ["kept", "after"]
    assert [r[2] for r in rows(engine, "posts")] == ["kept post"]
    with engine.connect() as conn:
        counts = conn.scalar(sa.text("SELECT row_counts FROM seed_ledger"))
    assert counts == '{"posts": 1, "users": 2}'
    project.downgrade("s1", env="testing")
    assert rows(engine, "users") == [] and rows(engine, "posts") == []
