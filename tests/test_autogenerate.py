"""Autogenerate and read-only commands in a project wired to Seedchain, as a user meets them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

import seeds
from seeds.errors import ConfigurationError
from seeds.runtime.autogenerate import configure_args
from tests.helpers import Migrator, run_cli


def test_alembic_check_on_a_seeded_database_finds_no_change(
    migrator: Migrator, database_url: str
) -> None:
    """The ledger tables and PostGIS's spatial_ref_sys are in the database and in no
    model; autogenerate must not propose dropping them. Read-only: no environment."""
    migrator.upgrade("head", env="development")
    check = run_cli("alembic", "check", env={"DATABASE_URL": database_url, "APP_ENV": None})
    assert check.returncode == 0, check.stderr
    assert "No new upgrade operations detected" in check.stdout + check.stderr


def test_read_only_commands_need_no_environment(migrator: Migrator, database_url: str) -> None:
    migrator.upgrade("0006", env="production")
    current = run_cli("alembic", "current", env={"DATABASE_URL": database_url, "APP_ENV": None})
    assert current.returncode == 0, current.stderr
    assert "0006" in current.stdout
    # A command that changes the database still fails closed without one.
    up = run_cli("alembic", "upgrade", "head", env={"DATABASE_URL": database_url, "APP_ENV": None})
    assert up.returncode != 0
    assert "no environment" in (up.stdout + up.stderr).lower()


def _theirs(obj: Any, name: str | None, type_: str, reflected: bool, to: Any) -> bool:
    return name != "legacy_table"


def test_a_projects_own_filters_are_composed_not_replaced() -> None:
    args = configure_args(None, {"include_object": _theirs, "compare_type": False}, frozenset())
    keep = args["include_object"]
    assert keep(None, "users", "table", True, None)
    assert not keep(None, "seed_ledger", "table", True, None)  # Seedchain's
    assert not keep(None, "spatial_ref_sys", "table", True, None)
    assert not keep(None, "legacy_table", "table", True, None)  # the project's
    assert not args["include_name"]("topology", "schema", {})
    assert args["compare_type"] is False


def test_arguments_seedchain_sets_itself_are_refused() -> None:
    with pytest.raises(ConfigurationError, match="sets connection itself"):
        configure_args(None, {"connection": object()}, frozenset({"connection"}))


def test_the_filters_are_public(tmp_path: Path) -> None:
    assert seeds.include_name("seed_ledger_keys", "table", {"schema_name": None}) is False
    assert seeds.include_object(None, "users", "table", True, None) is True
