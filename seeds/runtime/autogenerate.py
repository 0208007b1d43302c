"""What Alembic's autogenerate must never see: Seedchain's ledger and extension tables.

``alembic revision --autogenerate``, ``flask db migrate`` and ``alembic check`` compare
the database with the application's models. The ledger tables and the tables and
schemas PostgreSQL extensions own (PostGIS's ``spatial_ref_sys``, its ``topology`` and
``tiger`` schemas) are in the database but in no model, so without these filters
autogenerate proposes dropping them. :func:`run_migrations` applies them, composed with
a project's own ``include_name`` / ``include_object``; a project that configures Alembic
itself passes :func:`include_name` and :func:`include_object` to ``context.configure``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from seeds.errors import ConfigurationError
from seeds.runtime.ledger import TABLE_NAMES

# Owned by extensions (PostGIS, postgis_topology, postgis_tiger_geocoder), never by models.
EXTENSION_TABLES = frozenset({"spatial_ref_sys", "geometry_columns", "geography_columns"})
EXTENSION_SCHEMAS = frozenset({"topology", "tiger", "tiger_data"})

IncludeName = Callable[[str | None, str, Mapping[str, str | None]], bool]
IncludeObject = Callable[[Any, str | None, str, bool, Any], bool]


def include_name(name: str | None, type_: str, parent_names: Mapping[str, str | None]) -> bool:
    """Alembic ``include_name``: leave out the ledger and extension tables and schemas."""
    if type_ == "schema":
        return name not in EXTENSION_SCHEMAS
    if type_ == "table":
        return name not in TABLE_NAMES and name not in EXTENSION_TABLES
    return True


def include_object(
    obj: Any, name: str | None, type_: str, reflected: bool, compare_to: Any
) -> bool:
    """Alembic ``include_object``: the same, for tables that reach the comparison."""
    if type_ == "table" and reflected and compare_to is None:
        return name not in TABLE_NAMES and name not in EXTENSION_TABLES
    return True


def configure_args(
    target_metadata: Any, user_args: Mapping[str, Any], reserved: frozenset[str]
) -> dict[str, Any]:
    """``context.configure`` arguments of a project, with Seedchain's filters composed in.

    Raises:
        ConfigurationError: a project argument Seedchain sets itself.
    """
    clash = sorted(set(user_args) & reserved)
    if clash:
        raise ConfigurationError(
            f"run_migrations() sets {', '.join(clash)} itself (from DATABASE_URL, SCHEMA "
            "and the run); remove it from the arguments"
        )
    args = dict(user_args)
    theirs_name = args.pop("include_name", None)
    theirs_object = args.pop("include_object", None)

    def composed_name(name: str | None, type_: str, parents: Mapping[str, str | None]) -> bool:
        ok = include_name(name, type_, parents)
        return ok and (theirs_name is None or bool(theirs_name(name, type_, parents)))

    def composed_object(obj: Any, name: str | None, type_: str, reflected: bool, to: Any) -> bool:
        ok = include_object(obj, name, type_, reflected, to)
        return ok and (
            theirs_object is None or bool(theirs_object(obj, name, type_, reflected, to))
        )

    args.update(
        target_metadata=target_metadata,
        include_name=composed_name,
        include_object=composed_object,
    )
    return args
