"""Generating and loading users in this process: each strategy as a plain function.

Every loading strategy makes its own rows and writes them, as a project would: the
classic seeder and factory_boy call Faker per value, Core and Seedchain take rows
from the Seedchain factory, and the limit has the server make them
(``generate_series``). The harness gives each a fresh table and counts its rows after.
"""

from __future__ import annotations

import contextlib
import itertools
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC

import sqlalchemy as sa
from sqlalchemy import orm

from seeds import errors
from seeds.dev.bench.shape import (
    APP_ROW,
    COLUMNS,
    SEED,
    User,
    copy_of_users,
    factory_chunks,
    faker_row,
    metadata,
    seeded_faker,
    users,
)
from seeds.dialects import bind
from seeds.runtime import undo
from seeds.runtime.context import SeedContext
from seeds.runtime.environment import Environment
from seeds.runtime.ledger import Ledger, Status
from seeds.runtime.parameters import Parameters
from seeds.runtime.run import Run, RunState

BATCH = 1_000  # objects per session commit: the classic seeder's and factory_boy's batch
LIMIT = "Limit: INSERT ... SELECT generate_series"


# -- generation ---------------------------------------------------------------------
def generate_naive(count: int) -> None:
    """``count`` rows, a Faker call per value."""
    fake = seeded_faker()
    for n in range(count):
        faker_row(fake, n)


def generate_factory(count: int) -> None:
    """``count`` rows from the Seedchain factory, in chunks."""
    for _ in factory_chunks(count):
        pass


# -- loading ------------------------------------------------------------------------
@dataclass(frozen=True)
class Strategy:
    """A loading strategy: its name, the function, the table it fills, and whether it
    is slow enough to be timed on fewer rows and extrapolated."""

    name: str
    load: Callable[[sa.Engine, int], None]
    table: sa.Table = users
    slow: bool = False
    baseline: bool = False


def classic_orm(engine: sa.Engine, count: int) -> None:
    """The usual hand-written seeder: Faker per row, ``add_all`` and ``commit`` per batch."""
    fake = seeded_faker()
    with orm.Session(engine) as session:
        for start in range(0, count, BATCH):
            stop = min(count, start + BATCH)
            session.add_all([User(**faker_row(fake, n)) for n in range(start, stop)])
            session.commit()
            session.expunge_all()


def factory_boy_batches(engine: sa.Engine, count: int) -> None:
    """factory_boy's ``SQLAlchemyModelFactory.create_batch``, a commit per batch."""
    from factory.alchemy import SQLAlchemyModelFactory
    from factory.declarations import LazyAttribute, LazyAttributeSequence
    from factory.faker import Faker
    from factory.random import reseed_random

    reseed_random(SEED)
    with orm.Session(engine) as session:

        class UserModelFactory(SQLAlchemyModelFactory):
            class Meta:
                model = User
                sqlalchemy_session = session

            first_name = Faker("first_name")
            last_name = Faker("last_name")
            username = LazyAttributeSequence(
                lambda o, n: f"{o.first_name}.{o.last_name}{n}".lower()
            )
            email = LazyAttribute(lambda o: f"{o.username}@example.com")
            is_admin = False
            created_at = Faker("date_time_between", start_date="-720d", end_date="-30d", tzinfo=UTC)

        for start in range(0, count, BATCH):
            UserModelFactory.create_batch(min(BATCH, count - start))
            session.commit()


def core_executemany(engine: sa.Engine, count: int) -> None:
    """Core ``insert`` with a list of rows (what Alembic's ``op.bulk_insert`` runs)."""
    with engine.begin() as conn:
        for chunk in factory_chunks(count):
            conn.execute(sa.insert(users), chunk)


@contextlib.contextmanager
def seed_context(conn: sa.Connection, table: sa.Table) -> Iterator[SeedContext]:
    """A ``SeedContext`` on an open ledger run, closed as a seed revision closes it."""
    ledger = Ledger(bind(conn))
    ledger.create()
    parameters = Parameters.from_x_args({})
    run = ledger.open_run(
        "bench",
        Environment.DEVELOPMENT,
        Status.APPLIED,
        parameters,
        source_checksum="",
        override=None,
    )
    ledger.dialect.prepare()
    ctx = SeedContext(
        revision="bench",
        environment=Environment.DEVELOPMENT,
        parameters=parameters,
        tables=[table],
        ledger=ledger,
        ledger_run=run,
        settings={},
    )
    started = time.perf_counter()
    yield ctx
    ctx.finish()
    ledger.close_run(
        run,
        duration_ms=round((time.perf_counter() - started) * 1000),
        row_counts={name: load.rows for name, load in ctx.loads.items()},
        data_checksum=ctx.data_checksum,
        undo={
            "tables": [load.undo_record() for load in ctx.loads.values()],
            "settings": ctx.settings_used,
        },
    )


def seedchain_insert(engine: sa.Engine, count: int) -> None:
    """``ctx.insert(..., via="values")``: multi-row INSERTs recording keys and row hashes
    in the same statements (the path of small loads, SQLite and ``--sql``)."""
    with engine.begin() as conn, seed_context(conn, users) as ctx:
        for chunk in factory_chunks(count):
            ctx.insert(users, chunk, via="values")


def stream_users(ctx: SeedContext, count: int) -> None:
    """Seedchain's streaming path for ``count`` factory rows: ``ctx.insert`` of a
    generator, which goes by COPY in chunks with keys reserved chunk by chunk."""
    rows = itertools.chain.from_iterable(factory_chunks(count))
    ctx.insert(users, rows, expected=count)


def seedchain_stream(engine: sa.Engine, count: int) -> None:
    """The streaming path in a seed run (rows hashed for the undo when it ends)."""
    with engine.begin() as conn, seed_context(conn, users) as ctx:
        stream_users(ctx, count)


def server_side(engine: sa.Engine, count: int) -> None:
    """The limit: the server makes and inserts the rows itself, nothing crosses the wire."""
    n = sa.func.generate_series(1, count).table_valued("n").render_derived()
    username = sa.func.concat("first.last", n.c.n)
    rows = sa.select(
        username,
        sa.func.concat(username, "@example.com"),
        sa.func.concat("First", n.c.n % 1000),
        sa.func.concat("Last", n.c.n % 997),
        sa.false(),
        sa.func.now() - sa.func.make_interval(0, 0, 0, 30 + n.c.n % 690),
    )
    with engine.begin() as conn:
        conn.execute(sa.insert(copy_of_users).from_select(COLUMNS, rows))


STRATEGIES = [
    Strategy(
        "Classic: Faker per row, ORM add_all + commit per 1,000",
        classic_orm,
        slow=True,
        baseline=True,
    ),
    Strategy("factory_boy create_batch, commit per 1,000", factory_boy_batches, slow=True),
    Strategy("Core executemany (op.bulk_insert)", core_executemany),
    Strategy("Seedchain ctx.insert(via='values'): recorded INSERTs", seedchain_insert),
    Strategy("Seedchain ctx.insert of a generator: COPY, rows hashed", seedchain_stream),
    Strategy(LIMIT, server_side, table=copy_of_users),
]


def fresh(conn: sa.Connection) -> None:
    """Empty users-shaped tables and no ledger: every strategy starts from nothing."""
    metadata.drop_all(conn, checkfirst=True)
    Ledger(bind(conn)).drop()
    metadata.create_all(conn)


def loaded(engine: sa.Engine, table: sa.Table) -> int:
    """Rows in ``table``."""
    with engine.connect() as conn:
        return int(conn.scalar(sa.select(sa.func.count()).select_from(table)) or 0)


def undo_seeded(engine: sa.Engine, *, app_row: bool) -> tuple[str, float]:
    """Undo the streaming path's seed run the way a downgrade does: the planner, then
    its TRUNCATE or keyed delete. Returns (method, seconds of plan and execute).

    With ``app_row`` the application inserts a row of its own first, so TRUNCATE is
    not provably the same and the planner takes the keyed delete, keeping that row.
    """
    if app_row:
        with engine.begin() as conn:
            conn.execute(sa.insert(users).values(**APP_ROW))
    started = time.perf_counter()
    with engine.begin() as conn:
        dialect = bind(conn)
        state = RunState(
            environment=Environment.DEVELOPMENT,
            parameters=Parameters.from_x_args({}),
            database=dialect.database_name(),
            schema=None,
            offline=False,
        )
        run = Run(state, dialect)
        record = run.ledger.latest("bench")
        if record is None:
            raise errors.SeedError("benchmark: no seed run to undo")
        plan = undo.plan(run, record, [users])
        undo.execute(run, plan)
    seconds = time.perf_counter() - started
    left = loaded(engine, users)
    if left != (1 if app_row else 0):
        raise errors.SeedError(f"benchmark: the undo left {left} rows in {users.name}")
    return plan.method, seconds
