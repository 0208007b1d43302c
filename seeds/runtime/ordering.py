"""Insertion order from the foreign-key graph, and what to do about cycles.

Parents go before children (SQLAlchemy's topological sort of the tables). A table
that references itself (a tree) needs no special order: its rows are written
parents first by the caller, and PostgreSQL checks a statement's foreign keys at
its end. A real cycle between tables is broken at a foreign key that can wait:

- a *deferrable* constraint is deferred to the end of the transaction
  (``SET CONSTRAINTS ... DEFERRED``), rows inserted as they are;
- a *nullable* one is inserted as NULL and set by an UPDATE once both sides exist;
- otherwise the cycle cannot be loaded, and the error names its tables and
  constraints and says what would make it loadable.
"""

from __future__ import annotations

import graphlib
from dataclasses import dataclass, field

import sqlalchemy as sa

from seeds.errors import ConfigurationError


@dataclass(frozen=True)
class LoadOrder:
    """The tables in insertion order and the foreign keys that break cycles.

    Attributes:
        tables: Parents first.
        deferred: Cycle-breaking constraints PostgreSQL can defer.
        nulled: Cycle-breaking constraints whose columns are inserted as NULL and
            filled in afterwards.
    """

    tables: list[sa.Table]
    deferred: list[sa.ForeignKeyConstraint] = field(default_factory=list)
    nulled: list[sa.ForeignKeyConstraint] = field(default_factory=list)

    def nulled_columns(self, table: sa.Table) -> list[str]:
        """Columns of ``table`` to insert as NULL and update afterwards."""
        return [
            element.parent.name
            for constraint in self.nulled
            if constraint.table is table
            for element in constraint.elements
        ]


def _edges(tables: list[sa.Table], dropped: list[sa.ForeignKeyConstraint]) -> dict[str, set[str]]:
    names = {t.name for t in tables}
    graph: dict[str, set[str]] = {t.name: set() for t in tables}
    for table in tables:
        for constraint in table.foreign_key_constraints:
            parent = constraint.referred_table.name
            if parent in names and parent != table.name and constraint not in dropped:
                graph[table.name].add(parent)
    return graph


def load_order(tables: list[sa.Table]) -> LoadOrder:
    """Order ``tables`` for inserting, breaking foreign-key cycles where possible.

    Raises:
        ConfigurationError: a cycle with no deferrable or nullable foreign key.
    """
    by_name = {t.name: t for t in tables}
    names = set(by_name)
    candidates = sorted(
        (
            c
            for t in tables
            for c in t.foreign_key_constraints
            if c.referred_table.name in names
            and c.referred_table is not t
            and (c.deferrable or all(e.parent.nullable for e in c.elements))
        ),
        # Deferring costs nothing at load time; NULL-then-UPDATE costs an update.
        key=lambda c: (not c.deferrable, c.table.name, str(c.name)),
    )
    dropped: list[sa.ForeignKeyConstraint] = []
    while True:
        sorter = graphlib.TopologicalSorter(_edges(tables, dropped))
        try:
            order = list(sorter.static_order())
            break
        except graphlib.CycleError as err:
            cycle = set(err.args[1])
            breakable = [
                c
                for c in candidates
                if c not in dropped and c.table.name in cycle and c.referred_table.name in cycle
            ]
            if not breakable:
                members = sorted(cycle)
                raise ConfigurationError(
                    f"foreign-key cycle between {', '.join(members)} cannot be loaded: none of "
                    "its foreign keys is nullable or DEFERRABLE; make one of them nullable "
                    "(insert NULL, then update) or DEFERRABLE"
                ) from None
            dropped.append(breakable[0])
    deferred = [c for c in dropped if c.deferrable]
    nulled = [c for c in dropped if not c.deferrable]
    return LoadOrder([by_name[name] for name in order], deferred, nulled)
