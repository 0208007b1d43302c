"""Undoing a seed revision exactly: the planner and the two ways of removing rows.

The ledger knows the keys of every row a seed inserted. The planner compares that
with what the tables hold now and picks:

- ``TRUNCATE <tables> RESTART IDENTITY CASCADE`` only when it is provably the same as
  removing the seed's rows: every row of every seeded table is the seed's, every
  table the cascade reaches is empty, and every sequence involved was untouched
  before the seed (so restarting identity restores it exactly);
- otherwise a keyed delete of the recorded rows (children first), after which each
  key sequence is put back where it stood before the seed, when no remaining row
  uses the range.

Rows the application changed since they were seeded are found by their value hash.
In a production database they are never deleted silently: the undo stops unless
``-x allow_changed=<database name>``. Elsewhere they are deleted with a warning.
Destructive statements run under ``lock_timeout`` and ``statement_timeout``.
"""

from __future__ import annotations

import logging
from collections import deque
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from seeds.dialects.base import SequenceState, single_integer_key
from seeds.errors import UndoRefused
from seeds.runtime.environment import Environment
from seeds.runtime.ledger import TABLE_NAMES

if TYPE_CHECKING:
    from collections.abc import Sequence

    from sqlalchemy.engine import Connection

    from seeds.runtime.run import Run, RunState

log = logging.getLogger(__name__)

# How many changed rows a plan names by key, per table.
CHANGED_KEYS_SHOWN = 10


@dataclass(frozen=True)
class TableUndo:
    """One seeded table as the undo finds it."""

    table: sa.Table = field(repr=False, compare=False)
    seeded: int
    present: int
    total: int
    changed: int
    sequence: SequenceState | None
    # Keys of the first changed rows (by key), at most CHANGED_KEYS_SHOWN of them.
    changed_keys: tuple[tuple[Any, ...], ...] = ()

    @property
    def name(self) -> str:
        """The table's name."""
        return self.table.name


@dataclass(frozen=True)
class UndoPlan:
    """What undoing one seed revision will do."""

    revision: str
    ledger_id: int
    method: str  # "truncate" or "delete"
    reason: str
    tables: list[TableUndo]
    cascade: dict[str, int] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)

    @property
    def rows_removed(self) -> dict[str, int]:
        """Rows removed per table (the cascade's reach included for TRUNCATE)."""
        removed = {
            t.name: (t.total if self.method == "truncate" else t.present) for t in self.tables
        }
        removed.update(self.cascade)
        return removed


def _table_map(tables: Sequence[sa.Table], record: Any) -> list[tuple[sa.Table, dict[str, Any]]]:
    by_name = {t.name: t for t in tables}
    pairs = []
    for entry in record.undo.get("tables", []):
        if entry["name"] not in by_name:
            raise UndoRefused(
                f"seed {record.revision}: the ledger says it wrote table {entry['name']}, but "
                f"the revision no longer declares it (tables=[{', '.join(sorted(by_name))}]); "
                "declare the table again, as it is at this revision, so its rows can be undone"
            )
        pairs.append((by_name[entry["name"]], entry))
    return pairs


ForeignKeys = dict[tuple[str | None, str], list[Any]]  # the inspector's get_multi_foreign_keys


def cascade_reach(foreign_keys: ForeignKeys, seeded: set[str]) -> set[str]:
    """Tables a TRUNCATE ... CASCADE of ``seeded`` would also empty (FK closure)."""
    referencing: dict[str, set[str]] = {}
    for (_, table), fks in foreign_keys.items():
        for fk in fks:
            referencing.setdefault(fk["referred_table"], set()).add(table)
    reach: set[str] = set()
    queue = deque(seeded)
    while queue:
        for child in referencing.get(queue.popleft(), ()):
            if child not in reach and child not in seeded:
                reach.add(child)
                queue.append(child)
    return reach - TABLE_NAMES


def plan(run: Run, record: Any, tables: Sequence[sa.Table]) -> UndoPlan:
    """Work out how to undo the ledger ``record`` without changing anything."""
    dialect, ledger, schema = run.dialect, run.ledger, run.state.schema
    conn = dialect.connection
    found = []
    for table, entry in _table_map(tables, record):
        sequence = entry.get("sequence")
        # Bulk rows are hashed too (a run from before bulk hashing has no hash rows,
        # and so counts no changes); volatile columns were never part of the hash.
        hashed = entry.get("hashed", [])
        changed = ledger.changed_rows(record.id, table, hashed)
        changed_keys = (
            ledger.changed_keys(record.id, table, hashed, limit=CHANGED_KEYS_SHOWN)
            if changed
            else []
        )
        found.append(
            TableUndo(
                table=table,
                seeded=int(record.row_counts.get(table.name, 0)),
                present=ledger.count_recorded(record.id, table),
                total=dialect.row_count(table),
                changed=changed,
                sequence=None if sequence is None else SequenceState(**sequence),
                changed_keys=tuple(changed_keys),
            )
        )
    # Reflected once: both the TRUNCATE reach and the unindexed-key warning need them.
    foreign_keys: ForeignKeys = (
        dict(sa.inspect(conn).get_multi_foreign_keys(schema=schema)) if found else {}
    )
    cascade: dict[str, int] = {}
    method, reason = "delete", ""
    if not dialect.can_truncate:
        reason = f"{dialect.name} has no TRUNCATE"
    elif not found:
        reason = "nothing was seeded"
    else:
        reach = cascade_reach(foreign_keys, {t.name for t in found})
        for name in sorted(reach):
            cascade[name] = dialect.row_count(sa.table(name, schema=schema))
        reflected = sa.MetaData()
        untouched = [
            dialect.sequence_state(sa.Table(name, reflected, autoload_with=conn, schema=schema))
            for name in reach
        ]
        if any(t.present != t.total for t in found):
            reason = "seeded tables also hold rows the seed did not insert"
        elif any(cascade.values()):
            reason = "the cascade reaches tables that hold rows"
        elif any(t.sequence is not None and t.sequence.last_value is not None for t in found):
            reason = "a sequence had been used before the seed (RESTART IDENTITY would reset it)"
        elif any(s is not None and s.last_value is not None for s in untouched):
            reason = "a sequence of a table the cascade reaches has been used"
        else:
            method = "truncate"
            reason = (
                "every row of the seeded tables is the seed's and the cascade reaches "
                "only empty tables"
            )
    warnings: list[str] = []
    if method == "delete":
        cascade = {}
        warnings = unindexed_references(conn, foreign_keys, {t.name for t in found}, schema)
        for warning in warnings:
            log.warning("seed %s: %s", record.revision, warning)
    return UndoPlan(record.revision, record.id, method, reason, found, cascade, warnings)


def unindexed_references(
    conn: Connection, foreign_keys: ForeignKeys, seeded: set[str], schema: str | None
) -> list[str]:
    """Foreign keys into ``seeded`` whose columns lead no index of their table.

    A keyed delete then makes the database scan the referencing table once per
    removed row (50,000 users took 100 s against an unindexed posts.user_id).
    """
    inspector = sa.inspect(conn)
    indexes = inspector.get_multi_indexes(schema=schema)
    keys = inspector.get_multi_pk_constraint(schema=schema)
    found = []
    for (_, table), fks in sorted(foreign_keys.items()):
        leading = {tuple(i["column_names"][:1]) for i in indexes.get((schema, table), [])}
        primary = keys.get((schema, table))
        if primary:
            leading.add(tuple(primary["constrained_columns"][:1]))
        for fk in fks:
            columns = fk["constrained_columns"]
            if fk["referred_table"] in seeded and (columns[0],) not in leading:
                found.append(
                    f"{table}.{columns[0]} references {fk['referred_table']} without an index; "
                    f"the delete scans {table} once per removed row (add an index)"
                )
    return found


def execute(run: Run, undo_plan: UndoPlan) -> None:
    """Carry out a plan inside the migration's transaction."""
    dialect, state = run.dialect, run.state
    changed = {t.name: t.changed for t in undo_plan.tables if t.changed}
    if changed:
        _check_changed(undo_plan.revision, changed, state)
    dialect.set_timeouts(state.parameters.lock_timeout, state.parameters.statement_timeout)
    tables = {t.name: t for t in undo_plan.tables}
    revision = undo_plan.revision
    if undo_plan.method == "truncate":
        log.info(
            "seed %s: TRUNCATE %s RESTART IDENTITY CASCADE (%s); removes %s",
            revision,
            ", ".join(tables),
            undo_plan.reason,
            undo_plan.rows_removed,
        )
        dialect.truncate([sa.table(name, schema=state.schema) for name in tables])
    else:
        log.info("seed %s: keyed delete (%s)", revision, undo_plan.reason)
        for name in reversed(list(tables)):  # children were seeded after their parents
            try:
                deleted = run.ledger.delete_recorded(undo_plan.ledger_id, tables[name].table)
            except sa.exc.IntegrityError as err:
                raise UndoRefused(
                    f"seed {revision}: cannot delete its rows from {name}: "
                    f"{str(err.orig).splitlines()[0]}; rows the seed did not insert still "
                    "reference them (remove or re-point those rows first)"
                ) from err
            log.info("seed %s: deleted %d rows from %s by ledger key", revision, deleted, name)
            if not state.dry_run:  # setval is not transactional: a plan must not move it
                _restore_sequence(run, tables[name].table, tables[name].sequence, revision)
    run.ledger.forget_keys(undo_plan.ledger_id)


def _restore_sequence(
    run: Run, table: sa.Table, state: SequenceState | None, revision: str
) -> None:
    key = single_integer_key(table)
    if state is None or key is None:
        return
    highest = run.dialect.scalar(sa.select(sa.func.max(key)))
    floor = state.last_value if state.last_value is not None else state.start - 1
    if highest is not None and highest > floor:
        log.info(
            "seed %s: sequence %s left as it is: rows with keys above %d remain",
            revision,
            state.name,
            floor,
        )
        return
    run.dialect.restore_sequence(state)
    log.info("seed %s: sequence %s restored to its pre-seed value", revision, state.name)


def _check_changed(revision: str, changed: dict[str, int], run: RunState) -> None:
    summary = ", ".join(f"{name}: {count}" for name, count in changed.items())
    protected = Environment.PRODUCTION in (run.stamp, run.environment)
    if not protected:
        log.warning("seed %s: deleting rows changed since they were seeded (%s)", revision, summary)
        return
    if run.parameters.allow_changed == run.database:
        log.warning(
            "seed %s: deleting rows changed since they were seeded (%s) under -x allow_changed=%s",
            revision,
            summary,
            run.database,
        )
        return
    raise UndoRefused(
        f"seed {revision}: rows it inserted were changed since ({summary}); a production "
        "database never loses them silently: restore them, or pass "
        f"-x allow_changed={run.database} to delete them anyway"
    )
