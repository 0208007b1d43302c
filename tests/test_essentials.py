"""The reference app's production essentials: idempotent, and undone exactly."""

from __future__ import annotations

import sqlalchemy as sa

from tests.helpers import Migrator, database_name, rows


def _settings(engine: sa.Engine) -> dict[str, str]:
    return {r[1]: r[2] for r in rows(engine, "settings")}


def test_essentials_in_production_against_existing_rows(
    migrator: Migrator, engine: sa.Engine
) -> None:
    migrator.upgrade("0005", env="production")
    with engine.begin() as conn:  # an operator made the admin and one setting by hand
        conn.execute(
            sa.text(
                "INSERT INTO users (username, email, first_name, last_name, is_admin) "
                "VALUES ('admin', 'ops@corp.example', 'Ops', 'Person', true)"
            )
        )
        conn.execute(sa.text("INSERT INTO settings (key, value) VALUES ('site.name', 'Corp')"))
    migrator.upgrade("head", env="production")
    [admin] = rows(engine, "users")
    assert admin[2] == "ops@corp.example"  # untouched
    settings = _settings(engine)
    assert settings["site.name"] == "Corp"  # untouched
    assert len(settings) == 6

    # Running it again (a redeploy) changes nothing.
    migrator.downgrade("0005", env="production", allow_unsafe=database_name(engine))
    assert [r[1] for r in rows(engine, "users")] == ["admin"]
    assert _settings(engine) == {"site.name": "Corp"}  # only what the seed added went


def test_essentials_run_in_every_environment(migrator: Migrator, engine: sa.Engine) -> None:
    # The first run stamps the database production; the later ones need the override.
    for env in ("production", "staging", "development", "testing"):
        migrator.upgrade("0006", env=env, allow_unsafe=database_name(engine))
        assert [r[1] for r in rows(engine, "users")] == ["admin"], env
        migrator.downgrade("0005", env=env, allow_unsafe=database_name(engine))
        assert rows(engine, "users") == []
