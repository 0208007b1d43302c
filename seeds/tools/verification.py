"""Verification rules: plain functions of a connection that list what is wrong.

The engine ships rules about itself (seed drift, ledger consistency); an application
registers its own with :func:`rule` in modules named by ``[tool.seeds] verify`` in
pyproject.toml. ``seeds verify`` and tests run the same functions
(pytest-alembic's built-in checks are the model)::

    from seeds.tools.verification import rule

    @rule("every project has an owner")
    def projects_have_owners(conn):
        orphans = conn.scalar(select(func.count()).select_from(projects).where(...))
        if orphans:
            yield f"{orphans} projects have no owner"
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from seeds.errors import ConfigurationError, LedgerDamaged
from seeds.runtime.ledger import Ledger, Status
from seeds.tools.status import applied_revisions, collect, current_heads

if TYPE_CHECKING:
    import sqlalchemy as sa
    from alembic.script import ScriptDirectory
    from sqlalchemy.engine import Connection

Check = Callable[["Connection"], Iterable[str]]


@dataclass(frozen=True)
class Rule:
    """A named check."""

    name: str
    check: Check


@dataclass(frozen=True)
class RuleResult:
    """A rule's verdict: the problems it found (none: it passed)."""

    name: str
    problems: list[str]

    @property
    def passed(self) -> bool:
        """True when the rule found nothing wrong."""
        return not self.problems


_REGISTRY: dict[str, Rule] = {}


def rule(name: str) -> Callable[[Check], Check]:
    """Register a verification rule under ``name`` (unique)."""

    def register(check: Check) -> Check:
        existing = _REGISTRY.get(name)
        if existing is not None and existing.check is not check:
            qualified = f"{check.__module__}.{check.__qualname__}"
            raise ConfigurationError(
                f"verification rule {name!r} is registered twice ({qualified})"
            )
        _REGISTRY[name] = Rule(name, check)
        return check

    return register


def applied_runs(conn: Connection) -> list[sa.Row[Any]]:
    """The ledger rows of every applied seed run, oldest first, for rules to check
    (``row_counts``, ``undo["settings"]``: the settings the seed ran with)."""
    return [r for r in Ledger.on(conn).history() if r.status == Status.APPLIED]


def load_rule_modules(modules: Sequence[str], project_root: Path | None = None) -> None:
    """Import the modules that register an application's rules.

    The modules belong to the project, which is not installed: like Alembic's
    ``prepend_sys_path = .``, the project folder goes on the import path first.
    """
    if project_root is not None and str(project_root) not in sys.path:
        sys.path.insert(0, str(project_root))
    for module in modules:
        try:
            importlib.import_module(module)
        except ImportError as err:
            raise ConfigurationError(
                f"[tool.seeds] verify names module {module!r}, which cannot be imported ({err})"
            ) from err


def engine_rules(script: ScriptDirectory, schema: str | None) -> list[Rule]:
    """Seedchain's own checks of the ledger against the chain."""

    def no_drift(conn: Connection) -> Iterable[str]:
        for status in collect(conn, script, schema):
            if status.drift:
                yield (
                    f"seed {status.revision} was edited after it was applied; its rows no "
                    "longer match its source (downgrade and upgrade it, or revert the edit)"
                )

    def ledger_matches_chain(conn: Connection) -> Iterable[str]:
        passed = applied_revisions(script, current_heads(conn, schema))
        for record in Ledger.on(conn).history():
            if record.status == Status.APPLIED and record.revision not in passed:
                yield (
                    f"the ledger says seed {record.revision} is applied, but the database's "
                    "Alembic version is below it (was alembic_version stamped by hand?)"
                )

    def keys_intact(conn: Connection) -> Iterable[str]:
        ledger = Ledger.on(conn)
        for record in ledger.current().values():
            if record.status != Status.APPLIED:
                continue
            try:
                ledger.check_keys(record)
            except LedgerDamaged as err:
                yield str(err)

    return [
        Rule("seed sources unchanged", no_drift),
        Rule("ledger matches the chain", ledger_matches_chain),
        # What an undo checks before it deletes anything, asked ahead of time.
        Rule("ledger keys intact", keys_intact),
    ]


def run_rules(conn: Connection, rules: Iterable[Rule]) -> list[RuleResult]:
    """Run rules in order. A rule that raises stops the run with its own error."""
    results = []
    for item in rules:
        problems = list(item.check(conn))
        results.append(RuleResult(item.name, problems))
    return results


def registered_rules() -> list[Rule]:
    """The application's rules, in registration order."""
    return list(_REGISTRY.values())
