"""Human and JSON renderings of Seedchain's reports, shared by ``seeds`` and ``flask seed``.

The front ends decide what to run; this module alone decides how a status table,
a plan, a verification run, a row summary or an anonymization report looks, so the
two commands always show the same thing. Tables go to standard output, warnings
(drift) to standard error.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from rich.cells import cell_len
from rich.console import Console
from rich.table import Column, Table

from seeds.runtime.environment import Environment
from seeds.runtime.run import RunResult, SeedOutcome
from seeds.runtime.undo import UndoPlan

if TYPE_CHECKING:
    from seeds.tools.anonymize import AnonymizeReport, RestampReport
    from seeds.tools.status import SeedStatus
    from seeds.tools.verification import RuleResult

console = Console()
err_console = Console(stderr=True, soft_wrap=True)  # an error stays one line


def _column(header: str, *, numbers: bool = False) -> Column:
    """A column that never cuts a value: text wraps at spaces and folds where a word is
    wider than the column; numbers stay on one line (right-aligned)."""
    return Column(header, justify="right" if numbers else "left", no_wrap=numbers, overflow="fold")


def _table(title: str, *columns: Column) -> Table:
    """A report table. Headers are single short words or two at most, so at 80 columns
    the columns that give way (the widest, by rich's rules) stay wider than any header;
    the title gets one line where the console is wide enough."""
    return Table(*columns, title=title, min_width=cell_len(title))


def status(statuses: Sequence[SeedStatus]) -> None:
    """Print the status table, then one line per drifted seed."""
    # --json has more: the title, per-table rows, the duration, an override.
    table = _table(
        "seed revisions",
        _column("revision"),
        _column("runs in"),
        _column("state"),
        _column("ran in"),
        _column("rows", numbers=True),
        _column("applied"),
    )
    for s in statuses:
        rows = f"{sum(s.row_counts.values()):,}" if s.row_counts else ""
        state = s.state + ("\n[red](drift)[/red]" if s.drift else "")
        table.add_row(
            s.revision,
            # One environment per line: the column is as narrow as its longest name.
            "all" if len(s.environments) == len(Environment) else "\n".join(s.environments),
            state,
            s.environment or "",
            rows,
            s.applied_at.strftime("%m-%d %H:%M") if s.applied_at else "",
        )
    console.print(table)
    for s in statuses:
        if s.drift:
            err_console.print(
                f"[red]drift:[/red] seed {s.revision} was edited after it was applied"
            )


def outcome_json(outcome: object) -> dict[str, Any]:
    """One seed revision's part of a plan (what it inserts or how it is undone)."""
    if isinstance(outcome, SeedOutcome):
        action = "insert" if outcome.status == "applied" else "skip (other environment)"
        return {
            "revision": outcome.revision,
            "action": action,
            "rows": dict(outcome.row_counts),
            "rows_per_second": {k: round(v) for k, v in outcome.rows_per_second.items()},
        }
    if isinstance(outcome, UndoPlan):
        return {
            "revision": outcome.revision,
            "action": "TRUNCATE CASCADE" if outcome.method == "truncate" else "keyed delete",
            "reason": outcome.reason,
            "method": outcome.method,
            "rows": outcome.rows_removed,
            "cascade": outcome.cascade,
            "changed": {t.name: t.changed for t in outcome.tables if t.changed},
            # The first changed rows by key (at most CHANGED_KEYS_SHOWN per table).
            "changed_keys": {
                t.name: [[_json_value(v) for v in key] for key in t.changed_keys]
                for t in outcome.tables
                if t.changed
            },
            "warnings": outcome.warnings,
            # Rows the seed did not insert that reference its rows: the undo refuses
            # while there are any (unless -x allow_cascade takes the removable ones).
            "blocked_by": [
                {
                    "table": b.table,
                    "constraint": b.constraint,
                    "references": b.referenced,
                    "on_delete": b.on_delete,
                    "rows": b.rows,
                }
                for b in outcome.blockers
            ],
            "order": outcome.order,
        }
    raise TypeError(outcome)


def _json_value(value: object) -> object:
    """A key value as JSON holds it: numbers and text as they are, anything else as text."""
    if isinstance(value, int | float | str | bool) or value is None:
        return value
    return str(value)


def _changed_note(revision: str, table: str, count: int, keys: Sequence[Sequence[Any]]) -> str:
    shown = ", ".join(
        str(key[0]) if len(key) == 1 else "(" + ", ".join(map(str, key)) + ")" for key in keys
    )
    first = f"first {len(keys)}: " if len(keys) < count else ""
    rows = "row" if count == 1 else "rows"
    return f"{revision}: {table}: {count:,} {rows} changed since seeded (keys {first}{shown})"


def plan_header(action: str, target: str, result: RunResult, environment_from: str) -> None:
    """Which database, environment and steps a plan used (a relative target resolved)."""
    console.print(
        f"database {result.database or '-'}, environment {result.environment or '-'} "
        f"({environment_from})",
        highlight=False,
        soft_wrap=True,
    )
    if not result.steps:
        console.print(f"{action} to {target}: already there, nothing to run", highlight=False)
    for step in result.steps:
        console.print(f"{action}: {step}", highlight=False, soft_wrap=True)


def plan(outcomes: Sequence[object], title: str) -> None:
    """Print a dry run's outcomes: one row per revision and table, then its notes."""
    if not outcomes:
        console.print("no seed revision would run", highlight=False)
        return
    table = _table(
        title,
        _column("revision"),
        _column("action"),
        _column("table"),
        _column("rows", numbers=True),
        _column("rows/s", numbers=True),
    )
    notes = []
    for outcome in outcomes:
        data = outcome_json(outcome)
        counts = data.get("rows") or {"": 0}
        for index, (name, count) in enumerate(counts.items()):
            first = index == 0
            reached = " (cascade)" if name in data.get("cascade", {}) else ""
            rate = data.get("rows_per_second", {}).get(name)
            table.add_row(
                data["revision"] if first else "",
                data["action"] if first else "",
                name + reached,
                f"{count:,}" if name else "",
                f"{rate:,.0f}" if rate else "",
            )
        if data.get("reason"):
            notes.append(f"{data['revision']}: {data['action']} because {data['reason']}")
        notes.extend(f"{data['revision']}: warning: {w}" for w in data.get("warnings", []))
        if isinstance(outcome, UndoPlan):
            notes.extend(
                f"{outcome.revision}: refused: rows it did not insert reference its rows: {b}"
                for b in outcome.blockers
            )
        for name, count in data.get("changed", {}).items():
            keys = data["changed_keys"].get(name, [])
            notes.append(_changed_note(data["revision"], name, count, keys))
    console.print(table)
    for note in notes:
        # One line per note however long (a list of keys), so it can be grepped.
        console.print(note, highlight=False, soft_wrap=True)


def verification(results: Sequence[RuleResult]) -> None:
    """Print ok/FAIL per rule with its problems, then the totals."""
    failed = sum(1 for r in results if not r.passed)
    for result in results:
        mark = "[green]ok[/green]  " if result.passed else "[red]FAIL[/red]"
        console.print(f"{mark} {result.name}", highlight=False, soft_wrap=True)
        for problem in result.problems:
            console.print(f"      {problem}", highlight=False, soft_wrap=True)
    console.print(f"{len(results) - failed} passed, {failed} failed", highlight=False)


def summary(database: str | None, revision: str | None, counts: Mapping[str, int]) -> None:
    """Print rows per table under the database's name and Alembic revision."""
    title = f"database {database} at revision {revision or '(none)'}"
    table = _table(title, _column("table"), _column("rows", numbers=True))
    for name, count in counts.items():
        table.add_row(name, f"{count:,}")
    console.print(table)


def anonymization(report: AnonymizeReport) -> None:
    """Print what an anonymize run rewrote (or would), with sample values."""
    what = "dry run (nothing was changed)" if report.dry_run else "rewritten"
    table = _table(
        f"anonymize {report.database}: {what}",
        _column("column"),
        _column("kind"),
        _column("unique"),
        _column("rows", numbers=True),
        _column("changed", numbers=True),
    )
    for column in report.columns:
        table.add_row(
            f"{column.table}.{column.column}",
            column.kind.value,
            "yes" if column.unique else "",
            f"{column.rows:,}",
            f"{column.changed:,}",
        )
    console.print(table)
    # Samples below the table: a fake can be long, and a table column would wrap it.
    for column in report.columns:
        for before, after in column.samples:
            console.print(f"  {column.table}.{column.column}: {before} -> {after}", highlight=False)
    if report.dry_run:
        console.print(f"{report.rows:,} rows would be rewritten", highlight=False)
    else:
        console.print(
            f"{report.rows:,} rows rewritten in {report.seconds:.1f}s "
            f"({report.rows_per_second:,.0f} rows/s)",
            highlight=False,
        )
    if report.marked_copy:
        console.print(f"marked database {report.database!r} as a copy", highlight=False)
    if report.dry_run and not report.is_copy:
        console.print(
            f"not marked as a copy: the real run needs --mark-copy {report.database}",
            highlight=False,
        )


def restamp(report: RestampReport) -> None:
    """Say what a re-stamp recorded."""
    was = report.previous.value if report.previous else "unstamped"
    console.print(
        f"database {report.database!r} is now protected as {report.environment} "
        f"(was {was}: {report.previous_reason})",
        highlight=False,
    )
