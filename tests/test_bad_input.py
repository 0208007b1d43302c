"""Bad input: -x values, and rows the database refuses at random places of a batch.

A bad value is one line and changes nothing; a bad row anywhere in a batch is named by
its position and column, and nothing of its seed stays (rows, ledger, key sequences).
Valid but odd strings come back exactly. Each test is a case of tests/reliability.py.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from alembic.util import CommandError
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.helpers import ledger_rows, rows, version
from tests.reliability import Reliability
from tests.seedproject import FROZEN_USERS, SCHEMA_USERS, SeedProject, seed_users

SETTING_SEED = (
    FROZEN_USERS
    + """

@seed(environments=["development"], tables=[users])
def upgrade(ctx: SeedContext) -> None:
    count = ctx.setting("users", 2)
    ctx.insert(users, [{"username": f"s3-{n}", "email": "e"} for n in range(count)])


downgrade = upgrade.downgrade
"""
)


@pytest.fixture
def project(tmp_path: Path, database_url: str, monkeypatch: pytest.MonkeyPatch) -> SeedProject:
    return SeedProject(tmp_path / "proj", database_url, monkeypatch)


def _everything(engine: sa.Engine) -> tuple[Any, ...]:
    """The rows, the revision and the ledger of the test database, to compare."""
    ledger = [(r.revision, r.status) for r in ledger_rows(engine)]
    return rows(engine, "users"), rows(engine, "posts"), version(engine), ledger


def _difference(before: tuple[Any, ...], after: tuple[Any, ...]) -> tuple[int, int]:
    """Rows lost and rows leaked between two looks at users and posts."""
    old, new = set(before[0] + before[1]), set(after[0] + after[1])
    return len(old - new), len(new - old)


@pytest.mark.parametrize(
    ("argument", "case"),
    [
        ("now=notadate", "bad-x-now"),
        ("seed=1; drop table users", "bad-x-seed-sql"),
        ("seed=99999999999999999999999", "bad-x-seed-huge"),
    ],
    ids=["now=notadate", "seed=sql", "seed=huge"],
)
def test_bad_x_values_are_one_line_and_change_nothing(
    project: SeedProject, engine: sa.Engine, reliability: Reliability, argument: str, case: str
) -> None:
    project.revision("s1", SCHEMA_USERS)
    project.revision("s2", seed_users('["development"]'))
    project.revision("s3", SETTING_SEED)
    project.upgrade("s2", env="development")
    before = _everything(engine)
    name, value = argument.split("=", 1)
    started = time.monotonic()
    with pytest.raises(CommandError) as info:
        project.upgrade("head", env="development", **{name: value})
    seconds = time.monotonic() - started
    message = str(info.value)
    assert "\n" not in message
    after = _everything(engine)
    assert after == before
    lost, leaked = _difference(before, after)
    reliability.record(case, lost=lost, leaked=leaked, seconds=seconds, seen=f"FAILED: {message}")


# -- a bad row at a random position --------------------------------------------------

BAD_ROW = (
    FROZEN_USERS
    + """

BAD = {"null": None, "long": "x" * 101, "text": "abc", "dangling": 999999, "nul": "a\\x00b"}
COLUMN = {"null": "title", "long": "title", "nul": "title", "text": "user_id",
          "dangling": "user_id", "duplicate": "id"}


@seed(environments=["development"], tables=[users, posts])
def upgrade(ctx: SeedContext) -> None:
    x = ctx.parameters.extra
    n, at, kind = int(x["n"]), int(x["at"]), x["kind"]
    ctx.insert(users, [{"username": "author", "email": "a@example.org"}])
    author = ctx.connection.execute(sa.select(users.c.id)).scalar_one()
    keys = list(ctx.reserve_keys(posts, n))  # changed below: a list, not the range
    if kind == "duplicate":
        keys[at] = keys[at - 1]
    batch = [{"id": key, "user_id": author, "title": f"post {i}"} for i, key in enumerate(keys)]
    if kind in BAD:
        batch[at][COLUMN[kind]] = BAD[kind]
    if x["loader"] == "bulk":
        ctx.bulk(posts, ["id", "user_id", "title"], (tuple(row.values()) for row in batch))
    elif kind == "duplicate":
        ctx.insert(posts, batch)
    else:  # the keys from the sequence, as most seeds do
        ctx.insert(posts, [{k: v for k, v in row.items() if k != "id"} for row in batch])


downgrade = upgrade.downgrade
"""
)

COLUMN = {
    "null": "title",
    "long": "title",
    "nul": "title",
    "text": "user_id",
    "dangling": "user_id",
    "duplicate": "id",
}
# PostgreSQL checks a foreign key after the whole COPY: a bulk row's is named by its
# column and value, not its position (the streamed rows are not kept).
KINDS = {"insert": sorted(COLUMN), "bulk": sorted(set(COLUMN) - {"dangling"})}

_SEQUENCES = sa.text(
    "SELECT pg_sequence_last_value('users_id_seq'), pg_sequence_last_value('posts_id_seq')"
)


@st.composite
def bad_batches(draw: st.DrawFn, loader: str, largest: int) -> tuple[int, int, str]:
    """(rows, position of the bad one, what is wrong with it)."""
    kind = draw(st.sampled_from(KINDS[loader]))
    n = draw(st.integers(min_value=2 if kind == "duplicate" else 1, max_value=largest))
    at = draw(st.integers(min_value=1 if kind == "duplicate" else 0, max_value=n - 1))
    return n, at, kind


def _check_bad_rows(
    project: SeedProject, engine: sa.Engine, reliability: Reliability, loader: str
) -> None:
    case = f"bad-{loader}-row"
    numbers = reliability.numbers(case)
    project.revision("s1", SCHEMA_USERS)
    project.revision("s2", BAD_ROW)
    project.upgrade("s1", env="development")
    with engine.connect() as conn:
        sequences = conn.execute(_SEQUENCES).one()

    @settings(max_examples=numbers["examples"], derandomize=True, database=None, deadline=None)
    @given(bad_batches(loader, numbers["rows"]))
    def check(batch: tuple[int, int, str]) -> None:
        n, at, kind = batch
        started = time.monotonic()
        with pytest.raises(CommandError) as info:
            project.upgrade(
                "head", env="development", n=str(n), at=str(at), kind=kind, loader=loader
            )
        seconds = time.monotonic() - started
        message = str(info.value)
        assert message.startswith(f"seed s2: table posts row {at} column {COLUMN[kind]}: "), (
            f"{n} rows, {kind} at {at}: {message}"
        )
        # Nothing of the seed stays: no row, no ledger, no key drawn from a sequence.
        assert version(engine) == "s1"
        leaked = len(rows(engine, "users")) + len(rows(engine, "posts"))
        assert ledger_rows(engine) == []
        with engine.connect() as conn:
            assert conn.execute(_SEQUENCES).one() == sequences
        reliability.record(
            case, lost=0, leaked=leaked, seconds=seconds, seen=f"FAILED: {message}", note=kind
        )

    check()


def test_a_bad_row_of_an_insert_is_named(
    project: SeedProject, engine: sa.Engine, reliability: Reliability
) -> None:
    _check_bad_rows(project, engine, reliability, "insert")


def test_a_bad_row_of_a_bulk_load_is_named(
    project: SeedProject, engine: sa.Engine, reliability: Reliability
) -> None:
    _check_bad_rows(project, engine, reliability, "bulk")


# -- valid odd strings ---------------------------------------------------------------

STRINGS_SEED = (
    FROZEN_USERS
    + """
import json


@seed(environments=["development"], tables=[users, posts])
def upgrade(ctx: SeedContext) -> None:
    with open(ctx.parameters.extra["strings"], encoding="utf-8") as f:
        strings = json.load(f)
    ctx.insert(users, [{"username": f"u{n}", "email": s} for n, s in enumerate(strings)])
    author = ctx.connection.execute(sa.select(sa.func.min(users.c.id))).scalar_one()
    keys = ctx.reserve_keys(posts, len(strings))
    ctx.bulk(posts, ["id", "user_id", "title"], (
        (key, author, s[:100]) for key, s in zip(keys, strings)
    ))


downgrade = upgrade.downgrade
"""
)

# Any character PostgreSQL text can hold: every plane, no NUL, no lone surrogate
# (which UTF-8 cannot encode).
_TEXT = st.text(alphabet=st.characters(codec="utf-8", exclude_characters="\x00"), max_size=255)


def test_random_strings_round_trip(
    project: SeedProject, engine: sa.Engine, reliability: Reliability, tmp_path: Path
) -> None:
    numbers = reliability.numbers("random-strings")
    project.revision("s1", SCHEMA_USERS)
    project.revision("s2", STRINGS_SEED)
    project.upgrade("s1", env="development")
    path = tmp_path / "strings.json"

    @settings(max_examples=numbers["examples"], derandomize=True, database=None, deadline=None)
    @given(st.lists(_TEXT, min_size=1, max_size=numbers["rows"]))
    def check(strings: list[str]) -> None:
        path.write_text(json.dumps(strings), encoding="utf-8")
        started = time.monotonic()
        project.upgrade("head", env="development", strings=str(path))
        emails = {int(row[1][1:]): row[2] for row in rows(engine, "users")}
        titles = [row[2] for row in rows(engine, "posts")]
        project.downgrade("s1", env="development")
        seconds = time.monotonic() - started
        read = [emails.get(n) for n in range(len(strings))]
        lost = sum(got != s for got, s in zip(read, strings, strict=True))
        lost += sum(got != s[:100] for got, s in zip(titles, strings, strict=False))
        assert read == strings and titles == [s[:100] for s in strings]
        leaked = len(rows(engine, "users")) + len(rows(engine, "posts"))
        assert leaked == 0
        reliability.record("random-strings", lost=lost, leaked=leaked, seconds=seconds)

    check()


def test_a_batch_mixing_value_types_in_a_column_is_written(
    project: SeedProject, engine: sa.Engine
) -> None:
    """An int among the strings of a text column: the server converts each value."""
    project.revision("s1", SCHEMA_USERS)
    project.revision(
        "s2",
        FROZEN_USERS
        + """

@seed(environments=["development"], tables=[users])
def upgrade(ctx: SeedContext) -> None:
    ctx.insert(users, [{"username": "a", "email": "a@x"}, {"username": 7, "email": "b@x"}])


downgrade = upgrade.downgrade
""",
    )
    project.upgrade("head", env="development")
    assert [row[1:] for row in rows(engine, "users")] == [("a", "a@x"), ("7", "b@x")]
