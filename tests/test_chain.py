"""The reference app's Alembic chain: every revision goes up and down cleanly."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from seeds.runtime.ledger import TABLE_NAMES as LEDGER_TABLES
from tests.helpers import Migrator, rows

APP_TABLES = {
    "users",
    "projects",
    "project_members",
    "sprints",
    "features",
    "tasks",
    "settings",
    "menu_items",
    "metrics",
    "events",
    "stores",
    "workflow_items",
    "state_history",
}


def _tables(engine: sa.Engine) -> set[str]:
    with engine.connect() as conn:
        return set(sa.inspect(conn).get_table_names()) - {
            "spatial_ref_sys",
            "alembic_version",
            *LEDGER_TABLES,
        }


def _version(engine: sa.Engine) -> str | None:
    with engine.connect() as conn:
        if not sa.inspect(conn).has_table("alembic_version"):
            return None
        revision: str | None = conn.scalar(sa.text("SELECT version_num FROM alembic_version"))
    return revision


def test_base_head_base_head(migrator: Migrator, engine: sa.Engine) -> None:
    migrator.upgrade("head")
    assert _tables(engine) == APP_TABLES
    head = migrator.revisions()[-1]
    assert _version(engine) == head

    migrator.downgrade("base")
    assert _tables(engine) == set()
    assert _version(engine) is None

    migrator.upgrade("head")
    assert _tables(engine) == APP_TABLES
    assert _version(engine) == head


def _snapshot(engine: sa.Engine) -> dict[str, list[tuple[Any, ...]]]:
    return {name: rows(engine, name) for name in sorted(_tables(engine))}


def test_every_revision_steps_up_and_down(migrator: Migrator, engine: sa.Engine) -> None:
    # pytest-alembic's up/down consistency, with the data: after each step up, one
    # step down gives back exactly the tables there were, and stepping up again
    # gives identical rows and keys.
    seen: list[set[str]] = [_tables(engine)]
    for revision in migrator.revisions():
        migrator.upgrade(revision)
        assert _version(engine) == revision
        after = _tables(engine)
        snapshot = _snapshot(engine)
        migrator.downgrade("-1")
        assert _tables(engine) == seen[-1], f"downgrade of {revision} left {after - seen[-1]}"
        migrator.upgrade(revision)
        assert _snapshot(engine) == snapshot, f"{revision} is not the same the second time"
        seen.append(after)
    assert seen[-1] == APP_TABLES
