"""Seedchain's benchmark: generating and loading rows, every strategy in one run.

``scripts/bench`` runs this against a scratch database on the project-local cluster
and writes BENCHMARKS.md. Figures are side by side and as ratios to the slowest, from
one run on one machine, never asserted anywhere: they are for reading.

Generation: Faker called per value (the naive factory) against a Seedchain
factory sampling Faker pools. Loading the same rows into the same table: the ORM
(``add_all`` + flush, the usual hand-written seeder), Core ``executemany``, Seedchain's
recorded insert (``ctx.insert``: multi-row VALUES plus ledger keys and row hashes in
one statement), and Seedchain's bulk path (``ctx.bulk``: keys reserved first, COPY,
key ranges in the ledger).
"""

from __future__ import annotations

import functools
import logging
import os
import platform
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from faker import Faker
from sqlalchemy import orm
from sqlalchemy.pool import NullPool

from seeds.data.factories import Factory, Lazy, Pool
from seeds.dialects import bind
from seeds.dialects.base import rows_per_statement
from seeds.errors import SeedError
from seeds.runtime.environment import Environment
from seeds.runtime.ledger import Ledger, RunRef, Status
from seeds.runtime.parameters import Parameters

log = logging.getLogger(__name__)


class BenchUserFactory(Factory):
    """A users-like row: the shape of the reference app's users."""

    table = "bench_users"
    first_name = Pool("first_name")
    last_name = Pool("last_name")
    username = Lazy(lambda r: f"{r['first_name']}.{r['last_name']}.{r.n}".lower())
    email = Lazy(lambda r: f"{r['username']}@example.com")


def faker_rows(count: int, seed: int = 12345) -> list[dict[str, Any]]:
    """The naive way: a Faker call per value."""
    fake = Faker()
    fake.seed_instance(seed)
    rows = []
    for n in range(count):
        first, last = fake.first_name(), fake.last_name()
        username = f"{first}.{last}.{n}".lower()
        rows.append(
            {
                "first_name": first,
                "last_name": last,
                "username": username,
                "email": f"{username}@example.com",
            }
        )
    return rows


@dataclass(frozen=True)
class Result:
    """One strategy's figure."""

    group: str
    strategy: str
    rows: int
    seconds: float

    @property
    def rate(self) -> float:
        """Rows per second."""
        return self.rows / self.seconds if self.seconds else float("inf")


def _timed(function: Callable[[], Any]) -> float:
    started = time.perf_counter()
    function()
    return time.perf_counter() - started


def _table(metadata: sa.MetaData) -> sa.Table:
    return sa.Table(
        "bench_users",
        metadata,
        sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
        sa.Column("first_name", sa.String(100), nullable=False),
        sa.Column("last_name", sa.String(100), nullable=False),
        sa.Column("username", sa.String(200), nullable=False, unique=True),
        sa.Column("email", sa.String(255), nullable=False),
    )


def run(url: str, rows: int) -> list[Result]:
    """Run every strategy for ``rows`` rows against the (scratch) database at ``url``."""
    results = []
    faker_count = min(rows, 20_000)  # per-call Faker is slow; its rate does not depend on n
    results.append(
        Result(
            "generate",
            "Faker per value (naive)",
            faker_count,
            _timed(lambda: faker_rows(faker_count)),
        )
    )
    built: list[dict[str, Any]] = []
    seconds = _timed(lambda: built.extend(BenchUserFactory.build_batch(rows)))
    results.append(Result("generate", "Seedchain factory (Faker pools)", rows, seconds))

    engine = sa.create_engine(url, poolclass=NullPool)
    metadata = sa.MetaData()
    table = _table(metadata)
    columns = ["first_name", "last_name", "username", "email"]

    def fresh(conn: sa.Connection) -> None:
        metadata.drop_all(conn, checkfirst=True)
        ledger = Ledger(bind(conn))
        ledger.drop()
        metadata.create_all(conn)
        ledger.create()

    def orm_add_all(conn: sa.Connection) -> None:
        class BenchUser:
            pass

        registry = orm.registry()
        registry.map_imperatively(BenchUser, table)
        with orm.Session(bind=conn) as session:
            objects = []
            for row in built:
                obj = BenchUser()
                for key, value in row.items():
                    setattr(obj, key, value)
                objects.append(obj)
            session.add_all(objects)
            session.flush()
        registry.dispose()

    def core_executemany(conn: sa.Connection) -> None:
        statement = sa.insert(table)
        size = rows_per_statement(len(columns))
        for start in range(0, len(built), size):
            conn.execute(statement, built[start : start + size])

    def ledger_run(conn: sa.Connection) -> tuple[Ledger, RunRef]:
        ledger = Ledger(bind(conn))
        run = ledger.open_run(
            "bench",
            Environment.DEVELOPMENT,
            Status.APPLIED,
            Parameters.from_x_args({}),
            source_checksum="",
            override=None,
        )
        return ledger, run

    def recorded_insert(conn: sa.Connection) -> None:
        ledger, run = ledger_run(conn)
        size = rows_per_statement(len(columns))
        for start in range(0, len(built), size):
            ledger.insert_recorded(
                run,
                table,
                built[start : start + size],
                hashed=columns,
                conflict_on=None,
                revision="bench",
            )

    def bulk_copy(conn: sa.Connection) -> None:
        ledger, run = ledger_run(conn)
        dialect = ledger.dialect
        keys = dialect.reserve_keys(table, len(built), sequence=dialect.sequence_state(table))
        tuples = (
            (key, r["first_name"], r["last_name"], r["username"], r["email"])
            for key, r in zip(keys, built, strict=True)
        )
        dialect.bulk_write(table, ["id", *columns], tuples)
        ledger.record_bulk_ranges(run, table, [[keys[0], keys[-1]]])  # one reservation
        # What ctx.bulk does when the seed returns: server-side row hashes for the undo.
        ledger.hash_bulk_rows(run, table, columns)

    strategies = [
        ("ORM add_all + flush (naive)", orm_add_all),
        ("Core executemany", core_executemany),
        ("Seedchain ctx.insert (recorded)", recorded_insert),
        ("Seedchain ctx.bulk (COPY, rows hashed)", bulk_copy),
    ]
    try:
        for name, strategy in strategies:
            with engine.begin() as conn:
                fresh(conn)
            with engine.begin() as conn:
                seconds = _timed(functools.partial(strategy, conn))
                loaded = conn.scalar(sa.select(sa.func.count()).select_from(table))
            if loaded != rows:
                msg = f"{name} loaded {loaded} rows, expected {rows}"
                raise SeedError(msg)
            results.append(Result("load", name, rows, seconds))
            log.info("%s: %d rows in %.2f s", name, rows, seconds)
    finally:
        with engine.begin() as conn:
            metadata.drop_all(conn, checkfirst=True)
        engine.dispose()
    return results


def machine() -> dict[str, str]:
    """What the figures were measured on."""
    cpu = "unknown"
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.is_file():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    memory = "unknown"
    meminfo = Path("/proc/meminfo")
    if meminfo.is_file():
        kib = int(meminfo.read_text().split()[1])
        memory = f"{kib / 1024 / 1024:.1f} GiB"
    return {
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "cpu": f"{cpu} ({os.cpu_count()} cores)",
        "memory": memory,
        "python": platform.python_version(),
        "sqlalchemy": sa.__version__,
    }


def report(results: list[Result], details: dict[str, str]) -> str:
    """BENCHMARKS.md: the machine, then each group as a table with ratios."""
    lines = [
        "# Benchmarks",
        "",
        "Written by `scripts/bench` (one run; figures side by side). Generating: a users-like",
        "row (first and last name, username, e-mail); Faker per value is timed on at most",
        "20,000 rows, its cost per row does not depend on the count. Loading: the same rows",
        "into the same table, each strategy in its own transaction on a fresh table.",
        "",
    ]
    lines += [f"- {key}: {value}" for key, value in details.items()]
    for group, title in (("generate", "Generating user rows"), ("load", "Loading user rows")):
        chosen = [r for r in results if r.group == group]
        slowest = min(r.rate for r in chosen)
        lines += [
            "",
            f"## {title}",
            "",
            "| strategy | rows | seconds | rows/s | vs slowest |",
            "|---|---:|---:|---:|---:|",
        ]
        for r in chosen:
            lines.append(
                f"| {r.strategy} | {r.rows:,} | {r.seconds:.2f} | {r.rate:,.0f} | "
                f"{r.rate / slowest:.1f}x |"
            )
    return "\n".join(lines) + "\n"
