"""Faults in the middle of a deploy: kill -9, a server restart, several deploys at once.

After each fault the database must be exactly at a revision boundary with every
application row, its ledger must agree with its data, and running the command again
must give the data of an uninterrupted run (tests/faultproject.py says how that is
checked). Each test is a case of tests/reliability.py and reports to RELIABILITY.md.
"""

from __future__ import annotations

import random
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.pool import NullPool

from seeds.dev.devdb import DevDB
from tests.faultproject import (
    Content,
    Size,
    add_application_rows,
    at_revision,
    boundary_problems,
    compare,
    content,
    failed_lines,
    fault_project,
    kill,
    ledger_problems,
    spawn,
    wait_for_no_sessions,
    wait_for_session,
    wait_for_version,
)
from tests.helpers import ledger_rows, version
from tests.reliability import CASES, FAULT_SEED, Reliability, size_of
from tests.seedproject import SeedProject

RERUN_LIMIT = 300  # seconds any one command may take at the large size


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """The kill points, as many as the case's size asks for: each waits for a stage of
    the run (connected, or a revision committed; in turn, so every stage gets some),
    then a delay drawn by a seeded RNG (its seed is in every test id)."""
    if "kill_point" not in metafunc.fixturenames:
        return
    case, stages = {
        "test_kill_9_of_an_upgrade": ("kill-upgrade", upgrade_stages),
        "test_kill_9_of_a_keyed_downgrade": ("kill-keyed-downgrade", downgrade_stages),
    }[metafunc.function.__name__]
    numbers = CASES[case].numbers(size_of(metafunc.config))
    rng = random.Random(f"{FAULT_SEED}:{case}")
    points = [
        KillPoint(stages(numbers["seeds"])[n % (numbers["seeds"] + 1)], rng.random())
        for n in range(numbers["points"])
    ]
    ids = [f"seed={FAULT_SEED}-{n}-{point}" for n, point in enumerate(points)]
    metafunc.parametrize("kill_point", points, ids=ids)


def upgrade_stages(seeds: int) -> list[str | None]:
    """Connected, then each revision committed: f0 (the schema) up to the last seed."""
    return [None, *(f"f{n}" for n in range(seeds))]


def downgrade_stages(seeds: int) -> list[str | None]:
    """Connected, then each seed's undo committed (the database at the one below)."""
    return [None, *(f"f{n}" for n in range(seeds - 1, -1, -1))]


@dataclass(frozen=True)
class KillPoint:
    """Wait for ``after`` (None: the run's session), then a fraction of a revision."""

    after: str | None
    fraction: float

    def __str__(self) -> str:
        return f"after-{self.after or 'connect'}+{self.fraction:.0%}"


@dataclass(frozen=True)
class Reference:
    """An uninterrupted run, and a database at head to clone for the downgrades."""

    size: Size
    full: Content  # the rows at head, the application's included
    upgrade_seconds: float
    downgrade_seconds: float
    seeded_template: str


def _size(reliability: Reliability) -> Size:
    numbers = reliability.numbers("kill-upgrade")
    return Size(numbers["seeds"], numbers["users"], numbers["posts"])


@pytest.fixture(scope="module")
def reference(
    devdb: DevDB,
    template_database: str,
    tmp_path_factory: pytest.TempPathFactory,
    reliability: Reliability,
) -> Iterator[Reference]:
    """An uninterrupted `alembic upgrade head` (then the application's rows), and how
    long an upgrade and a keyed downgrade run once connected: the kill points are
    fractions of those times."""
    size = _size(reliability)
    name = f"faults_{uuid.uuid4().hex[:12]}"
    devdb.create_database(name, template=template_database)
    engine = sa.create_engine(devdb.url(name), poolclass=NullPool)
    root = tmp_path_factory.mktemp("reference")
    copy = f"{name}_down"
    try:
        with pytest.MonkeyPatch.context() as monkeypatch:
            project = fault_project(root / "up", devdb.url(name), monkeypatch, size)
            upgrade_seconds = _timed_run(project, engine, ["upgrade", "head"])
            add_application_rows(engine)
            full = content(engine)
            engine.dispose()
            devdb.create_database(copy, template=name)
            down = fault_project(root / "down", devdb.url(copy), monkeypatch, size)
            down_engine = sa.create_engine(devdb.url(copy), poolclass=NullPool)
            try:
                downgrade_seconds = _timed_run(down, down_engine, ["downgrade", "f0"])
            finally:
                down_engine.dispose()
        yield Reference(size, full, upgrade_seconds, downgrade_seconds, name)
    finally:
        engine.dispose()
        devdb.drop_database(copy)
        devdb.drop_database(name)


def _timed_run(project: SeedProject, engine: sa.Engine, args: list[str]) -> float:
    """Run ``alembic ARGS`` to the end; seconds from its connecting to its exit."""
    with _watcher(engine) as watcher:
        process = spawn(project, *args)
        assert wait_for_session(watcher, process, limit=60)
        started = time.monotonic()
        output, _ = process.communicate(timeout=RERUN_LIMIT)
        seconds = time.monotonic() - started
    assert process.returncode == 0, output
    return seconds


@pytest.fixture
def seeded_url(devdb: DevDB, reference: Reference) -> Iterator[str]:
    """A new database at head with the application's rows (a copy of the reference)."""
    name = f"test_{uuid.uuid4().hex[:12]}"
    devdb.create_database(name, template=reference.seeded_template)
    try:
        yield devdb.url(name)
    finally:
        devdb.drop_database(name)


def _watcher(engine: sa.Engine) -> sa.Connection:
    return engine.connect().execution_options(isolation_level="AUTOCOMMIT")


def _kill_at(
    project: SeedProject, engine: sa.Engine, args: list[str], point: KillPoint, revision: float
) -> tuple[str, bool]:
    """Run ``alembic ARGS``, kill -9 it at ``point`` (``revision``: how long one
    revision takes), and wait until the server has ended its session. Returns its
    output and whether it was still running to be killed."""
    with _watcher(engine) as watcher:
        process = spawn(project, *args)
        reached = wait_for_session(watcher, process, limit=60)
        if reached and point.after is not None:
            reached = wait_for_version(watcher, process, point.after, limit=RERUN_LIMIT)
        if reached:
            time.sleep(point.fraction * revision)
        killed = process.poll() is None
        output = kill(process) if killed else process.communicate(timeout=RERUN_LIMIT)[0]
        wait_for_no_sessions(watcher)
    return output, killed


def test_kill_9_of_an_upgrade(
    kill_point: KillPoint,
    tmp_path: Path,
    database_url: str,
    monkeypatch: pytest.MonkeyPatch,
    engine: sa.Engine,
    reference: Reference,
    reliability: Reliability,
) -> None:
    project = fault_project(tmp_path / "project", database_url, monkeypatch, reference.size)
    expected = at_revision(reference.full, "head", application=False)
    started = time.monotonic()
    revision = reference.upgrade_seconds / (reference.size.seeds + 1)
    output, killed = _kill_at(project, engine, ["upgrade", "head"], kill_point, revision)
    assert "Traceback" not in output, output

    at, after_kill, problems = boundary_problems(engine, project, expected, application=False)
    assert problems == [], f"killed {kill_point} (seed {FAULT_SEED}): {problems}"
    assert (after_kill.lost, after_kill.leaked) == (0, 0), after_kill

    project.upgrade("head", env="development")
    after_rerun = compare(expected, content(engine))
    assert (after_rerun.lost, after_rerun.leaked) == (0, 0), after_rerun
    assert ledger_problems(engine, project) == []
    reliability.record(
        "kill-upgrade",
        lost=after_kill.lost + after_rerun.lost,
        leaked=after_kill.leaked + after_rerun.leaked,
        seconds=time.monotonic() - started,
        note=f"killed at {at or 'base'}" if killed else "ended before the kill",
    )


def test_kill_9_of_a_keyed_downgrade(
    kill_point: KillPoint,
    tmp_path: Path,
    seeded_url: str,
    monkeypatch: pytest.MonkeyPatch,
    reference: Reference,
    reliability: Reliability,
) -> None:
    engine = sa.create_engine(seeded_url, poolclass=NullPool)
    project = fault_project(tmp_path / "project", seeded_url, monkeypatch, reference.size)
    started = time.monotonic()
    revision = reference.downgrade_seconds / reference.size.seeds
    try:
        output, killed = _kill_at(project, engine, ["downgrade", "f0"], kill_point, revision)
        assert "Traceback" not in output, output
        at, after_kill, problems = boundary_problems(
            engine, project, reference.full, application=True
        )
        assert problems == [], f"killed {kill_point} (seed {FAULT_SEED}): {problems}"
        assert (after_kill.lost, after_kill.leaked) == (0, 0), after_kill

        project.downgrade("f0", env="development")
        expected = at_revision(reference.full, "f0", application=True)
        after_rerun = compare(expected, content(engine))
        assert (after_rerun.lost, after_rerun.leaked) == (0, 0), after_rerun
        assert ledger_problems(engine, project) == []
    finally:
        engine.dispose()
    reliability.record(
        "kill-keyed-downgrade",
        lost=after_kill.lost + after_rerun.lost,
        leaked=after_kill.leaked + after_rerun.leaked,
        seconds=time.monotonic() - started,
        note=f"killed at {at}" if killed else "ended before the kill",
    )


def _restart_during(
    devdb: DevDB, project: SeedProject, engine: sa.Engine, args: list[str], after: str
) -> str:
    """Run ``alembic ARGS``, restart the server once ``after`` has committed (the run
    is then inside the next revision), and return the run's one FAILED line."""
    process = spawn(project, *args)
    with _watcher(engine) as watcher:
        reached = wait_for_version(watcher, process, after, limit=RERUN_LIMIT)
    assert reached, f"the run ended before {after} committed: {process.communicate()[0]}"
    devdb.restart()
    output, _ = process.communicate(timeout=RERUN_LIMIT)
    assert process.returncode != 0, f"the run finished before the restart:\n{output}"
    assert "Traceback" not in output, output
    [failed] = failed_lines(output)
    return failed


def _where_lost(failed: str) -> str:
    """Where a lost connection surfaced, from the FAILED line."""
    if "during the undo" in failed:
        return "in an undo"
    return "in a seed" if failed.startswith("FAILED: seed ") else "outside a seed's body"


def test_a_restart_during_an_upgrade(
    tmp_path: Path,
    database_url: str,
    monkeypatch: pytest.MonkeyPatch,
    engine: sa.Engine,
    devdb: DevDB,
    reference: Reference,
    reliability: Reliability,
) -> None:
    project = fault_project(tmp_path / "project", database_url, monkeypatch, reference.size)
    expected = at_revision(reference.full, "head", application=False)
    started = time.monotonic()
    failed = _restart_during(devdb, project, engine, ["upgrade", "head"], after="f1")
    at, after_fault, problems = boundary_problems(engine, project, expected, application=False)
    assert problems == [] and (after_fault.lost, after_fault.leaked) == (0, 0), after_fault
    project.upgrade("head", env="development")
    after_rerun = compare(expected, content(engine))
    assert ledger_problems(engine, project) == []
    reliability.record(
        "restart-upgrade",
        lost=after_fault.lost + after_rerun.lost,
        leaked=after_fault.leaked + after_rerun.leaked,
        seconds=time.monotonic() - started,
        seen=failed,
        note=f"stopped at {at}, {_where_lost(failed)}",
    )


def test_a_restart_during_a_keyed_downgrade(
    tmp_path: Path,
    seeded_url: str,
    monkeypatch: pytest.MonkeyPatch,
    devdb: DevDB,
    reference: Reference,
    reliability: Reliability,
) -> None:
    engine = sa.create_engine(seeded_url, poolclass=NullPool)
    project = fault_project(tmp_path / "project", seeded_url, monkeypatch, reference.size)
    last = f"f{reference.size.seeds - 1}"
    started = time.monotonic()
    try:
        failed = _restart_during(devdb, project, engine, ["downgrade", "f0"], after=last)
        at, after_fault, problems = boundary_problems(
            engine, project, reference.full, application=True
        )
        assert problems == [] and (after_fault.lost, after_fault.leaked) == (0, 0), after_fault
        project.downgrade("f0", env="development")
        expected = at_revision(reference.full, "f0", application=True)
        after_rerun = compare(expected, content(engine))
        assert ledger_problems(engine, project) == []
    finally:
        engine.dispose()
    reliability.record(
        "restart-keyed-downgrade",
        lost=after_fault.lost + after_rerun.lost,
        leaked=after_fault.leaked + after_rerun.leaked,
        seconds=time.monotonic() - started,
        seen=failed,
        note=f"stopped at {at}, {_where_lost(failed)}",
    )


def _statuses(engine: sa.Engine) -> dict[str, list[str]]:
    """Each revision's ledger rows' statuses, oldest first."""
    found: dict[str, list[str]] = {}
    for row in ledger_rows(engine):
        found.setdefault(row.revision, []).append(row.status)
    return found


def test_concurrent_upgrades_apply_each_seed_once(
    tmp_path: Path,
    database_url: str,
    monkeypatch: pytest.MonkeyPatch,
    engine: sa.Engine,
    reference: Reference,
    reliability: Reliability,
) -> None:
    count = reliability.numbers("concurrent-upgrades")["processes"]
    project = fault_project(tmp_path / "project", database_url, monkeypatch, reference.size)
    started = time.monotonic()
    processes = [spawn(project, "upgrade", "head") for _ in range(count)]
    outputs = [p.communicate(timeout=RERUN_LIMIT)[0] for p in processes]
    seconds = time.monotonic() - started
    assert [p.returncode for p in processes] == [0] * count, outputs
    assert not any("Traceback" in output for output in outputs)
    workers = [o for o in outputs if "seed f1: applied in development" in o]
    waited = [o for o in outputs if "holds the deploy lock; waiting" in o]
    assert len(workers) == 1, f"{len(workers)} runs applied seed f1"
    seeds = [f"f{n}" for n in range(1, reference.size.seeds + 1)]
    assert _statuses(engine) == {revision: ["applied"] for revision in seeds}
    found = compare(at_revision(reference.full, "head", application=False), content(engine))
    assert ledger_problems(engine, project) == []
    reliability.record(
        "concurrent-upgrades",
        lost=found.lost,
        leaked=found.leaked,
        seconds=seconds,
        note=f"{len(waited)} of {count} waited for the deploy lock, the others found head",
    )


def test_concurrent_downgrades_undo_each_seed_once(
    tmp_path: Path,
    seeded_url: str,
    monkeypatch: pytest.MonkeyPatch,
    reference: Reference,
    reliability: Reliability,
) -> None:
    engine = sa.create_engine(seeded_url, poolclass=NullPool)
    project = fault_project(tmp_path / "project", seeded_url, monkeypatch, reference.size)
    started = time.monotonic()
    processes = [spawn(project, "downgrade", "f0") for _ in range(2)]
    outputs = [p.communicate(timeout=RERUN_LIMIT)[0] for p in processes]
    seconds = time.monotonic() - started
    try:
        assert [p.returncode for p in processes] == [0, 0], outputs
        assert not any("Traceback" in output for output in outputs)
        removers = [o for o in outputs if "rows from users by ledger key" in o]
        assert len(removers) == 1, outputs
        assert version(engine) == "f0"
        seeds = [f"f{n}" for n in range(1, reference.size.seeds + 1)]
        assert _statuses(engine) == {revision: ["undone"] for revision in seeds}
        found = compare(at_revision(reference.full, "f0", application=True), content(engine))
        assert ledger_problems(engine, project) == []
    finally:
        engine.dispose()
    waited = sum("holds the deploy lock; waiting" in o for o in outputs)
    reliability.record(
        "concurrent-downgrades",
        lost=found.lost,
        leaked=found.leaked,
        seconds=seconds,
        note=f"{waited} of 2 waited for the deploy lock",
    )
