"""ctx.insert of large iterables: COPY in chunks, the same rows and checksum as INSERTs,
errors that name the row, secondary indexes built after a big load into an empty
table, exact undo beside the application's rows, and progress without a terminal."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic.util import CommandError

from seeds.runtime import ledger
from seeds.runtime.context import STREAM_CHUNK
from seeds.runtime.progress import Progress
from tests.helpers import ledger_rows, rows
from tests.seedproject import FROZEN_USERS, SCHEMA_USERS, SeedProject

# Users from a generator, keyed by nobody: insert() reserves keys chunk by chunk.
# -x via picks the path, -x n the count, -x bad a row whose username is too long,
# -x dup a row repeating row 0's username, -x expected the count announced, -x drop a
# row the seed deletes again before it ends, -x boom a row whose making raises, -x read
# a row whose making reads the database.
STREAM_SEED = (
    FROZEN_USERS
    + """

@seed(environments=["development"], tables=[users])
def upgrade(ctx: SeedContext) -> None:
    x = ctx.parameters.extra
    n, bad, dup = int(x["n"]), int(x.get("bad", -1)), int(x.get("dup", -1))

    def user(i: int) -> dict[str, object]:
        if i == int(x.get("boom", -1)):
            raise ValueError(f"no user {i}")
        if i == int(x.get("read", -1)):  # a generator that asks the database
            ctx.connection.execute(sa.select(sa.func.count()).select_from(users))
        name = "x" * 60 if i == bad else f"user{0 if i == dup else i}"
        return {"username": name, "email": f"user{i}@example.org"}

    expected = int(x["expected"]) if "expected" in x else None
    ctx.insert(users, (user(i) for i in range(n)), via=x.get("via", "auto"), expected=expected)
    if "drop" in x:  # the seed takes back one of its own rows before it ends
        ctx.connection.execute(sa.delete(users).where(users.c.username == f"user{x['drop']}"))


downgrade = upgrade.downgrade
"""
)


@pytest.fixture
def project(tmp_path: Path, database_url: str, monkeypatch: pytest.MonkeyPatch) -> SeedProject:
    p = SeedProject(tmp_path / "proj", database_url, monkeypatch)
    p.revision("s1", SCHEMA_USERS)
    p.revision("s2", STREAM_SEED)
    return p


def _indexes(engine: sa.Engine) -> list[tuple[str, str]]:
    with engine.connect() as conn:
        found = conn.execute(
            sa.text("SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'users'")
        )
        return sorted((row[0], row[1]) for row in found)


def test_a_generator_goes_by_copy_in_chunks_and_undoes_beside_application_rows(
    project: SeedProject, engine: sa.Engine, caplog: pytest.LogCaptureFixture
) -> None:
    project.upgrade("s1", env="development")
    with engine.begin() as conn:  # the application's own row, there before the seed
        conn.execute(sa.text("INSERT INTO users (username, email) VALUES ('app', 'app@x')"))
    n = 2 * STREAM_CHUNK + 123  # two full chunks and a short one
    with caplog.at_level(logging.INFO):
        project.upgrade("head", env="development", n=str(n))
    assert f"{n} rows into users (COPY)" in caplog.text
    with engine.connect() as conn:
        assert conn.scalar(sa.text("SELECT count(*) FROM users")) == n + 1
        # Three reservations that follow on are one range in the ledger.
        keys = ledger.ledger_keys.c
        ranges = conn.execute(sa.select(keys.first_key, keys.last_key)).all()
        assert len(ranges) == 1 and ranges[0][1] - ranges[0][0] + 1 == n
    assert ledger_rows(engine)[0].row_counts == {"users": n}
    project.downgrade("s1", env="development")
    assert [r[1] for r in rows(engine, "users")] == ["app"]


def test_copy_and_inserts_give_the_same_rows_and_the_same_checksum(
    project: SeedProject, engine: sa.Engine
) -> None:
    n = STREAM_CHUNK + 10
    found = {}
    for via in ("copy", "values"):
        project.upgrade("head", env="development", n=str(n), via=via)
        with engine.connect() as conn:
            table = conn.execute(sa.text("SELECT username, email FROM users ORDER BY id")).all()
        found[via] = (table, ledger_rows(engine)[-1].data_checksum)
        project.downgrade("s1", env="development")
    assert found["copy"] == found["values"]
    assert len(found["copy"][0]) == n


def test_a_bad_row_in_a_later_chunk_is_named_and_nothing_stays(
    project: SeedProject, engine: sa.Engine
) -> None:
    project.upgrade("s1", env="development")
    at = STREAM_CHUNK + 3_003  # in the second chunk: validated by the database
    with pytest.raises(CommandError) as failed:
        project.upgrade("head", env="development", n=str(2 * STREAM_CHUNK), bad=str(at))
    message = str(failed.value)
    assert message.startswith(f"seed s2: table users row {at} column username: "), message
    assert "value too long" in message
    assert rows(engine, "users") == []


def test_a_big_load_into_an_empty_table_builds_its_indexes_after(
    project: SeedProject, engine: sa.Engine, caplog: pytest.LogCaptureFixture
) -> None:
    project.upgrade("s1", env="development")
    before = _indexes(engine)
    assert any("UNIQUE" in definition and "username" in definition for _, definition in before)
    with caplog.at_level(logging.INFO):
        project.upgrade("head", env="development", n="1000", expected="100000")
    assert "building" in caplog.text and "after the load" in caplog.text
    assert "built 1 indexes of users and analyzed it" in caplog.text
    assert _indexes(engine) == before  # the same indexes, under the same names
    with engine.connect() as conn:
        analyzed = conn.scalar(
            sa.text(
                "SELECT last_analyze IS NOT NULL FROM pg_stat_user_tables WHERE relname='users'"
            )
        )
    assert analyzed


def test_a_duplicate_met_by_the_late_unique_index_is_named_and_the_index_stays(
    project: SeedProject, engine: sa.Engine
) -> None:
    project.upgrade("s1", env="development")
    before = _indexes(engine)
    with pytest.raises(CommandError) as failed:
        # In the second chunk: the first is validated row by row, duplicates included.
        n, at = STREAM_CHUNK + 500, STREAM_CHUNK + 100
        project.upgrade("head", env="development", n=str(n), dup=str(at), expected="100000")
    message = str(failed.value)
    assert message.startswith("seed s2: table users"), message
    assert "(username)=(user0)" in message
    assert rows(engine, "users") == []
    assert _indexes(engine) == before  # the rollback put the dropped index back


def test_indexes_stay_when_the_table_already_has_rows(
    project: SeedProject, engine: sa.Engine, caplog: pytest.LogCaptureFixture
) -> None:
    project.upgrade("s1", env="development")
    with engine.begin() as conn:
        conn.execute(sa.text("INSERT INTO users (username, email) VALUES ('app', 'app@x')"))
    with caplog.at_level(logging.INFO):
        project.upgrade("head", env="development", n="1000", expected="100000")
    assert "after the load" not in caplog.text


def test_progress_without_a_terminal_is_a_log_line_with_rate_and_eta(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock = iter([0.0, 1.0, 2.0, 6.0, 7.0, 12.5])
    monkeypatch.setattr("seeds.runtime.progress.time.monotonic", lambda: next(clock))
    progress = Progress("s2", "users", 1_000)
    with caplog.at_level(logging.INFO, logger="seeds.runtime.progress"):
        for _ in range(5):  # at 1, 2, 6, 7 and 12.5 s
            progress.advance(100)
    lines = [r.getMessage() for r in caplog.records]
    # At most one line per LOG_EVERY (5 s): after 6 s and after 12.5 s.
    assert lines == [
        "seed s2: users: 300 rows of 1,000, 50 rows/s, about 14 s to go",
        "seed s2: users: 500 rows of 1,000, 40 rows/s, about 12 s to go",
    ]


def test_a_row_the_seed_deleted_itself_leaves_a_gap_in_its_hashes_not_a_change(
    project: SeedProject, engine: sa.Engine, caplog: pytest.LogCaptureFixture
) -> None:
    n = STREAM_CHUNK + 7
    project.upgrade("head", env="development", n=str(n), drop="5")
    with engine.connect() as conn:
        h = ledger.ledger_hashes.c
        blocks = conn.execute(sa.select(h.first_key, h.hashes).order_by(h.first_key)).all()
        gone = conn.scalar(sa.text("SELECT min(id) FROM users")) or 0
    hashes = [value for block in blocks for value in block.hashes]
    assert len(hashes) == n
    assert [i for i, value in enumerate(hashes) if value is None] == [5]
    assert gone == blocks[0].first_key  # row 0 is still there; row 5's place is the gap
    with caplog.at_level(logging.WARNING):
        project.downgrade("s1", env="development")
    assert "changed" not in caplog.text
    assert rows(engine, "users") == []


def test_an_error_while_the_next_chunk_is_made_stops_the_seed_and_nothing_stays(
    project: SeedProject, engine: sa.Engine
) -> None:
    """The next chunk is built while the server takes the current one: what that
    raises is the seed's error, after the COPY, and the revision rolls back."""
    project.upgrade("s1", env="development")
    with pytest.raises(CommandError) as failed:
        project.upgrade("head", env="development", n=str(3 * STREAM_CHUNK), boom="25000")
    assert "ValueError: no user 25000" in str(failed.value)
    assert rows(engine, "users") == []


def test_a_generator_that_reads_the_database_during_a_copy_is_refused_not_hung(
    project: SeedProject, engine: sa.Engine
) -> None:
    project.upgrade("s1", env="development")
    # Row 5 is made before any COPY (the first chunk): reading is fine there. Row
    # 15,000 is made while the first chunk's COPY holds the connection.
    project.upgrade("head", env="development", n="2000", read="5")
    project.downgrade("s1", env="development")
    with pytest.raises(CommandError) as failed:
        project.upgrade("head", env="development", n=str(2 * STREAM_CHUNK), read="15000")
    assert "used the database while a COPY was writing them" in str(failed.value)
    assert "via='values'" in str(failed.value)
    assert rows(engine, "users") == []
