"""Bad input: a bad -x value is one line and changes nothing, on a seeded database.

Each test is a case of tests/reliability.py.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from alembic.util import CommandError

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
