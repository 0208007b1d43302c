"""The reference app's seed sets through the real chain, per environment."""

from __future__ import annotations

import logging
from typing import Any

import pytest
import sqlalchemy as sa

from app.seeds import testing
from app.seeds.verify import counts_as_configured  # noqa: F401  (registers the rules)
from seeds.runtime import ledger
from seeds.tools import verification
from tests.helpers import Migrator, rows, world

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


def _stores(engine: sa.Engine) -> dict[str, tuple[Any, ...]]:
    query = sa.text(
        "SELECT name, city, ST_AsEWKT(location), ST_AsEWKT(service_area) FROM stores ORDER BY id"
    )
    with engine.connect() as conn:
        return {row[0]: tuple(row) for row in conn.execute(query)}


def test_a_stores_total_is_spread_over_the_cities_and_undone_exactly(
    migrator: Migrator, engine: sa.Engine, caplog: pytest.LogCaptureFixture
) -> None:
    migrator.upgrade("0008", env="development")
    default = _stores(engine)
    migrator.downgrade("0007", env="development")

    # 95 over 30 cities: the first five get 4, the others 3; a store is the same
    # store whatever the total (its stream is keyed by city and position).
    migrator.upgrade("0008", env="development", stores="95")
    spread = _stores(engine)
    per_city: dict[str, int] = {}
    for _, city, _, _ in spread.values():
        per_city[city] = per_city.get(city, 0) + 1
    assert len(spread) == 95
    assert sorted(per_city.values()) == [3] * 25 + [4] * 5
    assert {name: spread[name] for name in default} == default
    with engine.connect() as conn:
        [record] = [r for r in ledger.Ledger.on(conn).history() if r.status == "applied"][-1:]
        empty = conn.scalar(sa.text("SELECT count(*) FROM stores WHERE ST_IsEmpty(service_area)"))
    assert record.row_counts["stores"] == 95
    assert empty == 0
    assert [r for r in _app_rules(engine) if not r.passed] == []

    with engine.begin() as conn:  # an application row: the undo must be a keyed delete
        conn.execute(
            sa.text(
                "INSERT INTO stores (name, city, location, service_area)"
                " SELECT 'app', city, location, service_area FROM stores ORDER BY id LIMIT 1"
            )
        )
    caplog.clear()
    with caplog.at_level(logging.INFO):
        migrator.downgrade("0007", env="development")
    assert not [r for r in caplog.records if "changed since" in r.getMessage()]
    assert any("keyed delete" in r.getMessage() for r in caplog.records)
    assert list(_stores(engine)) == ["app"]


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


# Small counts keep the test quick; every seed set still writes every table.
_SMALL = {"env": "development", "users": "20", "projects": "6", "workflow_items": "8"}


def _add_application_rows(
    engine: sa.Engine, schema: str, tag: str, written: dict[str, list[int]]
) -> None:
    """A user and a project of theirs, inserted the way the application would: both take
    keys from the sequences, so the seeds' rows get other keys than in a fresh database."""
    with engine.begin() as conn:
        users = sa.Table("users", sa.MetaData(), schema=schema, autoload_with=conn)
        projects = sa.Table("projects", sa.MetaData(), schema=schema, autoload_with=conn)
        user = {"username": tag, "email": f"{tag}@example.org", "first_name": "App"}
        if "display_name" in users.c:  # added by 0010, after the seeds
            user["display_name"] = f"App {tag}"
        user_id = conn.scalar(sa.insert(users).values(last_name=tag, **user).returning(users.c.id))
        project_id = conn.scalar(
            sa.insert(projects).values(owner_id=user_id, name=tag).returning(projects.c.id)
        )
    written.setdefault("users", []).append(user_id)
    written.setdefault("projects", []).append(project_id)


def _world(engine: sa.Engine, **kw: Any) -> dict[str, list[tuple[tuple[str, Any], ...]]]:
    with engine.connect() as conn:
        return world(conn, **kw)


def _keys(engine: sa.Engine, table: str, schema: str | None = None) -> set[int]:
    ids = sa.table(table, sa.column("id"), schema=schema).c.id
    with engine.connect() as conn:
        return set(conn.scalars(sa.select(ids)))


def _counts(captured: dict[str, list[Any]]) -> dict[str, int]:
    return {table: len(rows) for table, rows in captured.items()}


def test_the_seeded_world_does_not_depend_on_the_keys_the_database_hands_out(
    migrator: Migrator,
    engine: sa.Engine,
    second_database_url: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    migrator.upgrade("head", **_SMALL)
    fresh = _world(engine)
    assert len(fresh["tasks"]) > 0 and len(fresh["state_history"]) > 0

    # The same run in another database, in a schema of its own, where the application
    # wrote rows before the seeds ran and again before they were taken back out.
    schema = "tenant_b"
    other = Migrator(second_database_url, monkeypatch)
    other_engine = sa.create_engine(second_database_url, poolclass=sa.pool.NullPool)
    application: dict[str, list[int]] = {}
    try:
        other.upgrade("0005", schema=schema, **_SMALL)  # the schema, no seed yet
        _add_application_rows(other_engine, schema, "early", application)
        other.upgrade("head", schema=schema, **_SMALL)
        again = _world(other_engine, schema=schema, leave_out=application)
        assert _counts(again) == _counts(fresh)
        assert again == fresh

        # The application's new rows hold the sequences above the seeds' ranges, so
        # the downgrade cannot give the keys back: the seeds run again on new keys.
        _add_application_rows(other_engine, schema, "late", application)
        other.downgrade("0006", schema=schema, **_SMALL)
        other.upgrade("head", schema=schema, **_SMALL)
        seeded_projects = _keys(other_engine, "projects", schema) - set(application["projects"])
        assert seeded_projects.isdisjoint(_keys(engine, "projects"))  # other keys entirely
        again = _world(other_engine, schema=schema, leave_out=application)
        assert _counts(again) == _counts(fresh)
        assert again == fresh
    finally:
        other_engine.dispose()
