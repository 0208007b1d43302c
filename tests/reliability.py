"""The reliability cases: every fault and bad input the suite puts Seedchain through.

Each :class:`Case` says what is done to Seedchain, what the user sees, the sizes it runs
at (CI's, and the large one) and the test that runs it. That test records what it
measured through the ``reliability`` fixture: rows lost and rows leaked (it fails
unless both are 0), the time taken, and what the user saw, which must match the
case's ``sees``.

RELIABILITY.md is written from these declarations and a run's measurements:
``scripts/reliability`` runs every case at the large size (``--reliability-size=large``
or ``SEEDCHAIN_RELIABILITY_SIZE=large``; CI runs the ``ci`` size, the default) with
``--reliability-write``. tests/test_reliability.py fails when RELIABILITY.md no
longer lists exactly these cases as declared, so the file cannot drift from the suite.

``python -m tests.reliability`` prints the test of every case, for the script.
"""

from __future__ import annotations

import os
import re
from collections import Counter
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import pytest

SIZES = ("ci", "large")
SIZE_VARIABLE = "SEEDCHAIN_RELIABILITY_SIZE"
DOCUMENT = Path(__file__).resolve().parents[1] / "RELIABILITY.md"

# The seed of the random kill and restart points (in the tests' ids and messages).
FAULT_SEED = 20260101


@dataclass(frozen=True)
class Case:
    """One fault or bad input.

    Attributes:
        id: A short name, unique.
        fault: What is done, in words.
        sees: What the user sees. With ``line`` it is the FAILED line, abbreviated:
            each ``…`` stands for any text, and the line seen must match it.
        test: The pytest node id of the test that runs the case.
        size: How big a run is, in words: a format string over ``ci`` / ``large``.
        ci: The numbers CI runs the case with.
        large: The numbers of the large size; None where the case has one size.
        line: Whether ``sees`` is a FAILED line the test checks.
    """

    id: str
    fault: str
    sees: str
    test: str
    size: str
    ci: Mapping[str, int] = field(default_factory=dict)
    large: Mapping[str, int] | None = None
    line: bool = True

    def numbers(self, size: str) -> Mapping[str, int]:
        """The case's numbers at ``size`` (``ci`` or ``large``)."""
        return self.large if size == "large" and self.large is not None else self.ci

    def size_in_words(self, size: str) -> str:
        if size == "large" and self.large is None:
            return "as CI"
        return self.size.format(**self.numbers(size))

    def matches(self, seen: str) -> bool:
        """Whether a FAILED line is the one this case declares."""
        pattern = ".*".join(re.escape(part) for part in self.sees.split("…"))
        return re.fullmatch(pattern, seen, re.DOTALL) is not None


_KILLS = "{seeds} seeds × ({users:,} `ctx.insert` + {posts:,} `ctx.bulk` rows), {points} kills"
_FAULT_CI = {"seeds": 4, "users": 1_000, "posts": 2_000}
_FAULT_LARGE = {"seeds": 4, "users": 10_000, "posts": 20_000}
_AFTER_KILL = (
    "nothing (killed); the database is at the last revision that committed, the ledger "
    "agrees; the re-run exits 0 with the data of an uninterrupted run"
)
_FAILURES = "tests/test_failures.py"
_TAMPER = "tests/test_tamper.py"
_FAULTS = "tests/test_faults.py"
_INPUT = "tests/test_bad_input.py"
_SMALL = "{rows} seeded rows in the database"

CASES: dict[str, Case] = {
    case.id: case
    for case in [
        Case(
            "kill-upgrade",
            "kill -9 of `alembic upgrade head` at seeded-random moments of each revision",
            _AFTER_KILL,
            f"{_FAULTS}::test_kill_9_of_an_upgrade",
            _KILLS,
            {**_FAULT_CI, "points": 10},
            {**_FAULT_LARGE, "points": 20},
            line=False,
        ),
        Case(
            "kill-keyed-downgrade",
            "kill -9 of a keyed `alembic downgrade` (application rows in the seeded tables) at "
            "seeded-random moments of each revision",
            _AFTER_KILL,
            f"{_FAULTS}::test_kill_9_of_a_keyed_downgrade",
            _KILLS,
            {**_FAULT_CI, "points": 10},
            {**_FAULT_LARGE, "points": 20},
            line=False,
        ),
        Case(
            "restart-upgrade",
            "PostgreSQL restarted (`pg_ctl restart -m fast`) during `alembic upgrade head`",
            "FAILED: …the connection to the database was lost (…)…: run the command again",
            f"{_FAULTS}::test_a_restart_during_an_upgrade",
            "{seeds} seeds × ({users:,} + {posts:,} rows)",
            _FAULT_CI,
            _FAULT_LARGE,
        ),
        Case(
            "restart-keyed-downgrade",
            "PostgreSQL restarted during a keyed `alembic downgrade`",
            "FAILED: …the connection to the database was lost (…)…: run the command again",
            f"{_FAULTS}::test_a_restart_during_a_keyed_downgrade",
            "{seeds} seeds × ({users:,} + {posts:,} rows)",
            _FAULT_CI,
            _FAULT_LARGE,
        ),
        Case(
            "blocked-truncate-undo",
            "TRUNCATE undo behind another session's ACCESS SHARE lock (`lock_timeout=300ms`)",
            "FAILED: seed s2: the undo stopped: canceling statement due to lock timeout; "
            "nothing was removed (locks on its tables: held by pid … (…, the-reporting-job, "
            "…); retry when it is done, or change -x lock_timeout / -x statement_timeout)",
            f"{_FAILURES}::test_a_blocked_undo_names_the_session_in_its_way"
            "[truncate-behind-access-share]",
            "{rows} seeded rows",
            {"rows": 6},
        ),
        Case(
            "blocked-keyed-undo",
            "keyed undo behind another session's FOR SHARE row lock (`lock_timeout=300ms`)",
            "FAILED: seed s2: the undo stopped: canceling statement due to lock timeout; "
            "nothing was removed (locks on its tables: held by pid … (…, the-reporting-job, "
            "…); retry when it is done, or change -x lock_timeout / -x statement_timeout)",
            f"{_FAILURES}::test_a_blocked_undo_names_the_session_in_its_way"
            "[keyed-behind-for-share]",
            "{rows} seeded rows + 1 application row",
            {"rows": 6},
        ),
        Case(
            "concurrent-upgrades",
            "10 `alembic upgrade head` processes at once on one database",
            "every one exits 0: one applies the seeds under the deploy lock, the others "
            "wait for it and find the database at head; the data of a single run",
            f"{_FAULTS}::test_concurrent_upgrades_apply_each_seed_once",
            "{processes} processes, {seeds} seeds × ({users:,} + {posts:,} rows)",
            {**_FAULT_CI, "processes": 10},
            {**_FAULT_LARGE, "processes": 10},
            line=False,
        ),
        Case(
            "concurrent-downgrades",
            "2 keyed `alembic downgrade f0` processes at once on one database",
            "both exit 0: one removes the seeds' rows, the other waits for the deploy lock "
            "and finds nothing to do; the application's rows stay",
            f"{_FAULTS}::test_concurrent_downgrades_undo_each_seed_once",
            "{seeds} seeds × ({users:,} + {posts:,} rows)",
            _FAULT_CI,
            _FAULT_LARGE,
            line=False,
        ),
        *(
            Case(
                f"bad-x-users={value}",
                f"`alembic -x users={value} upgrade head`, read by a seed",
                f"FAILED: seed s2: setting users='{value}' {problem}; fix -x users= or "
                "[tool.seeds.development] in pyproject.toml",
                "tests/test_errors.py::test_bad_counts_are_refused_before_any_row",
                "an empty database",
            )
            for value, problem in [
                ("-5", "is below 0"),
                ("1e9", "is not a whole number"),
                ("abc", "is not a whole number"),
            ]
        ),
        Case(
            "bad-x-now",
            "`alembic -x now=notadate upgrade head`",
            "FAILED: -x now='notadate' is not an ISO-8601 time; e.g. -x "
            "now=2026-01-01T00:00:00+00:00",
            f"{_INPUT}::test_bad_x_values_are_one_line_and_change_nothing[now=notadate]",
            _SMALL,
            {"rows": 6},
        ),
        Case(
            "bad-x-seed-sql",
            '`alembic -x "seed=1; drop table users" upgrade head`',
            "FAILED: -x seed='1; drop table users' is not a whole number from 0 to "
            "9223372036854775807; e.g. -x seed=12345",
            f"{_INPUT}::test_bad_x_values_are_one_line_and_change_nothing[seed=sql]",
            _SMALL,
            {"rows": 6},
        ),
        Case(
            "bad-x-seed-huge",
            "`alembic -x seed=99999999999999999999999 upgrade head`",
            "FAILED: -x seed='99999999999999999999999' is not a whole number from 0 to "
            "9223372036854775807; e.g. -x seed=12345",
            f"{_INPUT}::test_bad_x_values_are_one_line_and_change_nothing[seed=huge]",
            _SMALL,
            {"rows": 6},
        ),
        Case(
            "frozen-column-missing",
            "a seed's frozen table names a column the real table lacks",
            'FAILED: seed s2: table users: column "nickname" of relation '
            '"users" does not exist; the seed\'s frozen table names a column the database '
            "table lacks: fix the sa.Table in the seed file (seeds new writes it from the "
            "database)",
            f"{_FAILURES}::test_rows_the_database_cannot_take_are_one_line[frozen-column-missing]",
            "an empty database",
        ),
        Case(
            "frozen-type-wrong",
            "a seed's frozen column is text where the real column is an integer",
            'FAILED: seed s2: table posts: column "user_id" is of type bigint but expression '
            "is of type character varying; a frozen column's type is not the table's: fix "
            "the sa.Column in the seed file",
            f"{_FAILURES}::test_rows_the_database_cannot_take_are_one_line[frozen-type-wrong]",
            "an empty database",
        ),
        Case(
            "tampered-ledger-keys",
            "`seed_ledger_keys` rows deleted by hand, then `alembic downgrade`",
            "FAILED: seed s2: the ledger's keys of table posts were changed since the seed "
            "ran (recorded count 20, …; found count 15, …), so the undo cannot tell which "
            "rows are the seed's and deleted nothing; restore seed_ledger_keys from a backup "
            "…",
            f"{_TAMPER}::test_the_command_line_downgrade_fails_with_one_line",
            "{rows} seeded rows",
            {"rows": 40},
        ),
        Case(
            "tampered-stamp",
            "the production stamp deleted or rewritten, then a development downgrade",
            "FAILED: database '…' is marked production; refusing to run development seeds "
            "against it (to do it anyway: -x allow_unsafe=…)",
            f"{_TAMPER}::test_a_tampered_stamp_still_refuses_development_runs_and_downgrades",
            "{rows} seeded rows, PostgreSQL and SQLite",
            {"rows": 6},
        ),
        Case(
            "nul-byte",
            "a string with a NUL byte, through `ctx.insert`",
            "FAILED: seed s2: table users row 0 column username: PostgreSQL text fields "
            "cannot contain NUL (0x00) bytes; remove the NUL byte from the value",
            f"{_FAILURES}::test_rows_the_database_cannot_take_are_one_line[nul-byte]",
            "an empty database",
        ),
        Case(
            "odd-strings",
            "quotes, backslashes, a tab, a newline and non-BMP unicode (😀), online and "
            "through `--sql` + psql",
            "exit 0; both databases hold the strings byte for byte",
            "tests/test_offline.py::test_a_script_writes_the_same_bytes_as_an_online_run",
            "{rows} rows",
            {"rows": 4},
            line=False,
        ),
        Case(
            "random-strings",
            "random unicode strings (no NUL, any plane) through `ctx.insert` and `ctx.bulk`",
            "exit 0; the strings read back exactly; the downgrade removes them",
            f"{_INPUT}::test_random_strings_round_trip",
            "{examples} random batches of up to {rows:,} rows",
            {"examples": 10, "rows": 50},
            {"examples": 100, "rows": 500},
            line=False,
        ),
        Case(
            "bad-insert-row",
            "a bad row (NULL, too long, text for an integer, dangling foreign key, NUL byte, "
            "duplicate key) at a random position of a `ctx.insert` batch",
            "FAILED: seed s2: table posts row … column …: …",
            f"{_INPUT}::test_a_bad_row_of_an_insert_is_named",
            "{examples} random batches of up to {rows:,} rows",
            {"examples": 25, "rows": 2_500},
            {"examples": 200, "rows": 20_000},
        ),
        Case(
            "bad-bulk-row",
            "a bad row (NULL, too long, text for an integer, NUL byte, duplicate key) at a "
            "random position of a `ctx.bulk` load",
            "FAILED: seed s2: table posts row … column …: …",
            f"{_INPUT}::test_a_bad_row_of_a_bulk_load_is_named",
            "{examples} random loads of up to {rows:,} rows",
            {"examples": 25, "rows": 2_500},
            {"examples": 200, "rows": 20_000},
        ),
    ]
}


# -- measuring ------------------------------------------------------------------------


@dataclass
class Measurement:
    """What the runs of one case measured, added up."""

    runs: int = 0
    lost: int = 0
    leaked: int = 0
    seconds: float = 0.0
    notes: Counter[str] = field(default_factory=Counter)

    def summary(self) -> str:
        """``3 runs, 12.5 s; note ×2; other note``."""
        runs = f"{self.runs} run{'s' if self.runs != 1 else ''}, {self.seconds:.1f} s"
        notes = [note if n == 1 else f"{note} ×{n}" for note, n in sorted(self.notes.items())]
        return "; ".join([runs, *notes])


class Reliability:
    """The session's measurements, by case."""

    def __init__(self, size: str) -> None:
        if size not in SIZES:
            raise pytest.UsageError(f"reliability size {size!r}: use one of {', '.join(SIZES)}")
        self.size = size
        self.measured: dict[str, Measurement] = {}

    def numbers(self, case: str) -> Mapping[str, int]:
        """The numbers of ``case`` at this session's size."""
        return CASES[case].numbers(self.size)

    def record(
        self,
        case: str,
        *,
        lost: int,
        leaked: int,
        seconds: float,
        seen: str | None = None,
        note: str | None = None,
    ) -> None:
        """Add one run of ``case``; fails unless nothing was lost or leaked and the
        FAILED line seen is the declared one."""
        declared = CASES[case]
        if declared.line:
            assert seen is not None and declared.matches(seen), (
                f"case {case}: the user saw {seen!r}, but tests/reliability.py declares "
                f"{declared.sees!r}; fix the product or the declaration, then run "
                "scripts/reliability"
            )
        assert (lost, leaked) == (0, 0), f"case {case}: {lost} rows lost, {leaked} leaked"
        measurement = self.measured.setdefault(case, Measurement())
        measurement.runs += 1
        measurement.lost += lost
        measurement.leaked += leaked
        measurement.seconds += seconds
        if note:
            measurement.notes[note] += 1

    def document(self) -> str:
        """RELIABILITY.md from this session's measurements; every case must have run."""
        missing = [name for name in CASES if name not in self.measured]
        if missing:
            raise AssertionError(
                f"RELIABILITY.md not written: cases {', '.join(missing)} did not run "
                "(scripts/reliability runs them all)"
            )
        lines = [HEADER.format(size=self.size), "", *_table_head()]
        for case in CASES.values():
            cells = declared_cells(case)
            m = self.measured[case.id]
            cells[2:4] = [str(m.lost), str(m.leaked)]
            cells[6] = m.summary()
            lines.append(_row(cells))
        for note in NOTES:
            lines += ["", note]
        return "\n".join(lines) + "\n"


HEADER = """# Reliability

What Seedchain does when a deploy goes wrong or meets bad input. One row per case: what
the user sees, how many rows were **lost** (rows that should be there and are not) and
**leaked** (rows of a seed that should not be there), the size it ran at and what was
measured.

Generated by `scripts/reliability` from the cases declared in `tests/reliability.py`
and what their tests measured; do not edit it by hand. `tests/test_reliability.py`
fails when this file no longer lists exactly those cases, and each case's test fails
when the user sees anything else than its row says, or when a row is lost or leaked.

CI (`scripts/test`, plain `pytest`) runs every case at its **CI size**.
`scripts/reliability` runs them at the **large size** (`pytest --reliability-size=large`,
or `SEEDCHAIN_RELIABILITY_SIZE=large`) and rewrites this file; `scripts/reliability ci`
measures the CI size instead. The figures in the *measured* column are from a run at
the **{size}** size, on the 2-core machine the suite is planned for."""

NOTES = [
    """In the kill and restart cases the database is checked right after the fault, once
the server has ended the dead client's session: it must be exactly at a revision
boundary (each revision is its own transaction), hold every row of the seeds up to that
revision and none of the next, keep every application row, and its ledger must agree
with the data (`seeds verify`'s rules, and the recorded keys are exactly the seeded
rows' keys). Then the command is run again (in the test's own process), and the data
must equal an uninterrupted run's. A kill point waits for a stage of the run (its
session, or a revision committed; the stages in turn), then for a delay drawn by a
seeded RNG: a fraction of how long one revision takes in an uninterrupted run. A run
that had ended by then is counted as such. Rows are compared by content: the keys a
killed transaction drew from a sequence are not given back (PostgreSQL sequences are
not transactional), so after a kill new rows may get higher keys than an uninterrupted
run gave them.""",
    """A `ctx.bulk` row whose foreign key points nowhere is named by its column and value
only: PostgreSQL checks foreign keys after the COPY, and the streamed rows are not kept.""",
]

_COLUMNS = (
    "case",
    "what the user sees",
    "rows lost",
    "rows leaked",
    "CI size",
    "large size",
    "measured",
    "test",
)


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _row(cells: list[str]) -> str:
    return "| " + " | ".join(_cell(c) for c in cells) + " |"


def _table_head() -> list[str]:
    return [_row(list(_COLUMNS)), "|" + "|".join("---" for _ in _COLUMNS) + "|"]


def declared_cells(case: Case) -> list[str]:
    """A case's row as declared; the measured column (6) is empty, lost and leaked 0."""
    return [
        f"`{case.id}` {case.fault}",
        case.sees,
        "0",
        "0",
        case.size_in_words("ci"),
        case.size_in_words("large"),
        "",
        f"`{case.test}`",
    ]


def parse_document(text: str) -> tuple[str | None, dict[str, list[str]]]:
    """The size RELIABILITY.md was measured at, and its rows by case id (cells unescaped)."""
    size = re.search(r"measured\* column are from a run at\s+the \*\*(\w+)\*\* size", text)
    rows: dict[str, list[str]] = {}
    for line in text.splitlines():
        if not line.startswith("| `"):
            continue
        cells = [c.strip().replace("\\|", "|") for c in re.split(r"(?<!\\)\|", line)[1:-1]]
        case = re.match(r"`([^`]+)`", cells[0])
        if case:
            rows[case[1]] = cells
    return (size[1] if size else None), rows


# -- pytest plumbing (conftest.py calls these) ------------------------------------------


def add_options(parser: pytest.Parser) -> None:
    group = parser.getgroup("reliability", "fault and bad-input cases (RELIABILITY.md)")
    group.addoption(
        "--reliability-size",
        choices=SIZES,
        default=None,
        help=f"size of the reliability cases (default: ${SIZE_VARIABLE}, else ci)",
    )
    group.addoption(
        "--reliability-write",
        action="store_true",
        help="write RELIABILITY.md from this run's measurements (scripts/reliability)",
    )


def size_of(config: pytest.Config) -> str:
    """The size this session runs the cases at: the option, else the variable, else ci."""
    size: str = config.getoption("--reliability-size") or os.environ.get(SIZE_VARIABLE) or "ci"
    return size


def session(request: pytest.FixtureRequest) -> Iterator[Reliability]:
    """The ``reliability`` fixture: measurements of the whole session."""
    config = request.config
    recorder = Reliability(size_of(config))
    yield recorder
    if config.getoption("--reliability-write"):
        failed = request.session.testsfailed
        if failed:
            raise AssertionError(f"RELIABILITY.md not written: {failed} tests failed")
        DOCUMENT.write_text(recorder.document())


if __name__ == "__main__":
    # The tests of every case, once each, for scripts/reliability (parametrized cases
    # run whole: a case's row adds up all of its runs).
    tests = dict.fromkeys(case.test.split("[", 1)[0] for case in CASES.values())
    print("\n".join(tests))  # noqa: T201
