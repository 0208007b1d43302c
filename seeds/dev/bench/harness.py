"""The benchmark run, section by section: every figure of BENCHMARKS.md from one run.

1. Generating users: Faker per value against the Seedchain factory, on one core.
2. Loading them: every strategy of ``loading`` on a fresh table of one database.
3. The whole command: the reference app's ``alembic -x users=N upgrade head`` on a
   fresh database, against the server-side limit at the same N.
4. The undo of that data: ``alembic downgrade`` as it is, with one application row,
   and a plain ``DELETE`` of the same rows on copies of the same database.
5. PostGIS: stores inserted row by row against the development seed's stores.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.pool import NullPool

from seeds.dev.bench import commands, loading, shape, stores
from seeds.dev.bench.databases import ScratchDatabases
from seeds.dev.bench.loading import LIMIT
from seeds.dev.bench.machine import machine
from seeds.dev.bench.results import Result, Section, timed
from seeds.dev.bench.shape import copy_of_users
from seeds.dev.devdb import DevDB
from seeds.errors import SeedError

log = logging.getLogger(__name__)

# The development seed's stores at scale: how many, by which -x setting, with the rest
# of the world as small as it goes. The one place to switch to ``-x stores=N``.
STORES_SETTING = "stores_per_city"
SMALL_WORLD = {"users": 2, "projects": 0}


@dataclass(frozen=True)
class Options:
    """How many rows each section uses.

    Attributes:
        rows: Users per strategy, and N of the whole command and the undo.
        large_rows: A second N for the whole command (None skips it).
        slow_rows: Rows the slow loading strategies are timed on (then extrapolated).
        naive_rows: Rows Faker per value is timed on (then extrapolated).
        stores: Stores of the PostGIS section.
        slow_stores: Stores the row-by-row PostGIS strategy is timed on, and Seedchain's
            first (all of them only when that projects to at most ``slow_seconds``).
        slow_seconds: Longer than this for every row makes a strategy slow.
    """

    rows: int = 1_000_000
    large_rows: int | None = 5_000_000
    slow_rows: int = 30_000
    naive_rows: int = 20_000
    stores: int = 100_000
    slow_stores: int = 20_000
    slow_seconds: float = 60.0


def run_local(root: Path, options: Options) -> tuple[list[Result], dict[str, str]]:
    """Every section on scratch databases of the project-local cluster (started here),
    all of them dropped at the end; the results and what they ran on."""
    devdb = DevDB(root)
    devdb.start()
    databases = ScratchDatabases(devdb, prefix="seedchain_bench_")
    try:
        url = databases.create("strategies", postgis=True)
        details = machine(url)
        results = run(url, databases, root, options)
    finally:
        databases.drop_all()
    return results, details


def run(url: str, databases: ScratchDatabases, root: Path, options: Options) -> list[Result]:
    """Every section; ``url`` is a scratch PostGIS database for the in-process strategies,
    ``databases`` makes the fresh ones the reference app's commands run on."""
    results = generation(options)
    engine = sa.create_engine(url, poolclass=NullPool)
    try:
        results += load_users(engine, options)
        results += undo_streamed(engine, options)
        results += stores_row_by_row(engine, options)
    finally:
        with engine.begin() as conn:
            shape.metadata.drop_all(conn, checkfirst=True)
            stores.metadata.drop_all(conn, checkfirst=True)
        engine.dispose()
    limits = {r.rows: r.seconds for r in results if r.strategy == LIMIT}
    results += whole_command(databases, root, options, limits)
    results += stores_by_seedchain(databases, root, options)
    return results


def _logged(result: Result) -> Result:
    extrapolated = f", extrapolated to {result.reported_rows:,}" if result.extrapolated else ""
    log.info(
        "%s: %s: %s rows in %.2f s (%s rows/s%s)",
        result.section,
        result.strategy,
        f"{result.rows:,}",
        result.seconds,
        f"{result.rate:,.0f}",
        extrapolated,
    )
    return result


def generation(options: Options) -> list[Result]:
    """Section 1: rows made in memory, on one core."""
    naive = min(options.rows, options.naive_rows)
    return [
        _logged(
            Result(
                Section.GENERATE,
                "Faker per value (naive)",
                naive,
                timed(lambda: loading.generate_naive(naive)),
                options.rows,
                baseline=True,
            )
        ),
        _logged(
            Result(
                Section.GENERATE,
                "Seedchain factory (Faker pools, in chunks)",
                options.rows,
                timed(lambda: loading.generate_factory(options.rows)),
                options.rows,
            )
        ),
    ]


def load_users(engine: sa.Engine, options: Options) -> list[Result]:
    """Section 2: every loading strategy on a fresh table, the limit last."""
    results = []
    for strategy in loading.STRATEGIES:
        count = min(options.rows, options.slow_rows) if strategy.slow else options.rows
        with engine.begin() as conn:
            loading.fresh(conn)
        log.info("load: %s: %s rows ...", strategy.name, f"{count:,}")
        seconds = timed(lambda: strategy.load(engine, count))  # noqa: B023 - called here
        found = loading.loaded(engine, strategy.table)
        if found != count:
            raise SeedError(f"benchmark: {strategy.name} loaded {found} rows, expected {count}")
        results.append(
            _logged(
                Result(
                    Section.LOAD,
                    strategy.name,
                    count,
                    seconds,
                    options.rows,
                    baseline=strategy.baseline,
                )
            )
        )
    return results


def undo_streamed(engine: sa.Engine, options: Options) -> list[Result]:
    """Section 4, on the bench table: the streaming path's rows undone by the planner,
    once alone in the table (TRUNCATE is provably the same) and once beside a row the
    application inserted (the keyed delete, which keeps it)."""
    results = []
    for app_row in (False, True):
        with engine.begin() as conn:
            loading.fresh(conn)
        loading.seedchain_stream(engine, options.rows)
        beside = ", one application row beside them" if app_row else ""
        log.info("undo: the streaming path's %s rows%s ...", f"{options.rows:,}", beside)
        method, seconds = loading.undo_seeded(engine, app_row=app_row)
        results.append(
            _logged(
                Result(
                    Section.UNDO,
                    f"Seedchain undo of the streaming path's rows{beside}",
                    options.rows,
                    seconds,
                    options.rows,
                    note=f"the planner chose {method.upper()}",
                )
            )
        )
    return results


def _limit(url: str, rows: int) -> float:
    """Seconds of the server-side limit for ``rows`` users in the database at ``url``."""
    engine = sa.create_engine(url, poolclass=NullPool)
    try:
        with engine.begin() as conn:
            copy_of_users.create(conn)
        seconds = timed(lambda: loading.server_side(engine, rows))
        with engine.begin() as conn:
            copy_of_users.drop(conn)
    finally:
        engine.dispose()
    log.info("command: limit for %s users: %.2f s", f"{rows:,}", seconds)
    return seconds


def whole_command(
    databases: ScratchDatabases, root: Path, options: Options, limits: dict[int, float]
) -> list[Result]:
    """Sections 3 and 4: ``alembic upgrade head`` per N; the undo after the first."""
    results = []
    sizes = [options.rows] + ([options.large_rows] if options.large_rows else [])
    for n in sizes:
        name = f"upgrade_{n}"
        url = databases.create(name)
        log.info("command: alembic -x users=%s upgrade head ...", f"{n:,}")
        finished = commands.alembic(root, url, "upgrade", "head", x={"users": n})
        results.append(
            _logged(
                Result(
                    Section.COMMAND,
                    f"alembic -x users={n:,} upgrade head",
                    n,
                    finished.seconds,
                    n,
                    peak_rss_kib=finished.peak_rss_kib,
                )
            )
        )
        if n not in limits:
            limits[n] = _limit(url, n)
        results.append(Result(Section.COMMAND, LIMIT, n, limits[n], n, baseline=True))
        if n == options.rows:
            results += undo(databases, root, name, n)
        databases.drop(name)
    return results


# The reference app's users at head, as much of it as an application row needs.
_app_users = sa.table(
    "users",
    sa.column("username"),
    sa.column("email"),
    sa.column("first_name"),
    sa.column("last_name"),
    sa.column("display_name"),
)


def undo(databases: ScratchDatabases, root: Path, seeded: str, rows: int) -> list[Result]:
    """Section 4: three ways to take ``rows`` seeded users out, each on its own copy."""
    target = commands.BEFORE_DEVELOPMENT_SEEDS
    with_app_row = databases.create("undo_app_row", template=seeded)
    plain = databases.create("undo_delete", template=seeded)
    results = []

    log.info("undo: alembic downgrade %s ...", target)
    finished = commands.alembic(root, databases.url(seeded), "downgrade", target)
    results.append(
        _logged(
            Result(
                Section.UNDO,
                f"alembic downgrade {target}, only seeded rows in users",
                rows,
                finished.seconds,
                rows,
                peak_rss_kib=finished.peak_rss_kib,
                note=commands.undo_method(finished.output),
            )
        )
    )

    engine = sa.create_engine(with_app_row, poolclass=NullPool)
    with engine.begin() as conn:
        conn.execute(sa.insert(_app_users).values(**shape.APP_ROW, display_name="Made By the app"))
    log.info("undo: alembic downgrade %s, one application row ...", target)
    finished = commands.alembic(root, with_app_row, "downgrade", target)
    with engine.connect() as conn:
        kept = conn.scalar(
            sa.select(sa.func.count())
            .select_from(_app_users)
            .where(_app_users.c.username == shape.APP_ROW["username"])
        )
    engine.dispose()
    if kept != 1:
        raise SeedError("benchmark: the keyed undo did not keep the application's row")
    results.append(
        _logged(
            Result(
                Section.UNDO,
                f"alembic downgrade {target}, one application row in users",
                rows,
                finished.seconds,
                rows,
                peak_rss_kib=finished.peak_rss_kib,
                note=commands.undo_method(finished.output),
            )
        )
    )
    databases.drop("undo_app_row")

    engine = sa.create_engine(plain, poolclass=NullPool)
    with engine.begin() as conn:
        # The production essentials' admin is not the development seed's row.
        conn.execute(sa.delete(_app_users).where(_app_users.c.username == "admin"))

    def delete() -> None:
        with engine.begin() as conn:
            conn.execute(sa.delete(_app_users))

    log.info("undo: DELETE FROM users ...")
    results.append(
        _logged(
            Result(
                Section.UNDO,
                "DELETE FROM users (the same rows; their projects and tasks cascade)",
                rows,
                timed(delete),
                rows,
                baseline=True,
            )
        )
    )
    engine.dispose()
    databases.drop("undo_delete")
    return results


def stores_row_by_row(engine: sa.Engine, options: Options) -> list[Result]:
    """Section 5, the usual way: one INSERT per store, timed on fewer stores."""
    count = min(options.stores, options.slow_stores)
    stores.fresh(engine)
    log.info("postgis: one INSERT per store: %s stores ...", f"{count:,}")
    seconds = timed(lambda: stores.per_row(engine, count))
    if stores.loaded(engine) != count:
        raise SeedError(f"benchmark: the row-by-row stores are not {count}")
    return [
        _logged(
            Result(
                Section.POSTGIS,
                "One INSERT per store, ST_Buffer(geography) per row",
                count,
                seconds,
                options.stores,
                baseline=True,
            )
        )
    ]


def _stores_command(
    databases: ScratchDatabases, root: Path, per_city: int
) -> tuple[float, int, int]:
    """(seconds, peak RSS KiB, stores) of the reference app's upgrade with that many stores."""
    url = databases.create("stores")
    finished = commands.alembic(
        root, url, "upgrade", "head", x={**SMALL_WORLD, STORES_SETTING: per_city}
    )
    engine = sa.create_engine(url, poolclass=NullPool)
    with engine.connect() as conn:
        count = int(conn.scalar(sa.select(sa.func.count()).select_from(sa.table("stores"))) or 0)
    engine.dispose()
    databases.drop("stores")
    return finished.seconds, finished.peak_rss_kib, count


def stores_by_seedchain(databases: ScratchDatabases, root: Path, options: Options) -> list[Result]:
    """Section 5, Seedchain's way: the development seed's stores through ``alembic``.

    The same command with one store per city first: it says how many cities there
    are, and its time (start-up, schema, the rest of the small world) is subtracted.
    Then ``slow_stores`` stores; all of them only when that projects to at most
    ``slow_seconds``, else the figure is extrapolated from those.
    """
    log.info("postgis: the development seed, one store per city ...")
    base_seconds, _, cities = _stores_command(databases, root, 1)
    wanted = [min(options.stores, options.slow_stores), options.stores]
    for target in sorted(set(wanted)):
        per_city = math.ceil(target / max(cities, 1))
        log.info("postgis: the development seed, %d stores per city ...", per_city)
        seconds, peak, count = _stores_command(databases, root, per_city)
        net = max(seconds - base_seconds, 1e-6)
        projected = net * options.stores / max(count - cities, 1)
        if target == options.stores or projected > options.slow_seconds:
            break
    return [
        _logged(
            Result(
                Section.POSTGIS,
                f"Seedchain: the development seed's stores (-x {STORES_SETTING}={per_city})",
                count - cities,
                net,
                count - cities if target == options.stores else options.stores,
                peak_rss_kib=peak,
                note=f"alembic upgrade head {seconds:.1f} s, less {base_seconds:.1f} s "
                f"for the same with {cities} stores",
            )
        )
    ]
