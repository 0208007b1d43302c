"""Checks of a seed's rows against the table before anything is written.

What the database would refuse anyway is caught here first, so the error names the
revision, table, row index and column, and says what to fix, instead of surfacing
as a driver error about a statement of a thousand rows.
"""

from __future__ import annotations

from collections.abc import Mapping, MutableSequence
from typing import Any

import sqlalchemy as sa

from seeds.data import geo
from seeds.errors import GeometryError, SeedDataError


def _has_default(column: sa.Column[Any]) -> bool:
    return (
        column.default is not None
        or column.server_default is not None
        or column.identity is not None
        or (column.primary_key and column.autoincrement is True)
        or (
            column.primary_key
            and column.autoincrement == "auto"
            and isinstance(column.type, sa.Integer)
            and len(column.table.primary_key.columns) == 1
        )
    )


def _not_an_integer(column: sa.Column[Any], value: Any) -> bool:
    """Text, or a number with a fraction, for an integer column: the database would
    refuse the text (naming no row) and silently round the number."""
    if not isinstance(column.type, sa.Integer):
        return False
    return isinstance(value, str) or (isinstance(value, float) and not value.is_integer())


def validate_rows(
    revision: str, table: sa.Table, rows: MutableSequence[Mapping[str, Any]], *, offset: int = 0
) -> list[str]:
    """Check rows for ``table``; return the column names they set, in table order.

    Values of GeoAlchemy2 ``Geometry`` columns go through :func:`seeds.data.geo.coerce`
    (SRID, geometry type, validity), and a row holding one is replaced in ``rows`` by a
    copy whose value the insert can take online and in ``--sql`` output alike
    (``ST_GeomFromEWKT('SRID=...')``, or the SQL expression given); the caller's own
    mappings are never changed.

    Raises:
        SeedDataError: the first problem found, naming row and column.
    """
    if not rows:
        return []
    known = set(table.c.keys())
    first = set(rows[0])
    required = [c.name for c in table.c if not c.nullable and not _has_default(c)]
    unique_sets = [
        [c.name for c in constraint.columns]
        for constraint in table.constraints
        if isinstance(constraint, sa.UniqueConstraint | sa.PrimaryKeyConstraint)
    ] + [
        [c.name for c in index.columns]
        for index in table.indexes
        if index.unique and len(index.columns) == len(index.expressions)
    ]
    seen: dict[tuple[str, ...], dict[tuple[Any, ...], int]] = {tuple(u): {} for u in unique_sets}
    spatial = {c.name: c.type for c in table.c if geo.is_geometry(c.type)}
    for index, row in enumerate(rows, start=offset):
        names = set(row)
        unknown = names - known
        if unknown:
            raise SeedDataError(
                f"no such column(s) {sorted(unknown)}; the table at this revision has "
                f"{sorted(known)} (fix the row, or the frozen table if the schema changed)",
                revision=revision,
                table=table.name,
                column=sorted(unknown)[0],
                row_index=index,
            )
        if names != first:
            raise SeedDataError(
                f"sets columns {sorted(names)} but row {offset} sets {sorted(first)}; "
                "give every row of one call the same columns",
                revision=revision,
                table=table.name,
                row_index=index,
            )
        for name in required:
            if row.get(name) is None:
                raise SeedDataError(
                    "is NOT NULL and has no default, but the row gives no value; set it",
                    revision=revision,
                    table=table.name,
                    column=name,
                    row_index=index,
                )
        for name, value in row.items():
            column = table.c[name]
            if value is None and not column.nullable:
                raise SeedDataError(
                    "is NOT NULL but the row sets it to None; give a value or leave it out "
                    "to use the column default",
                    revision=revision,
                    table=table.name,
                    column=name,
                    row_index=index,
                )
            if _not_an_integer(column, value):
                raise SeedDataError(
                    f"is an integer column, but the row gives {value!r} "
                    f"({type(value).__name__}); give an int (or fix the frozen column's type)",
                    revision=revision,
                    table=table.name,
                    column=name,
                    row_index=index,
                )
            length = getattr(column.type, "length", None)
            if isinstance(value, str) and length is not None and len(value) > length:
                raise SeedDataError(
                    f"value of {len(value)} characters exceeds the column's {length}; shorten it",
                    revision=revision,
                    table=table.name,
                    column=name,
                    row_index=index,
                )
        for columns, values in seen.items():
            if all(row.get(c) is not None for c in columns):
                key = tuple(row[c] for c in columns)
                if key in values:
                    raise SeedDataError(
                        f"duplicates row {values[key]} on unique {list(columns)} = {list(key)}; "
                        "make the values unique",
                        revision=revision,
                        table=table.name,
                        column=columns[0],
                        row_index=index,
                    )
                values[key] = index
        if spatial:
            rows[index - offset] = _coerce_geometries(revision, table, row, spatial, index)
    return [c.name for c in table.c if c.name in first]


def _coerce_geometries(
    revision: str, table: sa.Table, row: Mapping[str, Any], spatial: Mapping[str, Any], index: int
) -> Mapping[str, Any]:
    """The row with its geometry values checked and normalised (a copy if any changed)."""
    changed: dict[str, Any] = {}
    for name, type_ in spatial.items():
        value = row.get(name)
        if value is None:
            continue
        try:
            coerced = geo.coerce(value, srid=type_.srid, geometry_type=type_.geometry_type)
        except GeometryError as err:
            raise SeedDataError(
                err.reason, revision=revision, table=table.name, column=name, row_index=index
            ) from err
        if isinstance(coerced, str):
            # As an expression around a text parameter, the value renders in --sql
            # output too (GeoAlchemy2's Geometry type has no literal form).
            coerced = geo.from_ewkt(coerced)
        if coerced is not value:
            changed[name] = coerced
    return {**row, **changed} if changed else row
