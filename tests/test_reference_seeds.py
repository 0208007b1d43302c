"""The reference app's seed sets through the real chain, per environment."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from app.seeds import testing
from app.seeds.verify import counts_as_configured  # noqa: F401  (registers the rules)
from seeds.runtime import ledger
from seeds.tools import verification
from tests.helpers import Migrator, rows

SEEDED = [
    "users",
    "projects",
    "project_members",
    "sprints",
    "features",
    "tasks",
    "menu_items",
    "metrics",
    "events",
    "stores",
    "workflow_items",
    "state_history",
    "settings",
]


def _count(engine: sa.Engine, table: str) -> int:
    with engine.connect() as conn:
        return conn.scalar(sa.select(sa.func.count()).select_from(sa.table(table))) or 0


def _dump(engine: sa.Engine) -> dict[str, list[tuple[Any, ...]]]:
    return {name: rows(engine, name) for name in SEEDED}


def _app_rules(engine: sa.Engine) -> list[verification.RuleResult]:
    with engine.connect() as conn:
        return verification.run_rules(conn, verification.registered_rules())


def test_development_dataset(migrator: Migrator, engine: sa.Engine) -> None:
    migrator.upgrade("head", env="development")
    assert _count(engine, "users") == 50 + 1  # + the essentials' admin
    assert _count(engine, "projects") == 20
    assert _count(engine, "metrics") == 3 * 30
    assert _count(engine, "events") == 3 * 4  # one per full week of 30 days
    assert _count(engine, "menu_items") == 2 * (1 + 3 + 9)
    assert _count(engine, "stores") >= 40
    with engine.connect() as conn:
        states = set(conn.scalars(sa.text("SELECT DISTINCT state FROM workflow_items")))
        display = conn.scalar(sa.text("SELECT display_name FROM users WHERE username = 'admin'"))
    assert states == {"draft", "review", "approved", "published"}
    assert display == "Site Administrator"  # the later schema revision backfilled it
    failed = [r for r in _app_rules(engine) if not r.passed]
    assert failed == []


def test_both_membership_methods_are_recorded_and_undone(
    migrator: Migrator, engine: sa.Engine
) -> None:
    migrator.upgrade("0007", env="development")
    with engine.connect() as conn:
        record = ledger.Ledger.on(conn).latest("0007")
    assert record is not None
    assert record.row_counts["project_members"] == _count(engine, "project_members")
    migrator.downgrade("0006", env="development")
    assert _count(engine, "project_members") == 0
    assert [r[1] for r in rows(engine, "users")] == ["admin"]


def test_base_to_head_twice_gives_byte_identical_rows(
    migrator: Migrator, engine: sa.Engine
) -> None:
    migrator.upgrade("head", env="development")
    first = _dump(engine)
    with engine.connect() as conn:
        checksums = [
            r.data_checksum for r in ledger.Ledger.on(conn).history() if r.status == "applied"
        ]
    migrator.downgrade("base", env="development")
    migrator.upgrade("head", env="development")
    assert _dump(engine) == first
    with engine.connect() as conn:
        again = [r.data_checksum for r in ledger.Ledger.on(conn).history() if r.status == "applied"]
    assert again == checksums


def test_counts_come_from_config_and_x(migrator: Migrator, engine: sa.Engine) -> None:
    migrator.upgrade("head", env="development", users="7", projects="3", workflow_items="8")
    assert _count(engine, "users") == 7 + 1
    assert _count(engine, "projects") == 3
    assert _count(engine, "workflow_items") == 8
    assert [r for r in _app_rules(engine) if not r.passed] == []


def test_verification_catches_a_broken_dataset(migrator: Migrator, engine: sa.Engine) -> None:
    migrator.upgrade("head", env="development")
    with engine.begin() as conn:
        conn.execute(
            sa.text("DELETE FROM project_members WHERE project_id = (SELECT min(id) FROM projects)")
        )
        conn.execute(
            sa.text(
                "UPDATE stores SET location = ST_SetSRID(ST_MakePoint(0, 0), 4326) "
                "WHERE id = (SELECT min(id) FROM stores)"
            )
        )
    failed = {r.name for r in _app_rules(engine) if not r.passed}
    assert "every project has an owner among at least two members" in failed
    assert (
        "store geometries are valid, SRID 4326, and the service area contains the store" in failed
    )


def test_testing_dataset_has_the_named_cases(migrator: Migrator, engine: sa.Engine) -> None:
    migrator.upgrade("head", env="testing")
    with engine.connect() as conn:
        names = set(conn.scalars(sa.text("SELECT username FROM users")))
        assignee = conn.scalar(
            sa.text(
                "SELECT u.username FROM tasks t JOIN users u ON u.id = t.assignee_id "
                "WHERE t.title = :title"
            ),
            {"title": testing.TASK_ASSIGNED},
        )
        inside = conn.scalar(
            sa.text("SELECT ST_Contains(service_area, location) FROM stores WHERE name = :name"),
            {"name": testing.STORE},
        )
    assert names == {"admin", testing.ALICE, testing.BOB, testing.CAROL, testing.DAVE}
    assert assignee == testing.BOB
    assert inside is True
    assert _count(engine, "menu_items") == 0  # development data stays out of testing
    assert [r for r in _app_rules(engine) if not r.passed] == []


def test_production_gets_only_the_essentials(migrator: Migrator, engine: sa.Engine) -> None:
    migrator.upgrade("head", env="production")
    counts = {t: _count(engine, t) for t in SEEDED}
    assert counts.pop("users") == 1 and counts.pop("settings") == 6
    assert set(counts.values()) == {0}
    with engine.connect() as conn:
        statuses = {r.revision: r.status for r in ledger.Ledger.on(conn).history()}
    assert statuses == {"0006": "applied", "0007": "skipped", "0008": "skipped", "0009": "skipped"}
