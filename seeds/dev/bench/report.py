"""BENCHMARKS.md: the machine on top, then one table per section, figures as ratios."""

from __future__ import annotations

from seeds.dev.bench.harness import Options
from seeds.dev.bench.loading import LIMIT
from seeds.dev.bench.results import Result, Section

TITLES = {
    Section.GENERATE: "1. Generating users (one core)",
    Section.LOAD: "2. Loading users",
    Section.COMMAND: "3. The whole command: `alembic -x users=N upgrade head`",
    Section.UNDO: "4. Undoing the same data",
    Section.POSTGIS: "5. PostGIS: stores with service areas in metres",
}

# What each section's ratios are to (the strategy marked baseline).
BASELINES = {
    Section.GENERATE: "Faker per value",
    Section.LOAD: "classic",
    Section.UNDO: "DELETE",
    Section.POSTGIS: "one INSERT per store",
}

INTROS = {
    Section.GENERATE: (
        "Users-shaped rows (names, unique username and e-mail, a creation time) made in "
        "memory and thrown away: a Faker call per value, against the Seedchain factory "
        "(`Factory.iter_chunks`: Faker pools indexed with Philox draws a chunk at a time, "
        "the derived fields a column at a time), on one core."
    ),
    Section.LOAD: (
        "The same rows into the same users-shaped table (identity key, unique username "
        "and e-mail, two server defaults), each strategy on a fresh table of one database, "
        "each making its rows its own way: the classic seeder and factory_boy call Faker per "
        "value, Core and Seedchain take the factory's rows, and the limit has the server "
        "make them with `generate_series` into a table with the same indexes."
    ),
    Section.COMMAND: (
        "The reference app's whole chain in development on a fresh database, run as a "
        "developer runs it (a subprocess: start-up, schema, every seed revision, the "
        "`display_name` backfill of 0010), against the limit at the same N. Peak memory is "
        "the subprocess's own peak resident set."
    ),
    Section.UNDO: (
        "First on the users-shaped table of section 2: the streaming path's rows undone by "
        "the planner and its executor as a downgrade runs them, alone in the table (so "
        "TRUNCATE is provably the same) and beside one row the application inserted (the "
        "keyed delete, which keeps it); both include the plan's change check of every "
        "row. Then the reference app's development seeds taken back out after the upgrade "
        "of section 3, each way on its own copy of that database: `alembic downgrade` "
        "with only seeded rows present (users holds 0007's users and the admin the "
        "production essentials seeded), the same with one row the application created in "
        "users, and a plain `DELETE` of the seed's users. The last column is what the undo "
        "chose and why: the admin of 0006 holds users' first key, so the undo of 0007 "
        "cannot be a TRUNCATE there (it would be another seed's row gone and the key "
        "sequence reset)."
    ),
    Section.POSTGIS: (
        "Stores with a point and a service-area polygon buffered in metres on the "
        "geography: one INSERT per store (a commit per 1,000), against the reference app's "
        "development seed run by `alembic` (its time less that of the same command with one "
        "store per city)."
    ),
}


def _seconds(value: float) -> str:
    return f"{value:,.1f}" if value >= 10 else f"{value:.2f}"


def ratio(value: float) -> str:
    """``value`` as a ratio, with the digits that matter at its size."""
    return f"{value:,.0f}×" if value >= 100 else f"{value:.1f}×" if value >= 1 else f"{value:.2f}×"


def _memory(kib: int | None) -> str:
    return "" if kib is None else f"{kib / 1024:,.0f} MiB"


def _timed_on(result: Result) -> str:
    if result.extrapolated:
        return f"{result.rows:,} rows, *extrapolated*"
    return "all rows"


def _rates_table(section: Section, results: list[Result]) -> list[str]:
    chosen = [r for r in results if r.section is section]
    if not chosen:
        return ["(not run)"]
    baseline = next((r for r in chosen if r.baseline), chosen[0])
    limit = next((r for r in chosen if r.strategy == LIMIT), None)
    extra = " of the limit |" if limit else ""
    notes = any(r.note for r in chosen)
    header = f"| strategy | rows | seconds | rows/s | vs {BASELINES[section]} |{extra} timed on |"
    header += " how |" if notes else ""
    lines = [header, "|---" + "|---:" * (4 + bool(limit)) + "|---|" + ("---|" if notes else "")]
    for r in chosen:
        cells = [
            r.strategy,
            f"{r.reported_rows:,}",
            _seconds(r.reported_seconds),
            f"{r.rate:,.0f}",
            ratio(r.rate / baseline.rate),
        ]
        if limit:
            cells.append(f"{r.rate / limit.rate:.1%}")
        cells.append(_timed_on(r))
        if notes:
            cells.append(r.note)
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def _command_table(results: list[Result]) -> list[str]:
    chosen = [r for r in results if r.section is Section.COMMAND]
    commands = [r for r in chosen if not r.baseline]
    if not commands:
        return ["(not run)"]
    limits = {r.rows: r for r in chosen if r.baseline}
    lines = [
        "| users | `alembic upgrade head` (s) | users/s | peak memory | limit (s) "
        "| × the limit's time |",
        "|---:|---:|---:|---:|---:|---:|",
    ]
    for r in commands:
        limit = limits[r.rows]
        lines.append(
            f"| {r.rows:,} | {_seconds(r.seconds)} | {r.rate:,.0f} | {_memory(r.peak_rss_kib)} "
            f"| {_seconds(limit.seconds)} | {ratio(r.seconds / limit.seconds)} |"
        )
    return lines


def markdown(
    results: list[Result], details: dict[str, str], options: Options, chart: str | None
) -> str:
    """The report; ``chart`` is the PNG's path relative to the report, if one was drawn."""
    large = f"{options.large_rows:,}" if options.large_rows else "skipped"
    lines = [
        "# Benchmarks",
        "",
        "Written by `scripts/bench` from one run on one machine, every figure side by side; "
        "nothing here is asserted by a test. Ratios compare speeds within a section. A "
        "strategy too slow to run on every row is timed on fewer and *extrapolated* (its "
        "cost per row does not depend on the count); the table says which.",
        "",
        f"Run: `--rows {options.rows}` (the whole command also at {large} users), slow "
        f"strategies timed on {min(options.rows, options.slow_rows):,} rows, Faker per "
        f"value on {min(options.rows, options.naive_rows):,}, {options.stores:,} stores "
        f"(one INSERT per store timed on {min(options.stores, options.slow_stores):,}).",
        "",
        "| machine | |",
        "|---|---|",
    ]
    lines += [f"| {key} | {value} |" for key, value in details.items()]
    if chart is not None:
        lines += ["", f"![Every section of this report as a chart]({chart})"]
    for section in Section:
        lines += ["", f"## {TITLES[section]}", "", INTROS[section], ""]
        if section is Section.COMMAND:
            lines += _command_table(results)
        else:
            lines += _rates_table(section, results)
    return "\n".join(lines) + "\n"
