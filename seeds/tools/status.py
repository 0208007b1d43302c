"""Where every seed revision of the chain stands in one database.

A seed revision is *pending* when the database's Alembic version has not reached
it; otherwise its newest ledger row says *applied* or *skipped*. A revision the
version has passed without a ledger row is *untracked* (stamped, or applied before
Seedchain). *Drift*: an applied seed whose source file changed since it ran.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from alembic.migration import MigrationContext

from seeds.runtime.environment import Environment
from seeds.runtime.ledger import Ledger, Status
from seeds.runtime.revision import SeedRevision, source_checksum

if TYPE_CHECKING:
    from alembic.script import Script, ScriptDirectory
    from sqlalchemy.engine import Connection


@dataclass(frozen=True)
class SeedStatus:
    """One seed revision in one database."""

    revision: str
    title: str
    environments: list[str]
    state: str  # applied | skipped | pending | untracked
    environment: str | None = None
    applied_at: datetime | None = None
    duration_ms: int | None = None
    row_counts: dict[str, int] = field(default_factory=dict)
    drift: bool = False
    override: str | None = None

    def as_json(self) -> dict[str, Any]:
        """A JSON-ready dictionary."""
        data = asdict(self)
        data["applied_at"] = self.applied_at.isoformat() if self.applied_at else None
        return data


def seed_revisions(script: ScriptDirectory) -> list[tuple[Script, SeedRevision]]:
    """The chain's seed revisions, base first."""
    found = [
        (rev, rev.module.upgrade)
        for rev in script.walk_revisions()
        if isinstance(getattr(rev.module, "upgrade", None), SeedRevision)
    ]
    return list(reversed(found))


def current_heads(conn: Connection, schema: str | None) -> tuple[str, ...]:
    """The database's Alembic heads (empty when it has none)."""
    ctx = MigrationContext.configure(conn, opts={"version_table_schema": schema})
    return tuple(ctx.get_current_heads())


def applied_revisions(script: ScriptDirectory, heads: tuple[str, ...]) -> set[str]:
    """Every revision at or below the database's heads."""
    if not heads:
        return set()
    return {rev.revision for rev in script.iterate_revisions(heads, "base")}


def collect(conn: Connection, script: ScriptDirectory, schema: str | None) -> list[SeedStatus]:
    """The status of every seed revision of ``script`` in the connected database."""
    passed = applied_revisions(script, current_heads(conn, schema))
    records = Ledger.on(conn).current()
    statuses = []
    for rev, seed_revision in seed_revisions(script):
        title = (rev.doc or "").strip()
        envs = sorted(e.value for e in seed_revision.environments)
        if rev.revision not in passed:
            statuses.append(SeedStatus(rev.revision, title, envs, "pending"))
            continue
        record = records.get(rev.revision)
        if record is None:
            statuses.append(SeedStatus(rev.revision, title, envs, "untracked"))
            continue
        drift = (
            record.status == Status.APPLIED
            and bool(rev.path)
            and record.source_checksum != source_checksum(rev.path)
        )
        statuses.append(
            SeedStatus(
                revision=rev.revision,
                title=title,
                environments=envs,
                state=record.status,
                environment=record.environment,
                applied_at=record.applied_at,
                duration_ms=record.duration_ms,
                row_counts=dict(record.row_counts),
                drift=drift,
                override=record.override,
            )
        )
    return statuses


def stamped_environment(conn: Connection) -> Environment | None:
    """The environment protection goes by in this database (its ledger stamp,
    cross-checked with the ledger's rows); None before anything was seeded."""
    ledger = Ledger.on(conn)
    return ledger.protection(ledger.dialect.database_name()).environment
