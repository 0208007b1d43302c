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
from seeds.errors import ConfigurationError, UndoRefused, first_line
from seeds.runtime.environment import Environment
from seeds.runtime.ledger import TABLE_NAMES, Status
from seeds.runtime.ordering import LoadOrder, load_order

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
class Blocker:
    """Rows the seed did not insert that reference rows it did, through one foreign key."""

    table: str
    constraint: str
    referenced: str
    on_delete: str  # CASCADE, SET NULL, SET DEFAULT, RESTRICT or NO ACTION
    rows: int

    @property
    def removable(self) -> bool:
        """True when the database itself would take them along (cascade or set null)."""
        return self.on_delete in ("CASCADE", "SET NULL", "SET DEFAULT")

    def __str__(self) -> str:
        return (
            f"{self.table}: {self.rows} rows through {self.constraint} -> {self.referenced} "
            f"(ON DELETE {self.on_delete})"
        )


@dataclass(frozen=True)
class UndoPlan:
    """What undoing one seed revision will do.

    ``order`` is the keyed delete's table order (children first); ``nulled`` the
    cycle-breaking columns set to NULL first, ``deferred`` the constraints deferred.
    """

    revision: str
    ledger_id: int
    method: str  # "truncate" or "delete"
    reason: str
    tables: list[TableUndo]
    cascade: dict[str, int] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    blockers: list[Blocker] = field(default_factory=list)
    order: list[str] = field(default_factory=list)
    nulled: dict[str, list[str]] = field(default_factory=dict)
    deferred: list[str] = field(default_factory=list)

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
    run.ledger.check_keys(record)  # a damaged ledger cannot say which rows are the seed's
    dialect, ledger, schema = run.dialect, run.ledger, run.state.schema
    conn = dialect.connection
    # Planning reads every seeded table: bounded like the deletes, so an undo that
    # meets a long transaction fails clearly instead of queueing the application.
    parameters = run.state.parameters
    dialect.set_timeouts(parameters.lock_timeout, parameters.statement_timeout)
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
    blockers = _referencing_rows(run, record.id, found, foreign_keys)
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
    order = delete_order(conn, [t.table for t in found], schema)
    if method == "delete":
        cascade = {}
        warnings = unindexed_references(conn, foreign_keys, {t.name for t in found}, schema)
        for warning in warnings:
            log.warning("seed %s: %s", record.revision, warning)
    for blocker in blockers:
        log.warning(
            "seed %s: rows it did not insert reference its rows: %s", record.revision, blocker
        )
    return UndoPlan(
        record.revision,
        record.id,
        method,
        reason,
        found,
        cascade,
        warnings,
        blockers,
        [t.name for t in order.tables][::-1],
        {t.name: order.nulled_columns(t) for t in order.tables if order.nulled_columns(t)},
        [str(c.name) for c in order.deferred],
    )


def delete_order(conn: Connection, tables: Sequence[sa.Table], schema: str | None) -> LoadOrder:
    """The load order of the seeded tables as the database has them now (reversed, the
    delete order), with a cycle broken where the load broke it: the same nullable or
    DEFERRABLE foreign key. The frozen tables may not declare every foreign key; the
    database's own are the ones a delete must respect."""
    reflected = sa.MetaData()
    live = [sa.Table(t.name, reflected, autoload_with=conn, schema=schema) for t in tables]
    try:
        return load_order(live)
    except ConfigurationError:
        # No foreign key of the cycle can wait: the delete fails on it and says so.
        return LoadOrder(live)


def _referencing_rows(
    run: Run, ledger_id: int, found: Sequence[TableUndo], foreign_keys: ForeignKeys
) -> list[Blocker]:
    """Every foreign key through which rows the seed did not insert reference rows it
    did, with the number of such rows: all of them at once, set-based."""
    schema = run.state.schema
    seeded = {t.name: t.table for t in found}
    blockers = []
    for (_, child_name), fks in sorted(foreign_keys.items()):
        for fk in fks:
            parent = seeded.get(fk["referred_table"])
            if parent is None or child_name in TABLE_NAMES:
                continue
            keys = run.ledger.recorded_keys(ledger_id, parent)
            parent_key = [c.name for c in parent.primary_key.columns]
            if keys is None or list(fk["referred_columns"]) != parent_key:
                continue  # only single-column primary keys are looked up in SQL
            columns = list(fk["constrained_columns"])
            child = seeded.get(child_name)
            source: sa.TableClause
            if child is None:
                source = sa.table(child_name, sa.column(columns[0]), schema=schema)
                where = [source.c[columns[0]].in_(keys)]
            else:  # the seed's own rows referencing each other are fine
                source = child
                where = [child.c[columns[0]].in_(keys)]
                own = run.ledger.recorded_filter(ledger_id, child)
                if own is not None:
                    where.append(~own)
            count = sa.select(sa.func.count()).select_from(source).where(*where)
            rows = run.dialect.scalar(count) or 0
            if rows:
                blockers.append(
                    Blocker(
                        child_name,
                        str(fk.get("name") or f"{child_name}.{columns[0]}"),
                        parent.name,
                        str(fk.get("options", {}).get("ondelete") or "NO ACTION").upper(),
                        int(rows),
                    )
                )
    return blockers


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
    """Carry out a plan inside the migration's transaction.

    Key sequences are not put back here: ``setval`` cannot be rolled back, so it
    waits until this revision's transaction has committed (:func:`restore_sequences`).
    """
    dialect, state = run.dialect, run.state
    revision = undo_plan.revision
    changed = {t.name: t.changed for t in undo_plan.tables if t.changed}
    if changed:
        _check_changed(revision, changed, state)
    if undo_plan.blockers and not _take_referencing(undo_plan, state):
        return  # a dry run: the plan lists them, nothing is deleted
    tables = {t.name: t for t in undo_plan.tables}
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
        if undo_plan.deferred:
            dialect.defer_constraints(undo_plan.deferred)
        for name, columns in undo_plan.nulled.items():
            run.ledger.null_recorded(undo_plan.ledger_id, tables[name].table, columns)
        for name in undo_plan.order:
            try:
                deleted = run.ledger.delete_recorded(undo_plan.ledger_id, tables[name].table)
            except sa.exc.IntegrityError as err:
                raise UndoRefused(
                    f"seed {revision}: cannot delete its rows from {name}: "
                    f"{str(err.orig).splitlines()[0]}; rows the seed did not insert still "
                    "reference them (remove or re-point those rows first)"
                ) from err
            log.info("seed %s: deleted %d rows from %s by ledger key", revision, deleted, name)
            sequence = tables[name].sequence
            if not state.dry_run and sequence is not None:
                run.after_commit(
                    PendingSequence(revision, undo_plan.ledger_id, tables[name].table, sequence)
                )
    run.ledger.forget_keys(undo_plan.ledger_id)


def _take_referencing(undo_plan: UndoPlan, state: RunState) -> bool:
    """Whether the undo may go ahead although rows it did not insert reference its rows.

    Raises:
        UndoRefused: listing every referencing table and constraint with row counts.
    """
    listed = "; ".join(str(b) for b in undo_plan.blockers)
    revision = undo_plan.revision
    if state.dry_run:
        return False
    stuck = [b for b in undo_plan.blockers if not b.removable]
    if state.parameters.allow_cascade == state.database and not stuck:
        log.warning(
            "seed %s: taking rows it did not insert with its own (-x allow_cascade=%s): %s",
            revision,
            state.database,
            listed,
        )
        return True
    if stuck and state.parameters.allow_cascade == state.database:
        raise UndoRefused(
            f"seed {revision}: rows it did not insert reference its rows through keys that "
            f"refuse deletes ({'; '.join(str(b) for b in stuck)}); remove or re-point those "
            "rows first"
        )
    raise UndoRefused(
        f"seed {revision}: rows it did not insert reference its rows ({listed}); the undo "
        "never removes or changes them: remove or re-point them first, or pass "
        f"-x allow_cascade={state.database} to let their foreign keys take them "
        "(CASCADE and SET NULL only)"
    )


@dataclass(frozen=True)
class PendingSequence:
    """A key sequence to put back once the rows of ``revision`` are gone for good.

    ``gone_when`` is the status the ledger row has once they are: UNDONE after an undo
    has committed; None (the row rolled back with them) after a seed that failed.
    """

    revision: str
    ledger_id: int
    table: sa.Table
    state: SequenceState
    gone_when: Status | None = Status.UNDONE


def restore_sequences(run: Run) -> None:
    """Put back the sequences of committed undos and of failed seeds, where no row
    uses the range drawn.

    Runs after the revisions' transactions, so a failed or interrupted downgrade (its
    rows back after the rollback) never leaves a sequence below existing keys. If this
    step itself cannot run, the sequences stay ahead: keys skip a range, nothing breaks.
    """
    for pending in run.take_after_commit():
        try:
            status = run.ledger.status_of(pending.ledger_id) if run.ledger.exists() else None
            if status != pending.gone_when:
                continue  # the undo rolled back, or the seed committed: the rows are there
            _restore_sequence(run, pending)
            run.dialect.connection.commit()
        except sa.exc.DBAPIError as err:
            log.warning(
                "seed %s: sequence %s left where it is (%s); new keys skip the seeded range",
                pending.revision,
                pending.state.name,
                first_line(err),
            )
            return


def _restore_sequence(run: Run, pending: PendingSequence) -> None:
    key = single_integer_key(pending.table)
    if key is None:
        return
    state = pending.state
    run.dialect.hold_inserts(pending.table)  # the application may be inserting right now
    highest = run.dialect.scalar(sa.select(sa.func.max(key)))
    floor = state.last_value if state.last_value is not None else state.start - 1
    if highest is not None and highest > floor:
        log.info(
            "seed %s: sequence %s left as it is: rows with keys above %d remain",
            pending.revision,
            state.name,
            floor,
        )
        return
    run.dialect.restore_sequence(state)
    log.info("seed %s: sequence %s given back its pre-seed value", pending.revision, state.name)


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
